//! The block formats, byte for byte, and nothing else: no I/O. py-hamt's
//! HAMT node (here, at the top), the dag-pb and UnixFS blocks of large
//! values ([`dagpb`]), CIDs and their canonical spelling ([`block_cid`],
//! [`read_canonical_cid`]), varints ([`varint`]), and the links any block
//! holds ([`block_links`]), which every walk over a DAG follows.
//!
//! A HAMT node is a DAG-CBOR array of exactly 256 slots. A slot is empty (an
//! empty map), a *bucket* (a map from key string to the link of the value's
//! block) or a *child* (a one-element array holding the link of a child node).
//! Keys are hashed with a [`KeyHasher`] (blake3 by default); the node at depth
//! `d` uses byte `d` of the hash as the slot index.
//!
//! ```
//! use hamt_codec::{Bucket, Node, Slot, BlockCodec, HashAlgorithm, block_cid};
//!
//! let value = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"chunk bytes");
//! let mut node: Node = Node::new();
//! node.set(7, Slot::Bucket(Bucket::single("temp/c/0/0".into(), value)));
//! let bytes = node.encode();
//! assert_eq!(&bytes[..3], &[0x99, 0x01, 0x00]);
//! let decoded = Node::decode(&bytes, 4).unwrap();
//! assert_eq!(decoded, node);
//! ```

mod cbor;
pub mod dagpb;
mod error;
mod key;
mod key_hash;
mod link;
pub mod link_list;
mod links;
mod node;
mod packed_cid;
mod stored_node;
pub mod value;
pub mod varint;

pub use error::{DecodeError, DecodeErrorKind, LinkListError, VerifyError};
pub use key::Key;
pub use key_hash::{Blake3KeyHasher, KEY_HASH_LEN, KeyHash, KeyHasher, Sha256KeyHasher};
pub use link::{
    BlockCodec, CidError, HashAlgorithm, block_cid, parse_canonical_cid, read_canonical_cid,
    verify_block,
};
pub use links::{LinksError, block_links};
pub use node::{Bucket, Node, SLOT_COUNT, Slot};
pub use packed_cid::PackedCid;
pub use stored_node::{BucketEntries, StoredNode, StoredSlot};

/// The content identifier type used for every link (re-exported from `cid`).
pub use cid::Cid;
