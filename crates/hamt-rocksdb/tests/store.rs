//! The `BlockStore` contract on a real RocksDB: conformance, corruption, aliases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{Block, BlockCodec, BlockStore, ByteRange, Bytes, Cid, HashAlgorithm, StoreError};

fn open(dir: &tempfile::TempDir, options: &RocksDbOptions) -> RocksDbStore {
    RocksDbStore::open(dir.path(), options).unwrap()
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &RocksDbOptions::default());
    hamt_store::conformance::check_all(&store, |cid, data| {
        store.put_unverified(&cid, &data).unwrap();
    })
    .await;
}

#[tokio::test]
async fn passes_the_conformance_suite_without_blob_files_or_compression() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = RocksDbOptions::default();
    options.blob_min_bytes = None;
    options.compression = hamt_rocksdb::Compression::None;
    let store = open(&dir, &options);
    hamt_store::conformance::check_all(&store, |cid, data| {
        store.put_unverified(&cid, &data).unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_wrong_block_under_a_cid_is_corrupt_never_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &RocksDbOptions::default());
    for size in [10, 200_000] {
        // Small values live in SSTs, large ones in blob files: check both paths.
        let real = Block::new(
            BlockCodec::DagCbor,
            HashAlgorithm::Blake3,
            Bytes::from(vec![1u8; size]),
        );
        store.put_unverified(real.cid(), &vec![2u8; size]).unwrap();
        let cid = *real.cid();
        match store.get(&cid).await {
            Err(StoreError::Corrupt { cid: bad }) => assert_eq!(bad, cid),
            other => panic!("got {other:?}"),
        }
        let error = store
            .get_range(
                &cid,
                ByteRange::Slice {
                    offset: 1,
                    length: 2,
                },
            )
            .await
            .unwrap_err();
        assert!(error.to_string().contains(&cid.to_string()), "{error}");
        // Corruption survives a reopen and is still caught.
        assert!(store.has(&cid).await.unwrap());
    }
    drop(store);
    let store = open(&dir, &RocksDbOptions::default());
    let cid = Block::new(
        BlockCodec::DagCbor,
        HashAlgorithm::Blake3,
        Bytes::from(vec![1u8; 10]),
    )
    .cid()
    .to_owned();
    assert!(matches!(
        store.get(&cid).await,
        Err(StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn unverified_reads_return_stored_bytes_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = RocksDbOptions::default();
    options.verify_reads = false;
    let store = open(&dir, &options);
    let real = Block::new(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        Bytes::from_static(b"real"),
    );
    store.put_unverified(real.cid(), b"fake").unwrap();
    assert_eq!(&store.get(real.cid()).await.unwrap()[..], b"fake");
    assert_eq!(
        &store
            .get_range(real.cid(), ByteRange::From(2))
            .await
            .unwrap()[..],
        b"ke"
    );
}

#[tokio::test]
async fn large_block_ranges_come_from_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &RocksDbOptions::default());
    let data: Bytes = (0..3_000_000u32)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect::<Vec<_>>()
        .into();
    let cid = store.put(BlockCodec::Raw, data.clone()).await.unwrap();
    drop(store);
    let store = open(&dir, &RocksDbOptions::default());
    let range = ByteRange::Slice {
        offset: 1_000_000,
        length: 10,
    };
    assert_eq!(
        store.get_range(&cid, range).await.unwrap(),
        data.slice(1_000_000..1_000_010)
    );
    assert_eq!(store.get(&cid).await.unwrap(), data);
}

#[tokio::test]
async fn cid_v0_and_v1_of_a_dag_pb_block_are_one_block() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksDbStore::open(dir.path(), &{
        let mut o = RocksDbOptions::default();
        o.hash = HashAlgorithm::Sha2_256;
        o
    })
    .unwrap();
    let v1 = store
        .put(BlockCodec::DagPb, Bytes::from_static(&[0x0a, 0x00]))
        .await
        .unwrap();
    let v0 = Cid::new_v0(*v1.hash()).unwrap();
    assert_eq!(store.get(&v0).await.unwrap(), store.get(&v1).await.unwrap());
    assert!(store.has(&v0).await.unwrap());
    assert_eq!(store.hash_algorithm(), HashAlgorithm::Sha2_256);
}

#[tokio::test]
async fn put_many_dedups_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &RocksDbOptions::default());
    let blocks: Vec<Block> = (0..2000)
        .map(|i| {
            Block::new(
                BlockCodec::Raw,
                HashAlgorithm::Blake3,
                Bytes::from(format!("block {}", i % 1000)),
            )
        })
        .collect();
    store.put_many(blocks.clone()).await.unwrap();
    store.put_many(blocks.clone()).await.unwrap();
    assert_eq!(store.cids().unwrap().len(), 1000);
    drop(store);
    let store = open(&dir, &RocksDbOptions::read_only());
    for block in &blocks {
        assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
    }
}

