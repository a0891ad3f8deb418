//! Test helpers shared by the HAMT's integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod model;
pub mod vectors;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use hamt::{Hamt, HamtConfig, KeyHasher};
use hamt_codec::{Blake3KeyHasher, Cid, KeyHash};
use hamt_store::{Block, BlockStore, BlockingStore, ByteRange, Bytes, MemoryStore, StoreError};

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

/// A store that fails at chosen moments: after a set number of further write
/// calls (`put_block` or `put_many`, each counting once) or further reads
/// (`get` or `get_range`). Calls are counted, so a test can also see what
/// an operation did. [`FaultyStore::blocking`] makes one that also answers
/// through [`BlockingStore`] (the path a memory or RocksDB store takes),
/// with the same faults.
#[derive(Debug)]
pub struct FaultyStore {
    pub inner: MemoryStore,
    writes_left: AtomicUsize,
    reads_left: AtomicUsize,
    pub write_calls: AtomicUsize,
    pub read_calls: AtomicUsize,
    direct: bool,
}

impl Default for FaultyStore {
    fn default() -> Self {
        FaultyStore {
            inner: MemoryStore::new(),
            writes_left: AtomicUsize::new(usize::MAX),
            reads_left: AtomicUsize::new(usize::MAX),
            write_calls: AtomicUsize::new(0),
            read_calls: AtomicUsize::new(0),
            direct: false,
        }
    }
}

impl FaultyStore {
    /// A faulty store that answers through [`BlockingStore`] too.
    pub fn blocking() -> Self {
        FaultyStore {
            direct: true,
            ..FaultyStore::default()
        }
    }

    /// The next `n` write calls succeed, every later one fails.
    pub fn fail_writes_after(&self, n: usize) {
        self.writes_left.store(n, Ordering::Relaxed);
    }

    /// The next `n` reads succeed, every later one fails.
    pub fn fail_reads_after(&self, n: usize) {
        self.reads_left.store(n, Ordering::Relaxed);
    }

    /// No more failures.
    pub fn heal(&self) {
        self.fail_writes_after(usize::MAX);
        self.fail_reads_after(usize::MAX);
    }

    fn allow(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Counts a call and lets it through while `left` lasts.
    fn gate(calls: &AtomicUsize, left: &AtomicUsize, what: &str) -> Result<(), StoreError> {
        calls.fetch_add(1, Ordering::Relaxed);
        if Self::allow(left) {
            Ok(())
        } else {
            Err(injected(what))
        }
    }

    fn write_allowed(&self) -> Result<(), StoreError> {
        Self::gate(&self.write_calls, &self.writes_left, "write")
    }

    fn read_allowed(&self) -> Result<(), StoreError> {
        Self::gate(&self.read_calls, &self.reads_left, "read")
    }
}

#[async_trait]
impl BlockStore for FaultyStore {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.read_allowed()?;
        self.inner.get(cid).await
    }
    async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        self.read_allowed()?;
        self.inner.get_range(cid, range).await
    }
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.inner.has(cid).await
    }
    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.write_allowed()?;
        self.inner.put_block(block).await
    }
    async fn put_many(&self, blocks: Vec<Block>) -> Result<(), StoreError> {
        self.write_allowed()?;
        self.inner.put_many(blocks).await
    }
    fn blocking(&self) -> Option<&dyn BlockingStore> {
        self.direct.then_some(self as &dyn BlockingStore)
    }
}

impl BlockingStore for FaultyStore {
    fn get_blocking(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.read_allowed()?;
        self.inner.get_blocking(cid)
    }
    fn get_range_blocking(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        self.read_allowed()?;
        self.inner.get_range_blocking(cid, range)
    }
    fn block_size_blocking(&self, cid: &Cid) -> Result<u64, StoreError> {
        self.read_allowed()?;
        self.inner.block_size_blocking(cid)
    }
    /// A failing call stores the first half of its blocks before it fails
    /// (a store that dies part way through a batch), taking them out of
    /// `blocks` as the contract says.
    fn put_many_blocking(&self, blocks: &mut Vec<Block>) -> Result<(), StoreError> {
        if let Err(error) = self.write_allowed() {
            let mut first_half: Vec<Block> = blocks.drain(..blocks.len() / 2).collect();
            self.inner.put_many_blocking(&mut first_half)?;
            return Err(error);
        }
        self.inner.put_many_blocking(blocks)
    }
}

