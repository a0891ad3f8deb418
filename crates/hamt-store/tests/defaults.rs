//! What a store gets from `BlockStore`'s default methods when it writes
//! only the required ones.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use bytes::Bytes;
use hamt_codec::{BlockCodec, Cid, HashAlgorithm};
use hamt_store::{Block, BlockStore, DagScope, MemoryStore, StoreError};

/// Only the required methods, over a memory store.
struct Plain(MemoryStore);

#[async_trait]
impl BlockStore for Plain {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.0.get(cid).await
    }
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.0.has(cid).await
    }
    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.0.put_block(block).await
    }
    fn hash_algorithm(&self) -> HashAlgorithm {
        HashAlgorithm::Blake3
    }
}

#[tokio::test]
async fn sizes_read_the_block_and_dags_come_block_by_block() {
    let store = Plain(MemoryStore::new());
    let cid = store
        .put(BlockCodec::Raw, Bytes::from_static(b"twelve bytes"))
        .await
        .unwrap();
    assert_eq!(store.block_size(&cid).await.unwrap(), 12);
    assert_eq!(hamt_store::block_size(&store, &cid).await.unwrap(), 12);
    assert!(
        store
            .fetch_dag(&cid, DagScope::All, 1 << 20)
            .await
            .unwrap()
            .is_none()
    );
    // Through a pointer too.
    let shared = std::sync::Arc::new(store);
    assert!(
        shared
            .fetch_dag(&cid, DagScope::All, 1 << 20)
            .await
            .unwrap()
            .is_none()
    );
    let missing = hamt_codec::block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"absent");
    assert!(matches!(
        shared.block_size(&missing).await,
        Err(StoreError::NotFound(_))
    ));
}

/// `Prefetched` answers from the blocks fetched ahead first, then from the
/// store; writes go to the store.
#[tokio::test]
async fn prefetched_blocks_come_first() {
    let behind = MemoryStore::new();
    let stored = behind
        .put(BlockCodec::Raw, Bytes::from_static(b"behind"))
        .await
        .unwrap();
    let ahead = Block::new(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        Bytes::from_static(b"ahead of it"),
    );
    let store = hamt_store::Prefetched::new(vec![ahead.clone()], behind);
    assert_eq!(store.fetched(), 1);
    assert_eq!(store.get(ahead.cid()).await.unwrap(), ahead.data());
    assert_eq!(&store.get(&stored).await.unwrap()[..], b"behind");
    let range = hamt_store::ByteRange::Suffix(2);
    assert_eq!(
        &store.get_range(ahead.cid(), range).await.unwrap()[..],
        b"it"
    );
    assert_eq!(&store.get_range(&stored, range).await.unwrap()[..], b"nd");
    assert_eq!(store.block_size(ahead.cid()).await.unwrap(), 11);
    assert_eq!(store.block_size(&stored).await.unwrap(), 6);
    assert!(store.has(ahead.cid()).await.unwrap() && store.has(&stored).await.unwrap());
    let missing = hamt_codec::block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"absent");
    assert!(!store.has(&missing).await.unwrap());
    let new = store
        .put(BlockCodec::Raw, Bytes::from_static(b"new"))
        .await
        .unwrap();
    assert!(store.has(&new).await.unwrap());
    assert_eq!(store.fetched(), 1, "writes go behind");
    assert_eq!(store.hash_algorithm(), HashAlgorithm::Blake3);
}
