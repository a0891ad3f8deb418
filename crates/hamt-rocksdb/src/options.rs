use std::time::Duration;

use hamt_codec::HashAlgorithm;
use hamt_store::MemoryBudget;

/// How many level-0 files of the block column families start a compaction.
///
/// Ingested files all land in level 0 and overlap (their keys are random
/// CIDs), so each compaction of level 0 rewrites what the level below holds:
/// RocksDB's usual trigger of 4 files made an import of a million small
/// blocks spend a third of its CPU compacting. While blocks are being
/// ingested the store uses [`BULK`](Self::BULK) (fewer, larger merges), and
/// goes back to [`NORMAL`](Self::NORMAL) at the next `sync`, so compaction
/// catches up in the background and later reads search few level-0 files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct L0Trigger(pub(crate) i32);

impl L0Trigger {
    /// RocksDB's default.
    pub(crate) const NORMAL: L0Trigger = L0Trigger(4);
    /// While ingesting (measured: 1M blocks 21 % faster).
    pub(crate) const BULK: L0Trigger = L0Trigger(32);

    /// Level-0 files past which RocksDB slows, and stops, every write. Far
    /// above [`BULK`](Self::BULK): a write stall stops the whole database
    /// (naming a root too), and after a bulk write level 0 holds more files
    /// than RocksDB's defaults (20, 36) allow until compaction catches up
    /// (measured: a 15 s stall naming the root of 16M blocks).
    pub(crate) const SLOWDOWN: i32 = 96;
    pub(crate) const STOP: i32 = 128;

    /// The trigger as an option for `set_options_cf`.
    pub(crate) fn as_option(self) -> (&'static str, String) {
        ("level0_file_num_compaction_trigger", self.0.to_string())
    }
}

/// How a column family compresses its SST data blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Store bytes as they are.
    #[default]
    None,
    /// LZ4: cheap to try, very cheap to undo. RocksDB keeps a data block
    /// uncompressed when LZ4 saves less than 1/8, so incompressible bytes cost
    /// one fast attempt at flush time and nothing at read time.
    Lz4,
}

impl Compression {
    pub(crate) fn to_rocksdb(self) -> rocksdb::DBCompressionType {
        match self {
            Compression::None => rocksdb::DBCompressionType::None,
            Compression::Lz4 => rocksdb::DBCompressionType::Lz4,
        }
    }
}

