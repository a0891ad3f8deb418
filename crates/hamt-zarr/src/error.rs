use zarrs_storage::StorageError;

/// Everything a [`ZarrHamtStore`](crate::ZarrHamtStore) operation can fail with.
///
/// Through the zarrs traits it becomes a [`StorageError`]: [`ZarrHamtError::ReadOnly`]
/// as [`StorageError::ReadOnly`], a bad byte range as
/// [`StorageError::InvalidByteRangeError`], a missing runtime as
/// [`StorageError::Unsupported`], and everything else as
/// [`StorageError::Other`] carrying the full message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZarrHamtError {
    /// The HAMT or its block store failed (boxed: it is large, and rare).
    #[error(transparent)]
    Hamt(Box<hamt::HamtError>),
    /// The sharded layout failed (its store, its manifest, or a key that
    /// does not fit it; boxed: it is large, and rare).
    #[error(transparent)]
    Sharded(Box<hamt_sharded::ShardedError>),
    /// An operation of the sharded layout on a dataset that is a HAMT.
    #[error("this dataset is a HAMT, not a sharded store")]
    NotSharded,
    /// A write or erase through a view that refuses writes: the data was
    /// opened read-only, it is frozen (py-hamt's `make_read_only`), or the
    /// view is read-only ([`Dataset::read_only_reason`](crate::Dataset::read_only_reason) says which).
    #[error("the zarr store is read-only")]
    ReadOnly,
    /// A stored value could not be decrypted: wrong key or header, or the
    /// value was tampered with or is not an encrypted value at all.
    #[error("value of {key:?} failed to decrypt: wrong key or header, or tampered data")]
    Decrypt {
        /// The zarr key whose value failed.
        key: String,
    },
    /// A value could not be encrypted (only possible for values beyond the
    /// cipher's ~256 GiB limit).
    #[error("value of {key:?} could not be encrypted")]
    Encrypt {
        /// The zarr key being written.
        key: String,
    },
    /// The operating system's random number generator failed to give a nonce.
    #[error("no random nonce available: {0}")]
    Random(String),
    /// A byte range reaches past the end of the value.
    #[error(transparent)]
    ByteRange(#[from] zarrs_storage::byte_range::InvalidByteRangeError),
    /// No tokio runtime to run on, or a synchronous (blocking) call where it
    /// cannot block safely.
    #[error("{0}")]
    NoRuntime(&'static str),
}

impl From<hamt::HamtError> for ZarrHamtError {
    fn from(error: hamt::HamtError) -> Self {
        ZarrHamtError::Hamt(Box::new(error))
    }
}

impl From<hamt_sharded::ShardedError> for ZarrHamtError {
    fn from(error: hamt_sharded::ShardedError) -> Self {
        match error {
            hamt_sharded::ShardedError::ReadOnly(_) => ZarrHamtError::ReadOnly,
            other => ZarrHamtError::Sharded(Box::new(other)),
        }
    }
}

impl From<ZarrHamtError> for StorageError {
    fn from(error: ZarrHamtError) -> Self {
        match error {
            ZarrHamtError::ReadOnly => StorageError::ReadOnly,
            ZarrHamtError::ByteRange(range) => StorageError::InvalidByteRangeError(range),
            ZarrHamtError::NoRuntime(why) => StorageError::Unsupported(why.to_owned()),
            other => StorageError::Other(other.to_string()),
        }
    }
}
