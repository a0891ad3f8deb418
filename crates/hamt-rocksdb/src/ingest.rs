//! The bulk-write path: small blocks buffered in memory and written to
//! RocksDB as sorted SST files that are ingested whole.
//!
//! **Why.** An import writes millions of small, immutable, content-addressed
//! blocks under random keys (their CIDs). Through RocksDB's normal write path
//! each one is a write-ahead-log append plus an insert into a memtable skip
//! list (plus the same again for its metadata); with random keys the skip
//! list insert is a chain of cache misses, and it was half of an import's
//! time. Here a block costs one hash-map insert: when the buffer passes its
//! budget its blocks are sorted once and written sequentially as one SST file
//! per column family (blocks, then metadata), which RocksDB links into the
//! tree without rewriting them. Re-putting a block already held is a blind
//! rewrite (the bytes are equal), which also refreshes its GC grace time, so
//! no existence check sits on the hot path either.
//!
//! **Durability.** Buffered blocks are in memory only. An ingested file is
//! durable when the ingestion returns (RocksDB syncs the file and its
//! manifest). [`RocksDbStore::set_root`] persists the buffer before it names
//! a root, so a named root never links a block lost to a crash; a crash
//! loses only blocks no name reached. The blocks file is ingested before
//! the metadata file: a crash between the two leaves blocks without
//! metadata, which no listing or GC sees and a later put writes again
//! (wasted space, never a lost block).
//!
//! **Reads** look in the buffer (and in the batch being ingested) before the
//! database, so a block is readable from the moment it was put.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
#[cfg(test)]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use rocksdb::{DB, IngestExternalFileOptions, SstFileWriter};

use crate::complete::WrittenBlocks;
use crate::error::{db_error, store_error};
use crate::keys::{BLOCKS_CF, BlockKey, BlockMeta, META_CF};
use crate::options::L0Trigger;
use hamt_store::{CidHash, StoreError};

/// Heap bytes a buffered block costs beyond its data: the map's slot (the
/// inline key, the `Bytes` and the put time), the `Bytes`' shared header,
/// allocator rounding.
const ENTRY_OVERHEAD: usize = 128;

/// What a buffered block is counted as against the budget.
fn memory_cost(data: &Bytes) -> usize {
    data.len() + ENTRY_OVERHEAD
}

/// The smallest ingest buffer (see [`RocksDbOptions::ingest_buffer_bytes`](crate::RocksDbOptions::ingest_buffer_bytes)).
const MIN_BUDGET_BYTES: usize = 4 << 10;

/// The directory, inside the store's, where SST files are written before
/// RocksDB takes them over (they are moved, not copied).
const INGEST_DIR: &str = "ingest";

/// Blocks put but not yet in the database.
type Entries = HashMap<BlockKey, Buffered, CidHash>;

/// A buffered block: its bytes and when it was put (its GC grace starts
/// then, not when it reaches the disk).
#[derive(Clone)]
struct Buffered {
    data: Bytes,
    put_at_ms: u64,
}

/// Blocks waiting to be ingested, by key, with their estimated memory.
#[derive(Default)]
struct Active {
    entries: Entries,
    bytes: usize,
}

/// The write buffer of a [`RocksDbStore`](crate::RocksDbStore).
pub(crate) struct IngestBuffer {
    /// New blocks, taking writes.
    active: RwLock<Active>,
    /// What the ingesting thread shares.
    pub(crate) shared: Arc<Shared>,
    /// The ingestion running on its own thread, if any: at most one, so
    /// files are ingested in the order they were cut, and the writer that
    /// starts the next waits for it (which bounds memory to two buffers).
    in_flight: Mutex<Option<JoinHandle<Result<(), Failed>>>>,
    /// One caller of `ingest` at a time.
    ingest_lock: Mutex<()>,
    /// Past this many estimated bytes, a write ingests the buffer.
    budget_bytes: usize,
    /// Makes the next background ingestion fail to start its thread.
    #[cfg(test)]
    pub(crate) fail_spawn: AtomicBool,
}

