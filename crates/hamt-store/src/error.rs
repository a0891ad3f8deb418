use hamt_codec::{Cid, VerifyError};

/// Everything a block store can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No block with this CID is in the store.
    #[error("block {0} not found")]
    NotFound(Cid),
    /// The bytes read for a CID do not hash to it: a corrupt or wrong block.
    #[error("block {cid} is corrupt: its bytes do not match its CID")]
    Corrupt {
        /// The CID that was asked for.
        cid: Cid,
    },
    /// The CID uses a multihash this project cannot verify.
    #[error("block {cid}: unsupported multihash code {code:#x}, cannot verify it")]
    UnsupportedHash {
        /// The CID that was asked for.
        cid: Cid,
        /// Its multihash code.
        code: u64,
    },
    /// The store was opened read-only and a write was attempted.
    #[error("the store is read-only")]
    ReadOnly,
    /// The backend failed (I/O, network, database); the message says what and where.
    #[error("{context}: {source}")]
    Backend {
        /// What was being done, e.g. `put block bafy… on http://127.0.0.1:5001`.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// Wraps a backend error with what was being done.
    pub fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

impl From<VerifyError> for StoreError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Mismatch { cid } => StoreError::Corrupt { cid },
            VerifyError::UnsupportedHash { cid, code } => StoreError::UnsupportedHash { cid, code },
        }
    }
}
