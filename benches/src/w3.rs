//! W3: a zarr round trip with thousands of small chunks, through `zarrs`
//! and `hamt-zarr` on an in-memory store. The same array as
//! `compare_zarr.py` writes with zarr-python and py-hamt: float32, shape
//! `side x side`, chunks of 10 x 10 (400 bytes each), no compression, value
//! of cell `i` (row-major) `i * 0.5`.

use std::sync::Arc;

use hamt::{Cid, HamtConfig};
use hamt_store::MemoryStore;
use hamt_zarr::ZarrHamtStore;
use zarrs::array::{Array, ArrayBuilder, data_type};

/// Rows and columns of one chunk.
pub const CHUNK: u64 = 10;

/// The array's cells, row-major: cell `i` holds `i * 0.5`.
#[allow(clippy::cast_precision_loss)] // exact below 2^24 cells
pub fn cells(side: u64) -> Vec<f32> {
    (0..side * side).map(|i| i as f32 * 0.5).collect()
}

/// An error from zarrs or the store, as text.
pub type W3Error = Box<dyn std::error::Error + Send + Sync>;

/// Writes the array (metadata and every chunk) and flushes: the root CID.
///
/// # Errors
/// zarrs or the store failed.
pub async fn write(blocks: &Arc<MemoryStore>, side: u64, cells: Vec<f32>) -> Result<Cid, W3Error> {
    let store = Arc::new(ZarrHamtStore::create(blocks.clone(), HamtConfig::default()));
    let array = ArrayBuilder::new(
        vec![side, side],
        vec![CHUNK, CHUNK],
        data_type::float32(),
        f32::NAN,
    )
    .build_arc(store.clone(), "/data")?;
    array.async_store_metadata().await?;
    array
        .async_store_array_subset(&array.subset_all(), cells)
        .await?;
    Ok(store.flush().await?)
}

/// Opens the root read-only from a cold handle and reads the whole array.
///
/// # Errors
/// zarrs or the store failed.
pub async fn read(blocks: &Arc<MemoryStore>, root: Cid) -> Result<Vec<f32>, W3Error> {
    let store = Arc::new(ZarrHamtStore::open(blocks.clone(), root, HamtConfig::default()).await?);
    let array = Array::async_open(store, "/data").await?;
    Ok(array
        .async_retrieve_array_subset(&array.subset_all())
        .await?)
}
