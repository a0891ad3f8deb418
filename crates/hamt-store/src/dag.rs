//! A walk over every block some roots reach, each block once: garbage
//! collection's mark phase, whole-DAG checks, `verify`, `stat` and CAR
//! export all run on it.
//!
//! The walk is depth first over an explicit stack and reads a batch of
//! blocks at once; its memory is the stack plus the set of blocks seen
//! ([`BlockSet`]: about 18 bytes per block once large, so a GC's mark of 10
//! million blocks holds ~180 MB, not the gigabytes whole CIDs would take;
//! a walk that only checks leaves can forget them,
//! [`DagWalk::remember_leaves`]).
//! What a block links to is asked of a [`Links`] reader: [`BlockLinks`]
//! follows every link the block's codec defines (`hamt_codec::block_links`);
//! a caller that knows more (which blocks are HAMT nodes and which are
//! values) gives its own, and tags each block with what it knows.
//!
//! ```
//! use hamt_store::dag::{BlockLinks, DagWalk};
//! use hamt_store::{BlockCodec, BlockStore, MemoryStore};
//! use hamt_codec::{Bucket, Node, Slot};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let value = store.put(BlockCodec::Raw, b"chunk".to_vec().into()).await?;
//! let mut node: Node = Node::new();
//! node.set(0, Slot::Bucket(Bucket::single("k".into(), value)));
//! let root = store.put(BlockCodec::DagCbor, node.encode().into()).await?;
//!
//! let mut walk = DagWalk::new(&store, BlockLinks::default());
//! walk.add_root(root, ());
//! let mut blocks = 0;
//! while let Some(batch) = walk.next_batch().await {
//!     for visit in batch {
//!         visit.result.expect("every block is there");
//!         blocks += 1;
//!     }
//! }
//! assert_eq!(blocks, 2);
//! # Ok::<(), hamt_store::StoreError>(())
//! # }).unwrap();
//! ```

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use hamt_codec::{BlockCodec, Cid, LinksError, block_links, verify_block};

use crate::{BlockStore, CidHash, StoreError};

/// A set of blocks by a 16-byte fingerprint each: a keyed hash (`SipHash`,
/// under two keys random to each set) of the CID's codec, hash function and
/// digest (CIDv0 and CIDv1 of one block are one member). Keyed, because a
/// CID is only a name: a hostile DAG may link a CID made up to share the
/// first bytes of a real block's digest (no block has to exist for it),
/// and a set keyed by digest bytes would then take one for the other (a
/// walk would skip the real block, a GC would sweep what it links). Two
/// CIDs share a fingerprint with probability about n²/2^129 whatever
/// their digests, never in practice.
///
/// Memory: the newest members (up to [`BlockSet::RECENT`]) are in a hash
/// set; older ones in one sorted array at 16 bytes each, found through a
/// directory by their top bits (fingerprints are uniform; ~1 byte a
/// member). A hash set alone takes 27–40 bytes a member and twice that
/// while it grows: a GC of 10M blocks peaked at 550 MiB with one, ~310–340
/// MiB with this (of which the set is ~185 MB). Each move of the recent
/// members merges the whole array, so filling a set of N costs about
/// N²/(2 × `RECENT`) element moves: fine to ~10^8 blocks, not beyond.
#[derive(Debug, Default, Clone)]
pub struct BlockSet {
    /// The newest fingerprints, none of them in `sorted`.
    recent: HashSet<u128, CidHash>,
    /// Older fingerprints, ascending, distinct.
    sorted: Vec<u128>,
    /// Where in `sorted` the members of each value of their top
    /// `directory_bits` bits begin, and (last) its length; empty until the
    /// first merge.
    directory: Vec<usize>,
    directory_bits: u32,
    /// This set's two hash keys (`RandomState::new` gives each call keys
    /// of its own: the two `SipHash` instances are independent functions).
    keys: (RandomState, RandomState),
}

impl BlockSet {
    /// Members kept in the hash set before they join the sorted array: what
    /// fills a table of 2^20 slots (17 MiB) without growing it.
    pub const RECENT: usize = (1 << 20) / 8 * 7;

    /// An empty set.
    pub fn new() -> Self {
        BlockSet::default()
    }

