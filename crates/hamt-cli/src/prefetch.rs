//! Walking a whole DAG over IPFS gateways: one CAR request first (every
//! block verified, only the root's DAG accepted; `KuboStore::fetch_dag`),
//! held in memory, then block by block for whatever the CAR left out.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use hamt_codec::{Cid, HashAlgorithm};
use hamt_store::{Block, BlockStore, ByteRange, MemoryStore, StoreError};

use crate::backend::Backend;
use crate::output::Output;

/// Largest CAR held in memory; a bigger DAG is read block by block.
const MAX_CAR_BYTES: usize = 512 << 20;

/// Blocks fetched ahead, in front of the store they came from.
struct Prefetched {
    fetched: MemoryStore,
    store: Arc<dyn BlockStore>,
}

#[async_trait]
impl BlockStore for Prefetched {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        match self.fetched.get(cid).await {
            Err(StoreError::NotFound(_)) => self.store.get(cid).await,
            found => found,
        }
    }

    async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        match self.fetched.get_range(cid, range).await {
            Err(StoreError::NotFound(_)) => self.store.get_range(cid, range).await,
            found => found,
        }
    }

    async fn block_size(&self, cid: &Cid) -> Result<u64, StoreError> {
        match self.fetched.block_size(cid).await {
            Err(StoreError::NotFound(_)) => self.store.block_size(cid).await,
            found => found,
        }
    }

    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.fetched.has(cid).await? || self.store.has(cid).await?)
    }

    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.store.put_block(block).await
    }

    fn hash_algorithm(&self) -> HashAlgorithm {
        self.store.hash_algorithm()
    }
}

impl Backend {
    /// The store to walk all of `root`'s DAG on: with `--kubo` and a
    /// gateway that serves CARs, the DAG fetched in one request first (up
    /// to 512 MiB); otherwise, or if that fails, the store itself.
    pub(crate) async fn for_whole_dag(&self, root: Cid, out: Output) -> Arc<dyn BlockStore> {
        let Some(kubo) = &self.kubo else {
            return self.blocks.clone();
        };
        match kubo.fetch_dag(&root, MAX_CAR_BYTES).await {
            Ok(Some(blocks)) => {
                let fetched = MemoryStore::new();
                let count = blocks.len();
                if let Err(e) = fetched.put_many(blocks).await {
                    out.note(|| format!("cannot hold the CAR ({e}); reading block by block"));
                    return self.blocks.clone();
                }
                out.note(|| format!("{count} blocks of {root} in one CAR from the gateway"));
                Arc::new(Prefetched {
                    fetched,
                    store: self.blocks.clone(),
                })
            }
            Ok(None) => self.blocks.clone(),
            Err(e) => {
                out.note(|| {
                    format!("no CAR of {root} from the gateway ({e}); reading block by block")
                });
                self.blocks.clone()
            }
        }
    }
}
