use hamt_codec::Cid;

/// Why dag-pb or UnixFS bytes were rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Which message was being decoded: `"dag-pb node"` or `"UnixFS data"`.
    pub what: &'static str,
    /// Byte offset in that message where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// The kinds of [`DecodeError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended in the middle of a field.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// A varint is longer than 10 bytes or overflows 64 bits.
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    /// A field has a wire type its schema does not allow.
    #[error("field {field} has wire type {wire_type}, which its schema does not allow")]
    WrongWireType {
        /// Field number.
        field: u64,
        /// Wire type found.
        wire_type: u64,
    },
    /// A field number the schema does not define (dag-pb allows none).
    #[error("unknown field {0}")]
    UnknownField(u64),
    /// dag-pb fields out of the canonical order (links before data, link fields in order) or repeated.
    #[error("fields out of canonical order or repeated")]
    FieldOrder,
    /// A link without its `Hash` field.
    #[error("link has no Hash")]
    MissingHash,
    /// A link's `Hash` is not a valid binary CID.
    #[error("link Hash is not a valid CID: {0}")]
    InvalidCid(String),
    /// A link's `Name` is not valid UTF-8.
    #[error("link Name is not valid UTF-8")]
    InvalidName,
    /// The UnixFS `Type` field is missing or unknown.
    #[error("missing or unknown UnixFS type")]
    InvalidType,
}

/// A UnixFS file DAG is inconsistent: its nodes decode but do not describe one file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// A node's bytes are not valid dag-pb/UnixFS.
    #[error("node {cid}: {source}")]
    Decode {
        /// The node's CID.
        cid: Cid,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
    /// A node of the file is not a UnixFS `File` (or `Raw`) node.
    #[error("node {cid} is a UnixFS {kind:?}, not a file")]
    NotAFile {
        /// The node's CID.
        cid: Cid,
        /// Its UnixFS type.
        kind: crate::DataType,
    },
    /// A link uses a codec other than raw or dag-pb.
    #[error("node {cid} has codec {codec:#x}; a UnixFS file holds only raw and dag-pb blocks")]
    UnsupportedCodec {
        /// The link's CID.
        cid: Cid,
        /// Its multicodec.
        codec: u64,
    },
    /// A node has a different number of links and `blocksizes`.
    #[error("node {cid} has {links} links but {blocksizes} blocksizes")]
    BlocksizesMismatch {
        /// The node's CID.
        cid: Cid,
        /// Number of links.
        links: usize,
        /// Number of blocksizes.
        blocksizes: usize,
    },
    /// A node's content is not as long as its parent or its own `filesize` says.
    #[error("node {cid} holds {actual} bytes of the file, but {expected} were expected")]
    SizeMismatch {
        /// The node's CID.
        cid: Cid,
        /// Bytes its parent (or its filesize) claims.
        expected: u64,
        /// Bytes it holds.
        actual: u64,
    },
    /// The DAG is deeper than any file this crate reads.
    #[error("node {cid} is deeper than {max} levels")]
    TooDeep {
        /// The node's CID.
        cid: Cid,
        /// The depth limit.
        max: usize,
    },
    /// The file is larger than this platform's address space.
    #[error("file of {0} bytes does not fit in memory addresses on this platform")]
    TooLarge(u64),
}
