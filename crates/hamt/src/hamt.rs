use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use hamt_codec::{BlockCodec, Cid, KeyHash, Slot, StoredNode};
use hamt_store::{Block, BlockStore, ByteRange, CidHash, DagScope, telemetry};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::cache::{CacheStats, NodeCache};
use crate::pending::PendingValues;
use crate::tree::{self, Child, DirtyNode, TreeContext, TreeError};
use crate::walk::{ChildRef, NodeView, Step, Walk};
use crate::{HamtConfig, HamtError};

/// What becomes of subtrees written out early (past the dirty-node budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterWrite {
    /// Their nodes seed the read cache.
    Cache,
    /// Dropped: a sorted import never comes back to the subtrees it passed.
    Drop,
}

/// Stored nodes fetched during one lookup or batch of lookups.
type Fetched = HashMap<Cid, Arc<StoredNode>, CidHash>;

/// Keys looked up together in one level-by-level walk: the nodes a batch
/// holds stay bounded (each key needs at most one per level).
const BATCH_KEYS: usize = 4096;

/// The stored children of the dirty nodes of a write tree, where a walk of
/// stored nodes starts.
fn stored_children(node: &DirtyNode) -> Vec<Cid> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        for (_, slot) in node.iter() {
            match slot {
                Slot::Child(Child::Stored(cid)) => out.push(**cid),
                Slot::Child(Child::Dirty(child)) => stack.push(child),
                Slot::Bucket(_) => {}
            }
        }
    }
    out
}

/// Buffered values from which a flush writes them on a second thread while
/// it encodes the nodes: below, a thread costs more than it saves.
const PARALLEL_FLUSH_VALUES: usize = 4096;

/// Marks [`Hamt::len`] as not yet counted.
const LEN_UNKNOWN: u64 = u64::MAX;

/// A hash array mapped trie of string keys to byte values over a
/// content-addressed [`BlockStore`], byte-compatible with py-hamt 3.6.0.
///
/// Writes ([`insert`](Self::insert), [`remove`](Self::remove)) change an
/// in-memory tree of dirty nodes; [`flush`](Self::flush) writes them bottom-up
/// in one batch and returns the root CID (py-hamt's `make_read_only`). Reads
/// take `&self`: a flushed HAMT behind an `Arc` serves any number of
/// concurrent readers, sharing a bounded cache of decoded nodes.
///
/// ```
/// use hamt::{Hamt, HamtConfig};
/// use hamt_store::MemoryStore;
/// use std::sync::Arc;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let mut map = Hamt::new(store.clone(), HamtConfig::default());
/// map.insert("temp/c/0/0", b"chunk".to_vec()).await?;
/// let root = map.flush().await?;
///
/// let reader = Hamt::open(store, root, HamtConfig::default()).await?;
/// assert_eq!(reader.get("temp/c/0/0").await?.as_deref(), Some(&b"chunk"[..]));
/// assert_eq!(reader.len().await?, 1);
/// # Ok::<(), hamt::HamtError>(())
/// # }).unwrap();
/// ```
pub struct Hamt<S> {
    store: S,
    config: HamtConfig,
    root: Child,
    cache: NodeCache,
    /// The stored root node once read (checked against the root's CID).
    root_node: OnceLock<(Cid, Arc<StoredNode>)>,
    /// Value blocks inserted but not yet written.
    pending: PendingValues,
    /// Estimated heap bytes of the dirty nodes (see `HamtConfig::with_dirty_node_bytes`).
    dirty_bytes: usize,
    len: AtomicU64,
}

