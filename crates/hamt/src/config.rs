use std::sync::Arc;

use hamt_codec::{Blake3KeyHasher, KeyHasher};
use hamt_store::MemoryBudget;

/// How a [`Hamt`](crate::Hamt) hashes keys, shapes buckets and uses memory.
///
/// The defaults are py-hamt's: blake3 key hashes and buckets of at most 4
/// entries. Blocks are addressed with the store's own
/// [`hash_algorithm`](hamt_store::BlockStore::hash_algorithm) (blake3 unless
/// configured), as py-hamt's `KuboCAS(hasher=...)` does.
///
/// ```
/// use hamt::HamtConfig;
/// let config = HamtConfig::default().with_max_bucket_size(8).with_cache_bytes(16 << 20);
/// assert_eq!(config.max_bucket_size(), 8);
/// ```
#[derive(Debug, Clone)]
pub struct HamtConfig {
    pub(crate) max_bucket_size: usize,
    pub(crate) key_hasher: Arc<dyn KeyHasher>,
    pub(crate) cache_bytes: usize,
    pub(crate) max_read_bucket_size: usize,
    pub(crate) value_buffer_bytes: usize,
    pub(crate) dirty_node_bytes: usize,
    pub(crate) read_concurrency: usize,
    pub(crate) max_value_read: u64,
}

impl Default for HamtConfig {
    /// py-hamt's shape, and memory sized by the map's half of
    /// [`MemoryBudget::default`] (see [`HamtConfig::with_memory_budget`]).
    fn default() -> Self {
        HamtConfig {
            max_bucket_size: 4,
            key_hasher: Arc::new(Blake3KeyHasher),
            cache_bytes: 0,
            max_read_bucket_size: 1024,
            value_buffer_bytes: 0,
            dirty_node_bytes: 0,
            read_concurrency: 32,
            max_value_read: hamt_unixfs::DEFAULT_MAX_READ,
        }
        .with_memory_budget(MemoryBudget::default())
    }
}

impl HamtConfig {
    /// The most entries a bucket holds before it becomes a child node (py-hamt's
    /// `max_bucket_size`, default 4; at least 1). It shapes the tree, so it
    /// changes root CIDs: writers of one HAMT must agree on it. Readers need not.
    #[must_use]
    pub fn with_max_bucket_size(mut self, max: usize) -> Self {
        self.max_bucket_size = max.max(1);
        self.max_read_bucket_size = self.max_read_bucket_size.max(self.max_bucket_size);
        self
    }

    /// Reads a batch ([`Hamt::get_many`](crate::Hamt::get_many) and its
    /// kin, [`Hamt::warm_up`](crate::Hamt::warm_up)) keeps in flight at
    /// once (default 32, py-hamt's `KuboCAS` concurrency; at least 1). Over
    /// a network the store's own cap applies too.
    #[must_use]
    pub fn with_read_concurrency(mut self, requests: usize) -> Self {
        self.read_concurrency = requests.max(1);
        self
    }

    /// See [`with_read_concurrency`](Self::with_read_concurrency).
    pub fn read_concurrency(&self) -> usize {
        self.read_concurrency
    }

    /// The key hash function (default blake3, py-hamt's `blake3_hashfn`).
    #[must_use]
    pub fn with_key_hasher(mut self, hasher: Arc<dyn KeyHasher>) -> Self {
        self.key_hasher = hasher;
        self
    }

    /// Sizes the dirty nodes, the node cache and the value buffer from the
    /// map's half of `budget`: a quarter, a half and a quarter (with the
    /// default budget: 18, 36 and 18 MiB). The cache gets the largest share
    /// because reads need it (a cold read of 100,000 keys thrashed a 20 MiB
    /// one: 2.2× slower), while a sorted [`Import`](crate::Import) keeps only
    /// one path of changed nodes. A store takes the other half
    /// (e.g. `RocksDbOptions::with_memory_budget`), so one figure bounds a
    /// writer's memory.
    ///
    /// ```
    /// use hamt::HamtConfig;
    /// use hamt_store::MemoryBudget;
    /// let config = HamtConfig::default().with_memory_budget(MemoryBudget::new(64 << 20));
    /// assert_eq!(config.dirty_node_bytes(), 8 << 20);
    /// ```
    #[must_use]
    pub fn with_memory_budget(mut self, budget: MemoryBudget) -> Self {
        let bytes = budget.map_bytes();
        self.dirty_node_bytes = bytes / 4;
        self.cache_bytes = bytes / 2;
        self.value_buffer_bytes = bytes / 4;
        self
    }

    /// Memory budget, in bytes, of the cache of decoded stored nodes
    /// (default 36 MiB, see [`with_memory_budget`](Self::with_memory_budget); 0 disables it).
    #[must_use]
    pub fn with_cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// The largest bucket accepted when reading a node (default 1024, and never
    /// less than the bucket size): a bound on what a hostile block can make the
    /// reader allocate, loose enough to read HAMTs written with bigger buckets.
    #[must_use]
    pub fn with_max_read_bucket_size(mut self, max: usize) -> Self {
        self.max_read_bucket_size = max.max(self.max_bucket_size);
        self
    }

    /// The most bytes one value read returns (default 1 GiB,
    /// [`hamt_unixfs::DEFAULT_MAX_READ`]). A value over 1 MiB is a UnixFS
    /// file whose root declares its size, and a hostile DAG of three small
    /// blocks can declare 10^15 bytes: a read of a larger range is refused
    /// with [`FileError::ReadTooLarge`](hamt_unixfs::FileError::ReadTooLarge)
    /// before anything is allocated. Ranges of a larger value still read.
    #[must_use]
    pub fn with_max_value_read(mut self, bytes: u64) -> Self {
        self.max_value_read = bytes;
        self
    }

    /// See [`with_max_value_read`](Self::with_max_value_read).
    pub fn max_value_read(&self) -> u64 {
        self.max_value_read
    }

    /// Memory of new value blocks held before they are written to the
    /// store ahead of the next flush (default 18 MiB): their bytes plus
    /// about 160 bytes of bookkeeping each.
    #[must_use]
    pub fn with_value_buffer_bytes(mut self, bytes: usize) -> Self {
        self.value_buffer_bytes = bytes;
        self
    }

    /// Memory budget, in bytes, of the changed nodes held in memory between
    /// flushes (default 18 MiB). Past it, complete changed subtrees off the
    /// path being written are encoded and written to the store early and
    /// only their links kept, so an import of any size runs in bounded
    /// memory. The final root and its blocks are the same whatever the
    /// budget; a small one only writes more intermediate blocks, which no
    /// root links (garbage a store's GC removes). The accounting is an
    /// estimate of heap bytes.
    #[must_use]
    pub fn with_dirty_node_bytes(mut self, bytes: usize) -> Self {
        self.dirty_node_bytes = bytes;
        self
    }

    /// The configured budget of changed nodes in memory.
    pub fn dirty_node_bytes(&self) -> usize {
        self.dirty_node_bytes
    }

    /// The configured bucket size.
    pub fn max_bucket_size(&self) -> usize {
        self.max_bucket_size
    }

    /// The configured key hasher.
    pub fn key_hasher(&self) -> &Arc<dyn KeyHasher> {
        &self.key_hasher
    }
}
