//! Behaviour beyond the model: failures lose nothing, corrupt or hostile
//! blocks are typed errors, concurrent readers agree, values in every form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::{ConstantHasher, FlakyStore, config};
use futures::TryStreamExt;
use hamt::{ByteRange, Hamt, HamtConfig, HamtError};
use hamt_codec::{Blake3KeyHasher, BlockCodec, HashAlgorithm, Node, block_cid};
use hamt_store::{BlockStore, Bytes, MemoryStore, StoreError};
use ipld_core::ipld::Ipld;

async fn filled(store: Arc<MemoryStore>, n: u32) -> Hamt<Arc<MemoryStore>> {
    let mut map = Hamt::new(store, HamtConfig::default());
    for i in 0..n {
        map.insert(&format!("temp/c/{i}/0/0"), i.to_le_bytes().to_vec())
            .await
            .unwrap();
    }
    map
}

#[tokio::test]
async fn empty_map_flushes_to_py_hamts_empty_root() {
    let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
    assert!(map.is_empty().await.unwrap());
    assert!(map.is_dirty());
    let root = map.flush().await.unwrap();
    assert_eq!(
        root.to_string(),
        "bafyr4igb3js3dqlnsvmbi533lhghfet3l4r35vbi7mlrvxjb6f3n5wkc3m"
    );
    assert_eq!(map.root_cid(), Some(root));
    assert_eq!(map.flush().await.unwrap(), root, "a clean flush is a no-op");
}

