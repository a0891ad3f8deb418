//! Reads byte ranges of UnixFS files, fetching only the blocks they need.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt, stream};
use hamt_codec::{BlockCodec, Cid};
use std::collections::HashMap;

use hamt_store::{Block, BlockStore, ByteRange, DagScope, Prefetched, StoreError};

use crate::error::{FileError, ReadError};
use crate::{CHUNK_SIZE, DataType, PbNode, UnixfsData};

/// Deepest file DAG read: 174^32 leaves is far past any real file, so a deeper
/// DAG is hostile or broken.
pub const MAX_DEPTH: usize = 32;

/// The most bytes [`read_file`] returns: a larger range is refused before
/// anything is allocated (1 GiB; [`read_file_limited`] takes another).
pub const DEFAULT_MAX_READ: u64 = 1 << 30;

/// Blocks fetched at once while reading a file.
const FETCH_CONCURRENCY: usize = 8;

/// A decoded file node: its own bytes, then its children with the file
/// bytes each holds (children holding no bytes are left out: they add
/// nothing to any read, and a node of many empty links repeated many times
/// must not cost work per link).
#[derive(Debug)]
struct FileNode {
    inline: Bytes,
    children: Vec<(Cid, u64)>,
    size: u64,
}

/// What a range needs of one distinct node at one level of the DAG,
/// relative to the node: all of it (some occurrence lies inside the range),
/// and the parts the range's two ends cut. Occurrences of different nodes
/// at one level are disjoint in the file, so at most two occurrences per
/// level are cut: a node linked many times is fetched once, and only the
/// children some occurrence needs are fetched.
#[derive(Debug, Clone)]
struct Need {
    len: u64,
    whole: bool,
    parts: Vec<Range<u64>>,
}

impl Need {
    fn new(len: u64) -> Self {
        Need {
            len,
            whole: false,
            parts: Vec::new(),
        }
    }

    /// Adds `part` (relative to the node, not empty).
    fn add(&mut self, part: Range<u64>) {
        if part.start == 0 && part.end >= self.len {
            self.whole = true;
        } else if !self.parts.contains(&part) {
            self.parts.push(part);
        }
    }

    /// The parts of the child at `offset` (relative to this node) of `len`
    /// bytes that are needed, relative to the child.
    fn of_child(&self, offset: u64, len: u64) -> impl Iterator<Item = Range<u64>> + '_ {
        let whole = self.whole.then_some(0..len);
        let parts = self
            .parts
            .iter()
            .filter(move |_| !self.whole)
            .filter_map(move |part| overlap(offset, len, part));
        whole.into_iter().chain(parts)
    }
}

/// The distinct blocks a range of a file needs, each fetched once.
#[derive(Default)]
struct Fetched {
    nodes: HashMap<Cid, FileNode>,
    leaves: HashMap<Cid, Bytes>,
}

/// The file size recorded in a UnixFS file root (a raw root is its own length).
pub async fn file_size<S: BlockStore + ?Sized>(store: &S, root: &Cid) -> Result<u64, ReadError> {
    if root.codec() == BlockCodec::Raw.code() {
        return Ok(hamt_store::block_size(store, root).await?);
    }
    Ok(fetch_node(store, root, root).await?.size)
}

/// Reads `range` of the UnixFS file rooted at `root` (a raw block, or a
/// dag-pb file DAG as [`crate::build_file`] or Kubo's `add` makes), reading
/// at most [`DEFAULT_MAX_READ`] bytes: [`read_file_limited`] with that limit.
///
/// ```
/// use hamt_unixfs::{put_file, read_file};
/// use hamt_store::{ByteRange, MemoryStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let data: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
/// let root = put_file(&store, data.clone().into()).await?;
/// let part = read_file(&store, &root, ByteRange::Slice { offset: 1_048_570, length: 10 }).await?;
/// assert_eq!(&part[..], &data[1_048_570..1_048_580]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn read_file<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    range: ByteRange,
) -> Result<Bytes, ReadError> {
    read_file_limited(store, root, range, DEFAULT_MAX_READ).await
}

