//! [`Dataset`]: one zarr dataset's keys and values on a [`Layout`], the
//! handle every zarr store of this project is a thin adapter over (the
//! zarrs store here, the zarr-python store and the map in `hamt_rs`).
//!
//! It holds, in one place: the access mode (a writable layout behind a
//! tokio `RwLock`, or a flushed one shared without a lock; frozen or not),
//! the value codec (verbatim or encrypted), the cache of `zarr.json`
//! values, and the operations zarr needs beyond get and set: byte ranges,
//! sizes, prefix listings, sizes and deletes, and batches.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt, future, stream};
use hamt::{ByteRange as HamtRange, Cid};
use hamt_store::telemetry;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use zarrs_storage::byte_range::{ByteRange, InvalidByteRangeError};

use crate::codec::{PlainValues, ValueCodec};
use crate::layout::Layout;
use crate::listing::{DirListing, dir_base};
use crate::metadata::{MetadataCache, is_metadata};
use crate::{ZarrHamtError, range};

/// Reads in flight at once for one batch or prefix operation.
pub(crate) const BATCH_CONCURRENCY: usize = 256;

/// A zarr dataset's keys and values on a [`Layout`] (the HAMT, or py-hamt's
/// sharded layout), with `V` deciding how values are stored (verbatim, or
/// encrypted as py-hamt's `SimpleEncryptedZarrHAMTStore` does).
///
/// Cloning is cheap and gives another handle on the same data;
/// [`with_codec`](Self::with_codec) and
/// [`with_read_only`](Self::with_read_only) give views of it that store
/// values differently or refuse writes. A writable dataset keeps its layout
/// behind a tokio `RwLock` (reads share it, writes take it alone); one
/// opened read-only shares a flushed layout with no lock at all.
///
/// ```
/// use hamt::{Hamt, HamtConfig, MemoryStore};
/// use hamt_zarr::Dataset;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dataset = Dataset::writable(Hamt::new(MemoryStore::new(), HamtConfig::default()));
/// dataset.set("temp/zarr.json", b"{}".to_vec().into()).await?;
/// dataset.set("temp/c/0", vec![1, 2, 3].into()).await?;
/// assert_eq!(dataset.size_prefix("temp/").await?, 5);
/// assert_eq!(dataset.keys_with_prefix("temp/c/").await?, ["temp/c/0"]);
/// let root = dataset.flush().await?;
///
/// let secret = dataset.with_codec(hamt_zarr::EncryptedValues::new([1; 32], "h"));
/// secret.set("temp/c/1", vec![4].into()).await?;
/// assert_eq!(secret.size("temp/c/1").await?, Some(1));
/// # let _ = root;
/// # Ok::<(), hamt_zarr::ZarrHamtError>(())
/// # }).unwrap();
/// ```
pub struct Dataset<L, V: ?Sized = PlainValues> {
    shared: Arc<Shared<L>>,
    codec: Arc<V>,
    /// This view refuses writes (the data itself may be writable).
    read_only_view: bool,
}

impl<L, V: ?Sized> Clone for Dataset<L, V> {
    fn clone(&self) -> Self {
        Dataset {
            shared: Arc::clone(&self.shared),
            codec: Arc::clone(&self.codec),
            read_only_view: self.read_only_view,
        }
    }
}

impl<L, V: ?Sized + std::fmt::Debug> std::fmt::Debug for Dataset<L, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("read_only", &self.read_only_reason())
            .field("codec", &self.codec)
            .field("cached_metadata", &self.shared.metadata.len())
            .finish_non_exhaustive()
    }
}

/// What every view of one dataset shares.
struct Shared<L> {
    access: Access<L>,
    /// Writes refused until unfrozen (py-hamt's `make_read_only`).
    frozen: AtomicBool,
    /// Stored (not decoded) bytes of `zarr.json` values, so views with
    /// different codecs share it and a write through any view invalidates it.
    metadata: MetadataCache,
}

enum Access<L> {
    Writable(RwLock<L>),
    ReadOnly(Arc<L>),
}

/// Why a dataset refuses writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadOnlyReason {
    /// It was opened read-only (from a root CID).
    Opened,
    /// It was frozen ([`Dataset::freeze`], py-hamt's `make_read_only`).
    Frozen,
    /// This view was made read-only ([`Dataset::with_read_only`]).
    View,
}

