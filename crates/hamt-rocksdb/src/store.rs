use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use hamt_codec::{Cid, HashAlgorithm, verify_block};
use hamt_store::{Block, BlockStore, BlockingStore, ByteRange, StoreError};
use parking_lot::{Mutex, RwLock};
use rocksdb::{Cache, ColumnFamily, ColumnFamilyDescriptor, DB, WriteBatch};

use crate::RocksDbOptions;
use crate::error::{db_error, store_error};
use crate::ingest::IngestBuffer;
use crate::keys::{
    BLOCKS_CF, BlockKey, BlockMeta, COLUMN_FAMILIES, FORMAT_KEY, FORMAT_VERSION, META_CF,
    block_key, now_ms,
};

/// A re-put of a block put less than `min(this, gc_grace / 4)` ago does not
/// refresh its write time (so a burst of duplicate puts writes nothing); GC's
/// grace period is therefore honoured to within that slack.
const MAX_REFRESH_SLACK_MS: u64 = 60_000;

/// A [`BlockStore`] in a RocksDB database, with durable named roots and
/// garbage collection.
///
/// * Blocks are keyed by their binary CIDv1 (see the crate docs for why),
///   values are the block bytes; a second column family records when each
///   block was last put and its length.
/// * Small blocks (below [`RocksDbOptions::blob_min_bytes`]) are buffered
///   and written as sorted SST files that RocksDB ingests whole (see the
///   `ingest` module: no write-ahead log, no skip-list insert, no existence
///   check per block); large ones go through a `WriteBatch` without the
///   write-ahead log, and are not rewritten when already held.
/// * Reads verify the bytes against the CID unless
///   [`RocksDbOptions::verify_reads`] is off; a range read hashes the whole
///   pinned value but copies only the range.
/// * [`set_root`](RocksDbStore::set_root) names a root only after every
///   block written before it is on disk ([`sync`](RocksDbStore::sync));
///   blocks no name reached may be lost to a crash. Dropping the store
///   writes what is buffered, but only `sync` reports a failure to.
///   [`gc`](RocksDbStore::gc) removes blocks unreachable from the named roots.
///
/// RocksDB calls block the calling thread. Point reads and batched writes
/// take microseconds to a few milliseconds, so the async methods run them
/// inline (any executor works); run [`gc`](RocksDbStore::gc),
/// [`compact`](RocksDbStore::compact) and
/// [`verify_dag`](RocksDbStore::verify_dag) on a blocking thread.
///
/// ```
/// use hamt_rocksdb::{RocksDbStore, RocksDbOptions};
/// use hamt_store::{BlockStore, BlockCodec, ByteRange};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = RocksDbStore::open(dir.path(), &RocksDbOptions::default())?;
/// let cid = store.put(BlockCodec::Raw, b"hello world".to_vec().into()).await?;
/// assert_eq!(&store.get_range(&cid, ByteRange::Suffix(5)).await?[..], b"world");
///
/// store.set_root("latest", &cid)?;
/// drop(store);
/// let store = RocksDbStore::open(dir.path(), &RocksDbOptions::read_only())?;
/// assert_eq!(store.root("latest")?, Some(cid));
/// # Ok::<(), hamt_store::StoreError>(())
/// # }).unwrap();
/// ```
pub struct RocksDbStore {
    pub(crate) db: Arc<DB>,
    pub(crate) path: PathBuf,
    verify_reads: bool,
    read_only: bool,
    hash: HashAlgorithm,
    pub(crate) gc_grace: Duration,
    /// See [`MAX_REFRESH_SLACK_MS`].
    refresh_slack_ms: u64,
    pub(crate) compact_after_gc: bool,
    /// Small blocks put but not yet in the database.
    pub(crate) ingest: IngestBuffer,
    /// Blocks at least this long bypass the ingest buffer.
    large_block_bytes: u64,
    /// Writers hold it shared from their "is this block here?" check to their
    /// write; each GC sweep batch holds it exclusively, so a block is never
    /// swept between a writer deciding it exists and that writer returning.
    pub(crate) sweep_lock: RwLock<()>,
    /// `Some(roots named since it began)` while a GC runs, so the GC marks them too.
    pub(crate) gc_new_roots: Mutex<Option<Vec<Cid>>>,
    /// One GC at a time.
    pub(crate) gc_running: Mutex<()>,
    /// Held while a name is read and changed, so [`remove_root`](Self::remove_root)
    /// returns the root it removed, never one named meanwhile (one writer
    /// process holds the store: a lock in memory is enough).
    pub(crate) names: Mutex<()>,
    /// Subtrees [`set_root`](Self::set_root) found complete (see `complete.rs`).
    pub(crate) known_complete: RwLock<crate::complete::KnownComplete>,
}

