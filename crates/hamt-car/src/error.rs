//! What can be wrong with a CAR file, each with the byte offset it was found at.

/// A CAR that cannot be read: truncated, corrupt, not a CAR, or an I/O error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CarError {
    /// The input holds no bytes at all.
    #[error("the file is empty: not a CAR")]
    Empty,
    /// The header's length prefix is over [`MAX_HEADER`](crate::MAX_HEADER).
    #[error("not a CAR: its header claims {len} bytes")]
    HeaderTooLarge {
        /// The length the prefix claims.
        len: u64,
    },
    /// The header is not a DAG-CBOR map with `version: 1` and a list of root CIDs.
    #[error("not a CAR: {reason}")]
    BadHeader {
        /// What is wrong with it.
        reason: String,
    },
    /// A CAR v2 file (only v1 is read).
    #[error("this is a CARv2 file; only CARv1 is supported")]
    Version2,
    /// The input ends inside a varint length prefix.
    #[error("truncated CAR: the file ends inside a length prefix at byte {offset}")]
    TruncatedPrefix {
        /// Where the input ended.
        offset: u64,
    },
    /// A varint length prefix longer than ten bytes.
    #[error("corrupt CAR: a length prefix ending at byte {offset} is too long")]
    PrefixTooLong {
        /// Where the prefix ended.
        offset: u64,
    },
    /// A varint length prefix with a shorter spelling (a zero last byte):
    /// CAR lengths are minimal varints, so each length has one spelling.
    #[error("corrupt CAR: the length prefix ending at byte {offset} is not minimally encoded")]
    NonMinimalPrefix {
        /// Where the prefix ended.
        offset: u64,
    },
    /// The input ends inside the header or a section.
    #[error(
        "truncated CAR: {what} needs {needed} bytes but the file ends after {got} (at byte {offset})"
    )]
    Truncated {
        /// "the header" or "section N (starting at byte B)".
        what: String,
        /// Bytes the length prefix promised.
        needed: u64,
        /// Bytes there were.
        got: u64,
        /// Where the input ended.
        offset: u64,
    },
    /// A section's length prefix is over [`MAX_SECTION`](crate::MAX_SECTION).
    #[error(
        "CAR section {section} at byte {offset} claims {len} bytes (more than {max}): corrupt CAR",
        max = crate::MAX_SECTION
    )]
    SectionTooLarge {
        /// The section's number, from 1.
        section: u64,
        /// Where the section starts.
        offset: u64,
        /// The length it claims.
        len: u64,
    },
    /// A section does not start with a valid CID.
    #[error(
        "CAR section {section} (starting at byte {offset}) does not start with a valid CID: {reason}"
    )]
    BadCid {
        /// The section's number, from 1.
        section: u64,
        /// Where the section starts.
        offset: u64,
        /// What is wrong with it.
        reason: hamt_codec::CidError,
    },
    /// Reading the input failed.
    #[error("read the CAR at byte {offset}: {source}")]
    Io {
        /// Bytes read before the failure.
        offset: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