/// A layout to read: under the read lock, or shared read-only.
pub enum ReadGuard<'a, L> {
    /// A writable layout, read-locked.
    Locked(RwLockReadGuard<'a, L>),
    /// A read-only layout.
    Shared(&'a L),
}

impl<L> Deref for ReadGuard<'_, L> {
    type Target = L;
    fn deref(&self) -> &L {
        match self {
            ReadGuard::Locked(guard) => guard,
            ReadGuard::Shared(layout) => layout,
        }
    }
}

impl<L: Layout> Dataset<L, PlainValues> {
    /// A writable dataset over `layout` (new, or opened to add to it), values verbatim.
    pub fn writable(layout: L) -> Self {
        Self::with_access(Access::Writable(RwLock::new(layout)))
    }

    /// A read-only dataset sharing `layout` (and its caches) with other readers.
    pub fn read_only(layout: Arc<L>) -> Self {
        Self::with_access(Access::ReadOnly(layout))
    }

    fn with_access(access: Access<L>) -> Self {
        Dataset {
            shared: Arc::new(Shared {
                access,
                frozen: AtomicBool::new(false),
                metadata: MetadataCache::default(),
            }),
            codec: Arc::new(PlainValues),
            read_only_view: false,
        }
    }
}

impl<L, V: ?Sized> Dataset<L, V> {
    /// A view of the same data whose values are stored through `codec`.
    pub fn with_codec<W: ValueCodec>(&self, codec: W) -> Dataset<L, W> {
        self.with_shared_codec(Arc::new(codec))
    }

    /// A view of the same data with a codec shared with other views (for
    /// codecs chosen at run time: `Arc<dyn ValueCodec>`).
    pub fn with_shared_codec<W: ValueCodec + ?Sized>(&self, codec: Arc<W>) -> Dataset<L, W> {
        Dataset {
            shared: Arc::clone(&self.shared),
            codec,
            read_only_view: self.read_only_view,
        }
    }

    /// A view of the same data that refuses writes (`true`) or allows them
    /// when the data does (`false`).
    #[must_use]
    pub fn with_read_only(&self, read_only: bool) -> Self {
        Dataset {
            shared: Arc::clone(&self.shared),
            codec: Arc::clone(&self.codec),
            read_only_view: read_only,
        }
    }

    /// The value codec.
    pub fn codec(&self) -> &V {
        &self.codec
    }

    /// Whether both are handles on the same data (views of one dataset).
    pub fn same_data<W: ?Sized>(&self, other: &Dataset<L, W>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Why writes through this view are refused, or `None` if they are not.
    pub fn read_only_reason(&self) -> Option<ReadOnlyReason> {
        if matches!(self.shared.access, Access::ReadOnly(_)) {
            Some(ReadOnlyReason::Opened)
        } else if self.shared.frozen.load(Ordering::Acquire) {
            Some(ReadOnlyReason::Frozen)
        } else if self.read_only_view {
            Some(ReadOnlyReason::View)
        } else {
            None
        }
    }

    /// Whether this view was made read-only with [`with_read_only`](Self::with_read_only).
    pub fn is_read_only_view(&self) -> bool {
        self.read_only_view
    }

    /// Whether writes through this view are refused.
    pub fn is_read_only(&self) -> bool {
        self.read_only_reason().is_some()
    }

    /// Whether the data was opened read-only (no view can write it).
    pub fn is_opened_read_only(&self) -> bool {
        matches!(self.shared.access, Access::ReadOnly(_))
    }

    /// Refuses writes through every view until [`unfreeze`](Self::unfreeze)
    /// (py-hamt's `make_read_only`, after a flush).
    pub fn freeze(&self) {
        self.shared.frozen.store(true, Ordering::Release);
    }

    /// Accepts writes again after [`freeze`](Self::freeze). Data opened
    /// read-only stays read-only.
    pub fn unfreeze(&self) {
        self.shared.frozen.store(false, Ordering::Release);
    }

    /// The layout, to read: read-locked if writable. Holding it blocks writers.
    pub async fn reader(&self) -> ReadGuard<'_, L> {
        match &self.shared.access {
            Access::Writable(lock) => ReadGuard::Locked(lock.read().await),
            Access::ReadOnly(layout) => ReadGuard::Shared(layout),
        }
    }

