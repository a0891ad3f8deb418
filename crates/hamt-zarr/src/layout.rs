//! How a dataset's keys find their values: the [`Layout`] trait, and its
//! implementations for py-hamt 3.6.0's two layouts: the HAMT
//! (`ZarrHAMTStore`) and the sharded one (`ShardedZarrStore`). A
//! [`Dataset`](crate::Dataset) runs the same zarr store over either.

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use hamt::{BlockStore, ByteRange, Cid, Hamt};
use hamt_sharded::ShardedMap;

use crate::ZarrHamtError;
use crate::dataset::BATCH_CONCURRENCY;
use crate::listing::{DirListing, split_dir};

/// A map of zarr keys to values stored as content-addressed blocks, with
/// changes kept in memory until [`flush`](Layout::flush) writes them and
/// returns the root CID. Reads take `&self`, so a layout behind a read lock
/// (or shared read-only) serves many readers at once.
///
/// Every method's future is `Send` (boxed, by `async_trait`: a layout's
/// calls are per key or per batch, where one allocation is noise), so
/// datasets can be used from any tokio task and from Python's event loop
/// through the `hamt_rs` package.
#[async_trait]
pub trait Layout: Send + Sync + 'static {
    /// The root CID, if nothing changed since the last flush or open.
    fn root_cid(&self) -> Option<Cid>;

    /// Whether there are changes not yet flushed.
    fn is_dirty(&self) -> bool;

    /// The link of the value stored for `key`.
    async fn get_link(&self, key: &str) -> Result<Option<Cid>, ZarrHamtError>;

    /// The links of many keys, in the order given. By default one lookup
    /// per key, 256 at once; a layout whose lookups cross
    /// several blocks fetches each level of a batch at once instead.
    async fn get_links_many(&self, keys: &[String]) -> Result<Vec<Option<Cid>>, ZarrHamtError> {
        // Owned keys: a closure over borrowed ones trips rustc's
        // higher-ranked `Send` check on the boxed future.
        stream::iter(keys.iter().cloned())
            .map(|key| async move { self.get_link(&key).await })
            .buffered(BATCH_CONCURRENCY)
            .try_collect()
            .await
    }

    /// A byte range of the value at `link` (clamped to its end).
    async fn read_value(&self, link: &Cid, range: ByteRange) -> Result<Bytes, ZarrHamtError>;

    /// The length of the value at `link`, reading as little as the layout can.
    async fn value_len(&self, link: &Cid) -> Result<u64, ZarrHamtError>;

    /// Every key starting with `prefix`, in no particular order.
    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, ZarrHamtError>;

    /// Number of keys.
    async fn len(&self) -> Result<u64, ZarrHamtError>;

    /// Whether there is no key.
    async fn is_empty(&self) -> Result<bool, ZarrHamtError> {
        Ok(self.len().await? == 0)
    }

    /// Sets `key` to `value`.
    async fn insert(&mut self, key: &str, value: Bytes) -> Result<(), ZarrHamtError>;

    /// Sets every `(key, value)`, in order (a key given twice keeps its last value).
    async fn insert_many(&mut self, entries: Vec<(String, Bytes)>) -> Result<(), ZarrHamtError>;

    /// Removes `key`; whether it was there.
    async fn remove(&mut self, key: &str) -> Result<bool, ZarrHamtError>;

    /// Removes every key starting with `prefix`; how many (or, where the
    /// layout removes whole arrays at once, how many keys it removed one by one).
    async fn remove_prefix(&mut self, prefix: &str) -> Result<usize, ZarrHamtError> {
        let keys = self.keys_with_prefix(prefix).await?;
        for key in &keys {
            self.remove(key).await?;
        }
        Ok(keys.len())
    }

    /// What is directly under `base` (`""` or a prefix ending in `/`): the
    /// keys there that `keep` accepts, and the child prefixes holding the
    /// rest. By default, from every key under `base`.
    async fn list_dir(
        &self,
        base: &str,
        keep: &(dyn for<'k> Fn(&'k str) -> bool + Sync),
    ) -> Result<DirListing, ZarrHamtError> {
        let mut keys = self.keys_with_prefix(base).await?;
        keys.retain(|key| keep(key));
        keys.sort_unstable();
        Ok(split_dir(base, keys))
    }

    /// Removes every key (on the same block store, with the same settings).
    fn clear(&mut self) -> Result<(), ZarrHamtError>;

    /// Writes every change and returns the root CID.
    async fn flush(&mut self) -> Result<Cid, ZarrHamtError>;
}

