use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use hamt_codec::{BlockCodec, Cid, HashAlgorithm};

use crate::{Block, ByteRange, StoreError};

/// Which blocks of a DAG [`BlockStore::fetch_dag`] asks for (the trustless
/// gateway's `dag-scope`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DagScope {
    /// Every block the root reaches (`dag-scope=all`).
    All,
    /// The blocks a UnixFS file needs for a byte range of its contents
    /// (`dag-scope=entity&entity-bytes=...`): the root, the inner nodes on
    /// the way and the leaves that overlap the range.
    FileRange(ByteRange),
}

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

    /// Whether each of `cids` is in the store, in order. The default keeps
    /// [`dag::DEFAULT_CONCURRENCY`](crate::dag::DEFAULT_CONCURRENCY) calls
    /// of [`has`](Self::has) in flight; a store that can look many keys up
    /// at once (a database's batched point lookup) overrides it. Whole-DAG
    /// checks ([`DagWalk`](crate::dag::DagWalk) with leaves not read) call
    /// it with up to [`dag::LEAF_BATCH`](crate::dag::LEAF_BATCH) blocks.
    async fn has_many(&self, cids: &[Cid]) -> Result<Vec<bool>, StoreError> {
        has_each(self, cids, crate::dag::DEFAULT_CONCURRENCY)
            .await
            .into_iter()
            .collect()
    }

    /// The length of block `cid`, learnt as cheaply as the store can: a
    /// store that keeps lengths apart (RocksDB's metadata, Kubo's
    /// `block/stat`, a gateway's `HEAD`) reads no bytes. A length is not
    /// verified against the CID (a lying server can only mislead a size,
    /// never a read). The default reads the block.
    async fn block_size(&self, cid: &Cid) -> Result<u64, StoreError> {
        Ok(self.get(cid).await?.len() as u64)
    }

    /// Blocks of the DAG under `root` in one request, where a store can
    /// send a whole DAG at once (a gateway's CAR): those `scope` selects,
    /// each verified and reached from `root`. Blocks the answer leaves out
    /// are read as usual. An answer over `max_bytes` is an error (read
    /// block by block then). `None` (the default) when the store cannot.
    async fn fetch_dag(
        &self,
        root: &Cid,
        scope: DagScope,
        max_bytes: usize,
    ) -> Result<Option<Vec<Block>>, StoreError> {
        let _ = (root, scope, max_bytes);
        Ok(None)
    }

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

    /// The same store's calls without futures, if it answers every call on
    /// the calling thread anyway (memory, a local database): see
    /// [`BlockingStore`]. `None` by default, which is always correct.
    fn blocking(&self) -> Option<&dyn BlockingStore> {
        None
    }
}

/// [`BlockStore::has`] of each of `cids`, `in_flight` at a time (at least
/// one), each answer on its own: the default [`BlockStore::has_many`], and
/// the fallback of a walk whose batched lookup failed.
pub(crate) async fn has_each<S: BlockStore + ?Sized>(
    store: &S,
    cids: &[Cid],
    in_flight: usize,
) -> Vec<Result<bool, StoreError>> {
    use futures::stream::{FuturesOrdered, StreamExt};
    // Pushed by hand, not mapped by a closure: a closure returning the
    // borrowed future is not general enough inside `async_trait`.
    let mut answers = Vec::with_capacity(cids.len());
    let mut asks = cids.iter();
    let mut pending = FuturesOrdered::new();
    for cid in asks.by_ref().take(in_flight.max(1)) {
        pending.push_back(store.has(cid));
    }
    while let Some(answer) = pending.next().await {
        answers.push(answer);
        if let Some(cid) = asks.next() {
            pending.push_back(store.has(cid));
        }
    }
    answers
}

