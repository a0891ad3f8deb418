//! Small hostile DAGs, as a gateway or a CAR could serve them: up to eight
//! blocks, each a HAMT node, a UnixFS dag-pb node or a raw leaf, linking
//! only later blocks (so any block may be linked many times: shared
//! children, deep chains, repeated links, sizes that lie). Every read a
//! user can make of block 0 as a HAMT root or a UnixFS file (`len`, `keys`,
//! `stats`, `entries`, `diff`, `get`, `remove`, `insert`+`flush`,
//! `read_file` ranges, `file_size`) must end with a value or a typed
//! error within a work bound: the store counts reads (the node cache is
//! off, so a node visit is a read) and fails every read past the bound,
//! and the target asserts the bound was never reached. libFuzzer's timeout
//! catches work that reads nothing.
#![no_main]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arbitrary::Arbitrary;
use bytes::Bytes;
use futures::TryStreamExt;
use futures::executor::block_on;
use hamt::{Hamt, HamtConfig};
use hamt_codec::{BlockCodec, Bucket, Cid, HashAlgorithm, Node, Slot, block_cid};
use hamt_store::{Block, BlockStore, ByteRange, MemoryStore, StoreError};
use hamt_unixfs::{DataType, PbLink, PbNode, UnixfsData};
use libfuzzer_sys::fuzz_target;

/// Reads one operation may make: far above what any valid DAG of eight
/// blocks needs (each block once per walk, a few walks per operation).
const READ_BOUND: usize = 4096;
/// The largest value read (a DAG may declare any size).
const MAX_READ: u64 = 1 << 20;

#[derive(Debug, Arbitrary)]
enum Target {
    /// Block `index` (taken modulo the number of blocks after this one).
    Later(u8),
    /// A leaf made up on the spot, not in the DAG (a missing block).
    Missing(u8),
}

#[derive(Debug, Arbitrary)]
enum Spec {
    Hamt {
        /// Slot, then a child or a bucket of keys (values: raw leaves).
        slots: Vec<(u8, HamtSlot)>,
    },
    File {
        inline: Vec<u8>,
        filesize: Option<u32>,
        /// Child, its blocksize, its Tsize, repeated `times` (1..=200).
        links: Vec<(Target, u32, Option<u32>, u8)>,
    },
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum HamtSlot {
    Child(Target),
    Bucket(Vec<(String, Target)>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    blocks: Vec<Spec>,
    keys: Vec<String>,
    ranges: Vec<(u64, u64)>,
}

/// A memory store that counts reads and fails those past [`READ_BOUND`].
struct Bounded {
    inner: MemoryStore,
    reads: AtomicUsize,
}

#[async_trait::async_trait]
impl BlockStore for Bounded {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        if self.reads.fetch_add(1, Ordering::Relaxed) >= READ_BOUND {
            return Err(StoreError::NotFound(*cid));
        }
        self.inner.get(cid).await
    }
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.inner.has(cid).await
    }
    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.inner.put_block(block).await
    }
}

impl Bounded {
    /// Asserts the operation just run stayed in the bound, and resets it.
    fn check(&self, what: &str) {
        let reads = self.reads.swap(0, Ordering::Relaxed);
        assert!(reads < READ_BOUND, "{what}: {reads} reads on a DAG of at most 8 blocks");
    }
}

fn resolve(target: &Target, later: &[Cid]) -> Cid {
    match target {
        Target::Later(i) if !later.is_empty() => later[usize::from(*i) % later.len()],
        Target::Later(i) | Target::Missing(i) => {
            block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &[*i, 0xfe])
        }
    }
}