impl<S> std::fmt::Debug for Hamt<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hamt")
            .field(
                "root",
                &match self.root {
                    Child::Stored(ref cid) => Some(**cid),
                    Child::Dirty(_) => None,
                },
            )
            .field("max_bucket_size", &self.config.max_bucket_size)
            .field("pending_values", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<S: BlockStore> Hamt<S> {
    /// A new, empty HAMT (py-hamt's `HAMT.build` with no root).
    pub fn new(store: S, config: HamtConfig) -> Self {
        Self::with_root(store, config, Child::Dirty(Box::default()), 0)
    }

    /// Opens the HAMT whose root node is `root`, reading (and checking) the root node now.
    pub async fn open(store: S, root: Cid, config: HamtConfig) -> Result<Self, HamtError> {
        let hamt = Self::with_root(store, config, Child::stored(root), LEN_UNKNOWN);
        hamt.load(&root).await?;
        Ok(hamt)
    }

    fn with_root(store: S, config: HamtConfig, root: Child, len: u64) -> Self {
        Hamt {
            store,
            cache: NodeCache::new(config.cache_bytes),
            root_node: OnceLock::new(),
            config,
            root,
            pending: PendingValues::default(),
            dirty_bytes: 0,
            len: AtomicU64::new(len),
        }
    }

    /// The store this HAMT reads and writes.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &HamtConfig {
        &self.config
    }

    /// The root CID, if nothing changed since the last flush or open.
    pub fn root_cid(&self) -> Option<Cid> {
        match self.root {
            Child::Stored(ref cid) => Some(**cid),
            Child::Dirty(_) => None,
        }
    }

    /// Whether there are changes not yet flushed.
    pub fn is_dirty(&self) -> bool {
        self.root_cid().is_none() || !self.pending.is_empty()
    }

    /// What the node cache holds.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Estimated heap bytes of the changed nodes held in memory, which
    /// [`HamtConfig::with_dirty_node_bytes`] bounds.
    pub fn dirty_node_bytes(&self) -> usize {
        self.dirty_bytes
    }

    /// Empties the node cache (py-hamt's `cache_vacate` on a read-only HAMT).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    pub(crate) fn hash_key(&self, key: &str) -> KeyHash {
        self.config.key_hasher.hash(key.as_bytes())
    }

    /// Reads a stored node through the cache.
    async fn load(&self, cid: &Cid) -> Result<Arc<StoredNode>, HamtError> {
        load_node(
            &self.store,
            &self.cache,
            self.config.max_read_bucket_size,
            cid,
        )
        .await
    }

    /// A stored node without waiting: from `fetched`, the cache, or a
    /// store that answers directly ([`BlockStore::blocking`]); `None` if it
    /// must be fetched.
    // The map's error type, as everywhere in this API; the `Err` is rare.
    #[allow(clippy::result_large_err)]
    fn node_now(&self, cid: &Cid, fetched: &Fetched) -> Result<Option<Arc<StoredNode>>, HamtError> {
        if let Some(node) = fetched.get(cid) {
            return Ok(Some(Arc::clone(node)));
        }
        match self.store.blocking() {
            Some(direct) => {
                if let Some(node) = self.cache.get(cid) {
                    telemetry::NODE_LOADS.add(1, true);
                    return Ok(Some(node));
                }
                let started = telemetry::enabled().then(Instant::now);
                let bytes = direct.get_blocking(cid)?;
                record_node_read(bytes.len(), started);
                let node = decode_node(self.config.max_read_bucket_size, cid, &bytes)?;
                self.cache.insert(*cid, Arc::clone(&node));
                Ok(Some(node))
            }
            // A miss is counted by the fetch that follows it.
            None => Ok(self.cache.get_if_cached(cid)),
        }
    }

    /// The stored root node without waiting (see [`node_now`](Self::node_now)):
    /// every read starts there, so it is kept at hand rather than looked up
    /// in the cache each time.
    // The map's error type, as everywhere in this API; the `Err` is rare.
    #[allow(clippy::result_large_err)]
    fn root_now(&self, cid: &Cid, fetched: &Fetched) -> Result<Option<Arc<StoredNode>>, HamtError> {
        if let Some((held, node)) = self.root_node.get()
            && held == cid
        {
            return Ok(Some(Arc::clone(node)));
        }
        let node = self.node_now(cid, fetched)?;
        if let Some(node) = &node {
            // Another reader may have set it first: either is the same node.
            let _ = self.root_node.set((*cid, Arc::clone(node)));
        }
        Ok(node)
    }

    /// Looks `key` (hashing to `hash`) up as far as the nodes at hand go:
    /// the link (or its absence), or the stored node to fetch first.
    // The map's error type, as everywhere in this API; the `Err` is rare.
    #[allow(clippy::result_large_err)]
    fn lookup(
        &self,
        key: &str,
        hash: &KeyHash,
        fetched: &Fetched,
    ) -> Result<Result<(Option<Cid>, u64), Cid>, HamtError> {
        let mut node = match &self.root {
            Child::Dirty(node) => NodeView::Dirty(node),
            Child::Stored(cid) => match self.root_now(cid, fetched)? {
                Some(node) => NodeView::Stored(node),
                None => return Ok(Err(**cid)),
            },
        };
        // One hash byte per level: a path longer than the hash is invalid.
        for (depth, &index) in (1..).zip(hash) {
            node = match node.step(index, key) {
                Step::Found(link) => return Ok(Ok((link, depth))),
                Step::Descend(ChildRef::Dirty(child)) => NodeView::Dirty(child),
                Step::Descend(ChildRef::Stored(cid)) => match self.node_now(&cid, fetched)? {
                    Some(child) => NodeView::Stored(child),
                    None => return Ok(Err(cid)),
                },
            };
        }
        Err(HamtError::HashExhausted {
            key: key.to_owned(),
        })
    }

    // ---------------------------------------------------------------- reads

    /// The link of the value block stored for `key` (py-hamt's `get_pointer`).
    #[tracing::instrument(level = "debug", name = "py_hamt.hamt.lookup", skip(self))]
    pub async fn get_link(&self, key: &str) -> Result<Option<Cid>, HamtError> {
        let hash = self.hash_key(key);
        // Nodes fetched on the way, held here too in case the cache cannot
        // keep them; at most one per level.
        let mut fetched = Fetched::default();
        let started = telemetry::enabled().then(Instant::now);
        loop {
            match self.lookup(key, &hash, &fetched)? {
                Ok((link, depth)) => {
                    record_lookup(link.is_some(), depth);
                    if let Some(started) = started {
                        telemetry::LOOKUP_DURATION.record_duration(started.elapsed());
                    }
                    return Ok(link);
                }
                Err(missing) => {
                    let node = self.load(&missing).await?;
                    fetched.insert(missing, node);
                }
            }
        }
    }

    /// The links of many keys (each what [`get_link`](Self::get_link)
    /// gives), in the order given. The tree is walked level by level for
    /// the whole batch: every node the batch needs at a level is fetched at
    /// once, up to [`HamtConfig::with_read_concurrency`] in flight, so over
    /// a network a batch waits for as many round trips as the tree is deep
    /// (cached levels need none), not one per key and level.
    ///
    /// ```
    /// # use hamt::{Hamt, HamtConfig}; use hamt_store::MemoryStore;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
    /// map.insert("a", b"1".to_vec()).await?;
    /// let links = map.get_links_many(&["a", "b"]).await?;
    /// assert!(links[0].is_some() && links[1].is_none());
    /// # Ok::<(), hamt::HamtError>(()) }).unwrap();
    /// ```
    #[tracing::instrument(level = "debug", name = "hamt.get_links_many", skip_all, fields(keys = keys.len()))]
    pub async fn get_links_many<K: AsRef<str>>(
        &self,
        keys: &[K],
    ) -> Result<Vec<Option<Cid>>, HamtError> {
        let mut links = Vec::with_capacity(keys.len());
        // In slices, so the nodes held for one stay bounded.
        for batch in keys.chunks(BATCH_KEYS) {
            links.extend(self.get_links_batch(batch).await?);
        }
        Ok(links)
    }

    async fn get_links_batch<K: AsRef<str>>(
        &self,
        keys: &[K],
    ) -> Result<Vec<Option<Cid>>, HamtError> {
        let hashes: Vec<KeyHash> = keys.iter().map(|k| self.hash_key(k.as_ref())).collect();
        let mut links = vec![None; keys.len()];
        let mut waiting: Vec<usize> = (0..keys.len()).collect();
        let mut fetched = Fetched::default();
        while !waiting.is_empty() {
            let mut missing = Vec::new();
            let mut still = Vec::new();
            for i in waiting {
                match self.lookup(keys[i].as_ref(), &hashes[i], &fetched)? {
                    Ok((link, depth)) => {
                        record_lookup(link.is_some(), depth);
                        links[i] = link;
                    }
                    Err(cid) => {
                        missing.push(cid);
                        still.push(i);
                    }
                }
            }
            missing.sort_unstable();
            missing.dedup();
            let loaded: Vec<(Cid, Arc<StoredNode>)> = stream::iter(missing)
                .map(|cid| async move { Ok::<_, HamtError>((cid, self.load(&cid).await?)) })
                .buffer_unordered(self.config.read_concurrency)
                .try_collect()
                .await?;
            fetched.extend(loaded);
            waiting = still;
        }
        Ok(links)
    }

    /// The values of many keys (each what [`get`](Self::get) gives), in
    /// the order given: the links as [`get_links_many`](Self::get_links_many)
    /// finds them, then the values, up to the read concurrency at once.
    pub async fn get_many<K: AsRef<str>>(
        &self,
        keys: &[K],
    ) -> Result<Vec<Option<Bytes>>, HamtError> {
        let ranges: Vec<(&str, ByteRange)> =
            keys.iter().map(|k| (k.as_ref(), ByteRange::Full)).collect();
        self.get_ranges_many(&ranges).await
    }

    /// For each `(key, range)`, what [`get_range`](Self::get_range) gives,
    /// in the order given (see [`get_many`](Self::get_many)).
    pub async fn get_ranges_many<K: AsRef<str>>(
        &self,
        requests: &[(K, ByteRange)],
    ) -> Result<Vec<Option<Bytes>>, HamtError> {
        let keys: Vec<&str> = requests.iter().map(|(k, _)| k.as_ref()).collect();
        let links = self.get_links_many(&keys).await?;
        stream::iter(links.into_iter().zip(requests))
            .map(|(link, (_, range))| async move {
                match link {
                    Some(link) => Ok(Some(self.read_value(&link, *range).await?)),
                    None => Ok(None),
                }
            })
            .buffered(self.config.read_concurrency)
            .try_collect()
            .await
    }

    /// Loads the top `levels` of the tree (1: the root; 2: the root and its
    /// children; ...) into the node cache, a level at a time with every node
    /// of a level fetched at once (up to the read concurrency): a freshly
    /// opened map on a distant store then answers its first lookups without
    /// those round trips. Returns how many nodes it loaded or found cached.
    /// Nodes past the cache's budget are read and dropped: size the cache
    /// for the levels asked.
    pub async fn warm_up(&self, levels: usize) -> Result<usize, HamtError> {
        let mut level: Vec<Cid> = match &self.root {
            Child::Stored(cid) => vec![**cid],
            // A changed tree: its stored subtrees start below the dirty nodes.
            Child::Dirty(node) => stored_children(node),
        };
        let mut loaded = 0;
        for _ in 0..levels {
            // A node linked twice (invalid, but a DAG can say so) is loaded once.
            level.sort_unstable();
            level.dedup();
            if level.is_empty() {
                break;
            }
            loaded += level.len();
            // Only the next level's CIDs are kept, not the nodes.
            let children: Vec<Vec<Cid>> = stream::iter(std::mem::take(&mut level))
                .map(|cid| async move {
                    Ok::<_, HamtError>(self.load(&cid).await?.children().collect())
                })
                .buffer_unordered(self.config.read_concurrency)
                .try_collect()
                .await?;
            level = children.into_iter().flatten().collect();
        }
        Ok(loaded)
    }

    /// Loads every node of a small stored tree into the node cache with
    /// one request, where the store can send a whole DAG at once (a
    /// gateway's CAR, [`BlockStore::fetch_dag`]): later lookups then need
    /// no round trip but the value's. The request brings the values too,
    /// so `max_bytes` bounds the whole map. Returns the nodes decoded (the
    /// cache keeps what its budget allows), or `None` if the store cannot
    /// (use [`warm_up`](Self::warm_up) then) or the root is not stored.
    ///
    /// # Errors
    /// The store's (a map over `max_bytes` among them), or a node in the
    /// answer that does not decode.
    pub async fn warm_up_dag(&self, max_bytes: usize) -> Result<Option<usize>, HamtError> {
        let Child::Stored(root) = &self.root else {
            return Ok(None);
        };
        let Some(blocks) = self.store.fetch_dag(root, DagScope::All, max_bytes).await? else {
            return Ok(None);
        };
        let mut blocks: HashMap<Cid, Bytes, CidHash> =
            blocks.into_iter().map(Block::into_parts).collect();
        // Nodes are the root and the children of nodes; the rest are values.
        let mut stack = vec![**root];
        let mut cached = 0;
        while let Some(cid) = stack.pop() {
            // Taken out: a node reached twice (invalid, but a DAG can say so) is decoded once.
            let Some(bytes) = blocks.remove(&cid) else {
                continue;
            };
            let node = decode_node(self.config.max_read_bucket_size, &cid, &bytes)?;
            stack.extend(node.children());
            self.cache.insert(cid, node);
            cached += 1;
        }
        Ok(Some(cached))
    }

    /// Whether `key` is in the map.
    pub async fn contains_key(&self, key: &str) -> Result<bool, HamtError> {
        Ok(self.get_link(key).await?.is_some())
    }

    /// The value stored for `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, HamtError> {
        self.get_range(key, ByteRange::Full).await
    }

    /// A byte range of the value stored for `key` (py-hamt's
    /// `get(key, offset, length, suffix)`), read from the store as a range.
    ///
    /// ```
    /// # use hamt::{Hamt, HamtConfig}; use hamt_store::{MemoryStore, ByteRange};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
    /// map.insert("k", b"0123456789".to_vec()).await?;
    /// let tail = map.get_range("k", ByteRange::Suffix(3)).await?;
    /// assert_eq!(tail.as_deref(), Some(&b"789"[..]));
    /// # Ok::<(), hamt::HamtError>(()) }).unwrap();
    /// ```
    pub async fn get_range(&self, key: &str, range: ByteRange) -> Result<Option<Bytes>, HamtError> {
        match self.get_link(key).await? {
            Some(link) => Ok(Some(self.read_value(&link, range).await?)),
            None => Ok(None),
        }
    }

    /// Reads a value (or part of it) by its link: a raw block, or a UnixFS
    /// file for values over 1 MiB, of which only the leaves the range covers
    /// are read.
    pub async fn read_value(&self, link: &Cid, range: ByteRange) -> Result<Bytes, HamtError> {
        if let Some(data) = self.pending.get(link).as_ref() {
            return Ok(data.slice(range.to_index_range(data.len())));
        }
        let max = self.config.max_value_read;
        Ok(hamt_unixfs::read_file_limited(&self.store, link, range, max).await?)
    }

    /// The length of the value at `link`, reading no value bytes: a UnixFS
    /// file's length from its root node, a block's from the store
    /// ([`BlockStore::block_size`]).
    pub async fn value_len(&self, link: &Cid) -> Result<u64, HamtError> {
        if let Some(data) = self.pending.get(link).as_ref() {
            return Ok(data.len() as u64);
        }
        if link.codec() == BlockCodec::DagPb.code() {
            return Ok(hamt_unixfs::file_size(&self.store, link).await?);
        }
        Ok(hamt_store::block_size(&self.store, link).await?)
    }

    /// The value for `key`, decoded from DAG-CBOR (py-hamt with `values_are_bytes=False`).
    pub async fn get_dagcbor<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, HamtError> {
        let Some(bytes) = self.get(key).await? else {
            return Ok(None);
        };
        hamt_codec::value::decode(&bytes)
            .map(Some)
            .map_err(|source| HamtError::Value {
                key: key.to_owned(),
                source,
            })
    }

    /// Number of entries. Counted by walking the tree the first time after an
    /// open (py-hamt always walks), then kept up to date by writes.
    pub async fn len(&self) -> Result<u64, HamtError> {
        let known = self.len.load(Ordering::Relaxed);
        if known != LEN_UNKNOWN {
            return Ok(known);
        }
        let mut count = 0u64;
        let mut walk = Walk::new(self.root_ref());
        while let Some((node, _)) = walk.next(self).await? {
            count += node.bucket_entries() as u64;
        }
        self.len.store(count, Ordering::Relaxed);
        Ok(count)
    }

    /// Whether the map has no entries.
    pub async fn is_empty(&self) -> Result<bool, HamtError> {
        Ok(self.len().await? == 0)
    }

    /// Where every walk of the whole tree starts.
    pub(crate) fn root_ref(&self) -> ChildRef<'_> {
        ChildRef::from(&self.root)
    }

    /// The node a child refers to, reading a stored one through the cache.
    pub(crate) async fn resolve<'a>(&self, item: ChildRef<'a>) -> Result<NodeView<'a>, HamtError> {
        Ok(match item {
            ChildRef::Dirty(node) => NodeView::Dirty(node),
            ChildRef::Stored(cid) => NodeView::Stored(self.load(&cid).await?),
        })
    }

    // --------------------------------------------------------------- writes

    /// Sets `key` to `value`, returning the link of the value it replaced.
    ///
    /// A value of at most 1 MiB becomes one raw block; a larger one becomes a
    /// UnixFS file of 1 MiB raw leaves, exactly as py-hamt's `KuboCAS` stores
    /// it through Kubo's `add`, so the link is the same on every store. The
    /// CIDs are computed now; the blocks are written at the next flush, or
    /// sooner when the buffer of new values passes its budget. The tree
    /// changes only in memory until [`flush`](Self::flush).
    ///
    /// # Errors
    /// A node needed on the key's path cannot be read or decoded, or an early
    /// write (of buffered values, or of dirty subtrees past the memory
    /// budget) failed. Depending on when the write failed, the entry may
    /// already be in the map with its value buffered for the next flush;
    /// either way nothing committed is lost and inserting again is harmless.
    pub async fn insert(
        &mut self,
        key: &str,
        value: impl Into<Bytes>,
    ) -> Result<Option<Cid>, HamtError> {
        let value = value.into();
        let hash = self.store.hash_algorithm();
        if value.len() <= hamt_unixfs::CHUNK_SIZE {
            let block = Block::new(BlockCodec::Raw, hash, value);
            let old = self.insert_link(key, *block.cid()).await?;
            self.buffer_block(block);
            self.write_values_over_budget().await?;
            return Ok(old);
        }
        let (root, blocks) = hamt_unixfs::build_file_bytes(&value, hash);
        let old = self.insert_link(key, root).await?;
        self.pending.push_file(root, value);
        self.buffer_values(blocks).await?;
        Ok(old)
    }

    /// Removes every entry: the map is empty again (on the same store, with
    /// the same configuration), and its buffered values are dropped.
    pub fn clear(&mut self) {
        self.root = Child::Dirty(Box::default());
        self.root_node = OnceLock::new();
        self.pending.clear();
        self.dirty_bytes = 0;
        *self.len.get_mut() = 0;
    }

    /// Sets `key` to a value encoded as DAG-CBOR (py-hamt with `values_are_bytes=False`).
    pub async fn insert_dagcbor<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<Option<Cid>, HamtError> {
        let bytes = hamt_codec::value::encode(value).map_err(|source| HamtError::Value {
            key: key.to_owned(),
            source,
        })?;
        self.insert(key, bytes).await
    }

    /// Sets `key` to the link of a value block that is already in the store.
    pub async fn insert_link(&mut self, key: &str, link: Cid) -> Result<Option<Cid>, HamtError> {
        let hash = self.hash_key(key);
        self.insert_hashed(key, &hash, link, AfterWrite::Cache)
            .await
    }

    /// Sets `key`, whose hash is `hash`, to `link`; subtrees written out
    /// early on the way become `written`.
    pub(crate) async fn insert_hashed(
        &mut self,
        key: &str,
        hash: &KeyHash,
        link: Cid,
        written: AfterWrite,
    ) -> Result<Option<Cid>, HamtError> {
        let mut insert = |root: &mut DirtyNode, cx: &TreeContext<'_>| {
            tree::insert(root, 0, (hash, key, link), cx)
        };
        // Most inserts need no I/O (within the memory budget, every node on
        // the path in memory): they run here, without the futures of the
        // general path.
        let fast = self
            .within_budget()
            .then(|| self.try_on_tree(&HashMap::new(), &mut insert));
        let old = match fast {
            Some(Ok(old)) => old,
            Some(Err(error @ (TreeError::HashExhausted | TreeError::Invalid { .. }))) => {
                return Err(error.into_hamt_error(key));
            }
            Some(Err(TreeError::Need(_))) | None => {
                self.make_room(hash, written).await?;
                self.run_on_tree(key, insert).await?
            }
        };
        if old.is_none() {
            self.adjust_len(1);
        }
        Ok(old)
    }

    /// Removes `key`, returning the link of its value.
    ///
    /// Like py-hamt 3.6.0, every subtree on the key's path left with at most
    /// `max_bucket_size` entries folds back into a bucket of its parent, so the
    /// same entries always give the same root CID, whatever the history.
    pub async fn remove(&mut self, key: &str) -> Result<Option<Cid>, HamtError> {
        let hash = self.hash_key(key);
        self.make_room(&hash, AfterWrite::Cache).await?;
        // Planning may stop to load nodes; the plan, once complete, is
        // applied to the same (now loaded) path in the same run.
        let removed = self
            .run_on_tree(key, |root, cx| {
                let plan = tree::plan_removal(root, 0, &hash, key, cx)?;
                Ok(plan.and_then(|plan| tree::apply_removal(root, 0, &hash, key, plan)))
            })
            .await?;
        if removed.is_some() {
            self.adjust_len(-1);
        }
        Ok(removed)
    }

    /// Whether the dirty nodes are within their budget, so a write needs
    /// no early write-out first.
    fn within_budget(&self) -> bool {
        self.dirty_bytes <= self.config.dirty_node_bytes
    }

    /// Runs a pure tree function once on the write tree, with the stored
    /// nodes of the cache and of `loaded`; stops with `TreeError::Need` at
    /// a node neither holds.
    fn try_on_tree<T>(
        &mut self,
        loaded: &HashMap<Cid, Arc<StoredNode>>,
        f: &mut impl FnMut(&mut DirtyNode, &TreeContext<'_>) -> Result<T, TreeError>,
    ) -> Result<T, TreeError> {
        let Hamt {
            root,
            cache,
            config,
            dirty_bytes,
            ..
        } = self;
        let nodes = |cid: &Cid| loaded.get(cid).cloned().or_else(|| cache.get(cid));
        let cx = TreeContext {
            max_bucket_size: config.max_bucket_size,
            hasher: &*config.key_hasher,
            nodes: &nodes,
            grown: Cell::new(0),
        };
        let result = tree::make_dirty(root, &cx).and_then(|root| f(root, &cx));
        // Nodes made dirty stay so even when the run stops early.
        *dirty_bytes += cx.grown.get();
        result
    }

    /// Runs a pure tree function on the write tree, loading each stored node
    /// it asks for and running it again, until it finishes.
    async fn run_on_tree<T>(
        &mut self,
        key: &str,
        mut f: impl FnMut(&mut DirtyNode, &TreeContext<'_>) -> Result<T, TreeError>,
    ) -> Result<T, HamtError> {
        let mut loaded: HashMap<Cid, Arc<StoredNode>> = HashMap::new();
        loop {
            // The context borrows the tree and lives only inside
            // `try_on_tree`, never across the await below, so the future
            // stays `Send`.
            let result = self.try_on_tree(&loaded, &mut f);
            match result {
                Ok(value) => return Ok(value),
                Err(error @ (TreeError::HashExhausted | TreeError::Invalid { .. })) => {
                    return Err(error.into_hamt_error(key));
                }
                Err(TreeError::Need(cid)) => {
                    let node = self.load(&cid).await?;
                    loaded.insert(cid, node);
                }
            }
        }
    }

    fn adjust_len(&mut self, delta: i64) {
        let len = self.len.get_mut();
        if *len != LEN_UNKNOWN {
            *len = len.saturating_add_signed(delta);
        }
    }

    async fn buffer_values(&mut self, blocks: Vec<Block>) -> Result<(), HamtError> {
        for block in blocks {
            self.buffer_block(block);
        }
        self.write_values_over_budget().await
    }

    /// Holds a new value block until the next write.
    pub(crate) fn buffer_block(&mut self, block: Block) {
        self.pending.push(block);
    }

    /// Holds a whole value stored as a UnixFS file, and its blocks.
    pub(crate) fn buffer_file(&mut self, root: Cid, value: Bytes, blocks: Vec<Block>) {
        self.pending.push_file(root, value);
        for block in blocks {
            self.buffer_block(block);
        }
    }

    /// Writes the buffered values if they are over their budget.
    pub(crate) async fn write_values_over_budget(&mut self) -> Result<(), HamtError> {
        if self.pending.bytes() > self.config.value_buffer_bytes {
            self.write_pending_values().await?;
        }
        Ok(())
    }

    /// Writes buffered value blocks; on failure they stay buffered.
    async fn write_pending_values(&mut self) -> Result<(), HamtError> {
        self.write_with_values(Vec::new()).await
    }

    /// Writes every new value and then every dirty node, children before
    /// parents (the nodes in one `put_many`), and returns the root CID. If
    /// the store fails, nothing is lost: the changes stay in memory and
    /// `flush` can be called again.
    pub async fn flush(&mut self) -> Result<Cid, HamtError> {
        let encoded = self.write_values_while_encoding()?;
        self.write_with_values(encoded.blocks).await?;
        let cache = &self.cache;
        let root = tree::store_tree(&mut self.root, encoded.cids, &mut |cid, node| {
            cache.insert(cid, Arc::new(node));
        });
        self.dirty_bytes = 0;
        self.root_node = OnceLock::new();
        Ok(root)
    }

    /// Encodes the write tree for a flush. When many values are buffered
    /// and the store answers directly, they are written on a second thread
    /// meanwhile (they do not depend on the nodes; the nodes are written
    /// only after them, by [`write_with_values`](Self::write_with_values)).
    // The map's error type, as everywhere in this API; the `Err` is rare.
    #[allow(clippy::result_large_err)]
    fn write_values_while_encoding(&mut self) -> Result<tree::Encoded, HamtError> {
        let hash = self.store.hash_algorithm();
        let Hamt {
            store,
            root,
            pending,
            ..
        } = self;
        let direct = match store.blocking() {
            Some(direct) if pending.len() >= PARALLEL_FLUSH_VALUES => direct,
            _ => return Ok(tree::encode_tree(root, hash)),
        };
        let values = pending.blocks_to_write();
        let (encoded, written) = std::thread::scope(|scope| {
            let writer = std::thread::Builder::new()
                .name("hamt-flush-values".into())
                .spawn_scoped(scope, || direct.put_many_blocking(values));
            let encoded = tree::encode_tree(root, hash);
            // No thread to be had: the values are written after the nodes
            // are encoded, by `write_with_values`.
            let written = writer.map_or(Ok(()), |writer| {
                writer
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            (encoded, written)
        });
        if let Err(error) = written {
            pending.recount();
            return Err(error.into());
        }
        Ok(encoded)
    }

    /// Writes the buffered values and then `nodes`, children before
    /// parents, so no node is written before a value or child it links.
    /// The values move into the store (no copy); if a write fails, the
    /// values that may not be stored stay buffered, and the tree is
    /// unchanged, so a retry loses nothing.
    async fn write_with_values(&mut self, nodes: Vec<Block>) -> Result<(), HamtError> {
        write_with_values(&self.store, &mut self.pending, nodes).await
    }

    /// Keeps the dirty nodes within their budget before a write to the key
    /// hashing to `hash`: past it, every complete dirty subtree off that
    /// key's path is written (with the buffered values, children before
    /// parents) and replaced by its link. The tree changes only after the
    /// store accepted the blocks, so a failure loses nothing.
    async fn make_room(&mut self, hash: &KeyHash, written: AfterWrite) -> Result<(), HamtError> {
        let within_budget = self.within_budget();
        let Hamt {
            store,
            root,
            pending,
            cache,
            dirty_bytes,
            ..
        } = self;
        // Within the budget, or a stored root (which holds no dirty nodes).
        let (false, Child::Dirty(root)) = (within_budget, root) else {
            return Ok(());
        };
        let encoded = tree::encode_off_path(root, hash, store.hash_algorithm());
        write_with_values(store, pending, encoded.blocks).await?;
        let mut seed_cache = |cid, node| cache.insert(cid, Arc::new(node));
        let keep: Option<&mut dyn FnMut(Cid, StoredNode)> = match written {
            AfterWrite::Cache => Some(&mut seed_cache),
            AfterWrite::Drop => None,
        };
        tree::store_off_path(root, hash, encoded.cids, keep);
        *dirty_bytes = tree::node_size(root);
        Ok(())
    }
}

/// Writes the buffered values and then `nodes` (see
/// [`Hamt::write_with_values`]).
async fn write_with_values<S: BlockStore>(
    store: &S,
    pending: &mut PendingValues,
    mut nodes: Vec<Block>,
) -> Result<(), HamtError> {
    let written = async {
        hamt_store::write_blocks(store, pending.blocks_to_write()).await?;
        hamt_store::write_blocks(store, &mut nodes).await
    }
    .await;
    match written {
        Ok(()) => pending.clear(),
        // The values not stored are still held: count those.
        Err(_) => pending.recount(),
    }
    Ok(written?)
}

/// Reads a node: from the cache, else from the store (verified) and
/// decoded, one read for any number of concurrent callers.
async fn load_node<S: BlockStore>(
    store: &S,
    cache: &NodeCache,
    max_bucket: usize,
    cid: &Cid,
) -> Result<Arc<StoredNode>, HamtError> {
    let load = async {
        let started = telemetry::enabled().then(Instant::now);
        let bytes = hamt_store::read_block(store, cid).await?;
        record_node_read(bytes.len(), started);
        decode_node(max_bucket, cid, &bytes)
    };
    let span = tracing::debug_span!("py_hamt.hamt.node_load", cid = %cid);
    cache.get_or_load(cid, load.instrument(span)).await
}

/// Telemetry of one key's lookup, once it ended (found or not).
fn record_lookup(found: bool, depth: u64) {
    telemetry::LOOKUPS.add(1, found);
    telemetry::LOOKUP_DEPTH.record(depth);
}

/// Telemetry of a node read from the store (a cache miss).
fn record_node_read(bytes: usize, started: Option<Instant>) {
    telemetry::NODE_LOADS.add(1, false);
    telemetry::NODE_LOAD_BYTES.add(bytes as u64, false);
    if let Some(started) = started {
        telemetry::NODE_LOAD_DURATION.record_duration(started.elapsed());
    }
}

/// Decodes the (verified) block of node `cid`.
// The map's error type, as everywhere in this API; the `Err` is rare.
#[allow(clippy::result_large_err)]
fn decode_node(max_bucket: usize, cid: &Cid, bytes: &[u8]) -> Result<Arc<StoredNode>, HamtError> {
    StoredNode::decode(bytes, max_bucket)
        .map(Arc::new)
        .map_err(|source| HamtError::Decode { cid: *cid, source })
}
