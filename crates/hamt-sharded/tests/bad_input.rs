//! Hostile and broken stores: manifests of the wrong shape or version,
//! shards of the wrong length or contents, chunk keys outside the grid,
//! missing and corrupt blocks. Each is a typed error naming the key or CID,
//! and nothing flushed before is lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use hamt_codec::{BlockCodec, Cid, DecodeErrorKind, HashAlgorithm, link_list};
use hamt_sharded::{KeyError, ShardedConfig, ShardedError, ShardedMap};
use hamt_store::{Block, BlockStore, ByteRange, MemoryStore, StoreError};
use ipld_core::ipld::Ipld;

type Map = ShardedMap<Arc<MemoryStore>>;

const GROUP: &[u8] = br#"{"zarr_format": 3, "node_type": "group"}"#;
/// 8 elements in chunks of 2: 4 chunks, 2 shards of 2.
const TEMP: &[u8] = br#"{"zarr_format": 3, "node_type": "array", "shape": [8], "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}}}"#;

/// Writes the sample: one array, chunks 0..3 written (chunk 3 absent).
async fn write_sample<S: BlockStore>(map: &mut ShardedMap<S>) {
    map.set("zarr.json", GROUP.into()).await.unwrap();
    map.set("0/zarr.json", GROUP.into()).await.unwrap();
    map.set("0/temp/zarr.json", TEMP.into()).await.unwrap();
    for i in 0..3u8 {
        map.set(&format!("0/temp/c/{i}"), vec![i; 16].into())
            .await
            .unwrap();
    }
}

/// The sample, flushed.
async fn sample() -> (Arc<MemoryStore>, Cid) {
    let blocks = Arc::new(MemoryStore::new());
    let mut map = ShardedMap::new(blocks.clone(), 2).unwrap();
    write_sample(&mut map).await;
    let root = map.flush().await.unwrap();
    (blocks, root)
}

async fn open(blocks: &Arc<MemoryStore>, root: Cid) -> Result<Map, ShardedError> {
    ShardedMap::open(blocks.clone(), root, ShardedConfig::default()).await
}

async fn manifest(blocks: &MemoryStore, root: Cid) -> BTreeMap<String, Ipld> {
    let bytes = blocks.get(&root).await.unwrap();
    let Ipld::Map(map) = serde_ipld_dagcbor::from_slice(&bytes).unwrap() else {
        panic!("the manifest is a map")
    };
    map
}

async fn put_ipld(blocks: &MemoryStore, value: &Ipld) -> Cid {
    let bytes = serde_ipld_dagcbor::to_vec(value).unwrap();
    blocks.put(BlockCodec::DagCbor, bytes.into()).await.unwrap()
}

/// The sample's manifest with `change` applied to the array `0/temp`'s entry.
async fn with_array(
    blocks: &MemoryStore,
    root: Cid,
    change: impl FnOnce(&mut BTreeMap<String, Ipld>),
) -> Cid {
    let mut root_map = manifest(blocks, root).await;
    let Some(Ipld::Map(arrays)) = root_map.get_mut("arrays") else {
        panic!("arrays")
    };
    let Some(Ipld::Map(array)) = arrays.get_mut("0/temp") else {
        panic!("0/temp")
    };
    change(array);
    put_ipld(blocks, &Ipld::Map(root_map)).await
}

/// The sample's manifest with its first shard replaced by `shard`.
async fn with_first_shard(blocks: &MemoryStore, root: Cid, shard: Cid) -> Cid {
    with_array(blocks, root, |array| {
        let Some(Ipld::List(shards)) = array.get_mut("shard_cids") else {
            panic!("shard_cids")
        };
        shards[0] = Ipld::Link(shard);
    })
    .await
}

