//! `HamtCore`: one HAMT on a backend, as the Python classes `HAMT` and
//! `ZarrHamtStore` use it. Every method returns its result directly when it
//! finished without I/O, or an `asyncio.Future` (see [`crate::ready`]).
//!
//! A writable HAMT sits behind a tokio `RwLock` (reads share it, writes take
//! it alone); one opened read-only from a root CID is shared with no lock.
//! Views made by `with_encryption` share the HAMT and differ in how values
//! are stored: verbatim (py-hamt's `ZarrHAMTStore`) or encrypted with
//! `hamt_zarr`'s [`EncryptedValues`] (py-hamt's `SimpleEncryptedZarrHAMTStore`).

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, future, stream};
use hamt::{ByteRange, Hamt, HamtConfig, HamtError};
use hamt_zarr::{ENCRYPTION_OVERHEAD, EncryptedValues, ValueCodec};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyTuple};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crate::backend::{DynStore, Registry, blocks_on_io, new_token, parse_cid, store_of};
use crate::errors::Error;
use crate::ready::{Nothing, block_on, ready_or_await};

type DynHamt = Hamt<DynStore>;

/// Values below this size are hashed with the GIL held when the backend
/// cannot block: releasing and retaking the GIL costs more than the work,
/// and under contention a retake can wait a whole switch interval (5 ms).
const SMALL_VALUE: usize = 64 * 1024;

/// Reads in flight at once for one batch call (the backend caps requests too).
const BATCH_CONCURRENCY: usize = 256;

enum Access {
    Writable(Arc<RwLock<DynHamt>>),
    ReadOnly(Arc<DynHamt>),
}

/// One HAMT, shared by every view of it.
struct State {
    token: u64,
    access: Access,
    store: DynStore,
    config: HamtConfig,
    /// The Python backend object (kept for `backend` and pickling).
    backend: Py<PyAny>,
    /// Whether the backend reads and writes synchronously (RocksDB), so a
    /// first poll may wait on the disk and must not hold the GIL.
    blocking_io: bool,
}

/// A HAMT to read: under the read lock, or shared read-only.
enum Reader {
    Locked(OwnedRwLockReadGuard<DynHamt>),
    Shared(Arc<DynHamt>),
}

impl Deref for Reader {
    type Target = DynHamt;
    fn deref(&self) -> &DynHamt {
        match self {
            Reader::Locked(guard) => guard,
            Reader::Shared(hamt) => hamt,
        }
    }
}

impl State {
    async fn reader(&self) -> Reader {
        match &self.access {
            Access::Writable(lock) => Reader::Locked(lock.clone().read_owned().await),
            Access::ReadOnly(hamt) => Reader::Shared(hamt.clone()),
        }
    }

    async fn writer(
        &self,
        op: impl FnOnce() -> String,
    ) -> Result<OwnedRwLockWriteGuard<DynHamt>, Error> {
        match &self.access {
            Access::Writable(lock) => Ok(lock.clone().write_owned().await),
            Access::ReadOnly(_) => Err(Error::ReadOnly { op: op() }),
        }
    }
}

/// Live HAMTs of this process by token, so unpickling finds them again.
static STATES: Registry<State> = Registry::new();

