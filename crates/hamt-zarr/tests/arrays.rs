//! zarrs arrays and groups written through a `ZarrHamtStore`, flushed,
//! reopened read-only from the root CID and read back whole and in slices.
//! Each suite is generic over the block store (see `common::TestBlocks`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Case, Sample, TempRocksDb, TestBlocks, TestLayout, assert_same, ipfs_daemon, subset};
use hamt::Hamt;
use hamt::HamtConfig;
use hamt_kubo::KuboStore;
use hamt_store::MemoryStore;
use hamt_zarr::{ShardedMap, ZarrHamtStore, ZarrStore};
use zarrs::array::{Array, ArrayBuilder, data_type};
use zarrs::group::{Group, GroupBuilder};
use zarrs_storage::{
    AsyncListableStorageTraits, AsyncReadableStorageTraits, StoreKey, StorePrefix,
};

async fn write_then_reopen<B: TestBlocks, L: TestLayout<B>>(
    write: impl AsyncFnOnce(&Arc<ZarrStore<L>>),
) -> Arc<ZarrStore<L>> {
    let blocks = B::fresh();
    let store = Arc::new(L::create(blocks.clone()));
    write(&store).await;
    let root = store.flush().await.unwrap();
    Arc::new(L::open(blocks, root).await)
}

/// Several dtypes, ranks 1 to 4, gzip on and off, ragged edge chunks, all in one group.
async fn dtypes_and_ranks<B: TestBlocks, L: TestLayout<B>>() {
    let u8s = Case::whole("/g/u8_1d", &[100], &[30], data_type::uint8(), 7u8, true);
    let i16s = Case::whole(
        "/g/i16_2d",
        &[37, 23],
        &[10, 8],
        data_type::int16(),
        -9999i16,
        false,
    );
    let i32s = Case::whole(
        "/g/i32_3d",
        &[5, 9, 7],
        &[2, 4, 3],
        data_type::int32(),
        0i32,
        true,
    );
    let u64s = Case::whole(
        "/g/u64_4d",
        &[3, 4, 5, 6],
        &[2, 3, 2, 4],
        data_type::uint64(),
        1u64,
        false,
    );
    let f32s = Case::whole(
        "/g/f32_3d",
        &[4, 36, 72],
        &[1, 36, 72],
        data_type::float32(),
        f32::NAN,
        true,
    );
    let f64s = Case::whole(
        "/g/f64_2d",
        &[50, 40],
        &[16, 16],
        data_type::float64(),
        -1.5f64,
        false,
    );

    let reader = write_then_reopen::<B, L>(async |store| {
        GroupBuilder::new()
            .build(store.clone(), "/")
            .unwrap()
            .async_store_metadata()
            .await
            .unwrap();
        GroupBuilder::new()
            .build(store.clone(), "/g")
            .unwrap()
            .async_store_metadata()
            .await
            .unwrap();
        u8s.write(store).await;
        i16s.write(store).await;
        i32s.write(store).await;
        u64s.write(store).await;
        f32s.write(store).await;
        f64s.write(store).await;
    })
    .await;
    assert!(reader.is_read_only());

    u8s.check(&reader).await;
    i16s.check(&reader).await;
    i32s.check(&reader).await;
    u64s.check(&reader).await;
    f32s.check(&reader).await;
    f64s.check(&reader).await;

    // py-hamt's sharded store lists the one top-level group of a store whose
    // arrays all sit in it at the root (so xarray finds a dataset written
    // with `group="0"` at the root); the HAMT lists what is there.
    let root_prefixes: &[&str] = if L::NAME == "sharded" {
        &[
            "f32_3d/", "f64_2d/", "i16_2d/", "i32_3d/", "u64_4d/", "u8_1d/",
        ]
    } else {
        &["g/"]
    };
    check_listing(&reader, root_prefixes).await;
}

/// The group and the store list the arrays written by `dtypes_and_ranks`.
async fn check_listing<S: AsyncListableStorageTraits + AsyncReadableStorageTraits + 'static>(
    reader: &Arc<S>,
    root_prefixes: &[&str],
) {
    let group = Group::async_open(reader.clone(), "/g").await.unwrap();
    let mut paths: Vec<String> = group
        .async_child_array_paths()
        .await
        .unwrap()
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/g/f32_3d",
            "/g/f64_2d",
            "/g/i16_2d",
            "/g/i32_3d",
            "/g/u64_4d",
            "/g/u8_1d"
        ]
    );
    let top = reader.list_dir(&StorePrefix::root()).await.unwrap();
    assert_eq!(
        top.keys().iter().map(StoreKey::as_str).collect::<Vec<_>>(),
        ["zarr.json"]
    );
    assert_eq!(
        top.prefixes()
            .iter()
            .map(StorePrefix::as_str)
            .collect::<Vec<_>>(),
        root_prefixes
    );
}

