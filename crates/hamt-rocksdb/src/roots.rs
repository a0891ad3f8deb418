//! Named roots: a small column family mapping a name to a root CID.
//!
//! **Durability rule.** [`RocksDbStore::set_root`] first checks that the root
//! block is held, then makes every block written by any writer before the
//! call durable ([`RocksDbStore::sync`]: the buffered blocks ingested, the
//! memtables flushed), then writes the name with a synced write. So a name
//! that survived a crash was written after its blocks reached the disk: a
//! named root never points at a block lost to a crash.

use hamt_codec::Cid;
use hamt_store::StoreError;

use crate::RocksDbStore;
use crate::error::{db_error, store_error};
use crate::keys::{ROOTS_CF, block_key};
use crate::store::synced_write;

/// Names that [`RocksDbStore::set_root`] and [`RocksDbStore::remove_root`]
/// refuse: `hamt-history` keeps branches (`refs/heads/…`) and tags
/// (`refs/tags/…`) here, and a plain write could overwrite another
/// writer's commit or move a tag.
pub const SWAP_ONLY_PREFIX: &str = "refs/";

/// Whether a name is written whatever it names, or only over what it
/// names now.
#[derive(Clone, Copy)]
enum Naming<'a> {
    Always,
    IfNames(Option<&'a Cid>),
}

impl RocksDbStore {
    /// Names `root`, durably. Replaces the name's previous root.
    ///
    /// A root is named only over a whole DAG: every block it reaches must
    /// be held, or [`StoreError::NotFound`] names a missing one and nothing
    /// is named. Nodes are read (for their links) and leaves looked up;
    /// subtrees found complete by an earlier `set_root` of this handle are
    /// not walked again, so naming a new version of a map costs the nodes
    /// that changed (and the leaves they link). What this handle ingested
    /// since its last GC is not looked up either: the ingestion recorded
    /// its leaves, and its nodes whose links it had all recorded, so naming
    /// a fresh import's root costs nothing more. Blocking;
    /// [`verify_dag`](Self::verify_dag) also reads and verifies every leaf.
    ///
    /// The caller must have put every block of the root (the HAMT's flush
    /// does) no longer than [`gc_grace`](crate::RocksDbOptions::gc_grace) ago,
    /// or have them reachable from another named root: that is what keeps a
    /// concurrent [`gc`](Self::gc) from sweeping them.
    ///
    /// Names under [`SWAP_ONLY_PREFIX`] (`refs/`: branches and tags) are
    /// refused: they move only by [`swap_root`](Self::swap_root).
    pub fn set_root(&self, name: &str, root: &Cid) -> Result<(), StoreError> {
        self.check_not_swap_only(name, "name")?;
        self.name_root(name, root, Naming::Always).map(|_| ())
    }

    fn check_not_swap_only(&self, name: &str, what: &str) -> Result<(), StoreError> {
        if name.starts_with(SWAP_ONLY_PREFIX) {
            return Err(store_error(
                format!("{what} root {name:?}"),
                &self.path,
                format!(
                    "names under {SWAP_ONLY_PREFIX} are branches and tags, moved only by compare-and-swap (hamt commit, tag, branch)"
                ),
            ));
        }
        Ok(())
    }