impl std::fmt::Debug for RocksDbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbStore")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .field("verify_reads", &self.verify_reads)
            .finish_non_exhaustive()
    }
}

/// Opens read-only with `open`, retrying a few times when a file the
/// store's manifest lists was gone: a writer's compaction deleted it
/// between the reader's read of the manifest and its open of the file.
fn open_read_only_retrying(
    mut open: impl FnMut() -> Result<DB, rocksdb::Error>,
) -> Result<DB, rocksdb::Error> {
    const RETRIES: u32 = 10;
    let mut tries = 0;
    loop {
        match open() {
            Err(e) if crate::error::is_file_gone(&e) && tries < RETRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            opened => return opened,
        }
    }
}

/// Opens with `open`, retrying while another writer holds the store's lock
/// file, for up to `wait` (then its error). Retries back off from 10 ms to
/// 250 ms. An open that lost a race with another opener over RocksDB's old
/// info logs (each open rotates `LOG` and deletes the oldest `LOG.old.*`;
/// two at once may both delete one) is retried too, a few times.
fn open_waiting(
    wait: std::time::Duration,
    mut open: impl FnMut() -> Result<DB, rocksdb::Error>,
) -> Result<DB, rocksdb::Error> {
    const LOG_RACE_RETRIES: u32 = 10;
    let deadline = std::time::Instant::now() + wait;
    let mut pause = std::time::Duration::from_millis(10);
    let mut log_races = 0;
    loop {
        match open() {
            Err(e) if crate::error::is_old_log_race(&e) && log_races < LOG_RACE_RETRIES => {
                log_races += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) if crate::error::is_locked(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause.min(deadline - std::time::Instant::now()));
                pause = (pause * 2).min(std::time::Duration::from_millis(250));
            }
            opened => return opened,
        }
    }
}

