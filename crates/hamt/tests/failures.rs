//! Store failures at chosen moments and invalid blocks from the store: every
//! one is a typed error, none loses a change or leaves a half-applied one,
//! and the map works again (with the same root as a run that never failed)
//! once the store does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::{FaultyStore, is_injected, key_in_slot};
use futures::{Stream, StreamExt, TryStreamExt};
use hamt::diff::Change;
use hamt::{ByteRange, Hamt, HamtConfig, HamtError, KeyHasher};
use hamt_codec::{
    Blake3KeyHasher, BlockCodec, Bucket, Cid, DecodeErrorKind, HashAlgorithm, Node, Slot, block_cid,
};
use hamt_store::{BlockStore, Bytes, MemoryStore, StoreError};

fn entries(n: u32) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("temp/c/{i}/0"),
                i.to_be_bytes().repeat(1 + i as usize % 3),
            )
        })
        .collect()
}

/// The root of `entries` written by a plain run on a store that never fails.
async fn reference_root(entries: &[(String, Vec<u8>)], config: HamtConfig) -> Cid {
    let mut map = Hamt::new(MemoryStore::new(), config);
    for (k, v) in entries {
        map.insert(k, v.clone()).await.unwrap();
    }
    map.flush().await.unwrap()
}

/// Every entry of the map, read back through the store.
async fn contents<S: BlockStore>(map: &Hamt<S>) -> BTreeMap<String, Vec<u8>> {
    map.entries(8)
        .map_ok(|(k, v)| (k, v.to_vec()))
        .try_collect()
        .await
        .unwrap()
}

/// Drains a stream that is expected to fail part way: returns the items it
/// gave, checking that it failed, only with injected failures, and (if
/// `ends`) that nothing came after the first failure. A buffered stream
/// such as `entries` may still finish the reads in flight after one.
async fn until_failure<T>(stream: impl Stream<Item = Result<T, HamtError>>, ends: bool) -> Vec<T> {
    let mut stream = std::pin::pin!(stream);
    let mut items = Vec::new();
    let mut failed = false;
    while let Some(item) = stream.next().await {
        assert!(!(failed && ends), "items after the failure");
        match item {
            Ok(item) => items.push(item),
            Err(err) => {
                assert!(is_injected(&err), "{err}");
                failed = true;
            }
        }
    }
    assert!(failed, "the stream did not fail ({} items)", items.len());
    items
}

/// A flush writes value batches (1,024 blocks each) and then the nodes; a
/// failure at any of those writes leaves the map dirty and readable, and the
/// retry writes what the failed run did not (no batch twice) and gives the
/// root of a run that never failed.
#[tokio::test]
async fn flush_failing_at_any_of_its_writes_loses_nothing() {
    // 1,500 values: two value batches, then one batch of nodes.
    let entries = entries(1500);
    let model: BTreeMap<String, Vec<u8>> = entries.iter().cloned().collect();
    let expected = reference_root(&entries, HamtConfig::default()).await;
    for fail_at in 0..3 {
        let store = Arc::new(FaultyStore::default());
        let mut map = Hamt::new(store.clone(), HamtConfig::default());
        for (k, v) in &entries {
            map.insert(k, v.clone()).await.unwrap();
        }
        assert_eq!(store.write_calls.load(Ordering::Relaxed), 0);
        store.fail_writes_after(fail_at);
        let err = map.flush().await.unwrap_err();
        assert!(is_injected(&err), "{err}");
        assert_eq!(
            store.write_calls.load(Ordering::Relaxed),
            fail_at + 1,
            "flush went on after a failed write"
        );
        assert!(map.is_dirty());
        assert_eq!(map.root_cid(), None);
        assert_eq!(contents(&map).await, model, "fail_at {fail_at}");

        store.heal();
        assert_eq!(map.flush().await.unwrap(), expected, "fail_at {fail_at}");
        assert!(!map.is_dirty());
        assert_eq!(
            store.write_calls.load(Ordering::Relaxed),
            fail_at + 1 + (3 - fail_at),
            "the retry must write exactly the batches not written"
        );
        // Everything the root links is in the store.
        let reopened = Hamt::open(&store.inner, expected, HamtConfig::default())
            .await
            .unwrap();
        assert_eq!(contents(&reopened).await, model);
    }
}

