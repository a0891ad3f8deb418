//! zarrs' async storage traits, over the store's own methods.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream;
use hamt::BlockStore;
use zarrs_storage::byte_range::ByteRangeIterator;
use zarrs_storage::{
    AsyncListableStorageTraits, AsyncMaybeBytesIterator, AsyncReadableStorageTraits,
    AsyncWritableStorageTraits, Bytes, MaybeBytes, OffsetBytesIterator, StorageError, StoreKey,
    StoreKeys, StoreKeysPrefixes, StorePrefix,
};

use crate::listing::split_dir;
use crate::{ValueCodec, ZarrHamtStore};

#[async_trait]
impl<S: BlockStore + 'static, V: ValueCodec> AsyncReadableStorageTraits for ZarrHamtStore<S, V> {
    async fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        Ok(self.get_value(key.as_str()).await?)
    }

    async fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<AsyncMaybeBytesIterator<'a>, StorageError> {
        let ranges: Vec<_> = byte_ranges.collect();
        let Some(values) = self.read_ranges(key.as_str(), &ranges).await? else {
            return Ok(None);
        };
        Ok(Some(stream::iter(values.into_iter().map(Ok)).boxed()))
    }

    async fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        Ok(self.value_size(key.as_str()).await?)
    }

    fn supports_get_partial(&self) -> bool {
        self.codec().is_verbatim()
    }
}

#[async_trait]
impl<S: BlockStore + 'static, V: ValueCodec> AsyncWritableStorageTraits for ZarrHamtStore<S, V> {
    async fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        Ok(self.set_value(key.as_str(), value).await?)
    }

    async fn set_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator<'a>,
    ) -> Result<(), StorageError> {
        Ok(self.write_partial(key.as_str(), offset_values).await?)
    }

    async fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        Ok(ZarrHamtStore::erase(self, key.as_str()).await?)
    }

    async fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        Ok(ZarrHamtStore::erase_prefix(self, prefix.as_str()).await?)
    }

    fn supports_set_partial(&self) -> bool {
        // A partial write rewrites the whole value: blocks are immutable.
        false
    }
}

#[async_trait]
impl<S: BlockStore + 'static, V: ValueCodec> AsyncListableStorageTraits for ZarrHamtStore<S, V> {
    async fn list(&self) -> Result<StoreKeys, StorageError> {
        Ok(self.keys_with_prefix("").await?)
    }

    async fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        Ok(self.keys_with_prefix(prefix.as_str()).await?)
    }

    async fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        let keys = self.keys_with_prefix(prefix.as_str()).await?;
        Ok(split_dir(prefix, keys)?)
    }

    async fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        Ok(self.size_with_prefix(prefix.as_str()).await?)
    }
}
