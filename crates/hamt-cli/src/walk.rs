//! What the walk over every block a HAMT root reaches knows about each
//! block: HAMT nodes, value blocks, and the dag-pb nodes and leaves of
//! UnixFS values. `verify`, `stat`, `car export` and `car import`'s
//! completeness check share it. The walk itself (depth first, batches of
//! concurrent reads, each block once) is `hamt_store::dag::DagWalk`; this
//! module gives it the HAMT's view of which links are nodes and which are
//! values, and names where each block sits.

use std::sync::Arc;

use bytes::Bytes;
use hamt_codec::{BlockCodec, Cid, Node, Slot, dagpb};
use hamt_store::dag::{self, Links, VisitError};
use hamt_store::{BlockStore, StoreError};

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

/// What the walk knows of a block before reading it.
type Tag = (BlockKind, Arc<str>);

/// The walk over every block `root` (a HAMT root node) reaches, each tagged
/// with what it is in the HAMT.
pub(crate) struct HamtWalk<'a> {
    walk: dag::DagWalk<'a, dyn BlockStore + 'a, HamtLinks, Tag>,
}

impl<'a> HamtWalk<'a> {
    pub(crate) fn new(store: &'a dyn BlockStore, root: Cid) -> Self {
        let mut walk = dag::DagWalk::new(store, HamtLinks);
        walk.add_root(root, (BlockKind::Node, "root node".into()));
        HamtWalk { walk }
    }

    /// The next blocks in walk order (read concurrently), or `None` at the end.
    pub(crate) async fn next_batch(&mut self) -> Option<Vec<Visited>> {
        let batch = self.walk.next_batch().await?;
        Some(
            batch
                .into_iter()
                .map(|visit| {
                    let (kind, path) = visit.tag;
                    let data = match visit.result {
                        Ok(Some(data)) => Ok(data),
                        // Only a walk that skips reading leaves gives no bytes; this one reads all.
                        Ok(None) => Err(Problem::Unreadable("the walk did not read it".into())),
                        Err(VisitError::Store(error)) => Err(classify(&error)),
                        Err(VisitError::Links(problem)) => Err(problem),
                    };
                    Visited {
                        cid: visit.cid,
                        kind,
                        path,
                        data,
                    }
                })
                .collect(),
        )
    }
}

/// The links of a block, by what it is in the HAMT: a node's children and
/// values, a UnixFS node's parts, nothing for raw blocks.
struct HamtLinks;

impl Links<Tag> for HamtLinks {
    type Error = Problem;

    fn links(
        &mut self,
        cid: &Cid,
        (kind, path): &Tag,
        data: &Bytes,
        out: &mut Vec<(Cid, Tag)>,
    ) -> Result<(), Problem> {
        match (kind, BlockCodec::from_code(cid.codec())) {
            (BlockKind::Node, _) => node_children(path, data, out),
            (_, Some(BlockCodec::DagPb)) => {
                let links = dagpb::dag_pb_links(data)
                    .map_err(|e| Problem::Undecodable(format!("not a dag-pb node: {e}")))?;
                out.extend(
                    links
                        .into_iter()
                        .map(|cid| (cid, (BlockKind::FilePart, path.clone()))),
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn node_children(path: &str, data: &Bytes, out: &mut Vec<(Cid, Tag)>) -> Result<(), Problem> {
    let node = Node::decode(data, MAX_READ_BUCKET)
        .map_err(|e| Problem::Undecodable(format!("not a HAMT node: {e}")))?;
    for (index, slot) in node.iter() {
        match slot {
            Slot::Bucket(bucket) => out.extend(
                bucket
                    .iter()
                    .map(|(key, link)| (*link, (BlockKind::Value, key.into()))),
            ),
            Slot::Child(cid) => out.push((*cid, (BlockKind::Node, child_path(path, index).into()))),
        }
    }
    Ok(())
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
