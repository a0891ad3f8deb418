use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use hamt_codec::{BlockCodec, Cid, HashAlgorithm};

use crate::{Block, ByteRange, StoreError};

/// An async content-addressed block store.
///
/// Implementations must verify every block they return against its CID
/// (returning [`StoreError::Corrupt`] otherwise; one configured to skip that
/// for speed says so with [`verifies_reads`](Self::verifies_reads)), treat a
/// `put` of a block they already hold as a cheap no-op, and be safe to share
/// between tasks.
///
/// A backend that can write many blocks at once (a database batch, pipelined
/// requests) overrides [`BlockStore::put_many`]; the HAMT's flush uses it.
#[async_trait]
pub trait BlockStore: Send + Sync {
    /// The verified bytes of block `cid`.
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError>;

    /// A byte range of block `cid`. The default reads the whole (verified)
    /// block and slices it; a backend that can read part of a block without
    /// losing verification overrides this.
    async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        let data = self.get(cid).await?;
        Ok(data.slice(range.to_index_range(data.len())))
    }

    /// Whether block `cid` is in the store.
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError>;

    /// Stores a block.
    async fn put_block(&self, block: Block) -> Result<(), StoreError>;

    /// Stores many blocks, in order. The default puts them one by one.
    async fn put_many(&self, blocks: Vec<Block>) -> Result<(), StoreError> {
        for block in blocks {
            self.put_block(block).await?;
        }
        Ok(())
    }

    /// The hash function this store addresses new blocks with (blake3 unless configured).
    fn hash_algorithm(&self) -> HashAlgorithm {
        HashAlgorithm::Blake3
    }

    /// Whether [`get`](Self::get) verifies what it returns (the contract,
    /// so `true` by default). A store configured to skip verification for
    /// speed says `false`, and callers that must not trust unverified bytes
    /// (walks that follow links) check them themselves.
    fn verifies_reads(&self) -> bool {
        true
    }

    /// Hashes `data` as a block of `codec`, stores it and returns its CID.
    async fn put(&self, codec: BlockCodec, data: Bytes) -> Result<Cid, StoreError> {
        let block = Block::new(codec, self.hash_algorithm(), data);
        let cid = *block.cid();
        self.put_block(block).await?;
        Ok(cid)
    }
}

macro_rules! forward_block_store {
    ($ptr:ty) => {
        #[async_trait]
        impl<S: BlockStore + ?Sized> BlockStore for $ptr {
            async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
                (**self).get(cid).await
            }
            async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
                (**self).get_range(cid, range).await
            }
            async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
                (**self).has(cid).await
            }
            async fn put_block(&self, block: Block) -> Result<(), StoreError> {
                (**self).put_block(block).await
            }
            async fn put_many(&self, blocks: Vec<Block>) -> Result<(), StoreError> {
                (**self).put_many(blocks).await
            }
            fn hash_algorithm(&self) -> HashAlgorithm {
                (**self).hash_algorithm()
            }
            fn verifies_reads(&self) -> bool {
                (**self).verifies_reads()
            }
            async fn put(&self, codec: BlockCodec, data: Bytes) -> Result<Cid, StoreError> {
                (**self).put(codec, data).await
            }
        }
    };
}

forward_block_store!(Arc<S>);
forward_block_store!(&S);
forward_block_store!(Box<S>);
