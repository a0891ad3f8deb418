//! Criterion: importing zarr-style keys into a HAMT on a fresh RocksDB
//! store (default configuration), flush included.
//!
//! `cargo bench -p hamt-rocksdb --bench import`. It lives with the store,
//! not in `benches/`, so that CI's release build of the benches crate does
//! not also build RocksDB's C++ in release; clippy still checks it in CI.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hamt::{Hamt, HamtConfig};
use hamt_bench_data::{chunk_key, chunk_value};
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};

const KEYS: u32 = 20_000;

fn import(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("rocksdb_import");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(u64::from(KEYS)));
    group.bench_function(format!("insert_flush/{KEYS}"), |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store =
                    RocksDbStore::open(dir.path().join("blocks"), &RocksDbOptions::default())
                        .unwrap();
                (dir, store)
            },
            |(dir, store)| {
                rt.block_on(async {
                    let mut map = Hamt::new(store, HamtConfig::default());
                    for i in 0..KEYS {
                        map.insert(&chunk_key(u64::from(i)), chunk_value(i))
                            .await
                            .unwrap();
                    }
                    map.flush().await.unwrap()
                });
                dir
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, import);
criterion_main!(benches);
