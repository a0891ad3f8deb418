//! What changed between two HAMTs, touching only the paths that differ.

use std::collections::{BTreeMap, VecDeque};

use futures::stream::{self, Stream};
use hamt_codec::Cid;
use hamt_store::BlockStore;

use crate::walk::{ChildRef, NodeView, Path, SlotView, Walk};
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

/// A pair of same-position subtrees still to compare, or entries to
/// compare, with the path to that position (stored nodes are checked
/// against it, see [`Hamt::resolve_at`]).
enum Work<'a, 'b> {
    Nodes(ChildRef<'a>, ChildRef<'b>, Path),
    /// A slot's content on each side: a subtree, a bucket, or nothing.
    Slots(SlotView<'a>, SlotView<'b>, Path),
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
            work: vec![Work::Nodes(
                self.root_ref(),
                new.root_ref(),
                Path::default(),
            )],
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
                    Work::Nodes(a, b, path) => {
                        if a.same_stored(b) {
                            continue;
                        }
                        let va = self.resolve_at(a, path).await?;
                        let vb = new.resolve_at(b, path).await?;
                        push_slot_pairs(&va, &vb, path, &mut state.work);
                    }
                    Work::Slots(a, b, path) => {
                        if let (SlotView::Child(x), SlotView::Child(y)) = (&a, &b) {
                            state.work.push(Work::Nodes(*x, *y, path));
                            continue;
                        }
                        let old = self.slot_entries(a, path).await?;
                        let new_entries = new.slot_entries(b, path).await?;
                        state.ready.extend(diff_entries(old, new_entries));
                    }
                }
            }
        })
    }

    /// Every entry under a slot (at `path`), by key.
    async fn slot_entries(
        &self,
        slot: SlotView<'_>,
        path: Path,
    ) -> Result<BTreeMap<String, Cid>, HamtError> {
        let mut out = BTreeMap::new();
        let root = match slot {
            SlotView::Empty => return Ok(out),
            SlotView::Bucket(bucket) => {
                out.extend(bucket.iter().map(|(k, l)| (k.to_owned(), l)));
                return Ok(out);
            }
            SlotView::Child(child) => child,
        };
        let mut walk = Walk::at(root, path);
        while let Some((node, _)) = walk.next(self).await? {
            node.for_each_entry(|key, link| {
                out.insert(key.to_owned(), link);
            });
        }
        Ok(out)
    }
}

/// Queues the comparison of every slot index where the two nodes differ.
fn push_slot_pairs<'a, 'b>(
    a: &NodeView<'a>,
    b: &NodeView<'b>,
    path: Path,
    work: &mut Vec<Work<'a, 'b>>,
) {
    for index in (0..=255u8).rev() {
        let (sa, sb) = (a.slot(index), b.slot(index));
        let unchanged = match (&sa, &sb) {
            (SlotView::Empty, SlotView::Empty) => true,
            (SlotView::Bucket(x), SlotView::Bucket(y)) => x == y,
            (SlotView::Child(x), SlotView::Child(y)) => x.same_stored(*y),
            _ => false,
        };
        if !unchanged {
            work.push(Work::Slots(sa, sb, path.child(index)));
        }
    }
}

/// The changes from `old` to `new`, two maps of keys to the links of their
/// values: removed and changed keys in key order, then the added ones in key
/// order. The one key-by-key comparison of the workspace (here under the
/// tree walk; whole listings in the sharded layout and the CLI).
pub fn diff_entries(old: BTreeMap<String, Cid>, mut new: BTreeMap<String, Cid>) -> Vec<Change> {
    let mut changes = Vec::new();
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
