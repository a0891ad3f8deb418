//! Mark-and-sweep garbage collection, and whole-DAG checks.
//!
//! **GC rule.** A block is kept if it is reachable from a named root (at the
//! start of the GC, or named while it runs) or if its latest `put` was less
//! than [`gc_grace`](crate::RocksDbOptions::gc_grace) ago; every other block
//! is removed. The grace period is what protects the blocks of a root being
//! written but not yet named: a writer has `gc_grace` from putting a block to
//! naming a root that reaches it. A re-put of a held block refreshes its time
//! (to within a quarter of the grace period, at most a minute), so a new root that shares old unreachable blocks is
//! protected too.
//!
//! Sweeping goes in batches; each batch holds the store's sweep lock
//! exclusively while it rechecks write times and deletes, and writers hold
//! it shared from their "already held?" check to their write, so a `put`
//! that found a block held cannot have it swept from under it. Reads never
//! wait for the GC.

use std::time::Duration;

use hamt_codec::{Cid, LinksError};
use hamt_store::StoreError;
use hamt_store::dag::{BlockLinks, DagWalk, VisitError};
use rocksdb::WriteBatch;

use crate::RocksDbStore;
use crate::error::db_error;
use crate::keys::{BLOCKS_CF, BlockMeta, META_CF, now_ms};

/// Candidate blocks rechecked and deleted under one hold of the sweep lock.
const SWEEP_BATCH: usize = 1024;

/// What a [`RocksDbStore::gc`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Named roots marked from (including roots named during the GC).
    pub roots: usize,
    /// Distinct blocks reachable from them (held or not).
    pub blocks_reachable: u64,
    /// Reachable blocks that are not in the store (a DAG that was never
    /// complete; crashes cannot cause this).
    pub blocks_missing: u64,
    /// Unreachable blocks kept because they were put within the grace period.
    pub blocks_young: u64,
    /// Blocks removed.
    pub blocks_removed: u64,
    /// Bytes of the blocks removed (their lengths; the disk space is given
    /// back by compaction).
    pub bytes_removed: u64,
    /// Reachable blocks whose links could not be read (corrupt, or of a
    /// codec this crate cannot read links from), with why. Any unreached
    /// block might lie under one of them, so a GC that finds one marks
    /// everything else, reports them all and removes nothing.
    pub blocks_unreadable: Vec<(Cid, String)>,
    /// How long the GC took.
    pub elapsed: Duration,
}

/// What a [`RocksDbStore::verify_dag`] found: the whole DAG is present and verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DagReport {
    /// Distinct blocks in the DAG.
    pub blocks: u64,
    /// Their total length in bytes.
    pub bytes: u64,
}