async fn first_shard(blocks: &MemoryStore, root: Cid) -> Cid {
    let root_map = manifest(blocks, root).await;
    let Some(Ipld::Map(arrays)) = root_map.get("arrays") else {
        panic!("arrays")
    };
    let Some(Ipld::Map(array)) = arrays.get("0/temp") else {
        panic!("0/temp")
    };
    let Some(Ipld::List(shards)) = array.get("shard_cids") else {
        panic!("shard_cids")
    };
    let Ipld::Link(cid) = shards[0] else {
        panic!("shard 0 is written")
    };
    cid
}

/// A change to an array entry of a manifest.
type ArrayChange<'a> = dyn FnOnce(&mut BTreeMap<String, Ipld>) + 'a;

fn bad_root_reason(result: Result<Map, ShardedError>, root: Cid) -> String {
    match result {
        Err(ShardedError::BadRoot { cid, reason }) => {
            assert_eq!(cid, root, "the error names the root");
            reason
        }
        other => panic!("expected BadRoot, got {other:?}"),
    }
}

#[tokio::test]
async fn manifests_of_the_wrong_shape_or_version_are_refused_naming_the_root() {
    let (blocks, root) = sample().await;
    let version =
        |v: &str| Ipld::Map([("manifest_version".to_owned(), Ipld::String(v.into()))].into());
    let cases = [
        (Ipld::List(vec![]), "not a valid dictionary"),
        (
            Ipld::Map(BTreeMap::new()),
            "Incompatible manifest version: None",
        ),
        (version("sharded_zarr_v3"), "Incompatible manifest version"),
        (version("sharded_zarr_v2"), "'metadata' is not a dictionary"),
        (version("sharded_zarr_v1"), "'chunks' key"),
    ];
    for (value, reason) in cases {
        let bad = put_ipld(&blocks, &value).await;
        let found = bad_root_reason(open(&blocks, bad).await, bad);
        assert!(found.contains(reason), "{value:?}: {found}");
    }
    // A root that is not DAG-CBOR at all.
    let garbage = blocks
        .put(BlockCodec::DagCbor, Bytes::from_static(&[0xff, 0x00]))
        .await
        .unwrap();
    bad_root_reason(open(&blocks, garbage).await, garbage);

    // An array entry of the wrong shape: each field in turn.
    let shard = first_shard(&blocks, root).await;
    let array_cases: Vec<(&str, Box<ArrayChange<'_>>)> = vec![
        (
            "Inconsistent number of shards",
            Box::new(|a| {
                a.insert("shard_cids".into(), Ipld::List(vec![Ipld::Link(shard)]));
            }),
        ),
        (
            "not a CID or null",
            Box::new(|a| {
                a.insert(
                    "shard_cids".into(),
                    Ipld::List(vec![Ipld::Integer(1), Ipld::Null]),
                );
            }),
        ),
        (
            "chunks_per_shard must be a positive integer",
            Box::new(|a| {
                a.insert(
                    "sharding_config".into(),
                    Ipld::Map([("chunks_per_shard".to_owned(), Ipld::Integer(0))].into()),
                );
            }),
        ),
        (
            "row-major",
            Box::new(|a| {
                a.insert(
                    "sharding_config".into(),
                    Ipld::Map(
                        [
                            ("chunks_per_shard".to_owned(), Ipld::Integer(2)),
                            ("order".to_owned(), Ipld::String("F".into())),
                        ]
                        .into(),
                    ),
                );
            }),
        ),
        (
            "non-negative",
            Box::new(|a| {
                a.insert("array_shape".into(), Ipld::List(vec![Ipld::Integer(-8)]));
            }),
        ),
        (
            "chunk_shape is missing",
            Box::new(|a| {
                a.remove("chunk_shape");
            }),
        ),
    ];
    for (reason, change) in array_cases {
        let bad = with_array(&blocks, root, change).await;
        let found = bad_root_reason(open(&blocks, bad).await, bad);
        assert!(found.contains(reason), "{reason}: {found}");
        assert!(found.contains("0/temp"), "names the array: {found}");
    }
    // The good root still opens and reads.
    let map = open(&blocks, root).await.unwrap();
    assert!(map.get_link("0/temp/c/2").await.unwrap().is_some());
}