impl RocksDbStore {
    /// Opens (creating it if needed, unless read-only) the store in directory `path`.
    ///
    /// Fails with a [`StoreError::Backend`] naming the path and the likely
    /// cause when another process or handle holds the store open for
    /// writing (after waiting up to [`RocksDbOptions::lock_wait`] for it to
    /// close), the directory cannot be written, there is no store to open
    /// read-only, or the disk is full.
    pub fn open(path: impl AsRef<Path>, options: &RocksDbOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let db_options = options.db_options();
        let descriptors = || {
            COLUMN_FAMILIES.map(|name| {
                ColumnFamilyDescriptor::new(name, options.cf_options(&cache, name == BLOCKS_CF))
            })
        };
        let opened = if options.read_only {
            // A reader writes no info log: a file one would rename the
            // writer's (RocksDB rotates `LOG` at every open) and race it
            // over deleting old ones.
            let mut db_options = db_options.clone();
            db_options.set_info_logger(rocksdb::InfoLogger::new_callback_logger(
                rocksdb::LogLevel::Fatal,
                |_, _| {},
            ));
            open_read_only_retrying(|| {
                DB::open_cf_descriptors_read_only(&db_options, &path, descriptors(), false)
            })
        } else {
            open_waiting(options.lock_wait, || {
                DB::open_cf_descriptors(&db_options, &path, descriptors())
            })
        };
        let operation = if options.read_only {
            "open read-only"
        } else {
            "open"
        };
        let db = Arc::new(opened.map_err(|e| db_error(operation, &path, e))?);
        let ingest = IngestBuffer::new(
            Arc::clone(&db),
            &path,
            options.ingest_buffer_bytes,
            options.write_buffer_bytes as u64,
            options.blob_min_bytes.is_some(),
            options.cf_options(&cache, true),
            options.cf_options(&cache, false),
        );
        let store = RocksDbStore {
            ingest,
            large_block_bytes: options.blob_min_bytes.unwrap_or(u64::MAX),
            db,
            path,
            verify_reads: options.verify_reads,
            read_only: options.read_only,
            hash: options.hash,
            gc_grace: options.gc_grace,
            refresh_slack_ms: u64::try_from(options.gc_grace.as_millis() / 4)
                .unwrap_or(u64::MAX)
                .min(MAX_REFRESH_SLACK_MS),
            compact_after_gc: options.compact_after_gc,
            sweep_lock: RwLock::new(()),
            gc_new_roots: Mutex::new(None),
            names: Mutex::new(()),
            known_complete: RwLock::default(),
            gc_running: Mutex::new(()),
        };
        store.check_format()?;
        if !store.read_only {
            sync_parent(&store.path)?;
            store.ingest.remove_leftovers()?;
        }
        Ok(store)
    }

    /// Writes the format marker into a new store, or checks an existing one's.
    fn check_format(&self) -> Result<(), StoreError> {
        let found = self
            .db
            .get(FORMAT_KEY)
            .map_err(|e| db_error("read the format marker", &self.path, e))?;
        match found {
            Some(version) if version == FORMAT_VERSION => Ok(()),
            Some(version) => Err(store_error(
                "open",
                &self.path,
                format!(
                    "unsupported store format {:?} (this build reads format 1)",
                    String::from_utf8_lossy(&version)
                ),
            )),
            None if self.read_only => Ok(()),
            None => self
                .db
                .put_opt(FORMAT_KEY, FORMAT_VERSION, &synced_write())
                .map_err(|e| db_error("write the format marker", &self.path, e)),
        }
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Makes every block written so far durable: ingests the buffered
    /// blocks and flushes the memtables of large ones.
    /// [`set_root`](Self::set_root) does this itself; call it to make blocks
    /// durable without naming a root.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.check_writable()?;
        let _no_sweep = self.sweep_lock.read();
        self.persist_blocks()
    }

    /// Waits for a background ingestion of buffered blocks to land.
    pub(crate) fn wait_for_ingest(&self) -> Result<(), StoreError> {
        self.ingest.wait()
    }

    /// What [`sync`](Self::sync) does; the caller holds the sweep lock shared.
    pub(crate) fn persist_blocks(&self) -> Result<(), StoreError> {
        self.ingest.ingest(false)?;
        let mut wait = rocksdb::FlushOptions::default();
        wait.set_wait(true);
        // Atomic flush (see `RocksDbOptions::db_options`): a block and its
        // metadata reach the disk together.
        let families = [self.cf(BLOCKS_CF)?, self.cf(META_CF)?];
        self.db
            .flush_cfs_opt(&families, &wait)
            .map_err(|e| db_error("flush written blocks to disk", &self.path, e))?;
        self.ingest.end_bulk();
        Ok(())
    }

    /// Compacts the block column families, giving the space of removed
    /// blocks back to the file system: SST entries at once, blob files once
    /// no live block is left in them (RocksDB's blob GC moves live blocks out
    /// of the oldest quarter of blob files at each compaction). Slow on a
    /// large store; blocking.
    pub fn compact(&self) -> Result<(), StoreError> {
        self.check_writable()?;
        let mut options = rocksdb::CompactOptions::default();
        options.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        for name in [BLOCKS_CF, META_CF] {
            self.db
                .compact_range_cf_opt(self.cf(name)?, None::<&[u8]>, None::<&[u8]>, &options);
        }
        Ok(())
    }

