//! A HAMT (hash array mapped trie) of string keys to byte values over any
//! content-addressed [`BlockStore`], byte-compatible
//! with py-hamt 3.6.0: the same operations give the same blocks and the same
//! root CID, so a map written by either can be read by the other.
//!
//! ```
//! use hamt::{Hamt, HamtConfig};
//! use hamt_store::MemoryStore;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
//! for i in 0..100 {
//!     map.insert(&format!("temp/c/{i}/0/0"), vec![i as u8; 64]).await?;
//! }
//! map.remove("temp/c/7/0/0").await?;
//! let root = map.flush().await?;
//! println!("root {root}");
//! assert_eq!(map.len().await?, 99);
//! # Ok::<(), hamt::HamtError>(())
//! # }).unwrap();
//! ```

mod bulk;
mod cache;
mod config;
pub mod diff;
mod error;
mod hamt;
mod import;
mod iter;
mod merge;
mod pending;
mod stats;
mod tree;
mod walk;

pub use cache::CacheStats;
pub use config::HamtConfig;
pub use error::{HamtError, NodeDefect};
pub use hamt::Hamt;
pub use import::Import;
pub use stats::HamtStats;

pub use diff::Change;
pub use hamt_codec::{Blake3KeyHasher, Cid, KeyHasher, Sha256KeyHasher};
pub use hamt_store::{Block, BlockCodec, BlockStore, ByteRange, Bytes, MemoryStore, StoreError};

/// The README's code runs as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
