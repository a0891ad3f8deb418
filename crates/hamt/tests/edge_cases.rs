//! Edges of the configuration and of the input: bucket and read limits,
//! trees no conforming writer makes (deeper than the hash, subtrees that
//! should have folded), values that are not DAG-CBOR, and `insert_many`
//! batches that split, hash in parallel or hold multi-block values.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use common::{ConstantHasher, config, key_in_slot};
use futures::TryStreamExt;
use hamt::{ByteRange, Hamt, HamtConfig, HamtError, KeyHasher, Sha256KeyHasher};
use hamt_codec::{Blake3KeyHasher, BlockCodec, Bucket, Cid, DecodeErrorKind, KeyHash, Node, Slot};
use hamt_store::{BlockStore, Bytes, MemoryStore};

const CHUNK: usize = hamt_unixfs::CHUNK_SIZE;

async fn root_of<'a>(
    config: HamtConfig,
    entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Cid {
    let mut map = Hamt::new(MemoryStore::new(), config);
    for (k, v) in entries {
        map.insert(k, v.to_vec()).await.unwrap();
    }
    map.flush().await.unwrap()
}

#[tokio::test]
async fn config_defaults_and_accessors() {
    let defaults = HamtConfig::default();
    assert_eq!(defaults.max_bucket_size(), 4);
    assert_eq!(defaults.dirty_node_bytes(), 18 << 20);
    assert_eq!(
        defaults.dirty_node_bytes(),
        HamtConfig::default()
            .with_memory_budget(hamt_store::MemoryBudget::default())
            .dirty_node_bytes()
    );
    assert_eq!(
        defaults.key_hasher().hash(b"temp/zarr.json"),
        Blake3KeyHasher.hash(b"temp/zarr.json")
    );
    let custom = HamtConfig::default()
        .with_dirty_node_bytes(12_345)
        .with_key_hasher(Arc::new(Sha256KeyHasher))
        .with_max_bucket_size(6);
    let map = Hamt::new(MemoryStore::new(), custom);
    assert_eq!(map.config().dirty_node_bytes(), 12_345);
    assert_eq!(map.config().max_bucket_size(), 6);
    assert_eq!(
        map.config().key_hasher().hash(b"k"),
        Sha256KeyHasher.hash(b"k")
    );
}

/// A bucket size of 0 is taken as 1: the same tree as a bucket size of 1.
#[tokio::test]
async fn bucket_size_zero_is_one() {
    let zero = HamtConfig::default().with_max_bucket_size(0);
    assert_eq!(zero.max_bucket_size(), 1);
    let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
    let entries = || keys.iter().map(|k| (k.as_str(), k.as_bytes()));
    let one = root_of(HamtConfig::default().with_max_bucket_size(1), entries()).await;
    assert_eq!(root_of(zero, entries()).await, one);
    assert_ne!(root_of(HamtConfig::default(), entries()).await, one);
}

/// The read limit on buckets is never below the bucket size, whichever is
/// set first; below the size of a stored bucket, the node is rejected.
#[tokio::test]
async fn read_limit_is_at_least_the_bucket_size() {
    let store = Arc::new(MemoryStore::new());
    // Keys that all hash alike: one bucket of eight at the root.
    let mut writer = Hamt::new(store.clone(), config(8, Arc::new(ConstantHasher)));
    for i in 0..8 {
        writer.insert(&format!("k{i}"), vec![i]).await.unwrap();
    }
    let root = writer.flush().await.unwrap();
    let constant = HamtConfig::default().with_key_hasher(Arc::new(ConstantHasher));
    for readable in [
        constant
            .clone()
            .with_max_bucket_size(8)
            .with_max_read_bucket_size(2),
        constant
            .with_max_read_bucket_size(2)
            .with_max_bucket_size(8),
    ] {
        let reader = Hamt::open(store.clone(), root, readable).await.unwrap();
        assert_eq!(reader.len().await.unwrap(), 8);
    }
    let strict = HamtConfig::default().with_max_read_bucket_size(2);
    match Hamt::open(store, root, strict).await {
        Err(HamtError::Decode { cid, source }) => {
            assert_eq!(cid, root);
            assert_eq!(
                source.kind,
                DecodeErrorKind::BucketTooLarge { len: 8, max: 4 }
            );
        }
        other => panic!("expected Decode, got {other:?}"),
    }
}