#[tokio::test]
async fn shards_of_the_wrong_length_or_contents_name_the_array_and_cid() {
    let (blocks, root) = sample().await;
    let chunk = first_shard(&blocks, root).await; // any CID will do as an entry
    let shards: Vec<(Vec<u8>, DecodeErrorKind)> = vec![
        (
            link_list::encode(&[Some(chunk), None, None]),
            DecodeErrorKind::WrongLength {
                expected: 2,
                found: 3,
            },
        ),
        (
            link_list::encode(&[Some(chunk)]),
            DecodeErrorKind::WrongLength {
                expected: 2,
                found: 1,
            },
        ),
        (vec![0x82, 0x01, 0xf6], DecodeErrorKind::NotALinkOrNull),
        (
            serde_ipld_dagcbor::to_vec(&Ipld::Map(BTreeMap::new())).unwrap(),
            DecodeErrorKind::NotAList,
        ),
        (
            [link_list::encode(&[None, None]), vec![0xf6]].concat(),
            DecodeErrorKind::TrailingBytes,
        ),
        // A list head claiming 2^60 entries with three bytes behind it.
        (
            vec![0x9b, 0x10, 0, 0, 0, 0, 0, 0, 0, 0xf6, 0xf6],
            DecodeErrorKind::WrongLength {
                expected: 2,
                found: 1 << 60,
            },
        ),
    ];
    for (bytes, kind) in shards {
        let shard = blocks
            .put(BlockCodec::DagCbor, bytes.clone().into())
            .await
            .unwrap();
        let bad = with_first_shard(&blocks, root, shard).await;
        let map = open(&blocks, bad).await.unwrap();
        match map.get_link("0/temp/c/1").await {
            Err(ShardedError::BadShard(found)) => {
                assert_eq!(found.cid, shard, "{bytes:02x?}");
                assert_eq!(found.array, "0/temp");
                assert_eq!(found.source.kind, kind, "{bytes:02x?}");
                let message = ShardedError::BadShard(found).to_string();
                assert!(message.contains(&shard.to_string()), "{message}");
            }
            other => panic!("{bytes:02x?}: expected BadShard, got {other:?}"),
        }
        // The other shard is untouched.
        assert!(map.get_link("0/temp/c/2").await.unwrap().is_some());
    }
}

