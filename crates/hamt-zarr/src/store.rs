//! The store: a HAMT behind a lock (or shared read-only), a value codec and
//! the metadata cache. The zarrs trait impls in `async_impl` and `sync_impl`
//! are thin wrappers over the methods here.

use std::ops::Deref;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{TryStreamExt, future};
use hamt::{BlockStore, ByteRange as HamtRange, Cid, Hamt, HamtConfig};
use tokio::runtime::Handle;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use zarrs_storage::StoreKey;
use zarrs_storage::byte_range::{ByteRange, InvalidByteRangeError};

use crate::ZarrHamtError;
use crate::codec::{EncryptedValues, PlainValues, ValueCodec};
use crate::metadata::{MetadataCache, is_metadata};
use crate::range;

/// A zarr v3 store for [`zarrs`](https://docs.rs/zarrs) over a [`Hamt`]: the
/// layout of py-hamt 3.6.0's `ZarrHAMTStore` (zarr keys stored verbatim,
/// values as raw blocks), so a dataset written by either reads on the other.
///
/// It implements zarrs' async storage traits and, for zarrs' synchronous API,
/// the sync ones (see [`with_runtime`](Self::with_runtime) for where those
/// may be called). A writable store keeps its HAMT behind a tokio `RwLock`:
/// reads share it, writes take it alone; [`flush`](Self::flush) writes the
/// changes and returns the root CID. A read-only store
/// ([`open`](Self::open)) shares a flushed HAMT with no lock at all.
///
/// With `V` = [`EncryptedValues`] every value is encrypted as py-hamt's
/// `SimpleEncryptedZarrHAMTStore` does (see [`encrypted`](Self::encrypted)).
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
pub struct ZarrHamtStore<S, V = PlainValues> {
    hamt: Access<S>,
    // Shared with the blocking write task of a partial write.
    codec: Arc<V>,
    metadata: MetadataCache,
    runtime: Option<tokio::runtime::Handle>,
}

/// The [`ZarrHamtStore`] that encrypts every value, py-hamt's `SimpleEncryptedZarrHAMTStore`.
pub type EncryptedZarrHamtStore<S> = ZarrHamtStore<S, EncryptedValues>;

enum Access<S> {
    Writable(Arc<RwLock<Hamt<S>>>),
    ReadOnly(Arc<Hamt<S>>),
}

/// A HAMT to read: under the read lock, or shared read-only.
pub(crate) enum ReadGuard<'a, S> {
    Locked(RwLockReadGuard<'a, Hamt<S>>),
    Shared(&'a Hamt<S>),
}

impl<S> Deref for ReadGuard<'_, S> {
    type Target = Hamt<S>;
    fn deref(&self) -> &Hamt<S> {
        match self {
            ReadGuard::Locked(guard) => guard,
            ReadGuard::Shared(hamt) => hamt,
        }
    }
}

impl<S, V: std::fmt::Debug> std::fmt::Debug for ZarrHamtStore<S, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrHamtStore")
            .field("read_only", &matches!(self.hamt, Access::ReadOnly(_)))
            .field("codec", &self.codec)
            .field("cached_metadata", &self.metadata.len())
            .finish_non_exhaustive()
    }
}

impl<S: BlockStore> ZarrHamtStore<S, PlainValues> {
    /// A writable store over a new, empty HAMT on `store`.
    pub fn create(store: S, config: HamtConfig) -> Self {
        Self::writable(Hamt::new(store, config))
    }

    /// A writable store over `hamt` (new, or opened to add to an existing dataset).
    pub fn writable(hamt: Hamt<S>) -> Self {
        Self::with_access(Access::Writable(Arc::new(RwLock::new(hamt))), PlainValues)
    }

    /// A read-only store over the dataset whose HAMT root is `root`.
    pub async fn open(store: S, root: Cid, config: HamtConfig) -> Result<Self, ZarrHamtError> {
        let hamt = Hamt::open(store, root, config).await?;
        Ok(Self::read_only(Arc::new(hamt)))
    }

    /// A read-only store sharing `hamt` (and its node cache) with other readers.
    pub fn read_only(hamt: Arc<Hamt<S>>) -> Self {
        Self::with_access(Access::ReadOnly(hamt), PlainValues)
    }
}

impl<S, V> ZarrHamtStore<S, V> {
    fn with_access(hamt: Access<S>, codec: V) -> Self {
        ZarrHamtStore {
            hamt,
            codec: Arc::new(codec),
            metadata: MetadataCache::default(),
            // Captured so sync calls from plain threads have a runtime to block on.
            runtime: Handle::try_current().ok(),
        }
    }

