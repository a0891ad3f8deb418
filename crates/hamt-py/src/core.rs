//! `HamtCore`: one view of a [`hamt_zarr::Dataset`] on a backend, as the
//! Python classes `HAMT` and `ZarrHamtStore` use it. The dataset holds all
//! the logic (access mode, freezing, value codec, metadata cache, prefix
//! operations, batches); this file turns Python calls into its futures and
//! their results into Python objects. Every method returns its result
//! directly when it finished without I/O, or an `asyncio.Future` (see
//! [`crate::ready`]).
//!
//! Views made by `with_encryption` and `with_read_only` share the dataset
//! and differ in how values are stored (verbatim, py-hamt's
//! `ZarrHAMTStore`, or encrypted, its `SimpleEncryptedZarrHAMTStore`) and
//! in whether they refuse writes.

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use hamt::{ByteRange, Cid, Hamt, HamtConfig};
use hamt_zarr::{
    AnyLayout, Dataset, EncryptedValues, LayoutKind, PlainValues, ShardedConfig, ShardedMap,
    ValueCodec, ZarrHamtError,
};
use pyo3::exceptions::{PyNotImplementedError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyTuple};

use crate::backend::{DynStore, Registry, blocks_on_io, new_token, parse_cid, store_of};
use crate::errors::Error;
use crate::ready::{Nothing, block_on, ready_or_await};

/// A dataset as the Python package holds it: either layout on any backend,
/// values through a codec chosen at run time.
type PyDataset = Dataset<AnyLayout<DynStore>, dyn ValueCodec>;

/// A layout on any backend.
type PyLayout = AnyLayout<DynStore>;

/// Values below this size are hashed with the GIL held when the backend
/// cannot block: releasing and retaking the GIL costs more than the work,
/// and under contention a retake can wait a whole switch interval (5 ms).
const SMALL_VALUE: usize = 64 * 1024;

/// What every view of one HAMT shares besides the dataset.
struct State {
    token: u64,
    store: DynStore,
    config: Configs,
    /// Which layout the dataset is (it never changes: a migration stays sharded).
    kind: LayoutKind,
    /// The Python backend object (kept for `backend` and pickling).
    backend: Py<PyAny>,
    /// Whether the backend reads and writes synchronously (RocksDB), so a
    /// first poll may wait on the disk and must not hold the GIL.
    blocking_io: bool,
}

/// How layouts opened for a HAMT use memory.
#[derive(Clone)]
struct Configs {
    hamt: HamtConfig,
    sharded: ShardedConfig,
}

impl Configs {
    /// The defaults, with `cache_bytes` bounding the node or shard cache.
    fn new(cache_bytes: Option<usize>) -> Self {
        let mut configs = Configs {
            hamt: HamtConfig::default(),
            sharded: ShardedConfig::default(),
        };
        if let Some(bytes) = cache_bytes {
            configs.hamt = configs.hamt.with_cache_bytes(bytes);
            configs.sharded.cache_bytes = bytes as u64;
        }
        configs
    }
}

/// Live HAMTs of this process by token, so unpickling finds them again.
static STATES: Registry<(State, PyDataset)> = Registry::new();

/// What made a view's encryption (for equality and pickling).
#[derive(Clone, PartialEq, Eq)]
struct Encryption {
    key: [u8; 32],
    header: Vec<u8>,
}

impl Encryption {
    /// py-hamt's `encryption_key` (32 bytes) and `header`.
    fn new(key: &[u8], header: &[u8]) -> PyResult<Self> {
        let key: [u8; 32] = key.try_into().map_err(|_| {
            PyValueError::new_err(format!(
                "encryption_key must be 32 bytes, got {}",
                key.len()
            ))
        })?;
        Ok(Encryption {
            key,
            header: header.to_vec(),
        })
    }
}

/// A value read, given to Python as `bytes`.
struct Value(Bytes);

impl<'py> IntoPyObject<'py> for Value {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = std::convert::Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(PyBytes::new(py, &self.0))
    }
}

