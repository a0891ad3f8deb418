//! The block stores a HAMT can live on, as Python classes: in memory, an
//! embedded RocksDB directory, or a Kubo (IPFS) daemon.
//!
//! Each backend has a random token. Pickling a backend records the token
//! and how to rebuild it; unpickling in the same process gives back the
//! same live store (so a pickled and unpickled zarr store sees the same
//! blocks), and in another process rebuilds it (RocksDB, Kubo) or fails
//! with a clear error (memory).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures::FutureExt;
use hamt::{BlockStore, Cid};
use hamt_store::{Block, MemoryStore, StoreError};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use crate::errors::{Error, store_error};

/// A block store behind any backend, as the HAMT uses it.
pub(crate) type DynStore = Arc<dyn BlockStore>;

/// The store of a backend object (any of the classes here).
pub(crate) fn store_of(backend: &Bound<'_, PyAny>) -> PyResult<DynStore> {
    if let Ok(memory) = backend.cast::<MemoryBackend>() {
        let store: DynStore = memory.get().store.clone();
        return Ok(store);
    }
    #[cfg(feature = "rocksdb")]
    if let Ok(rocks) = backend.cast::<RocksDbBackend>() {
        let store: DynStore = rocks.get().store.clone();
        return Ok(store);
    }
    #[cfg(feature = "kubo")]
    if let Ok(kubo) = backend.cast::<KuboBackend>() {
        let store: DynStore = kubo.get().store.clone();
        return Ok(store);
    }
    Err(PyTypeError::new_err(format!(
        "expected a MemoryBackend, RocksDbBackend or KuboBackend, got {}",
        backend.get_type().name()?
    )))
}

/// Whether the backend does its I/O synchronously on the polling thread
/// (RocksDB); the others finish at once (memory) or wait asynchronously (Kubo).
pub(crate) fn blocks_on_io(backend: &Bound<'_, PyAny>) -> bool {
    #[cfg(feature = "rocksdb")]
    if backend.is_instance_of::<RocksDbBackend>() {
        return true;
    }
    let _ = backend;
    false
}

/// Parses a CID string (`bafy...`), naming it on failure.
pub(crate) fn parse_cid(text: &str) -> Result<Cid, Error> {
    Cid::try_from(text).map_err(|e| Error::InvalidCid {
        text: text.to_owned(),
        reason: e.to_string(),
    })
}

// ------------------------------------------------------------------ tokens

