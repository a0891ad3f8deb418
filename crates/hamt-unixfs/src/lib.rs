//! UnixFS files over dag-pb, exactly as Kubo builds them for py-hamt.
//!
//! py-hamt's `KuboCAS` stores a value larger than 1 MiB with Kubo's
//! `add?hash=blake3&chunker=size-1048576&cid-version=1&raw-leaves=true`: the
//! value's link is then the root of a UnixFS file, a balanced dag-pb tree of
//! at most 174 links per node over 1 MiB raw leaves. A value of at most 1 MiB
//! is a single raw block.
//!
//! This crate builds that DAG locally, byte for byte ([`build_file`],
//! [`put_file`]), reads byte ranges of it from any [`BlockStore`] fetching
//! only the leaves it needs ([`read_file`]), and decodes dag-pb and UnixFS
//! with typed errors and allocations bounded by the input ([`PbNode`],
//! [`UnixfsData`], [`dag_pb_links`]).
//!
//! ```
//! use hamt_unixfs::{build_file, read_file};
//! use hamt_store::{BlockStore, ByteRange, MemoryStore};
//! use hamt_codec::HashAlgorithm;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let data = vec![42u8; (1 << 20) + 10];
//! let (root, blocks) = build_file(&data, HashAlgorithm::Blake3);
//! assert!(root.to_string().starts_with("bafyb4i")); // dag-pb, blake3
//! let store = MemoryStore::new();
//! store.put_many(blocks).await?;
//! assert_eq!(read_file(&store, &root, ByteRange::Full).await?.len(), data.len());
//! # Ok::<(), hamt_store::StoreError>(())
//! # }).unwrap();
//! ```
//!
//! [`BlockStore`]: hamt_store::BlockStore

// "UnixFS" is a proper name here, not code: backticks everywhere would only add noise.
#![allow(clippy::doc_markdown)]

mod builder;
mod dagpb;
mod error;
mod pb;
mod reader;
mod unixfs;

pub use builder::{build_file, build_file_bytes, put_file};
pub use dagpb::{PbLink, PbNode, dag_pb_links};
pub use error::{DecodeError, DecodeErrorKind, FileError};
pub use reader::{MAX_DEPTH, file_size, read_file};
pub use unixfs::{DataType, UnixfsData};

/// Leaf size: Kubo's `chunker=size-1048576`, 1 MiB.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Most links in one node of Kubo's balanced layout (go-unixfs `DefaultLinksPerBlock`).
pub const MAX_LINKS: usize = 174;