    /// The layout, write-locked (readers wait), for a write that keeps the
    /// metadata cache in step. Refused for a read-only view, checked once the
    /// lock is held, so a write queued behind a freeze does not slip in.
    async fn writer(&self) -> Result<RwLockWriteGuard<'_, L>, ZarrHamtError> {
        let Access::Writable(lock) = &self.shared.access else {
            return Err(ZarrHamtError::ReadOnly);
        };
        let guard = lock.write().await;
        if self.is_read_only() {
            return Err(ZarrHamtError::ReadOnly);
        }
        Ok(guard)
    }

    /// The root CID if nothing changed since the last flush or open, without
    /// waiting: `None` too while a write holds the lock.
    pub fn try_root_cid(&self) -> Option<Cid>
    where
        L: Layout,
    {
        match &self.shared.access {
            Access::Writable(lock) => lock.try_read().ok()?.root_cid(),
            Access::ReadOnly(layout) => layout.root_cid(),
        }
    }

    /// Whether there are changes not yet flushed, without waiting (a write
    /// in progress counts as one).
    pub fn try_is_dirty(&self) -> bool
    where
        L: Layout,
    {
        match &self.shared.access {
            Access::Writable(lock) => lock.try_read().map_or(true, |layout| layout.is_dirty()),
            Access::ReadOnly(_) => false,
        }
    }
}

impl<L: Layout, V: ValueCodec + ?Sized> Dataset<L, V> {
    /// The root CID, if nothing changed since the last flush or open.
    pub async fn root_cid(&self) -> Option<Cid> {
        self.reader().await.root_cid()
    }

    /// Writes every change and returns the root CID (py-hamt's
    /// `make_read_only` then `root_node_id`); the dataset stays writable. A
    /// dataset opened read-only returns the root it was opened at.
    pub async fn flush(&self) -> Result<Cid, ZarrHamtError> {
        match &self.shared.access {
            Access::Writable(lock) => lock.write().await.flush().await,
            Access::ReadOnly(layout) => layout.root_cid().ok_or(ZarrHamtError::ReadOnly),
        }
    }

    /// Flushes, then freezes (see [`freeze`](Self::freeze)) before any other
    /// write can start: the root returned holds every write made before.
    pub async fn flush_and_freeze(&self) -> Result<Cid, ZarrHamtError> {
        match &self.shared.access {
            Access::Writable(lock) => {
                let mut layout = lock.write().await;
                let root = layout.flush().await?;
                self.freeze();
                Ok(root)
            }
            Access::ReadOnly(layout) => layout.root_cid().ok_or(ZarrHamtError::ReadOnly),
        }
    }

    /// Number of keys.
    pub async fn len(&self) -> Result<u64, ZarrHamtError> {
        self.reader().await.len().await
    }

    /// Whether there is no key.
    pub async fn is_empty(&self) -> Result<bool, ZarrHamtError> {
        Ok(self.len().await? == 0)
    }

    // ---------------------------------------------------------------- reads

    /// The value of `key`, decoded; `zarr.json` values come from the cache when there.
    #[tracing::instrument(level = "debug", name = "py_hamt.zarr.get", skip(self))]
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, ZarrHamtError> {
        let started = telemetry::enabled().then(Instant::now);
        let layout = self.reader().await;
        let value = self.whole_in(&layout, key).await;
        record_gets(
            started,
            value.as_ref().map_or(0, |v| u64::from(v.is_some())),
            1,
        );
        value
    }

    /// Whether a read of part of `key`'s value must read (and decode) all of it.
    fn reads_whole(&self, key: &str) -> bool {
        !self.codec.is_verbatim() || is_metadata(key)
    }

    /// The decoded value of `key` on `layout` (held by the caller), through
    /// the metadata cache.
    async fn whole_in(&self, layout: &L, key: &str) -> Result<Option<Bytes>, ZarrHamtError> {
        if let Some(value) = self.cached(key) {
            return value.map(Some);
        }
        let Some(link) = layout.get_link(key).await? else {
            return Ok(None);
        };
        self.whole_at(layout, key, &link).await
    }

    /// The decoded value of `key` if the metadata cache holds it.
    fn cached(&self, key: &str) -> Option<Result<Bytes, ZarrHamtError>> {
        let stored = is_metadata(key)
            .then(|| self.shared.metadata.get(key))
            .flatten()?;
        Some(self.codec.decode(key, stored))
    }

    /// The decoded value of `key`, stored at `link` on `layout`.
    async fn whole_at(
        &self,
        layout: &L,
        key: &str,
        link: &Cid,
    ) -> Result<Option<Bytes>, ZarrHamtError> {
        let stored = layout.read_value(link, HamtRange::Full).await?;
        // Cached while the caller holds the read lock, so a writer cannot
        // have replaced the value (and invalidated the cache) in between.
        self.shared.metadata.remember(key, &stored);
        self.codec.decode(key, stored).map(Some)
    }

