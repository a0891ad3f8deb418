use hamt_codec::{Cid, DecodeError, value::ValueError};
use hamt_store::StoreError;

/// Everything a HAMT operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HamtError {
    /// The block store failed (missing block, corrupt block, I/O, network).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A block linked as a HAMT node is not a valid node.
    #[error("block {cid} is not a valid HAMT node: {source}")]
    Decode {
        /// The node's CID.
        cid: Cid,
        /// What was wrong with it.
        #[source]
        source: DecodeError,
    },
    /// The key's 32-byte hash ran out: more than `max_bucket_size` keys share
    /// the whole hash (only possible with a weak key hasher), or a stored tree
    /// is deeper than the hash.
    #[error("key {key:?}: its hash is exhausted (tree deeper than 32 levels)")]
    HashExhausted {
        /// The key being looked up or inserted.
        key: String,
    },
    /// A value stored as a UnixFS file (over 1 MiB) is malformed: its blocks
    /// are there and verified, but do not describe one file.
    #[error("value {link} is not a valid UnixFS file: {source}")]
    File {
        /// The value's link (the file's root).
        link: Cid,
        /// What is wrong with it.
        #[source]
        source: Box<hamt_unixfs::FileError>,
    },
    /// A DAG-CBOR value could not be encoded or decoded.
    #[error("key {key:?}: {source}")]
    Value {
        /// The key.
        key: String,
        /// The codec error.
        #[source]
        source: ValueError,
    },
    /// A sorted [`Import`](crate::Import) could not write or read back its
    /// temporary run files (a full or failing temporary directory).
    #[error("import: temporary sort file: {source}")]
    ImportSpill {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl From<hamt_unixfs::ReadError> for HamtError {
    fn from(error: hamt_unixfs::ReadError) -> Self {
        match error {
            hamt_unixfs::ReadError::Store(store) => HamtError::Store(store),
            hamt_unixfs::ReadError::File { root, source } => HamtError::File { link: root, source },
        }
    }
}