/// Reads `range` of the UnixFS file rooted at `root`, refusing with
/// [`FileError::ReadTooLarge`] before allocating when the range holds more
/// than `max_bytes` (the file's size is what its root declares: a DAG may
/// declare any size, so the limit is what bounds a read's memory).
///
/// Only the blocks covering the range are fetched, each distinct block
/// once (a DAG linking one block many times costs one read of it), each
/// verified by the store; the DAG's sizes are checked against each other
/// and against the leaves. The work beyond the blocks fetched is
/// proportional to the bytes returned.
///
/// ```
/// use hamt_unixfs::{FileError, ReadError, put_file, read_file_limited};
/// use hamt_store::{ByteRange, MemoryStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let root = put_file(&store, vec![7u8; 3 << 20].into()).await?;
/// let head = ByteRange::Slice { offset: 0, length: 1 << 20 };
/// assert_eq!(read_file_limited(&store, &root, head, 1 << 20).await?.len(), 1 << 20);
/// let err = read_file_limited(&store, &root, ByteRange::Full, 1 << 20).await.unwrap_err();
/// assert!(matches!(err, ReadError::File { source, .. } if matches!(*source, FileError::ReadTooLarge { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn read_file_limited<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    range: ByteRange,
    max_bytes: u64,
) -> Result<Bytes, ReadError> {
    if root.codec() == BlockCodec::Raw.code() {
        // One block: the store's own block size limit bounds it.
        return Ok(hamt_store::read_block_range(store, root, range).await?);
    }
    if let Some(ahead) = fetch_range_ahead(store, root, range).await {
        return read_file_nodes(&Prefetched::new(ahead, store), root, range, max_bytes).await;
    }
    read_file_nodes(store, root, range, max_bytes).await
}

/// More than a range's own bytes a CAR of it may hold: the partial leaves
/// at its two ends and the nodes above them.
const RANGE_CAR_SLACK: usize = 2 * CHUNK_SIZE + (1 << 20);

/// The blocks a byte range of a file needs, in one request where the store
/// can send part of a DAG (a gateway's `entity-bytes` CAR): a range read
/// then costs one round trip instead of two (the root, then the leaves).
/// `None` where that cannot help: a store at hand, a range of unknown
/// length, a store that cannot, or any failure (the plain read follows; a
/// gateway that ignores the range and sends the whole file is cut off at
/// the range's length plus [`RANGE_CAR_SLACK`]).
async fn fetch_range_ahead<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    range: ByteRange,
) -> Option<Vec<Block>> {
    if store.blocking().is_some() {
        return None;
    }
    let len = match range {
        ByteRange::Slice { length, .. } => length,
        ByteRange::Suffix(n) => n,
        ByteRange::Full | ByteRange::From(_) => return None,
    };
    let max = usize::try_from(len).ok()?.checked_add(RANGE_CAR_SLACK)?;
    if len == 0 {
        return None;
    }
    let blocks = store
        .fetch_dag(root, DagScope::FileRange(range), max)
        .await
        .ok()??;
    (!blocks.is_empty()).then_some(blocks)
}

/// [`read_file`] of a dag-pb file: the root, then the distinct nodes
/// overlapping the range level by level, then the distinct leaves; then the
/// bytes are put together in file order.
async fn read_file_nodes<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    range: ByteRange,
    max_bytes: u64,
) -> Result<Bytes, ReadError> {
    let node = fetch_node(store, root, root).await?;
    let want = range.to_offset_range(node.size);
    let wanted = want.end - want.start;
    if wanted > max_bytes {
        let error = FileError::ReadTooLarge {
            size: wanted,
            max: max_bytes,
        };
        return Err(file_error(root, error));
    }
    let capacity =
        usize::try_from(wanted).map_err(|_| file_error(root, FileError::TooLarge(wanted)))?;
    if wanted == 0 {
        return Ok(Bytes::new());
    }
    let mut need = Need::new(node.size);
    need.add(want.clone());
    let mut fetched = Fetched::default();
    fetched.nodes.insert(*root, node);
    fetch_overlapping(store, root, need, &mut fetched).await?;
    let mut out = Assembly::new(capacity);
    assemble(&fetched, root, 0, &want, &mut out)?;
    Ok(out.finish())
}

