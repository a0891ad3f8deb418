//! The in-memory write tree and the pure (no I/O) parts of insert, remove and
//! flush.
//!
//! These functions never wait for the store. When one meets a stored node it
//! has not been given, it stops with [`TreeError::Need`]; the async caller in
//! `hamt.rs` loads that node and runs it again. The only change made before
//! such a stop is replacing stored nodes on the path by identical in-memory
//! copies, which changes no content, so a store failure can never leave a
//! half-applied insert or removal.

use std::cell::Cell;
use std::sync::Arc;

use bytes::Bytes;
use hamt_codec::{
    BlockCodec, Bucket, Cid, HashAlgorithm, KEY_HASH_LEN, Key, KeyHash, KeyHasher, Node, Slot,
    StoredNode, StoredSlot,
};
use hamt_store::Block;

use crate::HamtError;
use crate::error::NodeDefect;

/// A child slot of a node in the write tree.
#[derive(Debug, Clone)]
pub(crate) enum Child {
    /// Unchanged since it was read or written: only its CID is held, boxed
    /// so that a slot stays small (a `Cid` is ~100 bytes; slots are moved
    /// when a node gains one).
    Stored(Box<Cid>),
    /// Changed (or new) and not yet flushed.
    Dirty(Box<Node<Child>>),
}

impl Child {
    /// A stored child.
    pub(crate) fn stored(cid: Cid) -> Self {
        Child::Stored(Box::new(cid))
    }
}

/// A node of the write tree.
pub(crate) type DirtyNode = Node<Child>;

/// Why a tree function stopped.
#[derive(Debug)]
pub(crate) enum TreeError {
    /// It needs this stored node; load it and call again.
    Need(Cid),
    /// The key's hash is used up: the tree cannot go deeper than 32 levels.
    HashExhausted,
    /// A stored node no valid HAMT holds where it was found
    /// ([`HamtError::InvalidTree`], boxed: it is large and rare).
    Invalid(Box<HamtError>),
}

/// What a tree function needs besides the tree: the write parameters and the
/// stored nodes loaded so far.
pub(crate) struct TreeContext<'a> {
    pub(crate) max_bucket_size: usize,
    pub(crate) hasher: &'a dyn KeyHasher,
    pub(crate) nodes: &'a (dyn Fn(&Cid) -> Option<Arc<StoredNode>> + Sync),
    /// Estimated heap bytes the write tree grew by (for the dirty-node budget).
    pub(crate) grown: Cell<usize>,
}

impl TreeError {
    /// The error a map operation on `key` reports. (Callers load the node
    /// a `Need` asks for and run again; one left over is a node not read.)
    pub(crate) fn into_hamt_error(self, key: &str) -> HamtError {
        match self {
            TreeError::Invalid(error) => *error,
            TreeError::HashExhausted => HamtError::HashExhausted {
                key: key.to_owned(),
            },
            TreeError::Need(cid) => HamtError::Store(hamt_store::StoreError::NotFound(cid)),
        }
    }
}

impl TreeContext<'_> {
    fn node(&self, cid: &Cid) -> Result<Arc<StoredNode>, TreeError> {
        (self.nodes)(cid).ok_or(TreeError::Need(*cid))
    }

    fn grow(&self, bytes: usize) {
        self.grown.set(self.grown.get() + bytes);
    }
}

/// Estimated heap bytes one new entry adds to the write tree: the bucket
/// entry, its key if too long to be inline, and a share of a slot.
fn entry_cost(key: &str) -> usize {
    let key_heap = if key.len() > Key::INLINE_BYTES {
        key.len()
    } else {
        0
    };
    std::mem::size_of::<(Key, Cid)>() + key_heap + std::mem::size_of::<Slot<Child>>()
}

/// Heap bytes held by a dirty node, without its dirty children.
pub(crate) fn node_cost(node: &DirtyNode) -> usize {
    std::mem::size_of::<DirtyNode>() + node.heap_size()
}

/// Heap bytes held by a dirty node and its dirty descendants.
pub(crate) fn node_size(node: &DirtyNode) -> usize {
    node_cost(node)
        + node
            .iter()
            .map(|(_, slot)| match slot {
                Slot::Child(Child::Dirty(child)) => node_size(child),
                Slot::Child(Child::Stored(_)) | Slot::Bucket(_) => 0,
            })
            .sum::<usize>()
}

/// The slot index of a key at `depth`: byte `depth` of its hash.
pub(crate) fn slot_index(hash: &KeyHash, depth: usize) -> Result<u8, TreeError> {
    hash.get(depth).copied().ok_or(TreeError::HashExhausted)
}