#[tokio::test]
async fn a_file_too_large_to_be_a_shard_is_refused_before_it_is_read() {
    let (blocks, root) = sample().await;
    // A 3 MiB UnixFS file where a shard of 2 entries (at most 208 bytes) belongs.
    let (file, file_blocks) = hamt_unixfs::build_file(&vec![7u8; 3 << 20], HashAlgorithm::Blake3);
    blocks.put_many(file_blocks).await.unwrap();
    let bad = with_first_shard(&blocks, root, file).await;
    let map = open(&blocks, bad).await.unwrap();
    match map.get_link("0/temp/c/0").await {
        Err(ShardedError::TooLarge { cid, size, limit }) => {
            assert_eq!(cid, file);
            assert_eq!(size, 3 << 20);
            assert!(limit < 1024, "{limit}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_and_corrupt_shards_are_store_errors_naming_the_cid() {
    let (blocks, root) = sample().await;
    let shard = first_shard(&blocks, root).await;
    let bytes = blocks.remove(&shard).unwrap();
    let map = open(&blocks, root).await.unwrap();
    match map.get_link("0/temp/c/0").await {
        Err(ShardedError::Store(StoreError::NotFound(cid))) => assert_eq!(cid, shard),
        other => panic!("expected NotFound, got {other:?}"),
    }
    // Chunks of other shards and metadata still read.
    assert!(map.get_link("0/temp/c/2").await.unwrap().is_some());
    assert!(map.get_link("0/temp/zarr.json").await.unwrap().is_some());

    // The same bytes with one bit flipped, stored under the shard's CID.
    let mut flipped = bytes.to_vec();
    flipped[5] ^= 1;
    blocks.insert_unverified(shard, flipped.into());
    let map = open(&blocks, root).await.unwrap();
    let error = map.get_link("0/temp/c/0").await.unwrap_err();
    assert!(
        matches!(error, ShardedError::Store(_)) && error.to_string().contains(&shard.to_string()),
        "{error}"
    );

    // A missing root.
    blocks.insert_unverified(shard, bytes);
    let absent = Block::new(
        BlockCodec::DagCbor,
        HashAlgorithm::Blake3,
        vec![0xa0].into(),
    );
    assert!(matches!(
        open(&blocks, *absent.cid()).await,
        Err(ShardedError::Store(StoreError::NotFound(cid))) if cid == *absent.cid()
    ));
}

#[tokio::test]
async fn chunk_keys_outside_the_grid_are_refused_naming_the_key_and_change_nothing() {
    let (blocks, root) = sample().await;
    let mut map = open(&blocks, root).await.unwrap();
    for key in ["0/temp/c/4", "0/temp/c/99999999999999999999", "0/temp/c/-1"] {
        let error = map.set(key, vec![1; 16].into()).await.unwrap_err();
        assert!(
            matches!(error, ShardedError::Key(KeyError::Coords { .. })),
            "{key}: {error:?}"
        );
        // Reads treat it as absent, as py-hamt does.
        assert_eq!(map.get_link(key).await.unwrap(), None, "{key}");
    }
    let error = map
        .set("0/temp/c/1/0", vec![1; 16].into())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("0/temp/c/1/0"), "{error}");
    let error = map.set("0/temp/c/x", vec![1; 16].into()).await.unwrap_err();
    assert!(
        matches!(&error, ShardedError::Key(KeyError::NotAnInteger { .. }))
            && error.to_string().contains("0/temp/c/x"),
        "{error:?}"
    );
    // A chunk of an array with no metadata yet.
    let error = map.set("0/rain/c/0", vec![1; 16].into()).await.unwrap_err();
    assert!(
        matches!(&error, ShardedError::UnknownArray { key, array } if key == "0/rain/c/0" && array == "0/rain"),
        "{error:?}"
    );
    // Nothing changed: the same root, every chunk as before.
    assert!(!map.is_dirty());
    assert_eq!(map.flush().await.unwrap(), root);
    for i in 0..3u8 {
        let link = map
            .get_link(&format!("0/temp/c/{i}"))
            .await
            .unwrap()
            .unwrap();
        let value = map.read_value(&link, ByteRange::Full).await.unwrap();
        assert_eq!(value, vec![i; 16]);
    }
}

#[tokio::test]
async fn writes_to_a_store_with_a_broken_shard_fail_and_lose_nothing_flushed() {
    let (blocks, root) = sample().await;
    let shard = first_shard(&blocks, root).await;
    let bytes = blocks.remove(&shard).unwrap();
    let mut map = open(&blocks, root).await.unwrap();
    // Writing into the missing shard must read it first: it fails, typed.
    let error = map.set("0/temp/c/1", vec![9; 16].into()).await.unwrap_err();
    assert!(
        matches!(error, ShardedError::Store(StoreError::NotFound(cid)) if cid == shard),
        "{error:?}"
    );
    // A write elsewhere still works, and the flushed root keeps shard 0's CID.
    map.set("0/temp/c/3", vec![3; 16].into()).await.unwrap();
    let next = map.flush().await.unwrap();
    assert_ne!(next, root);
    blocks.insert_unverified(shard, bytes);
    let reopened = open(&blocks, next).await.unwrap();
    for i in 0..4u8 {
        let link = reopened
            .get_link(&format!("0/temp/c/{i}"))
            .await
            .unwrap()
            .unwrap();
        let value = reopened.read_value(&link, ByteRange::Full).await.unwrap();
        assert_eq!(value, vec![i; 16]);
    }
}

/// A block store that counts reads of each CID and makes them slow, so
/// concurrent readers overlap.
struct CountingStore {
    inner: Arc<MemoryStore>,
    reads: std::sync::Mutex<BTreeMap<Cid, usize>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

impl CountingStore {
    fn reads_of(&self, cid: &Cid) -> usize {
        self.reads.lock().unwrap().get(cid).copied().unwrap_or(0)
    }
}

#[async_trait]
impl BlockStore for CountingStore {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        *self.reads.lock().unwrap().entry(*cid).or_default() += 1;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.inner.get(cid).await
    }
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.inner.has(cid).await
    }
    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.inner.put_block(block).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_of_one_missing_shard_share_one_fetch() {
    let (blocks, root) = sample().await;
    let shard = first_shard(&blocks, root).await;
    let store = Arc::new(CountingStore {
        inner: blocks,
        reads: std::sync::Mutex::default(),
        in_flight: AtomicUsize::new(0),
        most_in_flight: AtomicUsize::new(0),
    });
    let map = Arc::new(
        ShardedMap::open(store.clone(), root, ShardedConfig::default())
            .await
            .unwrap(),
    );
    let readers: Vec<_> = (0..32)
        .map(|i| {
            let map = map.clone();
            tokio::spawn(async move { map.get_link(&format!("0/temp/c/{}", i % 2)).await })
        })
        .collect();
    for reader in readers {
        assert!(reader.await.unwrap().unwrap().is_some());
    }
    assert_eq!(store.reads_of(&shard), 1, "32 readers, one fetch");
    // Later reads come from the cache.
    map.get_link("0/temp/c/0").await.unwrap();
    assert_eq!(store.reads_of(&shard), 1);

    // Without a cache every reader fetches (what the cache saves).
    let uncached = ShardedMap::open(
        store.clone(),
        root,
        ShardedConfig {
            cache_bytes: 0,
            ..ShardedConfig::default()
        },
    )
    .await
    .unwrap();
    let before = store.reads_of(&shard);
    let reads = (0..4).map(|_| uncached.get_link("0/temp/c/0"));
    for read in futures::future::join_all(reads).await {
        assert!(read.unwrap().is_some());
    }
    assert_eq!(store.reads_of(&shard) - before, 4);
    assert!(
        store.most_in_flight.load(Ordering::SeqCst) >= 2,
        "reads overlapped"
    );
}

/// A block store whose writes fail while `failing` is set.
struct FlakyStore {
    inner: MemoryStore,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl BlockStore for FlakyStore {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.inner.get(cid).await
    }
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.inner.has(cid).await
    }
    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend {
                context: "put".into(),
                source: "the disk is full".into(),
            });
        }
        self.inner.put_block(block).await
    }
}

