//! The zarrs store: a [`Dataset`] and the runtime its synchronous calls
//! block on. The zarrs trait impls in `async_impl` and `sync_impl` are thin
//! wrappers over the dataset's methods.

use std::sync::Arc;

use hamt::{BlockStore, Cid, Hamt, HamtConfig};
use hamt_sharded::{ShardedConfig, ShardedMap};
use tokio::runtime::Handle;
use zarrs_storage::{
    StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix, StorePrefixError,
};

use crate::ZarrHamtError;
use crate::codec::{EncryptedValues, PlainValues, ValueCodec};
use crate::dataset::Dataset;
use crate::layout::Layout;

/// A zarr v3 store for [`zarrs`](https://docs.rs/zarrs) over a [`Dataset`]
/// on any [`Layout`].
///
/// It implements zarrs' async storage traits and, for zarrs' synchronous API,
/// the sync ones (see [`with_runtime`](Self::with_runtime) for where those
/// may be called). [`flush`](Self::flush) writes the changes and returns the
/// root CID.
pub struct ZarrStore<L, V: ?Sized = PlainValues> {
    dataset: Dataset<L, V>,
    runtime: Option<Handle>,
}

/// The zarrs store over a HAMT: the layout of py-hamt 3.6.0's
/// `ZarrHAMTStore` (zarr keys stored verbatim, values as raw blocks), so a
/// dataset written by either reads on the other. With `V` =
/// [`EncryptedValues`] every value is encrypted as py-hamt's
/// `SimpleEncryptedZarrHAMTStore` does (see [`ZarrStore::encrypted`]).
///
/// A writable store keeps its HAMT behind a tokio `RwLock`: reads share it,
/// writes take it alone. A read-only store ([`open`](ZarrStore::open))
/// shares a flushed HAMT with no lock at all.
///
/// ```
/// use std::sync::Arc;
/// use hamt::HamtConfig;
/// use hamt_store::MemoryStore;
/// use hamt_zarr::ZarrHamtStore;
/// use zarrs::array::{ArrayBuilder, data_type};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let blocks = Arc::new(MemoryStore::new());
/// let store = Arc::new(ZarrHamtStore::create(blocks.clone(), HamtConfig::default()));
///
/// let array = ArrayBuilder::new(vec![4, 6], vec![2, 3], data_type::float32(), f32::NAN)
///     .build_arc(store.clone(), "/temp")?;
/// array.async_store_metadata().await?;
/// let data: Vec<f32> = (0..24).map(|i| i as f32).collect();
/// array.async_store_array_subset(&array.subset_all(), data.clone()).await?;
/// let root = store.flush().await?;
///
/// let reader = Arc::new(ZarrHamtStore::open(blocks, root, HamtConfig::default()).await?);
/// let array = zarrs::array::Array::async_open(reader, "/temp").await?;
/// let back: Vec<f32> = array.async_retrieve_array_subset(&array.subset_all()).await?;
/// assert_eq!(back, data);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub type ZarrHamtStore<S, V = PlainValues> = ZarrStore<Hamt<S>, V>;

/// The [`ZarrHamtStore`] that encrypts every value, py-hamt's `SimpleEncryptedZarrHAMTStore`.
pub type EncryptedZarrHamtStore<S> = ZarrHamtStore<S, EncryptedValues>;

/// The zarrs store over py-hamt's sharded layout (`ShardedZarrStore`): a
/// dataset written by either reads on the other, with the same root CID
/// for the same writes.
///
/// ```
/// use std::sync::Arc;
/// use hamt_store::MemoryStore;
/// use hamt_zarr::ShardedZarrStore;
/// use zarrs::array::{ArrayBuilder, data_type};
/// use zarrs::group::GroupBuilder;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let blocks = Arc::new(MemoryStore::new());
/// let store = Arc::new(ShardedZarrStore::create(blocks.clone(), 100)?);
/// // py-hamt's v2 layout wants arrays in a group ("0" here).
/// GroupBuilder::new().build(store.clone(), "/")?.async_store_metadata().await?;
/// let array = ArrayBuilder::new(vec![8, 8], vec![4, 4], data_type::float32(), 0.0f32)
///     .build_arc(store.clone(), "/0/temp")?;
/// array.async_store_metadata().await?;
/// array.async_store_array_subset(&array.subset_all(), vec![1.5f32; 64]).await?;
/// let root = store.flush().await?;
///
/// let reader = Arc::new(ShardedZarrStore::open(blocks, root, Default::default()).await?);
/// let array = zarrs::array::Array::async_open(reader, "/0/temp").await?;
/// let back: Vec<f32> = array.async_retrieve_array_subset(&array.subset_all()).await?;
/// assert_eq!(back, vec![1.5f32; 64]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub type ShardedZarrStore<S, V = PlainValues> = ZarrStore<ShardedMap<S>, V>;

