//! Many tasks reading and writing at once give the same dataset, and the same
//! root CID, as one task doing the same writes in order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Sample, TempRocksDb, TestBlocks};
use hamt::{Cid, HamtConfig};
use hamt_store::{Bytes, MemoryStore};
use hamt_zarr::ZarrHamtStore;
use zarrs::array::{Array, ArrayBuilder, data_type};
use zarrs_storage::{AsyncReadableStorageTraits, AsyncWritableStorageTraits, StoreKey};

const GRID: u64 = 8; // 8x8 chunks of 16x16
const CHUNK: u64 = 16;

fn chunk_data(row: u64, col: u64) -> Vec<f32> {
    let base = (row * GRID + col) * CHUNK * CHUNK;
    (0..CHUNK * CHUNK).map(|i| f32::sample(base + i)).collect()
}

async fn new_array<B: TestBlocks>(
    blocks: &B,
) -> (Arc<ZarrHamtStore<B>>, Arc<Array<ZarrHamtStore<B>>>) {
    let store = Arc::new(ZarrHamtStore::create(blocks.clone(), HamtConfig::default()));
    let shape = vec![GRID * CHUNK, GRID * CHUNK];
    let array = ArrayBuilder::new(shape, vec![CHUNK, CHUNK], data_type::float32(), f32::NAN)
        .build_arc(store.clone(), "/t")
        .unwrap();
    array.async_store_metadata().await.unwrap();
    (store, array)
}

async fn serial<B: TestBlocks>() -> Cid {
    let (store, array) = new_array(&B::fresh()).await;
    for row in 0..GRID {
        for col in 0..GRID {
            array
                .async_store_chunk(&[row, col], chunk_data(row, col))
                .await
                .unwrap();
        }
    }
    store.flush().await.unwrap()
}

/// One task per chunk; each writes its chunk, then reads back its own and a
/// neighbour's (which may or may not be written yet: fill or data, never torn).
async fn concurrent<B: TestBlocks>(blocks: &B) -> Cid {
    let (store, array) = new_array(blocks).await;
    let tasks: Vec<_> = (0..GRID * GRID)
        .map(|i| {
            let array = array.clone();
            tokio::spawn(async move {
                let (row, col) = (i / GRID, i % GRID);
                array
                    .async_store_chunk(&[row, col], chunk_data(row, col))
                    .await
                    .unwrap();
                let own: Vec<f32> = array.async_retrieve_chunk(&[row, col]).await.unwrap();
                common::assert_same(&own, &chunk_data(row, col), "own chunk");
                let next = (col + 1) % GRID;
                let other: Vec<f32> = array.async_retrieve_chunk(&[row, next]).await.unwrap();
                let is_fill = other.iter().all(|v| v.is_nan());
                if !is_fill {
                    common::assert_same(&other, &chunk_data(row, next), "neighbour chunk");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    store.flush().await.unwrap()
}

async fn same_as_serial<B: TestBlocks>() {
    let expected = serial::<B>().await;
    let blocks = B::fresh();
    let root = concurrent(&blocks).await;
    assert_eq!(
        root, expected,
        "concurrent writes must give the serial root CID"
    );

    let reader = Arc::new(
        ZarrHamtStore::open(blocks, root, HamtConfig::default())
            .await
            .unwrap(),
    );
    let array = Arc::new(Array::async_open(reader, "/t").await.unwrap());
    let reads: Vec<_> = (0..GRID * GRID)
        .map(|i| {
            let array = array.clone();
            tokio::spawn(async move {
                let got: Vec<f32> = array
                    .async_retrieve_chunk(&[i / GRID, i % GRID])
                    .await
                    .unwrap();
                common::assert_same(&got, &chunk_data(i / GRID, i % GRID), "reopened chunk");
            })
        })
        .collect();
    for read in reads {
        read.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_chunk_writes_and_reads_match_a_serial_run_over_memory() {
    same_as_serial::<Arc<MemoryStore>>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_chunk_writes_and_reads_match_a_serial_run_over_rocksdb() {
    same_as_serial::<TempRocksDb>().await;
}

/// Raw keys: writers, erasers and readers interleaved; every store future is `Send`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interleaved_sets_erases_and_flushes_end_consistent() {
    let store = Arc::new(ZarrHamtStore::create(
        MemoryStore::new(),
        HamtConfig::default(),
    ));
    let tasks: Vec<_> = (0..200u32)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let k = StoreKey::new(format!("v/c/{i}")).unwrap();
                store
                    .set(&k, Bytes::from(i.to_le_bytes().to_vec()))
                    .await
                    .unwrap();
                assert_eq!(store.get(&k).await.unwrap().unwrap(), &i.to_le_bytes()[..]);
                if i % 3 == 0 {
                    store.erase(&k).await.unwrap();
                }
                if i % 50 == 0 {
                    store.flush().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.len().await.unwrap(), 200 - 67);
    let root = store.flush().await.unwrap();

    // The same survivors written serially give the same root.
    let serial = ZarrHamtStore::create(MemoryStore::new(), HamtConfig::default());
    for i in (0..200u32).filter(|i| i % 3 != 0) {
        serial
            .set_value(&format!("v/c/{i}"), Bytes::from(i.to_le_bytes().to_vec()))
            .await
            .unwrap();
    }
    assert_eq!(serial.flush().await.unwrap(), root);
}
