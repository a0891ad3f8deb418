//! Blocks fetched ahead in front of the store they came from.

use async_trait::async_trait;
use bytes::Bytes;
use hamt_codec::{Cid, HashAlgorithm};

use crate::{Block, BlockStore, BlockingStore, ByteRange, MemoryStore, StoreError};

/// Blocks fetched ahead (e.g. one CAR from a gateway, see
/// [`BlockStore::fetch_dag`]) in front of the store they came from: reads
/// find them here first, anything else in `store`; writes go to `store`.
///
/// ```
/// use hamt_store::{Block, BlockStore, MemoryStore, Prefetched};
/// use hamt_codec::{BlockCodec, HashAlgorithm};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let ahead = Block::new(BlockCodec::Raw, HashAlgorithm::Blake3, b"fetched".to_vec().into());
/// let store = Prefetched::new(vec![ahead.clone()], MemoryStore::new());
/// assert_eq!(store.get(ahead.cid()).await?, ahead.data());
/// assert_eq!(store.fetched(), 1);
/// # Ok::<(), hamt_store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct Prefetched<S> {
    ahead: MemoryStore,
    store: S,
}

impl<S> Prefetched<S> {
    /// `blocks` (verified, as every [`Block`] is) in front of `store`.
    pub fn new(blocks: Vec<Block>, store: S) -> Self {
        let ahead = MemoryStore::new();
        let mut blocks = blocks;
        // A memory store always takes blocks: nothing can be left over.
        let _ = ahead.put_many_blocking(&mut blocks);
        Prefetched { ahead, store }
    }

    /// How many blocks were fetched ahead.
    pub fn fetched(&self) -> usize {
        self.ahead.len()
    }
}

#[async_trait]
impl<S: BlockStore> BlockStore for Prefetched<S> {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        match self.ahead.get_blocking(cid) {
            Err(StoreError::NotFound(_)) => self.store.get(cid).await,
            found => found,
        }
    }

    async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        match self.ahead.get_range_blocking(cid, range) {
            Err(StoreError::NotFound(_)) => self.store.get_range(cid, range).await,
            found => found,
        }
    }

    async fn block_size(&self, cid: &Cid) -> Result<u64, StoreError> {
        match self.ahead.block_size_blocking(cid) {
            Err(StoreError::NotFound(_)) => self.store.block_size(cid).await,
            found => found,
        }
    }

    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        if self.ahead.block_size_blocking(cid).is_ok() {
            return Ok(true);
        }
        self.store.has(cid).await
    }

    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.store.put_block(block).await
    }

    fn hash_algorithm(&self) -> HashAlgorithm {
        self.store.hash_algorithm()
    }
}
