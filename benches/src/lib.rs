//! The workloads shared by the criterion benchmarks (`benches/hamt.rs`) and
//! the side-by-side comparison (`examples/compare.rs`): W1 inserts N
//! zarr-style chunk keys with 64-byte values and flushes; W2 reads every one
//! back from a fresh handle on the flushed root. Each runs on this crate's
//! HAMT, on `fvm_ipld_hamt` (bit width 8, its in-memory blockstore), and as
//! the *floor*: only the hashing and node encoding any implementation of
//! the format must do. W3 ([`w3`]) is a zarr round trip with thousands of
//! small chunks through `zarrs`.

use std::sync::Arc;

pub mod latency_proxy;
pub mod w3;
pub mod w6;

use bytes::Bytes;
use hamt::{Cid, Hamt, HamtConfig, HamtError};
use hamt_codec::{BlockCodec, HashAlgorithm, Node, Slot};
use hamt_store::{BlockStore, MemoryStore};

/// The keys and values of a run, made before timing starts.
#[derive(Debug, Clone)]
pub struct Workload {
    /// `temp/c/i/j/k` keys, as zarr v3 names chunks.
    pub keys: Vec<String>,
    /// One 64-byte value per key.
    pub values: Vec<Bytes>,
}

impl Workload {
    /// `n` keys and values.
    pub fn new(n: u32) -> Self {
        Workload {
            keys: (0..n).map(|i| chunk_key(u64::from(i))).collect(),
            values: (0..n).map(|i| Bytes::from(chunk_value(i))).collect(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

pub use hamt_bench_data::{chunk_key, chunk_value};

/// A current-thread runtime: the workloads are CPU-bound and the stores in memory.
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(e) => panic_free_exit(&format!("cannot start a tokio runtime: {e}")),
    }
}

fn panic_free_exit(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}

/// This crate's HAMT.
pub mod ours {
    use super::{Arc, Cid, Hamt, HamtConfig, HamtError, MemoryStore, Workload};

    /// W1: insert one by one into a new map on `store`, then flush.
    pub async fn w1(work: &Workload, store: &Arc<MemoryStore>) -> Result<Cid, HamtError> {
        let mut map = Hamt::new(Arc::clone(store), HamtConfig::default());
        for (key, value) in work.keys.iter().zip(&work.values) {
            map.insert(key, value.clone()).await?;
        }
        map.flush().await
    }

    /// W1 through the bulk path, [`Hamt::insert_many`].
    pub async fn w1_bulk(work: &Workload, store: &Arc<MemoryStore>) -> Result<Cid, HamtError> {
        let mut map = Hamt::new(Arc::clone(store), HamtConfig::default());
        map.insert_many(work.keys.iter().zip(work.values.iter().cloned()))
            .await?;
        map.flush().await
    }

    /// W2: open `root` with a fresh handle (cold cache) and get every key;
    /// returns how many values matched.
    pub async fn w2(
        work: &Workload,
        store: &Arc<MemoryStore>,
        root: Cid,
    ) -> Result<usize, HamtError> {
        let map = Hamt::open(Arc::clone(store), root, HamtConfig::default()).await?;
        get_all(work, &map).await
    }

    /// Gets every key from `map`; returns how many values matched.
    pub async fn get_all(
        work: &Workload,
        map: &Hamt<Arc<MemoryStore>>,
    ) -> Result<usize, HamtError> {
        let mut matched = 0;
        for (key, value) in work.keys.iter().zip(&work.values) {
            if map.get(key).await?.as_ref() == Some(value) {
                matched += 1;
            }
        }
        Ok(matched)
    }
}

/// `fvm_ipld_hamt`, bit width 8 (256 slots per node, as here), values
/// inline in the nodes, sha2-256 key hashes, on its `MemoryBlockstore`.
pub mod fvm {
    use super::{Cid, Workload};
    use fvm_ipld_blockstore::MemoryBlockstore;
    use fvm_ipld_encoding::RawBytes;

    /// The map type compared against.
    pub type FvmHamt<'a> = fvm_ipld_hamt::Hamt<&'a MemoryBlockstore, RawBytes, String>;

    /// W1: insert one by one into a new map on `store`, then flush.
    pub fn w1(work: &Workload, store: &MemoryBlockstore) -> Result<Cid, fvm_ipld_hamt::Error> {
        let mut map = FvmHamt::new_with_bit_width(store, 8);
        for (key, value) in work.keys.iter().zip(&work.values) {
            map.set(key.clone(), RawBytes::new(value.to_vec()))?;
        }
        map.flush()
    }

    /// W2: load `root` (fresh handle) and get every key; returns how many values matched.
    pub fn w2(
        work: &Workload,
        store: &MemoryBlockstore,
        root: &Cid,
    ) -> Result<usize, fvm_ipld_hamt::Error> {
        let map = FvmHamt::load_with_bit_width(root, store, 8)?;
        let mut matched = 0;
        for (key, value) in work.keys.iter().zip(&work.values) {
            if map.get(key.as_str())?.map(RawBytes::bytes) == Some(&value[..]) {
                matched += 1;
            }
        }
        Ok(matched)
    }
}

/// The floor: the work the format itself demands, with no tree to maintain.
pub mod floor {
    use super::{
        Arc, BlockCodec, BlockStore, Cid, HashAlgorithm, MemoryStore, Node, Slot, Workload,
    };

    /// The stored nodes of the tree under `root`, decoded.
    pub async fn nodes(store: &Arc<MemoryStore>, root: Cid) -> Vec<Node> {
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(cid) = stack.pop() {
            let Ok(bytes) = store.get(&cid).await else {
                continue;
            };
            let Ok(node) = Node::decode(&bytes, usize::MAX) else {
                continue;
            };
            stack.extend(node.iter().filter_map(|(_, slot)| match slot {
                Slot::Child(child) => Some(*child),
                Slot::Bucket(_) => None,
            }));
            out.push(node);
        }
        out
    }

    /// W1's floor: blake3 of every key (its slot path) and every value (its
    /// CID), and encoding and hashing every node of the final tree.
    /// Returns a checksum so nothing is optimised away.
    pub fn w1(work: &Workload, nodes: &[Node]) -> u64 {
        let mut sum = hash_entries(work);
        let mut buf = Vec::with_capacity(64 << 10);
        for node in nodes {
            buf.clear();
            node.encode_into(&mut buf);
            sum ^= u64::from(
                hamt_codec::block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, &buf)
                    .hash()
                    .digest()[0],
            );
        }
        sum
    }

    /// W2's floor: blake3 of every key and every value (a read verifies the
    /// value block), and decoding every node once.
    pub fn w2(work: &Workload, node_blocks: &[Vec<u8>]) -> u64 {
        let mut sum = hash_entries(work);
        for bytes in node_blocks {
            if let Ok(node) = Node::decode(bytes, usize::MAX) {
                sum ^= node.occupied_len() as u64;
            }
        }
        sum
    }

    fn hash_entries(work: &Workload) -> u64 {
        let mut sum = 0u64;
        for (key, value) in work.keys.iter().zip(&work.values) {
            sum ^= u64::from(blake3::hash(key.as_bytes()).as_bytes()[0]);
            sum ^= u64::from(blake3::hash(value).as_bytes()[1]);
        }
        sum
    }
}