/// The encryption of a view: the codec and what made it (for equality and pickling).
#[derive(Clone)]
struct Encryption {
    values: Arc<EncryptedValues>,
    key: [u8; 32],
    header: Vec<u8>,
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

/// Names the operation in an error, formatting it only when there is one.
fn at<'a>(op: &'static str, key: &'a str) -> impl FnOnce(HamtError) -> Error + 'a {
    move |source| Error::Hamt {
        op: format!("{op} {key:?}"),
        source: Box::new(source),
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

/// The value of `key` (decrypted), or the part of it `range` selects
/// (clamped to its end, as py-hamt and zarr-python do).
async fn read_value(
    hamt: &DynHamt,
    encryption: Option<&Encryption>,
    key: &str,
    range: ByteRange,
) -> Result<Option<Bytes>, Error> {
    let Some(encryption) = encryption else {
        return hamt.get_range(key, range).await.map_err(at("get", key));
    };
    let Some(stored) = hamt.get(key).await.map_err(at("get", key))? else {
        return Ok(None);
    };
    let value = encryption.values.decode(key, stored)?;
    Ok(Some(value.slice(range.to_index_range(value.len()))))
}

/// Sorted keys of `hamt` starting with `prefix`.
async fn keys_with_prefix(hamt: &DynHamt, prefix: &str) -> Result<Vec<String>, Error> {
    let mut keys: Vec<String> = hamt
        .keys()
        .try_filter(|key| future::ready(key.starts_with(prefix)))
        .try_collect()
        .await
        .map_err(at("list keys under", prefix))?;
    keys.sort_unstable();
    Ok(keys)
}

/// The names directly under `prefix` (zarr-python's `list_dir`): the first
/// path component after `prefix/` of every key under it, once each, sorted.
fn dir_children(keys: &[String], prefix: &str) -> Vec<String> {
    let base = prefix.trim_end_matches('/');
    let base = if base.is_empty() {
        String::new()
    } else {
        format!("{base}/")
    };
    let children: BTreeSet<&str> = keys
        .iter()
        .filter_map(|key| key.strip_prefix(base.as_str()))
        .filter(|rest| !rest.is_empty())
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .collect();
    children.into_iter().map(str::to_owned).collect()
}

/// One HAMT (or an encrypted view of it) for the Python package. Not for
/// direct use: `hamt_rs.HAMT` and `hamt_rs.ZarrHamtStore` wrap it.
#[pyclass(frozen, module = "hamt_rs._native")]
pub(crate) struct HamtCore {
    state: Arc<State>,
    encryption: Option<Encryption>,
}

impl HamtCore {
    fn from_hamt(
        backend: &Bound<'_, PyAny>,
        hamt: DynHamt,
        writable: bool,
        token: u64,
    ) -> PyResult<HamtCore> {
        let store = store_of(backend)?;
        let config = hamt.config().clone();
        let access = if writable {
            Access::Writable(Arc::new(RwLock::new(hamt)))
        } else {
            Access::ReadOnly(Arc::new(hamt))
        };
        let state = Arc::new(State {
            token,
            access,
            store: store.clone(),
            config,
            backend: backend.clone().unbind(),
            blocking_io: blocks_on_io(backend),
        });
        STATES.register(token, &state);
        Ok(HamtCore {
            state,
            encryption: None,
        })
    }

    fn config(cache_bytes: Option<usize>) -> HamtConfig {
        let config = HamtConfig::default();
        match cache_bytes {
            Some(bytes) => config.with_cache_bytes(bytes),
            None => config,
        }
    }
}

#[pymethods]
impl HamtCore {
    /// A new, empty, writable HAMT on `backend`.
    #[staticmethod]
    #[pyo3(signature = (backend, cache_bytes = None))]
    fn new(backend: &Bound<'_, PyAny>, cache_bytes: Option<usize>) -> PyResult<HamtCore> {
        let store = store_of(backend)?;
        let hamt = Hamt::new(store, Self::config(cache_bytes));
        Self::from_hamt(backend, hamt, true, new_token())
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
        let config = Self::config(cache_bytes);
        ready_or_await(py, true, async move {
            let hamt = Hamt::open(store, cid, config)
                .await
                .map_err(|source| Error::Hamt {
                    op: format!("open the HAMT at root {cid}"),
                    source: Box::new(source),
                })?;
            Ok(Opened {
                backend,
                hamt,
                writable,
            })
        })
    }

    /// A view of the same HAMT whose values are encrypted as py-hamt's
    /// `SimpleEncryptedZarrHAMTStore(hamt, read_only, encryption_key, header)`
    /// does: XChaCha20-Poly1305, a 32-byte key, `header` as associated data.
    fn with_encryption(&self, key: &[u8], header: &[u8]) -> PyResult<HamtCore> {
        let key: [u8; 32] = key.try_into().map_err(|_| {
            PyValueError::new_err(format!(
                "encryption_key must be 32 bytes, got {}",
                key.len()
            ))
        })?;
        Ok(HamtCore {
            state: self.state.clone(),
            encryption: Some(Encryption {
                values: Arc::new(EncryptedValues::new(key, header.to_vec())),
                key,
                header: header.to_vec(),
            }),
        })
    }

    /// A new writable HAMT starting from this one's root (which must be
    /// flushed), sharing the backend; this one is unchanged.
    fn writable_copy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        let encryption = self.encryption.clone();
        let backend = self.state.backend.clone_ref(py);
        ready_or_await(py, true, async move {
            let root = state.reader().await.root_cid();
            let hamt = match root {
                Some(root) => Hamt::open(state.store.clone(), root, state.config.clone())
                    .await
                    .map_err(|source| Error::Hamt {
                        op: format!("open the HAMT at root {root}"),
                        source: Box::new(source),
                    })?,
                None => {
                    return Err(Error::Value(
                        "the HAMT has unflushed changes: flush() before making a writable copy"
                            .into(),
                    ));
                }
            };
            Ok(Copied {
                backend,
                hamt,
                encryption,
            })
        })
    }

    /// Whether both are views of the same HAMT with the same encryption.
    fn same_as(&self, other: &HamtCore) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
            && match (&self.encryption, &other.encryption) {
                (None, None) => true,
                (Some(a), Some(b)) => a.key == b.key && a.header == b.header,
                _ => false,
            }
    }

    /// The backend the HAMT lives on.
    #[getter]
    fn backend(&self, py: Python<'_>) -> Py<PyAny> {
        self.state.backend.clone_ref(py)
    }

    /// Whether the HAMT was opened read-only (from a root CID).
    #[getter]
    fn read_only(&self) -> bool {
        matches!(self.state.access, Access::ReadOnly(_))
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
        let root = match &self.state.access {
            Access::Writable(lock) => lock.try_read().ok()?.root_cid(),
            Access::ReadOnly(hamt) => hamt.root_cid(),
        };
        root.map(|cid| cid.to_string())
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
        let state = self.state.clone();
        let encryption = self.encryption.clone();
        let range = byte_range(offset, length, suffix);
        let release_gil = state.blocking_io;
        ready_or_await(py, release_gil, async move {
            let hamt = state.reader().await;
            let value = read_value(&hamt, encryption.as_ref(), &key, range).await?;
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
        let state = self.state.clone();
        let encryption = self.encryption.clone();
        ready_or_await(py, true, async move {
            let hamt = state.reader().await;
            let hamt = &*hamt;
            let encryption = encryption.as_ref();
            stream::iter(requests)
                .map(|(key, offset, length, suffix)| async move {
                    let range = byte_range(offset, length, suffix);
                    let value = read_value(hamt, encryption, &key, range).await?;
                    Ok::<_, Error>(value.map(Value))
                })
                .buffered(BATCH_CONCURRENCY)
                .try_collect::<Vec<_>>()
                .await
        })
    }

    /// Whether `key` is present.
    fn contains<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        let release_gil = state.blocking_io;
        ready_or_await(py, release_gil, async move {
            let hamt = state.reader().await;
            hamt.contains_key(&key).await.map_err(at("look up", &key))
        })
    }

    /// The size in bytes of the value of `key` (decrypted size for an
    /// encrypted view), or `None` if there is no such key.
    fn size<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        let encrypted = self.encryption.is_some();
        let release_gil = state.blocking_io;
        ready_or_await(py, release_gil, async move {
            let hamt = state.reader().await;
            let stored = hamt.get(&key).await.map_err(at("size of", &key))?;
            let overhead = if encrypted { ENCRYPTION_OVERHEAD } else { 0 };
            Ok(stored.map(|v| v.len().saturating_sub(overhead) as u64))
        })
    }

    /// The total size of the values of every key starting with `prefix`.
    fn size_prefix<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        let encrypted = self.encryption.is_some();
        ready_or_await(py, true, async move {
            let hamt = state.reader().await;
            let hamt = &*hamt;
            let keys = keys_with_prefix(hamt, &prefix).await?;
            let overhead = if encrypted { ENCRYPTION_OVERHEAD } else { 0 };
            let sizes: Vec<u64> = stream::iter(keys)
                .map(|key| async move {
                    let stored = hamt.get(&key).await.map_err(at("size of", &key))?;
                    Ok::<_, Error>(stored.map_or(0, |v| v.len().saturating_sub(overhead) as u64))
                })
                .buffered(BATCH_CONCURRENCY)
                .try_collect()
                .await?;
            Ok(sizes.iter().sum::<u64>())
        })
    }