/// A block store's reads and writes as plain calls, for stores that never
/// wait on anything but memory or a local disk.
///
/// Every [`BlockStore`] call is a boxed future (the trait must stay usable
/// as `dyn BlockStore`); for a store in memory that box, and the poll
/// around it, cost more than the lookup itself, on every block a HAMT
/// reads or writes. A store that can answer directly returns itself from
/// [`BlockStore::blocking`], and the free functions [`read_block`],
/// [`read_block_range`] and [`write_blocks`] take that path when it is
/// there. The calls must behave exactly as their async twins (the
/// conformance suite checks both). A wrapper that changes what calls do
/// (counts them, injects faults, caches) must not hand out the inner
/// store's `blocking()`, or the calls would bypass it: it returns `None`,
/// or implements `BlockingStore` itself.
pub trait BlockingStore: Send + Sync {
    /// [`BlockStore::get`], answered on the calling thread.
    fn get_blocking(&self, cid: &Cid) -> Result<Bytes, StoreError>;

    /// [`BlockStore::get_range`], answered on the calling thread.
    fn get_range_blocking(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError>;

    /// [`BlockStore::block_size`], answered on the calling thread.
    fn block_size_blocking(&self, cid: &Cid) -> Result<u64, StoreError>;

    /// [`BlockStore::put_many`] on the calling thread, taking the blocks
    /// out of `blocks` rather than cloning them (a clone of a block's bytes
    /// is an atomic update of a count that is usually far away in memory):
    /// `blocks` is empty when this returns `Ok`; after an error it still
    /// holds every block that may not be stored, so a retry loses nothing.
    fn put_many_blocking(&self, blocks: &mut Vec<Block>) -> Result<(), StoreError>;
}

/// Reads block `cid`: directly if the store answers without futures
/// ([`BlockStore::blocking`]), else through [`BlockStore::get`].
pub async fn read_block<S: BlockStore + ?Sized>(store: &S, cid: &Cid) -> Result<Bytes, StoreError> {
    match store.blocking() {
        Some(direct) => direct.get_blocking(cid),
        None => store.get(cid).await,
    }
}

/// Reads `range` of block `cid`, directly when the store allows (see [`read_block`]).
pub async fn read_block_range<S: BlockStore + ?Sized>(
    store: &S,
    cid: &Cid,
    range: ByteRange,
) -> Result<Bytes, StoreError> {
    match store.blocking() {
        Some(direct) => direct.get_range_blocking(cid, range),
        None => store.get_range(cid, range).await,
    }
}

/// The length of block `cid` ([`BlockStore::block_size`]), directly when
/// the store allows (see [`read_block`]).
pub async fn block_size<S: BlockStore + ?Sized>(store: &S, cid: &Cid) -> Result<u64, StoreError> {
    match store.blocking() {
        Some(direct) => direct.block_size_blocking(cid),
        None => store.block_size(cid).await,
    }
}

/// Writes `blocks`, in order, taking them out of the vector: directly if
/// the store allows (see [`read_block`]), else through
/// [`BlockStore::put_many`] in batches. `blocks` is empty after `Ok`; after
/// an error it holds every block that may not be stored.
pub async fn write_blocks<S: BlockStore + ?Sized>(
    store: &S,
    blocks: &mut Vec<Block>,
) -> Result<(), StoreError> {
    /// Blocks per `put_many` on the async path: the copies of a small
    /// batch reuse warm memory where a copy of every block would not.
    const ASYNC_BATCH: usize = 1024;
    if blocks.is_empty() {
        return Ok(());
    }
    if let Some(direct) = store.blocking() {
        return direct.put_many_blocking(blocks);
    }
    let mut written = 0;
    let result = async {
        for batch in blocks.chunks(ASYNC_BATCH) {
            store.put_many(batch.to_vec()).await?;
            written += batch.len();
        }
        Ok(())
    }
    .await;
    blocks.drain(..written);
    result
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
            async fn has_many(&self, cids: &[Cid]) -> Result<Vec<bool>, StoreError> {
                (**self).has_many(cids).await
            }
            async fn block_size(&self, cid: &Cid) -> Result<u64, StoreError> {
                (**self).block_size(cid).await
            }
            async fn fetch_dag(
                &self,
                root: &Cid,
                scope: DagScope,
                max_bytes: usize,
            ) -> Result<Option<Vec<Block>>, StoreError> {
                (**self).fetch_dag(root, scope, max_bytes).await
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
            fn blocking(&self) -> Option<&dyn BlockingStore> {
                (**self).blocking()
            }
        }
    };
}

forward_block_store!(Arc<S>);
forward_block_store!(&S);
forward_block_store!(Box<S>);