    /// The CIDs of every block held, in key order. Holds them all in memory:
    /// for tests and tools, not for huge stores.
    pub fn cids(&self) -> Result<Vec<Cid>, StoreError> {
        if !self.read_only {
            let _no_sweep = self.sweep_lock.read();
            self.ingest.ingest(false)?;
        }
        let mut iter = self.db.raw_iterator_cf(self.cf(META_CF)?);
        iter.seek_to_first();
        let mut cids = Vec::new();
        while let Some(key) = iter.key() {
            let cid = Cid::try_from(key).map_err(|e| {
                store_error(
                    "list blocks",
                    &self.path,
                    format!("a key is not a CID: {e}"),
                )
            })?;
            cids.push(cid);
            iter.next();
        }
        iter.status()
            .map_err(|e| db_error("list blocks", &self.path, e))?;
        Ok(cids)
    }

    /// Stores `data` under `cid` without checking that it hashes to it: only
    /// for tests that plant a corrupt block to see reads reject it.
    #[doc(hidden)]
    pub fn put_unverified(&self, cid: &Cid, data: &[u8]) -> Result<(), StoreError> {
        self.check_writable()?;
        let key = block_key(cid);
        let meta = BlockMeta {
            written_at_ms: now_ms(),
            len: data.len() as u64,
        };
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(BLOCKS_CF)?, &key, data);
        batch.put_cf(self.cf(META_CF)?, &key, meta.encode());
        self.db
            .write(batch)
            .map_err(|e| db_error(format!("plant block {cid}"), &self.path, e))
    }

    pub(crate) fn check_writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            Err(StoreError::ReadOnly)
        } else {
            Ok(())
        }
    }

    pub(crate) fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StoreError> {
        self.db.cf_handle(name).ok_or_else(|| {
            store_error(
                "open a column family",
                &self.path,
                format!("column family {name} is missing"),
            )
        })
    }

    /// Whether a block with this key is held (buffered, or by its metadata:
    /// small and cached).
    pub(crate) fn has_key(&self, key: &[u8]) -> Result<bool, StoreError> {
        if self.ingest.get(key).is_some() {
            return Ok(true);
        }
        self.db
            .get_pinned_cf(self.cf(META_CF)?, key)
            .map(|meta| meta.is_some())
            .map_err(|e| db_error("look up a block", &self.path, e))
    }

    /// Whether each of `cids` is held: the buffer first, then one batched
    /// lookup of the metadata of the rest, in key order (RocksDB then reads
    /// each index and data block once for the keys it holds).
    pub(crate) fn has_keys(&self, cids: &[Cid]) -> Result<Vec<bool>, StoreError> {
        let mut held = vec![false; cids.len()];
        let mut lookups: Vec<(BlockKey, usize)> = Vec::new();
        for (at, cid) in cids.iter().enumerate() {
            let key = block_key(cid);
            if self.ingest.get(&key).is_some() {
                held[at] = true;
            } else {
                lookups.push((key, at));
            }
        }
        lookups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let meta_cf = self.cf(META_CF)?;
        // A long check reads most data blocks once: cached, they would push
        // out the index and filter partitions every lookup needs.
        let mut once = rocksdb::ReadOptions::default();
        once.fill_cache(false);
        // Each answer pins its data block in memory until dropped: ask in
        // sorted slices, so a long list pins only a slice's worth.
        for slice in lookups.chunks(1024) {
            let metas = self.db.batched_multi_get_cf_opt(
                meta_cf,
                slice.iter().map(|(key, _)| key),
                true,
                &once,
            );
            for ((_, at), meta) in slice.iter().zip(metas) {
                let meta = meta.map_err(|e| db_error("look up blocks", &self.path, e))?;
                held[*at] = meta.is_some();
            }
        }
        Ok(held)
    }

    /// The length of block `cid`: from the buffer, else from its metadata
    /// (16 bytes, cached), else (a block a crash left without metadata)
    /// from the block family, pinned rather than copied.
    fn size(&self, cid: &Cid) -> Result<u64, StoreError> {
        let key = block_key(cid);
        if let Some(data) = self.ingest.get(&key) {
            return Ok(data.len() as u64);
        }
        let lookup = |cf| {
            self.db
                .get_pinned_cf(self.cf(cf)?, &key)
                .map_err(|e| db_error(format!("size block {cid}"), &self.path, e))
        };
        if let Some(meta) = lookup(META_CF)?.and_then(|meta| BlockMeta::decode(&meta)) {
            return Ok(meta.len);
        }
        match lookup(BLOCKS_CF)? {
            Some(data) => Ok(data.len() as u64),
            None => Err(StoreError::NotFound(*cid)),
        }
    }

    /// The bytes `range` of block `cid`, verified if the store verifies reads.
    fn read(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        let key = block_key(cid);
        if let Some(data) = self.ingest.get(&key) {
            // Put through this handle, so verified when it was hashed.
            return Ok(data.slice(range.to_index_range(data.len())));
        }
        let pinned = self
            .db
            .get_pinned_cf(self.cf(BLOCKS_CF)?, &key)
            .map_err(|e| db_error(format!("get block {cid}"), &self.path, e))?
            .ok_or(StoreError::NotFound(*cid))?;
        if self.verify_reads {
            verify_block(cid, &pinned)?;
        }
        Ok(Bytes::copy_from_slice(
            &pinned[range.to_index_range(pinned.len())],
        ))
    }

    /// Buffers the small blocks for ingestion (ingesting the buffer when it
    /// is over its budget), and writes the large ones not yet held (refreshing
    /// the write time of those that are) in one batch, taking the blocks out
    /// of `blocks`: empty after `Ok`; after an error it holds the large
    /// blocks, which may not be written (the small ones are in the buffer,
    /// which keeps them through a failed ingestion).
    fn write_blocks(&self, blocks: &mut Vec<Block>) -> Result<(), StoreError> {
        self.check_writable()?;
        let large_from = partition_small_first(blocks, self.large_block_bytes);
        let _no_sweep = self.sweep_lock.read();
        if large_from > 0 {
            let now = now_ms();
            let mut keyed = blocks.drain(..large_from).map(|block| {
                let (cid, data) = block.into_parts();
                (block_key(&cid), data)
            });
            while self.ingest.add(&mut keyed, now, true) {
                // Sorting and writing the files is a third of an import's
                // work: the next writes go on meanwhile, on the other core.
                if let Err(error) = self.ingest.ingest(true) {
                    // The buffer keeps every block through a failure: the
                    // rest go in past its budget, for the next attempt.
                    self.ingest.add(&mut keyed, now, false);
                    return Err(error);
                }
            }
        }
        if !blocks.is_empty() {
            let large: Vec<&Block> = blocks.iter().collect();
            let written = self.write_large_blocks(&large)?;
            blocks.clear();
            self.ingest.note_large_write(written);
        }
        Ok(())
    }

    /// Writes large blocks not yet held, and refreshes the write time of
    /// those that are, in one batch without the write-ahead log (their
    /// memtables are flushed by `sync`, so the bytes are written once).
    /// Returns the bytes of the blocks written (not of those already held).
    /// The caller holds the sweep lock shared.
    fn write_large_blocks(&self, blocks: &[&Block]) -> Result<u64, StoreError> {
        let (blocks_cf, meta_cf) = (self.cf(BLOCKS_CF)?, self.cf(META_CF)?);
        let mut seen = HashSet::with_capacity(blocks.len());
        let unique: Vec<(BlockKey, &Block)> = blocks
            .iter()
            .map(|block| (block_key(block.cid()), *block))
            .filter(|(key, _)| seen.insert(key.clone()))
            .collect();
        let now = now_ms();
        let held = self
            .db
            .batched_multi_get_cf(meta_cf, unique.iter().map(|(key, _)| key), false);
        let mut batch = WriteBatch::default();
        let mut written = 0;
        for ((key, block), old_meta) in unique.iter().zip(held) {
            let old_meta = old_meta
                .map_err(|e| db_error("look up blocks to write", &self.path, e))?
                .and_then(|meta| BlockMeta::decode(&meta));
            let len = block.data().len() as u64;
            match old_meta {
                Some(old) if old.written_at_ms.saturating_add(self.refresh_slack_ms) >= now => {}
                Some(old) => batch.put_cf(
                    meta_cf,
                    key,
                    BlockMeta {
                        written_at_ms: now,
                        len: old.len,
                    }
                    .encode(),
                ),
                None => {
                    written += len;
                    batch.put_cf(blocks_cf, key, block.data());
                    batch.put_cf(
                        meta_cf,
                        key,
                        BlockMeta {
                            written_at_ms: now,
                            len,
                        }
                        .encode(),
                    );
                }
            }
        }
        if batch.is_empty() {
            return Ok(0);
        }
        let mut no_wal = rocksdb::WriteOptions::default();
        no_wal.disable_wal(true);
        self.db
            .write_opt(batch, &no_wal)
            .map_err(|e| db_error(format!("write {} blocks", unique.len()), &self.path, e))?;
        Ok(written)
    }
}