/// The in-memory node of a child, replacing a stored child by a copy first.
pub(crate) fn make_dirty<'n>(
    child: &'n mut Child,
    cx: &TreeContext<'_>,
) -> Result<&'n mut DirtyNode, TreeError> {
    if let Child::Stored(cid) = child {
        let stored = cx.node(cid)?;
        let node = stored.to_node_with(Child::stored);
        cx.grow(node_cost(&node));
        *child = Child::Dirty(Box::new(node));
    }
    match child {
        Child::Dirty(node) => Ok(node),
        Child::Stored(cid) => Err(TreeError::Need(**cid)),
    }
}

/// Sets `key` to `link` in the subtree at `node` (at `depth`). Returns the
/// replaced link.
///
/// A full bucket becomes a child node holding all its entries plus the new
/// one (py-hamt's overflow), built detached, so running out of hash leaves
/// the tree unchanged.
pub(crate) fn insert(
    node: &mut DirtyNode,
    depth: usize,
    (hash, key, link): (&KeyHash, &str, Cid),
    cx: &TreeContext<'_>,
) -> Result<Option<Cid>, TreeError> {
    let index = slot_index(hash, depth)?;
    match node.get_mut(index) {
        None => {
            cx.grow(entry_cost(key));
            node.set(index, Slot::Bucket(Bucket::single(key.into(), link)));
            Ok(None)
        }
        Some(Slot::Bucket(bucket))
            // The length first: a bucket with room needs no search here.
            if bucket.len() < cx.max_bucket_size || bucket.contains_key(key) =>
        {
            cx.grow(entry_cost(key));
            Ok(bucket.insert(key.into(), link))
        }
        Some(Slot::Bucket(bucket)) => {
            cx.grow(std::mem::size_of::<DirtyNode>());
            let child = split_bucket(bucket, depth + 1, (hash, key, link), cx)?;
            node.set(index, Slot::Child(Child::Dirty(Box::new(child))));
            Ok(None)
        }
        Some(Slot::Child(child)) => {
            insert(make_dirty(child, cx)?, depth + 1, (hash, key, link), cx)
        }
    }
}

/// A new node at `depth` holding a full bucket's entries plus one more.
fn split_bucket(
    bucket: &Bucket,
    depth: usize,
    new_entry: (&KeyHash, &str, Cid),
    cx: &TreeContext<'_>,
) -> Result<DirtyNode, TreeError> {
    let mut child = DirtyNode::new();
    insert(&mut child, depth, new_entry, cx)?;
    for (key, link) in bucket.iter() {
        let hash = cx.hasher.hash(key.as_bytes());
        insert(&mut child, depth, (&hash, key, link), cx)?;
    }
    Ok(child)
}

/// What a removal changes, decided before anything is changed.
#[derive(Debug)]
pub(crate) enum RemovalPlan {
    /// Remove the key from its bucket; no subtree folds.
    FromBucket,
    /// The subtree at `depth`, the shallowest on the path that will hold at
    /// most `max_bucket_size` entries, folds into a bucket of its parent with
    /// these entries (the removed key left out; none means the slot empties).
    Fold {
        depth: usize,
        entries: Vec<(Key, Cid)>,
        removed: Cid,
    },
}

/// Decides how removing `key` changes the tree, or `None` if the key is absent.
///
/// Like py-hamt 3.6.0, every subtree on the path that will hold at most
/// `max_bucket_size` entries folds into its parent; folding the shallowest
/// such subtree is the same, since the ones below it lie inside it.
pub(crate) fn plan_removal(
    node: &mut DirtyNode,
    depth: usize,
    hash: &KeyHash,
    key: &str,
    cx: &TreeContext<'_>,
) -> Result<Option<RemovalPlan>, TreeError> {
    let index = slot_index(hash, depth)?;
    match node.get_mut(index) {
        None => Ok(None),
        Some(Slot::Bucket(bucket)) => {
            Ok(bucket.contains_key(key).then_some(RemovalPlan::FromBucket))
        }
        Some(Slot::Child(child)) => {
            let child = make_dirty(child, cx)?;
            // One more than the bucket size: the key is still in there.
            let mut entries = Vec::new();
            let limit = cx.max_bucket_size + 1;
            if collect_dirty_entries(child, depth + 1, limit, &mut entries, cx)? {
                let Some(position) = entries.iter().position(|(k, _)| &**k == key) else {
                    return Ok(None);
                };
                let (_, removed) = entries.swap_remove(position);
                return Ok(Some(RemovalPlan::Fold {
                    depth: depth + 1,
                    entries,
                    removed,
                }));
            }
            plan_removal(child, depth + 1, hash, key, cx)
        }
    }
}

