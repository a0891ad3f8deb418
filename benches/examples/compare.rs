//! W1/W2 side by side: this HAMT, `fvm_ipld_hamt` and the floor, in one run,
//! with ratios; py-hamt's times are passed in by `compare_pyhamt.sh`.
//!
//! `cargo run --release -p hamt-benches --example compare -- [N] [REPEATS] [PY_W1_S PY_W2_S]`
#![allow(
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::result_large_err
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use fvm_ipld_blockstore::MemoryBlockstore;
use hamt_benches::{Workload, floor, fvm, ours, runtime};
use hamt_store::{BlockStore, MemoryStore};

struct Args {
    n: u32,
    repeats: usize,
    pyhamt: Option<(f64, f64)>,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = args.first().map_or(Ok(100_000), |s| s.parse())?;
    let repeats = args.get(1).map_or(Ok(5), |s| s.parse())?;
    let pyhamt = match (args.get(2), args.get(3)) {
        (Some(w1), Some(w2)) => Some((w1.parse()?, w2.parse()?)),
        _ => None,
    };
    Ok(Args { n, repeats, pyhamt })
}

/// The median of a set of timings.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed(), out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let rt = runtime();
    let work = Workload::new(args.n);
    let n = work.len();

    // Reference run: the roots must agree, and W2 and the floor need a tree.
    let store = Arc::new(MemoryStore::new());
    let root = rt.block_on(ours::w1(&work, &store))?;
    let bulk_store = Arc::new(MemoryStore::new());
    if rt.block_on(ours::w1_bulk(&work, &bulk_store))? != root {
        return Err("insert_many gave a different root".into());
    }
    let nodes = rt.block_on(floor::nodes(&store, root));
    let node_blocks: Vec<Vec<u8>> = nodes.iter().map(hamt_codec::Node::encode).collect();
    let fvm_store = MemoryBlockstore::new();
    let fvm_root = fvm::w1(&work, &fvm_store)?;

    // Interleaved rounds: each round times every workload once, so a
    // change in the machine's speed (other tenants, clock) weighs on all of
    // them alike; the median of the rounds is reported. Stores are made
    // before and dropped after each timing, on both sides.
    let r = args.repeats.max(1);
    let mut samples: [Vec<Duration>; 7] = Default::default();
    for _ in 0..r {
        let fresh = Arc::new(MemoryStore::new());
        samples[0].push(timed(|| rt.block_on(ours::w1(&work, &fresh))).0);
        let fresh = Arc::new(MemoryStore::new());
        samples[1].push(timed(|| rt.block_on(ours::w1_bulk(&work, &fresh))).0);
        let (t, matched) = timed(|| rt.block_on(ours::w2(&work, &store, root)));
        if matched? != n {
            return Err("W2 did not match every value".into());
        }
        samples[2].push(t);
        let fvm_fresh = MemoryBlockstore::new();
        samples[3].push(timed(|| fvm::w1(&work, &fvm_fresh)).0);
        let (t, matched) = timed(|| fvm::w2(&work, &fvm_store, &fvm_root));
        if matched? != n {
            return Err("fvm W2 did not match every value".into());
        }
        samples[4].push(t);
        samples[5].push(timed(|| std::hint::black_box(floor::w1(&work, &nodes))).0);
        samples[6].push(timed(|| std::hint::black_box(floor::w2(&work, &node_blocks))).0);
    }
    let [w1, w1_bulk, w2, fvm_w1, fvm_w2, floor_w1, floor_w2] = samples.map(median);

    if std::env::var_os("COMPARE_JSON").is_some() {
        // One line for `compare_pyhamt.sh`, which interleaves this with py-hamt.
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{{\"n\": {n}, \"w1_ms\": {}, \"w1_bulk_ms\": {}, \"w2_ms\": {}, \"fvm_w1_ms\": {}, \"fvm_w2_ms\": {}, \"floor_w1_ms\": {}, \"floor_w2_ms\": {}}}",
            ms(w1),
            ms(w1_bulk),
            ms(w2),
            ms(fvm_w1),
            ms(fvm_w2),
            ms(floor_w1),
            ms(floor_w2)
        );
        return Ok(());
    }
    println!(
        "N = {n} keys, 64-byte values; median of {r} interleaved rounds; {} blocks, {} nodes",
        store.len(),
        nodes.len()
    );
    println!("root {root} (store hash {:?})", store.hash_algorithm());
    print_table(
        n,
        &Times {
            w1,
            w1_bulk,
            w2,
            fvm_w1,
            fvm_w2,
            floor_w1,
            floor_w2,
        },
        args.pyhamt,
    );
    Ok(())
}

struct Times {
    w1: Duration,
    w1_bulk: Duration,
    w2: Duration,
    fvm_w1: Duration,
    fvm_w2: Duration,
    floor_w1: Duration,
    floor_w2: Duration,
}

fn print_table(n: usize, t: &Times, pyhamt: Option<(f64, f64)>) {
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "{:<22} {:>10} {:>12} {:>10} {:>10} {:>10}",
        "workload", "ms", "ops/s", "x py-hamt", "x fvm", "x floor"
    );
    let rows = [
        (
            "W1 insert+flush",
            t.w1,
            t.fvm_w1,
            t.floor_w1,
            pyhamt.map(|p| p.0),
        ),
        (
            "W1 insert_many+flush",
            t.w1_bulk,
            t.fvm_w1,
            t.floor_w1,
            pyhamt.map(|p| p.0),
        ),
        (
            "W2 get all (fresh)",
            t.w2,
            t.fvm_w2,
            t.floor_w2,
            pyhamt.map(|p| p.1),
        ),
    ];
    for (name, ours, fvm, floor, py) in rows {
        let py_ratio = py.map_or("-".to_owned(), |py| {
            format!("{:.0}x", py / ours.as_secs_f64())
        });
        println!(
            "{name:<22} {:>10.2} {:>12.0} {:>10} {:>9.2}x {:>9.2}x",
            ours.as_secs_f64() * 1e3,
            rate(ours),
            py_ratio,
            fvm.as_secs_f64() / ours.as_secs_f64(),
            ours.as_secs_f64() / floor.as_secs_f64(),
        );
    }
    println!(
        "(x py-hamt, x fvm: how many times faster than them; x floor: how many times the floor)"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "fvm_ipld_hamt: W1 {:.2} ms, W2 {:.2} ms; floor: W1 {:.2} ms, W2 {:.2} ms",
        ms(t.fvm_w1),
        ms(t.fvm_w2),
        ms(t.floor_w1),
        ms(t.floor_w2)
    );
    if let Some((w1, w2)) = pyhamt {
        println!(
            "py-hamt 3.6.0: W1 {:.0} ms, W2 {:.0} ms",
            w1 * 1e3,
            w2 * 1e3
        );
    }
}
