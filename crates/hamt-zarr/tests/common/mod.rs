//! Helpers shared by the integration tests: a block-store factory (so each
//! suite can run over another backend, e.g. RocksDB, by adding one impl),
//! sample element values and row-major subset arithmetic.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    // Sample values are made by deliberate wrapping and lossy casts.
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss
)]

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use hamt::{BlockStore, Cid, Hamt, HamtConfig};
use hamt_kubo::KuboStore;
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{Block, BlockCodec, ByteRange, Bytes, HashAlgorithm, MemoryStore, StoreError};
use hamt_zarr::{Layout, ShardedConfig, ShardedMap, ShardedZarrStore, ZarrHamtStore, ZarrStore};
use tempfile::TempDir;
use zarrs::array::builder::ArrayBuilderFillValue;
use zarrs::array::codec::GzipCodec;
use zarrs::array::{Array, ArrayBuilder, ArraySubset, DataType, Element, ElementOwned};
use zarrs_storage::{AsyncReadableStorageTraits, AsyncReadableWritableStorageTraits};

/// A block store the suites can make fresh copies of; clones share blocks.
pub trait TestBlocks: BlockStore + Clone + 'static {
    /// An empty store.
    fn fresh() -> Self;
}

impl TestBlocks for Arc<MemoryStore> {
    fn fresh() -> Self {
        Arc::new(MemoryStore::new())
    }
}

/// A RocksDB store in a temporary directory, removed when the last clone
/// is dropped (the store closes first: fields drop in order).
#[derive(Clone)]
pub struct TempRocksDb {
    store: Arc<RocksDbStore>,
    _dir: Arc<TempDir>,
}

impl TestBlocks for TempRocksDb {
    fn fresh() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store =
            RocksDbStore::open(dir.path().join("blocks"), &RocksDbOptions::default()).unwrap();
        Self {
            store: Arc::new(store),
            _dir: Arc::new(dir),
        }
    }
}

#[async_trait]
impl BlockStore for TempRocksDb {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.store.get(cid).await
    }
    async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        self.store.get_range(cid, range).await
    }
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.store.has(cid).await
    }
    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.store.put_block(block).await
    }
    async fn put_many(&self, blocks: Vec<Block>) -> Result<(), StoreError> {
        self.store.put_many(blocks).await
    }
    fn hash_algorithm(&self) -> HashAlgorithm {
        self.store.hash_algorithm()
    }
    async fn put(&self, codec: BlockCodec, data: Bytes) -> Result<Cid, StoreError> {
        self.store.put(codec, data).await
    }
    // The store's own direct calls, as the zarr store uses them on RocksDB.
    fn blocking(&self) -> Option<&dyn hamt_store::BlockingStore> {
        self.store.blocking()
    }
}

/// The IPFS daemon's RPC and gateway URLs from the environment (`cargo
/// xtask test` starts the test node from `../shared/ipfs-node` and sets them).
/// `None` (the test returns early, saying so) when they are unset, unless
/// `HAMT_REQUIRE_IPFS=1`, which makes that a failure.
pub fn ipfs_daemon() -> Option<(String, String)> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (var("IPFS_API_URL"), var("IPFS_GATEWAY_URL")) {
        (Some(api), Some(gateway)) => Some((api, gateway)),
        _ if std::env::var("HAMT_REQUIRE_IPFS").as_deref() == Ok("1") => {
            panic!("HAMT_REQUIRE_IPFS=1 but IPFS_API_URL / IPFS_GATEWAY_URL are not set")
        }
        _ => {
            eprintln!("!!!! SKIPPED: no IPFS daemon (set IPFS_API_URL and IPFS_GATEWAY_URL) !!!!");
            None
        }
    }
}

/// A client of the daemon: writes through the RPC API, reads from the
/// gateway. Every "fresh" store shares the daemon's blocks, which is
/// harmless for content-addressed data. Call only after `ipfs_daemon()`
/// returned `Some`.
impl TestBlocks for Arc<KuboStore> {
    fn fresh() -> Self {
        let (api, gateway) = ipfs_daemon().expect("no IPFS daemon configured");
        Arc::new(
            KuboStore::builder()
                .rpc_url(&api)
                .gateway(&gateway)
                .build()
                .unwrap(),
        )
    }
}

/// A layout the suites run over (the HAMT, or py-hamt's sharded layout):
/// how a fresh store is made on some blocks and a root reopened read-only.
pub trait TestLayout<B: TestBlocks>: Layout + Sized + 'static {
    /// What the test names say it is.
    const NAME: &'static str;
    /// An empty, writable store.
    fn create(blocks: B) -> ZarrStore<Self>;
    /// The store at `root`, read-only.
    async fn open(blocks: B, root: Cid) -> ZarrStore<Self>;
}

