//! `hamt demo`: the README's main job on a fresh machine. Writes a synthetic
//! climate-like zarr v3 dataset (daily surface temperature on a 0.5° grid,
//! 360 x 720 float32, one uncompressed ~1 MiB chunk per day) through zarrs
//! and `hamt-zarr` into the selected store, names it `demo` (in the embedded
//! store, or on the daemon, pinned), reopens it from its root CID alone,
//! checks every value and prints throughput.

// Grid indices and day numbers are small: converting them to f32 is exact enough for synthetic data.
#![allow(clippy::cast_precision_loss)]

use std::f32::consts::PI;
use std::sync::Arc;
use std::time::Instant;

use hamt_zarr::ZarrHamtStore;
use serde_json::json;
use zarrs::array::{Array, ArrayBuilder, data_type};
use zarrs::group::GroupBuilder;

use crate::backend::Backend;
use crate::error::{Context, Result, fail};
use crate::output::{Output, mib, per_second};

const LATS: u64 = 360;
const LONS: u64 = 720;
/// The name the demo's root gets (in the embedded store or on the daemon).
const DEMO_ROOT_NAME: &str = "demo";

/// A plausible temperature (K) for `day` at cell (`lat`, `lon`): warm
/// tropics, cold poles, opposite seasons per hemisphere, a ripple for weather.
fn temperature(day: u64, lat: u64, lon: u64) -> f32 {
    let latitude = (lat as f32 + 0.5) * 0.5 - 90.0;
    let longitude = (lon as f32 + 0.5) * 0.5 - 180.0;
    let season = (2.0 * PI * day as f32 / 365.0).cos() * latitude.signum();
    let climate = 300.0 - 45.0 * latitude.to_radians().sin().powi(2);
    let weather = 2.0 * ((longitude * 0.1 + day as f32 * 0.7).sin() * (latitude * 0.15).cos());
    climate + 12.0 * season * (latitude.abs() / 90.0) + weather
}

fn day_field(day: u64) -> Vec<f32> {
    (0..LATS)
        .flat_map(|lat| (0..LONS).map(move |lon| temperature(day, lat, lon)))
        .collect()
}

pub(crate) async fn run(backend: &Backend, out: Output, days: u64) -> Result<()> {
    let bytes = days * LATS * LONS * 4;
    let started = Instant::now();
    let root = write_dataset(backend, out, days).await?;
    let write_time = started.elapsed();
    let named = backend.can_name();
    backend
        .commit_root(out, &root, named.then_some(DEMO_ROOT_NAME))
        .await?;

    let started = Instant::now();
    let mean = read_and_check(backend, root, days).await?;
    let read_time = started.elapsed();
    out.print(
        || {
            format!(
                "root CID  {root}{}\nwrote     {days} days x {LATS} x {LONS} f32 ({:.1} MiB) in {:.2} s: {:.1} MiB/s\nread      all of it back from the CID in {:.2} s: {:.1} MiB/s\nchecked   every value; mean at 45°N 0°E: {mean:.2} K\nstore     {}",
                if named { format!(" (named {DEMO_ROOT_NAME:?})") } else { String::new() },
                mib(bytes),
                write_time.as_secs_f64(),
                per_second(bytes, write_time) / 1_048_576.0,
                read_time.as_secs_f64(),
                per_second(bytes, read_time) / 1_048_576.0,
                backend.label,
            )
        },
        || {
            json!({
                "root": root.to_string(), "name": named.then_some(DEMO_ROOT_NAME), "days": days,
                "bytes": bytes, "write_seconds": write_time.as_secs_f64(),
                "read_seconds": read_time.as_secs_f64(), "verified": true,
            })
        },
    );
    Ok(())
}

async fn write_dataset(backend: &Backend, out: Output, days: u64) -> Result<hamt::Cid> {
    let store = Arc::new(ZarrHamtStore::create(
        backend.blocks.clone(),
        backend.hamt_config(),
    ));
    GroupBuilder::new()
        .build(store.clone(), "/")
        .context(|| "build the root group".into())?
        .async_store_metadata()
        .await
        .context(|| "write the root group".into())?;
    let mut builder = ArrayBuilder::new(
        vec![days, LATS, LONS],
        vec![1, LATS, LONS],
        data_type::float32(),
        f32::NAN,
    );
    builder.dimension_names(Some(["time", "latitude", "longitude"]));
    let array = builder
        .build_arc(store.clone(), "/temperature")
        .context(|| "build the temperature array".into())?;
    array
        .async_store_metadata()
        .await
        .context(|| "write the array metadata".into())?;
    let bar = out.count_bar(days, "writing days");
    for day in 0..days {
        array
            .async_store_chunk(&[day, 0, 0], day_field(day))
            .await
            .context(|| format!("write day {day}"))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    store
        .flush()
        .await
        .context(|| format!("write the HAMT to {}", backend.label))
}

/// Reopens the dataset from `root` alone, reads it all, compares it with what
/// was generated, and returns the mean of the series at one point.
async fn read_and_check(backend: &Backend, root: hamt::Cid, days: u64) -> Result<f32> {
    let reader = ZarrHamtStore::open(backend.blocks.clone(), root, backend.hamt_config())
        .await
        .context(|| format!("reopen {root}"))?;
    let array = Array::async_open(Arc::new(reader), "/temperature")
        .await
        .context(|| format!("open /temperature in {root}"))?;
    let all: Vec<f32> = array
        .async_retrieve_array_subset(&array.subset_all())
        .await
        .context(|| format!("read /temperature in {root}"))?;
    let cells = usize::try_from(LATS * LONS).unwrap_or(usize::MAX);
    if all.len() as u64 != days * LATS * LONS {
        fail!(
            "read {} values back from {root}, expected {}",
            all.len(),
            days * LATS * LONS
        );
    }
    for (day, field) in (0..days).zip(all.chunks(cells)) {
        if field != day_field(day) {
            fail!("day {day} read back from {root} differs from what was written");
        }
    }
    // One point near 45°N 0°E: row 270, column 360 of each day.
    let point = usize::try_from(270 * LONS + 360).unwrap_or(0);
    let series: Vec<f32> = all
        .chunks(cells)
        .filter_map(|f| f.get(point).copied())
        .collect();
    Ok(series.iter().sum::<f32>() / series.len().max(1) as f32)
}
