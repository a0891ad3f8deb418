use cid::Cid;
use multihash::Multihash;

use crate::error::VerifyError;

/// The IPLD codec of a block, as recorded in its CID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockCodec {
    /// `raw` (0x55): value blocks, stored verbatim.
    Raw,
    /// `dag-cbor` (0x71): HAMT nodes.
    DagCbor,
    /// `dag-pb` (0x70): UnixFS nodes of values too large for one block.
    DagPb,
}

impl BlockCodec {
    /// The multicodec code.
    pub const fn code(self) -> u64 {
        match self {
            BlockCodec::Raw => 0x55,
            BlockCodec::DagCbor => 0x71,
            BlockCodec::DagPb => 0x70,
        }
    }

    /// The codec for a multicodec code, if it is one of ours.
    pub const fn from_code(code: u64) -> Option<Self> {
        match code {
            0x55 => Some(BlockCodec::Raw),
            0x71 => Some(BlockCodec::DagCbor),
            0x70 => Some(BlockCodec::DagPb),
            _ => None,
        }
    }
}

/// The hash function of a block's multihash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// blake3, 32-byte digest (multihash 0x1e): what py-hamt's `KuboCAS` uses by default.
    #[default]
    Blake3,
    /// sha2-256 (multihash 0x12): Kubo's own default.
    Sha2_256,
}

impl HashAlgorithm {
    /// The multihash code.
    pub const fn code(self) -> u64 {
        match self {
            HashAlgorithm::Blake3 => 0x1e,
            HashAlgorithm::Sha2_256 => 0x12,
        }
    }

    /// The algorithm for a multihash code, if it is one of ours.
    pub const fn from_code(code: u64) -> Option<Self> {
        match code {
            0x1e => Some(HashAlgorithm::Blake3),
            0x12 => Some(HashAlgorithm::Sha2_256),
            _ => None,
        }
    }

    /// The 32-byte digest of `data`.
    pub fn digest(self, data: &[u8]) -> [u8; 32] {
        match self {
            HashAlgorithm::Blake3 => *blake3::hash(data).as_bytes(),
            HashAlgorithm::Sha2_256 => {
                use sha2::Digest;
                sha2::Sha256::digest(data).into()
            }
        }
    }

    /// The name Kubo's RPC takes for `mhtype`.
    pub const fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Blake3 => "blake3",
            HashAlgorithm::Sha2_256 => "sha2-256",
        }
    }
}

/// The CIDv1 of a block: `codec` plus the multihash of `data`.
///
/// ```
/// use hamt_codec::{block_cid, BlockCodec, HashAlgorithm};
/// let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"hello");
/// assert!(cid.to_string().starts_with("bafkr4i"));
/// ```
pub fn block_cid(codec: BlockCodec, hash: HashAlgorithm, data: &[u8]) -> Cid {
    let digest = hash.digest(data);
    Cid::new_v1(codec.code(), wrap_digest(hash, &digest))
}

fn wrap_digest(hash: HashAlgorithm, digest: &[u8; 32]) -> Multihash<64> {
    // `wrap` fails only for a digest longer than the multihash's 64 bytes.
    #[allow(clippy::expect_used)]
    Multihash::wrap(hash.code(), digest).expect("a 32-byte digest fits a 64-byte multihash")
}

/// Checks that `data` hashes to the multihash in `cid`.
///
/// ```
/// use hamt_codec::{block_cid, verify_block, BlockCodec, HashAlgorithm};
/// let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Sha2_256, b"hello");
/// assert!(verify_block(&cid, b"hello").is_ok());
/// assert!(verify_block(&cid, b"hellO").is_err());
/// ```
pub fn verify_block(cid: &Cid, data: &[u8]) -> Result<(), VerifyError> {
    let mh = cid.hash();
    let algorithm = HashAlgorithm::from_code(mh.code()).ok_or(VerifyError::UnsupportedHash {
        cid: *cid,
        code: mh.code(),
    })?;
    if mh.digest() == algorithm.digest(data) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch { cid: *cid })
    }
}

