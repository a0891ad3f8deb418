//! Imports N zarr-style keys (`temp/c/i/j/k`) with incompressible values
//! (like compressed zarr chunks) into a HAMT on a fresh RocksDB store with
//! the default configuration (one `MemoryBudget::default()` shared by the
//! map and the store), flushes, names the root, and prints keys/s, MB/s and
//! the process's peak resident memory.
//!
//! The entries go through a sorted [`hamt::Import`] (what `hamt import`
//! does); `MODE=insert` inserts them one by one in key order instead.
//!
//! ```text
//! cargo run --release -p hamt-rocksdb --example import_rocksdb -- [N=1000000] [VALUE_BYTES=64] [DIR] [MODE=import|insert]
//! cargo run --release -p hamt-rocksdb --example import_rocksdb -- 4096 1048576   # 4 GiB of 1 MiB chunks
//! ```
//!
//! Without DIR (or with `-`) the store lives in a temporary directory, removed at the end.
#![allow(clippy::print_stdout, clippy::cast_precision_loss)]

use std::error::Error;
use std::time::Instant;

use hamt::{Hamt, HamtConfig};
use hamt_bench_data::{chunk_key, incompressible, peak_rss_mib};
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.first().map_or(Ok(1_000_000), |s| s.parse())?;
    let value_bytes: usize = args.get(1).map_or(Ok(64), |s| s.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = match args.get(2).map(String::as_str) {
        None | Some("-") => temp.path().join("blocks"),
        Some(dir) => dir.into(),
    };
    let one_by_one = args.get(3).is_some_and(|mode| mode == "insert");
    let store = RocksDbStore::open(&dir, &RocksDbOptions::default())?;
    let mut map = Hamt::new(store, HamtConfig::default());

    let start = Instant::now();
    let mut bytes = 0u64;
    if one_by_one {
        for i in 0..n {
            let key = chunk_key(i);
            bytes += (key.len() + value_bytes) as u64;
            map.insert(&key, incompressible(i, value_bytes)).await?;
        }
    } else {
        let mut import = map.import();
        for i in 0..n {
            let key = chunk_key(i);
            bytes += (key.len() + value_bytes) as u64;
            import.insert(&key, incompressible(i, value_bytes)).await?;
        }
        import.finish().await?;
    }
    let inserted = start.elapsed().as_secs_f64();
    let root = map.flush().await?;
    let total = start.elapsed().as_secs_f64();
    let store = map.store();
    // Apart, to show where naming's time goes: writing out what is still
    // buffered, then the completeness check and the name's synced write.
    store.sync()?;
    let synced = start.elapsed().as_secs_f64();
    store.set_root("import", &root)?;
    let total_synced = start.elapsed().as_secs_f64();

    println!("root       {root}");
    println!(
        "inserted   {n} keys with {value_bytes}-byte values ({:.1} MB) in {inserted:.2} s",
        bytes as f64 / 1e6
    );
    println!(
        "flushed    in {total:.2} s in all: {:.0} keys/s, {:.1} MB/s ({:.0} keys/s, {:.1} MB/s with the root named and synced)",
        n as f64 / total,
        bytes as f64 / 1e6 / total,
        n as f64 / total_synced,
        bytes as f64 / 1e6 / total_synced,
    );
    println!(
        "named      buffer written in {:.2} s, root checked and named in {:.2} s",
        synced - total,
        total_synced - synced
    );
    if let Some(peak) = peak_rss_mib() {
        println!("peak RSS   {peak:.0} MiB");
    }
    Ok(())
}
