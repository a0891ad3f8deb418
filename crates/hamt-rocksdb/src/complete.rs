//! The completeness check of [`RocksDbStore::set_root`]: a root is named
//! only over a whole DAG. Subtrees found complete by earlier checks are
//! remembered (bounded), so naming a new version of a map checks only the
//! nodes that changed since the last one was named: a flush shares every
//! untouched subtree with the version before it.

use bytes::Bytes;
use hamt_codec::{Cid, LinksError};
use hamt_store::StoreError;
use hamt_store::dag::{BlockLinks, BlockSet, DagWalk, Links, VisitError, is_leaf};

use crate::RocksDbStore;

/// Most subtree roots remembered as complete (16–40 bytes each, at most
/// ~20 MiB in all); past it the memory starts over, which costs only a
/// longer check.
const MAX_KNOWN: usize = 1 << 19;

/// Subtree roots whose whole DAG was found in the store. Forgotten by
/// every GC (a GC may remove a subtree no name reaches any more).
#[derive(Debug, Default)]
pub(crate) struct KnownComplete(BlockSet);

impl KnownComplete {
    pub(crate) fn forget(&mut self) {
        self.0 = BlockSet::new();
    }
}

impl RocksDbStore {
    /// Forgets what the completeness check may skip (a GC may remove it).
    pub(crate) fn forget_completeness(&self) {
        self.known_complete.write().forget();
        self.ingest.shared.written.lock().forget();
    }
}

/// Leaves this handle ingested since the last GC and the last name: present
/// on disk, since only a GC removes blocks. What an import already knows,
/// so naming its root need not look its values up again (measured: 1M
/// values, 3.5 s of lookups). Up to `max` (17 bytes each; the ingestion
/// that passes it is still recorded whole): past it, nothing more is
/// recorded until the next name or GC, which costs only lookups.
#[derive(Debug)]
pub(crate) struct WrittenBlocks {
    leaves: BlockSet,
    max: usize,
}

impl WrittenBlocks {
    /// Remembers at most `bytes / 17` leaves (at least 65,536).
    pub(crate) fn new(bytes: usize) -> Self {
        WrittenBlocks {
            leaves: BlockSet::new(),
            max: (bytes / 17).max(1 << 16),
        }
    }

    /// Remembers the leaves among the blocks under these keys (binary CIDs).
    pub(crate) fn record<'k>(&mut self, keys: impl Iterator<Item = &'k [u8]>) {
        if self.leaves.len() >= self.max {
            return;
        }
        let leaves = keys
            .filter_map(|key| Cid::try_from(key).ok())
            .filter(is_leaf);
        self.leaves.insert_many(leaves);
    }

    pub(crate) fn forget(&mut self) {
        self.leaves = BlockSet::new();
    }
}

/// [`BlockLinks`] without the links to subtrees known complete, and
/// (unless a GC runs) to leaves this handle wrote.
struct UnknownLinks<'a> {
    links: BlockLinks,
    known: &'a KnownComplete,
    written: Option<&'a parking_lot::Mutex<WrittenBlocks>>,
    /// A subtree the caller vouches for (a root named now).
    named: Option<&'a Cid>,
}

impl Links<()> for UnknownLinks<'_> {
    type Error = LinksError;

    fn links(
        &mut self,
        cid: &Cid,
        tag: &(),
        data: &Bytes,
        out: &mut Vec<(Cid, ())>,
    ) -> Result<(), LinksError> {
        self.links.links(cid, tag, data, out)?;
        out.retain(|(child, ())| !self.known.0.contains(child) && Some(child) != self.named);
        if let Some(written) = self.written {
            // Leaves only: a node written is there, but its links are not
            // known to be.
            let written = written.lock();
            out.retain(|(child, ())| !is_leaf(child) || !written.leaves.contains(child));
        }
        Ok(())
    }
}

impl RocksDbStore {
    /// Checks every block `root` reaches is held, except under subtrees
    /// already known complete: [`StoreError::NotFound`] names a missing
    /// one. Leaves are checked to be present, not read; nodes are read and
    /// verified (their links are followed). Returns the nodes found
    /// complete, for [`remember_complete`](Self::remember_complete) once
    /// the root is named. Blocking.
    ///
    /// `named`: a root named now, whose DAG is not walked again (every name
    /// was checked when written, and while the caller holds the sweep lock
    /// no GC removes what a name reaches). A compare-and-swap passes the
    /// root it expects: the write happens only if that is still named, so
    /// a new commit does not walk the history below its parent.
    pub(crate) fn check_complete(
        &self,
        root: &Cid,
        named: Option<&Cid>,
    ) -> Result<Vec<Cid>, StoreError> {
        // The caller holds the sweep lock shared, so no GC removes anything
        // until this returns; one that already runs may have removed blocks
        // remembered as written (it forgets them only at its end).
        let gc_running = self.gc_new_roots.lock().is_some();
        let newly_complete = {
            let known = self.known_complete.read();
            if known.0.contains(root) {
                return Ok(Vec::new());
            }
            let links = UnknownLinks {
                links: BlockLinks::default(),
                known: &known,
                named,
                written: (!gc_running).then_some(&self.ingest.shared.written),
            };
            let mut walk = DagWalk::new(self, links)
                .read_leaves(false)
                .remember_leaves(false);
            walk.add_root(*root, ());
            // The store's reads are synchronous: `futures`' `block_on`
            // drives the walk without a runtime (as the GC's mark does).
            // Only blocks that can link are worth remembering: a leaf is
            // one key lookup to check again.
            let mut nodes = Vec::new();
            while let Some(batch) = futures::executor::block_on(walk.next_batch()) {
                for visit in batch {
                    match visit.result {
                        Ok(_) => {
                            if !is_leaf(&visit.cid) {
                                nodes.push(visit.cid);
                            }
                        }
                        Err(VisitError::Store(error)) => return Err(error),
                        Err(VisitError::Links(error)) => {
                            let what = format!("name root {root}: read the links of {}", visit.cid);
                            return Err(StoreError::backend(what, error));
                        }
                    }
                }
            }
            nodes
        };
        Ok(newly_complete)
    }

    /// Remembers nodes [`check_complete`](Self::check_complete) found
    /// complete. Only once their root is named: a GC running now traces it
    /// (the name is in `gc_new_roots`), so nothing under them is swept,
    /// whereas a root whose naming failed would leave them unprotected.
    pub(crate) fn remember_complete(&self, newly_complete: &[Cid]) {
        let mut known = self.known_complete.write();
        if known.0.len() + newly_complete.len() > MAX_KNOWN {
            known.forget();
        }
        if newly_complete.len() <= MAX_KNOWN {
            known.0.insert_many(newly_complete);
        }
    }
}
