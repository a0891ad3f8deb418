//! Helpers shared by the integration tests: small block graphs of every codec.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeSet;

use hamt_codec::{Bucket, Node, Slot};
use hamt_store::{Block, BlockCodec, Bytes, Cid, HashAlgorithm};

/// A DAG of blocks: its root and every block in it.
pub struct Graph {
    pub root: Cid,
    pub blocks: Vec<Block>,
}

impl Graph {
    /// The CIDs of every block, as a set.
    pub fn cids(&self) -> BTreeSet<Cid> {
        self.blocks.iter().map(|b| *b.cid()).collect()
    }

    /// Total bytes of its blocks.
    pub fn bytes(&self) -> u64 {
        self.blocks.iter().map(|b| b.data().len() as u64).sum()
    }
}

pub fn raw(data: impl Into<Bytes>) -> Block {
    Block::new(BlockCodec::Raw, HashAlgorithm::Blake3, data.into())
}

fn node_block(node: &Node) -> Block {
    Block::new(
        BlockCodec::DagCbor,
        HashAlgorithm::Blake3,
        node.encode().into(),
    )
}

/// A dag-pb (UnixFS-like) node linking to `links`, hand-encoded protobuf.
pub fn dag_pb(links: &[Cid]) -> Block {
    let mut bytes = Vec::new();
    for link in links {
        let hash = link.to_bytes();
        let mut pblink = vec![0x0a, u8::try_from(hash.len()).unwrap()];
        pblink.extend_from_slice(&hash);
        pblink.extend_from_slice(&[0x18, 0x07]); // Tsize 7
        bytes.push(0x12);
        bytes.push(u8::try_from(pblink.len()).unwrap());
        bytes.extend(pblink);
    }
    bytes.extend_from_slice(&[0x0a, 0x02, 0x08, 0x02]); // Data: UnixFS file
    Block::new(BlockCodec::DagPb, HashAlgorithm::Sha2_256, bytes.into())
}

/// A two-level HAMT-shaped graph: a root node with buckets of raw values, a
/// child node with more, and a dag-pb "large value" with raw chunks. `shared`
/// values are linked too (so graphs can share blocks).
pub fn graph(tag: &str, values: usize, shared: &[Block]) -> Graph {
    let mut blocks: Vec<Block> = (0..values)
        .map(|i| raw(format!("{tag} value {i}")))
        .collect();
    blocks.extend(shared.iter().cloned());
    let chunks: Vec<Block> = (0..3).map(|i| raw(format!("{tag} chunk {i}"))).collect();
    let pb = dag_pb(&chunks.iter().map(|c| *c.cid()).collect::<Vec<_>>());

    let mut child: Node = Node::new();
    let mut root: Node = Node::new();
    for (i, block) in blocks.iter().enumerate() {
        let slot = u8::try_from(i % 200).unwrap();
        let target = if i % 2 == 0 { &mut root } else { &mut child };
        let key: hamt_codec::Key = format!("{tag}/{i}").into();
        match target.get_mut(slot) {
            Some(Slot::Bucket(bucket)) => {
                bucket.insert(key, *block.cid());
            }
            _ => {
                target.set(slot, Slot::Bucket(Bucket::single(key, *block.cid())));
            }
        }
    }
    root.set(
        250,
        Slot::Bucket(Bucket::single(format!("{tag}/large").into(), *pb.cid())),
    );
    let child_block = node_block(&child);
    root.set(255, Slot::Child(*child_block.cid()));
    let root_block = node_block(&root);

    let mut all = blocks;
    all.extend(chunks);
    all.push(pb);
    all.push(child_block);
    let root_cid = *root_block.cid();
    all.push(root_block);
    Graph {
        root: root_cid,
        blocks: all,
    }
}