impl<L, V: ?Sized + std::fmt::Debug> std::fmt::Debug for ZarrStore<L, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrStore")
            .field("dataset", &self.dataset)
            .finish_non_exhaustive()
    }
}

impl<S: BlockStore + 'static> ZarrStore<Hamt<S>, PlainValues> {
    /// A writable store over a new, empty HAMT on `store`.
    pub fn create(store: S, config: HamtConfig) -> Self {
        Self::writable(Hamt::new(store, config))
    }

    /// A read-only store over the dataset whose HAMT root is `root`.
    pub async fn open(store: S, root: Cid, config: HamtConfig) -> Result<Self, ZarrHamtError> {
        let hamt = Hamt::open(store, root, config).await?;
        Ok(Self::read_only(Arc::new(hamt)))
    }
}

impl<S: BlockStore + 'static> ZarrStore<ShardedMap<S>, PlainValues> {
    /// A writable store over a new, empty sharded layout (v2) on `store`,
    /// `chunks_per_shard` chunks per shard.
    pub fn create(store: S, chunks_per_shard: u64) -> Result<Self, ZarrHamtError> {
        Ok(Self::writable(ShardedMap::new(store, chunks_per_shard)?))
    }

    /// A read-only store over the sharded dataset whose manifest is `root`
    /// (v1 or v2).
    pub async fn open(store: S, root: Cid, config: ShardedConfig) -> Result<Self, ZarrHamtError> {
        let map = ShardedMap::open(store, root, config).await?;
        Ok(Self::read_only(Arc::new(map)))
    }
}

impl<L: Layout> ZarrStore<L, PlainValues> {
    /// A writable store over `layout` (new, or opened to add to an existing dataset).
    pub fn writable(layout: L) -> Self {
        Self::new(Dataset::writable(layout))
    }

    /// A read-only store sharing `layout` (and its caches) with other readers.
    pub fn read_only(layout: Arc<L>) -> Self {
        Self::new(Dataset::read_only(layout))
    }
}

impl<L, V: ?Sized> ZarrStore<L, V> {
    /// The zarrs store of `dataset`.
    pub fn new(dataset: Dataset<L, V>) -> Self {
        ZarrStore {
            dataset,
            // Captured so sync calls from plain threads have a runtime to block on.
            runtime: Handle::try_current().ok(),
        }
    }

    /// The dataset this store reads and writes.
    pub fn dataset(&self) -> &Dataset<L, V> {
        &self.dataset
    }

    /// The same store with values stored through `codec` instead.
    pub fn with_codec<W: ValueCodec>(self, codec: W) -> ZarrStore<L, W> {
        ZarrStore {
            dataset: self.dataset.with_codec(codec),
            runtime: self.runtime,
        }
    }

