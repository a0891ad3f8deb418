//! dag-pb nodes and the UnixFS `Data` they carry, the block formats of
//! values too large for one block: encoded exactly as go-merkledag and
//! go-unixfs (and so Kubo) do, decoded strictly with typed errors and
//! allocation bounded by the input.

mod node;
mod unixfs;
mod wire;

pub use node::{PbLink, PbNode, dag_pb_links};
pub use unixfs::{DataType, UnixfsData};

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
    InvalidCid(crate::CidError),
    /// A link's `Name` is not valid UTF-8.
    #[error("link Name is not valid UTF-8")]
    InvalidName,
    /// The UnixFS `Type` field is missing or unknown.
    #[error("missing or unknown UnixFS type")]
    InvalidType,
}
