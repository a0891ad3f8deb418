//! py-hamt 3.6.0's sharded zarr layout (`ShardedZarrStore`), byte for byte,
//! over any content-addressed [`BlockStore`](hamt_store::BlockStore).
//!
//! A root manifest (DAG-CBOR) holds the CIDs of every zarr metadata value
//! and, per zarr array, a list of *shards*: DAG-CBOR lists of exactly
//! `chunks_per_shard` entries, each the CID of one chunk (or null), in C
//! order. A chunk's CID is found by arithmetic and one shard read, where a
//! HAMT needs one read per level. This is the layout py-hamt's producers of
//! the largest datasets write (hourly ERA5: 6,250 chunks per shard).
//!
//! - [`ShardedMap`]: read and write a store (v2; v1 read-only, with
//!   migration to v2), graft other stores in, resize arrays.
//! - [`convert::hamt_to_sharded`]: a HAMT dataset rewritten in this layout
//!   by copying CIDs (py-hamt's `convert_hamt_to_sharded`).
//! - [`manifest`](crate::ManifestVersion), shard blocks (`hamt_codec::link_list`),
//!   [`ArrayIndex`] (the C-order arithmetic), chunk keys ([`parse_chunk_key_v2`]).
//!
//! The zarr stores over it (zarrs, zarr-python) are `hamt-zarr`'s and
//! `hamt-py`'s, shared with the HAMT layout.
//!
//! ```
//! use hamt_sharded::ShardedMap;
//! use hamt_store::MemoryStore;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mut map = ShardedMap::new(MemoryStore::new(), 6250)?;
//! map.set("zarr.json", br#"{"zarr_format": 3, "node_type": "group"}"#.to_vec().into()).await?;
//! let root = map.flush().await?;
//! println!("{root}");
//! # Ok::<(), hamt_sharded::ShardedError>(())
//! # }).unwrap();
//! ```

mod cache;
pub mod convert;
mod error;
mod geometry;
mod keys;
mod manifest;
mod pyjson;
mod store;
mod v1;

pub use error::{BadShard, ShardedError};
pub use geometry::{
    ArrayIndex, CoordsError, MAX_CHUNKS_PER_SHARD, MAX_SHARDS_PER_ARRAY, ShardSlot,
};
pub use keys::{
    ArrayPaths, ChunkKey, KeyError, METADATA_SUFFIXES, array_path_of_metadata_key,
    format_chunk_key, group_path_of_metadata_key, is_metadata_key, parse_chunk_key_v2,
};
pub use manifest::{ManifestVersion, SHARDED_ZARR_V1, SHARDED_ZARR_V2, STORE_TYPE};
pub use store::{DEFAULT_CHUNKS_PER_SHARD, ShardedConfig, ShardedMap};