/// py-hamt's `offset` / `length` / `suffix` as a byte range.
fn byte_range(offset: Option<u64>, length: Option<u64>, suffix: Option<u64>) -> ByteRange {
    match (offset, length, suffix) {
        (_, _, Some(n)) => ByteRange::Suffix(n),
        (offset, Some(length), None) => ByteRange::Slice {
            offset: offset.unwrap_or(0),
            length,
        },
        (Some(offset), None, None) => ByteRange::From(offset),
        (None, None, None) => ByteRange::Full,
    }
}

/// One view of a HAMT for the Python package. Not for direct use:
/// `hamt_rs.HAMT` and `hamt_rs.ZarrHamtStore` wrap it.
#[pyclass(frozen, module = "hamt_rs._native")]
pub(crate) struct HamtCore {
    shared: Arc<(State, PyDataset)>,
    /// This view: the shared dataset with this view's codec and read-only flag.
    dataset: PyDataset,
    encryption: Option<Encryption>,
}

impl HamtCore {
    fn state(&self) -> &State {
        &self.shared.0
    }

    fn from_layout(
        backend: &Bound<'_, PyAny>,
        layout: PyLayout,
        config: Configs,
        writable: bool,
        token: u64,
    ) -> PyResult<HamtCore> {
        let store = store_of(backend)?;
        let kind = layout.kind();
        let dataset = if writable {
            Dataset::writable(layout)
        } else {
            Dataset::read_only(Arc::new(layout))
        };
        let dataset = dataset.with_shared_codec(Arc::new(PlainValues) as Arc<dyn ValueCodec>);
        let state = State {
            token,
            store,
            config,
            kind,
            backend: backend.clone().unbind(),
            blocking_io: blocks_on_io(backend),
        };
        let shared = Arc::new((state, dataset.clone()));
        STATES.register(token, &shared);
        Ok(HamtCore {
            shared,
            dataset,
            encryption: None,
        })
    }

    /// A view of the same dataset with `encryption` (or none).
    fn view(&self, encryption: Option<Encryption>, read_only: bool) -> HamtCore {
        let codec: Arc<dyn ValueCodec> = match &encryption {
            Some(e) => Arc::new(EncryptedValues::new(e.key, e.header.clone())),
            None => Arc::new(PlainValues),
        };
        HamtCore {
            shared: Arc::clone(&self.shared),
            dataset: self
                .dataset
                .with_shared_codec(codec)
                .with_read_only(read_only),
            encryption,
        }
    }

    /// Runs `op` on the sharded layout of this view (refused for a HAMT).
    fn sharded<'py, T>(
        &self,
        py: Python<'py>,
        what: &'static str,
        op: impl for<'a> FnOnce(
            &'a mut ShardedMap<DynStore>,
        )
            -> futures::future::BoxFuture<'a, Result<T, hamt_zarr::ShardedError>>
        + Send
        + 'static,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        T: for<'a> IntoPyObject<'a> + Send + 'static,
    {
        let dataset = self.dataset.clone();
        ready_or_await(py, true, async move {
            dataset
                .update(move |layout| match layout {
                    AnyLayout::Sharded(map) => {
                        op(map).map(|r| r.map_err(ZarrHamtError::from)).boxed()
                    }
                    AnyLayout::Hamt(_) => {
                        futures::future::ready(Err(ZarrHamtError::NotSharded)).boxed()
                    }
                })
                .await
                .map_err(doing(&dataset, what))
        })
    }

    /// This view's dataset and whether its first poll may block on I/O.
    fn call(&self) -> (PyDataset, bool) {
        (self.dataset.clone(), self.state().blocking_io)
    }
}

/// Names the operation in an error, formatting it only when there is one.
fn at<'a>(
    dataset: &'a PyDataset,
    op: &'static str,
    key: &'a str,
) -> impl FnOnce(ZarrHamtError) -> Error + 'a {
    move |source| Error::dataset(format!("{op} {key:?}"), source, dataset)
}

/// The same for an operation without a key.
fn doing<'a>(dataset: &'a PyDataset, op: &'a str) -> impl FnOnce(ZarrHamtError) -> Error + 'a {
    move |source| Error::dataset(op.to_owned(), source, dataset)
}