/// A store at a distance: every read waits a moment (so concurrent reads
/// overlap, as requests in flight do) and is counted, with the most reads
/// ever in flight at once; no direct path.
#[derive(Debug, Default)]
pub struct DistantStore {
    pub inner: MemoryStore,
    pub reads: AtomicUsize,
    in_flight: AtomicUsize,
    pub most_in_flight: AtomicUsize,
    /// `fetch_dag` sends the root block only (as a CAR cut short).
    pub partial_dags: std::sync::atomic::AtomicBool,
}

impl DistantStore {
    /// Starts counting afresh.
    pub fn reset(&self) {
        self.reads.store(0, Ordering::Relaxed);
        self.most_in_flight.store(0, Ordering::Relaxed);
    }

    async fn travel(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.most_in_flight.fetch_max(now, Ordering::Relaxed);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl BlockStore for DistantStore {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.travel().await;
        self.inner.get(cid).await
    }
    async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        self.travel().await;
        self.inner.get_range(cid, range).await
    }
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.inner.has(cid).await
    }
    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.inner.put_block(block).await
    }
    async fn put_many(&self, blocks: Vec<Block>) -> Result<(), StoreError> {
        self.inner.put_many(blocks).await
    }
    /// The whole DAG in one trip (as a gateway's CAR), every block in it.
    async fn fetch_dag(
        &self,
        root: &Cid,
        _scope: hamt_store::DagScope,
        _max_bytes: usize,
    ) -> Result<Option<Vec<Block>>, StoreError> {
        self.travel().await;
        let mut walk =
            hamt_store::dag::DagWalk::new(&self.inner, hamt_store::dag::BlockLinks::default())
                .read_leaves(true);
        walk.add_root(*root, ());
        let mut blocks = Vec::new();
        if self.partial_dags.load(Ordering::Relaxed) {
            return Ok(Some(vec![Block::verified(
                *root,
                self.inner.get(root).await?,
            )?]));
        }
        while let Some(batch) = walk.next_batch().await {
            for visit in batch {
                let data = visit.result.unwrap().unwrap();
                blocks.push(Block::verified(visit.cid, data)?);
            }
        }
        Ok(Some(blocks))
    }
}

/// Whether `err` is a failure injected by [`FlakyStore`] or [`FaultyStore`].
pub fn is_injected(err: &hamt::HamtError) -> bool {
    matches!(err, hamt::HamtError::Store(StoreError::Backend { context, .. }) if context.starts_with("injected"))
}

/// `key` of the form `{prefix}{i}` for the first `i` whose hash (with
/// `hasher`) has `slot` at byte 0.
pub fn key_in_slot(hasher: &dyn KeyHasher, prefix: &str, slot: u8) -> String {
    (0u32..1 << 24)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| hasher.hash(k.as_bytes())[0] == slot)
        .unwrap()
}

/// Every block reachable from `root` (nodes and values) with its bytes, by
/// the one DAG walk (`hamt_store::dag`).
pub async fn reachable_blocks<S: BlockStore>(
    store: &S,
    root: Cid,
) -> std::collections::BTreeMap<Cid, Bytes> {
    let mut walk = hamt_store::dag::DagWalk::new(store, hamt_store::dag::BlockLinks::default());
    walk.add_root(root, ());
    let mut out = std::collections::BTreeMap::new();
    while let Some(batch) = walk.next_batch().await {
        for visit in batch {
            let data = visit.result.unwrap().expect("every block is read");
            out.insert(visit.cid, data);
        }
    }
    out
}
