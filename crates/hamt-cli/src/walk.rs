//! What the walk over every block a dataset root reaches knows about each
//! block, for either layout: HAMT nodes, or a sharded store's manifest and
//! shards; value blocks, and the dag-pb nodes and leaves of UnixFS values.
//! `verify`, `stat`, `car export` and `car import`'s completeness check
//! share it. The walk itself (depth first, batches of concurrent reads, each
//! block once) is `hamt_store::dag::DagWalk`; this module gives it the
//! layout's view of which links are nodes, shards and values, and names
//! where each block sits (a value by its key).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use hamt_codec::{BlockCodec, Cid, StoredNode, StoredSlot, dagpb, link_list};
use hamt_sharded::{ArrayIndex, ShardedConfig, ShardedMap, format_chunk_key};
use hamt_store::dag::{self, Links, VisitError};
use hamt_store::{BlockStore, StoreError};
use hamt_zarr::{LayoutKind, layout_of};

/// The largest bucket accepted when decoding a node (as `HamtConfig`'s default read bound).
const MAX_READ_BUCKET: usize = 1024;

/// What a block is in the DAG, which says how to find its links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// A HAMT node (dag-cbor).
    Node,
    /// A sharded store's root manifest.
    Manifest,
    /// A sharded store's shard: the chunk CIDs of a run of chunks.
    Shard,
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

/// The walk over every block `root` (a HAMT root node or a sharded
/// manifest) reaches, each tagged with what it is in the dataset.
pub(crate) struct DatasetWalk<'a> {
    walk: dag::DagWalk<'a, dyn BlockStore + 'a, DatasetLinks, Tag>,
    /// A sharded store, to read the chunk links of shards stored as UnixFS
    /// files (their dag-pb blocks link only the file's parts).
    sharded: Option<(ShardedMap<&'a dyn BlockStore>, Arc<ManifestLinks>)>,
}

impl<'a> DatasetWalk<'a> {
    /// A walk from `root`, whose layout is read first. A root that cannot be
    /// read is walked as a HAMT node (the walk reports it missing or
    /// corrupt); a manifest that does not open is reported undecodable.
    pub(crate) async fn open(store: &'a dyn BlockStore, root: Cid) -> Self {
        let mut sharded = None;
        let (links, tag) = match layout_of(store, &root).await {
            Ok(LayoutKind::Sharded) => {
                let manifest = match ShardedMap::open(store, root, ShardedConfig::default()).await {
                    Ok(map) => {
                        let links = Arc::new(ManifestLinks::of(&map));
                        sharded = Some((map, links.clone()));
                        Ok(links)
                    }
                    Err(e) => Err(Problem::Undecodable(format!("not a sharded manifest: {e}"))),
                };
                (
                    DatasetLinks::Sharded(manifest),
                    (BlockKind::Manifest, "root manifest".into()),
                )
            }
            _ => (DatasetLinks::Hamt, (BlockKind::Node, "root node".into())),
        };
        let mut walk = dag::DagWalk::new(store, links);
        walk.add_root(root, tag);
        DatasetWalk { walk, sharded }
    }

    /// The next blocks in walk order (read concurrently), or `None` at the end.
    pub(crate) async fn next_batch(&mut self) -> Option<Vec<Visited>> {
        let batch = self.walk.next_batch().await?;
        let mut visited: Vec<Visited> = batch
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
            .collect();
        // A shard stored as a file: its chunks, read through the store's
        // bounded shard reader, join the walk (one shard at a time).
        if let Some((map, manifest)) = &self.sharded {
            for block in &mut visited {
                let file_shard = block.kind == BlockKind::Shard
                    && block.cid.codec() == BlockCodec::DagPb.code()
                    && block.data.is_ok();
                let Some((path, number)) = manifest.places.get(&block.cid).filter(|_| file_shard)
                else {
                    continue;
                };
                match map.shard_links(path, *number).await {
                    Ok(chunks) => {
                        for (key, chunk) in chunks {
                            self.walk.add_root(chunk, (BlockKind::Value, key.into()));
                        }
                    }
                    Err(e) => {
                        block.data =
                            Err(Problem::Undecodable(format!("not a readable shard: {e}")));
                    }
                }
            }
        }
        Some(visited)
    }
}

/// The links of a block, by what it is in the dataset: a node's children
/// and values, a manifest's metadata values and shards, a shard's chunks, a
/// UnixFS node's parts, nothing for raw blocks.
enum DatasetLinks {
    Hamt,
    /// The opened manifest's links, or why it did not open.
    Sharded(Result<Arc<ManifestLinks>, Problem>),
}

/// What a sharded store's manifest links to, read from the opened store
/// (the walk's own read of the manifest block only checks it).
struct ManifestLinks {
    /// Metadata keys and their values.
    metadata: Vec<(Cid, Tag)>,
    /// Each shard, tagged with its place.
    shards: Vec<(Cid, Tag)>,
    /// A shard's array and number (the first place a shard's CID has), to
    /// name its chunks by key.
    places: HashMap<Cid, (String, u64)>,
    arrays: HashMap<String, ArrayIndex>,
}

