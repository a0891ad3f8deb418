//! Nodes as reads see them, and the one depth-first walk every whole-tree
//! read (`len`, `links`, `stats`, `diff`) runs on.
//!
//! A node is either in the write tree (changed since the last flush) or
//! stored. [`ChildRef`] is a child still to visit, [`NodeView`] a node in
//! hand: each piece of slot logic is written once here, for both kinds.
//!
//! A walk checks every stored node against the path it was reached by
//! ([`Hamt::resolve_at`]): each key must hash to that path, so a node
//! linked from two places, which a valid HAMT never has, fails at the
//! second. Without this a DAG of five blocks, each linking the next from
//! all 256 slots, would cost a walk 256^4 visits.

use std::sync::Arc;

use hamt_codec::{Bucket, Cid, KEY_HASH_LEN, Slot, StoredNode, StoredSlot};
use hamt_store::BlockStore;

use crate::error::NodeDefect;
use crate::tree::{Child, DirtyNode};
use crate::{Hamt, HamtError};

/// The slot indices leading from the root to a node: byte `i` of the hash
/// of every key under it is `indices[i]`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Path {
    depth: usize,
    indices: [u8; KEY_HASH_LEN],
}

impl Path {
    /// The path to the child in slot `index` of the node at this path; past
    /// the hash's length it stays at its length (that node is refused).
    pub(crate) fn child(self, index: u8) -> Path {
        let mut next = self;
        if let Some(slot) = next.indices.get_mut(self.depth) {
            *slot = index;
            next.depth += 1;
        } else {
            next.depth = KEY_HASH_LEN + 1;
        }
        next
    }

    /// Levels below the root.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }
}