/// An ingestion that failed, with the blocks it was writing.
struct Failed {
    error: StoreError,
    entries: Arc<Entries>,
}

pub(crate) struct Shared {
    db: Arc<DB>,
    store_path: PathBuf,
    /// The blocks being written out, still readable until RocksDB has them.
    ingesting: RwLock<Option<Arc<Entries>>>,
    /// Table options of the two column families, so ingested files have
    /// the same bloom filters and compression as flushed ones.
    blocks_options: rocksdb::Options,
    meta_options: rocksdb::Options,
    dir: PathBuf,
    /// Numbers the SST files, so no two share a name.
    next_file: AtomicU64,
    /// Whether the block families use the bulk-write options (set by the
    /// first background ingestion, or past `large_bulk_bytes` of large
    /// blocks, after a `sync`; cleared by the `sync`).
    pub(crate) tuning: Tuning,
    /// Bytes of large blocks written since the last `sync`.
    large_written: AtomicU64,
    /// Past this many bytes of large blocks between two syncs, a write is
    /// a bulk write (the memtables' size: more than they hold).
    large_bulk_bytes: u64,
    /// Whether the block family keeps large blocks in blob files (whose
    /// garbage collection is on outside bulk writes).
    blob_files: bool,
    /// The blocks ingested since the last GC (bounded), which
    /// [`RocksDbStore::set_root`](crate::RocksDbStore::set_root)'s
    /// completeness check need not look up.
    pub(crate) written: Mutex<WrittenBlocks>,
}

impl IngestBuffer {
    pub(crate) fn new(
        db: Arc<DB>,
        store_path: &Path,
        budget_bytes: usize,
        large_bulk_bytes: u64,
        blob_files: bool,
        blocks_options: rocksdb::Options,
        meta_options: rocksdb::Options,
    ) -> Self {
        IngestBuffer {
            active: RwLock::default(),
            shared: Arc::new(Shared {
                db,
                store_path: store_path.to_path_buf(),
                ingesting: RwLock::default(),
                blocks_options,
                meta_options,
                dir: store_path.join(INGEST_DIR),
                next_file: AtomicU64::new(0),
                tuning: Tuning::new(),
                large_written: AtomicU64::new(0),
                large_bulk_bytes,
                blob_files,
                // As much memory as one buffer of blocks.
                written: Mutex::new(WrittenBlocks::new(budget_bytes)),
            }),
            in_flight: Mutex::new(None),
            ingest_lock: Mutex::new(()),
            // A floor, so a tiny budget cannot make one file (and one
            // thread) per block.
            budget_bytes: budget_bytes.max(MIN_BUDGET_BYTES),
            #[cfg(test)]
            fail_spawn: AtomicBool::new(false),
        }
    }

    /// Removes SST files a crashed writer left before RocksDB took them
    /// (their blocks were never acknowledged as durable). Called on a
    /// writable open, when no ingestion can be running.
    pub(crate) fn remove_leftovers(&self) -> Result<(), StoreError> {
        let entries = match std::fs::read_dir(&self.shared.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.dir_error(&e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| self.dir_error(&e))?.path();
            std::fs::remove_file(&path).map_err(|e| self.dir_error(&e))?;
        }
        Ok(())
    }

    fn dir_error(&self, error: &std::io::Error) -> StoreError {
        store_error(
            "clean the ingestion directory",
            &self.shared.store_path,
            format!("{}: {error}", self.shared.dir.display()),
        )
    }