/// Encodes block `spec`, whose links go to `later` (the blocks after it).
fn encode(spec: &Spec, later: &[Cid]) -> Block {
    match spec {
        Spec::Hamt { slots } => {
            let mut node: Node = Node::new();
            for (slot, content) in slots.iter().take(256) {
                let slot_content = match content {
                    HamtSlot::Child(target) => Slot::Child(resolve(target, later)),
                    HamtSlot::Bucket(entries) if !entries.is_empty() => {
                        let entries = entries
                            .iter()
                            .take(8)
                            .map(|(k, t)| (k.as_str().into(), resolve(t, later)));
                        Slot::Bucket(Bucket::from_entries(entries))
                    }
                    HamtSlot::Bucket(_) => continue,
                };
                node.set(*slot, slot_content);
            }
            Block::new(BlockCodec::DagCbor, HashAlgorithm::Blake3, node.encode().into())
        }
        Spec::File {
            inline,
            filesize,
            links,
        } => {
            let mut pb_links = Vec::new();
            let mut blocksizes = Vec::new();
            for (target, size, tsize, times) in links.iter().take(16) {
                for _ in 0..=(*times % 200) {
                    pb_links.push(PbLink {
                        cid: resolve(target, later),
                        name: Some(String::new()),
                        tsize: tsize.map(u64::from),
                    });
                    blocksizes.push(u64::from(*size));
                }
            }
            let data = UnixfsData {
                data_type: DataType::File,
                data: (!inline.is_empty()).then(|| Bytes::copy_from_slice(inline)),
                filesize: filesize.map(u64::from),
                blocksizes,
            };
            let node = PbNode {
                links: pb_links,
                data: Some(data.encode().into()),
            };
            Block::new(BlockCodec::DagPb, HashAlgorithm::Blake3, node.encode().into())
        }
        Spec::Raw(bytes) => Block::new(
            BlockCodec::Raw,
            HashAlgorithm::Blake3,
            Bytes::copy_from_slice(bytes),
        ),
    }
}

fuzz_target!(|input: Input| {
    if input.blocks.is_empty() {
        return;
    }
    let specs = &input.blocks[..input.blocks.len().min(8)];
    let store = Arc::new(Bounded {
        inner: MemoryStore::new(),
        reads: AtomicUsize::new(0),
    });
    // Last block first: each links only blocks already made.
    let mut cids: Vec<Cid> = Vec::new();
    for spec in specs.iter().rev() {
        let block = encode(spec, &cids);
        let cid = *block.cid();
        block_on(store.inner.put_block(block)).expect("memory put");
        cids.insert(0, cid);
    }
    let root = cids[0];
    let ranges: Vec<ByteRange> = input
        .ranges
        .iter()
        .take(4)
        .map(|&(offset, length)| ByteRange::Slice { offset, length })
        .chain([ByteRange::Full, ByteRange::Suffix(3)])
        .collect();

    block_on(async {
        for range in &ranges {
            let _ = hamt_unixfs::read_file_limited(&*store, &root, *range, MAX_READ).await;
            store.check("read_file");
        }
        let _ = hamt_unixfs::file_size(&*store, &root).await;
        store.check("file_size");

        let config = HamtConfig::default()
            .with_cache_bytes(0)
            .with_max_value_read(MAX_READ);
        let Ok(map) = Hamt::open(store.clone(), root, config.clone()).await else {
            return;
        };
        store.check("open");
        let _ = map.len().await;
        store.check("len");
        let _ = map.stats().await;
        store.check("stats");
        let _ = map.keys().try_collect::<Vec<_>>().await;
        store.check("keys");
        let _ = map.links_in_py_hamt_order().try_collect::<Vec<_>>().await;
        store.check("links_in_py_hamt_order");
        let _ = map.entries(4).try_collect::<Vec<_>>().await;
        store.check("entries");
        let empty = Hamt::new(MemoryStore::new(), HamtConfig::default());
        let _ = map.diff(&empty).try_collect::<Vec<_>>().await;
        store.check("diff");
        let _ = map.diff(&map).try_collect::<Vec<_>>().await;
        store.check("diff with itself");
        for key in input.keys.iter().take(4) {
            let _ = map.get(key).await;
            store.check("get");
        }
        let Ok(mut map) = Hamt::open(store.clone(), root, config).await else {
            return;
        };
        for key in input.keys.iter().take(4) {
            let _ = map.remove(key).await;
            store.check("remove");
            let _ = map.insert(key, b"v".to_vec()).await;
            store.check("insert");
        }
        let _ = map.flush().await;
        store.check("flush");
    });
});
