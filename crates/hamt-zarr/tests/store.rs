//! The store through zarrs' storage traits: zarrs' own conformance suite
//! (async and sync, plain and encrypted), byte ranges, the metadata cache,
//! read-only stores and tampered or wrongly-keyed encrypted values.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{TEST_CHUNKS_PER_SHARD, TempRocksDb, TestBlocks, ipfs_daemon};
use hamt::{BlockStore, HamtConfig};
use hamt_kubo::KuboStore;
use hamt_store::{BlockCodec, Bytes, MemoryStore};
use hamt_zarr::{
    EncryptedZarrHamtStore, ShardedConfig, ShardedZarrStore, ZarrHamtError, ZarrHamtStore,
};
use zarrs_storage::byte_range::ByteRange;
use zarrs_storage::{
    AsyncReadableStorageTraits, AsyncWritableStorageTraits, StorageError, StoreKey, StorePrefix,
    store_test,
};

fn key(k: &str) -> StoreKey {
    StoreKey::new(k).unwrap()
}

async fn conformance<B: TestBlocks>() {
    let store = ZarrHamtStore::create(B::fresh(), HamtConfig::default());
    store_test::async_store_write(&store).await.unwrap();
    store_test::async_store_read(&store).await.unwrap();
    store_test::async_store_list(&store).await.unwrap();
    store_test::async_store_list_size(&store).await.unwrap();

    // The same data after a flush and a read-only reopen.
    let blocks = B::fresh();
    let store = ZarrHamtStore::create(blocks.clone(), HamtConfig::default());
    store_test::async_store_write(&store).await.unwrap();
    let root = store.flush().await.unwrap();
    let reader = ZarrHamtStore::open(blocks, root, HamtConfig::default())
        .await
        .unwrap();
    store_test::async_store_read(&reader).await.unwrap();
    store_test::async_store_list(&reader).await.unwrap();
    store_test::async_store_list_size(&reader).await.unwrap();

    // Encrypted values: sizes are plaintext sizes, reads decrypt.
    let store = ZarrHamtStore::create(B::fresh(), HamtConfig::default()).encrypted([3; 32], "h");
    store_test::async_store_write(&store).await.unwrap();
    store_test::async_store_read(&store).await.unwrap();
    store_test::async_store_list(&store).await.unwrap();
    store_test::async_store_list_size(&store).await.unwrap();
}

/// The same suite on py-hamt's sharded layout: zarrs' keys are not zarr
/// arrays' chunk keys, so they all live in the manifest's metadata map.
async fn sharded_conformance<B: TestBlocks>() {
    for per_shard in [1, TEST_CHUNKS_PER_SHARD, 6250] {
        let store = ShardedZarrStore::create(B::fresh(), per_shard).unwrap();
        store_test::async_store_write(&store).await.unwrap();
        store_test::async_store_read(&store).await.unwrap();
        store_test::async_store_list(&store).await.unwrap();
        store_test::async_store_list_size(&store).await.unwrap();
    }

    let blocks = B::fresh();
    let store = ShardedZarrStore::create(blocks.clone(), TEST_CHUNKS_PER_SHARD).unwrap();
    store_test::async_store_write(&store).await.unwrap();
    let root = store.flush().await.unwrap();
    let reader = ShardedZarrStore::open(blocks, root, ShardedConfig::default())
        .await
        .unwrap();
    assert!(reader.is_read_only());
    store_test::async_store_read(&reader).await.unwrap();
    store_test::async_store_list(&reader).await.unwrap();
    store_test::async_store_list_size(&reader).await.unwrap();

    let store = ShardedZarrStore::create(B::fresh(), TEST_CHUNKS_PER_SHARD)
        .unwrap()
        .encrypted([3; 32], "h");
    store_test::async_store_write(&store).await.unwrap();
    store_test::async_store_read(&store).await.unwrap();
    store_test::async_store_list(&store).await.unwrap();
    store_test::async_store_list_size(&store).await.unwrap();
}

#[tokio::test]
async fn passes_zarrs_async_store_conformance_over_memory() {
    conformance::<Arc<MemoryStore>>().await;
}

