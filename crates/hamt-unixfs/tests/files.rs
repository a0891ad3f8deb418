//! Fixed CID vectors (from /work/shared/ipfs-node/smoke-test.sh, computed
//! independently of any IPFS implementation) and range reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test data generators truncate on purpose; figures are printed as floats.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_lossless,
    clippy::cast_precision_loss,
    clippy::doc_markdown
)]

use bytes::Bytes;
use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};
use hamt_store::{Block, BlockStore, ByteRange, MemoryStore, StoreError};
use hamt_unixfs::{
    CHUNK_SIZE, DataType, FileError, PbNode, ReadError, UnixfsData, build_file, dag_pb_links,
    file_size, put_file, read_file,
};

/// The smoke test's 3 MiB file: `bytes((i*7+3)%251 for i in range(3145728))`.
fn smoke_3mib() -> Vec<u8> {
    (0..3_145_728u64)
        .map(|i| ((i * 7 + 3) % 251) as u8)
        .collect()
}

/// The smoke test's 100 B file: `bytes((i*13+5)%256 for i in range(100))`.
fn smoke_100b() -> Vec<u8> {
    (0..100u64).map(|i| ((i * 13 + 5) % 256) as u8).collect()
}

#[test]
fn smoke_vectors_3mib() {
    let data = smoke_3mib();
    let (root, blocks) = build_file(&data, HashAlgorithm::Blake3);
    assert_eq!(
        root.to_string(),
        "bafyb4idwxzl76im7xhsgyicd7jlhnzsdm6k4vqfliuclxnnmpnud73w37y"
    );
    assert_eq!(blocks.len(), 4);
    let (root, blocks) = build_file(&data, HashAlgorithm::Sha2_256);
    assert_eq!(
        root.to_string(),
        "bafybeicdf3crlklysmb3vkeaiqnarlori4smrusmf4yhlo67lcfktoo7vy"
    );
    // The smoke test reads this root block from the gateway: 159 bytes.
    assert_eq!(blocks.last().unwrap().data().len(), 159);
    assert_eq!(blocks.last().unwrap().cid(), &root);
}

#[test]
fn smoke_vectors_100b() {
    let data = smoke_100b();
    let (root, blocks) = build_file(&data, HashAlgorithm::Blake3);
    assert_eq!(
        root.to_string(),
        "bafkr4ifey6wusftasufffnebfwsistb5u2paw25u7t4q6cbfzj5b5w7bxy"
    );
    assert_eq!(blocks.len(), 1);
    let (root, _) = build_file(&data, HashAlgorithm::Sha2_256);
    assert_eq!(
        root.to_string(),
        "bafkreiaj5mwletaprmbbgaaj3vhfdste5ujgdvc3akika7imr26tfe2odq"
    );
}

#[test]
fn up_to_one_chunk_is_one_raw_block() {
    for len in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE] {
        let data = vec![9u8; len];
        let (root, blocks) = build_file(&data, HashAlgorithm::Blake3);
        assert_eq!(
            root,
            block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &data)
        );
        assert_eq!(blocks.len(), 1);
    }
}

/// Distinct leaves so the DAG shape is visible in the block count.
fn distinct(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    for (i, chunk) in data.chunks_mut(CHUNK_SIZE).enumerate() {
        chunk[..4].copy_from_slice(&(i as u32).to_le_bytes());
    }
    data
}

fn root_node(blocks: &[Block]) -> (PbNode, UnixfsData) {
    let node = PbNode::decode(blocks.last().unwrap().data()).unwrap();
    let data = UnixfsData::decode(node.data.as_ref().unwrap()).unwrap();
    (node, data)
}

#[test]
fn balanced_layout_at_the_174_link_boundary() {
    let (_, blocks) = build_file(&distinct(174 * CHUNK_SIZE), HashAlgorithm::Blake3);
    assert_eq!(blocks.len(), 175, "174 leaves + one root");
    let (node, data) = root_node(&blocks);
    assert_eq!(node.links.len(), 174);
    assert_eq!(data.filesize, Some(174 * CHUNK_SIZE as u64));

    let (_, blocks) = build_file(&distinct(175 * CHUNK_SIZE), HashAlgorithm::Blake3);
    assert_eq!(
        blocks.len(),
        175 + 2 + 1,
        "175 leaves, a full node, a one-leaf node, a root"
    );
    let (node, data) = root_node(&blocks);
    assert_eq!(node.links.len(), 2);
    assert_eq!(
        data.blocksizes,
        [174 * CHUNK_SIZE as u64, CHUNK_SIZE as u64]
    );
    let second = blocks
        .iter()
        .find(|b| b.cid() == &node.links[1].cid)
        .unwrap();
    assert_eq!(
        dag_pb_links(second.data()).unwrap().len(),
        1,
        "the last leaf gets its own node"
    );
}