impl<B: TestBlocks> TestLayout<B> for Hamt<B> {
    const NAME: &'static str = "HAMT";
    fn create(blocks: B) -> ZarrStore<Self> {
        ZarrHamtStore::create(blocks, HamtConfig::default())
    }
    async fn open(blocks: B, root: Cid) -> ZarrStore<Self> {
        ZarrHamtStore::open(blocks, root, HamtConfig::default())
            .await
            .unwrap()
    }
}

/// Shards of 5 chunks, so the suites' arrays span several shards with a
/// partial last one.
pub const TEST_CHUNKS_PER_SHARD: u64 = 5;

impl<B: TestBlocks> TestLayout<B> for ShardedMap<B> {
    const NAME: &'static str = "sharded";
    fn create(blocks: B) -> ZarrStore<Self> {
        ShardedZarrStore::create(blocks, TEST_CHUNKS_PER_SHARD).unwrap()
    }
    async fn open(blocks: B, root: Cid) -> ZarrStore<Self> {
        let store = ShardedZarrStore::open(blocks, root, ShardedConfig::default())
            .await
            .unwrap();
        assert!(store.is_read_only());
        store
    }
}

/// An element type with a deterministic value per flat index.
pub trait Sample:
    Element
    + ElementOwned
    + Into<ArrayBuilderFillValue>
    + Copy
    + PartialEq
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The numpy dtype name (for the Python side of the interop tests).
    const DTYPE: &'static str;
    fn sample(i: u64) -> Self;
    /// The value as JSON, NaN as the string "NaN" (zarr's JSON spelling).
    fn to_json(self) -> serde_json::Value;
    /// Equality that treats NaN as equal to NaN.
    fn same(a: Self, b: Self) -> bool {
        a == b
    }
}

impl Sample for u8 {
    const DTYPE: &'static str = "uint8";
    fn to_json(self) -> serde_json::Value {
        self.into()
    }
    fn sample(i: u64) -> Self {
        (i % 251) as u8
    }
}
impl Sample for i16 {
    const DTYPE: &'static str = "int16";
    fn to_json(self) -> serde_json::Value {
        self.into()
    }
    fn sample(i: u64) -> Self {
        (i as i64 % 30_000 - 15_000) as i16
    }
}
impl Sample for i32 {
    const DTYPE: &'static str = "int32";
    fn to_json(self) -> serde_json::Value {
        self.into()
    }
    fn sample(i: u64) -> Self {
        (i as i32).wrapping_mul(-7919)
    }
}
impl Sample for u64 {
    const DTYPE: &'static str = "uint64";
    fn to_json(self) -> serde_json::Value {
        self.into()
    }
    fn sample(i: u64) -> Self {
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}
impl Sample for f32 {
    const DTYPE: &'static str = "float32";
    fn to_json(self) -> serde_json::Value {
        if self.is_nan() {
            "NaN".into()
        } else {
            f64::from(self).into()
        }
    }
    fn sample(i: u64) -> Self {
        if i % 97 == 5 {
            f32::NAN
        } else {
            i as f32 * 0.25 - 40.0
        }
    }
    fn same(a: Self, b: Self) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }
}
impl Sample for f64 {
    const DTYPE: &'static str = "float64";
    fn to_json(self) -> serde_json::Value {
        if self.is_nan() {
            "NaN".into()
        } else {
            self.into()
        }
    }
    fn sample(i: u64) -> Self {
        (i as f64).sin() * 1e3
    }
    fn same(a: Self, b: Self) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }
}

/// Every multi-index of `ranges`, row-major.
pub fn indices(ranges: &[Range<u64>]) -> Vec<Vec<u64>> {
    let mut out = vec![vec![]];
    for range in ranges {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                range.clone().map(move |i| {
                    let mut next = prefix.clone();
                    next.push(i);
                    next
                })
            })
            .collect();
    }
    out
}

/// The row-major flat index of `index` in an array of `shape`.
pub fn flat(shape: &[u64], index: &[u64]) -> u64 {
    shape
        .iter()
        .zip(index)
        .fold(0, |acc, (dim, i)| acc * dim + i)
}

/// The whole array of `shape` filled from `value(flat index)`.
pub fn full<T>(shape: &[u64], value: impl Fn(u64) -> T) -> Vec<T> {
    let ranges: Vec<_> = shape.iter().map(|&d| 0..d).collect();
    indices(&ranges)
        .iter()
        .map(|ix| value(flat(shape, ix)))
        .collect()
}

/// The elements of `ranges` in an array of `shape` whose values are `value(flat index)`.
pub fn subset<T>(shape: &[u64], ranges: &[Range<u64>], value: impl Fn(u64) -> T) -> Vec<T> {
    indices(ranges)
        .iter()
        .map(|ix| value(flat(shape, ix)))
        .collect()
}