/// A random token: distinct between backends and between processes.
pub(crate) fn new_token() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one((std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// Live stores of this process by token, so unpickling finds them again.
/// `const`, so each kind of store has a plain `static` registry.
pub(crate) struct Registry<T: ?Sized>(Mutex<BTreeMap<u64, Weak<T>>>);

impl<T: ?Sized> Registry<T> {
    pub(crate) const fn new() -> Self {
        Registry(Mutex::new(BTreeMap::new()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Weak<T>>> {
        // Every statement leaves the map consistent: a poisoned lock is fine.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn register(&self, token: u64, value: &Arc<T>) {
        let mut map = self.lock();
        map.retain(|_, weak| weak.strong_count() > 0);
        map.insert(token, Arc::downgrade(value));
    }

    pub(crate) fn find(&self, token: u64) -> Option<Arc<T>> {
        self.lock().get(&token).and_then(Weak::upgrade)
    }

    /// The live value of `token`, or a new one from `open`, registered.
    /// `open` runs without the lock held (opening a store can take a while).
    pub(crate) fn find_or_open(
        &self,
        token: u64,
        open: impl FnOnce() -> PyResult<Arc<T>>,
    ) -> PyResult<Arc<T>> {
        if let Some(found) = self.find(token) {
            return Ok(found);
        }
        let opened = open()?;
        self.register(token, &opened);
        Ok(opened)
    }
}

static MEMORY_STORES: Registry<MemoryStore> = Registry::new();

/// Rebuilds a pickled backend (see the module docs). Not for direct use.
#[pyfunction]
#[pyo3(name = "_restore_backend")]
pub(crate) fn restore_backend(
    py: Python<'_>,
    kind: &str,
    token: u64,
    spec: &Bound<'_, PyDict>,
) -> PyResult<Py<PyAny>> {
    match kind {
        "memory" => {
            let store = MEMORY_STORES.find(token).ok_or_else(|| {
                PyValueError::new_err(
                    "a MemoryBackend cannot be unpickled outside the process that made it \
                     (its blocks live in that process's memory); use RocksDbBackend or \
                     KuboBackend to share a HAMT between processes",
                )
            })?;
            Ok(Py::new(py, MemoryBackend { token, store })?.into_any())
        }
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Ok(RocksDbBackend::restore(py, token, spec)?.into_any()),
        #[cfg(feature = "kubo")]
        "kubo" => Ok(KuboBackend::restore(py, token, spec)?.into_any()),
        other => {
            let _ = spec;
            Err(PyValueError::new_err(format!(
                "cannot unpickle a {other:?} backend: this build of hamt_rs does not include it"
            )))
        }
    }
}

/// `(hamt_rs._native._restore_backend, (kind, token, spec))`, a pickle's recipe.
fn reduce<'py>(
    py: Python<'py>,
    kind: &str,
    token: u64,
    spec: Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyTuple>> {
    let restore = py.import("hamt_rs._native")?.getattr("_restore_backend")?;
    (restore, (kind, token, spec)).into_pyobject(py)
}

// ------------------------------------------------------------------ memory

/// Blocks in this process's memory: for tests, caches and scratch work.
/// Gone when the last HAMT or store using it is.
#[pyclass(frozen, module = "hamt_rs._native")]
pub(crate) struct MemoryBackend {
    token: u64,
    store: Arc<MemoryStore>,
}

#[pymethods]
impl MemoryBackend {
    #[new]
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let token = new_token();
        MEMORY_STORES.register(token, &store);
        MemoryBackend { token, store }
    }

    /// Number of blocks held.
    fn __len__(&self) -> usize {
        self.store.len()
    }

    /// Total bytes of the blocks held.
    #[getter]
    fn total_bytes(&self) -> usize {
        self.store.total_bytes()
    }

    /// The CIDs of every block held, in no particular order.
    fn cids(&self) -> Vec<String> {
        self.store.cids().iter().map(ToString::to_string).collect()
    }

    /// Stores block `data` under `cid`, checking that it hashes to `cid`
    /// (to copy blocks in, e.g. from py-hamt's in-memory store).
    fn put_block(&self, cid: &str, data: Vec<u8>) -> PyResult<()> {
        let cid = parse_cid(cid)?;
        let block = Block::verified(cid, bytes::Bytes::from(data))
            .map_err(|e| store_error(&format!("put block {cid}"), e))?;
        // The memory store answers at once; anything else is an error, never
        // a silent success.
        let Some(put) = self.store.put_block(block).now_or_never() else {
            return Err(PyRuntimeError::new_err(format!(
                "put block {cid}: the memory store did not answer at once"
            )));
        };
        put.map_err(|e| store_error(&format!("put block {cid}"), e))
    }

    /// The bytes of block `cid` (checked against it), or `None` if absent.
    fn get_block<'py>(&self, py: Python<'py>, cid: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let cid = parse_cid(cid)?;
        match self.store.get(&cid).now_or_never() {
            Some(Ok(data)) => Ok(Some(PyBytes::new(py, &data))),
            Some(Err(StoreError::NotFound(_))) => Ok(None),
            Some(Err(e)) => Err(store_error(&format!("get block {cid}"), e)),
            None => Err(PyRuntimeError::new_err(format!(
                "get block {cid}: the memory store did not answer at once"
            ))),
        }
    }

    /// Stores `data` under `cid` without checking that it hashes to it:
    /// only for tests that need a corrupt block.
    fn _put_unverified(&self, cid: &str, data: Vec<u8>) -> PyResult<()> {
        self.store
            .insert_unverified(parse_cid(cid)?, bytes::Bytes::from(data));
        Ok(())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<MemoryBackend>()
            .is_ok_and(|o| o.get().token == self.token)
    }

    fn __hash__(&self) -> u64 {
        self.token
    }

    fn __repr__(&self) -> String {
        format!("MemoryBackend(<{} blocks>)", self.store.len())
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        reduce(py, "memory", self.token, PyDict::new(py))
    }
}

// ----------------------------------------------------------------- rocksdb

#[cfg(feature = "rocksdb")]
pub(crate) use rocks::RocksDbBackend;

#[cfg(feature = "rocksdb")]
mod rocks {
    use super::{Arc, PyDict, PyTuple, Registry, new_token, parse_cid, reduce};
    use crate::errors::store_error;
    use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
    use pyo3::prelude::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    static STORES: Registry<RocksDbStore> = Registry::new();

    /// The embedded block store: a RocksDB directory on disk, with durable
    /// named roots. One process may open a directory writable (many may
    /// open it `read_only`).
    #[pyclass(frozen, module = "hamt_rs._native")]
    pub(crate) struct RocksDbBackend {
        pub(super) token: u64,
        pub(crate) store: Arc<RocksDbStore>,
    }

    impl RocksDbBackend {
        fn open(py: Python<'_>, path: &PathBuf, read_only: bool) -> PyResult<Arc<RocksDbStore>> {
            let options = if read_only {
                RocksDbOptions::read_only()
            } else {
                RocksDbOptions::default()
            };
            let store = py
                .detach(|| RocksDbStore::open(path, &options))
                .map_err(|e| store_error(&format!("open RocksDB at {}", path.display()), e))?;
            Ok(Arc::new(store))
        }

        pub(super) fn restore(
            py: Python<'_>,
            token: u64,
            spec: &Bound<'_, PyDict>,
        ) -> PyResult<Py<RocksDbBackend>> {
            let store = STORES.find_or_open(token, || {
                let path: PathBuf = spec
                    .get_item("path")?
                    .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("no path"))?
                    .extract()?;
                let read_only: bool = spec
                    .get_item("read_only")?
                    .map_or(Ok(false), |v| v.extract())?;
                Self::open(py, &path, read_only)
            })?;
            Py::new(py, RocksDbBackend { token, store })
        }
    }

    #[pymethods]
    impl RocksDbBackend {
        /// Opens (creating if needed) the RocksDB block store at `path`.
        #[new]
        #[pyo3(signature = (path, *, read_only = false))]
        #[allow(clippy::needless_pass_by_value)] // PyO3 extracts paths owned
        fn new(py: Python<'_>, path: PathBuf, read_only: bool) -> PyResult<Self> {
            let store = Self::open(py, &path, read_only)?;
            let token = new_token();
            STORES.register(token, &store);
            Ok(RocksDbBackend { token, store })
        }

        /// The directory of the store.
        #[getter]
        fn path(&self) -> PathBuf {
            self.store.path().to_path_buf()
        }

        /// Whether the store was opened read-only.
        #[getter]
        fn read_only(&self) -> bool {
            self.store.is_read_only()
        }

        /// Names `cid` durably as root `name` (every block written before is
        /// made durable first). The root's block must be in the store.
        fn set_root(&self, py: Python<'_>, name: &str, cid: &str) -> PyResult<()> {
            let cid = parse_cid(cid)?;
            py.detach(|| self.store.set_root(name, &cid))
                .map_err(|e| store_error(&format!("set root {name:?} to {cid}"), e))
        }

        /// The CID named `name`, or `None`.
        fn root(&self, py: Python<'_>, name: &str) -> PyResult<Option<String>> {
            let root = py
                .detach(|| self.store.root(name))
                .map_err(|e| store_error(&format!("read root {name:?}"), e))?;
            Ok(root.map(|cid| cid.to_string()))
        }

        /// Every named root, name to CID.
        fn roots(&self, py: Python<'_>) -> PyResult<BTreeMap<String, String>> {
            let roots = py
                .detach(|| self.store.roots())
                .map_err(|e| store_error("list roots", e))?;
            Ok(roots
                .into_iter()
                .map(|(name, cid)| (name, cid.to_string()))
                .collect())
        }

        /// Removes the root `name`, returning the CID it named, if any.
        fn remove_root(&self, py: Python<'_>, name: &str) -> PyResult<Option<String>> {
            let old = py
                .detach(|| self.store.remove_root(name))
                .map_err(|e| store_error(&format!("remove root {name:?}"), e))?;
            Ok(old.map(|cid| cid.to_string()))
        }

        fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
            other
                .cast::<RocksDbBackend>()
                .is_ok_and(|o| o.get().token == self.token)
        }

        fn __hash__(&self) -> u64 {
            self.token
        }

        fn __repr__(&self) -> String {
            format!(
                "RocksDbBackend({:?}, read_only={})",
                self.store.path().display(),
                if self.store.is_read_only() {
                    "True"
                } else {
                    "False"
                }
            )
        }

        fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
            let spec = PyDict::new(py);
            spec.set_item("path", self.store.path())?;
            spec.set_item("read_only", self.store.is_read_only())?;
            reduce(py, "rocksdb", self.token, spec)
        }
    }
}

