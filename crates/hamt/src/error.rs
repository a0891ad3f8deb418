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
    /// A stored node is not where a valid HAMT can hold it (hostile or
    /// corrupt data: the block itself is verified against its CID).
    #[error("node {cid} at depth {depth} is not part of a valid HAMT: {defect}")]
    InvalidTree {
        /// The node's CID.
        cid: Cid,
        /// Its depth below the root, by the path it was reached by.
        depth: usize,
        /// What is wrong.
        defect: NodeDefect,
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
    /// A three-way [`merge`](crate::Hamt::merge) found keys both sides
    /// changed differently; nothing was applied.
    #[error("merge conflict: {} changed differently on both sides: {}", keys.len(), keys_shown(keys))]
    MergeConflict {
        /// Every conflicting key, sorted.
        keys: Vec<String>,
    },
}

/// The first keys of a conflict, for its message (the error holds them all).
fn keys_shown(keys: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut shown: Vec<String> = keys.iter().take(SHOWN).map(|k| format!("{k:?}")).collect();
    if keys.len() > SHOWN {
        shown.push(format!("and {} more", keys.len() - SHOWN));
    }
    shown.join(", ")
}

impl From<hamt_unixfs::ReadError> for HamtError {
    fn from(error: hamt_unixfs::ReadError) -> Self {
        match error {
            hamt_unixfs::ReadError::Store(store) => HamtError::Store(store),
            hamt_unixfs::ReadError::File { root, source } => HamtError::File { link: root, source },
        }
    }
}

/// Why a stored node cannot be where it was found in a HAMT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeDefect {
    /// A key in its buckets does not hash to the node's path and slot: the
    /// node is linked from a place a valid HAMT never puts it (a node
    /// linked twice is always misplaced at one of the two).
    #[error("key {key:?} does not hash to this node's path")]
    Misplaced {
        /// The key.
        key: String,
    },
    /// Below the root, a node with no entries and no children (a removal
    /// folds such a subtree away).
    #[error("an empty node below the root")]
    Empty,
    /// Deeper than the 32-byte key hash can index.
    #[error("deeper than the key hash (32 levels)")]
    TooDeep,
}