impl<S: BlockStore> Hamt<S> {
    /// [`resolve`](Hamt::resolve), checking a stored node is one a valid
    /// HAMT can hold at `path`: not deeper than the hash, not empty below
    /// the root, every bucket key hashing to the path and its slot.
    pub(crate) async fn resolve_at<'a>(
        &self,
        item: ChildRef<'a>,
        path: Path,
    ) -> Result<NodeView<'a>, HamtError> {
        let view = self.resolve(item).await?;
        if let (ChildRef::Stored(cid), NodeView::Stored(node)) = (item, &view) {
            self.check_placement(node, path)
                .map_err(|defect| HamtError::InvalidTree {
                    cid,
                    depth: path.depth,
                    defect,
                })?;
        }
        Ok(view)
    }

    fn check_placement(&self, node: &StoredNode, path: Path) -> Result<(), NodeDefect> {
        let depth = path.depth;
        if depth >= KEY_HASH_LEN {
            return Err(NodeDefect::TooDeep);
        }
        if depth > 0 && node.bucket_entries() == 0 && node.children().len() == 0 {
            return Err(NodeDefect::Empty);
        }
        for (index, slot) in node.iter() {
            if let StoredSlot::Bucket(bucket) = slot {
                for (key, _) in bucket.iter() {
                    let hash = self.hash_key(key);
                    if hash[..depth] != path.indices[..depth] || hash[depth] != index {
                        return Err(NodeDefect::Misplaced {
                            key: key.to_owned(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// A child to visit: a node of the write tree, or the CID of a stored node.
#[derive(Clone, Copy)]
pub(crate) enum ChildRef<'a> {
    Dirty(&'a DirtyNode),
    Stored(Cid),
}

impl<'a> From<&'a Child> for ChildRef<'a> {
    fn from(child: &'a Child) -> Self {
        match child {
            Child::Dirty(node) => ChildRef::Dirty(node),
            Child::Stored(cid) => ChildRef::Stored(**cid),
        }
    }
}

impl ChildRef<'_> {
    /// Whether both are the same stored node (so their subtrees are equal).
    pub(crate) fn same_stored(self, other: ChildRef<'_>) -> bool {
        matches!((self, other), (ChildRef::Stored(a), ChildRef::Stored(b)) if a == b)
    }
}

/// A node in hand: borrowed from the write tree, or shared from the cache.
pub(crate) enum NodeView<'a> {
    Dirty(&'a DirtyNode),
    Stored(Arc<StoredNode>),
}

/// What a slot holds, for a walk: nothing, a bucket (a copy: a stored
/// node's bucket lives behind an `Arc` that cannot be lent out), or a child.
pub(crate) enum SlotView<'a> {
    Empty,
    Bucket(Bucket),
    Child(ChildRef<'a>),
}

/// Where a lookup goes from a node: the answer, or the child to read next.
pub(crate) enum Step<'a> {
    Found(Option<Cid>),
    Descend(ChildRef<'a>),
}

impl<'a> NodeView<'a> {
    /// Entries held in this node's buckets (not in its children).
    pub(crate) fn bucket_entries(&self) -> usize {
        match self {
            NodeView::Dirty(node) => node.bucket_entries(),
            NodeView::Stored(node) => node.bucket_entries(),
        }
    }

    /// Calls `f` on every bucket entry, bucket after bucket in slot order.
    pub(crate) fn for_each_entry(&self, mut f: impl FnMut(&str, Cid)) {
        match self {
            NodeView::Dirty(node) => {
                for (_, slot) in node.iter() {
                    if let Slot::Bucket(bucket) = slot {
                        bucket.iter().for_each(|(key, link)| f(key, link));
                    }
                }
            }
            NodeView::Stored(node) => node.entries().for_each(|(key, link)| f(key, link)),
        }
    }

    /// Appends the children in slot order, each with its slot index.
    pub(crate) fn children_into(&self, out: &mut Vec<(u8, ChildRef<'a>)>) {
        match self {
            NodeView::Dirty(node) => {
                out.extend(node.iter().filter_map(|(index, slot)| match slot {
                    Slot::Child(child) => Some((index, ChildRef::from(child))),
                    Slot::Bucket(_) => None,
                }));
            }
            NodeView::Stored(node) => {
                out.extend(node.iter().filter_map(|(index, slot)| match slot {
                    StoredSlot::Child(cid) => Some((index, ChildRef::Stored(cid))),
                    StoredSlot::Bucket(_) => None,
                }));
            }
        }
    }

    /// The slot at `index`.
    pub(crate) fn slot(&self, index: u8) -> SlotView<'a> {
        match self {
            NodeView::Dirty(node) => match node.get(index) {
                None => SlotView::Empty,
                Some(Slot::Bucket(bucket)) => SlotView::Bucket(bucket.clone()),
                Some(Slot::Child(child)) => SlotView::Child(ChildRef::from(child)),
            },
            NodeView::Stored(node) => match node.get(index) {
                None => SlotView::Empty,
                Some(StoredSlot::Bucket(bucket)) => SlotView::Bucket(bucket.to_bucket()),
                Some(StoredSlot::Child(cid)) => SlotView::Child(ChildRef::Stored(cid)),
            },
        }
    }

    /// One step of looking up `key`, whose slot here is `index`.
    pub(crate) fn step(&self, index: u8, key: &str) -> Step<'a> {
        match self {
            NodeView::Dirty(node) => match node.get(index) {
                None => Step::Found(None),
                Some(Slot::Bucket(bucket)) => Step::Found(bucket.get(key)),
                Some(Slot::Child(child)) => Step::Descend(ChildRef::from(child)),
            },
            NodeView::Stored(node) => match node.get(index) {
                None => Step::Found(None),
                Some(StoredSlot::Bucket(bucket)) => Step::Found(bucket.get(key)),
                Some(StoredSlot::Child(cid)) => Step::Descend(ChildRef::Stored(cid)),
            },
        }
    }
}

/// A depth-first walk in slot order over the nodes of a (sub)tree, each
/// with its depth below the walk's start. Memory is the stack of siblings
/// not yet visited, bounded by depth × 256; stored nodes are checked
/// against their paths ([`Hamt::resolve_at`]), which bounds the work on a
/// hostile DAG too.
pub(crate) struct Walk<'a> {
    stack: Vec<(ChildRef<'a>, Path)>,
    children: Vec<(u8, ChildRef<'a>)>,
    start_depth: usize,
    /// Children from the last slot to the first (py-hamt's order).
    last_child_first: bool,
}

impl<'a> Walk<'a> {
    /// A walk of the whole tree from its root.
    pub(crate) fn new(root: ChildRef<'a>) -> Self {
        Walk::at(root, Path::default())
    }

    /// A walk of the subtree at `start`, reached by `path`.
    pub(crate) fn at(start: ChildRef<'a>, path: Path) -> Self {
        Walk {
            stack: vec![(start, path)],
            children: Vec::new(),
            start_depth: path.depth(),
            last_child_first: false,
        }
    }

    /// A walk visiting each node's children from the last slot to the first,
    /// as py-hamt's `_iter_nodes` does (its stack pops the last child pushed).
    pub(crate) fn last_child_first(root: ChildRef<'a>) -> Self {
        Walk {
            last_child_first: true,
            ..Walk::new(root)
        }
    }

    /// The next node and its depth, or `None` when every node was visited.
    pub(crate) async fn next<S: BlockStore>(
        &mut self,
        hamt: &Hamt<S>,
    ) -> Result<Option<(NodeView<'a>, usize)>, HamtError> {
        let Some((item, path)) = self.stack.pop() else {
            return Ok(None);
        };
        let view = hamt.resolve_at(item, path).await?;
        view.children_into(&mut self.children);
        let children = self
            .children
            .drain(..)
            .map(|(index, c)| (c, path.child(index)));
        if self.last_child_first {
            self.stack.extend(children);
        } else {
            // Reversed, so the first child is popped (visited) next.
            self.stack.extend(children.rev());
        }
        Ok(Some((view, path.depth() - self.start_depth)))
    }
}
