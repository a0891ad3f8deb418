use std::fmt::Debug;

/// Length in bytes of a key hash: 32, so a HAMT is at most 32 levels deep.
pub const KEY_HASH_LEN: usize = 32;

/// The hash of a key; byte `d` is the slot index at depth `d`.
pub type KeyHash = [u8; KEY_HASH_LEN];

/// Hashes HAMT keys to place them in the trie.
///
/// Every writer and reader of one HAMT must use the same hasher. py-hamt's
/// default is blake3 ([`Blake3KeyHasher`]).
pub trait KeyHasher: Send + Sync + Debug {
    /// Hash the key's UTF-8 bytes.
    fn hash(&self, key: &[u8]) -> KeyHash;
}

/// blake3 with a 32-byte digest: py-hamt's default `blake3_hashfn`.
///
/// ```
/// use hamt_codec::{Blake3KeyHasher, KeyHasher};
/// let h = Blake3KeyHasher.hash(b"zarr.json");
/// assert_eq!(h, *blake3::hash(b"zarr.json").as_bytes());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Blake3KeyHasher;

impl KeyHasher for Blake3KeyHasher {
    fn hash(&self, key: &[u8]) -> KeyHash {
        *blake3::hash(key).as_bytes()
    }
}

/// sha2-256, for HAMTs built with `hashlib.sha256` as py-hamt's `hash_fn`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sha256KeyHasher;

impl KeyHasher for Sha256KeyHasher {
    fn hash(&self, key: &[u8]) -> KeyHash {
        use sha2::Digest;
        sha2::Sha256::digest(key).into()
    }
}