/// A flush of many values through a store that answers directly writes them
/// on a second thread while it encodes the nodes; when that write fails
/// part way, no node is written, the values not stored stay buffered and
/// everything stays readable; when the node write fails after it, the same;
/// a retry then gives the root of a run that never failed.
#[tokio::test]
async fn parallel_value_write_failing_loses_nothing() {
    let entries = entries(6000);
    let model: BTreeMap<String, Vec<u8>> = entries.iter().cloned().collect();
    let expected = reference_root(&entries, HamtConfig::default()).await;
    let store = Arc::new(FaultyStore::blocking());
    let mut map = Hamt::new(store.clone(), HamtConfig::default());
    for (k, v) in &entries {
        map.insert(k, v.clone()).await.unwrap();
    }
    assert_eq!(store.write_calls.load(Ordering::Relaxed), 0);
    store.fail_writes_after(0);
    let err = map.flush().await.unwrap_err();
    assert!(is_injected(&err), "{err}");
    assert_eq!(store.write_calls.load(Ordering::Relaxed), 1);
    // Half the values went in before the failure; no node did.
    assert_eq!(store.inner.len(), 3000);
    assert!(map.is_dirty());
    assert_eq!(contents(&map).await, model);
    // A second failure, now of the nodes (half of them stored): every
    // value is in, the root is not.
    store.fail_writes_after(1);
    let err = map.flush().await.unwrap_err();
    assert!(is_injected(&err), "{err}");
    assert!(store.inner.len() > 6000);
    for (k, v) in &entries {
        let link = hamt_codec::block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, v);
        assert!(store.inner.has(&link).await.unwrap(), "value of {k}");
    }
    assert!(!store.inner.has(&expected).await.unwrap());
    assert!(map.is_dirty());
    assert_eq!(contents(&map).await, model);
    store.heal();
    assert_eq!(map.flush().await.unwrap(), expected);
    let reopened = Hamt::open(store.clone(), expected, HamtConfig::default())
        .await
        .unwrap();
    assert_eq!(contents(&reopened).await, model);
}

/// An insert that passes the value budget writes the buffered values at
/// once; if that write fails, the error is returned but the entry is in the
/// map and its value still buffered, so nothing is lost and a later flush
/// writes it.
#[tokio::test]
async fn failed_early_value_write_keeps_the_values_buffered() {
    // One 40-byte value (about 200 bytes with its bookkeeping) fits the
    // budget; two do not.
    let config = HamtConfig::default().with_value_buffer_bytes(300);
    let store = Arc::new(FaultyStore::default());
    let mut map = Hamt::new(store.clone(), config.clone());
    store.fail_writes_after(0);
    let mut model = BTreeMap::new();
    let mut failures = 0;
    for i in 0..20u8 {
        let (k, v) = (format!("k{i}"), vec![i; 40]);
        model.insert(k.clone(), v.clone());
        // The first value fits the budget; from the second on the buffer
        // is over it, and each insert tries to write it.
        match map.insert(&k, v.clone()).await {
            Ok(_) => assert_eq!(i, 0, "insert {i} should have tried to write"),
            Err(err) => {
                assert!(is_injected(&err), "{err}");
                failures += 1;
            }
        }
        assert_eq!(map.get(&k).await.unwrap(), Some(Bytes::from(v)));
    }
    assert_eq!(failures, 19, "every write past the first insert fails");
    assert!(store.inner.is_empty());
    assert_eq!(map.len().await.unwrap(), 20);
    store.heal();
    let entries: Vec<_> = model.clone().into_iter().collect();
    assert_eq!(
        map.flush().await.unwrap(),
        reference_root(&entries, config).await
    );
    let reopened = Hamt::open(&store.inner, map.root_cid().unwrap(), HamtConfig::default())
        .await
        .unwrap();
    assert_eq!(contents(&reopened).await, model);
}