// -------------------------------------------------------------------- kubo

#[cfg(feature = "kubo")]
pub(crate) use kubo::KuboBackend;

#[cfg(feature = "kubo")]
mod kubo {
    use super::{Arc, PyDict, PyTuple, Registry, new_token, reduce};
    use hamt_kubo::KuboStore;
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use std::time::Duration;

    static STORES: Registry<KuboStore> = Registry::new();

    /// How a Kubo backend was made, to rebuild it when unpickled. It holds
    /// the credentials, so a pickle does too, in clear (the README says so).
    #[derive(Clone, Default)]
    struct KuboSpec {
        rpc_url: Option<String>,
        gateways: Vec<String>,
        headers: Vec<(String, String)>,
        bearer_token: Option<String>,
        basic_auth: Option<(String, String)>,
        retries: Option<u32>,
        retry_delay: Option<f64>,
        backoff_factor: Option<f64>,
        timeout: Option<f64>,
        concurrency: Option<usize>,
        pin_on_put: bool,
    }

    fn seconds(what: &str, value: f64) -> PyResult<Duration> {
        Duration::try_from_secs_f64(value)
            .map_err(|_| PyValueError::new_err(format!("{what} must be >= 0 seconds, got {value}")))
    }

    impl KuboSpec {
        fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
            let dict = PyDict::new(py);
            dict.set_item("rpc_url", &self.rpc_url)?;
            dict.set_item("gateways", &self.gateways)?;
            dict.set_item("headers", &self.headers)?;
            dict.set_item("bearer_token", &self.bearer_token)?;
            dict.set_item("basic_auth", &self.basic_auth)?;
            dict.set_item("retries", self.retries)?;
            dict.set_item("retry_delay", self.retry_delay)?;
            dict.set_item("backoff_factor", self.backoff_factor)?;
            dict.set_item("timeout", self.timeout)?;
            dict.set_item("concurrency", self.concurrency)?;
            dict.set_item("pin_on_put", self.pin_on_put)?;
            Ok(dict)
        }