#[pymethods]
impl HamtCore {
    /// A new, empty, writable HAMT on `backend`.
    #[staticmethod]
    #[pyo3(signature = (backend, cache_bytes = None))]
    fn new(backend: &Bound<'_, PyAny>, cache_bytes: Option<usize>) -> PyResult<HamtCore> {
        let store = store_of(backend)?;
        let config = Configs::new(cache_bytes);
        let hamt = Hamt::new(store, config.hamt.clone());
        Self::from_layout(backend, AnyLayout::Hamt(hamt), config, true, new_token())
    }

    /// A new, empty, writable sharded store (py-hamt's `ShardedZarrStore`,
    /// v2) on `backend`, `chunks_per_shard` chunks per shard.
    #[staticmethod]
    #[pyo3(signature = (backend, chunks_per_shard, cache_bytes = None))]
    fn new_sharded(
        backend: &Bound<'_, PyAny>,
        chunks_per_shard: u64,
        cache_bytes: Option<usize>,
    ) -> PyResult<HamtCore> {
        let store = store_of(backend)?;
        let config = Configs::new(cache_bytes);
        let map = ShardedMap::with_config(store, chunks_per_shard, config.sharded.clone())
            .map_err(|e| Error::Value(e.to_string()))?;
        Self::from_layout(backend, AnyLayout::Sharded(map), config, true, new_token())
    }