    /// Buffers blocks (key, bytes) from `blocks` until the buffer is over
    /// its budget (if `bounded`) or `blocks` is empty; returns whether it
    /// stopped over budget, so the caller should [`ingest`](Self::ingest)
    /// it and then add the rest.
    pub(crate) fn add(
        &self,
        blocks: &mut impl Iterator<Item = (BlockKey, Bytes)>,
        put_at_ms: u64,
        bounded: bool,
    ) -> bool {
        let mut active = self.active.write();
        while !bounded || active.bytes <= self.budget_bytes {
            let Some((key, data)) = blocks.next() else {
                return false;
            };
            active.bytes += memory_cost(&data);
            if let Some(old) = active.entries.insert(key, Buffered { data, put_at_ms }) {
                active.bytes -= memory_cost(&old.data);
            }
        }
        true
    }

    /// The buffered bytes of the block with this key, if it is buffered.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Bytes> {
        if let Some(block) = self.active.read().entries.get(key) {
            return Some(block.data.clone());
        }
        let ingesting = self.shared.ingesting.read();
        Some(ingesting.as_ref()?.get(key)?.data.clone())
    }

    /// Whether nothing is buffered or being ingested.
    pub(crate) fn is_empty(&self) -> bool {
        self.active.read().entries.is_empty()
            && self.in_flight.lock().is_none()
            && self.shared.ingesting.read().is_none()
    }

    /// Waits for the ingestion in flight, if any. If it failed, its blocks
    /// go back into the buffer and its error is returned.
    pub(crate) fn wait(&self) -> Result<(), StoreError> {
        let Some(handle) = self.in_flight.lock().take() else {
            return Ok(());
        };
        let outcome = handle.join().unwrap_or_else(|_| {
            // The thread panicked (a bug in RocksDB's bindings): its
            // blocks are still in the `ingesting` slot.
            let entries = self.shared.ingesting.read().clone().unwrap_or_default();
            Err(Failed {
                error: store_error(
                    "ingest written blocks",
                    &self.shared.store_path,
                    "the ingesting thread panicked",
                ),
                entries,
            })
        });
        outcome.map_err(|failed| self.restore(failed))
    }

    /// Puts the blocks of a failed ingestion back into the buffer, where
    /// reads and the next attempt find them (blocks put meanwhile are newer
    /// copies of equal bytes), and returns its error.
    fn restore(&self, Failed { error, entries }: Failed) -> StoreError {
        let mut active = self.active.write();
        for (key, block) in entries.iter() {
            if !active.entries.contains_key(key) {
                active.bytes += memory_cost(&block.data);
                active.entries.insert(key.clone(), block.clone());
            }
        }
        *self.shared.ingesting.write() = None;
        error
    }

    /// Cuts the buffer and writes it into the database as two ingested SST
    /// files (blocks, then metadata stamped with each block's put time): on a thread of its
    /// own if `background` (its outcome is reported by the next call or
    /// [`wait`](Self::wait)), else before returning. On failure the blocks
    /// go back into the buffer, so a later call (or `set_root`) tries again.
    ///
    /// The caller holds the store's sweep lock shared, as every writer
    /// does; the GC's sweep [`wait`](Self::wait)s for a background
    /// ingestion under its exclusive lock.
    pub(crate) fn ingest(&self, background: bool) -> Result<(), StoreError> {
        let _one_at_a_time = self.ingest_lock.lock();
        self.wait()?;
        let entries = {
            let mut active = self.active.write();
            if active.entries.is_empty() {
                return Ok(());
            }
            let taken = Arc::new(std::mem::take(&mut active.entries));
            active.bytes = 0;
            *self.shared.ingesting.write() = Some(Arc::clone(&taken));
            taken
        };
        let shared = Arc::clone(&self.shared);
        let job_entries = Arc::clone(&entries);
        // A buffer that overflowed (ingested in the background) means a bulk
        // write: fewer, larger compactions until the next `sync`.
        let job = move || {
            if background {
                shared.tuning.begin_bulk(&shared);
            }
            match shared.write_and_ingest(&job_entries) {
                Ok(()) => {
                    *shared.ingesting.write() = None;
                    Ok(())
                }
                Err(error) => Err(Failed {
                    error,
                    entries: job_entries,
                }),
            }
        };
        if !background {
            return job().map_err(|failed| self.restore(failed));
        }
        match self.spawn(job) {
            Ok(spawned) => {
                *self.in_flight.lock() = Some(spawned);
                Ok(())
            }
            // No thread: the blocks go back into the buffer (the next write
            // or `sync` tries again), never lost from the `ingesting` slot.
            Err(e) => {
                let error = store_error("start the ingesting thread", &self.shared.store_path, e);
                Err(self.restore(Failed { error, entries }))
            }
        }
    }

    // `self` holds the test switch only.
    #[cfg_attr(not(test), allow(clippy::unused_self))]
    fn spawn(
        &self,
        job: impl FnOnce() -> Result<(), Failed> + Send + 'static,
    ) -> std::io::Result<JoinHandle<Result<(), Failed>>> {
        #[cfg(test)]
        if self.fail_spawn.swap(false, Ordering::Relaxed) {
            return Err(std::io::Error::other("no thread to be had (test)"));
        }
        std::thread::Builder::new()
            .name("hamt-ingest".into())
            .spawn(job)
    }

    /// Counts `bytes` of large blocks written (through the memtables);
    /// past the memtables' size since the last `sync`, this is a bulk write.
    pub(crate) fn note_large_write(&self, bytes: u64) {
        let shared = &self.shared;
        let written = shared.large_written.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if written > shared.large_bulk_bytes {
            shared.tuning.begin_bulk(shared);
        }
    }

    /// Puts the block families back on their usual options after a bulk
    /// write (see [`L0Trigger`]); the caller has written everything.
    pub(crate) fn end_bulk(&self) {
        self.shared.large_written.store(0, Ordering::Relaxed);
        self.shared.tuning.end_bulk(&self.shared);
    }
}

