//! A cache of the stored bytes of `zarr.json` values, which zarr reads far
//! more often than anything else (py-hamt's `metadata_read_cache`). Metadata
//! is small, so nothing is evicted except by writes and erases.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

/// Whether `key` holds zarr metadata (py-hamt: the key ends with `zarr.json`).
pub(crate) fn is_metadata(key: &str) -> bool {
    key.ends_with("zarr.json")
}

#[derive(Debug, Default)]
pub(crate) struct MetadataCache {
    values: Mutex<HashMap<String, Bytes>>,
}

impl MetadataCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Bytes>> {
        // The map is always consistent between statements, so a panic elsewhere
        // while holding the lock leaves nothing half-done.
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Bytes> {
        self.lock().get(key).cloned()
    }

    /// Remembers a metadata value just read; other keys are ignored.
    pub(crate) fn remember(&self, key: &str, value: &Bytes) {
        if is_metadata(key) {
            self.lock().insert(key.to_owned(), value.clone());
        }
    }

    pub(crate) fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    pub(crate) fn forget_prefix(&self, prefix: &str) {
        self.lock().retain(|key, _| !key.starts_with(prefix));
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