/// Asserts two element vectors are equal (NaN-aware).
pub fn assert_same<T: Sample>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            T::same(*g, *w),
            "{what}: element {i}: got {g:?}, want {w:?}"
        );
    }
}

/// One array to write: where, its shape and chunking, and which region gets
/// data (the rest must read as the fill value).
pub struct Case<T> {
    pub path: &'static str,
    pub shape: Vec<u64>,
    pub chunks: Vec<u64>,
    data_type: DataType,
    fill: T,
    gzip: bool,
    pub written: Vec<Range<u64>>,
    /// Named dimensions (`{name}_d0`, ...), as an xarray variable has.
    pub dimension_names: bool,
}

impl<T: Sample> Case<T> {
    pub fn whole(
        path: &'static str,
        shape: &[u64],
        chunks: &[u64],
        data_type: DataType,
        fill: T,
        gzip: bool,
    ) -> Self {
        Case {
            path,
            written: shape.iter().map(|&d| 0..d).collect(),
            shape: shape.to_vec(),
            chunks: chunks.to_vec(),
            data_type,
            fill,
            gzip,
            dimension_names: false,
        }
    }

    /// The same array as an xarray variable: with named dimensions.
    #[must_use]
    pub fn with_dimension_names(mut self) -> Self {
        self.dimension_names = true;
        self
    }

    /// The names of its dimensions, if it has them.
    pub fn dimensions(&self) -> Option<Vec<String>> {
        let name = self.path.rsplit('/').next().unwrap_or(self.path);
        self.dimension_names.then(|| {
            (0..self.shape.len())
                .map(|i| format!("{name}_d{i}"))
                .collect()
        })
    }

    /// The value at `index`: data inside the written region, else the fill value.
    pub fn expected(&self, index: &[u64]) -> T {
        let inside = index.iter().zip(&self.written).all(|(i, r)| r.contains(i));
        if inside {
            T::sample(flat(&self.shape, index))
        } else {
            self.fill
        }
    }

    pub fn expected_in(&self, ranges: &[Range<u64>]) -> Vec<T> {
        indices(ranges).iter().map(|ix| self.expected(ix)).collect()
    }

    /// The case for the Python side: where, what and which region holds data.
    pub fn spec(&self) -> serde_json::Value {
        serde_json::json!({
            "path": self.path.trim_start_matches('/'),
            "shape": self.shape,
            "chunks": self.chunks,
            "dtype": T::DTYPE,
            "fill": self.fill.to_json(),
            "gzip": self.gzip,
            "written": self.written.iter().map(|r| [r.start, r.end]).collect::<Vec<_>>(),
            "dims": self.dimensions(),
        })
    }

    pub fn builder(&self) -> ArrayBuilder {
        let mut builder = ArrayBuilder::new(
            self.shape.clone(),
            self.chunks.clone(),
            self.data_type.clone(),
            self.fill,
        );
        if self.gzip {
            builder.bytes_to_bytes_codecs(vec![Arc::new(GzipCodec::new(5).unwrap())]);
        }
        if let Some(dimensions) = self.dimensions() {
            builder.dimension_names(Some(dimensions));
        }
        builder
    }

    pub async fn write<S: AsyncReadableWritableStorageTraits + ?Sized + 'static>(
        &self,
        store: &Arc<S>,
    ) {
        let array = self.builder().build_arc(store.clone(), self.path).unwrap();
        array.async_store_metadata().await.unwrap();
        let data = subset(&self.shape, &self.written, T::sample);
        array
            .async_store_array_subset(&ArraySubset::new_with_ranges(&self.written), data)
            .await
            .unwrap();
    }

    pub async fn check<S: AsyncReadableStorageTraits + ?Sized + 'static>(&self, store: &Arc<S>) {
        let array = Array::async_open(store.clone(), self.path).await.unwrap();
        assert_eq!(array.shape(), self.shape.as_slice(), "{}", self.path);
        let all: Vec<T> = array
            .async_retrieve_array_subset(&array.subset_all())
            .await
            .unwrap();
        let everything: Vec<_> = self.shape.iter().map(|&d| 0..d).collect();
        assert_same(&all, &self.expected_in(&everything), self.path);
        // A slice crossing chunk borders, trimmed by one on every side.
        let inner: Vec<_> = self
            .shape
            .iter()
            .map(|&d| if d > 2 { 1..d - 1 } else { 0..d })
            .collect();
        let sliced: Vec<T> = array
            .async_retrieve_array_subset(&ArraySubset::new_with_ranges(&inner))
            .await
            .unwrap();
        assert_same(&sliced, &self.expected_in(&inner), self.path);
    }
}