/// How a [`RocksDbStore`](crate::RocksDbStore) is opened and tuned.
///
/// The defaults suit a HAMT over zarr chunks: small dag-cbor nodes read at
/// random (bloom filters, a shared block cache, LZ4) and large chunk values
/// that are usually compressed already (kept in uncompressed blob files, so
/// compaction moves 16-byte pointers instead of megabytes).
///
/// ```
/// use std::time::Duration;
/// use hamt_rocksdb::RocksDbOptions;
///
/// let mut options = RocksDbOptions::default();
/// options.verify_reads = false; // a trusted local disk
/// options.gc_grace = Duration::from_secs(10 * 60);
/// assert!(!options.read_only);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RocksDbOptions {
    /// Open without the write lock: reads only, every write is
    /// [`StoreError::ReadOnly`](hamt_store::StoreError::ReadOnly). Many
    /// read-only handles (in any process) may share a store with one writer;
    /// they see the data as it was when they opened. Default `false`.
    pub read_only: bool,
    /// Re-hash every block read and return
    /// [`StoreError::Corrupt`](hamt_store::StoreError::Corrupt) on a
    /// mismatch. Default `true`. The cost is one hash pass over each block
    /// read, so it grows with block size. Measured with `examples/bench.rs`
    /// on a shared 2-core VM, in an unoptimized build only (the optimized
    /// build did not fit the time available): random point reads of
    /// 200-byte blocks ran at 6,800–7,200/s verified and 7,300–8,100/s
    /// unverified, i.e. verification cost about 5–10%. Turn it off only on a
    /// disk you trust: RocksDB's own checksums do not catch a wrong block
    /// stored under a CID.
    pub verify_reads: bool,
    /// The hash new blocks are addressed with. Default blake3, as py-hamt.
    pub hash: HashAlgorithm,
    /// Garbage collection never removes a block whose latest `put` was less
    /// than this long ago, so a writer has this long to name the root of the
    /// blocks it writes. Default one hour.
    pub gc_grace: Duration,
    /// How long [`open`](crate::RocksDbStore::open) waits for another
    /// writer (a process or a handle) to close the store, retrying, before
    /// it fails. Default zero: fail at once. Writers that take turns (cron
    /// jobs committing to one history, say) set a few seconds.
    pub lock_wait: Duration,
    /// After a garbage collection that removed blocks, compact the block
    /// column families so the disk space is actually given back. Default `true`.
    pub compact_after_gc: bool,
    /// Size of the LRU cache shared by every column family for uncompressed
    /// data, index and filter blocks. Default a quarter of the store's half
    /// of [`MemoryBudget::default`] (18 MiB).
    pub block_cache_bytes: usize,
    /// Small blocks put and not yet in the database, written as one
    /// ingested SST file once past this estimate of their memory. Larger
    /// means fewer, larger files. Default a quarter of the store's half of
    /// the budget (18 MiB); a second buffer fills while one is ingested, so
    /// up to twice that.
    pub ingest_buffer_bytes: usize,
    /// Bloom filter bits per key (0 disables). 10 bits gives about 1% false
    /// positives, so `has` on a missing block rarely touches the disk. Default 10.
    pub bloom_bits_per_key: f64,
    /// Compression of the SST data blocks of the block column family (HAMT
    /// nodes, small values). Default [`Compression::None`]: those bytes are
    /// mostly hash digests and compressed zarr chunks, on which LZ4 only
    /// spends time (measured: 9 % of an import of 64-byte values). The
    /// metadata and roots families always use LZ4.
    pub compression: Compression,
    /// Values at least this large are kept in blob files (RocksDB's integrated
    /// `BlobDB`), uncompressed, outside the LSM tree; `None` keeps every value
    /// in the LSM tree. Default `Some(64 KiB)`: zarr chunks go to blob files,
    /// HAMT nodes stay in SSTs.
    pub blob_min_bytes: Option<u64>,
    /// Memory of all memtables together (they hold large blocks and their
    /// metadata until a flush; RocksDB flushes when they pass it). Default
    /// a quarter of the store's half of the budget (18 MiB).
    pub write_buffer_bytes: usize,
    /// Background flush and compaction threads. Default: the number of CPUs,
    /// at least 2.
    pub background_jobs: i32,
}

impl Default for RocksDbOptions {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let budget = MemoryBudget::default().store_bytes();
        RocksDbOptions {
            read_only: false,
            verify_reads: true,
            hash: HashAlgorithm::Blake3,
            gc_grace: Duration::from_hours(1),
            lock_wait: Duration::ZERO,
            compact_after_gc: true,
            block_cache_bytes: budget / 4,
            ingest_buffer_bytes: budget / 4,
            bloom_bits_per_key: 10.0,
            compression: Compression::None,
            blob_min_bytes: Some(64 << 10),
            write_buffer_bytes: budget / 4,
            background_jobs: i32::try_from(cpus.max(2)).unwrap_or(2),
        }
    }
}

impl RocksDbOptions {
    /// The defaults, opened read-only.
    pub fn read_only() -> Self {
        RocksDbOptions {
            read_only: true,
            ..Self::default()
        }
    }