/// Collects a subtree's entries into `out` while they number at most `limit`;
/// `false` as soon as there are more. Buckets before children, like py-hamt.
///
/// The work is bounded on hostile stored subtrees too: they go no deeper
/// than the hash, and an empty node is refused, so every node visited
/// leads to an entry and at most `limit + 1` paths of at most 32 nodes
/// are followed.
fn collect_dirty_entries(
    node: &DirtyNode,
    depth: usize,
    limit: usize,
    out: &mut Vec<(Key, Cid)>,
    cx: &TreeContext<'_>,
) -> Result<bool, TreeError> {
    for (_, slot) in node.iter() {
        if let Slot::Bucket(bucket) = slot {
            if out.len() + bucket.len() > limit {
                return Ok(false);
            }
            out.extend(bucket.iter().map(|(k, l)| (Key::from(k), l)));
        }
    }
    for (_, slot) in node.iter() {
        let fits = match slot {
            Slot::Child(Child::Dirty(child)) => {
                collect_dirty_entries(child, depth + 1, limit, out, cx)?
            }
            Slot::Child(Child::Stored(cid)) => {
                collect_stored_entries(cid, depth + 1, limit, out, cx)?
            }
            Slot::Bucket(_) => true,
        };
        if !fits {
            return Ok(false);
        }
    }
    Ok(true)
}

