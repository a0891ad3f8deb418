//! Named roots across reopen, read-only handles, and clear open errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;

use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{BlockCodec, BlockStore, Bytes, StoreError};

#[tokio::test]
async fn named_roots_round_trip_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksDbStore::open(dir.path(), &RocksDbOptions::default()).unwrap();
    let a = store
        .put(BlockCodec::DagCbor, Bytes::from_static(b"\x66root a")) // a CBOR string
        .await
        .unwrap();
    let b = store
        .put(BlockCodec::DagCbor, Bytes::from_static(b"\x66root b"))
        .await
        .unwrap();
    store.set_root("zarr/a", &a).unwrap();
    store.set_root("zarr/b", &a).unwrap();
    store.set_root("zarr/b", &b).unwrap();
    store.set_root("", &b).unwrap();
    drop(store);

    let store = RocksDbStore::open(dir.path(), &RocksDbOptions::default()).unwrap();
    assert_eq!(store.root("zarr/a").unwrap(), Some(a));
    assert_eq!(store.root("zarr/b").unwrap(), Some(b));
    assert_eq!(store.root("nope").unwrap(), None);
    let expected = vec![
        (String::new(), b),
        ("zarr/a".to_owned(), a),
        ("zarr/b".to_owned(), b),
    ];
    assert_eq!(store.roots().unwrap(), expected);

    assert_eq!(store.remove_root("zarr/a").unwrap(), Some(a));
    assert_eq!(store.remove_root("zarr/a").unwrap(), None);
    drop(store);
    let store = RocksDbStore::open(dir.path(), &RocksDbOptions::read_only()).unwrap();
    assert_eq!(store.root("zarr/a").unwrap(), None);
    assert_eq!(store.roots().unwrap().len(), 2);
}

#[tokio::test]
async fn a_root_must_be_held_before_it_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksDbStore::open(dir.path(), &RocksDbOptions::default()).unwrap();
    let missing = hamt_store::Block::new(
        BlockCodec::DagCbor,
        hamt_store::HashAlgorithm::Blake3,
        Bytes::from_static(b"x"),
    );
    match store.set_root("r", missing.cid()) {
        Err(StoreError::NotFound(cid)) => assert_eq!(&cid, missing.cid()),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.root("r").unwrap(), None);
}

#[tokio::test]
async fn read_only_handles_read_and_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let writer = RocksDbStore::open(dir.path(), &RocksDbOptions::default()).unwrap();
    let cid = writer
        .put(BlockCodec::Raw, Bytes::from_static(b"shared"))
        .await
        .unwrap();
    writer.set_root("r", &cid).unwrap();

    // A reader may open while the writer holds the store.
    let reader = RocksDbStore::open(dir.path(), &RocksDbOptions::read_only()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(&reader.get(&cid).await.unwrap()[..], b"shared");
    assert_eq!(reader.root("r").unwrap(), Some(cid));
    assert!(matches!(
        reader
            .put(BlockCodec::Raw, Bytes::from_static(b"new"))
            .await,
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(
        reader.put_many(vec![]).await,
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(
        reader.set_root("r2", &cid),
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(reader.remove_root("r"), Err(StoreError::ReadOnly)));
    assert!(matches!(reader.gc(), Err(StoreError::ReadOnly)));
    assert!(matches!(reader.sync(), Err(StoreError::ReadOnly)));
    assert!(matches!(reader.compact(), Err(StoreError::ReadOnly)));
    assert!(matches!(
        reader.put_unverified(&cid, b"x"),
        Err(StoreError::ReadOnly)
    ));
}

#[test]
fn a_second_writer_gets_a_clear_locked_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RocksDbStore::open(dir.path(), &RocksDbOptions::default()).unwrap();
    let error = RocksDbStore::open(dir.path(), &RocksDbOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Backend { .. }));
    assert!(message.contains("locked"), "{message}");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

/// With `lock_wait`, a second writer waits for the first to close (and
/// still fails, after the wait, if it does not).
#[test]
fn a_second_writer_waits_for_the_lock_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let first = RocksDbStore::open(dir.path(), &RocksDbOptions::default()).unwrap();
    let mut waiting = RocksDbOptions::default();
    waiting.lock_wait = std::time::Duration::from_millis(300);
    let started = std::time::Instant::now();
    assert!(RocksDbStore::open(dir.path(), &waiting).is_err());
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    waiting.lock_wait = std::time::Duration::from_secs(30);
    let path = dir.path().to_path_buf();
    let second = std::thread::spawn(move || RocksDbStore::open(&path, &waiting).map(drop));
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(first);
    second.join().unwrap().unwrap();
}

#[test]
fn opening_read_only_where_there_is_no_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let message = RocksDbStore::open(dir.path().join("none"), &RocksDbOptions::read_only())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("open read-only") && message.contains("none"),
        "{message}"
    );
}

#[test]
fn a_path_that_is_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a store").unwrap();
    let message = RocksDbStore::open(&file, &RocksDbOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("open") && message.contains("file"),
        "{message}"
    );
}

#[test]
fn a_read_only_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("locked-down");
    std::fs::create_dir(&parent).unwrap();
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o555)).unwrap();
    let unwritable = if std::fs::write(parent.join("probe"), b"").is_err() {
        parent
    } else if std::fs::create_dir("/sys/hamt-rocksdb-probe").is_err() {
        // root ignores directory permissions; sysfs refuses new directories even to root.
        std::path::PathBuf::from("/sys")
    } else {
        println!("skipped: running as root, and no directory here refuses root's writes");
        return;
    };
    let message = RocksDbStore::open(unwritable.join("store"), &RocksDbOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("permission") && message.contains("store"),
        "{message}"
    );
}
