//! The sharded layout against the HAMT, in Rust alone (zarrs + hamt-zarr, no
//! zarr-python in the way): the array of `compare_sharded.py` (float32
//! `T x 180 x 360`, chunks `1 x 18 x 36`, 100 chunks per shard) written
//! through `ShardedZarrStore` and `ZarrHamtStore`, then read cold (opened
//! from its root): the time series at one grid point (one chunk per shard)
//! and the whole array. Interleaved runs; medians.
//!
//! `cargo run --release -p hamt-benches --example compare_sharded -- [memory|ipfs] [T] [REPEATS]`
//! (`ipfs`: the daemon at `IPFS_API_URL` / `IPFS_GATEWAY_URL`).
#![allow(
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hamt::{BlockStore, Cid, HamtConfig};
use hamt_kubo::KuboStore;
use hamt_store::MemoryStore;
use hamt_zarr::{ShardedConfig, ShardedZarrStore, ZarrHamtStore};
use zarrs::array::{Array, ArrayBuilder, ArraySubset, data_type};
use zarrs::group::GroupBuilder;
use zarrs::storage::AsyncReadableWritableStorageTraits;

type Error = Box<dyn std::error::Error + Send + Sync>;

const LAT: u64 = 180;
const LON: u64 = 360;
const CHUNK: [u64; 3] = [1, 18, 36];
const PER_SHARD: u64 = 100;
const POINT: [u64; 2] = [97, 211];

fn values(steps: u64) -> Vec<f32> {
    (0..steps * LAT * LON)
        .map(|i| 280.0 + ((i * 2_654_435_761) % 2000) as f32 / 100.0)
        .collect()
}

async fn write_array<S>(store: &Arc<S>, steps: u64, data: Vec<f32>) -> Result<(), Error>
where
    S: AsyncReadableWritableStorageTraits + 'static,
{
    for path in ["/", "/0"] {
        GroupBuilder::new()
            .build(store.clone(), path)?
            .async_store_metadata()
            .await?;
    }
    let array = ArrayBuilder::new(
        vec![steps, LAT, LON],
        CHUNK.to_vec(),
        data_type::float32(),
        f32::NAN,
    )
    .build_arc(store.clone(), "/0/t2m")?;
    array.async_store_metadata().await?;
    array
        .async_store_array_subset(&array.subset_all(), data)
        .await?;
    Ok(())
}

/// One layout: how it writes, and how a cold reader opens a root.
#[derive(Clone, Copy)]
enum Layout {
    Sharded,
    Hamt,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Sharded => "sharded",
            Layout::Hamt => "HAMT",
        }
    }

    async fn write<B: BlockStore + Clone + 'static>(
        self,
        blocks: &B,
        steps: u64,
        data: Vec<f32>,
    ) -> Result<Cid, Error> {
        match self {
            Layout::Sharded => {
                let store = Arc::new(ShardedZarrStore::create(blocks.clone(), PER_SHARD)?);
                write_array(&store, steps, data).await?;
                Ok(store.flush().await?)
            }
            Layout::Hamt => {
                let store = Arc::new(ZarrHamtStore::create(blocks.clone(), HamtConfig::default()));
                write_array(&store, steps, data).await?;
                Ok(store.flush().await?)
            }
        }
    }

    /// Opens `root` cold and reads `subset` of the array.
    async fn read<B: BlockStore + Clone + 'static>(
        self,
        blocks: &B,
        root: Cid,
        subset: &ArraySubset,
    ) -> Result<Vec<f32>, Error> {
        match self {
            Layout::Sharded => {
                let store = Arc::new(
                    ShardedZarrStore::open(blocks.clone(), root, ShardedConfig::default()).await?,
                );
                let array = Array::async_open(store, "/0/t2m").await?;
                Ok(array.async_retrieve_array_subset(subset).await?)
            }
            Layout::Hamt => {
                let store = Arc::new(
                    ZarrHamtStore::open(blocks.clone(), root, HamtConfig::default()).await?,
                );
                let array = Array::async_open(store, "/0/t2m").await?;
                Ok(array.async_retrieve_array_subset(subset).await?)
            }
        }
    }
}

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

async fn run<B: BlockStore + Clone + 'static>(
    blocks: B,
    backend: &str,
    steps: u64,
    repeats: usize,
) -> Result<(), Error> {
    let data = values(steps);
    let layouts = [Layout::Sharded, Layout::Hamt];
    let mut roots = Vec::new();
    let mut writes = Vec::new();
    for layout in layouts {
        let start = Instant::now();
        roots.push(layout.write(&blocks, steps, data.clone()).await?);
        writes.push(start.elapsed());
    }
    let series =
        ArraySubset::new_with_ranges(&[0..steps, POINT[0]..POINT[0] + 1, POINT[1]..POINT[1] + 1]);
    let whole = ArraySubset::new_with_ranges(&[0..steps, 0..LAT, 0..LON]);
    let want_series: Vec<f32> = (0..steps)
        .map(|t| data[((t * LAT + POINT[0]) * LON + POINT[1]) as usize])
        .collect();
    let mut times = vec![(Vec::new(), Vec::new()); layouts.len()];
    for _ in 0..repeats.max(1) {
        for (i, layout) in layouts.iter().enumerate() {
            let start = Instant::now();
            let got = layout.read(&blocks, roots[i], &series).await?;
            times[i].0.push(start.elapsed());
            if got != want_series {
                return Err(format!("{}: wrong time series", layout.name()).into());
            }
            let start = Instant::now();
            let got = layout.read(&blocks, roots[i], &whole).await?;
            times[i].1.push(start.elapsed());
            if got != data {
                return Err(format!("{}: wrong array", layout.name()).into());
            }
        }
    }
    let chunks = steps * (LAT / CHUNK[1]) * (LON / CHUNK[2]);
    println!(
        "zarrs, {backend}: {chunks} chunks of {} B, {PER_SHARD} per shard, medians of {repeats} (write: one run)",
        CHUNK.iter().product::<u64>() * 4
    );
    println!("  {:<10} {:>9} {:>9} {:>9}", "", "write", "series", "whole");
    for (i, layout) in layouts.iter().enumerate() {
        println!(
            "  {:<10} {:>8.3}s {:>8.4}s {:>8.3}s",
            layout.name(),
            writes[i].as_secs_f64(),
            median(times[i].0.clone()),
            median(times[i].1.clone()),
        );
    }
    let (sharded, hamt) = (median(times[0].0.clone()), median(times[1].0.clone()));
    println!("  series: sharded {:.1}x the HAMT's speed", hamt / sharded);
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = args.first().map_or("memory", String::as_str).to_owned();
    let steps: u64 = args.get(1).map_or(Ok(365), |s| s.parse())?;
    let repeats: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    // The IPFS store's HTTP client needs the timer and I/O drivers.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match backend.as_str() {
        "memory" => rt.block_on(run(Arc::new(MemoryStore::new()), "memory", steps, repeats)),
        "ipfs" => {
            let api = std::env::var("IPFS_API_URL")?;
            let gateway = std::env::var("IPFS_GATEWAY_URL")?;
            let store = KuboStore::builder()
                .rpc_url(&api)
                .gateway(&gateway)
                .build()?;
            rt.block_on(run(Arc::new(store), "ipfs", steps, repeats))
        }
        other => Err(format!("backend {other:?}: memory or ipfs").into()),
    }
}
