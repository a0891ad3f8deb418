//! A [`BlockStore`] on a Kubo (IPFS) daemon, compatible with py-hamt's `KuboCAS`.
//!
//! [`KuboStore`] reads blocks from trustless gateways (or the RPC API) and
//! verifies each against its CID; it writes with the RPC's `block/put`,
//! checking the daemon computed the same CID; it retries transient failures
//! with exponential backoff and jitter, fails over between gateways (a
//! circuit breaker per gateway puts failing ones last), caps requests in
//! flight, reuses connections, authenticates with headers, a bearer token or
//! basic auth, manages pins, names roots (files in the daemon's MFS, see
//! [`KuboStore::name_root`]) and runs the daemon's GC. Credentials are sent
//! only to the origins they are for (never across a redirect to another
//! one) and never appear in errors or `Debug` output.
//!
//! ```no_run
//! use hamt_kubo::KuboStore;
//! use hamt_store::{BlockStore, BlockCodec};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Read-only, from public gateways:
//! let reader = KuboStore::builder()
//!     .gateways(["https://trustless-gateway.link", "https://ipfs.io"])
//!     .build()?;
//! // Read-write, on a local daemon:
//! let store = KuboStore::builder().rpc_url("http://127.0.0.1:5001").build()?;
//! let cid = store.put(BlockCodec::DagCbor, vec![0xa0].into()).await?;
//! assert_eq!(reader.hash_algorithm(), store.hash_algorithm());
//! # let _ = cid; Ok(()) }
//! ```
//!
//! [`BlockStore`]: hamt_store::BlockStore

mod breaker;
mod builder;
mod car_fetch;
mod config;
mod error;
mod multipart;
mod names;
mod pins;
mod refs;
mod repo;
mod store;
mod transport;

pub use breaker::BreakerPolicy;
pub use builder::{DEFAULT_MAX_BLOCK_SIZE, KuboStoreBuilder};
pub use config::{RetryPolicy, redact_url};
pub use error::KuboError;
pub use names::{ROOTS_DIR, check_name};
pub use pins::PinKind;
pub use refs::{LOCK_WAIT, REFS_DIR};
pub use repo::RepoGc;
pub use store::KuboStore;
