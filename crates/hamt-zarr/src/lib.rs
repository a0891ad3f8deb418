//! A zarr v3 store for [`zarrs`](https://docs.rs/zarrs) over a py-hamt-compatible
//! [`Hamt`](hamt::Hamt) on any content-addressed [`BlockStore`](hamt::BlockStore).
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

mod async_impl;
mod codec;
mod error;
mod listing;
mod metadata;
mod range;
mod store;
mod sync_impl;

pub use codec::{
    ENCRYPTION_OVERHEAD, EncryptedValues, NONCE_LEN, PlainValues, TAG_LEN, ValueCodec,
};
pub use error::ZarrHamtError;
pub use store::{EncryptedZarrHamtStore, ZarrHamtStore};

pub use hamt::{Cid, HamtConfig};