/// Fetches every distinct node and leaf `root_need` (of the root) needs,
/// level by level (a level's nodes [`FETCH_CONCURRENCY`] at a time).
async fn fetch_overlapping<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    root_need: Need,
    fetched: &mut Fetched,
) -> Result<(), ReadError> {
    let mut level = HashMap::from([(*root, root_need)]);
    let mut leaves: HashMap<Cid, u64> = HashMap::new();
    for depth in 0..=MAX_DEPTH {
        let mut next: HashMap<Cid, Need> = HashMap::new();
        for (cid, need) in &level {
            let node = fetched.nodes.get(cid).ok_or(StoreError::NotFound(*cid))?;
            let mut relative = node.inline.len() as u64;
            for &(child, len) in &node.children {
                let mut parts = need.of_child(relative, len).peekable();
                if parts.peek().is_some() {
                    match BlockCodec::from_code(child.codec()) {
                        Some(BlockCodec::Raw) => merge_leaf(root, &mut leaves, child, len)?,
                        Some(BlockCodec::DagPb) => {
                            let child_need = next.entry(child).or_insert_with(|| Need::new(len));
                            check_len(root, child, child_need.len, len)?;
                            parts.for_each(|part| child_need.add(part));
                        }
                        _ => {
                            let codec = child.codec();
                            let error = FileError::UnsupportedCodec { cid: child, codec };
                            return Err(file_error(root, error));
                        }
                    }
                }
                relative = relative.saturating_add(len);
            }
        }
        if next.is_empty() {
            return fetch_leaves(store, root, leaves, fetched).await;
        }
        if depth == MAX_DEPTH {
            break;
        }
        let missing: Vec<(Cid, u64)> = next
            .iter()
            .filter(|(cid, _)| !fetched.nodes.contains_key(cid))
            .map(|(cid, need)| (*cid, need.len))
            .collect();
        let nodes: Vec<(Cid, FileNode)> = stream::iter(
            missing
                .into_iter()
                .map(|(cid, len)| fetch_child(store, root, cid, len)),
        )
        .buffer_unordered(FETCH_CONCURRENCY)
        .try_collect()
        .await?;
        fetched.nodes.extend(nodes);
        for (cid, need) in &next {
            // A node fetched at an earlier level is checked here against this level's length.
            check_len(
                root,
                *cid,
                need.len,
                fetched.nodes.get(cid).map_or(need.len, |n| n.size),
            )?;
        }
        level = next;
    }
    Err(file_error(
        root,
        FileError::TooDeep {
            cid: *root,
            max: MAX_DEPTH,
        },
    ))
}

/// Records that a range needs raw leaf `cid`, of `len` bytes by its parent.
fn merge_leaf(
    root: &Cid,
    leaves: &mut HashMap<Cid, u64>,
    cid: Cid,
    len: u64,
) -> Result<(), ReadError> {
    let expected = *leaves.entry(cid).or_insert(len);
    check_len(root, cid, expected, len)
}

/// One block must hold the same number of file bytes wherever it is linked.
fn check_len(root: &Cid, cid: Cid, expected: u64, actual: u64) -> Result<(), ReadError> {
    if expected == actual {
        return Ok(());
    }
    let error = FileError::SizeMismatch {
        cid,
        expected,
        actual,
    };
    Err(file_error(root, error))
}

/// Fetches each needed leaf once and checks its length.
async fn fetch_leaves<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    leaves: HashMap<Cid, u64>,
    fetched: &mut Fetched,
) -> Result<(), ReadError> {
    let read = |(cid, len): (Cid, u64)| async move {
        let bytes = hamt_store::read_block(store, &cid).await?;
        check_len(root, cid, len, bytes.len() as u64)?;
        Ok::<_, ReadError>((cid, bytes))
    };
    let leaves: Vec<(Cid, Bytes)> = stream::iter(leaves.into_iter().map(read))
        .buffer_unordered(FETCH_CONCURRENCY)
        .try_collect()
        .await?;
    fetched.leaves.extend(leaves);
    Ok(())
}

/// Copies the part of `want` under node `cid` (at file `offset`) into
/// `out`, depth first in file order. Every child visited adds at least one
/// byte, so the work is bounded by the bytes returned (plus the links of
/// the at most two nodes per level that the range's ends cut).
fn assemble(
    fetched: &Fetched,
    cid: &Cid,
    offset: u64,
    want: &Range<u64>,
    out: &mut Assembly,
) -> Result<(), ReadError> {
    // The fetch stopped at MAX_DEPTH, so every node visited here was fetched.
    let node = fetched.nodes.get(cid).ok_or(StoreError::NotFound(*cid))?;
    let inline_len = node.inline.len() as u64;
    if let Some(r) = overlap(offset, inline_len, want) {
        out.push(node.inline.slice(to_usize(r.start)..to_usize(r.end)));
    }
    let mut child_offset = offset.saturating_add(inline_len);
    for (child, len) in &node.children {
        if child_offset >= want.end {
            break;
        }
        if let Some(range) = overlap(child_offset, *len, want) {
            if child.codec() == BlockCodec::Raw.code() {
                let leaf = fetched
                    .leaves
                    .get(child)
                    .ok_or(StoreError::NotFound(*child))?;
                out.push(leaf.slice(to_usize(range.start)..to_usize(range.end)));
            } else {
                assemble(fetched, child, child_offset, want, out)?;
            }
        }
        child_offset = child_offset.saturating_add(*len);
    }
    Ok(())
}