    /// The same store with values stored through `codec` instead.
    pub fn with_codec<W: ValueCodec>(self, codec: W) -> ZarrHamtStore<S, W> {
        ZarrHamtStore {
            hamt: self.hamt,
            codec: Arc::new(codec),
            metadata: MetadataCache::default(),
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
    pub fn encrypted(self, key: [u8; 32], header: impl Into<Vec<u8>>) -> EncryptedZarrHamtStore<S> {
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
    pub fn with_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }

    pub(crate) fn runtime(&self) -> Option<&tokio::runtime::Handle> {
        self.runtime.as_ref()
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        matches!(self.hamt, Access::ReadOnly(_))
    }

    /// The value codec.
    pub fn codec(&self) -> &V {
        &self.codec
    }
}

impl<S: BlockStore, V: ValueCodec> ZarrHamtStore<S, V> {
    /// Writes every change to the block store and returns the HAMT's root CID
    /// (py-hamt's `make_read_only` then `root_node_id`); the store stays
    /// writable. On a read-only store, returns the root it was opened at.
    pub async fn flush(&self) -> Result<Cid, ZarrHamtError> {
        match &self.hamt {
            Access::Writable(lock) => Ok(lock.write().await.flush().await?),
            Access::ReadOnly(hamt) => hamt.root_cid().ok_or(ZarrHamtError::ReadOnly),
        }
    }

    /// The root CID, if nothing changed since the last flush or open.
    pub async fn root_cid(&self) -> Option<Cid> {
        self.reader().await.root_cid()
    }

    /// Number of keys in the store.
    pub async fn len(&self) -> Result<u64, ZarrHamtError> {
        Ok(self.reader().await.len().await?)
    }

    /// Whether the store holds no key.
    pub async fn is_empty(&self) -> Result<bool, ZarrHamtError> {
        Ok(self.len().await? == 0)
    }

    pub(crate) async fn reader(&self) -> ReadGuard<'_, S> {
        match &self.hamt {
            Access::Writable(lock) => ReadGuard::Locked(lock.read().await),
            Access::ReadOnly(hamt) => ReadGuard::Shared(hamt),
        }
    }

    // ---------------------------------------------------------------- reads

    /// The value of `key` (decrypted for an encrypted store), with typed
    /// errors; `zarr.json` values come from the metadata cache when there.
    pub async fn get_value(&self, key: &str) -> Result<Option<Bytes>, ZarrHamtError> {
        if is_metadata(key)
            && let Some(value) = self.metadata.get(key)
        {
            return Ok(Some(value));
        }
        let hamt = self.reader().await;
        let Some(stored) = hamt.get(key).await? else {
            return Ok(None);
        };
        let value = self.codec.decode(key, stored)?;
        // Cached while the read lock is held, so a writer cannot have
        // replaced the value (and invalidated the cache) in between.
        self.metadata.remember(key, &value);
        Ok(Some(value))
    }

    /// Byte ranges of the value of `key`. Verbatim values are read range by
    /// range from the block store; encoded values are read whole and decoded.
    pub(crate) async fn read_ranges(
        &self,
        key: &str,
        ranges: &[ByteRange],
    ) -> Result<Option<Vec<Bytes>>, ZarrHamtError> {
        let whole = ranges == [ByteRange::FromStart(0, None)];
        if whole || !self.codec.is_verbatim() {
            let Some(value) = self.get_value(key).await? else {
                return Ok(None);
            };
            let slices = ranges.iter().map(|r| range::slice(&value, *r));
            return Ok(Some(slices.collect::<Result<_, _>>()?));
        }
        let hamt = self.reader().await;
        let Some(link) = hamt.get_link(key).await? else {
            return Ok(None);
        };
        let reads = ranges.iter().map(|r| read_checked(&hamt, &link, *r));
        Ok(Some(future::try_join_all(reads).await?))
    }

    /// The size of the value of `key`.
    pub(crate) async fn value_size(&self, key: &str) -> Result<Option<u64>, ZarrHamtError> {
        Ok(self.get_value(key).await?.map(|value| value.len() as u64))
    }

    /// Every key starting with `prefix`, sorted. The HAMT is in hash order,
    /// so this walks all of it (as py-hamt does). Keys that are not valid zarr
    /// keys (a HAMT may hold other things) are left out.
    pub(crate) async fn keys_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<StoreKey>, ZarrHamtError> {
        let hamt = self.reader().await;
        let mut keys: Vec<StoreKey> = hamt
            .keys()
            .try_filter_map(|key| future::ready(Ok(matching_key(key, prefix))))
            .try_collect()
            .await?;
        keys.sort();
        Ok(keys)
    }

    /// The total size of the values of every key starting with `prefix`.
    pub(crate) async fn size_with_prefix(&self, prefix: &str) -> Result<u64, ZarrHamtError> {
        let mut total = 0u64;
        for key in self.keys_with_prefix(prefix).await? {
            total += self.value_size(key.as_str()).await?.unwrap_or(0);
        }
        Ok(total)
    }

    // --------------------------------------------------------------- writes

    /// The HAMT, locked for writing (readers wait; the cache is updated under it).
    async fn write_guard(&self) -> Result<RwLockWriteGuard<'_, Hamt<S>>, ZarrHamtError> {
        match &self.hamt {
            Access::Writable(lock) => Ok(lock.write().await),
            Access::ReadOnly(_) => Err(ZarrHamtError::ReadOnly),
        }
    }