    /// Every key starting with `prefix` (all keys for `""`), sorted.
    #[pyo3(signature = (prefix = String::new()))]
    fn keys<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        ready_or_await(py, true, async move {
            let hamt = state.reader().await;
            keys_with_prefix(&hamt, &prefix).await
        })
    }

    /// The names directly under `prefix` (zarr-python's `list_dir`), sorted.
    fn list_dir<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        ready_or_await(py, true, async move {
            let hamt = state.reader().await;
            let base = prefix.trim_end_matches('/');
            let under = if base.is_empty() {
                String::new()
            } else {
                format!("{base}/")
            };
            let keys = keys_with_prefix(&hamt, &under).await?;
            Ok(dir_children(&keys, &prefix))
        })
    }

    /// Number of keys.
    fn len<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        ready_or_await(py, true, async move {
            let hamt = state.reader().await;
            hamt.len().await.map_err(|source| Error::Hamt {
                op: "count keys".into(),
                source: Box::new(source),
            })
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
        let state = self.state.clone();
        let encryption = self.encryption.clone();
        let release_gil = state.blocking_io || value.len() >= SMALL_VALUE;
        ready_or_await(py, release_gil, async move {
            let value = Bytes::from_owner(value);
            let stored = match &encryption {
                Some(e) => e.values.encode(&key, value)?,
                None => value,
            };
            let mut hamt = state.writer(|| format!("set {key:?}")).await?;
            hamt.insert(&key, stored).await.map_err(at("set", &key))?;
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
        let state = self.state.clone();
        let encryption = self.encryption.clone();
        ready_or_await(py, true, async move {
            let mut entries = Vec::with_capacity(items.len());
            for (key, value) in items {
                let value = Bytes::from_owner(value);
                let stored = match &encryption {
                    Some(e) => e.values.encode(&key, value)?,
                    None => value,
                };
                entries.push((key, stored));
            }
            let first = entries.first().map(|(k, _)| k.clone()).unwrap_or_default();
            let mut hamt = state
                .writer(|| format!("set {} keys", entries.len()))
                .await?;
            hamt.insert_many(entries)
                .await
                .map_err(|source| Error::Hamt {
                    op: format!("set many keys (from {first:?})"),
                    source: Box::new(source),
                })?;
            Ok(Nothing)
        })
    }

    /// Removes `key`; returns whether it was there.
    fn delete<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        let release_gil = state.blocking_io;
        ready_or_await(py, release_gil, async move {
            let mut hamt = state.writer(|| format!("delete {key:?}")).await?;
            let old = hamt.remove(&key).await.map_err(at("delete", &key))?;
            Ok(old.is_some())
        })
    }

    /// Removes every key starting with `prefix`; returns how many.
    fn delete_prefix<'py>(&self, py: Python<'py>, prefix: String) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        ready_or_await(py, true, async move {
            let mut hamt = state
                .writer(|| format!("delete keys under {prefix:?}"))
                .await?;
            let keys = keys_with_prefix(&hamt, &prefix).await?;
            for key in &keys {
                hamt.remove(key).await.map_err(at("delete", key))?;
            }
            Ok(keys.len())
        })
    }

    /// Removes every key.
    fn clear<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        ready_or_await(py, true, async move {
            let mut hamt = state.writer(|| "clear".to_owned()).await?;
            *hamt = Hamt::new(state.store.clone(), state.config.clone());
            Ok(Nothing)
        })
    }

    /// Writes every change to the backend and returns the root CID (for a
    /// read-only HAMT, the root it was opened at).
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        ready_or_await(py, true, async move {
            let root = match &state.access {
                Access::Writable(lock) => {
                    let mut hamt = lock.clone().write_owned().await;
                    hamt.flush().await.map_err(|source| Error::Hamt {
                        op: "flush".into(),
                        source: Box::new(source),
                    })?
                }
                Access::ReadOnly(hamt) => hamt
                    .root_cid()
                    .ok_or_else(|| Error::Value("a read-only HAMT has a root".into()))?,
            };
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
        let (root, dirty) = match &self.state.access {
            Access::Writable(lock) => match lock.try_read() {
                Ok(hamt) => (hamt.root_cid(), hamt.is_dirty()),
                Err(_) => (None, true),
            },
            Access::ReadOnly(hamt) => (hamt.root_cid(), false),
        };
        let (key, header) = match &self.encryption {
            Some(e) => (Some(e.key.to_vec()), Some(e.header.clone())),
            None => (None, None),
        };
        let args = (
            self.state.backend.clone_ref(py),
            self.state.token,
            root.map(|c| c.to_string()),
            !self.read_only(),
            dirty,
            key.map(|k| PyBytes::new(py, &k)),
            header.map(|h| PyBytes::new(py, &h)),
        );
        (restore, args).into_pyobject(py)
    }
}

