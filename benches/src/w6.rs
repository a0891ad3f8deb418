//! W6: reads at internet latency. A zarr array of `steps x (points * 64)`
//! float32 cells in chunks of `1 x 64` (256 bytes, one chunk per time step
//! and point: `steps * points` chunks, a million by default), stored as a
//! py-hamt-compatible HAMT; read cold through a gateway behind the
//! [`LatencyProxy`](crate::latency_proxy::LatencyProxy): random chunks with
//! a fixed number in flight, one chunk alone (its round trips), and a time
//! series at one point (one chunk per step). `remote_reads.py` does the same
//! with py-hamt 3.6.0 and zarr-python.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use hamt::{BlockStore, Cid, HamtConfig};
use hamt_zarr::ZarrHamtStore;
use zarrs::array::{Array, ArrayBuilder, ArraySubset, CodecOptions, data_type};

/// Cells in one chunk (a row of 64 along the points axis).
pub const CHUNK_CELLS: u64 = 64;

/// The array's path in the dataset.
pub const ARRAY: &str = "/temp";

/// An error from zarrs or the store, as text.
pub type W6Error = Box<dyn std::error::Error + Send + Sync>;

/// The value of cell `column` at time `step`, exact in an f32: the first
/// cell of each chunk holds the chunk's number (so no two chunks are the
/// same block), the others a pattern.
#[allow(clippy::cast_precision_loss)] // below 2^24 for up to 16M chunks
pub fn cell(step: u64, column: u64, points: u64) -> f32 {
    if column.is_multiple_of(CHUNK_CELLS) {
        (step * points + column / CHUNK_CELLS) as f32
    } else {
        ((step * 7919 + column) % 65_536) as f32
    }
}

/// The chunk `(step, point)` of the `i`-th of `count` reads: a fixed
/// pseudo-random sequence, so both sides read the same chunks.
pub fn chunk_of(i: u64, steps: u64, points: u64) -> (u64, u64) {
    let mut x = (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 29;
    let chunk = x % (steps * points);
    (chunk / points, chunk % points)
}

/// Writes the array (metadata, then one time step at a time) and flushes.
///
/// # Errors
/// zarrs or the store failed.
pub async fn write<S: BlockStore + Clone + 'static>(
    blocks: S,
    steps: u64,
    points: u64,
) -> Result<Cid, W6Error> {
    let store = Arc::new(ZarrHamtStore::create(blocks, HamtConfig::default()));
    let array = ArrayBuilder::new(
        vec![steps, points * CHUNK_CELLS],
        vec![1, CHUNK_CELLS],
        data_type::float32(),
        f32::NAN,
    )
    .build_arc(store.clone(), ARRAY)?;
    array.async_store_metadata().await?;
    let columns = points * CHUNK_CELLS;
    for step in 0..steps {
        let row: Vec<f32> = (0..columns).map(|c| cell(step, c, points)).collect();
        let subset = ArraySubset::new_with_ranges(&[step..step + 1, 0..columns]);
        array.async_store_array_subset(&subset, row).await?;
    }
    Ok(store.flush().await?)
}

/// What one cold run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Opening the dataset and the array (root node, `zarr.json`).
    pub open: Duration,
    /// One chunk read alone, right after opening.
    pub one_chunk: Duration,
    /// `count` random chunks with `in_flight` at once.
    pub random: Duration,
    /// `count` other random chunks right after, on the same handle (the
    /// top levels of the tree now cached).
    pub random_warm: Duration,
    /// The time series at one point (one chunk per step), with `in_flight` at once.
    pub series: Duration,
}

/// Opens `root` on `blocks` (a cold handle) and reads: one chunk, then
/// `count` random chunks with `in_flight` at once and `count` more on the
/// same handle, then the time series at
/// a point, checking every value. Each part on its own fresh handle, so
/// each starts cold.
///
/// # Errors
/// zarrs or the store failed, or a value is wrong.
pub async fn read<S: BlockStore + Clone + 'static>(
    blocks: &S,
    root: Cid,
    count: u64,
    in_flight: usize,
) -> Result<Measured, W6Error> {
    let open = |blocks: S| async move {
        let config = HamtConfig::default().with_read_concurrency(in_flight);
        let store = Arc::new(ZarrHamtStore::open(blocks, root, config).await?);
        Ok::<_, W6Error>(Array::async_open(store, ARRAY).await?)
    };
    let start = Instant::now();
    let array = open(blocks.clone()).await?;
    let opened = start.elapsed();
    let shape = array.shape().to_vec();
    let (steps, points) = (shape[0], shape[1] / CHUNK_CELLS);

    let start = Instant::now();
    check(&array, chunk_of(0, steps, points), points).await?;
    let one_chunk = start.elapsed();

    let array = open(blocks.clone()).await?;
    let start = Instant::now();
    stream::iter(0..count)
        .map(|i| check(&array, chunk_of(i, steps, points), points))
        .buffer_unordered(in_flight)
        .try_collect::<()>()
        .await?;
    let random = start.elapsed();
    let start = Instant::now();
    stream::iter(count..2 * count)
        .map(|i| check(&array, chunk_of(i, steps, points), points))
        .buffer_unordered(in_flight)
        .try_collect::<()>()
        .await?;
    let random_warm = start.elapsed();

    let array = open(blocks.clone()).await?;
    let point = points / 2;
    let start = Instant::now();
    let columns = point * CHUNK_CELLS..(point + 1) * CHUNK_CELLS;
    let subset = ArraySubset::new_with_ranges(&[0..steps, columns.clone()]);
    let options = CodecOptions::default().with_concurrent_target(in_flight);
    let series: Vec<f32> = array
        .async_retrieve_array_subset_opt(&subset, &options)
        .await?;
    let series_time = start.elapsed();
    let expected = (0..steps).flat_map(|s| columns.clone().map(move |c| cell(s, c, points)));
    if !series.into_iter().eq(expected) {
        return Err("W6: the time series read back wrong".into());
    }
    Ok(Measured {
        open: opened,
        one_chunk,
        random,
        random_warm,
        series: series_time,
    })
}

/// Reads chunk `(step, point)` and checks its values.
async fn check<S: zarrs::storage::AsyncReadableStorageTraits + ?Sized + 'static>(
    array: &Array<S>,
    (step, point): (u64, u64),
    points: u64,
) -> Result<(), W6Error> {
    let values: Vec<f32> = array.async_retrieve_chunk(&[step, point]).await?;
    let expected = (0..CHUNK_CELLS).map(|c| cell(step, point * CHUNK_CELLS + c, points));
    if values.into_iter().eq(expected) {
        Ok(())
    } else {
        Err(format!("W6: chunk ({step}, {point}) read back wrong").into())
    }
}