#[test]
fn tsize_counts_every_block_under_a_link() {
    let (_, blocks) = build_file(&distinct(175 * CHUNK_SIZE + 5), HashAlgorithm::Sha2_256);
    let (node, _) = root_node(&blocks);
    let total: u64 = node.links.iter().map(|l| l.tsize.unwrap()).sum();
    let all: u64 = blocks.iter().map(|b| b.data().len() as u64).sum();
    let root_len = blocks.last().unwrap().data().len() as u64;
    assert_eq!(total + root_len, all);
}

async fn stored(data: &[u8]) -> (MemoryStore, hamt_codec::Cid) {
    let store = MemoryStore::new();
    let root = put_file(&store, Bytes::copy_from_slice(data))
        .await
        .unwrap();
    (store, root)
}

#[tokio::test]
async fn ranges_read_the_same_bytes_as_slicing() {
    let data = smoke_3mib();
    let (store, root) = stored(&data).await;
    assert_eq!(file_size(&store, &root).await.unwrap(), data.len() as u64);
    let n = data.len() as u64;
    let m = CHUNK_SIZE as u64;
    let cases = [
        ByteRange::Full,
        ByteRange::From(m - 1),
        ByteRange::From(n),
        ByteRange::From(n + 10),
        ByteRange::Slice {
            offset: m - 3,
            length: 6,
        },
        ByteRange::Slice {
            offset: 0,
            length: 2 * m + 1,
        },
        ByteRange::Slice {
            offset: 5,
            length: 0,
        },
        ByteRange::Slice {
            offset: 1,
            length: u64::MAX,
        },
        ByteRange::Suffix(m + 1),
        ByteRange::Suffix(n * 2),
    ];
    for range in cases {
        let got = read_file(&store, &root, range).await.unwrap();
        assert_eq!(
            &got[..],
            &data[range.to_index_range(data.len())],
            "{range:?}"
        );
    }
}

/// Counts `get`s, to check a range read fetches only the leaves it needs.
struct Counting(MemoryStore, std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl BlockStore for Counting {
    async fn get(&self, cid: &hamt_codec::Cid) -> Result<Bytes, StoreError> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.get(cid).await
    }
    async fn has(&self, cid: &hamt_codec::Cid) -> Result<bool, StoreError> {
        self.0.has(cid).await
    }
    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.0.put_block(block).await
    }
}

#[tokio::test]
async fn a_range_fetches_only_its_leaves() {
    let data = distinct(176 * CHUNK_SIZE);
    let store = Counting(MemoryStore::new(), 0.into());
    let root = put_file(&store, data.clone().into()).await.unwrap();
    let offset = 175 * CHUNK_SIZE as u64 - 2;
    let got = read_file(&store, &root, ByteRange::Slice { offset, length: 4 })
        .await
        .unwrap();
    assert_eq!(&got[..], &data[offset as usize..offset as usize + 4]);
    // root + second-level node + two leaves
    assert_eq!(store.1.load(std::sync::atomic::Ordering::SeqCst), 4);
}

#[tokio::test]
async fn raw_roots_are_read_directly() {
    let (store, root) = stored(b"tiny value").await;
    assert_eq!(root.codec(), BlockCodec::Raw.code());
    let got = read_file(&store, &root, ByteRange::Suffix(5))
        .await
        .unwrap();
    assert_eq!(&got[..], b"value");
}

#[tokio::test]
async fn a_missing_leaf_is_not_found() {
    let data = distinct(3 * CHUNK_SIZE);
    let (root, blocks) = build_file(&data, HashAlgorithm::Blake3);
    let store = MemoryStore::new();
    store.put_many(blocks.clone()).await.unwrap();
    store.remove(blocks[1].cid());
    let err = read_file(&store, &root, ByteRange::Full).await.unwrap_err();
    assert!(matches!(err, ReadError::Store(StoreError::NotFound(c)) if &c == blocks[1].cid()));
    // A range not touching the missing leaf still reads.
    assert!(
        read_file(&store, &root, ByteRange::Suffix(10))
            .await
            .is_ok()
    );
}

fn file_error(err: &ReadError) -> &FileError {
    let ReadError::File { source, .. } = err else {
        panic!("expected a File error, got {err:?}")
    };
    source
}

type Check = fn(&FileError) -> bool;

