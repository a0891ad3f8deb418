//! zarrs' async storage traits, over the store's own methods.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream;
use zarrs_storage::byte_range::ByteRangeIterator;
use zarrs_storage::{
    AsyncListableStorageTraits, AsyncMaybeBytesIterator, AsyncReadableStorageTraits,
    AsyncWritableStorageTraits, Bytes, MaybeBytes, OffsetBytesIterator, StorageError, StoreKey,
    StoreKeys, StoreKeysPrefixes, StorePrefix,
};

use crate::store::store_keys;
use crate::{Layout, ValueCodec, ZarrStore};

#[async_trait]
impl<L: Layout, V: ValueCodec + ?Sized> AsyncReadableStorageTraits for ZarrStore<L, V> {
    async fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        Ok(self.dataset().get(key.as_str()).await?)
    }

    async fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<AsyncMaybeBytesIterator<'a>, StorageError> {
        let ranges: Vec<_> = byte_ranges.collect();
        let Some(values) = self.dataset().get_exact(key.as_str(), &ranges).await? else {
            return Ok(None);
        };
        Ok(Some(stream::iter(values.into_iter().map(Ok)).boxed()))
    }

    async fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        Ok(self.dataset().size(key.as_str()).await?)
    }

    fn supports_get_partial(&self) -> bool {
        self.codec().is_verbatim()
    }
}

#[async_trait]
impl<L: Layout, V: ValueCodec + ?Sized> AsyncWritableStorageTraits for ZarrStore<L, V> {
    async fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        Ok(self.dataset().set(key.as_str(), value).await?)
    }

    async fn set_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator<'a>,
    ) -> Result<(), StorageError> {
        let patches = offset_values.collect();
        Ok(self.dataset().set_partial(key.as_str(), patches).await?)
    }

    async fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.dataset().delete(key.as_str()).await?;
        Ok(())
    }

    async fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.dataset().delete_prefix(prefix.as_str()).await?;
        Ok(())
    }

    fn supports_set_partial(&self) -> bool {
        // A partial write rewrites the whole value: blocks are immutable.
        false
    }
}

#[async_trait]
impl<L: Layout, V: ValueCodec + ?Sized> AsyncListableStorageTraits for ZarrStore<L, V> {
    async fn list(&self) -> Result<StoreKeys, StorageError> {
        Ok(store_keys(self.zarr_keys("").await?))
    }

    async fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        Ok(store_keys(self.zarr_keys(prefix.as_str()).await?))
    }

    async fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        self.zarr_list_dir(prefix).await
    }

    async fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        Ok(self.zarr_size_prefix(prefix).await?)
    }
}
