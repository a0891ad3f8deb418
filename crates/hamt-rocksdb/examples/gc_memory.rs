//! Peak memory of a GC as the store grows.
//!
//! `cargo run --release -p hamt-rocksdb --example gc_memory -- [BLOCKS] [DIR]`
//! (default 10,000,000 blocks, in a temporary directory). Writes BLOCKS
//! raw blocks of 32 bytes, reachable from one named root through dag-cbor
//! lists of 1,000 links each, plus 10 % as many unreachable ones; then runs
//! `set_root` (timed: it checks the whole DAG is held) and `gc`, and
//! prints the peak resident memory before and after it (`VmHWM`
//! from `/proc/self/status`, reset between the two with
//! `/proc/self/clear_refs`), the blocks marked and removed, and the time.

use std::error::Error;
use std::time::Instant;

use hamt_codec::link_list;
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{Block, BlockCodec, BlockStore, Bytes, Cid, HashAlgorithm};

const FAN_OUT: u64 = 1000;

fn leaf(i: u64) -> Block {
    let mut data = [0u8; 32];
    data[..8].copy_from_slice(&i.to_le_bytes());
    data[8..16].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    Block::new(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        Bytes::copy_from_slice(&data),
    )
}

fn list(links: &[Cid]) -> Block {
    let entries: Vec<Option<Cid>> = links.iter().copied().map(Some).collect();
    Block::new(
        BlockCodec::DagCbor,
        HashAlgorithm::Blake3,
        Bytes::from(link_list::encode(&entries)),
    )
}

/// Peak resident memory so far, in MiB.
fn peak_mib() -> Result<f64, Box<dyn Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM")?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .ok_or("no VmHWM value")?
        .parse()?;
    Ok(kib / 1024.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let blocks: u64 = args.next().map_or(Ok(10_000_000), |a| a.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), Into::into);
    let mut options = RocksDbOptions::default();
    options.gc_grace = std::time::Duration::ZERO;
    let store = RocksDbStore::open(&dir, &options)?;

    let started = Instant::now();
    let mut lists = Vec::new();
    for start in (0..blocks).step_by(usize::try_from(FAN_OUT)?) {
        let leaves: Vec<Block> = (start..(start + FAN_OUT).min(blocks)).map(leaf).collect();
        let links: Vec<Cid> = leaves.iter().map(|b| *b.cid()).collect();
        store.put_many(leaves).await?;
        let node = list(&links);
        lists.push(*node.cid());
        store.put_block(node).await?;
    }
    // Unreachable blocks for the sweep.
    for start in (blocks..blocks + blocks / 10).step_by(usize::try_from(FAN_OUT)?) {
        let garbage: Vec<Block> = (start..(start + FAN_OUT).min(blocks + blocks / 10))
            .map(leaf)
            .collect();
        store.put_many(garbage).await?;
    }
    let root = list(&lists);
    let root_cid = *root.cid();
    store.put_block(root).await?;
    store.sync()?;
    println!(
        "wrote {blocks} reachable + {} unreachable blocks in {:.1} s; peak RSS {:.0} MiB",
        blocks / 10,
        started.elapsed().as_secs_f64(),
        peak_mib()?
    );
    // Naming checks the whole DAG is there (every leaf looked up).
    let named = Instant::now();
    store.set_root("gc-memory", &root_cid)?;
    println!(
        "set_root (completeness check) in {:.1} s; peak RSS {:.0} MiB",
        named.elapsed().as_secs_f64(),
        peak_mib()?
    );

    // Reset the peak, so the next one is the GC's alone.
    std::fs::write("/proc/self/clear_refs", "5")?;
    let before = peak_mib()?;
    let report = store.gc()?;
    println!(
        "gc: {} reachable, {} removed in {:.1} s; peak RSS {:.0} MiB (from {before:.0} MiB at its start)",
        report.blocks_reachable,
        report.blocks_removed,
        report.elapsed.as_secs_f64(),
        peak_mib()?
    );
    Ok(())
}
