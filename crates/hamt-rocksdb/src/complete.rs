//! The completeness check of [`RocksDbStore::set_root`]: a root is named
//! only over a whole DAG. Subtrees found complete by earlier checks are
//! remembered (bounded), so naming a new version of a map checks only the
//! nodes that changed since the last one was named: a flush shares every
//! untouched subtree with the version before it.

use std::collections::HashSet;

use bytes::Bytes;
use hamt_codec::{Cid, LinksError, block_links};
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

/// What this handle ingested since the last GC, which is
/// on disk (only a GC removes blocks): what an import already knows, so
/// naming its root need not look it up again (measured, 1M values: 3.5 s
/// of leaf lookups, then 1.5 s of reading the nodes back).
///
/// - `leaves`: the leaves ingested.
/// - `nodes`: the nodes ingested whose every link was, when they were, a
///   recorded leaf or node: whole DAGs on disk. Each ingested batch is
///   resolved children first (a parent can only be encoded after its
///   children, but a batch is in key order), by the ingestion thread, so
///   the naming thread neither reads them back nor parses them.
///
/// Kept across names (a later version of a map links most of them) until a
/// GC. Up to `max` blocks in all (16–17 bytes each; the batch that passes
/// it is recorded whole): a batch that finds it full forgets it all and
/// stops the record until the next name. An import that large is checked
/// by lookups, as before there was a record; recording on would only cost
/// memory and the ingestion's time (measured, 4M values: flushing 25 %
/// slower, to a record the check could not use).
#[derive(Debug)]
pub(crate) struct WrittenBlocks {
    leaves: BlockSet,
    nodes: BlockSet,
    max: usize,
    /// Full since the last name: nothing is recorded.
    overflowed: bool,
}

/// What recording one ingested batch adds (see [`WrittenBlocks::plan`]).
enum Recording {
    /// The record is full: forget it, and stop until the next name.
    Overflow,
    /// The batch's leaves, and its nodes found whole.
    Blocks {
        leaves: Vec<Cid>,
        whole: HashSet<Cid>,
    },
}

/// Most passes over one batch's nodes to resolve them children first: a
/// HAMT is a few levels deep, so this is never reached but by a hostile
/// chain, whose deeper nodes are then simply not recorded (and checked).
const MAX_RESOLVE_PASSES: usize = 16;

/// Nodes whose links are read at once when a batch is recorded.
const LINKS_CHUNK: usize = 4096;

impl WrittenBlocks {
    /// Remembers at most `bytes / 17` blocks (at least 65,536).
    pub(crate) fn new(bytes: usize) -> Self {
        WrittenBlocks {
            leaves: BlockSet::new(),
            nodes: BlockSet::new(),
            max: (bytes / 17).max(1 << 16),
            overflowed: false,
        }
    }

