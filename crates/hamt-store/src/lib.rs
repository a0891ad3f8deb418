//! Content-addressed block storage for the HAMT: the [`BlockStore`] trait,
//! verified [`Block`]s, byte ranges, a typed [`StoreError`], and
//! [`MemoryStore`].
//!
//! Every block is addressed by its CID (CIDv1; blake3-256 multihash by
//! default, codec dag-cbor for nodes and raw for values, exactly what
//! py-hamt's `KuboCAS` gets from Kubo). A [`Block`] can only be built by
//! hashing its bytes or by verifying them against a CID, and every store
//! verifies what it reads, so corrupt bytes surface as
//! [`StoreError::Corrupt`], never as data.
//!
//! ```
//! use hamt_store::{BlockStore, MemoryStore, ByteRange};
//! use hamt_codec::BlockCodec;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let cid = store.put(BlockCodec::Raw, b"hello world".to_vec().into()).await?;
//! assert_eq!(&store.get(&cid).await?[..], b"hello world");
//! assert_eq!(&store.get_range(&cid, ByteRange::Suffix(5)).await?[..], b"world");
//! # Ok::<(), hamt_store::StoreError>(())
//! # }).unwrap();
//! ```

mod block;
mod budget;
mod cid_hash;
pub mod dag;
mod error;
mod memory;
mod prefetched;
mod range;
pub mod telemetry;
mod traits;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use block::Block;
pub use budget::MemoryBudget;
pub use cid_hash::{CidHash, CidHasher};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use prefetched::Prefetched;
pub use range::ByteRange;
pub use traits::{
    BlockStore, BlockingStore, DagScope, block_size, read_block, read_block_range, write_blocks,
};

pub use bytes::Bytes;
pub use hamt_codec::{BlockCodec, Cid, HashAlgorithm};