fn collect_stored_entries(
    cid: &Cid,
    depth: usize,
    limit: usize,
    out: &mut Vec<(Key, Cid)>,
    cx: &TreeContext<'_>,
) -> Result<bool, TreeError> {
    let node = cx.node(cid)?;
    let invalid = |defect| {
        TreeError::Invalid(Box::new(HamtError::InvalidTree {
            cid: *cid,
            depth,
            defect,
        }))
    };
    if depth >= KEY_HASH_LEN {
        return Err(invalid(NodeDefect::TooDeep));
    }
    if node.bucket_entries() == 0 && node.children().len() == 0 {
        return Err(invalid(NodeDefect::Empty));
    }
    if out.len() + node.bucket_entries() > limit {
        return Ok(false);
    }
    out.extend(node.entries().map(|(k, l)| (Key::from(k), l)));
    for (_, slot) in node.iter() {
        if let StoredSlot::Child(cid) = slot
            && !collect_stored_entries(&cid, depth + 1, limit, out, cx)?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Applies a removal planned by [`plan_removal`] on the same tree. Returns
/// the removed link. Needs no stored node: planning made the path dirty.
pub(crate) fn apply_removal(
    node: &mut DirtyNode,
    depth: usize,
    hash: &KeyHash,
    key: &str,
    plan: RemovalPlan,
) -> Option<Cid> {
    let index = slot_index(hash, depth).ok()?;
    if let RemovalPlan::Fold {
        depth: fold_depth,
        entries,
        removed,
    } = &plan
        && *fold_depth == depth + 1
    {
        if entries.is_empty() {
            node.clear(index);
        } else {
            let bucket = Bucket::from_entries(entries.iter().cloned());
            node.set(index, Slot::Bucket(bucket));
        }
        return Some(*removed);
    }
    match node.get_mut(index)? {
        Slot::Bucket(bucket) => {
            let removed = bucket.remove(key);
            if bucket.is_empty() {
                node.clear(index);
            }
            removed
        }
        Slot::Child(Child::Dirty(child)) => apply_removal(child, depth + 1, hash, key, plan),
        Slot::Child(Child::Stored(_)) => None,
    }
}

/// The blocks of dirty subtrees, encoded without changing the tree: if
/// writing them fails, the tree is still there to retry.
#[derive(Default)]
pub(crate) struct Encoded {
    /// Every encoded node's block, children before parents.
    pub(crate) blocks: Vec<Block>,
    /// The CID of each block, in the same order (kept after the blocks are
    /// handed to the store, to turn the written nodes into links).
    pub(crate) cids: Vec<Cid>,
}

/// Encodes the dirty subtree at `node` bottom-up (a parent's bytes need its
/// children's CIDs) and returns its root CID.
fn encode_subtree(
    node: &DirtyNode,
    hash: HashAlgorithm,
    buf: &mut Vec<u8>,
    out: &mut Encoded,
) -> Cid {
    let mut links = Vec::new();
    for (_, slot) in node.iter() {
        if let Slot::Child(child) = slot {
            links.push(match child {
                Child::Stored(cid) => **cid,
                Child::Dirty(node) => encode_subtree(node, hash, buf, out),
            });
        }
    }
    buf.clear();
    let mut links = links.into_iter();
    node.encode_with(buf, |_| {
        // `encode_with` asks once per child slot, in slot order: the order
        // `links` was collected in, so there is exactly one link per call.
        #[allow(clippy::expect_used)]
        links.next().expect("one link per child slot")
    });
    let block = Block::new(BlockCodec::DagCbor, hash, Bytes::copy_from_slice(buf));
    let cid = *block.cid();
    out.blocks.push(block);
    out.cids.push(cid);
    cid
}

/// Encodes the whole write tree (nothing if the root is stored).
pub(crate) fn encode_tree(root: &Child, hash: HashAlgorithm) -> Encoded {
    let mut out = Encoded::default();
    if let Child::Dirty(node) = root {
        encode_subtree(node, hash, &mut Vec::with_capacity(8192), &mut out);
    }
    out
}

/// Turns a dirty subtree that [`encode_subtree`] encoded (and that was then
/// written) into stored nodes, taking their CIDs from `written` in the
/// order they were encoded. Each stored node is handed to `keep` (to
/// seed the read cache); keys are moved, not copied.
fn store_subtree(
    node: DirtyNode,
    written: &mut impl Iterator<Item = Cid>,
    keep: &mut impl FnMut(Cid, StoredNode),
) -> Cid {
    // Children are stored first, in slot order, as they were encoded.
    let stored = StoredNode::from_node_with(node, |child| match child {
        Child::Stored(cid) => *cid,
        Child::Dirty(node) => store_subtree(*node, written, keep),
    });
    let cid = next_written(written);
    keep(cid, stored);
    cid
}

/// [`store_subtree`] for a subtree no read will come back to (a sorted
/// import has passed it): its nodes are dropped (by the caller), not
/// converted for the cache; only its CIDs are taken, in encoding order.
fn skip_subtree(node: &DirtyNode, written: &mut impl Iterator<Item = Cid>) -> Cid {
    for (_, slot) in node.iter() {
        if let Slot::Child(Child::Dirty(child)) = slot {
            skip_subtree(child, written);
        }
    }
    next_written(written)
}

/// The CID of the next node in encoding order.
fn next_written(written: &mut impl Iterator<Item = Cid>) -> Cid {
    // The CIDs come from `encode_subtree` over this same, unchanged tree,
    // which wrote one per node in this very order (children first).
    #[allow(clippy::expect_used)]
    written.next().expect("one CID per encoded node")
}

/// After the blocks of [`encode_tree`] were written: a dirty root becomes
/// the link of the stored tree. Returns the root's CID.
pub(crate) fn store_tree(
    root: &mut Child,
    written: Vec<Cid>,
    keep: &mut impl FnMut(Cid, StoredNode),
) -> Cid {
    match root {
        Child::Stored(cid) => **cid,
        Child::Dirty(node) => {
            let cid = store_subtree(std::mem::take(&mut **node), &mut written.into_iter(), keep);
            *root = Child::stored(cid);
            cid
        }
    }
}

/// The slot on `hash`'s path in `node` at `depth`, if the path goes on.
fn path_index(hash: &KeyHash, depth: usize) -> Option<u8> {
    hash.get(depth).copied()
}

/// Encodes every dirty subtree hanging off the path of `hash`: complete
/// subtrees the next write (to that key) will not touch. The nodes on the
/// path stay as they are.
pub(crate) fn encode_off_path(root: &DirtyNode, hash: &KeyHash, alg: HashAlgorithm) -> Encoded {
    let mut out = Encoded::default();
    let mut buf = Vec::with_capacity(8192);
    let mut node = root;
    for depth in 0.. {
        let on_path = path_index(hash, depth);
        for (index, slot) in node.iter() {
            if Some(index) != on_path
                && let Slot::Child(Child::Dirty(child)) = slot
            {
                encode_subtree(child, alg, &mut buf, &mut out);
            }
        }
        match on_path.and_then(|i| node.get(i)) {
            Some(Slot::Child(Child::Dirty(next))) => node = next,
            _ => break,
        }
    }
    out
}

/// After the blocks of [`encode_off_path`] were written (on the same,
/// unchanged tree): each subtree it encoded becomes a link, its nodes handed
/// to `keep` as stored nodes, or (`None`) dropped.
pub(crate) fn store_off_path(
    root: &mut DirtyNode,
    hash: &KeyHash,
    written: Vec<Cid>,
    mut keep: Option<&mut dyn FnMut(Cid, StoredNode)>,
) {
    let mut written = written.into_iter();
    let mut node = root;
    for depth in 0.. {
        let on_path = path_index(hash, depth);
        for (index, slot) in node.iter_mut() {
            if Some(index) != on_path
                && let Slot::Child(child) = slot
                && let Child::Dirty(dirty) = child
            {
                let subtree = std::mem::take(&mut **dirty);
                let cid = match keep.as_mut() {
                    Some(keep) => store_subtree(subtree, &mut written, keep),
                    None => skip_subtree(&subtree, &mut written),
                };
                *child = Child::stored(cid);
            }
        }
        match on_path.and_then(|i| node.get_mut(i)) {
            Some(Slot::Child(Child::Dirty(next))) => node = next,
            _ => break,
        }
    }
}
