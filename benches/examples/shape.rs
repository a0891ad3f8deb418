//! W7: the shape of a HAMT of N zarr chunk keys (bit width 8, buckets of
//! 4, py-hamt's defaults), measured, and the model that extends it to a
//! billion keys:
//!
//! `shape N...` builds each map (keys `temp/c/{i / 1000}/{i % 1000}`, each
//! linked to a raw CID as a chunk's value would be; the values themselves
//! are not needed for the tree) with the sorted import on a memory store,
//! then prints per N: depth, nodes per level, node bytes, and the mean
//! number of nodes on a key's path, measured over 10,000 lookups on a
//! fresh handle (the cold round trips of one `get` are that plus one for
//! the value; the root is read when the map is opened). Then the model
//! for each N and for 1e9: with `lambda_l = N / 256^(l+1)` keys expected
//! in a slot at level `l`, a key's path goes on below level `l` when its
//! slot holds more than 4 keys, i.e. when at least 4 others share it:
//! `P(Poisson(lambda_l) >= 4)`; a level-`l+1` node exists per slot with
//! more than 4 keys: `256^(l+1) * P(Poisson(lambda_l) > 4)`.

use std::sync::Arc;

use hamt::{Hamt, HamtConfig};
use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};
use hamt_store::MemoryStore;
use hamt_store::telemetry::{self, snapshot};

type Error = Box<dyn std::error::Error + Send + Sync>;

const BUCKET: u32 = 4;

/// `P(Poisson(lambda) >= k)`.
fn poisson_at_least(lambda: f64, k: u32) -> f64 {
    let mut term = (-lambda).exp();
    let mut below = 0.0;
    for i in 0..k {
        below += term;
        term *= lambda / f64::from(i + 1);
    }
    (1.0 - below).max(0.0)
}

/// The model: expected nodes per level and the mean nodes on a key's path.
fn model(n: f64) -> (Vec<f64>, f64) {
    let mut nodes = vec![1.0];
    let mut path = 1.0;
    for level in 0..32 {
        let slots = 256f64.powi(level + 1);
        let lambda = n / slots;
        let below = poisson_at_least(lambda, BUCKET + 1);
        if slots * below < 0.5 {
            break;
        }
        nodes.push(slots * below);
        path += poisson_at_least(lambda, BUCKET);
    }
    (nodes, path)
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
async fn measure(n: u64) -> Result<(), Error> {
    let store = Arc::new(MemoryStore::new());
    let config = HamtConfig::default();
    let mut map = Hamt::new(store.clone(), config.clone());
    let key = |i: u64| format!("temp/c/{}/{}", i / 1000, i % 1000);
    let mut import = map.import();
    for i in 0..n {
        let k = key(i);
        let link = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, k.as_bytes());
        import.insert_link(&k, link)?;
    }
    import.finish().await?;
    let root = map.flush().await?;
    let fresh = Hamt::open(store.clone(), root, config.clone()).await?;
    let stats = fresh.stats().await?;

    telemetry::enable();
    let cold = Hamt::open(store, root, config).await?;
    let before = snapshot().histogram("py_hamt.hamt.lookup.depth");
    let probes = 10_000.min(n);
    for i in 0..probes {
        let pick = (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) % n;
        cold.get_link(&key(pick)).await?;
    }
    let after = snapshot().histogram("py_hamt.hamt.lookup.depth");
    let mean_path = (after.1 - before.1) as f64 / (after.0 - before.0) as f64;
    let (model_nodes, model_path) = model(n as f64);
    println!(
        "N={n}: depth {} levels, nodes {} {:?}, node bytes {} ({:.1} per key), mean nodes on a key's path {mean_path:.3}, max {}",
        stats.nodes_per_depth.len(),
        stats.nodes,
        stats.nodes_per_depth,
        stats.node_bytes,
        stats.node_bytes as f64 / n as f64,
        after.2,
    );
    println!(
        "  model: nodes {:.0} {:?}, mean path {model_path:.3}",
        model_nodes.iter().sum::<f64>(),
        model_nodes.iter().map(|x| x.round()).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    for arg in std::env::args().skip(1) {
        measure(arg.parse()?).await?;
    }
    for n in [1e6, 1e7, 1e8, 1e9] {
        let (nodes, path) = model(n);
        println!(
            "model N={n:e}: levels {}, nodes {:.0} {:?}, mean nodes on a key's path {path:.3}",
            nodes.len(),
            nodes.iter().sum::<f64>(),
            nodes.iter().map(|x| x.round()).collect::<Vec<_>>()
        );
    }
    Ok(())
}
