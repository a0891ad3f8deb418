//! A walk over every block a HAMT root reaches: HAMT nodes, value blocks, and
//! the dag-pb nodes and leaves of UnixFS values. `verify`, `stat`, `car
//! export` and `car import`'s completeness check share it.
//!
//! The walk is depth first over an explicit stack, reading a batch of blocks
//! at once; memory is bounded by the stack (about depth x 256 x bucket size
//! entries), not by the size of the map, and the order is deterministic.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use hamt_codec::{BlockCodec, Cid, Node, Slot};
use hamt_store::{BlockStore, StoreError};

/// Blocks read concurrently.
const BATCH: usize = 32;

/// The largest bucket accepted when decoding a node (as `HamtConfig`'s default read bound).
const MAX_READ_BUCKET: usize = 1024;

/// What a block is in the DAG, which says how to find its links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// A HAMT node (dag-cbor).
    Node,
    /// A value: a raw block, or the root of a UnixFS file (dag-pb).
    Value,
    /// A block inside a UnixFS file: an inner dag-pb node or a raw leaf.
    FilePart,
}

/// Why a reachable block could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    Missing,
    Corrupt,
    /// Present and hashing right, but not a valid node of its kind.
    Undecodable(String),
    /// The store failed (I/O, network): neither missing nor corrupt is known.
    Unreadable(String),
}

impl Problem {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::Corrupt => "corrupt",
            Problem::Undecodable(_) => "undecodable",
            Problem::Unreadable(_) => "unreadable",
        }
    }

    pub(crate) fn detail(&self) -> Option<&str> {
        match self {
            Problem::Missing | Problem::Corrupt => None,
            Problem::Undecodable(d) | Problem::Unreadable(d) => Some(d),
        }
    }
}

/// A block the walk reached.
#[derive(Debug)]
pub(crate) struct Visited {
    pub(crate) cid: Cid,
    pub(crate) kind: BlockKind,
    /// Where it is: the key for values and their file parts, the slot path for nodes.
    pub(crate) path: Arc<str>,
    /// The verified bytes, or what was wrong.
    pub(crate) data: Result<Bytes, Problem>,
}

struct Pending {
    cid: Cid,
    kind: BlockKind,
    path: Arc<str>,
}

/// The walk's state: blocks still to read, and blocks already seen (each is visited once).
pub(crate) struct DagWalk<'a> {
    store: &'a dyn BlockStore,
    stack: Vec<Pending>,
    seen: HashSet<Cid>,
}

impl<'a> DagWalk<'a> {
    pub(crate) fn new(store: &'a dyn BlockStore, root: Cid) -> Self {
        let mut seen = HashSet::new();
        seen.insert(root);
        DagWalk {
            store,
            stack: vec![Pending {
                cid: root,
                kind: BlockKind::Node,
                path: "root node".into(),
            }],
            seen,
        }
    }

    /// The next blocks in walk order (read concurrently), or `None` at the end.
    pub(crate) async fn next_batch(&mut self) -> Option<Vec<Visited>> {
        if self.stack.is_empty() {
            return None;
        }
        let take = self.stack.len().min(BATCH);
        let mut batch: Vec<Pending> = self.stack.drain(self.stack.len() - take..).collect();
        batch.reverse();
        let store = self.store;
        let mut visited: Vec<Visited> = stream::iter(batch)
            .map(|item| async move {
                let data = store.get(&item.cid).await.map_err(|e| classify(&e));
                Visited {
                    cid: item.cid,
                    kind: item.kind,
                    path: item.path,
                    data,
                }
            })
            .buffered(BATCH)
            .collect()
            .await;
        // Children go on the stack in reverse, so the first child is visited next.
        for item in visited.iter_mut().rev() {
            let Ok(data) = &item.data else { continue };
            match children(item, data) {
                Ok(children) => self.push_new(children),
                Err(problem) => item.data = Err(problem),
            }
        }
        Some(visited)
    }

    fn push_new(&mut self, children: Vec<Pending>) {
        for child in children.into_iter().rev() {
            if self.seen.insert(child.cid) {
                self.stack.push(child);
            }
        }
    }
}

/// The blocks `item` links to, by what it is.
fn children(item: &Visited, data: &Bytes) -> Result<Vec<Pending>, Problem> {
    match (item.kind, BlockCodec::from_code(item.cid.codec())) {
        (BlockKind::Node, _) => node_children(&item.path, data),
        (_, Some(BlockCodec::DagPb)) => {
            let links = hamt_unixfs::dag_pb_links(data)
                .map_err(|e| Problem::Undecodable(format!("not a dag-pb node: {e}")))?;
            Ok(links
                .into_iter()
                .map(|cid| Pending {
                    cid,
                    kind: BlockKind::FilePart,
                    path: item.path.clone(),
                })
                .collect())
        }
        _ => Ok(Vec::new()),
    }
}

fn node_children(path: &str, data: &Bytes) -> Result<Vec<Pending>, Problem> {
    let node = Node::decode(data, MAX_READ_BUCKET)
        .map_err(|e| Problem::Undecodable(format!("not a HAMT node: {e}")))?;
    let mut children = Vec::new();
    for (index, slot) in node.iter() {
        match slot {
            Slot::Bucket(bucket) => children.extend(bucket.iter().map(|(key, link)| Pending {
                cid: *link,
                kind: BlockKind::Value,
                path: key.into(),
            })),
            Slot::Child(cid) => children.push(Pending {
                cid: *cid,
                kind: BlockKind::Node,
                path: child_path(path, index).into(),
            }),
        }
    }
    Ok(children)
}

/// "root node" → "node at slots 12", → "node at slots 12/200".
fn child_path(parent: &str, index: u8) -> String {
    match parent.strip_prefix("node at slots ") {
        Some(slots) => format!("node at slots {slots}/{index}"),
        None => format!("node at slots {index}"),
    }
}

fn classify(error: &StoreError) -> Problem {
    match error {
        StoreError::NotFound(_) => Problem::Missing,
        StoreError::Corrupt { .. } => Problem::Corrupt,
        other => Problem::Unreadable(other.to_string()),
    }
}
