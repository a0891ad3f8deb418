use hamt_codec::Cid;
use hamt_codec::dagpb::DecodeError;
use hamt_store::StoreError;

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
    /// A read asked for more bytes than its limit allows (the file's root
    /// declares its size; the limit keeps a DAG that declares a huge one
    /// from exhausting memory).
    #[error("read of {size} bytes refused: the limit is {max} bytes")]
    ReadTooLarge {
        /// Bytes the range holds, by the sizes the file declares.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The file is larger than this platform's address space.
    #[error("file of {0} bytes does not fit in memory addresses on this platform")]
    TooLarge(u64),
}

/// Why a UnixFS file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store failed: a block is missing or corrupt, or I/O failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file's blocks are there and verified, but do not describe one file.
    #[error("UnixFS file {root}: {source}")]
    File {
        /// The file's root.
        root: Cid,
        /// What is wrong with it (boxed: it is large, and rare).
        #[source]
        source: Box<FileError>,
    },
}
