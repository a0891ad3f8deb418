//! What changed between two HAMTs, touching only the paths that differ.

use std::collections::{BTreeMap, VecDeque};

use futures::stream::{self, Stream};
use hamt_codec::{Cid, Slot};
use hamt_store::BlockStore;

use crate::hamt::{ChildRef, NodeView};
use crate::tree::Child;
use crate::{Hamt, HamtError};

/// One difference between two maps, as value links.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// The key is only in the new map.
    Added {
        /// The key.
        key: String,
        /// Its value link in the new map.
        link: Cid,
    },
    /// The key is only in the old map.
    Removed {
        /// The key.
        key: String,
        /// Its value link in the old map.
        link: Cid,
    },
    /// The key is in both with different values.
    Changed {
        /// The key.
        key: String,
        /// Its value link in the old map.
        old: Cid,
        /// Its value link in the new map.
        new: Cid,
    },
}

impl Change {
    /// The key that changed.
    pub fn key(&self) -> &str {
        match self {
            Change::Added { key, .. }
            | Change::Removed { key, .. }
            | Change::Changed { key, .. } => key,
        }
    }
}

/// A pair of same-position subtrees still to compare, or entries to compare.
enum Work<'a, 'b> {
    Nodes(ChildRef<'a>, ChildRef<'b>),
    /// A slot's content on each side: a subtree, a bucket, or nothing.
    Slots(SlotRef<'a>, SlotRef<'b>),
}

enum SlotRef<'a> {
    Empty,
    /// A copy: a stored node's bucket lives behind an `Arc` that cannot be lent out.
    Bucket(hamt_codec::Bucket),
    Subtree(ChildRef<'a>),
}

impl<S: BlockStore> Hamt<S> {
    /// The changes from `self` (old) to `new`, as a stream: subtrees whose
    /// CID is the same on both sides are skipped without being read, so two
    /// versions of a large map that differ in a few keys cost only the paths
    /// to those keys. Both maps must use the same key hasher. Changes come in
    /// hash order, each key once.
    ///
    /// ```
    /// # use hamt::{Hamt, HamtConfig, diff::Change}; use hamt_store::MemoryStore; use std::sync::Arc;
    /// use futures::TryStreamExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let mut old = Hamt::new(store.clone(), HamtConfig::default());
    /// old.insert("a", b"1".to_vec()).await?;
    /// old.insert("b", b"2".to_vec()).await?;
    /// old.flush().await?;
    /// let mut new = Hamt::open(store, old.flush().await?, HamtConfig::default()).await?;
    /// new.insert("b", b"3".to_vec()).await?;
    /// new.insert("c", b"4".to_vec()).await?;
    /// let changes: Vec<Change> = old.diff(&new).try_collect().await?;
    /// let keys: Vec<&str> = changes.iter().map(Change::key).collect();
    /// assert_eq!(changes.len(), 2);
    /// # Ok::<(), hamt::HamtError>(()) }).unwrap();
    /// ```
    pub fn diff<'a, T: BlockStore>(
        &'a self,
        new: &'a Hamt<T>,
    ) -> impl Stream<Item = Result<Change, HamtError>> + Send + 'a {
        struct State<'a, 'b> {
            work: Vec<Work<'a, 'b>>,
            ready: VecDeque<Change>,
        }
        let start = State {
            work: vec![Work::Nodes(self.root_ref(), new.root_ref())],
            ready: VecDeque::new(),
        };
        stream::try_unfold(start, move |mut state| async move {
            loop {
                if let Some(change) = state.ready.pop_front() {
                    return Ok(Some((change, state)));
                }
                let Some(work) = state.work.pop() else {
                    return Ok(None);
                };
                match work {
                    Work::Nodes(a, b) => {
                        if same_stored(a, b) {
                            continue;
                        }
                        let (va, vb) = (self.resolve(a).await?, new.resolve(b).await?);
                        push_slot_pairs(&va, &vb, &mut state.work);
                    }
                    Work::Slots(a, b) => {
                        if let (SlotRef::Subtree(x), SlotRef::Subtree(y)) = (&a, &b) {
                            state.work.push(Work::Nodes(*x, *y));
                            continue;
                        }
                        let old = self.slot_entries(a).await?;
                        let new_entries = new.slot_entries(b).await?;
                        state.ready.extend(compare_entries(old, new_entries));
                    }
                }
            }
        })
    }

    /// Every entry under a slot, by key.
    async fn slot_entries(&self, slot: SlotRef<'_>) -> Result<BTreeMap<String, Cid>, HamtError> {
        let mut out = BTreeMap::new();
        let root = match slot {
            SlotRef::Empty => return Ok(out),
            SlotRef::Bucket(bucket) => {
                out.extend(bucket.iter().map(|(k, l)| (k.to_owned(), *l)));
                return Ok(out);
            }
            SlotRef::Subtree(child) => child,
        };
        let mut stack = vec![root];
        while let Some(item) = stack.pop() {
            let view = self.resolve(item).await?;
            crate::hamt::for_each_bucket(&view, |b| {
                out.extend(b.iter().map(|(k, l)| (k.to_owned(), *l)));
            });
            crate::hamt::push_children(&view, &mut stack);
        }
        Ok(out)
    }
}

fn same_stored(a: ChildRef<'_>, b: ChildRef<'_>) -> bool {
    matches!((a, b), (ChildRef::Stored(x), ChildRef::Stored(y)) if x == y)
}

/// Queues the comparison of every slot index where the two nodes differ.
fn push_slot_pairs<'a, 'b>(a: &NodeView<'a>, b: &NodeView<'b>, work: &mut Vec<Work<'a, 'b>>) {
    for index in (0..=255u8).rev() {
        let (sa, sb) = (slot_ref(a, index), slot_ref(b, index));
        let unchanged = match (&sa, &sb) {
            (SlotRef::Empty, SlotRef::Empty) => true,
            (SlotRef::Bucket(x), SlotRef::Bucket(y)) => x == y,
            (SlotRef::Subtree(x), SlotRef::Subtree(y)) => same_stored(*x, *y),
            _ => false,
        };
        if !unchanged {
            work.push(Work::Slots(sa, sb));
        }
    }
}

fn slot_ref<'a>(view: &NodeView<'a>, index: u8) -> SlotRef<'a> {
    match view {
        NodeView::Dirty(node) => match node.get(index) {
            None => SlotRef::Empty,
            Some(Slot::Bucket(b)) => SlotRef::Bucket(b.clone()),
            Some(Slot::Child(Child::Dirty(n))) => SlotRef::Subtree(ChildRef::Dirty(n)),
            Some(Slot::Child(Child::Stored(cid))) => SlotRef::Subtree(ChildRef::Stored(**cid)),
        },
        NodeView::Stored(node) => match node.get(index) {
            None => SlotRef::Empty,
            Some(Slot::Bucket(b)) => SlotRef::Bucket(b.clone()),
            Some(Slot::Child(cid)) => SlotRef::Subtree(ChildRef::Stored(*cid)),
        },
    }
}

fn compare_entries(old: BTreeMap<String, Cid>, new: BTreeMap<String, Cid>) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut new = new;
    for (key, link) in old {
        match new.remove(&key) {
            None => changes.push(Change::Removed { key, link }),
            Some(other) if other != link => changes.push(Change::Changed {
                key,
                old: link,
                new: other,
            }),
            Some(_) => {}
        }
    }
    changes.extend(
        new.into_iter()
            .map(|(key, link)| Change::Added { key, link }),
    );
    changes
}