    /// Names `root` only if `name` names `expected` now (`None`: names
    /// nothing), as one step: two writers swapping from the same root
    /// cannot both win. `Ok(Err(current))` when the name had moved (nothing
    /// written); otherwise as [`set_root`](Self::set_root).
    ///
    /// ```
    /// # use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
    /// # use hamt_store::{BlockCodec, BlockStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = RocksDbStore::open(dir.path(), &RocksDbOptions::default())?;
    /// let a = store.put(BlockCodec::Raw, b"a".to_vec().into()).await?;
    /// let b = store.put(BlockCodec::Raw, b"b".to_vec().into()).await?;
    /// assert_eq!(store.swap_root("main", None, &a)?, Ok(()));
    /// // A writer that still thinks the name is unset loses.
    /// assert_eq!(store.swap_root("main", None, &b)?, Err(Some(a)));
    /// assert_eq!(store.swap_root("main", Some(&a), &b)?, Ok(()));
    /// # Ok::<(), hamt_store::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub fn swap_root(
        &self,
        name: &str,
        expected: Option<&Cid>,
        root: &Cid,
    ) -> Result<Result<(), Option<Cid>>, StoreError> {
        self.name_root(name, root, Naming::IfNames(expected))
    }

    /// `set_root`, or a `swap_root`.
    fn name_root(
        &self,
        name: &str,
        root: &Cid,
        naming: Naming<'_>,
    ) -> Result<Result<(), Option<Cid>>, StoreError> {
        self.check_writable()?;
        let roots_cf = self.cf(ROOTS_CF)?;
        let _no_sweep = self.sweep_lock.read();
        if !self.has_key(&block_key(root))? {
            return Err(StoreError::NotFound(*root));
        }
        let vouched = match naming {
            Naming::IfNames(expected) => expected,
            Naming::Always => None,
        };
        // Blocks first: an ingestion records what it wrote, so the check
        // finds the newest nodes (the root's) among them.
        self.persist_blocks()?;
        let newly_complete = self.check_complete(root, vouched)?;
        let _names = self.names.lock();
        if let Naming::IfNames(expected) = naming {
            let current = self.root(name)?;
            if current.as_ref() != expected {
                return Ok(Err(current));
            }
        }
        self.db
            .put_cf_opt(roots_cf, name.as_bytes(), root.to_bytes(), &synced_write())
            .map_err(|e| db_error(format!("name root {name:?}"), &self.path, e))?;
        if let Some(new_roots) = self.gc_new_roots.lock().as_mut() {
            new_roots.push(*root);
        }
        self.remember_complete(&newly_complete);
        self.ingest.shared.written.lock().named();
        Ok(Ok(()))
    }

    /// The root named `name`, if any.
    pub fn root(&self, name: &str) -> Result<Option<Cid>, StoreError> {
        let found = self
            .db
            .get_pinned_cf(self.cf(ROOTS_CF)?, name.as_bytes())
            .map_err(|e| db_error(format!("read root {name:?}"), &self.path, e))?;
        found
            .map(|bytes| self.decode_root(name.as_bytes(), &bytes))
            .transpose()
    }

    /// Every named root, by name.
    pub fn roots(&self) -> Result<Vec<(String, Cid)>, StoreError> {
        let mut iter = self.db.raw_iterator_cf(self.cf(ROOTS_CF)?);
        iter.seek_to_first();
        let mut roots = Vec::new();
        while let (Some(name), Some(value)) = (iter.key(), iter.value()) {
            let root = self.decode_root(name, value)?;
            roots.push((String::from_utf8_lossy(name).into_owned(), root));
            iter.next();
        }
        iter.status()
            .map_err(|e| db_error("list roots", &self.path, e))?;
        Ok(roots)
    }

    /// Removes the name `name`, durably, returning the root it named. Its
    /// blocks stay until a [`gc`](Self::gc) finds them unreachable.
    pub fn remove_root(&self, name: &str) -> Result<Option<Cid>, StoreError> {
        self.check_writable()?;
        self.check_not_swap_only(name, "remove")?;
        // Read and delete as one: a set_root in between would otherwise be
        // deleted while the root before it is reported removed.
        let _names = self.names.lock();
        let previous = self.root(name)?;
        if previous.is_some() {
            self.delete_name(name)?;
        }
        Ok(previous)
    }

    /// Removes the name `name` only if it names `expected` now, as one step
    /// (under the same lock as [`swap_root`](Self::swap_root)): a writer
    /// that moved the name meanwhile keeps it. `Ok(Err(current))` when the
    /// name had moved or was gone (nothing removed). Unlike
    /// [`remove_root`](Self::remove_root), names under [`SWAP_ONLY_PREFIX`]
    /// are allowed: this is how a tag or branch is removed. The blocks stay
    /// until a [`gc`](Self::gc) finds them unreachable.
    ///
    /// ```
    /// # use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
    /// # use hamt_store::{BlockCodec, BlockStore};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let store = RocksDbStore::open(dir.path(), &RocksDbOptions::default())?;
    /// let a = store.put(BlockCodec::Raw, b"a".to_vec().into()).await?;
    /// let b = store.put(BlockCodec::Raw, b"b".to_vec().into()).await?;
    /// store.swap_root("refs/tags/v1", None, &a)?.unwrap();
    /// // A remover that expects another root removes nothing.
    /// assert_eq!(store.remove_root_if("refs/tags/v1", &b)?, Err(Some(a)));
    /// assert_eq!(store.remove_root_if("refs/tags/v1", &a)?, Ok(()));
    /// assert_eq!(store.remove_root_if("refs/tags/v1", &a)?, Err(None));
    /// # Ok::<(), hamt_store::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub fn remove_root_if(
        &self,
        name: &str,
        expected: &Cid,
    ) -> Result<Result<(), Option<Cid>>, StoreError> {
        self.check_writable()?;
        let _names = self.names.lock();
        let current = self.root(name)?;
        if current.as_ref() != Some(expected) {
            return Ok(Err(current));
        }
        self.delete_name(name)?;
        Ok(Ok(()))
    }

    /// Deletes `name` with a synced write; the caller holds the names lock.
    fn delete_name(&self, name: &str) -> Result<(), StoreError> {
        self.db
            .delete_cf_opt(self.cf(ROOTS_CF)?, name.as_bytes(), &synced_write())
            .map_err(|e| db_error(format!("remove root {name:?}"), &self.path, e))
    }

    fn decode_root(&self, name: &[u8], value: &[u8]) -> Result<Cid, StoreError> {
        Cid::try_from(value).map_err(|e| {
            let name = String::from_utf8_lossy(name);
            store_error(
                format!("read root {name:?}"),
                &self.path,
                format!("not a CID: {e}"),
            )
        })
    }
}
