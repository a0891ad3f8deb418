//! A CID as a bucket holds it: 40 bytes instead of a `Cid`'s 96.

use cid::{Cid, Version};
use multihash::Multihash;

/// A CID packed for storage in bulk: a CIDv1 with one-byte codec and hash
/// codes and a 32-byte digest (every link py-hamt and this project make:
/// raw or dag-pb values, blake3 or sha2-256) as its codes and digest,
/// anything else boxed.
///
/// A map holds one link per key, and a `Cid` (room for a 64-byte digest
/// and 64-bit codes) is 96 bytes: a bucket entry would be 120 bytes, two
/// cache lines, and every lookup, insert, encode and decode would move that
/// much. Packed, an entry with its key is 64 bytes. Packing is canonical
/// (a CID that fits is always packed), so equality of packed CIDs is
/// equality of CIDs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PackedCid {
    /// CIDv1, codec and multihash code below 0x80, 32-byte digest.
    Short {
        codec: u8,
        hash: u8,
        digest: [u8; 32],
    },
    /// Any other CID.
    Other(Box<Cid>),
}

impl PackedCid {
    /// Packs `cid`.
    pub(crate) fn new(cid: &Cid) -> Self {
        let mh = cid.hash();
        if cid.version() == Version::V1
            && cid.codec() < 0x80
            && mh.code() < 0x80
            && let Ok(digest) = <[u8; 32]>::try_from(mh.digest())
        {
            // Both codes are below 0x80: the casts are lossless.
            #[allow(clippy::cast_possible_truncation)]
            return PackedCid::Short {
                codec: cid.codec() as u8,
                hash: mh.code() as u8,
                digest,
            };
        }
        PackedCid::Other(Box::new(*cid))
    }

    /// The CID.
    pub(crate) fn cid(&self) -> Cid {
        match self {
            PackedCid::Short {
                codec,
                hash,
                digest,
            } => short_cid(*codec, *hash, digest),
            PackedCid::Other(cid) => **cid,
        }
    }
}

/// The CIDv1 of one-byte codes and a 32-byte digest.
pub(crate) fn short_cid(codec: u8, hash: u8, digest: &[u8; 32]) -> Cid {
    // A 32-byte digest always fits the 64-byte multihash.
    #[allow(clippy::expect_used)]
    let mh = Multihash::wrap(u64::from(hash), digest).expect("a 32-byte digest fits");
    Cid::new_v1(u64::from(codec), mh)
}

impl From<Cid> for PackedCid {
    fn from(cid: Cid) -> Self {
        PackedCid::new(&cid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockCodec, HashAlgorithm, block_cid};

    #[test]
    fn packs_common_cids_and_keeps_the_rest() {
        let raw = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"v");
        let pb = block_cid(BlockCodec::DagPb, HashAlgorithm::Sha2_256, b"v");
        let v0 = Cid::new_v0(*pb.hash()).unwrap();
        let wide = Cid::new_v1(0x55, Multihash::<64>::wrap(0x13, &[1; 64]).unwrap());
        let big_codec = Cid::new_v1(0x0129, *raw.hash());
        assert!(matches!(PackedCid::new(&raw), PackedCid::Short { .. }));
        assert!(matches!(PackedCid::new(&pb), PackedCid::Short { .. }));
        for cid in [raw, pb, v0, wide, big_codec] {
            let packed = PackedCid::new(&cid);
            assert_eq!(packed.cid(), cid);
            for other in [raw, pb, v0, wide, big_codec] {
                assert_eq!(
                    packed == PackedCid::new(&other),
                    other == cid,
                    "{cid} vs {other}"
                );
            }
        }
        for cid in [v0, wide, big_codec] {
            assert!(matches!(PackedCid::new(&cid), PackedCid::Other(_)));
        }
        assert_eq!(std::mem::size_of::<PackedCid>(), 40);
    }
}