    /// The part of the value of `key` that `range` selects, clamped to its
    /// end (py-hamt's and zarr-python's semantics). Verbatim values are read
    /// as a range of their block; encoded ones whole, then sliced.
    #[tracing::instrument(level = "debug", name = "py_hamt.zarr.get", skip(self))]
    pub async fn get_range(
        &self,
        key: &str,
        range: HamtRange,
    ) -> Result<Option<Bytes>, ZarrHamtError> {
        let started = telemetry::enabled().then(Instant::now);
        let layout = self.reader().await;
        let value = self.range_in(&layout, key, range).await;
        record_gets(
            started,
            value.as_ref().map_or(0, |v| u64::from(v.is_some())),
            1,
        );
        value
    }

    async fn range_in(
        &self,
        layout: &L,
        key: &str,
        range: HamtRange,
    ) -> Result<Option<Bytes>, ZarrHamtError> {
        if let Some(value) = self.cached(key) {
            return value.map(|v| Some(v.slice(range.to_index_range(v.len()))));
        }
        let Some(link) = layout.get_link(key).await? else {
            return Ok(None);
        };
        self.range_at(layout, key, &link, range).await
    }

    /// [`range_in`](Self::range_in) for a value whose link is known.
    async fn range_at(
        &self,
        layout: &L,
        key: &str,
        link: &Cid,
        range: HamtRange,
    ) -> Result<Option<Bytes>, ZarrHamtError> {
        if range == HamtRange::Full || self.reads_whole(key) {
            let value = self.whole_at(layout, key, link).await?;
            return Ok(value.map(|v| v.slice(range.to_index_range(v.len()))));
        }
        layout.read_value(link, range).await.map(Some)
    }

    /// For each `(key, range)`, what [`get_range`](Self::get_range) gives:
    /// all under one hold of the read lock (one snapshot), the keys' links
    /// found in one batch (on a HAMT, a round trip per level for all of
    /// them), then the values read concurrently. An error names the key it
    /// happened at.
    #[tracing::instrument(level = "debug", name = "py_hamt.zarr.get_many", skip_all, fields(keys = requests.len()))]
    pub async fn get_many(
        &self,
        requests: Vec<(String, HamtRange)>,
    ) -> Result<Vec<Option<Bytes>>, KeyedError> {
        let started = telemetry::enabled().then(Instant::now);
        let asked = requests.len() as u64;
        let values = self.get_many_now(requests).await;
        let found = values
            .as_ref()
            .map_or(0, |v| v.iter().flatten().count() as u64);
        record_gets(started, found, asked);
        values
    }

