//! Rust errors as the Python exceptions of `hamt_rs.errors`, each message
//! naming the operation's key or the CID at fault.

use hamt::{HamtError, StoreError};
use hamt_car::dag::DagCarError;
use hamt_store::dag::VisitError;
use hamt_zarr::{Dataset, ReadOnlyReason, ShardedError, ZarrHamtError};
use pyo3::PyErr;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError};

/// The exception classes of `hamt_rs/errors.py`.
mod py {
    pyo3::import_exception!(hamt_rs.errors, HamtError);
    pyo3::import_exception!(hamt_rs.errors, ReadOnlyError);
    pyo3::import_exception!(hamt_rs.errors, MissingBlockError);
    pyo3::import_exception!(hamt_rs.errors, CorruptBlockError);
    pyo3::import_exception!(hamt_rs.errors, DecryptionError);
    pyo3::import_exception!(hamt_rs.errors, InvalidCidError);
    pyo3::import_exception!(hamt_rs.errors, BackendError);
    pyo3::import_exception!(hamt_rs.errors, ConflictError);
}
use py::{
    BackendError, CorruptBlockError, DecryptionError, InvalidCidError, MissingBlockError,
    ReadOnlyError,
};

/// What an operation failed with, and on what (a key, a CID, a prefix).
#[derive(Debug)]
pub(crate) enum Error {
    /// An operation of a dataset failed during `op` (e.g. `get "temp/c/0"`).
    Dataset {
        op: String,
        source: ZarrHamtError,
        /// Why the dataset refuses writes, if it does (for a read-only error).
        read_only: Option<ReadOnlyReason>,
    },
    /// A string that is not a CID.
    InvalidCid { text: String, reason: String },
    /// Bad input, described.
    Value(String),
    /// A file could not be opened, written or renamed during `op`.
    Io { op: String, source: std::io::Error },
    /// A CAR export or import failed during `op`.
    Car {
        op: String,
        source: Box<DagCarError>,
    },
}

impl Error {
    /// `source`, from `op` on `dataset`.
    pub(crate) fn dataset<L, V: ?Sized>(
        op: String,
        source: ZarrHamtError,
        dataset: &Dataset<L, V>,
    ) -> Self {
        Error::Dataset {
            op,
            source,
            read_only: dataset.read_only_reason(),
        }
    }
}

/// The message of every read-only error starts as zarr-python's own.
const READ_ONLY: &str = "store was opened in read-only mode and does not support writing";

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        match error {
            Error::Dataset {
                op,
                source,
                read_only,
            } => dataset_error(&op, source, read_only),
            Error::InvalidCid { text, reason } => {
                InvalidCidError::new_err(format!("{text:?} is not a CID: {reason}"))
            }
            Error::Value(message) => PyValueError::new_err(message),
            Error::Io { op, source } => {
                let message = format!("cannot {op}: {source}");
                match source.kind() {
                    std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                    std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
                    _ => PyOSError::new_err(message),
                }
            }
            Error::Car { op, source } => car_error(&op, *source),
        }
    }
}

fn dataset_error(op: &str, error: ZarrHamtError, read_only: Option<ReadOnlyReason>) -> PyErr {
    match error {
        ZarrHamtError::Hamt(source) => hamt_error(op, *source),
        ZarrHamtError::Sharded(source) => sharded_error(op, *source),
        ZarrHamtError::Decrypt { key } => DecryptionError::new_err(format!(
            "value of {key:?} failed to decrypt: wrong encryption key or header, or tampered data"
        )),
        ZarrHamtError::ReadOnly => ReadOnlyError::new_err(match read_only {
            Some(ReadOnlyReason::Frozen) => format!(
                "{READ_ONLY} ({op}): make_read_only() was called; call enable_write() first"
            ),
            Some(ReadOnlyReason::View) => format!("{READ_ONLY} ({op})"),
            _ => format!(
                "{READ_ONLY} ({op}): it was opened from a root CID; open it writable to change it"
            ),
        }),
        ZarrHamtError::ByteRange(range) => PyValueError::new_err(format!("{op}: {range}")),
        other => py::HamtError::new_err(format!("{op}: {other}")),
    }
}

fn sharded_error(op: &str, error: ShardedError) -> PyErr {
    let message = format!("{op}: {error}");
    match error {
        ShardedError::Store(store) => store_error(op, store),
        ShardedError::Hamt(source) => hamt_error(op, *source),
        ShardedError::File { .. }
        | ShardedError::BadRoot { .. }
        | ShardedError::BadShard { .. }
        | ShardedError::Manifest(_) => CorruptBlockError::new_err(message),
        ShardedError::ReadOnly(_) => ReadOnlyError::new_err(format!("{READ_ONLY} ({op})")),
        _ => PyValueError::new_err(message),
    }
}

fn car_error(op: &str, error: DagCarError) -> PyErr {
    let message = format!("{op}: {error}");
    match error {
        DagCarError::Car(_) | DagCarError::Corrupt { .. } => CorruptBlockError::new_err(message),
        DagCarError::Write(_) => PyOSError::new_err(message),
        DagCarError::Unreadable { source, .. } | DagCarError::Incomplete { source, .. } => {
            match source {
                VisitError::Store(StoreError::NotFound(_)) => MissingBlockError::new_err(message),
                VisitError::Store(StoreError::Corrupt { .. }) | VisitError::Links(_) => {
                    CorruptBlockError::new_err(message)
                }
                VisitError::Store(_) => BackendError::new_err(message),
            }
        }
        DagCarError::Store(store) => store_error(op, store),
        _ => py::HamtError::new_err(message),
    }
}

fn hamt_error(op: &str, error: HamtError) -> PyErr {
    let message = format!("{op}: {error}");
    match error {
        HamtError::Store(store) => match store {
            StoreError::NotFound(_) => MissingBlockError::new_err(message),
            StoreError::Corrupt { .. } | StoreError::UnsupportedHash { .. } => {
                CorruptBlockError::new_err(message)
            }
            StoreError::ReadOnly => {
                ReadOnlyError::new_err(format!("{READ_ONLY} ({op}): the block store is read-only"))
            }
            _ => BackendError::new_err(message),
        },
        HamtError::Decode { .. } | HamtError::File { .. } => CorruptBlockError::new_err(message),
        HamtError::HashExhausted { .. } | HamtError::Value { .. } => PyValueError::new_err(message),
        _ => py::HamtError::new_err(message),
    }
}

/// A store error outside a HAMT operation (opening a backend, roots).
pub(crate) fn store_error(op: &str, error: StoreError) -> PyErr {
    hamt_error(op, HamtError::Store(error))
}

/// A history error: a ref that moved, or a tag that exists, is a
/// [`ConflictError`](py::ConflictError); a bad or unknown revision a
/// `ValueError` (as `KeyError` would read as a missing key).
#[cfg(feature = "rocksdb")]
pub(crate) fn history_error(op: &str, error: hamt_history::HistoryError) -> PyErr {
    use hamt_history::HistoryError;
    let message = format!("{op}: {error}");
    match error {
        HistoryError::Store(store) => store_error(op, store),
        HistoryError::Conflict(_) | HistoryError::TagExists(_) => {
            py::ConflictError::new_err(message)
        }
        HistoryError::MalformedCommit { .. } => CorruptBlockError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}
