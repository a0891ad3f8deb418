use hamt_codec::{Cid, LinkListError};
use hamt_store::StoreError;

use crate::keys::KeyError;

/// A shard block that is not a list of the expected number of links and nulls.
#[derive(Debug, thiserror::Error)]
#[error("shard {cid} of array {array:?} is invalid: {source}")]
pub struct BadShard {
    /// The array's path.
    pub array: String,
    /// The shard's CID.
    pub cid: Cid,
    /// What is wrong with it.
    #[source]
    pub source: LinkListError,
}

impl ShardedError {
    pub(crate) fn bad_shard(array: &str, cid: Cid, source: LinkListError) -> Self {
        ShardedError::BadShard(Box::new(BadShard {
            array: array.to_owned(),
            cid,
            source,
        }))
    }
}

/// Everything a sharded store operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShardedError {
    /// The block store failed (missing or corrupt block, I/O, network).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A block linked as a value or shard is not a valid UnixFS file.
    #[error("block {cid} is not a valid UnixFS file: {source}")]
    File {
        /// The file's root.
        cid: Cid,
        /// What is wrong with it.
        #[source]
        source: Box<hamt_unixfs::FileError>,
    },
    /// The root block is not a sharded manifest this crate reads.
    #[error("root {cid} is not a sharded zarr manifest: {reason}")]
    BadRoot {
        /// The root's CID.
        cid: Cid,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest's contents are inconsistent (while reading or changing it).
    #[error("invalid sharded manifest: {0}")]
    Manifest(String),
    /// An array's chunk grid is invalid (bad shape, chunk shape or shard size).
    #[error("invalid array geometry: {0}")]
    Geometry(String),
    /// A shard block is not a list of the expected number of links and
    /// nulls (boxed: it is large, and rare).
    #[error(transparent)]
    BadShard(Box<BadShard>),
    /// A chunk key that does not fit its array (bad coordinates).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A chunk of an array the manifest has no index for.
    #[error(
        "no array index registered for chunk key {key:?} (array {array:?}): write its zarr.json first"
    )]
    UnknownArray {
        /// The chunk key.
        key: String,
        /// The array path it names.
        array: String,
    },
    /// zarr metadata that cannot be used as it must (e.g. a changed chunk shape).
    #[error("metadata {key:?}: {reason}")]
    Metadata {
        /// The metadata key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A v2 store's array written at the top level right after a root group:
    /// py-hamt requires an explicit group (`ds.to_zarr(..., group="0")`).
    #[error(
        "sharded_zarr_v2 writes require an explicit Zarr group. Write the dataset with ds.to_zarr(..., group='0') or another group name (key {key:?})"
    )]
    GroupRequired {
        /// The array metadata key written.
        key: String,
    },
    /// A write to a store opened read-only, or to a v1 manifest (read-only here: migrate it first).
    #[error("the sharded store is read-only: {0}")]
    ReadOnly(&'static str),
    /// The HAMT being converted could not be read.
    #[error(transparent)]
    Hamt(#[from] Box<hamt::HamtError>),
    /// A HAMT key the converter to the sharded layout cannot place.
    #[error("key {key:?}: {reason}")]
    Convert {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// A manifest, shard or metadata value (a UnixFS file) larger than it
    /// can be: refused before it is read.
    #[error("block {cid} holds a file of {size} bytes, more than the {limit} it may hold here")]
    TooLarge {
        /// The file's root.
        cid: Cid,
        /// The size its root gives.
        size: u64,
        /// The most it may hold.
        limit: u64,
    },
    /// An operation that needs an argument it did not get, or got wrong.
    #[error("{0}")]
    Invalid(String),
}

impl From<hamt_unixfs::ReadError> for ShardedError {
    fn from(error: hamt_unixfs::ReadError) -> Self {
        match error {
            hamt_unixfs::ReadError::Store(store) => ShardedError::Store(store),
            hamt_unixfs::ReadError::File { root, source } => {
                ShardedError::File { cid: root, source }
            }
        }
    }
}