#[tokio::test]
async fn inconsistent_dags_are_typed_errors() {
    let store = MemoryStore::new();
    let leaf = store
        .put(BlockCodec::Raw, Bytes::from_static(b"abc"))
        .await
        .unwrap();
    let node = |blocksizes: Vec<u64>, filesize: Option<u64>, kind: DataType| PbNode {
        links: vec![hamt_unixfs::PbLink {
            cid: leaf,
            name: Some(String::new()),
            tsize: Some(3),
        }],
        data: Some(
            UnixfsData {
                data_type: kind,
                data: None,
                filesize,
                blocksizes,
            }
            .encode()
            .into(),
        ),
    };
    let cases: [(PbNode, Check); 4] = [
        (node(vec![4], Some(4), DataType::File), |e| {
            matches!(
                e,
                FileError::SizeMismatch {
                    expected: 4,
                    actual: 3,
                    ..
                }
            )
        }),
        (node(vec![3], Some(9), DataType::File), |e| {
            matches!(e, FileError::SizeMismatch { expected: 9, .. })
        }),
        (node(vec![], None, DataType::File), |e| {
            matches!(e, FileError::BlocksizesMismatch { .. })
        }),
        (node(vec![3], Some(3), DataType::Directory), |e| {
            matches!(e, FileError::NotAFile { .. })
        }),
    ];
    for (node, check) in cases {
        let root = store
            .put(BlockCodec::DagPb, node.encode().into())
            .await
            .unwrap();
        let err = read_file(&store, &root, ByteRange::Full).await.unwrap_err();
        assert!(check(file_error(&err)), "{err}");
    }
    let garbage = store
        .put(BlockCodec::DagPb, Bytes::from_static(&[0xff, 0xff]))
        .await
        .unwrap();
    let err = read_file(&store, &garbage, ByteRange::Full)
        .await
        .unwrap_err();
    assert!(matches!(file_error(&err), FileError::Decode { .. }));
}

/// A dag-pb file node linking `child` `times` times, each holding `len` bytes.
fn repeating(child: hamt_codec::Cid, len: u64, times: usize, tsize: Option<u64>) -> Bytes {
    let link = hamt_unixfs::PbLink {
        cid: child,
        name: Some(String::new()),
        tsize,
    };
    PbNode {
        links: vec![link; times],
        data: Some(
            UnixfsData {
                data_type: DataType::File,
                data: None,
                filesize: Some(len * times as u64),
                blocksizes: vec![len; times],
            }
            .encode()
            .into(),
        ),
    }
    .encode()
    .into()
}

/// Three blocks declaring 20,000 × 20,000 KiB (~4×10^11 bytes): a 1 KiB
/// leaf linked 20,000 times by a node linked 20,000 times by the root.
async fn amplifying_dag(store: &Counting) -> (hamt_codec::Cid, Vec<u8>) {
    let leaf: Vec<u8> = (0..1024u32).map(|i| (i % 251) as u8).collect();
    let leaf_cid = store
        .put(BlockCodec::Raw, leaf.clone().into())
        .await
        .unwrap();
    let middle = repeating(leaf_cid, 1024, 20_000, Some(1024));
    let middle_cid = store.put(BlockCodec::DagPb, middle).await.unwrap();
    let root = repeating(middle_cid, 1024 * 20_000, 20_000, None);
    (store.put(BlockCodec::DagPb, root).await.unwrap(), leaf)
}

#[tokio::test]
async fn a_dag_declaring_a_huge_file_is_refused_before_allocating() {
    let store = Counting(MemoryStore::new(), 0.into());
    let (root, _) = amplifying_dag(&store).await;
    assert_eq!(file_size(&store, &root).await.unwrap(), 409_600_000_000);
    let err = read_file(&store, &root, ByteRange::Full).await.unwrap_err();
    assert!(
        matches!(
            file_error(&err),
            FileError::ReadTooLarge {
                size: 409_600_000_000,
                max: hamt_unixfs::DEFAULT_MAX_READ
            }
        ),
        "{err}"
    );
    let limited = hamt_unixfs::read_file_limited(&store, &root, ByteRange::Suffix(11), 10).await;
    assert!(matches!(
        file_error(&limited.unwrap_err()),
        FileError::ReadTooLarge { size: 11, max: 10 }
    ));
}

