//! Criterion benchmarks of the HAMT: node codec, insert + flush, get (warm
//! and cold cache), iteration, remove, diff, and a zarr array written and
//! read through `zarrs` in many small chunks, on an in-memory store. (The
//! RocksDB import bench is `crates/hamt-rocksdb/benches/import.rs`: RocksDB
//! stays out of this crate, whose release build CI runs.)
//!
//! `cargo bench -p hamt-benches` (`-- <filter>` to pick some).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::result_large_err
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures::TryStreamExt;
use hamt::{Cid, Hamt, HamtConfig};
use hamt_benches::{Workload, floor, ours, runtime, w3};
use hamt_codec::Node;
use hamt_store::MemoryStore;

/// A flushed map of `n` entries: its store, root and workload.
fn flushed(n: u32) -> (Arc<MemoryStore>, Cid, Workload) {
    let work = Workload::new(n);
    let store = Arc::new(MemoryStore::new());
    let root = runtime().block_on(ours::w1(&work, &store)).unwrap();
    (store, root, work)
}

fn codec(c: &mut Criterion) {
    let rt = runtime();
    let (store, root, _) = flushed(100_000);
    let nodes = rt.block_on(floor::nodes(&store, root));
    // The root (every slot a child) and the fullest bucket node.
    let full = nodes
        .iter()
        .max_by_key(|n| n.bucket_entries())
        .unwrap()
        .clone();
    let mut group = c.benchmark_group("codec");
    for (name, node) in [("root", &nodes[0]), ("buckets", &full)] {
        let bytes = node.encode();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        let mut buf = Vec::with_capacity(bytes.len());
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                node.encode_into(&mut buf);
                black_box(buf.len())
            });
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| Node::decode(black_box(&bytes), 1024).unwrap());
        });
    }
    group.finish();
}

fn insert(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("insert_flush");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for n in [1_000u32, 100_000] {
        let work = Workload::new(n);
        group.throughput(Throughput::Elements(u64::from(n)));
        group.bench_function(format!("one_by_one/{n}"), |b| {
            b.iter(|| {
                rt.block_on(ours::w1(&work, &Arc::new(MemoryStore::new())))
                    .unwrap()
            });
        });
        group.bench_function(format!("insert_many/{n}"), |b| {
            b.iter(|| {
                rt.block_on(ours::w1_bulk(&work, &Arc::new(MemoryStore::new())))
                    .unwrap()
            });
        });
    }
    group.finish();
}

fn get(c: &mut Criterion) {
    let rt = runtime();
    let (store, root, work) = flushed(100_000);
    let mut group = c.benchmark_group("get_100k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(work.len() as u64));
    let warm = rt
        .block_on(Hamt::open(store.clone(), root, HamtConfig::default()))
        .unwrap();
    rt.block_on(ours::get_all(&work, &warm)).unwrap();
    group.bench_function("warm_cache", |b| {
        b.iter(|| rt.block_on(ours::get_all(&work, &warm)).unwrap());
    });
    group.bench_function("cold_fresh_handle", |b| {
        b.iter(|| rt.block_on(ours::w2(&work, &store, root)).unwrap());
    });
    group.finish();
}

fn iterate(c: &mut Criterion) {
    let rt = runtime();
    let (store, root, work) = flushed(100_000);
    let map = rt
        .block_on(Hamt::open(store, root, HamtConfig::default()))
        .unwrap();
    let mut group = c.benchmark_group("iterate_100k");
    group.sample_size(10);
    group.throughput(Throughput::Elements(work.len() as u64));
    group.bench_function("links", |b| {
        b.iter(|| {
            rt.block_on(
                map.links()
                    .try_fold(0usize, |n, _| async move { Ok(n + 1) }),
            )
            .unwrap()
        });
    });
    group.bench_function("entries", |b| {
        b.iter(|| {
            rt.block_on(
                map.entries(16)
                    .try_fold(0usize, |n, _| async move { Ok(n + 1) }),
            )
            .unwrap()
        });
    });
    group.finish();
}

fn remove(c: &mut Criterion) {
    let rt = runtime();
    let (store, root, work) = flushed(100_000);
    let mut group = c.benchmark_group("remove_1k_of_100k");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("remove_flush", |b| {
        b.iter_batched(
            || {
                rt.block_on(Hamt::open(store.clone(), root, HamtConfig::default()))
                    .unwrap()
            },
            |mut map| {
                rt.block_on(async {
                    for key in work.keys.iter().step_by(100) {
                        map.remove(key).await.unwrap();
                    }
                    map.flush().await.unwrap()
                })
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn diff(c: &mut Criterion) {
    let rt = runtime();
    let (store, root, work) = flushed(100_000);
    let new_root = rt.block_on(async {
        let mut map = Hamt::open(store.clone(), root, HamtConfig::default())
            .await
            .unwrap();
        for key in work.keys.iter().step_by(1000) {
            map.insert(key, vec![0u8; 64]).await.unwrap();
        }
        map.flush().await.unwrap()
    });
    let old = rt
        .block_on(Hamt::open(store.clone(), root, HamtConfig::default()))
        .unwrap();
    let new = rt
        .block_on(Hamt::open(store, new_root, HamtConfig::default()))
        .unwrap();
    let mut group = c.benchmark_group("diff_100k");
    group.sample_size(10);
    group.bench_function("100_changed", |b| {
        b.iter(|| {
            let changes = rt.block_on(
                old.diff(&new)
                    .try_fold(0usize, |n, _| async move { Ok(n + 1) }),
            );
            assert_eq!(changes.unwrap(), 100);
        });
    });
    group.finish();
}

/// W3 at 200 x 200: 400 chunks of 10 x 10 float32.
fn zarr(c: &mut Criterion) {
    const SIDE: u64 = 200;
    let rt = runtime();
    let cells = w3::cells(SIDE);
    let mut group = c.benchmark_group("zarr_200x200_in_10x10_chunks");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements((SIDE / w3::CHUNK).pow(2)));
    group.bench_function("write_flush", |b| {
        b.iter_batched(
            || cells.clone(),
            |cells| {
                rt.block_on(w3::write(&Arc::new(MemoryStore::new()), SIDE, cells))
                    .unwrap()
            },
            BatchSize::LargeInput,
        );
    });
    let blocks = Arc::new(MemoryStore::new());
    let root = rt
        .block_on(w3::write(&blocks, SIDE, cells.clone()))
        .unwrap();
    group.bench_function("read_cold", |b| {
        b.iter(|| black_box(rt.block_on(w3::read(&blocks, root)).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, codec, insert, get, iterate, remove, diff, zarr);
criterion_main!(benches);