    async fn get_many_now(
        &self,
        requests: Vec<(String, HamtRange)>,
    ) -> Result<Vec<Option<Bytes>>, KeyedError> {
        let layout = self.reader().await;
        let layout = &*layout;
        // Metadata the cache holds needs no lookup (asked once per key: a
        // concurrent reader may fill the cache meanwhile).
        let cached: Vec<bool> = requests
            .iter()
            .map(|(key, _)| is_metadata(key) && self.shared.metadata.get(key).is_some())
            .collect();
        let uncached: Vec<String> = requests
            .iter()
            .zip(&cached)
            .filter(|(_, cached)| !**cached)
            .map(|((key, _), _)| key.clone())
            .collect();
        let links = layout.get_links_many(&uncached).await.map_err(|source| {
            // A batch lookup fails as a whole: it names the batch's first key.
            let key = uncached.first().cloned().unwrap_or_default();
            KeyedError { key, source }
        })?;
        let mut links = links.into_iter();
        let reads: Vec<_> = requests
            .into_iter()
            .zip(cached)
            .map(|((key, range), cached)| {
                let link = if cached { None } else { links.next().flatten() };
                (key, range, cached, link)
            })
            .collect();
        stream::iter(reads)
            .map(|(key, range, cached, link)| async move {
                let read = match (cached, link) {
                    (true, _) => self.range_in(layout, &key, range).await,
                    (false, Some(link)) => self.range_at(layout, &key, &link, range).await,
                    (false, None) => Ok(None),
                };
                read.map_err(|source| KeyedError { key, source })
            })
            .buffered(BATCH_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Byte ranges of the value of `key`, each exactly as asked: a range
    /// reaching past the end of the value is an error (zarrs' semantics).
    pub async fn get_exact(
        &self,
        key: &str,
        ranges: &[ByteRange],
    ) -> Result<Option<Vec<Bytes>>, ZarrHamtError> {
        let layout = self.reader().await;
        if ranges == [ByteRange::FromStart(0, None)] || self.reads_whole(key) {
            let Some(value) = self.whole_in(&layout, key).await? else {
                return Ok(None);
            };
            let slices = ranges.iter().map(|r| range::slice(&value, *r));
            return Ok(Some(slices.collect::<Result<_, _>>()?));
        }
        let Some(link) = layout.get_link(key).await? else {
            return Ok(None);
        };
        let reads = ranges.iter().map(|r| read_exact(&*layout, &link, *r));
        Ok(Some(future::try_join_all(reads).await?))
    }

    /// Whether `key` is present.
    pub async fn contains(&self, key: &str) -> Result<bool, ZarrHamtError> {
        if is_metadata(key) && self.shared.metadata.get(key).is_some() {
            return Ok(true);
        }
        Ok(self.reader().await.get_link(key).await?.is_some())
    }

    /// The length of the value of `key`, reading as little of it as the
    /// layout can: an encrypted value's plaintext length is its stored
    /// length less the nonce and tag, known without decrypting it.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, ZarrHamtError> {
        let layout = self.reader().await;
        self.size_in(&layout, key).await
    }

    async fn size_in(&self, layout: &L, key: &str) -> Result<Option<u64>, ZarrHamtError> {
        let Some(link) = layout.get_link(key).await? else {
            return Ok(None);
        };
        let stored = layout.value_len(&link).await?;
        self.codec.decoded_len(key, stored).map(Some)
    }

    /// The total length of the values of `keys` (absent ones count 0), read concurrently.
    pub async fn total_size(&self, keys: &[String]) -> Result<u64, ZarrHamtError> {
        let layout = self.reader().await;
        self.total_size_in(&layout, keys).await
    }

    async fn total_size_in(&self, layout: &L, keys: &[String]) -> Result<u64, ZarrHamtError> {
        let links = layout.get_links_many(keys).await?;
        // Owned pairs: a closure over borrowed ones trips rustc's
        // higher-ranked `Send` check in the zarrs adapter's boxed futures.
        let found: Vec<(String, Cid)> = keys
            .iter()
            .zip(links)
            .filter_map(|(key, link)| Some((key.clone(), link?)))
            .collect();
        let sizes: Vec<u64> = stream::iter(found)
            .map(|(key, link)| async move {
                let stored = layout.value_len(&link).await?;
                self.codec.decoded_len(&key, stored)
            })
            .buffered(BATCH_CONCURRENCY)
            .try_collect()
            .await?;
        // Sizes come from stores and servers: a lying one must not overflow.
        Ok(sizes.into_iter().fold(0, u64::saturating_add))
    }

    /// Every key starting with `prefix`, sorted.
    pub async fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, ZarrHamtError> {
        let mut keys = self.reader().await.keys_with_prefix(prefix).await?;
        keys.sort_unstable();
        Ok(keys)
    }

    /// What is directly under `prefix` (a trailing `/` is implied): the keys
    /// there, and the child prefixes holding the rest.
    pub async fn list_dir(&self, prefix: &str) -> Result<DirListing, ZarrHamtError> {
        self.list_dir_where(prefix, &|_| true).await
    }

    /// [`list_dir`](Self::list_dir) listing only the keys `keep` accepts.
    pub async fn list_dir_where(
        &self,
        prefix: &str,
        keep: &(dyn for<'k> Fn(&'k str) -> bool + Sync),
    ) -> Result<DirListing, ZarrHamtError> {
        let base = dir_base(prefix);
        self.reader().await.list_dir(&base, keep).await
    }

    /// The total length of the values of every key starting with `prefix`.
    pub async fn size_prefix(&self, prefix: &str) -> Result<u64, ZarrHamtError> {
        let layout = self.reader().await;
        let keys = layout.keys_with_prefix(prefix).await?;
        self.total_size_in(&layout, &keys).await
    }

    // --------------------------------------------------------------- writes

    /// Sets `key` to `value` (encoded, e.g. encrypted, before the lock is taken).
    pub async fn set(&self, key: &str, value: Bytes) -> Result<(), ZarrHamtError> {
        let stored = self.codec.encode(key, value)?;
        let mut layout = self.writer().await?;
        layout.insert(key, stored).await?;
        self.shared.metadata.forget(key);
        Ok(())
    }

