//! A walk over every block some roots reach, each block once: garbage
//! collection's mark phase, whole-DAG checks, `verify`, `stat` and CAR
//! export all run on it.
//!
//! The walk is depth first over an explicit stack and reads a batch of
//! blocks at once; its memory is the stack plus the set of blocks seen
//! ([`BlockSet`]: about 20–40 bytes per block, so a GC's mark of 10 million
//! blocks holds a few hundred MB, not the gigabytes whole CIDs would take).
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

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use hamt_codec::{BlockCodec, Cid, LinksError, block_links, verify_block};

use crate::{BlockStore, CidHash, StoreError};

/// A set of blocks by a 16-byte fingerprint each: the first 16 bytes of the
/// CID's digest mixed with its codec and hash function (CIDv0 and CIDv1 of
/// one block are one member). Digests are cryptographic, so two blocks of a
/// store share a fingerprint with probability about n²/2^129, never in
/// practice; a CID whose digest is shorter than 16 bytes is kept whole.
#[derive(Debug, Default, Clone)]
pub struct BlockSet {
    fingerprints: HashSet<u128, CidHash>,
    short: HashSet<Cid>,
}

impl BlockSet {
    /// An empty set.
    pub fn new() -> Self {
        BlockSet::default()
    }

    /// Adds `cid`'s block; `false` if it was already in.
    pub fn insert(&mut self, cid: &Cid) -> bool {
        match fingerprint(cid) {
            Some(print) => self.fingerprints.insert(print),
            None => self.short.insert(block_id(cid)),
        }
    }

    /// Whether `cid`'s block is in.
    pub fn contains(&self, cid: &Cid) -> bool {
        match fingerprint(cid) {
            Some(print) => self.fingerprints.contains(&print),
            None => self.short.contains(&block_id(cid)),
        }
    }

    /// Blocks in the set.
    pub fn len(&self) -> usize {
        self.fingerprints.len() + self.short.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn fingerprint(cid: &Cid) -> Option<u128> {
    let digest = cid.hash().digest();
    let prefix: [u8; 16] = digest.get(..16)?.try_into().ok()?;
    let kind = (u128::from(cid.codec()) << 64) | u128::from(cid.hash().code());
    Some(u128::from_le_bytes(prefix) ^ kind)
}

/// Blocks read at once by default.
pub const DEFAULT_CONCURRENCY: usize = 32;

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

/// The CID a block is known by in a walk: CIDv0 and CIDv1 of the same codec
/// and multihash name one block.
fn block_id(cid: &Cid) -> Cid {
    Cid::new_v1(cid.codec(), *cid.hash())
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
/// module docs). Each block is visited once, however many links (and
/// spellings of its CID: v0 or v1) reach it, where it is last linked; blocks
/// are verified against their CIDs as they are read (by the store, or here
/// when the store says it skips that).
pub struct DagWalk<'s, S: ?Sized, L, T> {
    store: &'s S,
    links: L,
    stack: Vec<(Cid, T)>,
    seen: BlockSet,
    read_leaves: bool,
    concurrency: usize,
}

impl<'s, S: BlockStore + ?Sized, L: Links<T>, T> DagWalk<'s, S, L, T> {
    /// A walk with no roots yet over `store`, reading links with `links`.
    pub fn new(store: &'s S, links: L) -> Self {
        DagWalk {
            store,
            links,
            stack: Vec::new(),
            seen: BlockSet::new(),
            read_leaves: true,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Whether raw blocks (which hold no links) are read and verified
    /// (the default) or only checked to be present, as garbage collection
    /// needs: it must know they are there, not what they hold.
    #[must_use]
    pub fn read_leaves(mut self, read: bool) -> Self {
        self.read_leaves = read;
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

    /// The next blocks in walk order, read concurrently, or `None` when
    /// every reachable block was visited.
    pub async fn next_batch(&mut self) -> Option<Vec<Visit<T, L::Error>>> {
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
                        if cid.hash().code() != IDENTITY_HASH && self.seen.insert(&cid) {
                            self.stack.push((cid, tag));
                        }
                    }
                }
                Err(error) => visit.result = Err(VisitError::Links(error)),
            }
        }
        Some(visits)
    }
}

/// A block's verified bytes (checked here if `verify`), or `None` for a
/// present raw block when leaves are not read.
async fn read<S: BlockStore + ?Sized>(
    store: &S,
    cid: &Cid,
    read_leaves: bool,
    verify: bool,
) -> Result<Option<Bytes>, StoreError> {
    let leaf = BlockCodec::from_code(cid.codec()).is_some_and(|c| !c.may_have_links());
    if leaf && !read_leaves {
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