impl Drop for RocksDbStore {
    /// Writes the buffered blocks, so a store dropped without `sync` keeps
    /// them (RocksDB flushes the memtables itself when it closes). A failure
    /// here cannot be reported: call [`sync`](RocksDbStore::sync) to see it.
    fn drop(&mut self) {
        if !self.read_only && !self.ingest.is_empty() {
            let _no_sweep = self.sweep_lock.read();
            // A failed background ingestion reports itself to the first
            // call and puts its blocks back: the second ingests them.
            if self.ingest.ingest(false).is_err() {
                let _ = self.ingest.ingest(false);
            }
        }
    }
}

/// Reorders `blocks` so those under `large_bytes` come first (in their
/// order; the large ones keep theirs too) and returns where the large ones
/// start.
fn partition_small_first(blocks: &mut [Block], large_bytes: u64) -> usize {
    let is_small = |block: &Block| (block.data().len() as u64) < large_bytes;
    // Usually all small or all large: nothing moves.
    if blocks.iter().all(is_small) {
        return blocks.len();
    }
    blocks.sort_by_key(|block| !is_small(block));
    blocks.iter().take_while(|block| is_small(block)).count()
}

/// Makes the store directory's own name durable. RocksDB syncs the files
/// it creates and the directory holding them, but not the parent naming a
/// directory it created: a power cut could lose a new store whole, named
/// roots and all (`tests/power_loss.rs`). Cheap, so done at every writable open.
fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let parent = match path.parent() {
        Some(parent) if parent.as_os_str().is_empty() => Path::new("."),
        Some(parent) => parent,
        None => return Ok(()), // the root directory
    };
    std::fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| {
            store_error(
                "open",
                path,
                format!("sync the parent directory {}: {e}", parent.display()),
            )
        })
}