impl ManifestLinks {
    fn of<S>(map: &ShardedMap<S>) -> Self {
        let metadata = map
            .metadata()
            .iter()
            .map(|(key, cid)| (*cid, (BlockKind::Value, key.as_str().into())))
            .collect();
        let (mut shards, mut places, mut arrays) = (Vec::new(), HashMap::new(), HashMap::new());
        for (path, index) in map.arrays() {
            for (number, cid) in index.shard_cids().iter().enumerate() {
                let Some(cid) = cid else { continue };
                let place: Arc<str> = format!("shard {number} of array {path:?}").into();
                shards.push((*cid, (BlockKind::Shard, place)));
                places.entry(*cid).or_insert((path.clone(), number as u64));
            }
            arrays.insert(path, index);
        }
        ManifestLinks {
            metadata,
            shards,
            places,
            arrays,
        }
    }

    /// A shard block's chunk links, each tagged with its chunk key (every
    /// link is followed, even one past the grid's end).
    fn chunks(&self, cid: &Cid, data: &Bytes, out: &mut Vec<(Cid, Tag)>) -> Result<(), Problem> {
        let Some((path, number)) = self.places.get(cid) else {
            return Ok(());
        };
        let Some(index) = self.arrays.get(path) else {
            return Ok(());
        };
        let per_shard = index.chunks_per_shard();
        let entries = link_list::decode(data, per_shard).map_err(|e| {
            Problem::Undecodable(format!("not a shard of {per_shard} entries: {e}"))
        })?;
        for (slot, entry) in entries.iter().enumerate() {
            let Some(chunk) = entry else { continue };
            let linear = number * per_shard + slot as u64;
            let key = if linear < index.total_chunks() {
                format_chunk_key(path, &index.coords_of(linear))
            } else {
                format!("slot {slot} of shard {number} of array {path:?}, past the grid")
            };
            out.push((*chunk, (BlockKind::Value, key.into())));
        }
        Ok(())
    }
}

impl Links<Tag> for DatasetLinks {
    type Error = Problem;

    fn links(
        &mut self,
        cid: &Cid,
        (kind, path): &Tag,
        data: &Bytes,
        out: &mut Vec<(Cid, Tag)>,
    ) -> Result<(), Problem> {
        let codec = BlockCodec::from_code(cid.codec());
        match (kind, codec) {
            (BlockKind::Node, _) => node_children(path, data, out),
            (BlockKind::Manifest, _) => match self {
                DatasetLinks::Sharded(Ok(manifest)) => {
                    if codec == Some(BlockCodec::DagPb) {
                        // A manifest over 1 MiB: a UnixFS file, its parts too.
                        file_parts(data, &"part of the root manifest".into(), out)?;
                    }
                    out.extend(manifest.metadata.iter().cloned());
                    out.extend(manifest.shards.iter().cloned());
                    Ok(())
                }
                DatasetLinks::Sharded(Err(problem)) => Err(problem.clone()),
                DatasetLinks::Hamt => Ok(()),
            },
            // A shard over 1 MiB is a file: its parts here, its chunks from
            // `DatasetWalk::next_batch`.
            (BlockKind::Shard, Some(BlockCodec::DagPb)) => {
                file_parts(data, &format!("part of {path}").into(), out)
            }
            (BlockKind::Shard, _) => match self {
                DatasetLinks::Sharded(Ok(manifest)) => manifest.chunks(cid, data, out),
                _ => Ok(()),
            },
            (_, Some(BlockCodec::DagPb)) => file_parts(data, path, out),
            _ => Ok(()),
        }
    }
}

/// The parts of a UnixFS file's dag-pb node, each tagged with `place`.
fn file_parts(data: &Bytes, place: &Arc<str>, out: &mut Vec<(Cid, Tag)>) -> Result<(), Problem> {
    let links = dagpb::dag_pb_links(data)
        .map_err(|e| Problem::Undecodable(format!("not a dag-pb node: {e}")))?;
    out.extend(
        links
            .into_iter()
            .map(|cid| (cid, (BlockKind::FilePart, place.clone()))),
    );
    Ok(())
}

fn node_children(path: &str, data: &Bytes, out: &mut Vec<(Cid, Tag)>) -> Result<(), Problem> {
    let node = StoredNode::decode(data, MAX_READ_BUCKET)
        .map_err(|e| Problem::Undecodable(format!("not a HAMT node: {e}")))?;
    for (index, slot) in node.iter() {
        match slot {
            StoredSlot::Bucket(bucket) => out.extend(
                bucket
                    .iter()
                    .map(|(key, link)| (link, (BlockKind::Value, key.into()))),
            ),
            StoredSlot::Child(cid) => {
                out.push((cid, (BlockKind::Node, child_path(path, index).into())));
            }
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