/// Whether the block families are tuned for a bulk write, changed together
/// with RocksDB's options under one lock (the ingesting thread begins a bulk
/// write while a `sync` may be ending one).
///
/// Tuning is best effort: options that cannot be changed stay as they were
/// and the state says what they are, so the next bulk write or `sync` tries
/// again. It never fails a write: it is a matter of speed and space, never
/// of data.
pub(crate) struct Tuning {
    bulk: Mutex<bool>,
}

impl Tuning {
    fn new() -> Self {
        Tuning {
            bulk: Mutex::new(false),
        }
    }

    fn begin_bulk(&self, shared: &Shared) {
        let mut bulk = self.bulk.lock();
        if !*bulk && shared.set_bulk_options(true).is_ok() {
            *bulk = true;
        }
    }

    fn end_bulk(&self, shared: &Shared) {
        let mut bulk = self.bulk.lock();
        if *bulk && shared.set_bulk_options(false).is_ok() {
            *bulk = false;
        }
    }

    /// Whether the bulk options are in force.
    #[cfg(test)]
    pub(crate) fn is_bulk(&self) -> bool {
        *self.bulk.lock()
    }
}

impl Shared {
    /// Sets the options of a bulk write (see [`L0Trigger`]), or the usual
    /// ones: also no blob garbage collection while bulk writing, which
    /// nothing deletes from, and in which each compaction would otherwise
    /// move the oldest quarter of the blob files' live blocks to new files.
    fn set_bulk_options(&self, bulk: bool) -> Result<(), StoreError> {
        let trigger = if bulk {
            L0Trigger::BULK
        } else {
            L0Trigger::NORMAL
        };
        let (name, value) = trigger.as_option();
        let blob_gc = if self.blob_files && !bulk {
            "true"
        } else {
            "false"
        };
        let blocks_options = [
            (name, value.as_str()),
            ("enable_blob_garbage_collection", blob_gc),
        ];
        let meta_options = [(name, value.as_str())];
        for (cf, options) in [
            (BLOCKS_CF, &blocks_options[..]),
            (META_CF, &meta_options[..]),
        ] {
            let handle = self.db.cf_handle(cf).ok_or_else(|| {
                store_error(
                    "tune compaction",
                    &self.store_path,
                    format!("no column family {cf}"),
                )
            })?;
            self.db
                .set_options_cf(handle, options)
                .map_err(|e| db_error("tune compaction", &self.store_path, e))?;
        }
        Ok(())
    }