/// Chunks never written read as the fill value, with and without compression.
async fn fill_values<B: TestBlocks, L: TestLayout<B>>() {
    let mut ints = Case::whole("/ints", &[20, 30], &[8, 8], data_type::int32(), -7i32, true);
    ints.written = vec![3..11, 9..17];
    let mut floats = Case::whole(
        "/floats",
        &[9, 9, 9],
        &[4, 4, 4],
        data_type::float64(),
        2.5f64,
        false,
    );
    floats.written = vec![0..4, 4..8, 8..9];
    let reader = write_then_reopen::<B, L>(async |store| {
        ints.write(store).await;
        floats.write(store).await;
    })
    .await;
    ints.check(&reader).await;
    floats.check(&reader).await;
    // Only the chunks touched hold keys: a (8x8-chunked) 8x8 region at (3, 9)
    // spans 2x2 chunks.
    let chunk_keys = reader
        .list_prefix(&StorePrefix::new("ints/c/").unwrap())
        .await
        .unwrap();
    assert_eq!(chunk_keys.len(), 4, "{chunk_keys:?}");
}

macro_rules! array_suites {
    ($layout:ident, $memory:ident, $rocksdb:ident, $ipfs:ident, $suite:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $memory() {
            $suite::<Arc<MemoryStore>, $layout<Arc<MemoryStore>>>().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $rocksdb() {
            $suite::<TempRocksDb, $layout<TempRocksDb>>().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $ipfs() {
            if ipfs_daemon().is_none() {
                return;
            }
            $suite::<Arc<KuboStore>, $layout<Arc<KuboStore>>>().await;
        }
    };
}

array_suites!(
    Hamt,
    dtypes_ranks_and_groups_round_trip_over_memory,
    dtypes_ranks_and_groups_round_trip_over_rocksdb,
    dtypes_ranks_and_groups_round_trip_through_an_ipfs_daemon,
    dtypes_and_ranks
);
array_suites!(
    Hamt,
    fill_values_round_trip_over_memory,
    fill_values_round_trip_over_rocksdb,
    fill_values_round_trip_through_an_ipfs_daemon,
    fill_values
);
array_suites!(
    ShardedMap,
    sharded_dtypes_ranks_and_groups_round_trip_over_memory,
    sharded_dtypes_ranks_and_groups_round_trip_over_rocksdb,
    sharded_dtypes_ranks_and_groups_round_trip_through_an_ipfs_daemon,
    dtypes_and_ranks
);
array_suites!(
    ShardedMap,
    sharded_fill_values_round_trip_over_memory,
    sharded_fill_values_round_trip_over_rocksdb,
    sharded_fill_values_round_trip_through_an_ipfs_daemon,
    fill_values
);

/// The root CID of an array written through the daemon or RocksDB equals
/// the root of the same array written in memory: the blocks are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_gives_the_same_root_cid() {
    every_backend_same_root::<Hamt<Arc<MemoryStore>>, Hamt<TempRocksDb>, Hamt<Arc<KuboStore>>>()
        .await;
    every_backend_same_root::<
        ShardedMap<Arc<MemoryStore>>,
        ShardedMap<TempRocksDb>,
        ShardedMap<Arc<KuboStore>>,
    >()
    .await;
}

async fn every_backend_same_root<M, R, K>()
where
    M: TestLayout<Arc<MemoryStore>>,
    R: TestLayout<TempRocksDb>,
    K: TestLayout<Arc<KuboStore>>,
{
    async fn root_over<B: TestBlocks, L: TestLayout<B>>() -> hamt::Cid {
        let case = Case::whole(
            "/t2m",
            &[6, 30, 60],
            &[1, 30, 30],
            data_type::float32(),
            f32::NAN,
            true,
        );
        let store = Arc::new(L::create(B::fresh()));
        case.write(&store).await;
        store.flush().await.unwrap()
    }
    let in_memory = root_over::<Arc<MemoryStore>, M>().await;
    assert_eq!(
        root_over::<TempRocksDb, R>().await,
        in_memory,
        "{}: RocksDB",
        M::NAME
    );
    if ipfs_daemon().is_some() {
        assert_eq!(
            root_over::<Arc<KuboStore>, K>().await,
            in_memory,
            "{}: IPFS daemon",
            M::NAME
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrites_and_erased_chunks_read_back_after_reopening_writable() {
    let blocks = Arc::new(MemoryStore::new());
    let case = Case::whole("/t", &[10, 10], &[5, 5], data_type::uint8(), 0u8, true);
    let store = Arc::new(ZarrHamtStore::create(blocks.clone(), HamtConfig::default()));
    case.write(&store).await;
    let root = store.flush().await.unwrap();

    // Reopen writable on the same blocks, overwrite one chunk and erase another.
    let hamt = hamt::Hamt::open(blocks.clone(), root, HamtConfig::default())
        .await
        .unwrap();
    let store = Arc::new(ZarrHamtStore::writable(hamt));
    let array = Array::async_open(store.clone(), "/t").await.unwrap();
    array
        .async_store_chunk(&[0, 0], vec![9u8; 25])
        .await
        .unwrap();
    array.async_erase_chunk(&[1, 1]).await.unwrap();
    array.async_erase_chunk(&[1, 1]).await.unwrap(); // already gone: not an error
    let new_root = store.flush().await.unwrap();
    assert_ne!(new_root, root);

    let reader = Arc::new(
        ZarrHamtStore::open(blocks.clone(), new_root, HamtConfig::default())
            .await
            .unwrap(),
    );
    let array = Array::async_open(reader, "/t").await.unwrap();
    let all: Vec<u8> = array
        .async_retrieve_array_subset(&array.subset_all())
        .await
        .unwrap();
    for (i, got) in all.iter().enumerate() {
        let (r, c) = (i as u64 / 10, i as u64 % 10);
        let want = match (r / 5, c / 5) {
            (0, 0) => 9,
            (1, 1) => 0,
            _ => u8::sample(i as u64),
        };
        assert_eq!(*got, want, "element ({r}, {c})");
    }

    // The old root still reads the old data: blocks are immutable.
    let old = Arc::new(
        ZarrHamtStore::open(blocks, root, HamtConfig::default())
            .await
            .unwrap(),
    );
    case.check(&old).await;
}

/// zarrs' synchronous API on the same store: from a multi-thread runtime
/// worker (block in place) and from a plain thread (the captured handle).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_api_round_trips() {
    let blocks = Arc::new(MemoryStore::new());
    let store = Arc::new(ZarrHamtStore::create(blocks.clone(), HamtConfig::default()));
    let case = Case::whole(
        "/s",
        &[7, 11],
        &[3, 4],
        data_type::float32(),
        f32::NAN,
        true,
    );

    // On a worker thread.
    let array = case.builder().build_arc(store.clone(), "/s").unwrap();
    array.store_metadata().unwrap();
    let data = subset(&case.shape, &case.written, f32::sample);
    array
        .store_array_subset(&array.subset_all(), data.clone())
        .unwrap();
    let root = store.flush().await.unwrap();

    // On a plain thread, outside the runtime, reading a fresh read-only store.
    let reader = Arc::new(
        ZarrHamtStore::open(blocks, root, HamtConfig::default())
            .await
            .unwrap(),
    );
    let back = std::thread::spawn(move || {
        let array = Array::open(reader, "/s").unwrap();
        array
            .retrieve_array_subset::<Vec<f32>>(&array.subset_all())
            .unwrap()
    })
    .join()
    .unwrap();
    assert_same(&back, &data, "sync read");
}

/// Sync calls inside a current-thread runtime cannot block: a typed error, not a deadlock.
#[tokio::test]
async fn sync_api_inside_current_thread_runtime_fails_cleanly() {
    let store = Arc::new(ZarrHamtStore::create(
        MemoryStore::new(),
        HamtConfig::default(),
    ));
    let array = ArrayBuilder::new(vec![4], vec![2], data_type::uint8(), 0u8)
        .build_arc(store, "/x")
        .unwrap();
    let err = array.store_metadata().unwrap_err();
    assert!(err.to_string().contains("current-thread"), "{err}");
}