#[tokio::test]
async fn a_failed_flush_loses_nothing_and_a_retry_gives_the_same_root() {
    let expected = sample().await.1;
    let store = Arc::new(FlakyStore {
        inner: MemoryStore::new(),
        failing: std::sync::atomic::AtomicBool::new(true),
    });
    let mut map = ShardedMap::new(store.clone(), 2).unwrap();
    write_sample(&mut map).await;
    // Written values read back before they reach the store.
    let link = map.get_link("0/temp/c/1").await.unwrap().unwrap();
    assert_eq!(
        map.read_value(&link, ByteRange::Suffix(4)).await.unwrap(),
        vec![1u8; 4]
    );
    assert!(store.inner.is_empty());
    assert!(map.flush().await.is_err(), "the store refuses writes");
    assert!(map.is_dirty() && map.root_cid().is_none());
    store.failing.store(false, Ordering::SeqCst);
    assert_eq!(
        map.flush().await.unwrap(),
        expected,
        "the same root as an unfailed run"
    );
    let reopened = ShardedMap::open(store.clone(), expected, ShardedConfig::default())
        .await
        .unwrap();
    let link = reopened.get_link("0/temp/c/2").await.unwrap().unwrap();
    assert_eq!(
        reopened.read_value(&link, ByteRange::Full).await.unwrap(),
        vec![2u8; 16]
    );
}