    /// The HAMT whose root is `root` on `backend` (read-only unless
    /// `writable`); its root node is read (and checked) now.
    #[staticmethod]
    #[pyo3(signature = (backend, root, writable = false, cache_bytes = None))]
    fn open<'py>(
        py: Python<'py>,
        backend: &Bound<'py, PyAny>,
        root: &str,
        writable: bool,
        cache_bytes: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cid = parse_cid(root)?;
        let store = store_of(backend)?;
        let backend = backend.clone().unbind();
        let config = Configs::new(cache_bytes);
        ready_or_await(py, true, async move {
            let layout = open_layout(store, cid, &config).await?;
            Ok(Opened {
                backend,
                layout,
                config,
                writable,
                encryption: None,
            })
        })
    }

    /// A view of the same HAMT whose values are encrypted as py-hamt's
    /// `SimpleEncryptedZarrHAMTStore(hamt, read_only, encryption_key, header)`
    /// does: XChaCha20-Poly1305, a 32-byte key, `header` as associated data.
    fn with_encryption(&self, key: &[u8], header: &[u8]) -> PyResult<HamtCore> {
        let encryption = Encryption::new(key, header)?;
        Ok(self.view(Some(encryption), self.dataset.is_read_only_view()))
    }

    /// A view of the same HAMT that refuses writes (`True`), or allows them
    /// when the HAMT does (`False`).
    fn with_read_only(&self, read_only: bool) -> HamtCore {
        self.view(self.encryption.clone(), read_only)
    }

    /// A new writable HAMT starting from this one's root (which must be
    /// flushed), sharing the backend; this one is unchanged.
    fn writable_copy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        let (store, config) = (self.state().store.clone(), self.state().config.clone());
        let backend = self.state().backend.clone_ref(py);
        let encryption = self.encryption.clone();
        ready_or_await(py, true, async move {
            let Some(root) = dataset.root_cid().await else {
                return Err(Error::Value(
                    "the HAMT has unflushed changes: flush() before making a writable copy".into(),
                ));
            };
            let layout = open_layout(store, root, &config).await?;
            Ok(Opened {
                backend,
                layout,
                config,
                writable: true,
                encryption,
            })
        })
    }

    /// A writable copy of this sharded store's state (unflushed changes
    /// included), made at once without I/O: what `with_read_only(False)`
    /// gives for a store opened read-only. A HAMT has no such copy (its
    /// nodes are not all in memory): use `writable_copy`.
    fn fork_writable(&self, py: Python<'_>) -> PyResult<HamtCore> {
        let guard = self.dataset.reader().now_or_never().ok_or_else(|| {
            Error::Value("the store is busy with a write: try again when it is done".into())
        })?;
        let AnyLayout::Sharded(map) = &*guard else {
            return Err(PyNotImplementedError::new_err(
                "fork_writable is for sharded stores; a HAMT needs writable_copy()",
            ));
        };
        let fork = map.fork();
        drop(guard);
        let core = HamtCore::from_layout(
            self.state().backend.bind(py),
            AnyLayout::Sharded(fork),
            self.state().config.clone(),
            true,
            new_token(),
        )?;
        Ok(match self.encryption.clone() {
            Some(encryption) => core.view(Some(encryption), false),
            None => core,
        })
    }

    /// Whether both are views of the same HAMT with the same encryption.
    fn same_as(&self, other: &HamtCore) -> bool {
        self.dataset.same_data(&other.dataset) && self.encryption == other.encryption
    }

    /// The backend the HAMT lives on.
    #[getter]
    fn backend(&self, py: Python<'_>) -> Py<PyAny> {
        self.state().backend.clone_ref(py)
    }

    /// Whether the HAMT was opened read-only (from a root CID).
    #[getter]
    fn read_only(&self) -> bool {
        self.dataset.is_opened_read_only()
    }

    /// Whether writes through this view are refused, for any reason
    /// (opened read-only, frozen, or a read-only view).
    #[getter]
    fn refuses_writes(&self) -> bool {
        self.dataset.is_read_only()
    }

    /// Whether the HAMT is frozen (py-hamt's `make_read_only`).
    #[getter]
    fn frozen(&self) -> bool {
        self.dataset.read_only_reason() == Some(hamt_zarr::ReadOnlyReason::Frozen)
    }

    /// Refuses writes through every view until `unfreeze` (py-hamt's `make_read_only`).
    fn freeze(&self) {
        self.dataset.freeze();
    }

    /// Accepts writes again after `freeze`; a HAMT opened read-only stays so.
    fn unfreeze(&self) -> Result<(), Error> {
        if self.dataset.is_opened_read_only() {
            return Err(Error::dataset(
                "enable writes".into(),
                ZarrHamtError::ReadOnly,
                &self.dataset,
            ));
        }
        self.dataset.unfreeze();
        Ok(())
    }

    /// Whether values are encrypted in this view.
    #[getter]
    fn encrypted(&self) -> bool {
        self.encryption.is_some()
    }

    /// The root CID if nothing changed since the last flush or open; `None`
    /// while there are unflushed changes or a write is in progress.
    #[getter]
    fn root_cid(&self) -> Option<String> {
        self.dataset.try_root_cid().map(|cid| cid.to_string())
    }

    /// The layout: `"hamt"` (py-hamt's `ZarrHAMTStore`) or `"sharded"`
    /// (its `ShardedZarrStore`).
    #[getter]
    fn layout(&self) -> &'static str {
        match self.state().kind {
            LayoutKind::Sharded => "sharded",
            LayoutKind::Hamt => "hamt",
        }
    }

    // ------------------------------------------------------ sharded layout

    /// Points `key` at the existing block `cid` (py-hamt's `set_pointer`).
    fn set_pointer<'py>(
        &self,
        py: Python<'py>,
        key: String,
        cid: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cid = parse_cid(cid)?;
        self.sharded(py, "set_pointer", move |map| {
            async move { map.set_pointer(&key, cid).await.map(|()| Nothing) }.boxed()
        })
    }

    /// Links every chunk of another sharded store in at a chunk offset
    /// (py-hamt's `graft_store`).
    #[pyo3(signature = (source_root, chunk_offset, source_array = None, target_array = None))]
    fn graft<'py>(
        &self,
        py: Python<'py>,
        source_root: &str,
        chunk_offset: Vec<u64>,
        source_array: Option<String>,
        target_array: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let root = parse_cid(source_root)?;
        self.sharded(py, "graft_store", move |map| {
            async move {
                map.graft(
                    root,
                    &chunk_offset,
                    source_array.as_deref(),
                    target_array.as_deref(),
                )
                .await
                .map(|()| Nothing)
            }
            .boxed()
        })
    }

    /// Resizes an array's shard index (py-hamt's `resize_store`).
    #[pyo3(signature = (shape, array = None))]
    fn resize<'py>(
        &self,
        py: Python<'py>,
        shape: Vec<u64>,
        array: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.sharded(py, "resize_store", move |map| {
            async move { map.resize(shape, array.as_deref()).await.map(|()| Nothing) }.boxed()
        })
    }

    /// Sets a variable's shape in its `zarr.json` and resizes its index
    /// (py-hamt's `resize_variable`).
    fn resize_variable<'py>(
        &self,
        py: Python<'py>,
        name: String,
        shape: Vec<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.sharded(py, "resize_variable", move |map| {
            async move { map.resize_variable(&name, &shape).await.map(|()| Nothing) }.boxed()
        })
    }

    /// Rewrites a v1 manifest as v2 and flushes (py-hamt's
    /// `migrate_v1_to_v2`); returns the new root.
    fn migrate_v1_to_v2<'py>(
        &self,
        py: Python<'py>,
        primary_array_path: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.sharded(py, "migrate_v1_to_v2", move |map| {
            async move {
                map.migrate_v1_to_v2(&primary_array_path)
                    .await
                    .map(|root| root.to_string())
            }
            .boxed()
        })
    }

    // ------------------------------------------------------------- reads

    /// The value of `key` (or the part `offset`/`length`/`suffix` selects),
    /// or `None` if there is no such key.
    #[pyo3(signature = (key, offset = None, length = None, suffix = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: String,
        offset: Option<u64>,
        length: Option<u64>,
        suffix: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (dataset, blocking) = self.call();
        let range = byte_range(offset, length, suffix);
        ready_or_await(py, blocking, async move {
            let value = dataset
                .get_range(&key, range)
                .await
                .map_err(at(&dataset, "get", &key))?;
            Ok(value.map(Value))
        })
    }

    /// The values of `keys` (`None` where absent), read concurrently.
    fn get_many<'py>(&self, py: Python<'py>, keys: Vec<String>) -> PyResult<Bound<'py, PyAny>> {
        let requests = keys.into_iter().map(|k| (k, None, None, None)).collect();
        self.get_ranges(py, requests)
    }

    /// For each `(key, offset, length, suffix)`, that part of the value of
    /// `key` (`None` where absent), read concurrently.
    #[allow(clippy::type_complexity)]
    fn get_ranges<'py>(
        &self,
        py: Python<'py>,
        requests: Vec<(String, Option<u64>, Option<u64>, Option<u64>)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        let requests = requests
            .into_iter()
            .map(|(key, offset, length, suffix)| (key, byte_range(offset, length, suffix)))
            .collect();
        ready_or_await(py, true, async move {
            let values = dataset
                .get_many(requests)
                .await
                .map_err(|e| Error::dataset(format!("get {:?}", e.key), e.source, &dataset))?;
            Ok(values.into_iter().map(|v| v.map(Value)).collect::<Vec<_>>())
        })
    }

    /// Whether `key` is present.
    fn contains<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let (dataset, blocking) = self.call();
        ready_or_await(py, blocking, async move {
            dataset
                .contains(&key)
                .await
                .map_err(at(&dataset, "look up", &key))
        })
    }

    /// The size in bytes of the value of `key` (decrypted size for an
    /// encrypted view), or `None` if there is no such key.
    fn size<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let (dataset, blocking) = self.call();
        ready_or_await(py, blocking, async move {
            dataset
                .size(&key)
                .await
                .map_err(at(&dataset, "size of", &key))
        })
    }

    /// The total size of the values of every key starting with `prefix`.
    fn size_prefix<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        ready_or_await(py, true, async move {
            dataset
                .size_prefix(&prefix)
                .await
                .map_err(at(&dataset, "size of keys under", &prefix))
        })
    }

    /// Every key starting with `prefix` (all keys for `""`), sorted.
    #[pyo3(signature = (prefix = String::new()))]
    fn keys<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        ready_or_await(py, true, async move {
            dataset.keys_with_prefix(&prefix).await.map_err(at(
                &dataset,
                "list keys under",
                &prefix,
            ))
        })
    }

    /// The names directly under `prefix` (zarr-python's `list_dir`), sorted.
    fn list_dir<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        ready_or_await(py, true, async move {
            let listing = dataset.list_dir(&prefix).await.map_err(at(
                &dataset,
                "list keys under",
                &prefix,
            ))?;
            Ok(listing.names())
        })
    }

    /// Number of keys.
    fn len<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        ready_or_await(py, true, async move {
            dataset.len().await.map_err(doing(&dataset, "count keys"))
        })
    }

    // ------------------------------------------------------------ writes

    /// Sets `key` to `value` (encrypted in an encrypted view).
    fn set<'py>(
        &self,
        py: Python<'py>,
        key: String,
        value: PyBackedBytes,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (dataset, blocking) = self.call();
        let release_gil = blocking || value.len() >= SMALL_VALUE;
        ready_or_await(py, release_gil, async move {
            dataset
                .set(&key, Bytes::from_owner(value))
                .await
                .map_err(at(&dataset, "set", &key))?;
            Ok(Nothing)
        })
    }

    /// Sets every `(key, value)` of `items`, hashing them in parallel; the
    /// root is the same as setting them one by one, in order.
    fn set_many<'py>(
        &self,
        py: Python<'py>,
        items: Vec<(String, PyBackedBytes)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        ready_or_await(py, true, async move {
            let op = format!(
                "set {} keys (from {:?})",
                items.len(),
                items.first().map_or("", |(k, _)| k.as_str())
            );
            let entries = items
                .into_iter()
                .map(|(key, value)| (key, Bytes::from_owner(value)))
                .collect();
            dataset
                .set_many(entries)
                .await
                .map_err(doing(&dataset, &op))?;
            Ok(Nothing)
        })
    }

    /// Removes `key`; returns whether it was there.
    fn delete<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let (dataset, blocking) = self.call();
        ready_or_await(py, blocking, async move {
            dataset
                .delete(&key)
                .await
                .map_err(at(&dataset, "delete", &key))
        })
    }

    /// Removes every key starting with `prefix`; returns how many.
    fn delete_prefix<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        ready_or_await(py, true, async move {
            dataset
                .delete_prefix(&prefix)
                .await
                .map_err(at(&dataset, "delete keys under", &prefix))
        })
    }

    /// Removes every key.
    fn clear<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        ready_or_await(py, true, async move {
            dataset.clear().await.map_err(doing(&dataset, "clear"))?;
            Ok(Nothing)
        })
    }

    /// Flushes, then freezes every view before any other write can start
    /// (py-hamt's `make_read_only`); returns the root CID.
    fn flush_and_freeze<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        ready_or_await(py, true, async move {
            let root = dataset
                .flush_and_freeze()
                .await
                .map_err(doing(&dataset, "flush"))?;
            Ok(root.to_string())
        })
    }

    /// Writes every change to the backend and returns the root CID (for a
    /// read-only HAMT, the root it was opened at).
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dataset = self.dataset.clone();
        ready_or_await(py, true, async move {
            let root = dataset.flush().await.map_err(doing(&dataset, "flush"))?;
            Ok(root.to_string())
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "HamtCore(root={}, read_only={}, encrypted={})",
            self.root_cid().unwrap_or_else(|| "<unflushed>".into()),
            self.read_only(),
            self.encryption.is_some()
        )
    }

    /// Pickles as the recipe `restore_core` follows: in this process, the
    /// same live HAMT; elsewhere, the HAMT reopened from its root on the
    /// rebuilt backend (unflushed changes cannot leave the process).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let restore = py.import("hamt_rs._native")?.getattr("_restore_core")?;
        let root = self.dataset.try_root_cid();
        let dirty = self.dataset.try_is_dirty();
        let (key, header) = match &self.encryption {
            Some(e) => (Some(e.key.to_vec()), Some(e.header.clone())),
            None => (None, None),
        };
        let args = (
            self.state().backend.clone_ref(py),
            self.state().token,
            root.map(|c| c.to_string()),
            !self.read_only(),
            dirty,
            key.map(|k| PyBytes::new(py, &k)),
            header.map(|h| PyBytes::new(py, &h)),
            self.frozen(),
            self.dataset.is_read_only_view(),
        );
        (restore, args).into_pyobject(py)
    }
}