/// `insert_many` applies entries in key-hash order; when the store fails
/// (here while the dirty-node budget spills subtrees), the entries applied
/// are exactly a prefix in that order, each with its value, and inserting
/// the rest afterwards gives the root of a run that never failed.
#[tokio::test]
async fn failed_insert_many_keeps_a_prefix_in_hash_order() {
    let entries = entries(2000);
    let config = HamtConfig::default().with_dirty_node_bytes(8 << 10);
    let expected = reference_root(&entries, HamtConfig::default()).await;
    let mut by_hash: Vec<&(String, Vec<u8>)> = entries.iter().collect();
    by_hash.sort_by_key(|(k, _)| Blake3KeyHasher.hash(k.as_bytes()));
    for fail_after in [0, 2, 9] {
        let store = Arc::new(FaultyStore::default());
        let mut map = Hamt::new(store.clone(), config.clone());
        store.fail_writes_after(fail_after);
        let err = map.insert_many(entries.clone()).await.unwrap_err();
        assert!(is_injected(&err), "{err}");

        let mut applied = 0;
        for (position, (k, v)) in by_hash.iter().enumerate() {
            if let Some(got) = map.get(k).await.unwrap() {
                assert_eq!(position, applied, "{k} applied out of hash order");
                assert_eq!(&got[..], &v[..]);
                applied += 1;
            }
        }
        assert!(applied > 0 && applied < entries.len(), "{applied} applied");
        assert_eq!(map.len().await.unwrap(), applied as u64);

        store.heal();
        let added = map.insert_many(entries.clone()).await.unwrap();
        assert_eq!(added, (entries.len() - applied) as u64);
        assert_eq!(map.flush().await.unwrap(), expected);
        let reopened = Hamt::open(&store.inner, expected, HamtConfig::default())
            .await
            .unwrap();
        assert_eq!(reopened.len().await.unwrap(), entries.len() as u64);
    }
}

/// Reads that fail part way through a walk (len, stats, links, entries,
/// diff, get) are store errors; a walk that failed caches nothing wrong, and
/// every read gives the full answer once the store works again.
#[tokio::test]
async fn failed_reads_are_errors_and_cache_nothing_wrong() {
    let entries = entries(1500);
    let model: BTreeMap<String, Vec<u8>> = entries.iter().cloned().collect();
    let store = Arc::new(FaultyStore::default());
    let mut writer = Hamt::new(store.clone(), HamtConfig::default());
    writer.insert_many(entries.clone()).await.unwrap();
    let root = writer.flush().await.unwrap();
    // A changed copy to diff against: one key changed, one removed, one added.
    let mut newer = Hamt::open(store.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    newer.insert("temp/c/3/0", b"new".to_vec()).await.unwrap();
    newer.remove("temp/c/4/0").await.unwrap();
    newer.insert("added", b"x".to_vec()).await.unwrap();
    let expected_changes = 3;

    let uncached = HamtConfig::default().with_cache_bytes(0);
    for reads_ok in [0, 1, 2] {
        store.heal();
        let reader = Hamt::open(store.clone(), root, uncached.clone())
            .await
            .unwrap();

        store.fail_reads_after(reads_ok);
        assert!(is_injected(&reader.len().await.unwrap_err()));
        store.heal();
        assert_eq!(reader.len().await.unwrap(), 1500, "reads_ok {reads_ok}");

        store.fail_reads_after(reads_ok);
        assert!(is_injected(&reader.stats().await.unwrap_err()));
        store.heal();
        assert_eq!(reader.stats().await.unwrap().keys, 1500);

        store.fail_reads_after(reads_ok);
        for (key, link) in until_failure(reader.links(), true).await {
            let value = store.inner.get(&link).await.unwrap();
            assert_eq!(model.get(&key).map(Vec::as_slice), Some(&value[..]));
        }
        store.fail_reads_after(reads_ok);
        for (key, value) in until_failure(reader.entries(4), false).await {
            assert_eq!(model.get(&key).map(Vec::as_slice), Some(&value[..]));
        }
        store.heal();
        assert_eq!(contents(&reader).await, model);

        store.fail_reads_after(reads_ok);
        let partial: Vec<Change> = until_failure(reader.diff(&newer), true).await;
        assert!(partial.len() < expected_changes);
        store.heal();
        let changes: Vec<Change> = reader.diff(&newer).try_collect().await.unwrap();
        let mut keys: Vec<&str> = changes.iter().map(Change::key).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["added", "temp/c/3/0", "temp/c/4/0"]);

        // A key below the root needs at least one node read, then its value.
        let deep = "temp/c/77/0";
        store.fail_reads_after(0);
        assert!(is_injected(&reader.get(deep).await.unwrap_err()));
        assert!(is_injected(
            &reader
                .get_range(deep, ByteRange::Suffix(1))
                .await
                .unwrap_err()
        ));
        assert!(is_injected(&reader.contains_key(deep).await.unwrap_err()));
        store.heal();
        assert_eq!(
            reader.get(deep).await.unwrap().as_deref(),
            Some(&model[deep][..])
        );
    }
}