#[tokio::test]
async fn sharded_passes_zarrs_async_store_conformance_over_memory() {
    sharded_conformance::<Arc<MemoryStore>>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_passes_zarrs_async_store_conformance_over_rocksdb() {
    sharded_conformance::<TempRocksDb>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_passes_zarrs_async_store_conformance_through_an_ipfs_daemon() {
    if ipfs_daemon().is_none() {
        return;
    }
    sharded_conformance::<Arc<KuboStore>>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_passes_zarrs_sync_store_conformance_on_a_worker_and_a_plain_thread() {
    let store =
        Arc::new(ShardedZarrStore::create(MemoryStore::new(), TEST_CHUNKS_PER_SHARD).unwrap());
    store_test::store_write(&*store).unwrap();
    store_test::store_read(&*store).unwrap();
    let plain_thread = std::thread::spawn(move || {
        store_test::store_list(&*store).unwrap();
        store_test::store_list_size(&*store).unwrap();
        store_test::store_write(&*store).unwrap();
        store_test::store_read(&*store).unwrap();
    });
    plain_thread.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_zarrs_async_store_conformance_over_rocksdb() {
    conformance::<TempRocksDb>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_zarrs_async_store_conformance_through_an_ipfs_daemon() {
    if ipfs_daemon().is_none() {
        return;
    }
    conformance::<Arc<KuboStore>>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_zarrs_sync_store_conformance_on_a_worker_and_a_plain_thread() {
    let store = Arc::new(ZarrHamtStore::create(
        MemoryStore::new(),
        HamtConfig::default(),
    ));
    store_test::store_write(&*store).unwrap();
    store_test::store_read(&*store).unwrap();
    let plain_thread = std::thread::spawn(move || {
        store_test::store_list(&*store).unwrap();
        store_test::store_list_size(&*store).unwrap();
        store_test::store_write(&*store).unwrap();
        store_test::store_read(&*store).unwrap();
    });
    plain_thread.join().unwrap();
}

#[tokio::test]
async fn byte_ranges_read_parts_and_reject_ranges_past_the_end() {
    let store = ZarrHamtStore::create(MemoryStore::new(), HamtConfig::default());
    let k = key("a/c/0");
    store
        .set(&k, Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    let part = |r| store.get_partial(&k, r);
    assert_eq!(
        part(ByteRange::FromStart(2, Some(3)))
            .await
            .unwrap()
            .unwrap(),
        "234"
    );
    assert_eq!(
        part(ByteRange::FromStart(7, None)).await.unwrap().unwrap(),
        "789"
    );
    assert_eq!(
        part(ByteRange::FromStart(10, None)).await.unwrap().unwrap(),
        ""
    );
    assert_eq!(part(ByteRange::Suffix(4)).await.unwrap().unwrap(), "6789");
    assert_eq!(
        part(ByteRange::Suffix(10)).await.unwrap().unwrap(),
        "0123456789"
    );
    for bad in [
        ByteRange::FromStart(8, Some(3)),
        ByteRange::FromStart(11, None),
        ByteRange::Suffix(11),
    ] {
        let err = part(bad).await.unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidByteRangeError(_)),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(part(ByteRange::Suffix(1)).await.unwrap().unwrap(), "9");
    assert!(
        store
            .get_partial(&key("missing"), ByteRange::Suffix(1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.supports_get_partial());

    // Encrypted: the whole value is decrypted, then sliced.
    let enc =
        ZarrHamtStore::create(MemoryStore::new(), HamtConfig::default()).encrypted([9; 32], "h");
    enc.set(&k, Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    assert_eq!(
        enc.get_partial(&k, ByteRange::FromStart(2, Some(3)))
            .await
            .unwrap()
            .unwrap(),
        "234"
    );
    assert_eq!(
        enc.get_partial(&k, ByteRange::Suffix(2))
            .await
            .unwrap()
            .unwrap(),
        "89"
    );
    assert!(enc.get_partial(&k, ByteRange::Suffix(11)).await.is_err());
    assert_eq!(enc.size_key(&k).await.unwrap(), Some(10));
    assert!(!enc.supports_get_partial());
}

#[tokio::test]
async fn metadata_cache_is_invalidated_by_writes_and_erases() {
    let store = ZarrHamtStore::create(MemoryStore::new(), HamtConfig::default());
    let meta = key("temp/zarr.json");
    store
        .set(&meta, Bytes::from_static(b"{\"v\":1}"))
        .await
        .unwrap();
    assert_eq!(store.get(&meta).await.unwrap().unwrap(), "{\"v\":1}"); // now cached
    store
        .set(&meta, Bytes::from_static(b"{\"v\":2}"))
        .await
        .unwrap();
    assert_eq!(store.get(&meta).await.unwrap().unwrap(), "{\"v\":2}");
    store.erase(&meta).await.unwrap();
    assert!(store.get(&meta).await.unwrap().is_none());
    store
        .set(&meta, Bytes::from_static(b"{\"v\":3}"))
        .await
        .unwrap();
    assert_eq!(store.get(&meta).await.unwrap().unwrap(), "{\"v\":3}");
    store
        .erase_prefix(&StorePrefix::new("temp/").unwrap())
        .await
        .unwrap();
    assert!(store.get(&meta).await.unwrap().is_none());
    // A partial write replaces the cached value too.
    store
        .set(&meta, Bytes::from_static(b"{\"v\":4}"))
        .await
        .unwrap();
    assert_eq!(store.get(&meta).await.unwrap().unwrap(), "{\"v\":4}");
    store
        .set_partial(&meta, 5, Bytes::from_static(b"5"))
        .await
        .unwrap();
    assert_eq!(store.get(&meta).await.unwrap().unwrap(), "{\"v\":5}");
}

#[tokio::test]
async fn read_only_stores_refuse_writes_and_share_one_hamt() {
    let blocks = Arc::new(MemoryStore::new());
    let store = ZarrHamtStore::create(blocks.clone(), HamtConfig::default());
    store
        .set(&key("zarr.json"), Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert_eq!(store.root_cid().await, None, "dirty until flushed");
    let root = store.flush().await.unwrap();
    assert_eq!(store.root_cid().await, Some(root));

    let hamt = Arc::new(
        hamt::Hamt::open(blocks, root, HamtConfig::default())
            .await
            .unwrap(),
    );
    let a = ZarrHamtStore::read_only(hamt.clone());
    let b = ZarrHamtStore::read_only(hamt);
    assert_eq!(a.get(&key("zarr.json")).await.unwrap().unwrap(), "{}");
    assert_eq!(b.len().await.unwrap(), 1);
    assert_eq!(a.flush().await.unwrap(), root);
    assert!(matches!(
        a.set(&key("x"), Bytes::new()).await,
        Err(StorageError::ReadOnly)
    ));
    assert!(matches!(
        a.erase(&key("x")).await,
        Err(StorageError::ReadOnly)
    ));
    assert!(matches!(
        a.set_value("x", Bytes::new()).await,
        Err(ZarrHamtError::ReadOnly)
    ));
}

#[tokio::test]
async fn erasing_missing_keys_and_prefixes_is_not_an_error() {
    let store = ZarrHamtStore::create(MemoryStore::new(), HamtConfig::default());
    store.erase(&key("nope")).await.unwrap();
    store
        .erase_prefix(&StorePrefix::new("nope/").unwrap())
        .await
        .unwrap();
    store
        .set(&key("a/b"), Bytes::from_static(b"x"))
        .await
        .unwrap();
    store.erase_prefix(&StorePrefix::root()).await.unwrap();
    assert!(store.is_empty().await.unwrap());
}

/// Flips a bit of the stored value of `k` and checks that reading it fails.
async fn tampered(
    blocks: &Arc<MemoryStore>,
    store: &EncryptedZarrHamtStore<Arc<MemoryStore>>,
    k: &str,
) {
    let root = store.flush().await.unwrap();
    let mut hamt = hamt::Hamt::open(blocks.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    let mut stored = hamt.get(k).await.unwrap().unwrap().to_vec();
    let last = stored.len() - 1;
    stored[last] ^= 1;
    let link = blocks.put(BlockCodec::Raw, stored.into()).await.unwrap();
    hamt.insert_link(k, link).await.unwrap();
    let root = hamt.flush().await.unwrap();
    let reader = ZarrHamtStore::open(blocks.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    let reader = reader.encrypted([1; 32], "hdr");
    assert!(matches!(
        reader.get_value(k).await,
        Err(ZarrHamtError::Decrypt { .. })
    ));
    let err = reader.get(&key(k)).await.unwrap_err();
    assert!(err.to_string().contains("failed to decrypt"), "{err}");
}

#[tokio::test]
async fn tampered_or_wrongly_keyed_values_fail_to_decrypt() {
    let blocks = Arc::new(MemoryStore::new());
    let store =
        ZarrHamtStore::create(blocks.clone(), HamtConfig::default()).encrypted([1; 32], "hdr");
    store
        .set_value("c/0", Bytes::from_static(b"chunk bytes"))
        .await
        .unwrap();
    store.set_value("short", Bytes::new()).await.unwrap();
    assert_eq!(
        store.get_value("c/0").await.unwrap().unwrap(),
        "chunk bytes"
    );
    tampered(&blocks, &store, "c/0").await;

    let root = store.flush().await.unwrap();
    let wrong = ZarrHamtStore::open(blocks.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    let wrong = wrong.encrypted([2; 32], "hdr");
    assert!(matches!(
        wrong.get_value("c/0").await,
        Err(ZarrHamtError::Decrypt { .. })
    ));

    // A plain value too short to hold a nonce and tag is an error, not a panic.
    let plain = ZarrHamtStore::create(blocks.clone(), HamtConfig::default());
    plain
        .set_value("tiny", Bytes::from_static(b"abc"))
        .await
        .unwrap();
    let root = plain.flush().await.unwrap();
    let hamt = hamt::Hamt::open(blocks, root, HamtConfig::default())
        .await
        .unwrap();
    let enc = ZarrHamtStore::read_only(Arc::new(hamt)).encrypted([1; 32], "hdr");
    assert!(matches!(
        enc.get_value("tiny").await,
        Err(ZarrHamtError::Decrypt { .. })
    ));
}

/// An encrypted value's size is its stored size less the nonce and tag,
/// known without decrypting (so without the right key, and for a value
/// tampered with); a stored value too short to be encrypted at all is an error.
#[tokio::test]
async fn encrypted_sizes_come_from_stored_sizes() {
    let blocks = Arc::new(MemoryStore::new());
    let store =
        ZarrHamtStore::create(blocks.clone(), HamtConfig::default()).encrypted([1; 32], "hdr");
    store
        .set_value("c/0", Bytes::from_static(b"chunk bytes"))
        .await
        .unwrap();
    assert_eq!(store.size_key(&key("c/0")).await.unwrap(), Some(11));
    let root = store.flush().await.unwrap();
    let wrong = ZarrHamtStore::open(blocks.clone(), root, HamtConfig::default())
        .await
        .unwrap()
        .encrypted([2; 32], "hdr");
    assert_eq!(wrong.size_key(&key("c/0")).await.unwrap(), Some(11));

    let plain = ZarrHamtStore::create(blocks.clone(), HamtConfig::default());
    plain
        .set_value("tiny", Bytes::from_static(b"abc"))
        .await
        .unwrap();
    let root = plain.flush().await.unwrap();
    let enc = ZarrHamtStore::open(blocks, root, HamtConfig::default())
        .await
        .unwrap()
        .encrypted([1; 32], "hdr");
    assert!(enc.size_key(&key("tiny")).await.is_err());
}

/// Views of one dataset share its metadata cache: a write through one
/// (here an encrypted view) is seen by the others at once.
#[tokio::test]
async fn views_share_the_metadata_cache() {
    let plain =
        hamt_zarr::Dataset::writable(hamt::Hamt::new(MemoryStore::new(), HamtConfig::default()));
    plain
        .set("a/zarr.json", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert_eq!(plain.get("a/zarr.json").await.unwrap().unwrap(), "{}");
    let secret = plain.with_codec(hamt_zarr::EncryptedValues::new([5; 32], "h"));
    secret
        .set("a/zarr.json", Bytes::from_static(b"{\"x\":1}"))
        .await
        .unwrap();
    // The plain view now reads the ciphertext, not its cached "{}".
    let stored = plain.get("a/zarr.json").await.unwrap().unwrap();
    assert_eq!(stored.len(), 7 + hamt_zarr::ENCRYPTION_OVERHEAD);
    assert_eq!(
        secret.get("a/zarr.json").await.unwrap().unwrap(),
        "{\"x\":1}"
    );
    // A read-only view refuses writes; freezing refuses them through every view.
    let reader = plain.with_read_only(true);
    assert!(matches!(
        reader.set("b", Bytes::new()).await,
        Err(ZarrHamtError::ReadOnly)
    ));
    let root = plain.flush_and_freeze().await.unwrap();
    assert!(matches!(
        secret.set("b", Bytes::new()).await,
        Err(ZarrHamtError::ReadOnly)
    ));
    plain.unfreeze();
    secret.set("b", Bytes::new()).await.unwrap();
    assert_ne!(plain.flush().await.unwrap(), root);
}
