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
    /// A DAG-CBOR value could not be encoded or decoded.
    #[error("key {key:?}: {source}")]
    Value {
        /// The key.
        key: String,
        /// The codec error.
        #[source]
        source: ValueError,
    },
}
