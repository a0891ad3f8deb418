//! A CID as a bucket holds it: 40 bytes instead of a `Cid`'s 96.

use cid::{Cid, Version};
use multihash::Multihash;

/// A CID packed for storage in bulk: a CIDv1 with one-byte codec and hash
/// codes and a 32-byte digest (every link py-hamt and this project make:
/// raw or dag-pb values, dag-cbor nodes, blake3 or sha2-256) as its codes
/// and digest, anything else boxed.
///
/// A map holds one link per key, and a `Cid` (room for a 64-byte digest
/// and 64-bit codes) is 96 bytes: a bucket entry would be 120 bytes, two
/// cache lines, and every lookup, insert, encode and decode would move that
/// much. Packed, an entry with its key is 64 bytes. Packing is canonical
/// (a CID that fits is always packed the same way), so equality and hashes
/// of packed CIDs are those of the CIDs: stores key blocks by it too.
///
/// ```
/// use hamt_codec::{BlockCodec, HashAlgorithm, PackedCid, block_cid};
/// let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"v");
/// let packed = PackedCid::new(&cid);
/// assert_eq!(packed.cid(), cid);
/// assert_eq!(std::mem::size_of::<PackedCid>(), 40);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PackedCid(pub(crate) Packed);

/// The two shapes of a [`PackedCid`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Packed {
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
    pub fn new(cid: &Cid) -> Self {
        let mh = cid.hash();
        if cid.version() == Version::V1
            && cid.codec() < 0x80
            && mh.code() < 0x80
            && let Ok(digest) = <[u8; 32]>::try_from(mh.digest())
        {
            // Both codes are below 0x80: the casts are lossless.
            #[allow(clippy::cast_possible_truncation)]
            return Self::short(cid.codec() as u8, mh.code() as u8, digest);
        }
        PackedCid(Packed::Other(Box::new(*cid)))
    }

    /// The packed CIDv1 of one-byte codes (below 0x80) and a 32-byte digest.
    pub(crate) fn short(codec: u8, hash: u8, digest: [u8; 32]) -> Self {
        PackedCid(Packed::Short {
            codec,
            hash,
            digest,
        })
    }

    /// The CID.
    ///
    /// # Panics
    /// Never: a packed digest is 32 bytes, which a multihash always holds.
    pub fn cid(&self) -> Cid {
        match &self.0 {
            Packed::Short {
                codec,
                hash,
                digest,
            } => {
                // A 32-byte digest always fits the 64-byte multihash.
                #[allow(clippy::expect_used)]
                let mh = Multihash::wrap(u64::from(*hash), digest).expect("a 32-byte digest fits");
                Cid::new_v1(u64::from(*codec), mh)
            }
            Packed::Other(cid) => **cid,
        }
    }
}

impl From<Cid> for PackedCid {
    fn from(cid: Cid) -> Self {
        PackedCid::new(&cid)
    }
}

impl std::fmt::Debug for PackedCid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedCid({})", self.cid())
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
        assert!(matches!(PackedCid::new(&raw).0, Packed::Short { .. }));
        assert!(matches!(PackedCid::new(&pb).0, Packed::Short { .. }));
        assert_eq!(
            format!("{:?}", PackedCid::new(&raw)),
            format!("PackedCid({raw})")
        );
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
            assert!(matches!(PackedCid::new(&cid).0, Packed::Other(_)));
        }
        assert_eq!(std::mem::size_of::<PackedCid>(), 40);
    }
}
