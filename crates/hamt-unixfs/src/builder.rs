//! Builds the UnixFS file DAG Kubo's `add` builds with py-hamt's options.

use std::collections::HashSet;

use bytes::Bytes;
use hamt_codec::{BlockCodec, Cid, HashAlgorithm};
use hamt_store::{Block, BlockStore, StoreError};

use crate::{CHUNK_SIZE, DataType, MAX_LINKS, PbLink, PbNode, UnixfsData};

/// A built subtree as its parent links to it.
#[derive(Clone, Copy)]
struct Child {
    cid: Cid,
    /// File bytes under it (the parent's `blocksizes` entry).
    filesize: u64,
    /// Bytes of all its blocks (the parent's link `Tsize`).
    tsize: u64,
}

/// Builds the UnixFS file Kubo's
/// `add?chunker=size-1048576&cid-version=1&raw-leaves=true&hash=…` builds
/// for `data`: 1 MiB raw leaves under a balanced dag-pb tree of at most 174
/// links per node. Data of at most 1 MiB is a single raw block.
///
/// Returns the root CID and every distinct block, leaves first and the root
/// last (so putting them in order never leaves a dangling link).
///
/// ```
/// use hamt_unixfs::build_file;
/// use hamt_codec::{block_cid, BlockCodec, HashAlgorithm};
///
/// let (root, blocks) = build_file(b"small", HashAlgorithm::Blake3);
/// assert_eq!(root, block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"small"));
/// assert_eq!(blocks.len(), 1);
///
/// let (root, blocks) = build_file(&vec![1u8; 3 << 20], HashAlgorithm::Blake3);
/// assert_eq!(root.codec(), BlockCodec::DagPb.code());
/// assert_eq!(blocks.len(), 2); // the three leaves are equal: one block, plus the root
/// ```
pub fn build_file(data: &[u8], hash: HashAlgorithm) -> (Cid, Vec<Block>) {
    build_file_bytes(&Bytes::copy_from_slice(data), hash)
}

/// [`build_file`] without copying: leaves are slices of `data`.
pub fn build_file_bytes(data: &Bytes, hash: HashAlgorithm) -> (Cid, Vec<Block>) {
    let mut sink = BlockSink::default();
    let mut level: Vec<Child> = chunk(data)
        .map(|leaf| {
            let len = leaf.len() as u64;
            let cid = sink.push(Block::new(BlockCodec::Raw, hash, leaf));
            Child {
                cid,
                filesize: len,
                tsize: len,
            }
        })
        .collect();
    // Grouping each level by 174 from the left gives exactly go-unixfs's
    // balanced layout: every node full except those on the rightmost path.
    while level.len() > 1 {
        level = level
            .chunks(MAX_LINKS)
            .map(|group| internal_node(group, hash, &mut sink))
            .collect();
    }
    let root = level.first().map_or_else(
        || sink.push(Block::new(BlockCodec::Raw, hash, Bytes::new())),
        |c| c.cid,
    );
    (root, sink.blocks)
}

/// Builds `data` as a UnixFS file and stores every block; returns the root.
pub async fn put_file<S: BlockStore + ?Sized>(store: &S, data: Bytes) -> Result<Cid, StoreError> {
    let (root, blocks) = build_file_bytes(&data, store.hash_algorithm());
    store.put_many(blocks).await?;
    Ok(root)
}

/// The 1 MiB chunks of `data`; empty data is one empty chunk, as in Kubo.
fn chunk(data: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    let count = data.len().div_ceil(CHUNK_SIZE).max(1);
    (0..count).map(move |i| data.slice(i * CHUNK_SIZE..data.len().min((i + 1) * CHUNK_SIZE)))
}

fn internal_node(children: &[Child], hash: HashAlgorithm, sink: &mut BlockSink) -> Child {
    let unixfs = UnixfsData {
        data_type: DataType::File,
        data: None,
        filesize: Some(children.iter().map(|c| c.filesize).sum()),
        blocksizes: children.iter().map(|c| c.filesize).collect(),
    };
    let node = PbNode {
        links: children
            .iter()
            .map(|c| PbLink {
                cid: c.cid,
                name: Some(String::new()),
                tsize: Some(c.tsize),
            })
            .collect(),
        data: Some(unixfs.encode().into()),
    };
    let bytes = node.encode();
    let tsize = bytes.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
    let cid = sink.push(Block::new(BlockCodec::DagPb, hash, bytes.into()));
    Child {
        cid,
        filesize: unixfs.filesize.unwrap_or_default(),
        tsize,
    }
}

/// Collects blocks, each distinct CID once (a file of repeated chunks shares leaves).
#[derive(Default)]
struct BlockSink {
    seen: HashSet<Cid>,
    blocks: Vec<Block>,
}

impl BlockSink {
    fn push(&mut self, block: Block) -> Cid {
        let cid = *block.cid();
        if self.seen.insert(cid) {
            self.blocks.push(block);
        }
        cid
    }
}