#[tokio::test]
async fn debug_shows_the_root_and_the_buffered_values() {
    let mut map = Hamt::new(
        MemoryStore::new(),
        HamtConfig::default().with_max_bucket_size(3),
    );
    let text = format!("{map:?}");
    assert!(text.contains("root: None"), "{text}");
    assert!(text.contains("max_bucket_size: 3"), "{text}");
    assert!(text.contains("pending_values: 0"), "{text}");
    map.insert("a", b"1".to_vec()).await.unwrap();
    map.insert("b", b"2".to_vec()).await.unwrap();
    assert!(format!("{map:?}").contains("pending_values: 2"), "{map:?}");
    let root = map.flush().await.unwrap();
    let text = format!("{map:?}");
    assert!(text.contains(&format!("root: Some({root:?})")), "{text}");
    assert!(text.contains("pending_values: 0"), "{text}");
}

/// A value that DAG-CBOR cannot hold is a `Value` error naming the key, and
/// the map does not change.
#[tokio::test]
async fn values_dag_cbor_cannot_hold_are_value_errors() {
    let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
    map.insert("kept", b"1".to_vec()).await.unwrap();
    let root = map.flush().await.unwrap();
    match map.insert_dagcbor("nan", &f64::NAN).await {
        Err(HamtError::Value { key, source }) => {
            assert_eq!(key, "nan");
            assert!(source.to_string().contains("finite"), "{source}");
        }
        other => panic!("expected Value, got {other:?}"),
    }
    assert!(!map.is_dirty());
    assert_eq!(map.root_cid(), Some(root));
    assert_eq!(map.len().await.unwrap(), 1);
}

/// The length of an opened map is counted on first use, over the changed
/// nodes and the stored ones alike, and then kept up to date.
#[tokio::test]
async fn len_after_open_counts_changed_and_stored_nodes() {
    let store = Arc::new(MemoryStore::new());
    let mut writer = Hamt::new(store.clone(), HamtConfig::default());
    for i in 0..300u32 {
        writer
            .insert(&format!("temp/c/{i}"), i.to_le_bytes().to_vec())
            .await
            .unwrap();
    }
    let root = writer.flush().await.unwrap();
    let mut map = Hamt::open(store, root, HamtConfig::default())
        .await
        .unwrap();
    map.insert("new", b"n".to_vec()).await.unwrap();
    map.insert("temp/c/6", b"replaced".to_vec()).await.unwrap();
    assert!(map.remove("temp/c/5").await.unwrap().is_some());
    assert!(map.remove("absent").await.unwrap().is_none());
    assert_eq!(map.len().await.unwrap(), 300);
    let keys: Vec<String> = map.keys().try_collect().await.unwrap();
    assert_eq!(keys.len(), 300);
    map.insert("newer", b"n".to_vec()).await.unwrap();
    map.remove("temp/c/7").await.unwrap();
    map.remove("temp/c/8").await.unwrap();
    assert_eq!(map.len().await.unwrap(), 299);
    assert_eq!(map.stats().await.unwrap().keys, 299);
}

/// A stored tree deeper than the key hash (no conforming writer makes one):
/// a key whose path runs out of hash is a typed error, not a panic, and a
/// failed insert changes nothing; keys on other paths work as usual.
#[tokio::test]
async fn stored_tree_deeper_than_the_hash_is_hash_exhausted() {
    let store = Arc::new(MemoryStore::new());
    // 33 nodes, each the only child of the one above at slot 7 (every byte
    // of `ConstantHasher`'s hash): the deepest is at depth 32.
    let mut cid = store
        .put(
            BlockCodec::DagCbor,
            Bytes::from(Node::<Cid>::new().encode()),
        )
        .await
        .unwrap();
    for _ in 0..32 {
        let mut node: Node = Node::new();
        node.set(7, Slot::Child(cid));
        cid = store
            .put(BlockCodec::DagCbor, Bytes::from(node.encode()))
            .await
            .unwrap();
    }
    let root = cid;
    let mut map = Hamt::open(store.clone(), root, config(4, Arc::new(ConstantHasher)))
        .await
        .unwrap();
    let exhausted = |result: Result<Option<_>, HamtError>| match result {
        Err(HamtError::HashExhausted { key }) => assert_eq!(key, "k"),
        other => panic!("expected HashExhausted, got {other:?}"),
    };
    exhausted(map.get("k").await);
    // Walks and removals refuse the node past the hash.
    let too_deep = |result: Result<_, HamtError>| match result {
        Err(HamtError::InvalidTree { depth, defect, .. }) => {
            assert_eq!((depth, defect), (32, hamt::NodeDefect::TooDeep));
        }
        other => panic!("expected InvalidTree, got {other:?}"),
    };
    too_deep(map.remove("k").await.map(|_| ()));
    too_deep(map.stats().await.map(|_| ()));
    too_deep(map.len().await.map(|_| ()));
    exhausted(map.insert("k", b"v".to_vec()).await.map(|_| None));
    assert_eq!(
        map.flush().await.unwrap(),
        root,
        "a failed insert or removal changed the tree"
    );

    // With blake3, a key outside slot 7 never meets the chain.
    let mut map = Hamt::open(store, root, HamtConfig::default())
        .await
        .unwrap();
    let other = key_in_slot(&Blake3KeyHasher, "x", 8);
    assert_eq!(map.get(&other).await.unwrap(), None);
    map.insert(&other, b"v".to_vec()).await.unwrap();
    assert_eq!(map.get(&other).await.unwrap().as_deref(), Some(&b"v"[..]));
}

