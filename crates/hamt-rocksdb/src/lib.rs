//! A persistent [`BlockStore`](hamt_store::BlockStore) on RocksDB:
//! [`RocksDbStore`].
//!
//! # Layout
//!
//! Four column families:
//!
//! * `blocks`: key = the block's CID as binary CIDv1 (a CIDv0 is stored as
//!   the equal CIDv1), value = the block bytes. Large values (64 KiB and up
//!   by default) live in uncompressed blob files.
//! * `block_meta`: same key, value = when the block was last put
//!   (milliseconds since the epoch) and its length, 16 bytes.
//! * `roots`: key = a root's name, value = its CID.
//! * `default`: a format version marker.
//!
//! **Why the CID and not the multihash as key.** A key that is a whole CID
//! says how to read the block's links (its codec) without reading the block,
//! which the GC's sweep and tools listing blocks need, and it is exactly what
//! callers ask for. The cost, a block with equal bytes under two codecs
//! stored twice, does not arise here: values are `raw`, nodes `dag-cbor`,
//! UnixFS nodes `dag-pb`. Normalising CIDv0 to CIDv1 keeps the one real
//! aliasing case (dag-pb links written as `Qm…`) on one key.
//!
//! **Why write times live in their own column family.** A re-put of a held
//! block must refresh its GC grace time; in a separate family that is a
//! 16-byte write rather than a rewrite of the block, and the GC sweep scans
//! this small family instead of every block's bytes.
//!
//! # Durability and GC
//!
//! Block writes bypass RocksDB's write-ahead log: small blocks are buffered
//! and ingested as sorted SST files, large ones go to memtables that are
//! flushed (to blob files) at commit points. So a crash (of the process or
//! the machine) may lose the blocks written since the last
//! [`RocksDbStore::sync`], and only those. [`RocksDbStore::set_root`] syncs
//! before it durably writes the name, so a named root never points at a
//! block lost to a crash. The GC
//! rule — reachable from a named root, or put within the grace period — is
//! described on [`RocksDbStore::gc`] and in the `gc` module source.
//!
//! # Cost of verified reads
//!
//! See [`RocksDbOptions::verify_reads`]; `examples/bench.rs` measures it.

mod complete;
mod error;
mod gc;
mod ingest;
mod keys;
mod options;
mod roots;
mod store;

pub use gc::{DagReport, GcReport};
pub use options::{Compression, RocksDbOptions};
pub use roots::SWAP_ONLY_PREFIX;
pub use store::RocksDbStore;