/// The dataset whose root is `root`, on whichever layout it is.
async fn open_layout(store: DynStore, root: Cid, config: &Configs) -> Result<PyLayout, Error> {
    AnyLayout::open(store, root, config.hamt.clone(), config.sharded.clone())
        .await
        .map_err(|source| Error::Dataset {
            op: format!("open the dataset at root {root}"),
            source,
            read_only: None,
        })
}

/// A dataset just opened, made into a `HamtCore` (with the GIL) when returned.
struct Opened {
    backend: Py<PyAny>,
    layout: PyLayout,
    config: Configs,
    writable: bool,
    encryption: Option<Encryption>,
}

impl<'py> IntoPyObject<'py> for Opened {
    type Target = HamtCore;
    type Output = Bound<'py, HamtCore>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let core = HamtCore::from_layout(
            self.backend.bind(py),
            self.layout,
            self.config,
            self.writable,
            new_token(),
        )?;
        let core = match self.encryption {
            Some(encryption) => core.view(Some(encryption), false),
            None => core,
        };
        Bound::new(py, core)
    }
}

/// Converts the HAMT dataset at `hamt_root` on `backend` to a new sharded
/// store (py-hamt's `convert_hamt_to_sharded`), copying CIDs only; returns
/// its root and the chunk keys dropped (outside their arrays' grids).
#[pyfunction]
#[pyo3(signature = (backend, hamt_root, chunks_per_shard = hamt_zarr::DEFAULT_CHUNKS_PER_SHARD))]
pub(crate) fn convert_hamt_to_sharded<'py>(
    py: Python<'py>,
    backend: &Bound<'py, PyAny>,
    hamt_root: &str,
    chunks_per_shard: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let root = parse_cid(hamt_root)?;
    let store = store_of(backend)?;
    ready_or_await(py, true, async move {
        let converted = hamt_zarr::convert::hamt_to_sharded(store, root, chunks_per_shard)
            .await
            .map_err(|e| Error::Dataset {
                op: format!("convert the HAMT at root {root}"),
                source: e.into(),
                read_only: None,
            })?;
        Ok((converted.root.to_string(), converted.dropped))
    })
}