/// A node at `depth` holding `keys` in buckets, as a writer with big buckets
/// would leave them.
fn node_of(keys: &[(&str, Cid)], depth: usize) -> Node {
    let mut node: Node = Node::new();
    for &(key, link) in keys {
        let slot = Blake3KeyHasher.hash(key.as_bytes())[depth];
        match node.get_mut(slot) {
            Some(Slot::Bucket(bucket)) => {
                bucket.insert(key.into(), link);
            }
            _ => {
                node.set(slot, Slot::Bucket(Bucket::single(key.into(), link)));
            }
        }
    }
    node
}

/// Subtrees holding too few entries (one, two) that a conforming writer
/// would have folded into buckets: reads see every entry, and removals fold
/// them, so the map ends in the same shape as one built from scratch.
#[tokio::test]
async fn removal_from_a_non_canonical_tree_folds_to_the_canonical_shape() {
    let hasher = Blake3KeyHasher;
    let store = Arc::new(MemoryStore::new());
    let alone = key_in_slot(&hasher, "alone", 10);
    let first = key_in_slot(&hasher, "pair", 20);
    let second = key_in_slot(&hasher, &format!("{first}/"), 20);
    let root_key = key_in_slot(&hasher, "root", 30);
    let mut links = BTreeMap::new();
    for key in [&alone, &first, &second, &root_key] {
        let link = store
            .put(BlockCodec::Raw, Bytes::from(key.clone().into_bytes()))
            .await
            .unwrap();
        links.insert(key.as_str(), link);
    }
    let put_node = async |node: Node| {
        store
            .put(BlockCodec::DagCbor, Bytes::from(node.encode()))
            .await
            .unwrap()
    };
    let single = put_node(node_of(&[(&alone, links[alone.as_str()])], 1)).await;
    let pair = put_node(node_of(
        &[
            (&first, links[first.as_str()]),
            (&second, links[second.as_str()]),
        ],
        1,
    ))
    .await;
    let mut root_node = node_of(&[(&root_key, links[root_key.as_str()])], 0);
    root_node.set(10, Slot::Child(single));
    root_node.set(20, Slot::Child(pair));
    let root = put_node(root_node).await;

    let mut map = Hamt::open(store, root, HamtConfig::default())
        .await
        .unwrap();
    assert_eq!(map.len().await.unwrap(), 4);
    for key in links.keys() {
        assert_eq!(map.get(key).await.unwrap().as_deref(), Some(key.as_bytes()));
    }
    // The subtree of one folds away: its slot empties.
    assert_eq!(
        map.remove(&alone).await.unwrap(),
        Some(links[alone.as_str()])
    );
    let stats = map.stats().await.unwrap();
    assert_eq!((stats.nodes, stats.keys), (2, 3));
    // The subtree of two folds into a bucket of the one left.
    assert_eq!(
        map.remove(&first).await.unwrap(),
        Some(links[first.as_str()])
    );
    let stats = map.stats().await.unwrap();
    assert_eq!((stats.nodes, stats.keys), (1, 2));
    assert_eq!(
        map.get(&second).await.unwrap().as_deref(),
        Some(second.as_bytes())
    );
    let canonical = root_of(
        HamtConfig::default(),
        [&second, &root_key].map(|k| (k.as_str(), k.as_bytes())),
    )
    .await;
    assert_eq!(map.flush().await.unwrap(), canonical);
}

