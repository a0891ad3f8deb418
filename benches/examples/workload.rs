//! Runs one workload, for profilers and instruction counters:
//! `perf stat -e instructions target/release/examples/workload w1 100000`.
//!
//! Workloads: `w1`, `w1_bulk`, `w2`, `fvm_w1`, `fvm_w2`, `floor_w1`, `floor_w2`.
//! The setup (building the tree W2 and the floors read) is counted too; run
//! `setup` alone to subtract it (`none` only makes the keys and values).
#![allow(clippy::print_stdout, clippy::result_large_err)]

use std::sync::Arc;

use fvm_ipld_blockstore::MemoryBlockstore;
use hamt_benches::{Workload, floor, fvm, ours, runtime};
use hamt_store::MemoryStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map_or("w1", String::as_str);
    let n: u32 = args.get(1).map_or(Ok(100_000), |s| s.parse())?;
    let rt = runtime();
    let work = Workload::new(n);
    let needs_tree = matches!(which, "w2" | "floor_w1" | "floor_w2" | "setup");
    let store = Arc::new(MemoryStore::new());
    let root = if needs_tree {
        Some(rt.block_on(ours::w1(&work, &store))?)
    } else {
        None
    };
    let nodes = match root {
        Some(root) if which.starts_with("floor") => rt.block_on(floor::nodes(&store, root)),
        _ => Vec::new(),
    };
    let fvm_store = MemoryBlockstore::new();
    let fvm_root = if which == "fvm_w2" {
        Some(fvm::w1(&work, &fvm_store)?)
    } else {
        None
    };
    // `REPEAT` runs the workload that many times, so a profile is made of
    // the workload rather than of the setup.
    let repeat: u32 = std::env::var("REPEAT").map_or(Ok(1), |s| s.parse())?;
    let mut out = 0;
    for _ in 0..repeat.max(1) {
        out ^= run(
            which, &rt, &work, &store, root, &nodes, &fvm_store, fvm_root,
        )?;
    }
    println!("{which} {n}: {out}");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run(
    which: &str,
    rt: &tokio::runtime::Runtime,
    work: &Workload,
    store: &Arc<MemoryStore>,
    root: Option<hamt::Cid>,
    nodes: &[hamt_codec::Node],
    fvm_store: &MemoryBlockstore,
    fvm_root: Option<hamt::Cid>,
) -> Result<u64, Box<dyn std::error::Error>> {
    let (work, nodes) = (work, nodes);
    let out: u64 = match (which, root, fvm_root) {
        ("w1", ..) => u64::from(
            rt.block_on(ours::w1(work, &Arc::new(MemoryStore::new())))?
                .hash()
                .digest()[0],
        ),
        ("w1_bulk", ..) => u64::from(
            rt.block_on(ours::w1_bulk(work, &Arc::new(MemoryStore::new())))?
                .hash()
                .digest()[0],
        ),
        ("w2", Some(root), _) => rt.block_on(ours::w2(work, store, root))? as u64,
        ("fvm_w1", ..) => u64::from(fvm::w1(work, &MemoryBlockstore::new())?.hash().digest()[0]),
        ("fvm_w2", _, Some(root)) => fvm::w2(work, fvm_store, &root)? as u64,
        ("floor_w1", ..) => floor::w1(work, nodes),
        ("floor_w2", ..) => {
            let blocks: Vec<Vec<u8>> = nodes.iter().map(hamt_codec::Node::encode).collect();
            floor::w2(work, &blocks)
        }
        ("setup" | "none", ..) => 0,
        _ => return Err(format!("unknown workload {which}").into()),
    };
    Ok(out)
}
