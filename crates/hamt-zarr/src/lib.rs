//! zarr v3 stores over py-hamt-compatible layouts on any content-addressed
//! [`BlockStore`](hamt::BlockStore).
//!
//! A [`Dataset`] is the one handle on a dataset's keys and values: a
//! [`Layout`] (the [`Hamt`](hamt::Hamt), or py-hamt's sharded layout,
//! [`ShardedMap`]) behind its access mode, a value
//! codec, a metadata cache, and the prefix, size and batch operations zarr
//! needs. [`ZarrStore`] adapts it to `zarrs`' storage traits (sync and
//! async); the Python package `hamt_rs` adapts the same handle to
//! zarr-python.
//!
//! [`ZarrHamtStore`] stores zarr keys verbatim (`"temp/c/0/0/0"`,
//! `"zarr.json"`) with raw value blocks, exactly as py-hamt 3.6.0's
//! `ZarrHAMTStore`; with [`EncryptedValues`] it encrypts every value as
//! py-hamt's `SimpleEncryptedZarrHAMTStore`. A dataset written by either side
//! opens on the other from its root CID.
//!
//! ```
//! use std::sync::Arc;
//! use hamt::HamtConfig;
//! use hamt_store::MemoryStore;
//! use hamt_zarr::ZarrHamtStore;
//! use zarrs::group::GroupBuilder;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = Arc::new(ZarrHamtStore::create(MemoryStore::new(), HamtConfig::default()));
//! GroupBuilder::new().build(store.clone(), "/")?.async_store_metadata().await?;
//! println!("root {}", store.flush().await?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod any_layout;
mod async_impl;
mod codec;
mod dataset;
mod error;
mod layout;
mod listing;
mod metadata;
mod range;
mod store;
mod sync_impl;

pub use any_layout::{AnyLayout, LayoutKind, layout_of, links_inside_files};
pub use codec::{
    ENCRYPTION_OVERHEAD, EncryptedValues, NONCE_LEN, PlainValues, TAG_LEN, ValueCodec,
};
pub use dataset::{Dataset, KeyedError, ReadGuard, ReadOnlyReason};
pub use error::ZarrHamtError;
pub use layout::Layout;
pub use listing::DirListing;
pub use store::{EncryptedZarrHamtStore, ShardedZarrStore, ZarrHamtStore, ZarrStore};

pub use hamt::{Cid, HamtConfig};
pub use hamt_sharded::{
    DEFAULT_CHUNKS_PER_SHARD, ManifestVersion, ShardedConfig, ShardedError, ShardedMap, convert,
};