    /// Adds `cid`'s block; `false` if it was already in.
    pub fn insert(&mut self, cid: &Cid) -> bool {
        self.insert_print(self.fingerprint(cid), Self::RECENT)
    }

    fn fingerprint(&self, cid: &Cid) -> u128 {
        let hash = |key: &RandomState| {
            let mut hasher = key.build_hasher();
            hasher.write_u64(cid.codec());
            hasher.write_u64(cid.hash().code());
            hasher.write(cid.hash().digest());
            hasher.write_u8(cid.hash().size());
            hasher.finish()
        };
        (u128::from(hash(&self.keys.0)) << 64) | u128::from(hash(&self.keys.1))
    }

    fn insert_print(&mut self, print: u128, recent_max: usize) -> bool {
        if self.in_sorted(print) || !self.recent.insert(print) {
            return false;
        }
        if self.recent.len() >= recent_max {
            self.seal();
        }
        true
    }

    /// Moves the recent members into the sorted array: sorted, then merged
    /// in place from the back (the array grows by `realloc`, which moves
    /// pages rather than copying a large array).
    fn seal(&mut self) {
        let mut new: Vec<u128> = self.recent.drain().collect();
        new.sort_unstable();
        self.merge(&new);
    }

    /// Adds many blocks at once, straight into the sorted array (no hash
    /// set on the way: for a set filled in large batches, such as every
    /// block of a file written at once).
    pub fn insert_many<C: std::borrow::Borrow<Cid>>(&mut self, cids: impl IntoIterator<Item = C>) {
        let mut new: Vec<u128> = cids
            .into_iter()
            .map(|cid| self.fingerprint(cid.borrow()))
            .filter(|print| !self.recent.contains(print))
            .collect();
        new.sort_unstable();
        new.dedup();
        // Members already sorted are dropped in one walk of both runs (a
        // lookup each would be a cache miss each).
        let mut members = self.sorted.iter().peekable();
        new.retain(|print| {
            while members.next_if(|member| *member < print).is_some() {}
            members.peek() != Some(&print)
        });
        self.merge(&new);
    }

    /// Merges `new` (ascending, distinct, none of them members) into the
    /// sorted array.
    fn merge(&mut self, new: &[u128]) {
        if new.is_empty() {
            return;
        }
        let old_len = self.sorted.len();
        // Exact: doubling would leave up to half the array unused.
        self.sorted.reserve_exact(new.len());
        self.sorted.resize(old_len + new.len(), 0);
        let (mut old, mut add) = (old_len, new.len());
        for at in (0..self.sorted.len()).rev() {
            // The two runs are disjoint: take the larger of their ends.
            if add == 0 {
                break;
            }
            if old > 0 && self.sorted[old - 1] > new[add - 1] {
                self.sorted[at] = self.sorted[old - 1];
                old -= 1;
            } else {
                self.sorted[at] = new[add - 1];
                add -= 1;
            }
        }
        self.index_sorted();
    }

    /// Whether `print` is in the sorted array: the directory gives the run
    /// of members sharing its top bits (about 8), searched in one or two
    /// cache lines.
    fn in_sorted(&self, print: u128) -> bool {
        let bucket = self.bucket(print);
        match (self.directory.get(bucket), self.directory.get(bucket + 1)) {
            (Some(&start), Some(&end)) => self.sorted[start..end].binary_search(&print).is_ok(),
            _ => false,
        }
    }

    /// The directory bucket of `print`: its top `directory_bits` bits.
    fn bucket(&self, print: u128) -> usize {
        if self.directory_bits == 0 {
            return 0;
        }
        // At most 28 bits: the value fits any usize of 32 bits or more.
        usize::try_from(print >> (128 - self.directory_bits)).unwrap_or(usize::MAX)
    }

    /// Rebuilds the directory over `sorted`: 2^bits + 1 offsets, for about
    /// 8 members a bucket (one byte a member).
    fn index_sorted(&mut self) {
        let n = self.sorted.len();
        self.directory_bits = (n / 8).checked_ilog2().unwrap_or(0).min(28);
        let buckets = 1usize << self.directory_bits;
        self.directory.clear();
        self.directory.reserve(buckets + 1);
        let mut at = 0;
        for bucket in 0..buckets {
            while at < n && self.bucket(self.sorted[at]) < bucket {
                at += 1;
            }
            self.directory.push(at);
        }
        self.directory.push(n);
    }

