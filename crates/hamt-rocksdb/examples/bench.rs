//! Import and read throughput of a `RocksDbStore`.
//!
//! `cargo run --release -p hamt-rocksdb --example bench -- [BLOCKS] [BLOCK_BYTES] [DIR]`
//! (defaults: 1,000,000 blocks of 200 bytes, in a temporary directory).
//! Imports through `put_many` in batches of 1,000, then reads a random
//! sample with and without verification.

use std::error::Error;
use std::time::{Duration, Instant};

use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{Block, BlockCodec, BlockStore, Bytes, Cid, HashAlgorithm};

const BATCH: u64 = 1000;
const READS: u64 = 100_000;

fn block(i: u64, size: usize) -> Block {
    let data = hamt_bench_data::incompressible(i, size);
    Block::new(BlockCodec::Raw, HashAlgorithm::Blake3, Bytes::from(data))
}

fn rate(count: u64, bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let (per_s, mb_s) = (count as f64 / secs, bytes as f64 / secs / 1e6);
    format!("{count} in {secs:.2} s: {per_s:.0} /s, {mb_s:.1} MB/s")
}

async fn import(
    store: &RocksDbStore,
    blocks: u64,
    size: usize,
) -> Result<Vec<Cid>, Box<dyn Error>> {
    let started = Instant::now();
    let mut sample = Vec::new();
    for start in (0..blocks).step_by(usize::try_from(BATCH)?) {
        let batch: Vec<Block> = (start..(start + BATCH).min(blocks))
            .map(|i| block(i, size))
            .collect();
        if start % (blocks / READS.min(blocks)).max(1) == 0 {
            sample.extend(batch.iter().step_by(10).map(|b| *b.cid()));
        }
        store.put_many(batch).await?;
    }
    store.sync()?;
    println!(
        "import: {}",
        rate(blocks, blocks * size as u64, started.elapsed())
    );
    Ok(sample)
}

async fn read_all(store: &RocksDbStore, cids: &[Cid], label: &str) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let mut bytes = 0;
    for cid in cids {
        bytes += store.get(cid).await?.len() as u64;
    }
    println!(
        "{label}: {}",
        rate(cids.len() as u64, bytes, started.elapsed())
    );
    Ok(())
}

fn hash_cost(size: usize) {
    let data = vec![7u8; size];
    let rounds = (256 << 20) / size.max(1);
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(HashAlgorithm::Blake3.digest(std::hint::black_box(&data)));
    }
    #[allow(clippy::cast_precision_loss)]
    let per = started.elapsed().as_secs_f64() / rounds as f64 * 1e6;
    println!("blake3 of {size} bytes: {per:.2} µs");
}

async fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let blocks: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let size: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), Into::into);

    let store = RocksDbStore::open(&dir, &RocksDbOptions::default())?;
    let sample = import(&store, blocks, size).await?;
    drop(store);
    for verify in [true, false, true, false] {
        let mut options = RocksDbOptions::default();
        options.verify_reads = verify;
        let store = RocksDbStore::open(&dir, &options)?;
        read_all(
            &store,
            &sample,
            if verify {
                "verified reads"
            } else {
                "unverified reads"
            },
        )
        .await?;
    }
    for size in [200, 1024, 64 << 10, 1 << 20] {
        hash_cost(size);
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(run())
}
