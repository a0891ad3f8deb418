use std::collections::HashMap;

use async_trait::async_trait;
use bytes::Bytes;
use hamt_codec::{Cid, HashAlgorithm, verify_block};
use parking_lot::RwLock;

use crate::{Block, BlockStore, CidHash, StoreError};

/// A block store in memory: a map from CID to bytes behind a read-write lock.
///
/// Reads verify like every other store, so a test can plant a corrupt block
/// with [`MemoryStore::insert_unverified`] and see the error a disk or
/// network fault would give.
#[derive(Debug, Default)]
pub struct MemoryStore {
    blocks: RwLock<HashMap<Cid, Bytes, CidHash>>,
    hash: HashAlgorithm,
}

impl MemoryStore {
    /// An empty store addressing new blocks with blake3.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store addressing new blocks with `hash`.
    pub fn with_hash(hash: HashAlgorithm) -> Self {
        MemoryStore {
            blocks: RwLock::default(),
            hash,
        }
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.blocks.read().len()
    }

    /// Whether the store holds no block.
    pub fn is_empty(&self) -> bool {
        self.blocks.read().is_empty()
    }

    /// Total bytes of all blocks held.
    pub fn total_bytes(&self) -> usize {
        self.blocks.read().values().map(Bytes::len).sum()
    }

    /// The CIDs of every block held, in no particular order.
    pub fn cids(&self) -> Vec<Cid> {
        self.blocks.read().keys().copied().collect()
    }

    /// Removes a block, returning its bytes.
    pub fn remove(&self, cid: &Cid) -> Option<Bytes> {
        self.blocks.write().remove(cid)
    }

    /// Stores `data` under `cid` without checking it: only for tests that
    /// need a corrupt block, to see that reads reject it.
    pub fn insert_unverified(&self, cid: Cid, data: Bytes) {
        self.blocks.write().insert(cid, data);
    }
}

#[async_trait]
impl BlockStore for MemoryStore {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        let data = self
            .blocks
            .read()
            .get(cid)
            .cloned()
            .ok_or(StoreError::NotFound(*cid))?;
        verify_block(cid, &data)?;
        Ok(data)
    }

    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.blocks.read().contains_key(cid))
    }

    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        let (cid, data) = block.into_parts();
        self.blocks.write().entry(cid).or_insert(data);
        Ok(())
    }

    async fn put_many(&self, blocks: Vec<Block>) -> Result<(), StoreError> {
        let mut map = self.blocks.write();
        for block in blocks {
            let (cid, data) = block.into_parts();
            map.entry(cid).or_insert(data);
        }
        Ok(())
    }

    fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let store = MemoryStore::new();
        crate::conformance::check_all(&store, |cid, data| store.insert_unverified(cid, data)).await;
    }

    #[tokio::test]
    async fn sha256_store_addresses_with_sha256() {
        let store = MemoryStore::with_hash(HashAlgorithm::Sha2_256);
        let cid = store
            .put(hamt_codec::BlockCodec::Raw, Bytes::from_static(b"x"))
            .await
            .unwrap();
        assert_eq!(cid.hash().code(), 0x12);
        assert_eq!(store.len(), 1);
        assert_eq!(store.total_bytes(), 1);
        assert_eq!(store.cids(), vec![cid]);
        assert_eq!(store.remove(&cid), Some(Bytes::from_static(b"x")));
        assert!(store.is_empty());
    }
}

#[cfg(test)]
mod error_tests {
    use hamt_codec::{BlockCodec, Cid, HashAlgorithm, block_cid};
    use multihash::Multihash;

    use super::*;

    #[tokio::test]
    async fn unverifiable_hash_is_a_typed_error() {
        let store = MemoryStore::new();
        let cid = Cid::new_v1(0x55, Multihash::<64>::wrap(0x13, &[0; 64]).unwrap());
        store.insert_unverified(cid, Bytes::from_static(b"x"));
        match store.get(&cid).await {
            Err(StoreError::UnsupportedHash { cid: c, code: 0x13 }) => assert_eq!(c, cid),
            other => panic!("expected UnsupportedHash, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn shared_and_boxed_stores_forward_every_call() {
        let data = Bytes::from_static(b"forwarded");
        let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &data);
        let boxed: Box<MemoryStore> = Box::default();
        let shared = std::sync::Arc::new(MemoryStore::with_hash(HashAlgorithm::Sha2_256));
        for store in [
            &boxed as &dyn BlockStore,
            &shared as &dyn BlockStore,
            &&*boxed as &dyn BlockStore,
        ] {
            store
                .put_block(crate::Block::verified(cid, data.clone()).unwrap())
                .await
                .unwrap();
            assert!(store.has(&cid).await.unwrap());
            assert_eq!(store.get(&cid).await.unwrap(), data);
            assert_eq!(
                &store
                    .get_range(&cid, crate::ByteRange::Suffix(3))
                    .await
                    .unwrap()[..],
                b"ded"
            );
            store.put_many(vec![]).await.unwrap();
            let put = store.put(BlockCodec::DagCbor, data.clone()).await.unwrap();
            assert_eq!(put.hash().code(), store.hash_algorithm().code());
        }
        let err = StoreError::backend("doing x", std::io::Error::other("disk on fire"));
        assert_eq!(err.to_string(), "doing x: disk on fire");
        assert!(StoreError::ReadOnly.to_string().contains("read-only"));
    }
}