    /// Sets every `(key, value)` under one hold of the write lock; the same
    /// data as setting them one by one, in order.
    pub async fn set_many(&self, entries: Vec<(String, Bytes)>) -> Result<(), ZarrHamtError> {
        let mut stored = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let value = self.codec.encode(&key, value)?;
            stored.push((key, value));
        }
        let mut layout = self.writer().await?;
        for (key, _) in &stored {
            self.shared.metadata.forget(key);
        }
        layout.insert_many(stored).await
    }

    /// Writes bytes at offsets into the value of `key` (zero-filled past its
    /// end; a new value if it has none), reading and writing it under one
    /// write lock so concurrent partial writes do not lose each other.
    pub async fn set_partial(
        &self,
        key: &str,
        patches: Vec<(u64, Bytes)>,
    ) -> Result<(), ZarrHamtError> {
        let mut layout = self.writer().await?;
        let old = match layout.get_link(key).await? {
            Some(link) => {
                let stored = layout.read_value(&link, HamtRange::Full).await?;
                self.codec.decode(key, stored)?
            }
            None => Bytes::new(),
        };
        let stored = self.codec.encode(key, patch(old, patches)?)?;
        layout.insert(key, stored).await?;
        self.shared.metadata.forget(key);
        Ok(())
    }

    /// Removes `key`; whether it was there.
    pub async fn delete(&self, key: &str) -> Result<bool, ZarrHamtError> {
        let mut layout = self.writer().await?;
        let removed = layout.remove(key).await?;
        self.shared.metadata.forget(key);
        Ok(removed)
    }

    /// Removes every key starting with `prefix`; how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, ZarrHamtError> {
        let mut layout = self.writer().await?;
        // First: a removal failing part-way must not leave removed keys cached.
        self.shared.metadata.forget_prefix(prefix);
        layout.remove_prefix(prefix).await
    }

    /// Runs `f` on the layout, write-locked, for a change beyond zarr's
    /// operations (a sharded store's graft or resize, say). The metadata
    /// cache is emptied first: `f` may change any key.
    pub async fn update<R>(
        &self,
        f: impl for<'a> FnOnce(&'a mut L) -> BoxFuture<'a, Result<R, ZarrHamtError>>,
    ) -> Result<R, ZarrHamtError> {
        let mut layout = self.writer().await?;
        self.shared.metadata.forget_prefix("");
        f(&mut layout).await
    }

    /// Removes every key.
    pub async fn clear(&self) -> Result<(), ZarrHamtError> {
        let mut layout = self.writer().await?;
        self.shared.metadata.forget_prefix("");
        layout.clear()
    }
}

/// Telemetry of `asked` zarr gets, `found` of them present, that began at
/// `started` (the duration is recorded per call, a batch as one).
fn record_gets(started: Option<Instant>, found: u64, asked: u64) {
    let Some(started) = started else { return };
    telemetry::ZARR_GETS.add(found, true);
    telemetry::ZARR_GETS.add(asked - found.min(asked), false);
    telemetry::ZARR_GET_DURATION.record_duration(started.elapsed());
}

/// An error of one key of a batch.
#[derive(Debug, thiserror::Error)]
#[error("{key:?}: {source}")]
pub struct KeyedError {
    /// The key it happened at (for a lookup failing a whole batch, the
    /// batch's first key).
    pub key: String,
    /// What went wrong.
    #[source]
    pub source: ZarrHamtError,
}

/// Reads `range` of a verbatim value; a read cut short by the end of the
/// value is an error, as zarrs expects.
async fn read_exact<L: Layout>(
    layout: &L,
    link: &Cid,
    range: ByteRange,
) -> Result<Bytes, ZarrHamtError> {
    let bytes = layout.read_value(link, range::to_hamt(range)).await?;
    if range::maybe_short(range, bytes.len()) {
        let len = layout.value_len(link).await?;
        if !range::is_within(range, len) {
            return Err(InvalidByteRangeError::new(range, len).into());
        }
    }
    Ok(bytes)
}

/// `value` with each `(offset, bytes)` written over it, zero-filling any gap.
fn patch(value: Bytes, patches: Vec<(u64, Bytes)>) -> Result<Bytes, ZarrHamtError> {
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
            vec![
                (1, Bytes::from_static(&[1, 2])),
                (4, Bytes::from_static(&[4])),
            ],
        )
        .unwrap();
        assert_eq!(&patched[..], &[9, 1, 2, 0, 4]);
    }
}
