//! Writes and reads a climate-like dataset through a `ZarrHamtStore`: daily
//! global surface temperature on a 0.5° grid (360 latitudes x 720
//! longitudes, float32 kelvin), one chunk per day, like the dClimate
//! datasets py-hamt serves.
//!
//! ```text
//! cargo run -p hamt-zarr --example climate -- [DAYS] [--gzip]
//! ```
//!
//! Prints the root CID and write / read throughput. The HAMT lives in a
//! `MemoryStore`; swap in any other `BlockStore` (RocksDB, Kubo) unchanged.

#![allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]

use std::error::Error;
use std::f32::consts::PI;
use std::sync::Arc;
use std::time::Instant;

use hamt::HamtConfig;
use hamt_store::MemoryStore;
use hamt_zarr::ZarrHamtStore;
use zarrs::array::codec::GzipCodec;
use zarrs::array::{Array, ArrayBuilder, ArraySubset, data_type};
use zarrs::group::GroupBuilder;

const LATS: u64 = 360;
const LONS: u64 = 720;
const MIB: f64 = 1_048_576.0;

/// A plausible temperature (K) for `day` at grid cell (`lat`, `lon`): warm
/// tropics, cold poles, opposite seasons in the two hemispheres, and a
/// deterministic ripple standing in for weather.
fn temperature(day: u64, lat: u64, lon: u64) -> f32 {
    let latitude = (lat as f32 + 0.5) * 0.5 - 90.0;
    let longitude = (lon as f32 + 0.5) * 0.5 - 180.0;
    let season = (2.0 * PI * day as f32 / 365.0).cos() * latitude.signum();
    let climate = 300.0 - 45.0 * (latitude.to_radians().sin()).powi(2);
    let weather = 2.0 * ((longitude * 0.1 + day as f32 * 0.7).sin() * (latitude * 0.15).cos());
    climate + 12.0 * season * (latitude.abs() / 90.0) + weather
}

fn day_field(day: u64) -> Vec<f32> {
    (0..LATS)
        .flat_map(|lat| (0..LONS).map(move |lon| temperature(day, lat, lon)))
        .collect()
}

fn parse_args() -> Result<(u64, bool), Box<dyn Error>> {
    let mut days = 8;
    let mut gzip = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--gzip" => gzip = true,
            n => {
                days = n
                    .parse()
                    .map_err(|e| format!("DAYS must be a number, got {n:?}: {e}"))?;
            }
        }
    }
    Ok((days.max(1), gzip))
}

fn mib_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / MIB / seconds.max(1e-9)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let (days, gzip) = parse_args()?;
    let bytes = days * LATS * LONS * 4;
    let blocks = Arc::new(MemoryStore::new());
    let store = Arc::new(ZarrHamtStore::create(blocks.clone(), HamtConfig::default()));

    GroupBuilder::new()
        .build(store.clone(), "/")?
        .async_store_metadata()
        .await?;
    let mut builder = ArrayBuilder::new(
        vec![days, LATS, LONS],
        vec![1, LATS, LONS],
        data_type::float32(),
        f32::NAN,
    );
    builder.dimension_names(Some(["time", "latitude", "longitude"]));
    if gzip {
        builder.bytes_to_bytes_codecs(vec![Arc::new(GzipCodec::new(1)?)]);
    }
    let array = builder.build_arc(store.clone(), "/temperature")?;
    array.async_store_metadata().await?;

    let started = Instant::now();
    for day in 0..days {
        array
            .async_store_chunk(&[day, 0, 0], day_field(day))
            .await?;
    }
    let root = store.flush().await?;
    let write_s = started.elapsed().as_secs_f64();
    println!("root CID   {root}");
    println!(
        "wrote      {days} days x {LATS} x {LONS} f32 ({:.1} MiB{}) in {write_s:.2} s: {:.1} MiB/s, {} blocks",
        bytes as f64 / MIB,
        if gzip { ", gzip" } else { "" },
        mib_per_s(bytes, write_s),
        blocks.len(),
    );

    let reader = Arc::new(ZarrHamtStore::open(blocks, root, HamtConfig::default()).await?);
    let started = Instant::now();
    let array = Array::async_open(reader, "/temperature").await?;
    let all: Vec<f32> = array
        .async_retrieve_array_subset(&array.subset_all())
        .await?;
    let read_s = started.elapsed().as_secs_f64();
    println!(
        "read       everything in {read_s:.2} s: {:.1} MiB/s",
        mib_per_s(bytes, read_s)
    );

    // A time series at one point (near 45°N, 0°E) reads one small slice per day.
    let (lat, lon) = (270, 360);
    let series: Vec<f32> = array
        .async_retrieve_array_subset(&ArraySubset::new_with_ranges(&[
            0..days,
            lat..lat + 1,
            lon..lon + 1,
        ]))
        .await?;
    let expected: Vec<f32> = (0..days).map(|d| temperature(d, lat, lon)).collect();
    let whole_matches = (0..days)
        .all(|d| all[(d * LATS * LONS) as usize..][..(LATS * LONS) as usize] == day_field(d));
    if series != expected || !whole_matches {
        return Err("data read back differs from data written".into());
    }
    let mean = series.iter().sum::<f32>() / series.len() as f32;
    println!("checked    all values; mean at 45°N 0°E over {days} days: {mean:.2} K");
    Ok(())
}