/// A value over 1 MiB is a UnixFS file: a range read fetches only the
/// leaves it covers, so it works with another leaf missing, while a read
/// that needs the missing leaf fails naming it.
#[tokio::test]
async fn range_reads_of_a_file_need_only_the_leaves_they_cover() {
    const CHUNK: usize = hamt_unixfs::CHUNK_SIZE;
    let data: Vec<u8> = (0..3 * CHUNK + 100)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    let store = Arc::new(MemoryStore::new());
    let mut map = Hamt::new(store.clone(), HamtConfig::default());
    map.insert("big", data.clone()).await.unwrap();
    let root = map.flush().await.unwrap();
    let second_leaf = block_cid(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        &data[CHUNK..2 * CHUNK],
    );
    assert!(store.remove(&second_leaf).is_some(), "no such leaf");

    let reader = Hamt::open(store, root, HamtConfig::default())
        .await
        .unwrap();
    let read = async |range: ByteRange| reader.get_range("big", range).await;
    let ok = [
        (
            ByteRange::Slice {
                offset: 10,
                length: 100,
            },
            10..110,
        ),
        (ByteRange::From(2 * CHUNK as u64), 2 * CHUNK..data.len()),
        (
            ByteRange::Suffix(CHUNK as u64),
            data.len() - CHUNK..data.len(),
        ),
    ];
    for (range, want) in ok {
        let got = read(range).await.unwrap().unwrap();
        assert!(got == data[want], "{range:?}");
    }
    let needs_the_leaf = [
        ByteRange::Full,
        ByteRange::Slice {
            offset: CHUNK as u64 - 5,
            length: 10,
        },
        ByteRange::From(CHUNK as u64 + 1),
    ];
    for range in needs_the_leaf {
        match read(range).await {
            Err(HamtError::Store(StoreError::NotFound(cid))) => assert_eq!(cid, second_leaf),
            other => panic!("{range:?}: expected NotFound, got {other:?}"),
        }
    }
}

/// Checks that `result` is a `Decode` error for `want` with `want_kind`.
fn decode_error<T>(result: Result<T, HamtError>, want: Cid, want_kind: &DecodeErrorKind) {
    match result {
        Err(HamtError::Decode { cid, source }) => {
            assert_eq!(cid, want);
            assert_eq!(&source.kind, want_kind);
        }
        Err(other) => panic!("expected Decode, got {other}"),
        Ok(_) => panic!("expected Decode, got Ok"),
    }
}