    /// Sizes the block cache, the ingest buffer (two of them at a time) and
    /// the memtables from the store's half of `budget`: a quarter each.
    ///
    /// ```
    /// use hamt_rocksdb::RocksDbOptions;
    /// use hamt_store::MemoryBudget;
    /// let options = RocksDbOptions::default().with_memory_budget(MemoryBudget::new(64 << 20));
    /// assert_eq!(options.ingest_buffer_bytes, 8 << 20);
    /// ```
    #[must_use]
    pub fn with_memory_budget(mut self, budget: MemoryBudget) -> Self {
        let bytes = budget.store_bytes();
        self.block_cache_bytes = bytes / 4;
        self.ingest_buffer_bytes = bytes / 4;
        self.write_buffer_bytes = bytes / 4;
        self
    }

    /// RocksDB options for the whole database.
    pub(crate) fn db_options(&self) -> rocksdb::Options {
        let mut opts = rocksdb::Options::default();
        // Block writes bypass the write-ahead log, so a block and its
        // metadata (two column families) must reach the disk in one flush.
        opts.set_atomic_flush(true);
        // One limit for every memtable; each column family's own size is
        // a fraction of it so a flush happens before the limit stalls writes.
        opts.set_db_write_buffer_size(self.write_buffer_bytes);
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(self.background_jobs);
        opts.increase_parallelism(self.background_jobs);
        // The roots CF is written rarely; without a cap its old data would pin
        // every WAL file since its last flush.
        opts.set_max_total_wal_size(256 << 20);
        opts.set_keep_log_file_num(4);
        opts.set_max_log_file_size(8 << 20);
        opts.set_bytes_per_sync(1 << 20);
        opts
    }

    /// Options of a column family, `large_values` for the one holding block bytes.
    pub(crate) fn cf_options(
        &self,
        cache: &rocksdb::Cache,
        large_values: bool,
    ) -> rocksdb::Options {
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(cache);
        if self.bloom_bits_per_key > 0.0 {
            table.set_bloom_filter(self.bloom_bits_per_key, false);
        }
        table.set_cache_index_and_filter_blocks(true);
        // Partitioned: an SST file's index and filter are split into 4 KiB
        // pieces behind a small top level, so a lookup reads only the pieces
        // it needs. Whole, the filter and index of a file of a million keys
        // outgrow a shard of the block cache (18 MiB in 32 shards), are
        // never kept, and every lookup read and checksummed them again
        // (measured: `has` at ~200 µs, 1M-leaf `set_root` in 231 s).
        table.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
        table.set_partition_filters(true);
        table.set_metadata_block_size(4096);
        table.set_pin_top_level_index_and_filter(true);
        // Not pinned: ingested files all land in L0 (their keys overlap), so
        // pinning would hold every filter of a large import outside the
        // cache's budget until compaction (measured: RSS growing with N).
        table.set_pin_l0_filter_and_index_blocks_in_cache(false);
        table.set_format_version(5);
        let mut opts = rocksdb::Options::default();
        opts.set_block_based_table_factory(&table);
        let compression = if large_values {
            self.compression
        } else {
            Compression::Lz4
        };
        opts.set_compression_type(compression.to_rocksdb());
        opts.set_bottommost_compression_type(compression.to_rocksdb());
        opts.set_level_compaction_dynamic_level_bytes(true);
        opts.set_level_zero_file_num_compaction_trigger(L0Trigger::NORMAL.0);
        opts.set_level_zero_slowdown_writes_trigger(L0Trigger::SLOWDOWN);
        opts.set_level_zero_stop_writes_trigger(L0Trigger::STOP);
        // The block family's memtables hold large blocks (so flushes write
        // blob files of a useful size); the others hold small records.
        let share = if large_values { 2 } else { 8 };
        opts.set_write_buffer_size((self.write_buffer_bytes / share).max(1 << 20));
        if large_values && let Some(min) = self.blob_min_bytes {
            opts.set_enable_blob_files(true);
            opts.set_min_blob_size(min);
            opts.set_blob_compression_type(rocksdb::DBCompressionType::None);
            opts.set_enable_blob_gc(true);
        }
        opts
    }
}
