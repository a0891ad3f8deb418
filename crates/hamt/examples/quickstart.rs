//! Builds a HAMT of zarr-style chunk keys in memory, flushes it, prints the
//! root CID, reopens it from the CID and checks every value.
//!
//! `cargo run --release -p hamt --example quickstart -- [KEYS]` (default 100,000).
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use hamt::{Hamt, HamtConfig, HamtError};
use hamt_store::MemoryStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(run(keys))?;
    Ok(())
}

fn chunk_key(i: u32) -> String {
    format!("temp/c/{}/{}/{}", i / 10_000, (i / 100) % 100, i % 100)
}

fn chunk_value(i: u32) -> Vec<u8> {
    i.to_le_bytes().repeat(16)
}

async fn run(keys: u32) -> Result<(), HamtError> {
    let store = Arc::new(MemoryStore::new());
    let mut map = Hamt::new(store.clone(), HamtConfig::default());

    let start = Instant::now();
    for i in 0..keys {
        map.insert(&chunk_key(i), chunk_value(i)).await?;
    }
    let root = map.flush().await?;
    let wrote = start.elapsed();
    println!("root CID: {root}");
    println!(
        "inserted {keys} keys (64-byte values) and flushed in {:.3}s: {:.0} keys/s, {} blocks, {} bytes",
        wrote.as_secs_f64(),
        f64::from(keys) / wrote.as_secs_f64(),
        store.len(),
        store.total_bytes()
    );

    let start = Instant::now();
    let reader = Hamt::open(store, root, HamtConfig::default()).await?;
    for i in 0..keys {
        let value = reader.get(&chunk_key(i)).await?;
        if value.as_deref() != Some(&chunk_value(i)[..]) {
            eprintln!("value of {} is wrong", chunk_key(i));
            std::process::exit(1);
        }
    }
    let read = start.elapsed();
    let cache = reader.cache_stats();
    println!(
        "node cache: {} nodes, {} of {} bytes, {} hits, {} misses",
        cache.nodes, cache.bytes, cache.capacity_bytes, cache.hits, cache.misses
    );
    println!(
        "reopened from the root CID and verified every value in {:.3}s: {:.0} gets/s",
        read.as_secs_f64(),
        f64::from(keys) / read.as_secs_f64()
    );
    Ok(())
}