/// Bytes for a child link that are not a valid node, each with the reason
/// the decoder must give.
fn invalid_nodes() -> Vec<(Vec<u8>, DecodeErrorKind)> {
    let link = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"value");
    let mut with_bucket: Node = Node::new();
    with_bucket.set(
        9,
        Slot::Bucket(Bucket::from_entries([
            ("a".into(), link),
            ("b".into(), link),
        ])),
    );
    let valid = with_bucket.encode();
    // Swap the two keys: same bytes otherwise, keys out of order.
    let bucket = valid
        .windows(3)
        .position(|w| w == [0xa2, 0x61, b'a'])
        .unwrap();
    let mut unsorted = valid.clone();
    unsorted[bucket + 2] = b'b';
    let second = bucket
        + 3
        + unsorted[bucket + 3..]
            .windows(2)
            .position(|w| w == [0x61, b'b'])
            .unwrap();
    unsorted[second + 1] = b'a';
    let mut trailing = Node::<Cid>::new().encode();
    trailing.push(0xa0);
    vec![
        (vec![0x83, 1, 2, 3], DecodeErrorKind::NotANode),
        (trailing, DecodeErrorKind::TrailingBytes),
        (
            valid[..valid.len() / 2].to_vec(),
            DecodeErrorKind::UnexpectedEnd,
        ),
        (unsorted, DecodeErrorKind::KeyOrder),
    ]
}

/// A stored root whose children at slots 1.. are invalid nodes, beside a
/// bucket of valid entries: every operation that reaches an invalid child
/// fails with `Decode` naming it (and the decoder's reason), changes
/// nothing, and everything else still works.
#[tokio::test]
async fn invalid_child_nodes_are_decode_errors_everywhere() {
    let store = Arc::new(MemoryStore::new());
    let hasher = Blake3KeyHasher;
    let good_key = key_in_slot(&hasher, "good", 200);
    let good_value = store
        .put(BlockCodec::Raw, Bytes::from_static(b"good value"))
        .await
        .unwrap();
    let mut root_node: Node = Node::new();
    root_node.set(
        200,
        Slot::Bucket(Bucket::single(good_key.as_str().into(), good_value)),
    );
    let mut bad = Vec::new();
    for (slot, (bytes, kind)) in (1u8..).zip(invalid_nodes()) {
        let cid = store
            .put(BlockCodec::DagCbor, Bytes::from(bytes))
            .await
            .unwrap();
        root_node.set(slot, Slot::Child(cid));
        bad.push((key_in_slot(&hasher, "k", slot), cid, kind));
    }
    let root = store
        .put(BlockCodec::DagCbor, Bytes::from(root_node.encode()))
        .await
        .unwrap();

    let mut map = Hamt::open(store.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    for (key, cid, kind) in &bad {
        decode_error(map.get(key).await, *cid, kind);
        decode_error(map.insert(key, b"v".to_vec()).await, *cid, kind);
        decode_error(map.remove(key).await, *cid, kind);
    }
    // The first invalid child in slot order stops a walk.
    let (_, first, first_kind) = &bad[0];
    decode_error(map.len().await, *first, first_kind);
    decode_error(map.stats().await, *first, first_kind);
    decode_error(map.keys().try_collect::<Vec<_>>().await, *first, first_kind);
    let empty = Hamt::new(MemoryStore::new(), HamtConfig::default());
    decode_error(
        map.diff(&empty).try_collect::<Vec<_>>().await,
        *first,
        first_kind,
    );
    // Nothing changed, and the valid entry still reads and writes.
    assert_eq!(map.flush().await.unwrap(), root);
    assert_eq!(
        map.get(&good_key).await.unwrap().as_deref(),
        Some(&b"good value"[..])
    );
    map.insert(&good_key, b"changed".to_vec()).await.unwrap();
    assert_eq!(
        map.get(&good_key).await.unwrap().as_deref(),
        Some(&b"changed"[..])
    );
}