#[tokio::test]
async fn failed_flush_loses_nothing_and_can_retry() {
    let store = Arc::new(FlakyStore::default());
    let mut map = Hamt::new(store.clone(), HamtConfig::default());
    for i in 0..300 {
        map.insert(&format!("k{i}"), vec![1; 10]).await.unwrap();
    }
    store.fail_writes.store(true, Ordering::Relaxed);
    let err = map.flush().await.unwrap_err();
    assert!(
        matches!(err, HamtError::Store(StoreError::Backend { .. })),
        "{err}"
    );
    assert!(map.is_dirty());
    assert_eq!(map.get("k7").await.unwrap().as_deref(), Some(&[1; 10][..]));
    store.fail_writes.store(false, Ordering::Relaxed);
    let root = map.flush().await.unwrap();
    let reopened = Hamt::open(store.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    assert_eq!(reopened.len().await.unwrap(), 300);
}

#[tokio::test]
async fn failed_reads_leave_the_map_unchanged() {
    let store = Arc::new(FlakyStore::default());
    let mut map = Hamt::new(store.clone(), config(1, Arc::new(Blake3KeyHasher)));
    for i in 0..200 {
        map.insert(&format!("k{i}"), vec![2; 3]).await.unwrap();
    }
    let root = map.flush().await.unwrap();
    let cfg = config(1, Arc::new(Blake3KeyHasher)).with_cache_bytes(0);
    let mut map = Hamt::open(store.clone(), root, cfg).await.unwrap();
    store.fail_reads.store(true, Ordering::Relaxed);
    assert!(map.insert("new", vec![3]).await.is_err());
    assert!(map.remove("k5").await.is_err());
    assert!(map.get("k5").await.is_err());
    store.fail_reads.store(false, Ordering::Relaxed);
    assert_eq!(
        map.flush().await.unwrap(),
        root,
        "failed writes changed the tree"
    );
    assert_eq!(map.len().await.unwrap(), 200);
}

#[tokio::test]
async fn hash_exhaustion_is_an_error_and_changes_nothing() {
    let mut map = Hamt::new(MemoryStore::new(), config(2, Arc::new(ConstantHasher)));
    map.insert("a", b"1".to_vec()).await.unwrap();
    map.insert("b", b"2".to_vec()).await.unwrap();
    let before = map.flush().await.unwrap();
    match map.insert("c", b"3".to_vec()).await {
        Err(HamtError::HashExhausted { key }) => assert_eq!(key, "c"),
        other => panic!("expected HashExhausted, got {other:?}"),
    }
    assert_eq!(map.flush().await.unwrap(), before);
    assert_eq!(map.len().await.unwrap(), 2);
    // The same past the dirty-node budget, where inserts take the general
    // (loading) path rather than the in-memory one.
    let store = MemoryStore::new();
    let config = config(2, Arc::new(ConstantHasher)).with_dirty_node_bytes(0);
    let mut map = Hamt::new(&store, config.clone());
    map.insert("a", b"1".to_vec()).await.unwrap();
    map.insert("b", b"2".to_vec()).await.unwrap();
    let before = map.flush().await.unwrap();
    let mut map = Hamt::open(&store, before, config.with_cache_bytes(0))
        .await
        .unwrap();
    match map.insert("c", b"3".to_vec()).await {
        Err(HamtError::HashExhausted { key }) => assert_eq!(key, "c"),
        other => panic!("expected HashExhausted, got {other:?}"),
    }
    assert_eq!(map.flush().await.unwrap(), before);
}

#[tokio::test]
async fn corrupt_node_is_a_typed_error_naming_the_cid() {
    let store = Arc::new(MemoryStore::new());
    let mut map = filled(store.clone(), 2000).await;
    let root = map.flush().await.unwrap();
    // Replace a child node's bytes with another valid node's bytes.
    let root_node = Node::decode(&store.get(&root).await.unwrap(), 4).unwrap();
    let child = root_node
        .iter()
        .find_map(|(_, s)| match s {
            hamt_codec::Slot::Child(c) => Some(*c),
            hamt_codec::Slot::Bucket(_) => None,
        })
        .unwrap();
    store.insert_unverified(child, Bytes::from(Node::<hamt_codec::Cid>::new().encode()));
    let reader = Hamt::open(store.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    let err = reader.keys().try_collect::<Vec<_>>().await.unwrap_err();
    match err {
        HamtError::Store(StoreError::Corrupt { cid }) => assert_eq!(cid, child),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn non_node_block_is_a_decode_error() {
    let store = Arc::new(MemoryStore::new());
    let not_a_node = store
        .put(BlockCodec::DagCbor, Bytes::from_static(&[0x83, 1, 2, 3]))
        .await
        .unwrap();
    match Hamt::open(store.clone(), not_a_node, HamtConfig::default()).await {
        Err(HamtError::Decode { cid, source }) => {
            assert_eq!(cid, not_a_node);
            assert!(source.to_string().contains("256"), "{source}");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    let missing = block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b"nothing");
    assert!(matches!(
        Hamt::open(store, missing, HamtConfig::default()).await,
        Err(HamtError::Store(StoreError::NotFound(c))) if c == missing
    ));
}

#[tokio::test]
async fn oversized_bucket_from_the_store_is_rejected() {
    let store = Arc::new(MemoryStore::new());
    let mut writer = Hamt::new(store.clone(), config(64, Arc::new(ConstantHasher)));
    for i in 0..40 {
        writer.insert(&format!("k{i}"), vec![]).await.unwrap();
    }
    let root = writer.flush().await.unwrap();
    let strict = HamtConfig::default().with_max_read_bucket_size(8);
    assert!(matches!(
        Hamt::open(store.clone(), root, strict).await,
        Err(HamtError::Decode { .. })
    ));
    // The default read limit accepts buckets bigger than its own write size
    // (with the writer's key hasher: a walk checks keys hash to their slots).
    let reader = Hamt::open(store, root, config(4, Arc::new(ConstantHasher)))
        .await
        .unwrap();
    assert_eq!(reader.len().await.unwrap(), 40);
}

#[tokio::test]
async fn byte_ranges_on_buffered_and_stored_values() {
    let store = Arc::new(MemoryStore::new());
    let mut map = Hamt::new(store.clone(), HamtConfig::default());
    map.insert("v", b"0123456789".to_vec()).await.unwrap();
    let check = async |map: &Hamt<Arc<MemoryStore>>| {
        let cases = [
            (ByteRange::Full, &b"0123456789"[..]),
            (ByteRange::From(7), b"789"),
            (
                ByteRange::Slice {
                    offset: 2,
                    length: 3,
                },
                b"234",
            ),
            (ByteRange::Suffix(2), b"89"),
            (ByteRange::Suffix(0), b""),
            (
                ByteRange::Slice {
                    offset: 20,
                    length: 3,
                },
                b"",
            ),
        ];
        for (range, want) in cases {
            assert_eq!(
                map.get_range("v", range).await.unwrap().as_deref(),
                Some(want),
                "{range:?}"
            );
        }
        assert_eq!(
            map.get_range("absent", ByteRange::Suffix(2)).await.unwrap(),
            None
        );
    };
    check(&map).await;
    let root = map.flush().await.unwrap();
    check(
        &Hamt::open(store, root, HamtConfig::default())
            .await
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn dagcbor_values_match_py_hamts_encoding() {
    let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
    let value = Ipld::Map(BTreeMap::from([("a".to_owned(), Ipld::Integer(1))]));
    map.insert_dagcbor("meta", &value).await.unwrap();
    // py-hamt: dag_cbor.encode({"a": 1}) == b"\xa1\x61\x61\x01"
    assert_eq!(
        map.get("meta").await.unwrap().as_deref(),
        Some(&[0xa1, 0x61, 0x61, 0x01][..])
    );
    assert_eq!(map.get_dagcbor::<Ipld>("meta").await.unwrap(), Some(value));
    assert_eq!(map.get_dagcbor::<Ipld>("absent").await.unwrap(), None);
    map.insert("raw", vec![0xff]).await.unwrap();
    assert!(matches!(
        map.get_dagcbor::<Ipld>("raw").await,
        Err(HamtError::Value { key, .. }) if key == "raw"
    ));
}

#[tokio::test]
async fn values_are_written_early_when_the_buffer_is_full() {
    let store = Arc::new(MemoryStore::new());
    let cfg = HamtConfig::default().with_value_buffer_bytes(1000);
    let mut map = Hamt::new(store.clone(), cfg);
    for i in 0..50u8 {
        map.insert(&format!("k{i}"), vec![i; 100]).await.unwrap();
    }
    assert!(
        store.len() >= 40,
        "values stayed buffered: {} blocks",
        store.len()
    );
    assert_eq!(map.get("k3").await.unwrap().as_deref(), Some(&[3; 100][..]));
}

#[tokio::test]
async fn sha256_stores_and_key_hashes_work() {
    let store = Arc::new(MemoryStore::with_hash(HashAlgorithm::Sha2_256));
    let cfg = HamtConfig::default().with_key_hasher(Arc::new(hamt::Sha256KeyHasher));
    let mut map = Hamt::new(store.clone(), cfg.clone());
    for i in 0..100 {
        map.insert(&format!("k{i}"), vec![7]).await.unwrap();
    }
    let root = map.flush().await.unwrap();
    assert_eq!(root.hash().code(), 0x12);
    let reader = Hamt::open(store, root, cfg).await.unwrap();
    assert_eq!(reader.get("k42").await.unwrap().as_deref(), Some(&[7][..]));
}

#[test]
fn flushed_hamt_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Hamt<MemoryStore>>();
    shareable::<Hamt<Arc<MemoryStore>>>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_read_one_flushed_hamt() {
    let store = Arc::new(MemoryStore::new());
    let mut map = filled(store.clone(), 5000).await;
    let root = map.flush().await.unwrap();
    let cfg = HamtConfig::default().with_cache_bytes(256 << 10);
    let shared = Arc::new(Hamt::open(store, root, cfg).await.unwrap());
    let tasks: Vec<_> = (0..32u32)
        .map(|t| {
            let map = Arc::clone(&shared);
            tokio::spawn(async move {
                for i in (t..5000).step_by(7) {
                    let v = map.get(&format!("temp/c/{i}/0/0")).await.unwrap().unwrap();
                    assert_eq!(&v[..], &i.to_le_bytes());
                }
                map.len().await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 5000);
    }
    let stats = shared.cache_stats();
    assert!(stats.bytes <= stats.capacity_bytes, "{stats:?}");
    assert!(stats.hits > 0 && stats.misses > 0, "{stats:?}");
    shared.clear_cache();
    assert_eq!(shared.cache_stats().nodes, 0);
}

#[tokio::test]
async fn values_over_one_mib_are_kubo_unixfs_files() {
    // The file of ../shared/ipfs-node/smoke-test.sh, whose CID Kubo's
    // `add?hash=blake3&chunker=size-1048576&cid-version=1&raw-leaves=true` gives.
    let data: Vec<u8> = (0..3_145_728u32)
        .map(|i| u8::try_from((i * 7 + 3) % 251).unwrap())
        .collect();
    let expected = "bafyb4idwxzl76im7xhsgyicd7jlhnzsdm6k4vqfliuclxnnmpnud73w37y";
    let store = Arc::new(MemoryStore::new());
    let mut map = Hamt::new(store.clone(), HamtConfig::default());
    map.insert("big", data.clone()).await.unwrap();
    map.insert("edge", vec![9u8; 1 << 20]).await.unwrap();
    assert_eq!(
        map.get_link("big").await.unwrap().unwrap().to_string(),
        expected
    );
    let edge = map.get_link("edge").await.unwrap().unwrap();
    assert_eq!(
        edge.codec(),
        BlockCodec::Raw.code(),
        "exactly 1 MiB stays one raw block"
    );
    let window = ByteRange::Slice {
        offset: 1_048_570,
        length: 20,
    };
    let check = async |map: &Hamt<Arc<MemoryStore>>| {
        assert!(
            map.get("big").await.unwrap().unwrap() == data,
            "big value differs"
        );
        let part = map.get_range("big", window).await.unwrap().unwrap();
        assert_eq!(&part[..], &data[1_048_570..1_048_590]);
        let tail = map
            .get_range("big", ByteRange::Suffix(5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&tail[..], &data[data.len() - 5..]);
    };
    check(&map).await;
    let root = map.flush().await.unwrap();
    check(
        &Hamt::open(store, root, HamtConfig::default())
            .await
            .unwrap(),
    )
    .await;
}

/// Every future of the map is `Send`, so it can run on any executor thread
/// (zarrs' async store traits require it).
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let store = Arc::new(MemoryStore::new());
    let mut map = Hamt::new(store.clone(), HamtConfig::default());
    send(&map.get("k"));
    send(&map.get_range("k", ByteRange::Full));
    send(&map.len());
    send(&map.stats());
    send(&map.keys());
    send(&Hamt::open(
        store.clone(),
        block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b""),
        HamtConfig::default(),
    ));
    send(&map.insert("k", vec![1]));
    send(&map.insert_dagcbor("k", &1u8));
    send(&map.remove("k"));
    send(&map.flush());
    let other = Hamt::new(store, HamtConfig::default());
    send(&map.diff(&other));
}
