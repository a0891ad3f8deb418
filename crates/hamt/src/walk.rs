//! Nodes as reads see them, and the one depth-first walk every whole-tree
//! read (`len`, `links`, `stats`, `diff`) runs on.
//!
//! A node is either in the write tree (changed since the last flush) or
//! stored. [`ChildRef`] is a child still to visit, [`NodeView`] a node in
//! hand: each piece of slot logic is written once here, for both kinds.

use std::sync::Arc;

use hamt_codec::{Bucket, Cid, Slot, StoredNode, StoredSlot};
use hamt_store::BlockStore;

use crate::tree::{Child, DirtyNode};
use crate::{Hamt, HamtError};

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

    /// Appends the children in slot order.
    pub(crate) fn children_into(&self, out: &mut Vec<ChildRef<'a>>) {
        match self {
            NodeView::Dirty(node) => out.extend(node.iter().filter_map(|(_, slot)| match slot {
                Slot::Child(child) => Some(ChildRef::from(child)),
                Slot::Bucket(_) => None,
            })),
            NodeView::Stored(node) => out.extend(node.children().map(ChildRef::Stored)),
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
/// not yet visited, bounded by depth × 256.
pub(crate) struct Walk<'a> {
    stack: Vec<(ChildRef<'a>, usize)>,
    children: Vec<ChildRef<'a>>,
    /// Children from the last slot to the first (py-hamt's order).
    last_child_first: bool,
}

impl<'a> Walk<'a> {
    /// A walk starting at `start` (depth 0).
    pub(crate) fn new(start: ChildRef<'a>) -> Self {
        Walk {
            stack: vec![(start, 0)],
            children: Vec::new(),
            last_child_first: false,
        }
    }

    /// A walk visiting each node's children from the last slot to the first,
    /// as py-hamt's `_iter_nodes` does (its stack pops the last child pushed).
    pub(crate) fn last_child_first(start: ChildRef<'a>) -> Self {
        Walk {
            last_child_first: true,
            ..Walk::new(start)
        }
    }

    /// The next node and its depth, or `None` when every node was visited.
    pub(crate) async fn next<S: BlockStore>(
        &mut self,
        hamt: &Hamt<S>,
    ) -> Result<Option<(NodeView<'a>, usize)>, HamtError> {
        let Some((item, depth)) = self.stack.pop() else {
            return Ok(None);
        };
        let view = hamt.resolve(item).await?;
        view.children_into(&mut self.children);
        if self.last_child_first {
            self.stack
                .extend(self.children.drain(..).map(|c| (c, depth + 1)));
        } else {
            // Reversed, so the first child is popped (visited) next.
            self.stack
                .extend(self.children.drain(..).rev().map(|c| (c, depth + 1)));
        }
        Ok(Some((view, depth)))
    }
}
