//! CAR v1 files: the archive format IPFS tools use to move a DAG as one
//! file. A CAR is a varint-length-prefixed DAG-CBOR header
//! `{roots: [CID], version: 1}`, then sections of
//! `varint(len(CID) + len(data)) CID data`.
//!
//! Written here rather than taken from `iroh-car` (the maintained crate we
//! checked): its reader takes a varint cut short by the end of the file for
//! a clean end, so a truncated CAR could pass as a complete one, and its
//! errors carry no byte offsets. This reader reports every truncation with
//! its byte offset and bounds every allocation by [`MAX_SECTION`] and
//! [`MAX_HEADER`], so hostile length prefixes cannot make it allocate more.
//! Length prefixes must be minimal varints, as go-car requires, and CIDs
//! canonical, so each section has one spelling.
//!
//! Blocks are returned as read: the caller verifies each against its CID
//! (e.g. with `hamt_store::Block::verified`).
//!
//! ```
//! use hamt_car::{CarReader, CarWriter};
//! use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};
//!
//! let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"block bytes");
//! let mut writer = CarWriter::new(Vec::new(), &[cid])?;
//! writer.write_block(&cid, b"block bytes")?;
//! let file = writer.finish()?;
//!
//! let (mut reader, roots) = CarReader::open(&file[..])?;
//! assert_eq!(roots, [cid]);
//! let (got, data) = reader.next_block()?.expect("one block");
//! assert_eq!((got, &data[..]), (cid, &b"block bytes"[..]));
//! assert!(reader.next_block()?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod dag;
mod error;
mod publish;
mod reader;
mod writer;

pub use error::CarError;
pub use publish::{partial_path, publish};
pub use reader::CarReader;
pub use writer::CarWriter;

/// The largest section accepted: well above Kubo's 2 MiB block limit, and a
/// bound on what a hostile length prefix can make the reader allocate.
pub const MAX_SECTION: u64 = 8 << 20;

/// The largest header accepted.
pub const MAX_HEADER: u64 = 1 << 20;
