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

use std::collections::HashSet;
use std::time::Duration;

use hamt_codec::{Cid, verify_block};
use hamt_store::StoreError;
use rocksdb::WriteBatch;

use crate::RocksDbStore;
use crate::error::db_error;
use crate::keys::{BLOCKS_CF, BlockMeta, META_CF, block_key, now_ms};
use crate::links::{IDENTITY_HASH, links, may_have_links};

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
    /// Fails (removing nothing further) if a reachable block is corrupt or
    /// has a codec whose links cannot be read, since its links are unknown.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        self.check_writable()?;
        let started = std::time::Instant::now();
        let _one_gc = self.gc_running.lock();
        *self.gc_new_roots.lock() = Some(Vec::new());
        let result = self.mark_and_sweep();
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
        let mut walk = Walk::new(self, true);
        walk.trace(*root)?;
        match walk.missing.first() {
            Some(missing) => Err(StoreError::NotFound(*missing)),
            None => Ok(DagReport {
                blocks: walk.marks.len() as u64,
                bytes: walk.bytes,
            }),
        }
    }

    fn mark_and_sweep(&self) -> Result<GcReport, StoreError> {
        let mut walk = Walk::new(self, false);
        let roots = self.roots()?;
        for (_, root) in &roots {
            walk.trace(*root)?;
        }
        let mut report = GcReport {
            roots: roots.len(),
            ..GcReport::default()
        };
        self.sweep(&mut walk, &mut report)?;
        report.blocks_reachable = walk.marks.len() as u64;
        report.blocks_missing = walk.missing.len() as u64;
        Ok(report)
    }

    fn sweep(&self, walk: &mut Walk<'_>, report: &mut GcReport) -> Result<(), StoreError> {
        let mut iter = self.db.raw_iterator_cf(self.cf(META_CF)?);
        iter.seek_to_first();
        let mut candidates = Vec::with_capacity(SWEEP_BATCH);
        while let Some(key) = iter.key() {
            if !walk.marks.contains(key) {
                candidates.push(key.to_vec());
            }
            if candidates.len() == SWEEP_BATCH {
                self.sweep_batch(&candidates, walk, report)?;
                candidates.clear();
            }
            iter.next();
        }
        iter.status()
            .map_err(|e| db_error("gc: scan blocks", &self.path, e))?;
        self.sweep_batch(&candidates, walk, report)
    }

    /// Marks roots named since the last batch, then deletes the candidates
    /// still unmarked and older than the grace period.
    fn sweep_batch(
        &self,
        candidates: &[Vec<u8>],
        walk: &mut Walk<'_>,
        report: &mut GcReport,
    ) -> Result<(), StoreError> {
        let (blocks_cf, meta_cf) = (self.cf(BLOCKS_CF)?, self.cf(META_CF)?);
        let _exclusive = self.sweep_lock.write();
        let new_roots = self
            .gc_new_roots
            .lock()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        report.roots += new_roots.len();
        for root in new_roots {
            walk.trace(root)?;
        }
        let grace_ms = u64::try_from(self.gc_grace.as_millis()).unwrap_or(u64::MAX);
        let cutoff = now_ms().saturating_sub(grace_ms);
        let metas = self.db.batched_multi_get_cf(meta_cf, candidates, true);
        let mut batch = WriteBatch::default();
        for (key, meta) in candidates.iter().zip(metas) {
            let meta = meta.map_err(|e| db_error("gc: read block times", &self.path, e))?;
            let Some(meta) = meta else { continue }; // removed meanwhile
            if walk.marks.contains(key.as_slice()) {
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

/// A depth-first walk over the blocks reachable from some roots.
struct Walk<'s> {
    store: &'s RocksDbStore,
    /// Read (and verify) blocks without links too, not just check they are held.
    read_leaves: bool,
    /// Keys of every block reached.
    marks: HashSet<Vec<u8>>,
    missing: Vec<Cid>,
    bytes: u64,
}

impl<'s> Walk<'s> {
    fn new(store: &'s RocksDbStore, read_leaves: bool) -> Self {
        Walk {
            store,
            read_leaves,
            marks: HashSet::new(),
            missing: Vec::new(),
            bytes: 0,
        }
    }

    fn trace(&mut self, root: Cid) -> Result<(), StoreError> {
        let blocks_cf = self.store.cf(BLOCKS_CF)?;
        let mut stack = vec![root];
        while let Some(cid) = stack.pop() {
            if cid.hash().code() == IDENTITY_HASH {
                continue; // the data is inside the CID; there is no block
            }
            let key = block_key(&cid);
            if self.marks.contains(&key) {
                continue;
            }
            if !may_have_links(cid.codec()) && !self.read_leaves {
                if !self.store.has_key(&key)? {
                    self.missing.push(cid);
                }
                self.marks.insert(key);
                continue;
            }
            let block = self
                .store
                .db
                .get_pinned_cf(blocks_cf, &key)
                .map_err(|e| db_error(format!("trace block {cid}"), &self.store.path, e))?;
            self.marks.insert(key);
            let Some(block) = block else {
                self.missing.push(cid);
                continue;
            };
            // A corrupt block's links cannot be trusted: stop rather than guess.
            verify_block(&cid, &block)?;
            self.bytes += block.len() as u64;
            links(cid.codec(), &block, &mut stack).map_err(|e| {
                StoreError::backend(
                    format!(
                        "read the links of block {cid} (RocksDB store {})",
                        self.store.path.display()
                    ),
                    e,
                )
            })?;
        }
        Ok(())
    }
}