    /// Sets `key` to `value` (encrypted for an encrypted store), with typed errors.
    pub async fn set_value(&self, key: &str, value: Bytes) -> Result<(), ZarrHamtError>
    where
        S: 'static,
    {
        // Encode (encrypt) before taking the lock: it needs no HAMT.
        let stored = self.codec.encode(key, value)?;
        let mut hamt = self.write_guard().await?;
        hamt.insert(key, stored).await?;
        self.metadata.forget(key);
        Ok(())
    }

    /// Writes bytes at offsets into the value of `key` (zero-filled past its
    /// end; a new value if it has none), reading and writing it under one
    /// write lock so concurrent partial writes do not lose each other.
    pub(crate) async fn write_partial(
        &self,
        key: &str,
        patches: impl Iterator<Item = (u64, Bytes)>,
    ) -> Result<(), ZarrHamtError>
    where
        S: 'static,
    {
        let patches: Vec<_> = patches.collect();
        let mut hamt = self.write_guard().await?;
        patch_value(&mut hamt, &*self.codec, key, patches).await?;
        self.metadata.forget(key);
        Ok(())
    }

    /// Removes `key`; a missing key is not an error.
    pub(crate) async fn erase(&self, key: &str) -> Result<(), ZarrHamtError>
    where
        S: 'static,
    {
        let mut hamt = self.write_guard().await?;
        hamt.remove(key).await?;
        self.metadata.forget(key);
        Ok(())
    }

    /// Removes every key starting with `prefix`.
    pub(crate) async fn erase_prefix(&self, prefix: &str) -> Result<(), ZarrHamtError>
    where
        S: 'static,
    {
        let mut hamt = self.write_guard().await?;
        remove_prefix(&mut hamt, prefix).await?;
        self.metadata.forget_prefix(prefix);
        Ok(())
    }
}

/// Applies `patches` to the value of `key` (see `write_partial`).
async fn patch_value<S: BlockStore, V: ValueCodec + ?Sized>(
    hamt: &mut Hamt<S>,
    codec: &V,
    key: &str,
    patches: Vec<(u64, Bytes)>,
) -> Result<(), ZarrHamtError> {
    let old = match hamt.get(key).await? {
        Some(stored) => codec.decode(key, stored)?,
        None => Bytes::new(),
    };
    let stored = codec.encode(key, patch(old, patches.into_iter())?)?;
    hamt.insert(key, stored).await?;
    Ok(())
}

/// Removes every key of `hamt` starting with `prefix`.
async fn remove_prefix<S: BlockStore>(
    hamt: &mut Hamt<S>,
    prefix: &str,
) -> Result<(), ZarrHamtError> {
    let keys: Vec<String> = hamt
        .keys()
        .try_filter(|key| future::ready(key.starts_with(prefix)))
        .try_collect()
        .await?;
    for key in keys {
        hamt.remove(&key).await?;
    }
    Ok(())
}

fn matching_key(key: String, prefix: &str) -> Option<StoreKey> {
    if key.starts_with(prefix) {
        StoreKey::new(key).ok()
    } else {
        None
    }
}

/// Reads `range` of a verbatim value; a read cut short by the end of the
/// value is an error, as zarrs expects.
async fn read_checked<S: BlockStore>(
    hamt: &Hamt<S>,
    link: &Cid,
    range: ByteRange,
) -> Result<Bytes, ZarrHamtError> {
    let bytes = hamt.read_value(link, range::to_hamt(range)).await?;
    if range::maybe_short(range, bytes.len()) {
        let len = hamt.read_value(link, HamtRange::Full).await?.len() as u64;
        if !range::is_within(range, len) {
            return Err(InvalidByteRangeError::new(range, len).into());
        }
    }
    Ok(bytes)
}

/// `value` with each `(offset, bytes)` written over it, zero-filling any gap.
fn patch(
    value: Bytes,
    patches: impl Iterator<Item = (u64, Bytes)>,
) -> Result<Bytes, ZarrHamtError> {
    let mut out = BytesMut::from(value);
    for (offset, bytes) in patches {
        let out_of_range = || {
            InvalidByteRangeError::new(
                ByteRange::FromStart(offset, Some(bytes.len() as u64)),
                out.len() as u64,
            )
        };
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let end = start.checked_add(bytes.len()).ok_or_else(out_of_range)?;
        if out.len() < end {
            out.resize(end, 0);
        }
        out[start..end].copy_from_slice(&bytes);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_grow_and_overwrite() {
        let patched = patch(
            Bytes::from_static(&[9, 9]),
            [
                (1, Bytes::from_static(&[1, 2])),
                (4, Bytes::from_static(&[4])),
            ]
            .into_iter(),
        )
        .unwrap();
        assert_eq!(&patched[..], &[9, 1, 2, 0, 4]);
    }
}