    fn write_and_ingest(&self, entries: &Entries) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            store_error(
                "create the ingestion directory",
                &self.store_path,
                format!("{}: {e}", self.dir.display()),
            )
        })?;
        // Each key's prefix beside it: the sort compares integers in its own
        // array instead of following two pointers into the map per
        // comparison (a cache miss each, the map being larger than the cache).
        let mut sorted: Vec<(u128, &BlockKey, &Buffered)> = entries
            .iter()
            .map(|(key, block)| (key.prefix(), key, block))
            .collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let number = self.next_file.fetch_add(1, Ordering::Relaxed);
        let blocks_file = self.dir.join(format!("{number}-blocks.sst"));
        let meta_file = self.dir.join(format!("{number}-meta.sst"));
        let result = self.write_and_ingest_files(&sorted, &blocks_file, &meta_file);
        drop(sorted);
        if result.is_ok() {
            // Inside the job: a GC's sweep waits for it, so a block it
            // sweeps was recorded before the GC forgets them all.
            // In the map's order, not the keys': the record does not need
            // them sorted, and the map's slots are read in memory order.
            self.written.lock().record(
                entries
                    .iter()
                    .map(|(key, block)| (key.as_bytes(), &block.data[..])),
            );
        }
        // Moved files are gone already; these are what a failure left behind.
        let _ = std::fs::remove_file(&blocks_file);
        let _ = std::fs::remove_file(&meta_file);
        result
    }

    /// Writes the sorted blocks (and their metadata) as SST files and has
    /// RocksDB ingest them (moving the files in).
    fn write_and_ingest_files(
        &self,
        sorted: &[(u128, &BlockKey, &Buffered)],
        blocks_file: &Path,
        meta_file: &Path,
    ) -> Result<(), StoreError> {
        let (db, store_path) = (&*self.db, &*self.store_path);
        let fail = |what: &str, e: rocksdb::Error| db_error(what, store_path, e);
        let open = |path: &Path, options| {
            let writer = SstFileWriter::create(options);
            writer
                .open(path)
                .map_err(|e| fail("open an SST file to ingest", e))?;
            Ok::<_, StoreError>(writer)
        };
        let put_failed = |e| fail("write an SST file to ingest", e);
        // Both files in one pass: each entry is fetched from the map (a
        // cache miss) once, not once per file.
        let mut blocks = open(blocks_file, &self.blocks_options)?;
        let mut meta = open(meta_file, &self.meta_options)?;
        for (_, key, block) in sorted {
            let key = key.as_bytes();
            blocks.put(key, &block.data).map_err(put_failed)?;
            let record = BlockMeta {
                written_at_ms: block.put_at_ms,
                len: block.data.len() as u64,
            };
            meta.put(key, record.encode()).map_err(put_failed)?;
        }
        for file in [&mut blocks, &mut meta] {
            file.finish()
                .map_err(|e| fail("finish an SST file to ingest", e))?;
        }
        let mut ingest = IngestExternalFileOptions::default();
        ingest.set_move_files(true);
        for (cf, file) in [(BLOCKS_CF, blocks_file), (META_CF, meta_file)] {
            let handle = db.cf_handle(cf).ok_or_else(|| {
                store_error(
                    "ingest blocks",
                    store_path,
                    format!("no column family {cf}"),
                )
            })?;
            db.ingest_external_file_cf_opts(handle, &ingest, vec![file])
                .map_err(|e| fail("ingest written blocks", e))?;
        }
        Ok(())
    }
}