    /// Whether `cid`'s block is in.
    pub fn contains(&self, cid: &Cid) -> bool {
        let print = self.fingerprint(cid);
        self.recent.contains(&print) || self.in_sorted(print)
    }

    /// Whether each of `cids` is in, in order. For many CIDs at once: they
    /// are looked up in the order of their fingerprints, so the sorted
    /// members are visited front to back (a cache miss per CID otherwise,
    /// in a set larger than the cache).
    pub fn contains_many<C: std::borrow::Borrow<Cid>>(
        &self,
        cids: impl IntoIterator<Item = C>,
    ) -> Vec<bool> {
        let mut prints: Vec<(u128, usize)> = cids
            .into_iter()
            .enumerate()
            .map(|(at, cid)| (self.fingerprint(cid.borrow()), at))
            .collect();
        prints.sort_unstable();
        let mut found = vec![false; prints.len()];
        for (print, at) in prints {
            found[at] = self.recent.contains(&print) || self.in_sorted(print);
        }
        found
    }

    /// Blocks in the set.
    pub fn len(&self) -> usize {
        self.recent.len() + self.sorted.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Blocks read at once by default.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Leaves only checked to be present are asked of the store this many at a
/// time ([`BlockStore::has_many`]), so a store that sorts the keys finds
/// many of them in each index and data block it reads (measured: RocksDB's
/// check of 1M leaves in 4.6 s by 1,024, 2.8 s by 65,536). The queue costs
/// about 100 bytes a leaf.
pub const LEAF_BATCH: usize = 65536;

/// Multihash code of the identity "hash": the data is inline in the CID, so
/// there is no block to read.
const IDENTITY_HASH: u64 = 0x00;

/// Reads what a block links to, for a [`DagWalk`]; `T` is what the walk
/// knows of each block (its tag).
pub trait Links<T> {
    /// Why a block's links could not be read.
    type Error;

    /// Appends the blocks `data` (the verified bytes of `cid`, tagged `tag`)
    /// links to, with their tags, in the order they should be visited.
    fn links(
        &mut self,
        cid: &Cid,
        tag: &T,
        data: &Bytes,
        out: &mut Vec<(Cid, T)>,
    ) -> Result<(), Self::Error>;
}

/// Follows every link a block's codec defines (see `hamt_codec::block_links`).
#[derive(Debug, Clone, Default)]
pub struct BlockLinks {
    scratch: Vec<Cid>,
}

impl Links<()> for BlockLinks {
    type Error = LinksError;

    fn links(
        &mut self,
        cid: &Cid,
        (): &(),
        data: &Bytes,
        out: &mut Vec<(Cid, ())>,
    ) -> Result<(), LinksError> {
        self.scratch.clear();
        block_links(cid.codec(), data, &mut self.scratch)?;
        out.extend(self.scratch.drain(..).map(|cid| (cid, ())));
        Ok(())
    }
}

/// Why a block reached by a walk could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VisitError<E> {
    /// Missing, corrupt, or the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Present and verified, but its links could not be read.
    #[error("cannot read its links: {0}")]
    Links(E),
}

/// A block the walk reached.
#[derive(Debug)]
pub struct Visit<T, E> {
    /// The block's CID.
    pub cid: Cid,
    /// What the walk knows of it.
    pub tag: T,
    /// Its verified bytes (`None` for a raw block only checked to be
    /// present, see [`DagWalk::read_leaves`]), or what was wrong.
    pub result: Result<Option<Bytes>, VisitError<E>>,
}

/// A depth-first walk over the blocks reachable from its roots (see the
/// module docs). Each block is visited once (but see
/// [`remember_leaves`](Self::remember_leaves)), however many links (and
/// spellings of its CID: v0 or v1) reach it, where it is last linked; blocks
/// are verified against their CIDs as they are read (by the store, or here
/// when the store says it skips that).
pub struct DagWalk<'s, S: ?Sized, L, T> {
    store: &'s S,
    links: L,
    stack: Vec<(Cid, T)>,
    /// Leaves reached and not yet checked, when leaves are not read.
    leaves: Vec<(Cid, T)>,
    seen: BlockSet,
    read_leaves: bool,
    remember_leaves: bool,
    concurrency: usize,
}

