//! Either of py-hamt's layouts, chosen when a root is opened: for tools and
//! bindings that take any dataset root (the CLI, the Python package).

use async_trait::async_trait;
use bytes::Bytes;
use hamt::{BlockStore, ByteRange, Cid, Hamt, HamtConfig};
use hamt_codec::{BlockCodec, Node};
use hamt_sharded::{ShardedConfig, ShardedMap};

use crate::ZarrHamtError;
use crate::layout::Layout;
use crate::listing::DirListing;

/// Which layout a root is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    /// A HAMT root node (py-hamt's `ZarrHAMTStore`).
    Hamt,
    /// A sharded manifest (py-hamt's `ShardedZarrStore`).
    Sharded,
}

/// A dataset on either layout.
#[derive(Debug)]
pub enum AnyLayout<S> {
    /// py-hamt's `ZarrHAMTStore` layout.
    Hamt(Hamt<S>),
    /// py-hamt's `ShardedZarrStore` layout.
    Sharded(ShardedMap<S>),
}

/// Which layout the block `root` is the root of: a HAMT node is a DAG-CBOR
/// array of 256 entries, a manifest a map. Reads the block.
pub async fn layout_of<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
) -> Result<LayoutKind, ZarrHamtError> {
    if root.codec() != BlockCodec::DagCbor.code() {
        // A manifest over 1 MiB is a UnixFS file; a HAMT root never is.
        return Ok(LayoutKind::Sharded);
    }
    let bytes = store.get(root).await.map_err(hamt::HamtError::from)?;
    // `99 01 00`: an array of 256, the only shape of a HAMT node.
    if bytes.starts_with(&[0x99, 0x01, 0x00]) || Node::decode(&bytes, usize::MAX).is_ok() {
        Ok(LayoutKind::Hamt)
    } else {
        Ok(LayoutKind::Sharded)
    }
}

/// The blocks `root` reaches that following every block's links does not
/// find, for a walk over the whole dataset (CAR export, completeness
/// checks): for a sharded store, what its manifest or shards stored as
/// UnixFS files link inside their bytes
/// ([`ShardedMap::links_inside_files`]); nothing for a HAMT, or for a root
/// that is no dataset.
pub async fn links_inside_files<S: BlockStore>(
    store: S,
    root: Cid,
) -> Result<Vec<Cid>, ZarrHamtError> {
    if layout_of(&store, &root).await? != LayoutKind::Sharded {
        return Ok(Vec::new());
    }
    match ShardedMap::open(store, root, ShardedConfig::default()).await {
        Ok(map) => Ok(map.links_inside_files().await?),
        Err(hamt_sharded::ShardedError::BadRoot { .. }) => Ok(Vec::new()),
        Err(error) => Err(error.into()),
    }
}

impl<S: BlockStore + 'static> AnyLayout<S> {
    /// Opens the dataset whose root is `root`, whichever layout it is.
    pub async fn open(
        store: S,
        root: Cid,
        hamt: HamtConfig,
        sharded: ShardedConfig,
    ) -> Result<Self, ZarrHamtError> {
        Ok(match layout_of(&store, &root).await? {
            LayoutKind::Hamt => AnyLayout::Hamt(Hamt::open(store, root, hamt).await?),
            LayoutKind::Sharded => {
                AnyLayout::Sharded(ShardedMap::open(store, root, sharded).await?)
            }
        })
    }

    /// Which layout this is.
    pub fn kind(&self) -> LayoutKind {
        match self {
            AnyLayout::Hamt(_) => LayoutKind::Hamt,
            AnyLayout::Sharded(_) => LayoutKind::Sharded,
        }
    }

    /// The block store.
    pub fn store(&self) -> &S {
        match self {
            AnyLayout::Hamt(h) => h.store(),
            AnyLayout::Sharded(m) => m.store(),
        }
    }
}

/// Runs the same call on whichever layout it is.
macro_rules! either {
    ($self:expr, $layout:ident => $call:expr) => {
        match $self {
            AnyLayout::Hamt($layout) => $call,
            AnyLayout::Sharded($layout) => $call,
        }
    };
}

#[async_trait]
impl<S: BlockStore + 'static> Layout for AnyLayout<S> {
    fn root_cid(&self) -> Option<Cid> {
        either!(self, l => Layout::root_cid(l))
    }

    fn is_dirty(&self) -> bool {
        either!(self, l => Layout::is_dirty(l))
    }

    async fn get_link(&self, key: &str) -> Result<Option<Cid>, ZarrHamtError> {
        either!(self, l => Layout::get_link(l, key).await)
    }

    async fn get_links_many(&self, keys: &[String]) -> Result<Vec<Option<Cid>>, ZarrHamtError> {
        either!(self, l => Layout::get_links_many(l, keys).await)
    }

    async fn read_value(&self, link: &Cid, range: ByteRange) -> Result<Bytes, ZarrHamtError> {
        either!(self, l => Layout::read_value(l, link, range).await)
    }

    async fn value_len(&self, link: &Cid) -> Result<u64, ZarrHamtError> {
        either!(self, l => Layout::value_len(l, link).await)
    }

    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, ZarrHamtError> {
        either!(self, l => Layout::keys_with_prefix(l, prefix).await)
    }

    async fn len(&self) -> Result<u64, ZarrHamtError> {
        either!(self, l => Layout::len(l).await)
    }

    async fn insert(&mut self, key: &str, value: Bytes) -> Result<(), ZarrHamtError> {
        either!(self, l => Layout::insert(l, key, value).await)
    }

    async fn insert_many(&mut self, entries: Vec<(String, Bytes)>) -> Result<(), ZarrHamtError> {
        either!(self, l => Layout::insert_many(l, entries).await)
    }

    async fn remove(&mut self, key: &str) -> Result<bool, ZarrHamtError> {
        either!(self, l => Layout::remove(l, key).await)
    }

    async fn remove_prefix(&mut self, prefix: &str) -> Result<usize, ZarrHamtError> {
        either!(self, l => Layout::remove_prefix(l, prefix).await)
    }

    async fn list_dir(
        &self,
        base: &str,
        keep: &(dyn for<'k> Fn(&'k str) -> bool + Sync),
    ) -> Result<DirListing, ZarrHamtError> {
        either!(self, l => Layout::list_dir(l, base, keep).await)
    }

    fn clear(&mut self) -> Result<(), ZarrHamtError> {
        either!(self, l => Layout::clear(l))
    }

    async fn flush(&mut self) -> Result<Cid, ZarrHamtError> {
        either!(self, l => Layout::flush(l).await)
    }
}