#[async_trait]
impl<S: BlockStore + 'static> Layout for Hamt<S> {
    fn root_cid(&self) -> Option<Cid> {
        Hamt::root_cid(self)
    }

    fn is_dirty(&self) -> bool {
        Hamt::is_dirty(self)
    }

    async fn get_link(&self, key: &str) -> Result<Option<Cid>, ZarrHamtError> {
        Ok(Hamt::get_link(self, key).await?)
    }

    /// Level by level: a batch waits for as many round trips as the tree
    /// is deep, not one per key and level.
    async fn get_links_many(&self, keys: &[String]) -> Result<Vec<Option<Cid>>, ZarrHamtError> {
        Ok(Hamt::get_links_many(self, keys).await?)
    }

    async fn read_value(&self, link: &Cid, range: ByteRange) -> Result<Bytes, ZarrHamtError> {
        Ok(Hamt::read_value(self, link, range).await?)
    }

    async fn value_len(&self, link: &Cid) -> Result<u64, ZarrHamtError> {
        Ok(Hamt::value_len(self, link).await?)
    }

    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, ZarrHamtError> {
        // The HAMT is in hash order: every prefix walks all of it, as in py-hamt.
        Ok(self
            .keys()
            .try_filter(|key| futures::future::ready(key.starts_with(prefix)))
            .try_collect()
            .await?)
    }

    async fn len(&self) -> Result<u64, ZarrHamtError> {
        Ok(Hamt::len(self).await?)
    }

    async fn insert(&mut self, key: &str, value: Bytes) -> Result<(), ZarrHamtError> {
        Hamt::insert(self, key, value).await?;
        Ok(())
    }

    async fn insert_many(&mut self, entries: Vec<(String, Bytes)>) -> Result<(), ZarrHamtError> {
        Hamt::insert_many(self, entries).await?;
        Ok(())
    }

    async fn remove(&mut self, key: &str) -> Result<bool, ZarrHamtError> {
        Ok(Hamt::remove(self, key).await?.is_some())
    }

    fn clear(&mut self) -> Result<(), ZarrHamtError> {
        Hamt::clear(self);
        Ok(())
    }

    async fn flush(&mut self) -> Result<Cid, ZarrHamtError> {
        Ok(Hamt::flush(self).await?)
    }
}

#[async_trait]
impl<S: BlockStore + 'static> Layout for ShardedMap<S> {
    fn root_cid(&self) -> Option<Cid> {
        ShardedMap::root_cid(self)
    }

    fn is_dirty(&self) -> bool {
        ShardedMap::is_dirty(self)
    }

    async fn get_link(&self, key: &str) -> Result<Option<Cid>, ZarrHamtError> {
        Ok(ShardedMap::get_link(self, key).await?)
    }

    async fn read_value(&self, link: &Cid, range: ByteRange) -> Result<Bytes, ZarrHamtError> {
        Ok(ShardedMap::read_value(self, link, range).await?)
    }

    async fn value_len(&self, link: &Cid) -> Result<u64, ZarrHamtError> {
        Ok(ShardedMap::value_len(self, link).await?)
    }

    async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, ZarrHamtError> {
        let mut keys = self.keys().await?;
        keys.retain(|key| key.starts_with(prefix));
        Ok(keys)
    }

    async fn len(&self) -> Result<u64, ZarrHamtError> {
        Ok(self.keys().await?.len() as u64)
    }

    async fn insert(&mut self, key: &str, value: Bytes) -> Result<(), ZarrHamtError> {
        Ok(self.set(key, value).await?)
    }

    async fn insert_many(&mut self, entries: Vec<(String, Bytes)>) -> Result<(), ZarrHamtError> {
        for (key, value) in entries {
            self.set(&key, value).await?;
        }
        Ok(())
    }

    async fn remove(&mut self, key: &str) -> Result<bool, ZarrHamtError> {
        Ok(self.delete(key).await?)
    }

    /// py-hamt's `delete_dir`: metadata under `prefix` and every array at or
    /// under it, whole.
    async fn remove_prefix(&mut self, prefix: &str) -> Result<usize, ZarrHamtError> {
        let before = self.metadata().len();
        self.delete_dir(prefix).await?;
        Ok(before.saturating_sub(self.metadata().len()))
    }

    async fn list_dir(
        &self,
        base: &str,
        keep: &(dyn for<'k> Fn(&'k str) -> bool + Sync),
    ) -> Result<DirListing, ZarrHamtError> {
        let (keys, prefixes) = ShardedMap::list_dir(self, base, keep).await?;
        Ok(DirListing {
            base: base.to_owned(),
            keys,
            prefixes,
        })
    }

    fn clear(&mut self) -> Result<(), ZarrHamtError> {
        Ok(ShardedMap::clear(self)?)
    }

    async fn flush(&mut self) -> Result<Cid, ZarrHamtError> {
        Ok(ShardedMap::flush(self).await?)
    }
}