/// A HAMT just opened, made into a `HamtCore` (with the GIL) when returned.
struct Opened {
    backend: Py<PyAny>,
    hamt: DynHamt,
    writable: bool,
}

impl<'py> IntoPyObject<'py> for Opened {
    type Target = HamtCore;
    type Output = Bound<'py, HamtCore>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let core =
            HamtCore::from_hamt(self.backend.bind(py), self.hamt, self.writable, new_token())?;
        Bound::new(py, core)
    }
}

/// A writable copy just opened, keeping the view's encryption.
struct Copied {
    backend: Py<PyAny>,
    hamt: DynHamt,
    encryption: Option<Encryption>,
}

impl<'py> IntoPyObject<'py> for Copied {
    type Target = HamtCore;
    type Output = Bound<'py, HamtCore>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let mut core = HamtCore::from_hamt(self.backend.bind(py), self.hamt, true, new_token())?;
        core.encryption = self.encryption;
        Bound::new(py, core)
    }
}

/// Rebuilds a pickled `HamtCore` (see `HamtCore.__reduce__`). Not for direct use.
#[pyfunction]
#[pyo3(name = "_restore_core")]
#[allow(clippy::too_many_arguments)]
pub(crate) fn restore_core(
    py: Python<'_>,
    backend: &Bound<'_, PyAny>,
    token: u64,
    root: Option<String>,
    writable: bool,
    dirty: bool,
    key: Option<Vec<u8>>,
    header: Option<&[u8]>,
) -> PyResult<HamtCore> {
    let core = if let Some(state) = STATES.find(token) {
        HamtCore {
            state,
            encryption: None,
        }
    } else if dirty {
        return Err(PyValueError::new_err(
            "this HAMT had unflushed changes when it was pickled, and they cannot leave \
             the process that made them: flush() before pickling",
        ));
    } else {
        let store = store_of(backend)?;
        let config = HamtCore::config(None);
        let hamt = match root {
            Some(root) => {
                let cid = parse_cid(&root)?;
                block_on(py, async move {
                    Hamt::open(store, cid, config)
                        .await
                        .map_err(|source| Error::Hamt {
                            op: format!("open the HAMT at root {cid}"),
                            source: Box::new(source),
                        })
                })?
            }
            None => Hamt::new(store, config),
        };
        HamtCore::from_hamt(backend, hamt, writable, token)?
    };
    match key {
        Some(key) => core.with_encryption(&key, header.unwrap_or_default()),
        None => Ok(core),
    }
}
