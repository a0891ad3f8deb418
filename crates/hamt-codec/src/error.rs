use cid::Cid;

/// Why a node's bytes were rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid HAMT node at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// The kinds of [`DecodeError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended in the middle of an item.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// The top-level item is not an array of exactly 256 entries.
    #[error("a node must be an array of exactly 256 entries")]
    NotANode,
    /// An entry is neither a map (bucket) nor a one-element array (child link).
    #[error("an entry must be a map or a one-element array of a link")]
    InvalidEntry,
    /// A length or integer was not encoded in its shortest form, or was indefinite.
    #[error("non-canonical CBOR head (not the shortest form, or indefinite length)")]
    NonCanonicalHead,
    /// A bucket key is not a text string.
    #[error("a bucket key must be a text string")]
    KeyNotText,
    /// A bucket key is not valid UTF-8.
    #[error("a bucket key is not valid UTF-8")]
    InvalidUtf8,
    /// Bucket keys are not in DAG-CBOR canonical order (length first, then bytes), or repeat.
    #[error("bucket keys are not in canonical order or are repeated")]
    KeyOrder,
    /// A bucket holds more entries than the caller allows.
    #[error("bucket has {len} entries, more than the allowed {max}")]
    BucketTooLarge {
        /// Entries in the bucket.
        len: u64,
        /// The caller-given maximum.
        max: usize,
    },
    /// A link is not CBOR tag 42 over a byte string.
    #[error("expected a link (CBOR tag 42 over bytes)")]
    NotALink,
    /// The bytes of a link are not `0x00` followed by a valid binary CID.
    #[error("invalid CID in link: {0}")]
    InvalidCid(crate::CidError),
    /// Bytes remain after the 256th entry (or the list's last entry).
    #[error("bytes remain after the node")]
    TrailingBytes,
    /// A link list is not a CBOR array.
    #[error("expected a list of links")]
    NotAList,
    /// A link list has another length than its index says.
    #[error("the list has {found} entries; {expected} were expected")]
    WrongLength {
        /// Entries the list must have.
        expected: u64,
        /// Entries it has.
        found: u64,
    },
    /// A link list entry is neither a link nor null.
    #[error("an entry must be a link or null")]
    NotALinkOrNull,
}

/// Why a link list's bytes were rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid link list at byte {offset}: {kind}")]
pub struct LinkListError {
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

impl From<DecodeError> for LinkListError {
    fn from(error: DecodeError) -> Self {
        LinkListError {
            offset: error.offset,
            kind: error.kind,
        }
    }
}

/// A block's bytes do not match its CID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The CID's multihash uses a hash function this crate does not implement.
    #[error("block {cid}: unsupported multihash code {code:#x}")]
    UnsupportedHash {
        /// The block's CID.
        cid: Cid,
        /// The multihash code.
        code: u64,
    },
    /// The bytes hash to a different digest than the CID says.
    #[error("block {cid}: bytes do not match the CID (corrupt or wrong block)")]
    Mismatch {
        /// The block's CID.
        cid: Cid,
    },
}