/// `insert_many` takes entries in batches of at most 32 MiB of values, and
/// values over 1 MiB become UnixFS files: with a key given in both batches,
/// the result is the one of `insert` called for each entry in turn, and the
/// files read back whole and by range before and after the flush.
#[tokio::test]
async fn insert_many_of_large_values_spans_batches() {
    let big = |i: u8| Bytes::from(vec![i; CHUNK + 1 + usize::from(i)]);
    let mut entries: Vec<(String, Bytes)> = vec![("dup".into(), Bytes::from_static(b"first"))];
    for i in 0..36u8 {
        entries.push((format!("big/{i}"), big(i)));
        entries.push((format!("small/{i}"), Bytes::from(vec![i; 10])));
    }
    entries.push(("dup".into(), big(200)));

    let mut one_by_one = Hamt::new(MemoryStore::new(), HamtConfig::default());
    let mut new_keys = 0;
    for (k, v) in &entries {
        if one_by_one.insert(k, v.clone()).await.unwrap().is_none() {
            new_keys += 1;
        }
    }
    let expected = one_by_one.flush().await.unwrap();

    let store = Arc::new(MemoryStore::new());
    let mut map = Hamt::new(store.clone(), HamtConfig::default());
    assert_eq!(map.insert_many(entries).await.unwrap(), new_keys);
    assert_eq!(new_keys, 73);
    let check = async |map: &Hamt<Arc<MemoryStore>>| {
        let dup = map.get("dup").await.unwrap().unwrap();
        assert!(dup == big(200), "dup keeps its last value");
        let across = map
            .get_range(
                "big/3",
                ByteRange::Slice {
                    offset: CHUNK as u64 - 2,
                    length: 4,
                },
            )
            .await
            .unwrap();
        assert_eq!(across.as_deref(), Some(&[3u8; 4][..]));
        let tail = map
            .get_range("big/35", ByteRange::Suffix(40))
            .await
            .unwrap();
        assert_eq!(tail.as_deref(), Some(&[35u8; 40][..]));
        assert_eq!(
            map.get("small/35").await.unwrap().as_deref(),
            Some(&[35u8; 10][..])
        );
        // Lengths without reading values: a file's from its root node.
        for (key, len) in [("big/7", CHUNK + 8), ("small/7", 10)] {
            let link = map.get_link(key).await.unwrap().unwrap();
            assert_eq!(map.value_len(&link).await.unwrap(), len as u64);
        }
    };
    check(&map).await;
    assert_eq!(map.flush().await.unwrap(), expected);
    check(
        &Hamt::open(store, expected, HamtConfig::default())
            .await
            .unwrap(),
    )
    .await;
}

/// A batch of thousands of entries is hashed on several threads; the result
/// is still the one of `insert` in turn (a key given twice keeps its last value).
#[tokio::test]
async fn insert_many_of_a_large_batch_matches_one_by_one() {
    let mut entries: Vec<(String, Vec<u8>)> = (0..5000u32)
        .map(|i| (format!("temp/c/{i}/0"), i.to_le_bytes().to_vec()))
        .collect();
    entries.push(("temp/c/17/0".into(), b"again".to_vec()));
    let mut one_by_one = Hamt::new(MemoryStore::new(), HamtConfig::default());
    for (k, v) in &entries {
        one_by_one.insert(k, v.clone()).await.unwrap();
    }
    let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
    assert_eq!(map.insert_many(entries).await.unwrap(), 5000);
    assert_eq!(
        map.get("temp/c/17/0").await.unwrap().as_deref(),
        Some(&b"again"[..])
    );
    assert_eq!(
        map.flush().await.unwrap(),
        one_by_one.flush().await.unwrap()
    );
}

/// A key hasher that refuses one key by panicking.
#[derive(Debug)]
struct RefusingHasher;

impl KeyHasher for RefusingHasher {
    fn hash(&self, key: &[u8]) -> KeyHash {
        assert!(
            key != b"refused",
            "hasher refused {}",
            String::from_utf8_lossy(key)
        );
        Blake3KeyHasher.hash(key)
    }
}

/// A key hasher's panic while a large batch is hashed on worker threads
/// reaches the caller as that same panic.
#[test]
fn a_key_hashers_panic_reaches_the_caller() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let cfg = HamtConfig::default().with_key_hasher(Arc::new(RefusingHasher));
            let mut map = Hamt::new(MemoryStore::new(), cfg);
            let entries = (0..5000u32).map(|i| {
                let key = if i == 4321 {
                    "refused".to_owned()
                } else {
                    format!("k{i}")
                };
                (key, vec![1u8])
            });
            map.insert_many(entries).await.is_ok()
        })
    }));
    let payload = outcome.expect_err("the hasher's panic was swallowed");
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert_eq!(message, "hasher refused refused");
}

/// A value link to a dag-pb block that is not a UnixFS file is a typed
/// `File` error naming the link, on every read of the value.
#[tokio::test]
async fn a_value_that_is_not_a_unixfs_file_is_a_file_error() {
    let store = MemoryStore::new();
    let junk = hamt_store::Block::new(
        hamt_codec::BlockCodec::DagPb,
        hamt_codec::HashAlgorithm::Blake3,
        Bytes::from_static(&[0xff, 0xff, 0xff]),
    );
    let link = *junk.cid();
    store.put_block(junk).await.unwrap();
    let mut map = Hamt::new(&store, HamtConfig::default());
    map.insert_link("broken", link).await.unwrap();
    for result in [
        map.get("broken").await.map(drop),
        map.value_len(&link).await.map(drop),
    ] {
        match result {
            Err(HamtError::File { link: named, .. }) => assert_eq!(named, link),
            other => panic!("expected a File error, got {other:?}"),
        }
    }
}