/// Why bytes are not one canonical binary CID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidError {
    /// Not a CID at all; the `cid` crate's reason.
    #[error("{0}")]
    Malformed(String),
    /// A CID spelled non-canonically (a varint that overflows 64 bits, whose
    /// extra bits the `cid` crate would drop).
    #[error("non-canonical CID (a varint overflows 64 bits)")]
    NonCanonical,
    /// A DAG-CBOR link's bytes do not start with the `0x00` multibase prefix.
    #[error("missing the 0x00 multibase prefix")]
    MissingMultibasePrefix,
    /// Bytes follow the CID where it should be all there is.
    #[error("{0} bytes after the CID")]
    TrailingBytes(usize),
}

/// Reads the binary CID at the start of `bytes`, accepting only its one
/// canonical spelling, and returns it with the number of bytes it took.
///
/// The `cid` crate reads a 10-byte varint whose last byte overflows 64 bits
/// by dropping the extra bits, so distinct byte strings can read as one CID
/// (a block's link could then be spelled two ways). This accepts only bytes
/// the CID writes back exactly.
///
/// ```
/// use hamt_codec::{BlockCodec, HashAlgorithm, block_cid, read_canonical_cid};
/// let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"v");
/// let mut bytes = cid.to_bytes();
/// bytes.extend_from_slice(b"data after the CID");
/// assert_eq!(read_canonical_cid(&bytes)?, (cid, cid.encoded_len()));
/// # Ok::<(), hamt_codec::CidError>(())
/// ```
///
/// # Errors
/// The bytes do not start with a CID, or spell it non-canonically.
pub fn read_canonical_cid(bytes: &[u8]) -> Result<(Cid, usize), CidError> {
    let mut cursor = bytes;
    let cid = Cid::read_bytes(&mut cursor).map_err(|e| CidError::Malformed(e.to_string()))?;
    let used = bytes.len() - cursor.len();
    // CIDv1 with a 64-byte digest and four 10-byte varints fits in 128.
    let mut canonical = [0u8; 128];
    let written = cid
        .write_bytes(&mut canonical[..])
        .map_err(|e| CidError::Malformed(e.to_string()))?;
    if canonical[..written] != bytes[..used] {
        return Err(CidError::NonCanonical);
    }
    Ok((cid, used))
}

/// Parses `bytes` as exactly one canonical binary CID (see
/// [`read_canonical_cid`]); trailing bytes are an error.
///
/// # Errors
/// Not a CID, a non-canonical one, or bytes after it.
pub fn parse_canonical_cid(bytes: &[u8]) -> Result<Cid, CidError> {
    let (cid, used) = read_canonical_cid(bytes)?;
    if used != bytes.len() {
        return Err(CidError::TrailingBytes(bytes.len() - used));
    }
    Ok(cid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for codec in [BlockCodec::Raw, BlockCodec::DagCbor, BlockCodec::DagPb] {
            assert_eq!(BlockCodec::from_code(codec.code()), Some(codec));
        }
        for hash in [HashAlgorithm::Blake3, HashAlgorithm::Sha2_256] {
            assert_eq!(HashAlgorithm::from_code(hash.code()), Some(hash));
        }
        assert_eq!(BlockCodec::from_code(0x12), None);
        assert_eq!(HashAlgorithm::from_code(0x55), None);
    }

    #[test]
    fn py_hamt_cid_prefixes() {
        let node = block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b"x");
        assert!(node.to_string().starts_with("bafyr4i"));
        let sha = block_cid(BlockCodec::DagCbor, HashAlgorithm::Sha2_256, b"x");
        assert!(sha.to_string().starts_with("bafyrei"));
    }

    #[test]
    fn unsupported_hash_is_an_error() {
        let mh = Multihash::<64>::wrap(0x13, &[0; 64]).unwrap();
        let cid = Cid::new_v1(0x55, mh);
        assert!(matches!(
            verify_block(&cid, b""),
            Err(VerifyError::UnsupportedHash { code: 0x13, .. })
        ));
    }
}