/// Rebuilds a pickled `HamtCore` (see `HamtCore.__reduce__`). Not for direct use.
#[pyfunction]
#[pyo3(name = "_restore_core")]
#[pyo3(signature = (backend, token, root, writable, dirty, key, header, frozen = false, read_only_view = false))]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
pub(crate) fn restore_core(
    py: Python<'_>,
    backend: &Bound<'_, PyAny>,
    token: u64,
    root: Option<String>,
    writable: bool,
    dirty: bool,
    key: Option<Vec<u8>>,
    header: Option<&[u8]>,
    frozen: bool,
    read_only_view: bool,
) -> PyResult<HamtCore> {
    let core = if let Some(shared) = STATES.find(token) {
        let dataset = shared.1.clone();
        HamtCore {
            shared,
            dataset,
            encryption: None,
        }
    } else if dirty {
        return Err(PyValueError::new_err(
            "this HAMT had unflushed changes when it was pickled, and they cannot leave \
             the process that made them: flush() before pickling",
        ));
    } else {
        let store = store_of(backend)?;
        let config = Configs::new(None);
        let layout = match root {
            Some(root) => {
                let cid = parse_cid(&root)?;
                block_on(py, open_layout(store, cid, &config))?
            }
            None => AnyLayout::Hamt(Hamt::new(store, config.hamt.clone())),
        };
        let core = HamtCore::from_layout(backend, layout, config, writable, token)?;
        if frozen {
            core.dataset.freeze();
        }
        core
    };
    let encryption = key
        .map(|key| Encryption::new(&key, header.unwrap_or_default()))
        .transpose()?;
    Ok(core.view(encryption, read_only_view))
}
