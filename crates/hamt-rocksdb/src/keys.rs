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
pub(crate) fn block_key(cid: &Cid) -> Vec<u8> {
    Cid::new_v1(cid.codec(), *cid.hash()).to_bytes()
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
        assert_eq!(block_key(&v1), v1.to_bytes());
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