impl RocksDbStore {
    /// Removes every block unreachable from the named roots and not put
    /// within the grace period (see the GC rule in the crate docs). Reads,
    /// writes and [`set_root`](Self::set_root) may go on meanwhile; a second
    /// GC waits for the first. Blocking: run it on a blocking thread.
    ///
    /// A reachable block that is corrupt or has a codec whose links cannot
    /// be read does not stop the mark: it is listed in
    /// [`GcReport::blocks_unreadable`], and since what it links is unknown,
    /// nothing is removed. Fails only when the store itself fails.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        self.check_writable()?;
        let started = std::time::Instant::now();
        let _one_gc = self.gc_running.lock();
        // Buffered blocks join the database first, so the sweep sees (and
        // counts as young) every block put so far.
        self.sync()?;
        *self.gc_new_roots.lock() = Some(Vec::new());
        // What is complete or written now may be swept: a later name checks
        // afresh. Forgotten again at the end, for what an ingestion recorded
        // while the GC ran (`set_root` does not trust those while a GC
        // runs; the nodes it remembers as complete meanwhile are under a
        // root named, which the GC traces).
        self.forget_completeness();
        let result = self.mark_and_sweep();
        self.forget_completeness();
        *self.gc_new_roots.lock() = None;
        let mut report = result?;
        if self.compact_after_gc && report.blocks_removed > 0 {
            self.compact()?;
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Reads and verifies every block reachable from `root`; fails with
    /// [`StoreError::NotFound`] naming the first missing block, or
    /// [`StoreError::Corrupt`] naming the first corrupt one. Blocking.
    pub fn verify_dag(&self, root: &Cid) -> Result<DagReport, StoreError> {
        let mut mark = Mark::new(self, true);
        mark.trace(*root)?;
        if let Some(error) = mark.first_unreadable.take() {
            return Err(error);
        }
        match mark.missing.first() {
            Some(missing) => Err(StoreError::NotFound(*missing)),
            None => Ok(DagReport {
                blocks: mark.walk.seen().len() as u64,
                bytes: mark.bytes,
            }),
        }
    }

    fn mark_and_sweep(&self) -> Result<GcReport, StoreError> {
        let mut mark = Mark::new(self, false);
        let roots = self.roots()?;
        for (_, root) in &roots {
            mark.trace(*root)?;
        }
        let mut report = GcReport {
            roots: roots.len(),
            ..GcReport::default()
        };
        if mark.unreadable.is_empty() {
            self.sweep(&mut mark, &mut report)?;
        }
        report.blocks_unreadable = std::mem::take(&mut mark.unreadable);
        report.blocks_reachable = mark.walk.seen().len() as u64;
        report.blocks_missing = mark.missing.len() as u64;
        Ok(report)
    }

    fn sweep(&self, mark: &mut Mark<'_>, report: &mut GcReport) -> Result<(), StoreError> {
        let mut iter = self.db.raw_iterator_cf(self.cf(META_CF)?);
        iter.seek_to_first();
        let mut candidates = Vec::with_capacity(SWEEP_BATCH);
        while let Some(key) = iter.key() {
            if !mark.is_marked(key) {
                candidates.push(key.to_vec());
            }
            if candidates.len() == SWEEP_BATCH {
                self.sweep_batch(&candidates, mark, report)?;
                candidates.clear();
            }
            iter.next();
        }
        iter.status()
            .map_err(|e| db_error("gc: scan blocks", &self.path, e))?;
        self.sweep_batch(&candidates, mark, report)
    }

    /// Marks roots named since the last batch, then deletes the candidates
    /// still unmarked and older than the grace period.
    fn sweep_batch(
        &self,
        candidates: &[Vec<u8>],
        mark: &mut Mark<'_>,
        report: &mut GcReport,
    ) -> Result<(), StoreError> {
        let (blocks_cf, meta_cf) = (self.cf(BLOCKS_CF)?, self.cf(META_CF)?);
        let _exclusive = self.sweep_lock.write();
        // A block ingested after its metadata was read below would be
        // deleted with its old copy: let any ingestion in flight land first
        // (none starts while the lock is held).
        self.wait_for_ingest()?;
        let new_roots = self
            .gc_new_roots
            .lock()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        report.roots += new_roots.len();
        for root in new_roots {
            mark.trace(root)?;
        }
        let grace_ms = u64::try_from(self.gc_grace.as_millis()).unwrap_or(u64::MAX);
        let cutoff = now_ms().saturating_sub(grace_ms);
        let metas = self.db.batched_multi_get_cf(meta_cf, candidates, true);
        let mut batch = WriteBatch::default();
        for (key, meta) in candidates.iter().zip(metas) {
            let meta = meta.map_err(|e| db_error("gc: read block times", &self.path, e))?;
            let Some(meta) = meta else { continue }; // removed meanwhile
            if mark.is_marked(key) {
                continue;
            }
            // Unreadable metadata counts as old: the block is unreachable anyway.
            let meta = BlockMeta::decode(&meta).unwrap_or(BlockMeta {
                written_at_ms: 0,
                len: 0,
            });
            if meta.written_at_ms > cutoff {
                report.blocks_young += 1;
                continue;
            }
            batch.delete_cf(blocks_cf, key);
            batch.delete_cf(meta_cf, key);
            report.blocks_removed += 1;
            report.bytes_removed += meta.len;
        }
        self.db
            .write(batch)
            .map_err(|e| db_error("gc: delete blocks", &self.path, e))
    }
}

/// The mark phase: a [`DagWalk`] over the store, run to the end from each
/// root in turn, noting the blocks that are missing.
struct Mark<'s> {
    store: &'s RocksDbStore,
    walk: DagWalk<'s, RocksDbStore, BlockLinks, ()>,
    missing: Vec<Cid>,
    /// Reached blocks whose links are unknown, with why.
    unreadable: Vec<(Cid, String)>,
    /// The first of them as an error (what `verify_dag` reports).
    first_unreadable: Option<StoreError>,
    /// Bytes of the blocks read.
    bytes: u64,
}

impl<'s> Mark<'s> {
    /// `read_leaves`: read and verify raw blocks too (a DAG check), not
    /// only check that they are held (GC).
    fn new(store: &'s RocksDbStore, read_leaves: bool) -> Self {
        Mark {
            store,
            walk: DagWalk::new(store, BlockLinks::default()).read_leaves(read_leaves),
            missing: Vec::new(),
            unreadable: Vec::new(),
            first_unreadable: None,
            bytes: 0,
        }
    }

    /// Marks everything `root` reaches. The store's reads are synchronous,
    /// so the walk's futures finish without a runtime: `futures`' own
    /// `block_on` drives them (which must not be called from inside another
    /// `futures` executor; GC and `verify_dag` run on a blocking thread).
    fn trace(&mut self, root: Cid) -> Result<(), StoreError> {
        self.walk.add_root(root, ());
        while let Some(batch) = futures::executor::block_on(self.walk.next_batch()) {
            for visit in batch {
                match visit.result {
                    Ok(data) => self.bytes += data.map_or(0, |d| d.len() as u64),
                    Err(VisitError::Store(StoreError::NotFound(cid))) => self.missing.push(cid),
                    // A corrupt block's links cannot be trusted: note it and
                    // go on marking (the sweep is then skipped).
                    Err(VisitError::Store(error @ StoreError::Corrupt { .. })) => {
                        self.unreadable(visit.cid, error);
                    }
                    Err(VisitError::Store(error)) => return Err(error),
                    Err(VisitError::Links(error)) => {
                        let error = self.links_error(&visit.cid, error);
                        self.unreadable(visit.cid, error);
                    }
                }
            }
        }
        Ok(())
    }

    fn unreadable(&mut self, cid: Cid, error: StoreError) {
        self.unreadable.push((cid, error.to_string()));
        self.first_unreadable.get_or_insert(error);
    }

    fn links_error(&self, cid: &Cid, error: LinksError) -> StoreError {
        StoreError::backend(
            format!(
                "read the links of block {cid} (RocksDB store {})",
                self.store.path.display()
            ),
            error,
        )
    }

    /// Whether the block under `key` (a binary CIDv1) was reached.
    fn is_marked(&self, key: &[u8]) -> bool {
        // A key that is not a CID is not a block any link can name.
        Cid::try_from(key).is_ok_and(|cid| self.walk.reached(&cid))
    }
}
