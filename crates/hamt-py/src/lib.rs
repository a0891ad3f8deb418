//! The native half of the Python package `hamt_rs` (`hamt_rs._native`):
//! this project's HAMT, byte-compatible with py-hamt 3.6.0, on an in-memory,
//! RocksDB or Kubo block store, for the package's zarr-python store and
//! py-hamt-style map (`python/hamt_rs/*.py`, which is what Python users read).
//!
//! Every operation is a Rust future. It is polled once on the calling
//! thread, with the GIL released when that first poll may block (a RocksDB
//! backend reads the disk) or hash a large value, and held otherwise
//! (releasing and retaking it costs more than a small in-memory step). An
//! operation that needs no I/O (a write into the HAMT's buffer, a read
//! served from memory or the node cache) finishes there and returns its
//! result directly, with no thread hop and no event-loop wake-up. One that is still pending is handed, as it is, to
//! the tokio runtime of `pyo3-async-runtimes` and returned as an
//! `asyncio.Future` of the caller's loop, so many concurrent reads from
//! zarr-python run concurrently. The Python side awaits a returned future
//! and uses any other value as it is.

mod backend;
mod car;
mod core;
mod errors;
#[cfg(feature = "rocksdb")]
mod history;
mod ready;

use pyo3::prelude::*;

/// The extension module `hamt_rs._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<backend::MemoryBackend>()?;
    #[cfg(feature = "rocksdb")]
    m.add_class::<backend::RocksDbBackend>()?;
    #[cfg(feature = "rocksdb")]
    m.add_class::<history::Repository>()?;
    #[cfg(feature = "kubo")]
    m.add_class::<backend::KuboBackend>()?;
    m.add_class::<core::HamtCore>()?;
    m.add_function(wrap_pyfunction!(backend::restore_backend, m)?)?;
    m.add_function(wrap_pyfunction!(core::restore_core, m)?)?;
    m.add_function(wrap_pyfunction!(core::convert_hamt_to_sharded, m)?)?;
    m.add_function(wrap_pyfunction!(car::export_car, m)?)?;
    m.add_function(wrap_pyfunction!(car::import_car, m)?)?;
    m.add("HAS_ROCKSDB", cfg!(feature = "rocksdb"))?;
    m.add("HAS_KUBO", cfg!(feature = "kubo"))?;
    m.add("ENCRYPTION_OVERHEAD", hamt_zarr::ENCRYPTION_OVERHEAD)?;
    m.add(
        "DEFAULT_CHUNKS_PER_SHARD",
        hamt_zarr::DEFAULT_CHUNKS_PER_SHARD,
    )?;
    Ok(())
}