impl<'s, S: BlockStore + ?Sized, L: Links<T>, T> DagWalk<'s, S, L, T> {
    /// A walk with no roots yet over `store`, reading links with `links`.
    pub fn new(store: &'s S, links: L) -> Self {
        DagWalk {
            store,
            links,
            stack: Vec::new(),
            leaves: Vec::new(),
            seen: BlockSet::new(),
            read_leaves: true,
            remember_leaves: true,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Whether raw blocks (which hold no links) are read and verified
    /// (the default) or only checked to be present, as garbage collection
    /// needs: it must know they are there, not what they hold. Leaves only
    /// checked are asked of the store [`LEAF_BATCH`] at a time, so they are
    /// visited in batches of their own, out of walk order.
    #[must_use]
    pub fn read_leaves(mut self, read: bool) -> Self {
        self.read_leaves = read;
        self
    }

    /// Whether leaves only checked to be present (see
    /// [`read_leaves`](Self::read_leaves)) are remembered as reached (the
    /// default), so each is checked once and [`reached`](Self::reached)
    /// knows them, as garbage collection needs. A check that only needs
    /// every leaf to be there (naming a root) forgets them: its memory is
    /// then the nodes', not the leaves' (most of a DAG), and a leaf linked
    /// from several nodes is checked once per link (work still bounded by
    /// the links of the nodes, each visited once).
    #[must_use]
    pub fn remember_leaves(mut self, remember: bool) -> Self {
        self.remember_leaves = remember;
        self
    }

    /// How many blocks are read at once (at least 1).
    #[must_use]
    pub fn concurrency(mut self, blocks: usize) -> Self {
        self.concurrency = blocks.max(1);
        self
    }

    /// Adds a root to walk from (visited before what is left of earlier
    /// roots); `false` if the walk already reached it.
    pub fn add_root(&mut self, root: Cid, tag: T) -> bool {
        if root.hash().code() == IDENTITY_HASH || !self.seen.insert(&root) {
            return false;
        }
        self.stack.push((root, tag));
        true
    }

    /// Every block reached so far (visited, or about to be).
    pub fn seen(&self) -> &BlockSet {
        &self.seen
    }

    /// Whether the walk reached the block `cid` names (under either spelling).
    pub fn reached(&self, cid: &Cid) -> bool {
        self.seen.contains(cid)
    }

    /// The next blocks in walk order (leaves only checked come in batches
    /// of their own), read concurrently, or `None` when
    /// every reachable block was visited.
    pub async fn next_batch(&mut self) -> Option<Vec<Visit<T, L::Error>>> {
        if self.leaves.len() >= LEAF_BATCH || (self.stack.is_empty() && !self.leaves.is_empty()) {
            return Some(self.check_leaves().await);
        }
        if self.stack.is_empty() {
            return None;
        }
        let take = self.stack.len().min(self.concurrency);
        let at = self.stack.len() - take;
        let batch: Vec<(Cid, T)> = self.stack.drain(at..).rev().collect();
        let (store, read_leaves) = (self.store, self.read_leaves);
        let verify = !store.verifies_reads();
        let mut visits: Vec<Visit<T, L::Error>> = stream::iter(batch)
            .map(|(cid, tag)| async move {
                let result = read(store, &cid, read_leaves, verify)
                    .await
                    .map_err(VisitError::Store);
                Visit { cid, tag, result }
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        // Children go on the stack in reverse, so the first child of the
        // first block is visited next.
        let mut children = Vec::new();
        for visit in visits.iter_mut().rev() {
            let Ok(Some(data)) = &visit.result else {
                continue;
            };
            children.clear();
            match self
                .links
                .links(&visit.cid, &visit.tag, data, &mut children)
            {
                Ok(()) => {
                    // Last child first, so the first is popped (visited)
                    // next; a block linked twice is visited where it is
                    // last linked.
                    for (cid, tag) in children.drain(..).rev() {
                        if cid.hash().code() == IDENTITY_HASH {
                            continue;
                        }
                        let checked_leaf = !read_leaves && is_leaf(&cid);
                        if checked_leaf && !self.remember_leaves {
                            self.leaves.push((cid, tag));
                        } else if self.seen.insert(&cid) {
                            if checked_leaf {
                                self.leaves.push((cid, tag));
                            } else {
                                self.stack.push((cid, tag));
                            }
                        }
                    }
                }
                Err(error) => visit.result = Err(VisitError::Links(error)),
            }
        }
        Some(visits)
    }

    /// Visits up to [`LEAF_BATCH`] queued leaves, checked to be present in
    /// one [`BlockStore::has_many`]; if that fails, each is asked alone, so
    /// every visit carries its own answer.
    async fn check_leaves(&mut self) -> Vec<Visit<T, L::Error>> {
        let at = self.leaves.len().saturating_sub(LEAF_BATCH);
        let batch: Vec<(Cid, T)> = self.leaves.drain(at..).collect();
        // Each distinct block asked once (forgotten leaves may repeat), in
        // CID order; `slot[i]` is where the batch's i-th block is in `cids`
        // (found as the CIDs are sorted, not searched for one by one: a
        // binary search per leaf over 96-byte CIDs was a fifth of naming a
        // large import).
        let mut sorted: Vec<(Cid, usize)> = batch
            .iter()
            .enumerate()
            .map(|(at, (cid, _))| (*cid, at))
            .collect();
        sorted.sort_unstable();
        let mut cids: Vec<Cid> = Vec::with_capacity(sorted.len());
        let mut slot = vec![0; batch.len()];
        for (cid, at) in sorted {
            if cids.last() != Some(&cid) {
                cids.push(cid);
            }
            // `cids` is not empty: it was just pushed to or ends with `cid`.
            slot[at] = cids.len() - 1;
        }
        let store = self.store;
        let mut answers: Vec<Result<bool, StoreError>> = match store.has_many(&cids).await {
            Ok(held) if held.len() == cids.len() => held.into_iter().map(Ok).collect(),
            _ => crate::traits::has_each(store, &cids, self.concurrency).await,
        };
        batch
            .into_iter()
            .zip(slot)
            .map(|((cid, tag), at)| {
                // `answers` holds one answer for each of `cids`, and `at`
                // indexes them.
                let held = match answers.get_mut(at) {
                    Some(answer) => answer_again(answer),
                    None => Err(StoreError::backend(
                        format!("look up block {cid}"),
                        std::io::Error::other("the lookup gave no answer for it"),
                    )),
                };
                let result = match held {
                    Ok(true) => Ok(None),
                    Ok(false) => Err(VisitError::Store(StoreError::NotFound(cid))),
                    Err(error) => Err(VisitError::Store(error)),
                };
                Visit { cid, tag, result }
            })
            .collect()
    }
}

/// An answer, kept for a block linked again in the same batch: an error is
/// not `Clone`, so the first link takes it and later ones a copy of its text.
fn answer_again(answer: &mut Result<bool, StoreError>) -> Result<bool, StoreError> {
    match answer {
        Ok(held) => Ok(*held),
        Err(error) => {
            let copy =
                StoreError::backend("look up a block", std::io::Error::other(error.to_string()));
            Err(std::mem::replace(error, copy))
        }
    }
}

/// Whether blocks of `cid`'s codec never link (raw leaves; a codec this
/// crate does not know may link).
pub fn is_leaf(cid: &Cid) -> bool {
    BlockCodec::from_code(cid.codec()).is_some_and(|c| !c.may_have_links())
}

/// A block's verified bytes (checked here if `verify`), or `None` for a
/// present raw block when leaves are not read.
async fn read<S: BlockStore + ?Sized>(
    store: &S,
    cid: &Cid,
    read_leaves: bool,
    verify: bool,
) -> Result<Option<Bytes>, StoreError> {
    if is_leaf(cid) && !read_leaves {
        return if store.has(cid).await? {
            Ok(None)
        } else {
            Err(StoreError::NotFound(*cid))
        };
    }
    let data = store.get(cid).await?;
    // A store may skip verification for speed; a walk trusts no links it
    // has not checked.
    if verify {
        verify_block(cid, &data)?;
    }
    Ok(Some(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use hamt_codec::{Bucket, HashAlgorithm, Node, Slot, block_cid};

    async fn node_over(store: &MemoryStore, slots: Vec<(u8, Slot<Cid>)>) -> Cid {
        let mut node: Node = Node::new();
        for (index, slot) in slots {
            node.set(index, slot);
        }
        store
            .put(BlockCodec::DagCbor, node.encode().into())
            .await
            .unwrap()
    }

    async fn visit_all<L: Links<()>>(
        walk: &mut DagWalk<'_, MemoryStore, L, ()>,
    ) -> Vec<Visit<(), L::Error>> {
        let mut all = Vec::new();
        while let Some(batch) = walk.next_batch().await {
            all.extend(batch);
        }
        all
    }

    #[tokio::test]
    async fn every_block_once_depth_first_with_missing_blocks_reported() {
        let store = MemoryStore::new();
        let a = store.put(BlockCodec::Raw, "a".into()).await.unwrap();
        let missing = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"not stored");
        let leaf = node_over(
            &store,
            vec![(
                1,
                Slot::Bucket(Bucket::from_entries([
                    ("x".into(), a),
                    ("y".into(), missing),
                ])),
            )],
        )
        .await;
        // The leaf node is linked twice, `a` three times: each is visited once.
        let root = node_over(
            &store,
            vec![
                (0, Slot::Child(leaf)),
                (5, Slot::Bucket(Bucket::single("z".into(), a))),
                (9, Slot::Child(leaf)),
            ],
        )
        .await;
        let mut walk = DagWalk::new(&store, BlockLinks::default()).concurrency(1);
        assert!(walk.add_root(root, ()));
        assert!(!walk.add_root(root, ()));
        let visits = visit_all(&mut walk).await;
        let order: Vec<Cid> = visits.iter().map(|v| v.cid).collect();
        // Depth first in link order, each block once where it is last
        // linked: `a` (slot 5, before the leaf's second link), then the
        // leaf node (slot 9) and the block only it holds.
        assert_eq!(order, [root, a, leaf, missing]);
        assert!(matches!(
            visits[3].result,
            Err(VisitError::Store(StoreError::NotFound(c))) if c == missing
        ));
        assert_eq!(walk.seen().len(), 4);
    }

    #[tokio::test]
    async fn leaves_are_only_checked_when_not_read() {
        let store = MemoryStore::new();
        let a = store.put(BlockCodec::Raw, "a".into()).await.unwrap();
        let root = node_over(
            &store,
            vec![(3, Slot::Bucket(Bucket::single("k".into(), a)))],
        )
        .await;
        let mut walk = DagWalk::new(&store, BlockLinks::default()).read_leaves(false);
        walk.add_root(root, ());
        let visits = visit_all(&mut walk).await;
        assert!(matches!(visits[0].result, Ok(Some(_))));
        assert!(matches!(visits[1].result, Ok(None)));
    }

    /// Members stay members across many merges into the sorted array, and
    /// non-members never are (small merges, so every path runs).
    #[test]
    fn block_set_members_survive_merges() {
        let mut set = BlockSet::new();
        let print = |i: u64| u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        for i in 0..5000 {
            assert!(set.insert_print(print(i), 97), "{i} was new");
            assert!(!set.insert_print(print(i), 97), "{i} is in");
            assert!(!set.insert_print(print(i / 2), 97), "{} is in", i / 2);
        }
        assert_eq!(set.len(), 5000);
        assert!(set.sorted.len() > 4900 && set.sorted.is_sorted());
        for i in 0..5000 {
            assert!(set.recent.contains(&print(i)) || set.in_sorted(print(i)));
        }
        for i in 5000..20000 {
            assert!(!set.in_sorted(print(i)) && !set.recent.contains(&print(i)));
        }
        // The ends of the range of fingerprints.
        let mut set = BlockSet::new();
        assert!(set.insert_print(7 << 64, 1) && set.insert_print(0, 1));
        assert!(set.insert_print(u128::MAX, 1));
        assert!(set.in_sorted(0) && set.in_sorted(u128::MAX));
        assert!(!set.in_sorted(1) && !set.in_sorted(u128::MAX - 1));

        // Many at once, some of them members: each once.
        let cids: Vec<Cid> = (0..300u32)
            .map(|i| block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &i.to_le_bytes()))
            .collect();
        let mut set = BlockSet::new();
        set.insert_many(&cids[..100]);
        set.insert(&cids[150]);
        set.insert_many(cids.iter().chain(&cids[..10]));
        assert_eq!(set.len(), 300);
        assert!(cids.iter().all(|cid| set.contains(cid)));
        assert!(!set.insert(&cids[7]) && !set.insert(&cids[299]));

        // Asked many at once, members sorted and recent alike answer as
        // `contains` does, in the order asked.
        let mut set = BlockSet::new();
        set.insert_many(&cids[..200]);
        set.insert(&cids[250]);
        let asked: Vec<Cid> = cids.iter().rev().copied().collect();
        let expected: Vec<bool> = asked.iter().map(|cid| set.contains(cid)).collect();
        assert_eq!(set.contains_many(&asked), expected);
        assert_eq!(expected.iter().filter(|found| **found).count(), 201);
        assert!(set.contains_many(&[] as &[Cid]).is_empty());
    }

    /// A made-up CID sharing the first 16 bytes of a real block's digest
    /// (or all but the last byte) is another member; CIDv0 and CIDv1 of
    /// one block are one.
    #[test]
    fn block_set_members_are_whole_cids_not_digest_prefixes() {
        let real = block_cid(BlockCodec::DagPb, HashAlgorithm::Sha2_256, b"real block");
        let mut set = BlockSet::new();
        assert!(set.insert(&real));
        let v0 = Cid::new_v0(*real.hash()).unwrap();
        assert!(set.contains(&v0) && !set.insert(&v0));
        for keep in [16, 31] {
            let mut digest = real.hash().digest().to_vec();
            digest[keep] ^= 1;
            let forged = Cid::new_v1(
                real.codec(),
                multihash::Multihash::wrap(real.hash().code(), &digest).unwrap(),
            );
            assert!(
                !set.contains(&forged),
                "a CID differing at byte {keep} is in"
            );
            assert!(set.insert(&forged));
        }
        assert_eq!(set.len(), 3);
    }

    /// A store whose `has` fails for one block.
    struct FailingHas {
        inner: MemoryStore,
        fails: Cid,
    }

    #[async_trait::async_trait]
    impl BlockStore for FailingHas {
        async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
            self.inner.get(cid).await
        }
        async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
            if *cid == self.fails {
                return Err(StoreError::backend(
                    "has",
                    std::io::Error::other("disk on fire"),
                ));
            }
            self.inner.has(cid).await
        }
        async fn put_block(&self, block: crate::Block) -> Result<(), StoreError> {
            self.inner.put_block(block).await
        }
    }

    /// A failed batched lookup falls back to one lookup a block: the block
    /// that fails carries its error at each of its links, the others their
    /// answers.
    #[tokio::test]
    async fn a_failed_lookup_is_reported_at_each_link_and_the_rest_answered() {
        let inner = MemoryStore::new();
        let good = inner.put(BlockCodec::Raw, "good".into()).await.unwrap();
        let bad = inner.put(BlockCodec::Raw, "bad".into()).await.unwrap();
        let list = hamt_codec::link_list::encode(&[Some(bad), Some(good), Some(bad)]);
        let root = inner.put(BlockCodec::DagCbor, list.into()).await.unwrap();
        let store = FailingHas { inner, fails: bad };
        assert!(store.has_many(&[good, bad]).await.is_err());
        let mut walk = DagWalk::new(&store, BlockLinks::default())
            .read_leaves(false)
            .remember_leaves(false);
        walk.add_root(root, ());
        let (mut failed, mut held) = (0, 0);
        while let Some(batch) = walk.next_batch().await {
            for visit in batch {
                match visit.result {
                    Ok(None) => held += 1,
                    Ok(Some(_)) => assert_eq!(visit.cid, root),
                    Err(VisitError::Store(error)) => {
                        assert_eq!(visit.cid, bad);
                        assert!(error.to_string().contains("disk on fire"), "{error}");
                        failed += 1;
                    }
                    Err(other) => panic!("{other}"),
                }
            }
        }
        assert_eq!((failed, held), (2, 1));
    }

    /// Checked leaves come in batches of at most [`LEAF_BATCH`], missing
    /// ones named; forgotten leaves are checked once per link and leave
    /// nothing in the walk's memory.
    #[tokio::test]
    async fn checked_leaves_come_in_batches_and_may_be_forgotten() {
        let store = MemoryStore::new();
        let mut links = Vec::new();
        for i in 0..(LEAF_BATCH + 10) {
            let data = format!("leaf {i}");
            links.push(if i % 1000 == 0 {
                block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, data.as_bytes())
            } else {
                store.put(BlockCodec::Raw, data.into()).await.unwrap()
            });
        }
        let list = |links: &[Cid]| {
            let entries: Vec<Option<Cid>> = links.iter().copied().map(Some).collect();
            hamt_codec::link_list::encode(&entries)
        };
        let half = links.len() / 2;
        let first = store.put(BlockCodec::DagCbor, list(&links[..half]).into());
        let first = first.await.unwrap();
        // The second half, and the first half's first leaf again.
        let mut rest = links[half..].to_vec();
        rest.push(links[1]);
        let second = store.put(BlockCodec::DagCbor, list(&rest).into());
        let second = second.await.unwrap();
        let root = store.put(BlockCodec::DagCbor, list(&[first, second]).into());
        let root = root.await.unwrap();
        for remember in [true, false] {
            let mut walk = DagWalk::new(&store, BlockLinks::default())
                .read_leaves(false)
                .remember_leaves(remember);
            walk.add_root(root, ());
            let mut leaves = 0;
            let mut missing = Vec::new();
            while let Some(batch) = walk.next_batch().await {
                assert!(batch.len() <= LEAF_BATCH);
                for visit in batch {
                    match visit.result {
                        Ok(None) => leaves += 1,
                        Ok(Some(_)) => {}
                        Err(VisitError::Store(StoreError::NotFound(cid))) => missing.push(cid),
                        Err(other) => panic!("{other}"),
                    }
                }
            }
            let expected_missing: Vec<Cid> = links.iter().step_by(1000).copied().collect();
            missing.sort();
            let mut expected = expected_missing.clone();
            expected.sort();
            assert_eq!(missing, expected);
            let linked_twice = usize::from(!remember);
            assert_eq!(leaves + missing.len(), links.len() + linked_twice);
            let nodes = 3;
            let seen = if remember { links.len() + nodes } else { nodes };
            assert_eq!(walk.seen().len(), seen);
        }
    }

    #[tokio::test]
    async fn undecodable_blocks_and_identity_cids() {
        let store = MemoryStore::new();
        let junk = store
            .put(BlockCodec::DagCbor, vec![0xff, 0x00].into())
            .await
            .unwrap();
        let mut walk = DagWalk::new(&store, BlockLinks::default());
        walk.add_root(junk, ());
        let identity = Cid::new_v1(
            BlockCodec::Raw.code(),
            multihash::Multihash::wrap(IDENTITY_HASH, b"inline").unwrap(),
        );
        assert!(!walk.add_root(identity, ()), "no block to visit");
        let visits = visit_all(&mut walk).await;
        assert_eq!(visits.len(), 1);
        assert!(matches!(
            visits[0].result,
            Err(VisitError::Links(LinksError::DagCbor(_)))
        ));
    }

    #[tokio::test]
    async fn a_block_named_by_cid_v0_and_v1_is_visited_once() {
        let store = MemoryStore::new();
        // A dag-pb block hashed with sha2-256 has both spellings.
        let block = crate::Block::new(BlockCodec::DagPb, HashAlgorithm::Sha2_256, Bytes::new());
        let v1 = *block.cid();
        let v0 = Cid::new_v0(*v1.hash()).unwrap();
        store.put_block(block).await.unwrap();
        let list = hamt_codec::link_list::encode(&[Some(v0), Some(v1)]);
        let root = store.put(BlockCodec::DagCbor, list.into()).await.unwrap();
        let mut walk = DagWalk::new(&store, BlockLinks::default());
        walk.add_root(root, ());
        let visits = visit_all(&mut walk).await;
        assert_eq!(visits.len(), 2, "the root and the block once");
        assert!(walk.reached(&v0) && walk.reached(&v1));
    }
}
