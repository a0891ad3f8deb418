//! W3 side by side: the zarr round trip of [`hamt_benches::w3`] here, with
//! ratios to zarr-python + py-hamt's times passed in by `compare_zarr.sh`.
//!
//! `cargo run --release -p hamt-benches --example compare_zarr -- [SIDE] [REPEATS] [PY_WRITE_S PY_READ_S]`
#![allow(clippy::print_stdout, clippy::cast_precision_loss)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hamt_benches::{runtime, w3};
use hamt_store::MemoryStore;

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let side: u64 = args.first().map_or(Ok(500), |s| s.parse())?;
    let repeats: usize = args.get(1).map_or(Ok(5), |s| s.parse())?;
    let pyhamt: Option<(f64, f64)> = match (args.get(2), args.get(3)) {
        (Some(w), Some(r)) => Some((w.parse()?, r.parse()?)),
        _ => None,
    };
    let rt = runtime();
    let chunks = (side / w3::CHUNK) * (side / w3::CHUNK);
    let want = w3::cells(side);

    let (mut write, mut read, mut total) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let mut roots = Vec::new();
    for _ in 0..repeats.max(1) {
        let blocks = Arc::new(MemoryStore::new());
        let cells = want.clone();
        let start = Instant::now();
        let root = rt.block_on(w3::write(&blocks, side, cells))?;
        let write_time = start.elapsed();
        let start = Instant::now();
        let got = rt.block_on(w3::read(&blocks, root))?;
        let read_time = start.elapsed();
        write = write.min(write_time);
        read = read.min(read_time);
        // The best whole round trip, not the sum of two bests.
        total = total.min(write_time + read_time);
        if got != want {
            return Err("W3 read back different values".into());
        }
        roots.push(root);
    }
    if roots.windows(2).any(|w| w[0] != w[1]) {
        return Err("W3 roots differ between runs".into());
    }
    println!(
        "W3: {side}x{side} float32, {chunks} chunks of {}x{}, root {}",
        w3::CHUNK,
        w3::CHUNK,
        roots[0]
    );
    let line = |name: &str, ours: Duration, py: Option<f64>| {
        let ours = ours.as_secs_f64();
        match py {
            Some(py) => println!(
                "  {name:<6} hamt-zarr {:>8.1} ms   zarr-python + py-hamt {:>8.1} ms   ratio {:>6.1}x",
                ours * 1e3,
                py * 1e3,
                py / ours
            ),
            None => println!("  {name:<6} hamt-zarr {:>8.1} ms", ours * 1e3),
        }
    };
    line("write", write, pyhamt.map(|p| p.0));
    line("read", read, pyhamt.map(|p| p.1));
    line("total", total, pyhamt.map(|p| p.0 + p.1));
    Ok(())
}
