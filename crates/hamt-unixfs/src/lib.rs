//! UnixFS files over dag-pb, exactly as Kubo builds them for py-hamt.
//!
//! py-hamt's `KuboCAS` stores a value larger than 1 MiB with Kubo's
//! `add?hash=blake3&chunker=size-1048576&cid-version=1&raw-leaves=true`: the
//! value's link is then the root of a UnixFS file, a balanced dag-pb tree of
//! at most 174 links per node over 1 MiB raw leaves. A value of at most 1 MiB
//! is a single raw block.
//!
//! This crate builds that DAG locally, byte for byte ([`build_file`],
//! [`put_file`]), and reads byte ranges of it from any [`BlockStore`]
//! fetching only the leaves it needs ([`read_file`]). The block formats
//! themselves (dag-pb nodes and UnixFS data: [`PbNode`], [`UnixfsData`],
//! [`dag_pb_links`]) live in `hamt_codec::dagpb` and are re-exported here.
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
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! [`BlockStore`]: hamt_store::BlockStore

// "UnixFS" is a proper name here, not code: backticks everywhere would only add noise.
#![allow(clippy::doc_markdown)]

mod builder;
mod error;
mod reader;

pub use builder::{build_file, build_file_bytes, put_file};
pub use error::{FileError, ReadError};
pub use hamt_codec::dagpb::{
    DataType, DecodeError, DecodeErrorKind, PbLink, PbNode, UnixfsData, dag_pb_links,
};
pub use reader::{DEFAULT_MAX_READ, MAX_DEPTH, file_size, read_file, read_file_limited};

/// Leaf size: Kubo's `chunker=size-1048576`, 1 MiB.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Most links in one node of Kubo's balanced layout (go-unixfs `DefaultLinksPerBlock`).
pub const MAX_LINKS: usize = 174;