    /// Records the blocks of one ingested batch: `(binary CID, bytes)`.
    pub(crate) fn record<'k>(&mut self, blocks: impl Iterator<Item = (&'k [u8], &'k [u8])>) {
        let recording = self.plan(blocks);
        self.apply(recording);
    }

    /// What recording a batch adds: `None` when nothing is to be recorded.
    fn plan<'k>(&self, blocks: impl Iterator<Item = (&'k [u8], &'k [u8])>) -> Option<Recording> {
        if self.overflowed {
            return None;
        }
        if self.leaves.len() + self.nodes.len() >= self.max {
            return Some(Recording::Overflow);
        }
        let mut leaves = Vec::new();
        let mut nodes = Vec::new();
        for (key, data) in blocks {
            let Ok(cid) = Cid::try_from(key) else {
                continue;
            };
            if is_leaf(&cid) {
                leaves.push(cid);
            } else {
                nodes.push((cid, data));
            }
        }
        // This batch's leaves count as recorded for its nodes (an import's
        // are mostly in earlier batches: this is usually empty or unused).
        let mut batch_leaves = BlockSet::new();
        if !nodes.is_empty() {
            batch_leaves.insert_many(&leaves);
        }
        // The nodes whose every leaf is recorded, with the nodes they link.
        // Their links are read a chunk at a time and the leaves asked all
        // at once (a batch links ~a million leaves: a lookup each would be
        // a cache miss each, and all their CIDs at once ~100 MB).
        let mut pending: Vec<(Cid, Vec<Cid>)> = Vec::new();
        let mut links = Vec::new();
        let mut ends = Vec::new();
        for chunk in nodes.chunks(LINKS_CHUNK) {
            links.clear();
            ends.clear();
            for (cid, data) in chunk {
                // A node whose links cannot be read is left to the check,
                // which reports it (`None`).
                let start = links.len();
                let read = block_links(cid.codec(), data, &mut links).is_ok();
                if !read {
                    links.truncate(start);
                }
                ends.push(read.then_some(start..links.len()));
            }
            let leaf_links = || links.iter().filter(|link| is_leaf(link));
            let mut leaf_known = self
                .leaves
                .contains_many(leaf_links())
                .into_iter()
                .zip(leaf_links())
                .map(|(known, link)| known || batch_leaves.contains(link));
            let known: Vec<bool> = links
                .iter()
                .map(|link| !is_leaf(link) || leaf_known.next() == Some(true))
                .collect();
            for ((cid, _), range) in chunk.iter().zip(&ends) {
                let Some(range) = range else { continue };
                if known[range.clone()].iter().all(|k| *k) {
                    let below = links[range.clone()].iter().filter(|l| !is_leaf(l)).copied();
                    pending.push((*cid, below.collect()));
                }
            }
        }
        // Then the nodes they link: recorded before, or in this batch and
        // found whole first (children first: a few passes, a HAMT being a
        // few levels deep).
        let earlier = self
            .nodes
            .contains_many(pending.iter().flat_map(|(_, below)| below));
        let mut earlier = earlier.into_iter();
        for (_, below) in &mut pending {
            below.retain(|_| earlier.next() != Some(true));
        }
        let mut whole: HashSet<Cid> = HashSet::new();
        for _ in 0..MAX_RESOLVE_PASSES {
            let before = pending.len();
            pending.retain(|(cid, below)| {
                let all = below.iter().all(|node| whole.contains(node));
                if all {
                    whole.insert(*cid);
                }
                !all
            });
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        Some(Recording::Blocks { leaves, whole })
    }

    /// Applies what [`plan`](Self::plan) worked out.
    fn apply(&mut self, recording: Option<Recording>) {
        match recording {
            None => {}
            Some(Recording::Overflow) => {
                self.forget();
                self.overflowed = true;
            }
            Some(Recording::Blocks { leaves, whole }) => {
                self.leaves.insert_many(&leaves);
                self.nodes.insert_many(&whole);
            }
        }
    }

    /// Whether `cid` is a leaf recorded, or the root of a DAG recorded
    /// whole.
    pub(crate) fn contains(&self, cid: &Cid) -> bool {
        if is_leaf(cid) {
            self.leaves.contains(cid)
        } else {
            self.nodes.contains(cid)
        }
    }

    pub(crate) fn forget(&mut self) {
        self.leaves = BlockSet::new();
        self.nodes = BlockSet::new();
    }

    /// After a root is named: a record stopped by an import too large for
    /// it starts again (the name covers what it would have held).
    pub(crate) fn named(&mut self) {
        self.overflowed = false;
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
            let written = written.lock();
            out.retain(|(child, ())| !written.contains(child));
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
            if known.0.contains(root)
                || (!gc_running && self.ingest.shared.written.lock().contains(root))
            {
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

#[cfg(test)]
mod tests {
    use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};

    use super::*;

    fn leaf(n: u8) -> (Cid, Vec<u8>) {
        let data = vec![n; 8];
        (
            block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &data),
            data,
        )
    }

    /// A DAG-CBOR list of links.
    fn node(links: &[&Cid]) -> (Cid, Vec<u8>) {
        let mut data = vec![0x80 + u8::try_from(links.len()).unwrap()];
        for link in links {
            let bytes = link.to_bytes();
            data.extend([0xd8, 0x2a, 0x58, u8::try_from(bytes.len() + 1).unwrap(), 0]);
            data.extend(bytes);
        }
        (
            block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, &data),
            data,
        )
    }

    fn record(written: &mut WrittenBlocks, blocks: &[&(Cid, Vec<u8>)]) {
        let keys: Vec<Vec<u8>> = blocks.iter().map(|(cid, _)| cid.to_bytes()).collect();
        written.record(keys.iter().zip(blocks).map(|(k, (_, d))| (&k[..], &d[..])));
    }

    #[test]
    fn a_node_is_recorded_once_everything_it_links_is() {
        let (a, b, missing) = (leaf(1), leaf(2), leaf(3));
        let child = node(&[&a.0, &b.0]);
        let parent = node(&[&child.0, &a.0]);
        let over_missing = node(&[&a.0, &missing.0]);
        let above_that = node(&[&over_missing.0]);
        let mut written = WrittenBlocks::new(0);
        // Parents before children, as key order may put them.
        record(
            &mut written,
            &[&parent, &above_that, &over_missing, &child, &a],
        );
        assert!(written.contains(&a.0));
        assert!(!written.contains(&b.0), "b is not written yet");
        assert!(!written.contains(&child.0) && !written.contains(&parent.0));
        // The leaf comes in a later batch: what links it is still not
        // taken as whole (a later node would be).
        record(&mut written, &[&b]);
        assert!(written.contains(&b.0) && !written.contains(&child.0));
        let again = node(&[&child.0, &b.0]);
        record(&mut written, &[&child, &again]);
        assert!(written.contains(&child.0) && written.contains(&again.0));
        // A node over a block never written is never whole, nor above it.
        assert!(!written.contains(&over_missing.0) && !written.contains(&above_that.0));
        // A node whose links cannot be read is left to the check.
        let junk = (
            block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b"\xff"),
            b"\xff".to_vec(),
        );
        record(&mut written, &[&junk]);
        assert!(!written.contains(&junk.0));
        written.forget();
        assert!(!written.contains(&a.0) && !written.contains(&again.0));
    }

    #[test]
    fn a_full_record_stops_until_the_next_name() {
        let mut written = WrittenBlocks::new(0);
        let leaves: Vec<_> = (0..=written.max)
            .map(|n| {
                let data = u64::try_from(n).unwrap().to_le_bytes();
                (
                    block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &data),
                    data.to_vec(),
                )
            })
            .collect();
        let refs: Vec<_> = leaves.iter().collect();
        record(&mut written, &refs);
        assert!(written.contains(&leaves[0].0));
        let one_more = leaf(1);
        record(&mut written, &[&one_more]);
        assert!(!written.contains(&one_more.0) && !written.contains(&leaves[0].0));
        record(&mut written, &[&one_more]);
        assert!(!written.contains(&one_more.0), "recorded while stopped");
        written.named();
        record(&mut written, &[&one_more]);
        assert!(written.contains(&one_more.0));
    }

    #[test]
    fn a_chain_deeper_than_the_passes_is_recorded_in_part() {
        let bottom = leaf(9);
        let mut chain = vec![node(&[&bottom.0])];
        for _ in 0..MAX_RESOLVE_PASSES + 4 {
            let above = node(&[&chain.last().unwrap().0]);
            chain.push(above);
        }
        let mut written = WrittenBlocks::new(0);
        // Top first: one level resolves per pass.
        let mut batch: Vec<_> = chain.iter().rev().collect();
        batch.push(&bottom);
        record(&mut written, &batch);
        assert!(written.contains(&chain[0].0));
        assert!(written.contains(&chain[MAX_RESOLVE_PASSES - 1].0));
        assert!(!written.contains(&chain.last().unwrap().0));
    }
}