/// Write options that sync the write-ahead log before returning.
pub(crate) fn synced_write() -> rocksdb::WriteOptions {
    let mut options = rocksdb::WriteOptions::default();
    options.set_sync(true);
    options
}

#[async_trait]
impl BlockStore for RocksDbStore {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.read(cid, ByteRange::Full)
    }

    async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        self.read(cid, range)
    }

    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.has_key(&block_key(cid))
    }

    async fn has_many(&self, cids: &[Cid]) -> Result<Vec<bool>, StoreError> {
        self.has_keys(cids)
    }

    async fn block_size(&self, cid: &Cid) -> Result<u64, StoreError> {
        self.size(cid)
    }

    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.write_blocks(&mut vec![block])
    }

    async fn put_many(&self, mut blocks: Vec<Block>) -> Result<(), StoreError> {
        self.write_blocks(&mut blocks)
    }

    fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash
    }

    fn verifies_reads(&self) -> bool {
        self.verify_reads
    }

    /// RocksDB's calls block the calling thread anyway: the HAMT calls them
    /// directly rather than through a boxed future per block.
    fn blocking(&self) -> Option<&dyn BlockingStore> {
        Some(self)
    }
}

impl BlockingStore for RocksDbStore {
    fn get_blocking(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.read(cid, ByteRange::Full)
    }