#[tokio::test]
async fn repeated_links_are_fetched_once_and_ranges_of_them_read_right() {
    let store = Counting(MemoryStore::new(), 0.into());
    let (root, leaf) = amplifying_dag(&store).await;
    // 3 MiB across thousands of repeated leaves, from an odd offset deep inside.
    let offset = 300_000_000_000u64 + 1000;
    let length = 3u64 << 20;
    let before = store.1.load(std::sync::atomic::Ordering::SeqCst);
    let got = read_file(&store, &root, ByteRange::Slice { offset, length })
        .await
        .unwrap();
    assert_eq!(got.len() as u64, length);
    for (i, byte) in got.iter().enumerate() {
        assert_eq!(
            *byte,
            leaf[((offset + i as u64) % 1024) as usize],
            "byte {i}"
        );
    }
    // Root, middle node and leaf: each read once, however often linked.
    assert_eq!(
        store.1.load(std::sync::atomic::Ordering::SeqCst) - before,
        3
    );
}

#[tokio::test]
async fn a_link_holding_more_than_its_tsize_is_refused() {
    let store = MemoryStore::new();
    let leaf = store
        .put(BlockCodec::Raw, Bytes::from_static(b"abcd"))
        .await
        .unwrap();
    let root = store
        .put(BlockCodec::DagPb, repeating(leaf, 4, 2, Some(3)))
        .await
        .unwrap();
    let err = read_file(&store, &root, ByteRange::Full).await.unwrap_err();
    assert!(
        matches!(
            file_error(&err),
            FileError::SizeMismatch {
                expected: 4,
                actual: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn one_block_linked_with_two_lengths_is_refused() {
    let store = MemoryStore::new();
    let leaf = store
        .put(BlockCodec::Raw, Bytes::from_static(b"abcd"))
        .await
        .unwrap();
    let link = |tsize| hamt_unixfs::PbLink {
        cid: leaf,
        name: Some(String::new()),
        tsize: Some(tsize),
    };
    let node = PbNode {
        links: vec![link(4), link(5)],
        data: Some(
            UnixfsData {
                data_type: DataType::File,
                data: None,
                filesize: Some(9),
                blocksizes: vec![4, 5],
            }
            .encode()
            .into(),
        ),
    };
    let root = store
        .put(BlockCodec::DagPb, node.encode().into())
        .await
        .unwrap();
    let err = read_file(&store, &root, ByteRange::Full).await.unwrap_err();
    assert!(
        matches!(file_error(&err), FileError::SizeMismatch { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_range_across_a_repeated_node_fetches_only_the_leaves_it_touches() {
    let store = Counting(MemoryStore::new(), 0.into());
    // X: 50 distinct 1 KiB leaves; the root links X, a 1-byte leaf Y, X.
    let mut links = Vec::new();
    let mut x_bytes = Vec::new();
    for i in 0..50u32 {
        let leaf: Vec<u8> = (0..1024u32).map(|j| ((i * 7 + j) % 251) as u8).collect();
        links.push(
            store
                .put(BlockCodec::Raw, leaf.clone().into())
                .await
                .unwrap(),
        );
        x_bytes.extend(leaf);
    }
    let node = |children: Vec<(hamt_codec::Cid, u64)>| {
        let (links, sizes): (Vec<_>, Vec<_>) = children
            .into_iter()
            .map(|(cid, len)| {
                let link = hamt_unixfs::PbLink {
                    cid,
                    name: Some(String::new()),
                    tsize: Some(len),
                };
                (link, len)
            })
            .unzip();
        let data = UnixfsData {
            data_type: DataType::File,
            data: None,
            filesize: Some(sizes.iter().sum()),
            blocksizes: sizes,
        };
        Bytes::from(
            PbNode {
                links,
                data: Some(data.encode().into()),
            }
            .encode(),
        )
    };
    let x = store
        .put(
            BlockCodec::DagPb,
            node(links.iter().map(|c| (*c, 1024)).collect()),
        )
        .await
        .unwrap();
    let y = store
        .put(BlockCodec::Raw, Bytes::from_static(b"Y"))
        .await
        .unwrap();
    let x_len = x_bytes.len() as u64;
    let root = store
        .put(
            BlockCodec::DagPb,
            node(vec![(x, x_len), (y, 1), (x, x_len)]),
        )
        .await
        .unwrap();
    let before = store.1.load(std::sync::atomic::Ordering::SeqCst);
    let got = read_file(
        &store,
        &root,
        ByteRange::Slice {
            offset: x_len - 1,
            length: 3,
        },
    )
    .await
    .unwrap();
    assert_eq!(&got[..], &[x_bytes[x_bytes.len() - 1], b'Y', x_bytes[0]]);
    // Root, X (once), its last and first leaves, Y: not X's 48 other leaves.
    assert_eq!(
        store.1.load(std::sync::atomic::Ordering::SeqCst) - before,
        5
    );
}
