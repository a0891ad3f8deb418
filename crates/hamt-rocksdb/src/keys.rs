//! What is stored under which key.
//!
//! * `blocks` CF: key = the block's CID as binary CIDv1, value = the block bytes.
//! * `block_meta` CF: same key, value = [`BlockMeta`] (16 bytes).
//! * `roots` CF: key = the root's name (UTF-8), value = the root CID (binary).
//! * `default` CF: the format marker.

use std::time::{SystemTime, UNIX_EPOCH};

use hamt_codec::Cid;

/// Column family holding block bytes.
pub(crate) const BLOCKS_CF: &str = "blocks";
/// Column family holding each block's [`BlockMeta`].
pub(crate) const META_CF: &str = "block_meta";
/// Column family mapping root names to root CIDs.
pub(crate) const ROOTS_CF: &str = "roots";
/// Every column family this crate creates, besides `default`.
pub(crate) const COLUMN_FAMILIES: [&str; 3] = [BLOCKS_CF, META_CF, ROOTS_CF];

/// Key (in the default CF) of the on-disk format version.
pub(crate) const FORMAT_KEY: &[u8] = b"hamt-rocksdb/format";
/// The on-disk format this code writes and reads.
pub(crate) const FORMAT_VERSION: &[u8] = b"1";

/// The key of block `cid`: its binary CIDv1.
///
/// A CIDv0 (`Qm…`, dag-pb + sha2-256, as UnixFS links often are) names the
/// same block as the CIDv1 with that codec and multihash, so both spellings
/// map to one key.
pub(crate) fn block_key(cid: &Cid) -> BlockKey {
    let mh = cid.hash();
    let mut bytes = [0u8; BlockKey::INLINE];
    // The common shape (one-byte codes, 32-byte digest: every CID this
    // project makes, and CIDv0) spelled directly: `01 <codec> <hash> 20`
    // and the digest, without the general varint writer.
    if cid.codec() < 0x80 && mh.code() < 0x80 && mh.size() == 32 {
        // Both codes are below 0x80: one-byte varints, lossless casts.
        #[allow(clippy::cast_possible_truncation)]
        bytes[..4].copy_from_slice(&[0x01, cid.codec() as u8, mh.code() as u8, 0x20]);
        bytes[4..36].copy_from_slice(mh.digest());
        return BlockKey::Inline { len: 36, bytes };
    }
    let v1 = Cid::new_v1(cid.codec(), *mh);
    match v1.write_bytes(&mut bytes[..]) {
        // Every CID this project makes (36 bytes) and most others fit.
        // `len` is at most the buffer's 46 bytes.
        #[allow(clippy::cast_possible_truncation)]
        Ok(len) => BlockKey::Inline {
            len: len as u8,
            bytes,
        },
        Err(_) => BlockKey::Heap(v1.to_bytes().into_boxed_slice()),
    }
}

/// A block's key (its binary CIDv1), held inline up to 46 bytes: a write
/// of millions of small blocks makes no allocation per key.
#[derive(Debug, Clone)]
pub(crate) enum BlockKey {
    Inline { len: u8, bytes: [u8; Self::INLINE] },
    Heap(Box<[u8]>),
}

impl BlockKey {
    const INLINE: usize = 46;

    /// The key's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            BlockKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            BlockKey::Heap(bytes) => bytes,
        }
    }

    /// The first 16 bytes as a big-endian number, zero-padded: comparing
    /// these orders keys as their bytes do, except among keys that share
    /// them (then the whole bytes decide). Sorting a million keys by this
    /// first costs integer comparisons instead of a `memcmp` call each.
    pub(crate) fn prefix(&self) -> u128 {
        let bytes = self.as_bytes();
        let mut word = [0u8; 16];
        let n = bytes.len().min(16);
        word[..n].copy_from_slice(&bytes[..n]);
        u128::from_be_bytes(word)
    }
}

// Equality, order and hash are those of the bytes, so maps keyed by
// `BlockKey` can be searched with a `&[u8]`.
impl PartialEq for BlockKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for BlockKey {}

impl std::hash::Hash for BlockKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl Ord for BlockKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for BlockKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::ops::Deref for BlockKey {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for BlockKey {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::borrow::Borrow<[u8]> for BlockKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// When a block was last put and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockMeta {
    /// Milliseconds since the Unix epoch of the latest `put` of the block.
    pub(crate) written_at_ms: u64,
    /// The block's length in bytes.
    pub(crate) len: u64,
}

impl BlockMeta {
    pub(crate) const ENCODED_LEN: usize = 16;

    pub(crate) fn encode(self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.written_at_ms.to_be_bytes());
        out[8..].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let written_at_ms = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let len = u64::from_be_bytes(bytes.get(8..Self::ENCODED_LEN)?.try_into().ok()?);
        Some(BlockMeta { written_at_ms, len })
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};

    #[test]
    fn cid_v0_and_v1_share_a_key() {
        let v1 = block_cid(BlockCodec::DagPb, HashAlgorithm::Sha2_256, b"pb");
        let v0 = Cid::new_v0(*v1.hash()).unwrap();
        assert_eq!(block_key(&v0), block_key(&v1));
        assert_eq!(block_key(&v1).as_bytes(), v1.to_bytes());
        // Past the short form: a two-byte codec varint.
        let json = Cid::new_v1(0x0129, *v1.hash());
        assert_eq!(block_key(&json).as_bytes(), json.to_bytes());
        assert!(matches!(block_key(&json), BlockKey::Inline { len: 37, .. }));
    }

    #[test]
    fn long_cids_are_keyed_on_the_heap_and_order_by_bytes() {
        let wide = Cid::new_v1(
            0x55,
            multihash::Multihash::<64>::wrap(0x13, &[9; 64]).unwrap(),
        );
        let key = block_key(&wide);
        assert!(matches!(key, BlockKey::Heap(_)));
        assert_eq!(key.as_bytes(), wide.to_bytes());
        let mut keys: Vec<BlockKey> = (0..200u8)
            .map(|i| block_key(&block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &[i])))
            .chain([key])
            .collect();
        keys.sort_unstable_by(|a, b| a.prefix().cmp(&b.prefix()).then_with(|| a.cmp(b)));
        assert!(keys.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
    }

    #[test]
    fn meta_round_trips_and_rejects_short_bytes() {
        let meta = BlockMeta {
            written_at_ms: 1_700_000_000_000,
            len: 42,
        };
        assert_eq!(BlockMeta::decode(&meta.encode()), Some(meta));
        assert_eq!(BlockMeta::decode(&[1, 2, 3]), None);
    }
}