    fn get_range_blocking(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        self.read(cid, range)
    }

    fn block_size_blocking(&self, cid: &Cid) -> Result<u64, StoreError> {
        self.size(cid)
    }

    fn put_many_blocking(&self, blocks: &mut Vec<Block>) -> Result<(), StoreError> {
        self.write_blocks(blocks)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use hamt_codec::BlockCodec;

    use super::*;

    fn blocks(n: u32, tag: &str) -> Vec<Block> {
        (0..n)
            .map(|i| {
                let data = Bytes::from(format!("{tag} {i} ").repeat(8));
                Block::new(BlockCodec::Raw, HashAlgorithm::Blake3, data)
            })
            .collect()
    }

    /// A background ingestion whose thread cannot start loses nothing: the
    /// write reports the error, every block stays readable, and a named
    /// root's `sync` writes them all (also through a reopen).
    #[tokio::test]
    async fn an_ingestion_without_a_thread_keeps_its_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let options = RocksDbOptions {
            ingest_buffer_bytes: 4 << 10,
            ..RocksDbOptions::default()
        };
        let store = RocksDbStore::open(dir.path(), &options).unwrap();
        let all = blocks(200, "no thread");
        store.ingest.fail_spawn.store(true, Ordering::Relaxed);
        assert!(store.put_many(all.clone()).await.is_err());
        for block in &all {
            assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
        }
        store.set_root("kept", all[0].cid()).unwrap();
        drop(store);
        let store = RocksDbStore::open(dir.path(), &RocksDbOptions::read_only()).unwrap();
        for block in &all {
            assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
        }
    }

    /// The bulk-write state follows the options RocksDB holds: on with the
    /// first background ingestion, off at `sync`; re-putting large blocks
    /// already held does not count towards a bulk write.
    #[tokio::test]
    async fn the_bulk_state_follows_background_ingestions_and_sync() {
        let dir = tempfile::tempdir().unwrap();
        let options = RocksDbOptions {
            ingest_buffer_bytes: 4 << 10,
            write_buffer_bytes: 1 << 20,
            ..RocksDbOptions::default()
        };
        let store = RocksDbStore::open(dir.path(), &options).unwrap();
        let tuning = || store.ingest.shared.tuning.is_bulk();
        assert!(!tuning());
        store.put_many(blocks(300, "bulk")).await.unwrap();
        store.put_many(blocks(1, "after")).await.unwrap();
        assert!(tuning());
        store.sync().unwrap();
        assert!(!tuning());
        let large: Vec<Block> = (0..3u8)
            .map(|i| {
                Block::new(
                    BlockCodec::Raw,
                    HashAlgorithm::Blake3,
                    Bytes::from(vec![i; 400 << 10]),
                )
            })
            .collect();
        store.put_many(large.clone()).await.unwrap();
        assert!(tuning(), "1.2 MiB of large blocks past a 1 MiB budget");
        store.sync().unwrap();
        store.put_many(large).await.unwrap();
        assert!(!tuning(), "blocks already held are not written again");
    }
}