/// The bytes of a read, put together: one piece is returned as it is (no
/// copy), more are copied into one buffer of the range's length.
enum Assembly {
    Empty { capacity: usize },
    One { bytes: Bytes, capacity: usize },
    Many(BytesMut),
}

impl Assembly {
    fn new(capacity: usize) -> Self {
        Assembly::Empty { capacity }
    }

    fn push(&mut self, piece: Bytes) {
        *self = match std::mem::replace(self, Assembly::Empty { capacity: 0 }) {
            Assembly::Empty { capacity } => Assembly::One {
                bytes: piece,
                capacity,
            },
            Assembly::One { bytes, capacity } => {
                let mut buffer = BytesMut::with_capacity(capacity);
                buffer.extend_from_slice(&bytes);
                buffer.extend_from_slice(&piece);
                Assembly::Many(buffer)
            }
            Assembly::Many(mut buffer) => {
                buffer.extend_from_slice(&piece);
                Assembly::Many(buffer)
            }
        };
    }

    fn finish(self) -> Bytes {
        match self {
            Assembly::Empty { .. } => Bytes::new(),
            Assembly::One { bytes, .. } => bytes,
            Assembly::Many(buffer) => buffer.freeze(),
        }
    }
}

/// The part of `[start, start + len)` inside `want`, relative to `start`.
fn overlap(start: u64, len: u64, want: &Range<u64>) -> Option<Range<u64>> {
    let lo = start.max(want.start);
    let hi = start.saturating_add(len).min(want.end);
    (lo < hi).then(|| lo - start..hi - start)
}

/// Offsets inside a block already in memory always fit `usize`.
fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

async fn fetch_child<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    cid: Cid,
    len: u64,
) -> Result<(Cid, FileNode), ReadError> {
    let node = fetch_node(store, root, &cid).await?;
    check_len(root, cid, len, node.size)?;
    Ok((cid, node))
}

async fn fetch_node<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    cid: &Cid,
) -> Result<FileNode, ReadError> {
    let bytes = hamt_store::read_block(store, cid).await?;
    decode_file_node(cid, &bytes).map_err(|e| file_error(root, *e))
}

/// Decodes a dag-pb UnixFS file node and checks its sizes add up.
fn decode_file_node(cid: &Cid, bytes: &Bytes) -> Result<FileNode, Box<FileError>> {
    let decode = |source| FileError::Decode { cid: *cid, source };
    let node = PbNode::decode(bytes).map_err(|e| Box::new(decode(e)))?;
    let data =
        UnixfsData::decode(&node.data.unwrap_or_default()).map_err(|e| Box::new(decode(e)))?;
    if !matches!(data.data_type, DataType::File | DataType::Raw) {
        return Err(Box::new(FileError::NotAFile {
            cid: *cid,
            kind: data.data_type,
        }));
    }
    if node.links.len() != data.blocksizes.len() {
        return Err(Box::new(FileError::BlocksizesMismatch {
            cid: *cid,
            links: node.links.len(),
            blocksizes: data.blocksizes.len(),
        }));
    }
    let inline = data.data.unwrap_or_default();
    let size = data
        .blocksizes
        .iter()
        .try_fold(inline.len() as u64, |sum, &b| sum.checked_add(b))
        .ok_or_else(|| Box::new(FileError::TooLarge(u64::MAX)))?;
    if let Some(filesize) = data.filesize.filter(|&f| f != size) {
        return Err(Box::new(FileError::SizeMismatch {
            cid: *cid,
            expected: filesize,
            actual: size,
        }));
    }
    let mut children = Vec::with_capacity(node.links.len());
    for (link, len) in node.links.into_iter().zip(data.blocksizes) {
        // A link's Tsize counts every byte of the blocks under it, so it
        // can never be less than the file bytes they hold.
        if let Some(tsize) = link.tsize.filter(|&t| t > 0 && t < len) {
            return Err(Box::new(FileError::SizeMismatch {
                cid: link.cid,
                expected: len,
                actual: tsize,
            }));
        }
        if len > 0 {
            children.push((link.cid, len));
        }
    }
    Ok(FileNode {
        inline,
        children,
        size,
    })
}

fn file_error(root: &Cid, error: FileError) -> ReadError {
    ReadError::File {
        root: *root,
        source: Box::new(error),
    }
}
