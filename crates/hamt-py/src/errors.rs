//! Rust errors as the Python exceptions of `hamt_rs.errors`, each message
//! naming the operation's key or the CID at fault.

use hamt::HamtError;
use hamt_store::StoreError;
use hamt_zarr::ZarrHamtError;
use pyo3::PyErr;
use pyo3::exceptions::PyValueError;

/// The exception classes of `hamt_rs/errors.py`.
mod py {
    pyo3::import_exception!(hamt_rs.errors, HamtError);
    pyo3::import_exception!(hamt_rs.errors, ReadOnlyError);
    pyo3::import_exception!(hamt_rs.errors, MissingBlockError);
    pyo3::import_exception!(hamt_rs.errors, CorruptBlockError);
    pyo3::import_exception!(hamt_rs.errors, DecryptionError);
    pyo3::import_exception!(hamt_rs.errors, InvalidCidError);
    pyo3::import_exception!(hamt_rs.errors, BackendError);
}
use py::{
    BackendError, CorruptBlockError, DecryptionError, InvalidCidError, MissingBlockError,
    ReadOnlyError,
};

/// What an operation failed with, and on what (a key, a CID, a prefix).
#[derive(Debug)]
pub(crate) enum Error {
    /// The HAMT or its store failed during `op` (e.g. `get "temp/c/0"`).
    Hamt { op: String, source: Box<HamtError> },
    /// A value failed to decrypt, or to encrypt.
    Codec(ZarrHamtError),
    /// A write to a HAMT opened read-only.
    ReadOnly { op: String },
    /// A string that is not a CID.
    InvalidCid { text: String, reason: String },
    /// Bad input, described.
    Value(String),
}

impl From<ZarrHamtError> for Error {
    fn from(error: ZarrHamtError) -> Self {
        Error::Codec(error)
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        match error {
            Error::Hamt { op, source } => hamt_error(&op, *source),
            Error::Codec(ZarrHamtError::Decrypt { key }) => DecryptionError::new_err(format!(
                "value of {key:?} failed to decrypt: wrong encryption key or header, or tampered data"
            )),
            Error::Codec(other) => py::HamtError::new_err(other.to_string()),
            Error::ReadOnly { op } => ReadOnlyError::new_err(format!(
                "store was opened in read-only mode and does not support writing ({op}): \
                 it was opened from a root CID; open it writable to change it"
            )),
            Error::InvalidCid { text, reason } => {
                InvalidCidError::new_err(format!("{text:?} is not a CID: {reason}"))
            }
            Error::Value(message) => PyValueError::new_err(message),
        }
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
            StoreError::ReadOnly => ReadOnlyError::new_err(format!(
                "store was opened in read-only mode and does not support writing ({op}): \
                 the block store is read-only"
            )),
            _ => BackendError::new_err(message),
        },
        HamtError::Decode { .. } => CorruptBlockError::new_err(message),
        HamtError::HashExhausted { .. } | HamtError::Value { .. } => PyValueError::new_err(message),
        _ => py::HamtError::new_err(message),
    }
}

/// A store error outside a HAMT operation (opening a backend, roots).
pub(crate) fn store_error(op: &str, error: StoreError) -> PyErr {
    hamt_error(op, HamtError::Store(error))
}
