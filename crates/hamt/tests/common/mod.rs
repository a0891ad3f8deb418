//! Test helpers shared by the HAMT's integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use hamt::{Hamt, HamtConfig, KeyHasher};
use hamt_codec::{Blake3KeyHasher, Cid, KeyHash};
use hamt_store::{Block, BlockStore, ByteRange, Bytes, MemoryStore, StoreError};

/// blake3, with the first `shared` bytes zeroed: every key shares a long hash
/// prefix, so trees go deep with few keys.
#[derive(Debug)]
pub struct SharedPrefixHasher {
    pub shared: usize,
}

impl KeyHasher for SharedPrefixHasher {
    fn hash(&self, key: &[u8]) -> KeyHash {
        let mut hash = Blake3KeyHasher.hash(key);
        hash[..self.shared].fill(0);
        hash
    }
}

/// Each hash byte is 0 or 1: many keys collide on every level, so trees are
/// narrow and deep.
#[derive(Debug)]
pub struct BinaryHasher;

impl KeyHasher for BinaryHasher {
    fn hash(&self, key: &[u8]) -> KeyHash {
        Blake3KeyHasher.hash(key).map(|b| b & 1)
    }
}

/// Every key hashes the same: the hash runs out.
#[derive(Debug)]
pub struct ConstantHasher;

impl KeyHasher for ConstantHasher {
    fn hash(&self, _key: &[u8]) -> KeyHash {
        [7; 32]
    }
}

pub fn config(bucket: usize, hasher: Arc<dyn KeyHasher>) -> HamtConfig {
    HamtConfig::default()
        .with_max_bucket_size(bucket)
        .with_key_hasher(hasher)
}

pub fn new_map(
    bucket: usize,
    hasher: Arc<dyn KeyHasher>,
) -> (Arc<MemoryStore>, Hamt<Arc<MemoryStore>>) {
    let store = Arc::new(MemoryStore::new());
    (store.clone(), Hamt::new(store, config(bucket, hasher)))
}

/// A store that can be made to fail, to check that failures lose nothing.
#[derive(Debug, Default)]
pub struct FlakyStore {
    pub inner: MemoryStore,
    pub fail_reads: AtomicBool,
    pub fail_writes: AtomicBool,
    pub reads: AtomicUsize,
}

fn injected(what: &str) -> StoreError {
    StoreError::backend(
        format!("injected {what} failure"),
        std::io::Error::other("flaky"),
    )
}

#[async_trait]
impl BlockStore for FlakyStore {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        if self.fail_reads.load(Ordering::Relaxed) {
            return Err(injected("read"));
        }
        self.inner.get(cid).await
    }
    async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        if self.fail_reads.load(Ordering::Relaxed) {
            return Err(injected("read"));
        }
        self.inner.get_range(cid, range).await
    }
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.inner.has(cid).await
    }
    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        if self.fail_writes.load(Ordering::Relaxed) {
            return Err(injected("write"));
        }
        self.inner.put_block(block).await
    }
}
