//! zarrs' sync storage traits, running the async methods to completion.
//!
//! Where a sync call may block: on a multi-thread tokio runtime thread it
//! blocks in place (`block_in_place`, which moves that worker's other tasks
//! away first); on a thread outside any runtime it blocks on the store's
//! runtime handle. Inside a current-thread runtime nothing can block without
//! stalling the very runtime the block store needs, so the call fails.

use std::future::Future;

use tokio::runtime::{Handle, RuntimeFlavor};
use zarrs_storage::byte_range::ByteRangeIterator;
use zarrs_storage::{
    Bytes, ListableStorageTraits, MaybeBytes, MaybeBytesIterator, OffsetBytesIterator,
    ReadableStorageTraits, StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix,
    WritableStorageTraits,
};

use crate::store::store_keys;
use crate::{Layout, ValueCodec, ZarrHamtError, ZarrStore};

const CURRENT_THREAD: &str = "a synchronous zarrs call inside a current-thread tokio runtime would block \
     it: use zarrs' async API there, or a multi-thread runtime";
const NO_RUNTIME: &str = "a synchronous zarrs call outside any tokio runtime needs one: \
     make the store inside a runtime, or give it one with ZarrHamtStore::with_runtime";

impl<L, V: ?Sized> ZarrStore<L, V> {
    /// Runs `future` to completion from synchronous code (see the module docs).
    fn block_on<F: Future>(&self, future: F) -> Result<F::Output, ZarrHamtError> {
        match Handle::try_current() {
            Ok(current) if current.runtime_flavor() == RuntimeFlavor::MultiThread => {
                Ok(tokio::task::block_in_place(|| current.block_on(future)))
            }
            Ok(_) => Err(ZarrHamtError::NoRuntime(CURRENT_THREAD)),
            Err(_) => match self.runtime() {
                Some(handle) => Ok(handle.block_on(future)),
                None => Err(ZarrHamtError::NoRuntime(NO_RUNTIME)),
            },
        }
    }

    fn run<T, F>(&self, future: F) -> Result<T, StorageError>
    where
        F: Future<Output = Result<T, ZarrHamtError>>,
    {
        Ok(self.block_on(future)??)
    }
}

impl<L: Layout, V: ValueCodec + ?Sized> ReadableStorageTraits for ZarrStore<L, V> {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        self.run(self.dataset().get(key.as_str()))
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let ranges: Vec<_> = byte_ranges.collect();
        let values = self.run(self.dataset().get_exact(key.as_str(), &ranges))?;
        Ok(values.map(|values| Box::new(values.into_iter().map(Ok)) as _))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.run(self.dataset().size(key.as_str()))
    }

    fn supports_get_partial(&self) -> bool {
        self.codec().is_verbatim()
    }
}

impl<L: Layout, V: ValueCodec + ?Sized> WritableStorageTraits for ZarrStore<L, V> {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        self.run(self.dataset().set(key.as_str(), value))
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        let patches = offset_values.collect();
        self.run(self.dataset().set_partial(key.as_str(), patches))
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.run(self.dataset().delete(key.as_str())).map(drop)
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.run(self.dataset().delete_prefix(prefix.as_str()))
            .map(drop)
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

impl<L: Layout, V: ValueCodec + ?Sized> ListableStorageTraits for ZarrStore<L, V> {
    fn list(&self) -> Result<StoreKeys, StorageError> {
        self.run(self.zarr_keys("")).map(store_keys)
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        self.run(self.zarr_keys(prefix.as_str())).map(store_keys)
    }

    fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        self.block_on(self.zarr_list_dir(prefix))?
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        self.run(self.zarr_size_prefix(prefix))
    }
}