/// Small blocks wait in the ingest buffer and reach the database as
/// ingested SST files (in the background, one at a time): a block is
/// readable at every moment from its put on, a re-put is harmless, listing
/// and GC see every block, and what `sync` made durable is there after a
/// reopen (as is what a plain drop wrote).
#[tokio::test]
async fn buffered_blocks_are_readable_ingested_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = RocksDbOptions::default();
    options.ingest_buffer_bytes = 16 << 10; // an ingestion every ~100 blocks
    let blocks: Vec<Block> = (0..2_000u32)
        .map(|i| {
            let data = Bytes::from(format!("block {i} ").repeat(4));
            Block::new(BlockCodec::Raw, HashAlgorithm::Blake3, data)
        })
        .collect();
    {
        let store = open(&dir, &options);
        for (i, chunk) in blocks.chunks(50).enumerate() {
            store.put_many(chunk.to_vec()).await.unwrap();
            // Everything put so far reads back, wherever it is now.
            for block in &blocks[..(i + 1) * 50] {
                assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
            }
        }
        store.put_many(blocks[..10].to_vec()).await.unwrap();
        store.sync().unwrap();
        let mut listed = store.cids().unwrap();
        let mut expected: Vec<Cid> = blocks.iter().map(|b| *b.cid()).collect();
        listed.sort();
        expected.sort();
        assert_eq!(listed, expected);
        assert_eq!(store.gc().unwrap().blocks_young, 2_000);
        // Put, not synced: the drop ingests it.
        store
            .put_many(vec![raw_block(b"after the sync")])
            .await
            .unwrap();
    }
    let store = open(&dir, &RocksDbOptions::read_only());
    for block in blocks.iter().chain([&raw_block(b"after the sync")]) {
        assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
    }
    let ingest_dir = dir.path().join("ingest");
    let left: Vec<_> = std::fs::read_dir(&ingest_dir).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

fn raw_block(data: &'static [u8]) -> Block {
    Block::new(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        Bytes::from_static(data),
    )
}

/// An ingestion that fails (here: the ingestion directory's name is taken
/// by a file) loses nothing: the blocks stay readable from the buffer, the
/// error reaches the next write or `sync`, and once the cause is gone a
/// `sync` writes them all.
#[tokio::test]
async fn a_failed_ingestion_keeps_its_blocks_and_reports_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = RocksDbOptions::default();
    options.ingest_buffer_bytes = 4 << 10;
    let store = open(&dir, &options);
    let blocked = dir.path().join("ingest");
    std::fs::write(&blocked, b"not a directory").unwrap();
    let blocks: Vec<Block> = (0..300u32)
        .map(|i| raw_owned(format!("failing ingest {i}").repeat(3)))
        .collect();
    let mut errors = 0;
    for chunk in blocks.chunks(10) {
        if store.put_many(chunk.to_vec()).await.is_err() {
            errors += 1;
        }
    }
    // One write spanning many buffers, failing part way: what it did not
    // get to ingest stays buffered too.
    let more: Vec<Block> = (0..300u32)
        .map(|i| raw_owned(format!("failing in one call {i}").repeat(3)))
        .collect();
    assert!(store.put_many(more.clone()).await.is_err());
    let blocks: Vec<Block> = blocks.into_iter().chain(more).collect();
    let error = store.sync().unwrap_err().to_string();
    assert!(errors > 0, "no write saw the failed ingestion");
    assert!(error.contains("ingestion directory"), "{error}");
    for block in &blocks {
        assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
        assert!(store.has(block.cid()).await.unwrap());
    }
    std::fs::remove_file(&blocked).unwrap();
    store.sync().unwrap();
    drop(store);
    let store = open(&dir, &RocksDbOptions::read_only());
    for block in &blocks {
        assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
    }
}

/// SST files a crashed writer left before RocksDB took them are removed
/// by the next writable open (a read-only one leaves them).
#[test]
fn a_writable_open_removes_leftover_ingestion_files() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir, &RocksDbOptions::default()));
    let leftover = dir.path().join("ingest").join("0-blocks.sst");
    std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    std::fs::write(&leftover, b"half an SST file").unwrap();
    drop(open(&dir, &RocksDbOptions::read_only()));
    assert!(leftover.exists());
    drop(open(&dir, &RocksDbOptions::default()));
    assert!(!leftover.exists());
}