    /// The same store with every value encrypted as py-hamt's
    /// `SimpleEncryptedZarrHAMTStore(hamt, read_only, encryption_key, header)`
    /// does (metadata included). Byte-range reads decrypt the whole value.
    ///
    /// ```
    /// # use hamt::HamtConfig; use hamt_store::MemoryStore; use hamt_zarr::ZarrHamtStore;
    /// use zarrs_storage::{AsyncReadableStorageTraits, AsyncWritableStorageTraits, StoreKey};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = ZarrHamtStore::create(MemoryStore::new(), HamtConfig::default())
    ///     .encrypted([42; 32], b"header".to_vec());
    /// let key = StoreKey::new("zarr.json")?;
    /// store.set(&key, b"{\"zarr_format\":3}".to_vec().into()).await?;
    /// assert_eq!(store.get(&key).await?.as_deref(), Some(&b"{\"zarr_format\":3}"[..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn encrypted(
        self,
        key: [u8; 32],
        header: impl Into<Vec<u8>>,
    ) -> ZarrStore<L, EncryptedValues> {
        self.with_codec(EncryptedValues::new(key, header))
    }

    /// Sets the tokio runtime that synchronous (zarrs sync API) calls block on
    /// when made from a thread outside any runtime. By default it is the
    /// runtime current when the store was made, if any.
    ///
    /// Sync calls made on a multi-thread runtime's thread block in place
    /// (`tokio::task::block_in_place`) on that runtime instead. Sync calls
    /// made inside a current-thread runtime would deadlock it, so they fail
    /// with [`ZarrHamtError::NoRuntime`]: use the async API there, or
    /// `spawn_blocking` on a multi-thread runtime.
    #[must_use]
    pub fn with_runtime(mut self, runtime: Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }

    pub(crate) fn runtime(&self) -> Option<&Handle> {
        self.runtime.as_ref()
    }

    /// Whether writes are refused (opened read-only, frozen, or a read-only view).
    pub fn is_read_only(&self) -> bool {
        self.dataset.is_read_only()
    }

    /// The value codec.
    pub fn codec(&self) -> &V {
        self.dataset.codec()
    }
}

impl<L: Layout, V: ValueCodec + ?Sized> ZarrStore<L, V> {
    /// Writes every change to the block store and returns the root CID
    /// (py-hamt's `make_read_only` then `root_node_id`); the store stays
    /// writable. On a read-only store, returns the root it was opened at.
    pub async fn flush(&self) -> Result<Cid, ZarrHamtError> {
        self.dataset.flush().await
    }

    /// The root CID, if nothing changed since the last flush or open.
    pub async fn root_cid(&self) -> Option<Cid> {
        self.dataset.root_cid().await
    }

    /// Number of keys in the store.
    pub async fn len(&self) -> Result<u64, ZarrHamtError> {
        self.dataset.len().await
    }

    /// Whether the store holds no key.
    pub async fn is_empty(&self) -> Result<bool, ZarrHamtError> {
        self.dataset.is_empty().await
    }

    /// The value of `key` (decrypted for an encrypted store), with typed
    /// errors; `zarr.json` values come from the metadata cache when there.
    pub async fn get_value(&self, key: &str) -> Result<Option<bytes::Bytes>, ZarrHamtError> {
        self.dataset.get(key).await
    }

    /// Sets `key` to `value` (encrypted for an encrypted store), with typed errors.
    pub async fn set_value(&self, key: &str, value: bytes::Bytes) -> Result<(), ZarrHamtError> {
        self.dataset.set(key, value).await
    }
}

impl<L: Layout, V: ValueCodec + ?Sized> ZarrStore<L, V> {
    /// The keys under `prefix` that are valid zarr keys (a layout may hold
    /// other things), sorted.
    pub(crate) async fn zarr_keys(&self, prefix: &str) -> Result<Vec<String>, ZarrHamtError> {
        let mut keys = self.dataset.keys_with_prefix(prefix).await?;
        keys.retain(|key| StoreKey::validate(key));
        Ok(keys)
    }

    /// zarrs' `list_dir`: the valid keys directly under `prefix` and the
    /// prefixes holding the others.
    pub(crate) async fn zarr_list_dir(
        &self,
        prefix: &StorePrefix,
    ) -> Result<StoreKeysPrefixes, StorageError> {
        let listing = self
            .dataset
            .list_dir_where(prefix.as_str(), &StoreKey::validate)
            .await?;
        let prefixes = listing
            .prefixes
            .into_iter()
            .map(StorePrefix::new)
            .collect::<Result<_, StorePrefixError>>()?;
        Ok(StoreKeysPrefixes::new(store_keys(listing.keys), prefixes))
    }

    /// zarrs' `size_prefix`: the total size of the valid keys under `prefix`.
    pub(crate) async fn zarr_size_prefix(
        &self,
        prefix: &StorePrefix,
    ) -> Result<u64, ZarrHamtError> {
        let keys = self.zarr_keys(prefix.as_str()).await?;
        self.dataset.total_size(&keys).await
    }
}

/// Keys (already checked to be valid zarr keys) as zarrs takes them.
pub(crate) fn store_keys(keys: Vec<String>) -> StoreKeys {
    keys.into_iter()
        .filter_map(|key| StoreKey::new(key).ok())
        .collect()
}
