//! Reads byte ranges of UnixFS files, fetching only the blocks they need.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt, stream};
use hamt_codec::{BlockCodec, Cid};
use hamt_store::{Block, BlockStore, ByteRange, DagScope, Prefetched};

use crate::error::{FileError, ReadError};
use crate::{CHUNK_SIZE, DataType, PbNode, UnixfsData};

/// Deepest file DAG read: 174^32 leaves is far past any real file, so a deeper
/// DAG is hostile or broken.
pub const MAX_DEPTH: usize = 32;

/// Blocks fetched at once while reading a file.
const FETCH_CONCURRENCY: usize = 8;

/// A decoded file node: its own bytes, then its children with the file bytes each holds.
#[derive(Debug)]
struct FileNode {
    inline: Bytes,
    children: Vec<(Cid, u64)>,
    size: u64,
}

/// Where a wanted part of the file comes from.
enum Piece {
    /// Bytes already at hand (data inside a dag-pb node).
    Inline(Bytes),
    /// `range` of raw leaf `cid`, which must hold `len` bytes.
    Leaf {
        cid: Cid,
        len: u64,
        range: Range<u64>,
    },
}

/// A dag-pb node still to fetch: its CID, its file offset and the bytes its parent says it holds.
struct Pending {
    cid: Cid,
    offset: u64,
    len: u64,
}

/// The file size recorded in a UnixFS file root (a raw root is its own length).
pub async fn file_size<S: BlockStore + ?Sized>(store: &S, root: &Cid) -> Result<u64, ReadError> {
    if root.codec() == BlockCodec::Raw.code() {
        return Ok(hamt_store::block_size(store, root).await?);
    }
    Ok(fetch_node(store, root, root).await?.size)
}

/// Reads `range` of the UnixFS file rooted at `root` (a raw block, or a
/// dag-pb file DAG as [`crate::build_file`] or Kubo's `add` makes). Only the
/// blocks covering the range are fetched, each verified by the store; the
/// DAG's sizes are checked against each other and against the leaves.
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
    if root.codec() == BlockCodec::Raw.code() {
        return Ok(hamt_store::read_block_range(store, root, range).await?);
    }
    if let Some(ahead) = fetch_range_ahead(store, root, range).await {
        return read_file_nodes(&Prefetched::new(ahead, store), root, range).await;
    }
    read_file_nodes(store, root, range).await
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

/// [`read_file`] of a dag-pb file: the root, then the nodes and leaves
/// overlapping the range, level by level.
async fn read_file_nodes<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    range: ByteRange,
) -> Result<Bytes, ReadError> {
    let node = fetch_node(store, root, root).await?;
    let size =
        usize::try_from(node.size).map_err(|_| file_error(root, FileError::TooLarge(node.size)))?;
    let want = range.to_index_range(size);
    let want = want.start as u64..want.end as u64;
    if want.is_empty() {
        return Ok(Bytes::new());
    }
    let pieces = plan(store, root, node, &want).await?;
    let parts: Vec<Bytes> = stream::iter(
        pieces
            .into_iter()
            .map(|piece| fetch_piece(store, root, piece)),
    )
    .buffered(FETCH_CONCURRENCY)
    .try_collect()
    .await?;
    Ok(concat(parts))
}

/// Walks the DAG level by level, fetching only nodes overlapping `want`;
/// returns the pieces in file order.
async fn plan<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    root_node: FileNode,
    want: &Range<u64>,
) -> Result<Vec<Piece>, ReadError> {
    let mut pieces: Vec<(u64, Piece)> = Vec::new();
    let mut level = vec![(0u64, root_node)];
    for depth in 0..=MAX_DEPTH {
        let mut pending = Vec::new();
        for (offset, node) in level {
            split_node(root, offset, node, want, &mut pieces, &mut pending)?;
        }
        if pending.is_empty() {
            pieces.sort_by_key(|(offset, _)| *offset);
            return Ok(pieces.into_iter().map(|(_, piece)| piece).collect());
        }
        if depth == MAX_DEPTH {
            break;
        }
        level = stream::iter(pending.into_iter().map(|p| fetch_child(store, root, p)))
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
    }
    Err(file_error(
        root,
        FileError::TooDeep {
            cid: *root,
            max: MAX_DEPTH,
        },
    ))
}

/// Sorts the parts of `node` (at file `offset`) overlapping `want` into
/// ready pieces and dag-pb children still to fetch.
fn split_node(
    root: &Cid,
    offset: u64,
    node: FileNode,
    want: &Range<u64>,
    pieces: &mut Vec<(u64, Piece)>,
    pending: &mut Vec<Pending>,
) -> Result<(), ReadError> {
    let inline_len = node.inline.len() as u64;
    if let Some(r) = overlap(offset, inline_len, want) {
        let slice = node.inline.slice(to_usize(r.start)..to_usize(r.end));
        pieces.push((offset + r.start, Piece::Inline(slice)));
    }
    let mut child_offset = offset + inline_len;
    for (cid, len) in node.children {
        if let Some(range) = overlap(child_offset, len, want) {
            match BlockCodec::from_code(cid.codec()) {
                Some(BlockCodec::Raw) => {
                    pieces.push((child_offset + range.start, Piece::Leaf { cid, len, range }));
                }
                Some(BlockCodec::DagPb) => pending.push(Pending {
                    cid,
                    offset: child_offset,
                    len,
                }),
                _ => {
                    let codec = cid.codec();
                    return Err(file_error(root, FileError::UnsupportedCodec { cid, codec }));
                }
            }
        }
        child_offset += len;
    }
    Ok(())
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
    pending: Pending,
) -> Result<(u64, FileNode), ReadError> {
    let node = fetch_node(store, root, &pending.cid).await?;
    if node.size != pending.len {
        let error = FileError::SizeMismatch {
            cid: pending.cid,
            expected: pending.len,
            actual: node.size,
        };
        return Err(file_error(root, error));
    }
    Ok((pending.offset, node))
}

async fn fetch_piece<S: BlockStore + ?Sized>(
    store: &S,
    root: &Cid,
    piece: Piece,
) -> Result<Bytes, ReadError> {
    match piece {
        Piece::Inline(bytes) => Ok(bytes),
        Piece::Leaf { cid, len, range } => {
            let bytes = hamt_store::read_block(store, &cid).await?;
            if bytes.len() as u64 != len {
                let error = FileError::SizeMismatch {
                    cid,
                    expected: len,
                    actual: bytes.len() as u64,
                };
                return Err(file_error(root, error));
            }
            Ok(bytes.slice(to_usize(range.start)..to_usize(range.end)))
        }
    }
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
    let children = node
        .links
        .into_iter()
        .map(|l| l.cid)
        .zip(data.blocksizes)
        .collect();
    Ok(FileNode {
        inline,
        children,
        size,
    })
}

fn concat(parts: Vec<Bytes>) -> Bytes {
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_default();
    }
    let mut out = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
    for part in parts {
        out.extend_from_slice(&part);
    }
    out.freeze()
}

fn file_error(root: &Cid, error: FileError) -> ReadError {
    ReadError::File {
        root: *root,
        source: Box::new(error),
    }
}