        fn from_dict(dict: &Bound<'_, PyDict>) -> PyResult<Self> {
            fn item<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(
                dict: &Bound<'py, PyDict>,
                name: &str,
            ) -> PyResult<T> {
                dict.get_item(name)?
                    .ok_or_else(|| {
                        PyValueError::new_err(format!("pickled KuboBackend: no {name}"))
                    })?
                    .extract()
                    .map_err(Into::into)
            }
            Ok(KuboSpec {
                rpc_url: item(dict, "rpc_url")?,
                gateways: item(dict, "gateways")?,
                headers: item(dict, "headers")?,
                bearer_token: item(dict, "bearer_token")?,
                basic_auth: item(dict, "basic_auth")?,
                retries: item(dict, "retries")?,
                retry_delay: item(dict, "retry_delay")?,
                backoff_factor: item(dict, "backoff_factor")?,
                timeout: item(dict, "timeout")?,
                concurrency: item(dict, "concurrency")?,
                pin_on_put: item(dict, "pin_on_put")?,
            })
        }

        fn build(&self) -> PyResult<KuboStore> {
            let mut builder = KuboStore::builder().gateways(self.gateways.iter().cloned());
            if let Some(url) = &self.rpc_url {
                builder = builder.rpc_url(url.clone());
            }
            for (name, value) in &self.headers {
                builder = builder.header(name.clone(), value.clone());
            }
            if let Some(token) = &self.bearer_token {
                builder = builder.bearer_token(token.clone());
            }
            if let Some((user, password)) = &self.basic_auth {
                builder = builder.basic_auth(user.clone(), password.clone());
            }
            if let Some(retries) = self.retries {
                builder = builder.retries(retries);
            }
            if let Some(delay) = self.retry_delay {
                builder = builder.retry_delay(seconds("retry_delay", delay)?);
            }
            if let Some(factor) = self.backoff_factor {
                builder = builder.backoff_factor(factor);
            }
            if let Some(timeout) = self.timeout {
                builder = builder.timeout(seconds("timeout", timeout)?);
            }
            if let Some(requests) = self.concurrency {
                builder = builder.concurrency(requests);
            }
            builder = builder.pin_on_put(self.pin_on_put);
            builder
                .build()
                .map_err(|e| PyValueError::new_err(format!("KuboBackend: {e}")))
        }
    }

    /// Blocks on an IPFS (Kubo) daemon: written with the RPC API's
    /// `block/put` (when `rpc_url` is given), read from trustless gateways
    /// (or the RPC API), every block verified, with retries and a cap on
    /// requests in flight. Credentials never appear in `repr` or errors.
    #[pyclass(frozen, module = "hamt_rs._native")]
    pub(crate) struct KuboBackend {
        pub(super) token: u64,
        pub(super) store: Arc<KuboStore>,
        spec: KuboSpec,
    }

    impl KuboBackend {
        pub(super) fn restore(
            py: Python<'_>,
            token: u64,
            spec: &Bound<'_, PyDict>,
        ) -> PyResult<Py<KuboBackend>> {
            let spec = KuboSpec::from_dict(spec)?;
            let store = STORES.find_or_open(token, || Ok(Arc::new(spec.build()?)))?;
            Py::new(py, KuboBackend { token, store, spec })
        }
    }

    #[pymethods]
    impl KuboBackend {
        /// A Kubo backend. `rpc_url` (e.g. `http://127.0.0.1:5001`) enables
        /// writes; `gateways` are trustless gateways to read from (reads go
        /// to the RPC API when there are none). `headers`, `bearer_token`
        /// and `basic_auth` authenticate every request; `retries`,
        /// `retry_delay` (seconds), `backoff_factor` govern retries of
        /// transient failures; `timeout` (seconds) bounds each request;
        /// `concurrency` caps requests in flight; `pin_on_put` pins blocks
        /// as they are written.
        #[new]
        #[pyo3(signature = (
            rpc_url = None, gateways = None, *, headers = None, bearer_token = None,
            basic_auth = None, retries = None, retry_delay = None, backoff_factor = None,
            timeout = None, concurrency = None, pin_on_put = false,
        ))]
        #[allow(clippy::too_many_arguments)]
        fn new(
            rpc_url: Option<String>,
            gateways: Option<Vec<String>>,
            headers: Option<std::collections::BTreeMap<String, String>>,
            bearer_token: Option<String>,
            basic_auth: Option<(String, String)>,
            retries: Option<u32>,
            retry_delay: Option<f64>,
            backoff_factor: Option<f64>,
            timeout: Option<f64>,
            concurrency: Option<usize>,
            pin_on_put: bool,
        ) -> PyResult<Self> {
            let spec = KuboSpec {
                rpc_url,
                gateways: gateways.unwrap_or_default(),
                headers: headers.unwrap_or_default().into_iter().collect(),
                bearer_token,
                basic_auth,
                retries,
                retry_delay,
                backoff_factor,
                timeout,
                concurrency,
                pin_on_put,
            };
            let store = Arc::new(spec.build()?);
            let token = new_token();
            STORES.register(token, &store);
            Ok(KuboBackend { token, store, spec })
        }

        /// Whether the backend can write (it has an RPC URL).
        #[getter]
        fn writable(&self) -> bool {
            self.store.is_writable()
        }

        fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
            other
                .cast::<KuboBackend>()
                .is_ok_and(|o| o.get().token == self.token)
        }

        fn __hash__(&self) -> u64 {
            self.token
        }

        fn __repr__(&self) -> String {
            format!("KuboBackend({:?})", self.store)
        }

        fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
            let spec = self.spec.to_dict(py)?;
            reduce(py, "kubo", self.token, spec)
        }
    }
}