fn raw_owned(data: String) -> Block {
    Block::new(BlockCodec::Raw, HashAlgorithm::Blake3, Bytes::from(data))
}

/// The block family's level-0 compaction trigger and blob garbage
/// collection, as RocksDB last persisted them (its newest `OPTIONS-*` file,
/// which it rewrites on every change of options).
fn persisted_bulk_options(dir: &std::path::Path) -> (u32, bool) {
    let newest = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("OPTIONS-"))
        .max_by_key(|name| name["OPTIONS-".len()..].parse::<u64>().unwrap_or(0))
        .unwrap();
    let text = std::fs::read_to_string(dir.join(newest)).unwrap();
    let section = text.split("[CFOptions \"blocks\"]").nth(1).unwrap();
    let option = |name: &str| {
        section
            .lines()
            .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix('='))
            .unwrap()
            .to_owned()
    };
    (
        option("level0_file_num_compaction_trigger")
            .parse()
            .unwrap(),
        option("enable_blob_garbage_collection").parse().unwrap(),
    )
}

const NORMAL: (u32, bool) = (4, true);
const BULK: (u32, bool) = (32, false);

/// A write large enough to overflow the ingest buffer is a bulk write: the
/// block families compact level 0 in fewer, larger merges (trigger 32),
/// without blob garbage collection, until the next `sync`, which sets the
/// usual options again; a `sync` alone (its own ingestion) leaves them.
#[tokio::test]
async fn a_bulk_write_compacts_level_0_less_often_until_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = RocksDbOptions::default();
    options.ingest_buffer_bytes = 8 << 10;
    let store = open(&dir, &options);
    assert_eq!(persisted_bulk_options(dir.path()), NORMAL);
    store
        .put_many(vec![raw_block(b"one small block")])
        .await
        .unwrap();
    store.sync().unwrap();
    assert_eq!(persisted_bulk_options(dir.path()), NORMAL);
    let blocks: Vec<Block> = (0..400u32)
        .map(|i| raw_owned(format!("bulk block {i}").repeat(2)))
        .collect();
    // ~70 KiB into an 8 KiB buffer: several background ingestions, each
    // waiting for the one before, so at least one has finished here.
    store.put_many(blocks.clone()).await.unwrap();
    assert_eq!(persisted_bulk_options(dir.path()), BULK);
    store.sync().unwrap();
    assert_eq!(persisted_bulk_options(dir.path()), NORMAL);
    drop(store);
    let store = open(&dir, &RocksDbOptions::read_only());
    for block in &blocks {
        assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
    }
}

/// Large blocks past the memtables' size between two syncs are a bulk
/// write too; fewer do not make one.
#[tokio::test]
async fn many_large_blocks_are_a_bulk_write_until_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = RocksDbOptions::default();
    options.write_buffer_bytes = 1 << 20;
    let store = open(&dir, &options);
    let large = |i: u8| {
        Block::new(
            BlockCodec::Raw,
            HashAlgorithm::Blake3,
            Bytes::from(vec![i; 300 << 10]),
        )
    };
    store.put_many(vec![large(1), large(2)]).await.unwrap();
    assert_eq!(persisted_bulk_options(dir.path()), NORMAL);
    store.put_many(vec![large(3), large(4)]).await.unwrap();
    assert_eq!(persisted_bulk_options(dir.path()), BULK);
    store.sync().unwrap();
    assert_eq!(persisted_bulk_options(dir.path()), NORMAL);
    // The count starts again after the sync.
    store.put_many(vec![large(5), large(6)]).await.unwrap();
    assert_eq!(persisted_bulk_options(dir.path()), NORMAL);
    for i in 1..=6 {
        assert_eq!(&store.get(large(i).cid()).await.unwrap(), large(i).data());
    }
}

/// A CID too long for an inline key (a 64-byte digest) is keyed on the
/// heap: it reads as missing, and once planted it reads as a hash this
/// project cannot verify, never as data.
#[tokio::test]
async fn long_cids_are_looked_up_by_their_whole_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, &RocksDbOptions::default());
    let wide = Cid::new_v1(
        0x55,
        multihash::Multihash::<64>::wrap(0x13, &[3; 64]).unwrap(),
    );
    assert!(matches!(
        store.get(&wide).await,
        Err(hamt_store::StoreError::NotFound(cid)) if cid == wide
    ));
    assert!(!store.has(&wide).await.unwrap());
    store.put_unverified(&wide, b"sixty-four").unwrap();
    assert!(store.has(&wide).await.unwrap());
    assert!(matches!(
        store.get(&wide).await,
        Err(hamt_store::StoreError::UnsupportedHash { code: 0x13, .. })
    ));
}
