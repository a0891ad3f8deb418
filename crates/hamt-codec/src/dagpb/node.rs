//! dag-pb nodes (`PBNode`/`PBLink`), encoded exactly as go-merkledag does.

use crate::Cid;
use bytes::Bytes;

use super::wire::{self as pb, Reader};
use super::{DecodeError, DecodeErrorKind};

const WHAT: &str = "dag-pb node";

/// A dag-pb link: the child's CID, a name and the cumulative size of the child's DAG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    /// The child's CID (`Hash`, field 1).
    pub cid: Cid,
    /// The link name (`Name`, field 2). Kubo's file nodes carry an empty name,
    /// which is encoded (as `12 00`), unlike an absent one.
    pub name: Option<String>,
    /// Total bytes of the child's blocks (`Tsize`, field 3).
    pub tsize: Option<u64>,
}

/// A dag-pb node: links first, then opaque data (for UnixFS, a [`crate::dagpb::UnixfsData`]).
///
/// ```
/// use hamt_codec::dagpb::{PbLink, PbNode};
/// use hamt_codec::{block_cid, BlockCodec, HashAlgorithm};
///
/// let child = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"leaf");
/// let node = PbNode {
///     links: vec![PbLink { cid: child, name: Some(String::new()), tsize: Some(4) }],
///     data: Some(vec![8, 2].into()),
/// };
/// let bytes = node.encode();
/// assert_eq!(PbNode::decode(&bytes.clone().into()).unwrap(), node);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PbNode {
    /// The links, in order (field 2, encoded first).
    pub links: Vec<PbLink>,
    /// The data (field 1, encoded after the links).
    pub data: Option<Bytes>,
}

impl PbNode {
    /// The canonical dag-pb bytes: links (each `Hash`, `Name`, `Tsize`), then data.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        for link in &self.links {
            pb::put_bytes(&mut out, 2, &link.encode());
        }
        if let Some(data) = &self.data {
            pb::put_bytes(&mut out, 1, data);
        }
        out
    }

    fn encoded_len_hint(&self) -> usize {
        self.links.len() * 48 + self.data.as_ref().map_or(0, |d| d.len() + 4)
    }

    /// Decodes dag-pb bytes strictly (canonical field order, no unknown
    /// fields). The data is a zero-copy slice of `bytes`; allocation is
    /// bounded by the input size.
    pub fn decode(bytes: &Bytes) -> Result<Self, DecodeError> {
        let (links, data) = decode_parts(bytes)?;
        Ok(PbNode {
            links,
            data: data.map(|range| bytes.slice(range)),
        })
    }
}

/// The links of a dag-pb node and where its data lies, read strictly.
fn decode_parts(
    bytes: &[u8],
) -> Result<(Vec<PbLink>, Option<std::ops::Range<usize>>), DecodeError> {
    let mut reader = Reader::new(bytes, WHAT);
    let mut links = Vec::new();
    let mut data = None;
    while !reader.is_done() {
        let at = reader.offset();
        let (field, wire_type) = reader.key()?;
        if wire_type != pb::LEN {
            return Err(reader.error_at(at, DecodeErrorKind::WrongWireType { field, wire_type }));
        }
        // Data is last and appears at most once: anything after it is out of order.
        if data.is_some() {
            return Err(reader.error_at(at, DecodeErrorKind::FieldOrder));
        }
        match field {
            1 => {
                let body = reader.bytes()?;
                let end = reader.offset();
                data = Some(end - body.len()..end);
            }
            2 => {
                let body_at = reader.offset();
                let body = reader.bytes()?;
                links.push(decode_link(body).map_err(|mut e| {
                    e.offset += body_at;
                    e
                })?);
            }
            _ => return Err(reader.error_at(at, DecodeErrorKind::UnknownField(field))),
        }
    }
    Ok((links, data))
}

impl PbLink {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        pb::put_bytes(&mut out, 1, &self.cid.to_bytes());
        if let Some(name) = &self.name {
            pb::put_bytes(&mut out, 2, name.as_bytes());
        }
        if let Some(tsize) = self.tsize {
            pb::put_uint(&mut out, 3, tsize);
        }
        out
    }
}

fn decode_link(body: &[u8]) -> Result<PbLink, DecodeError> {
    let mut reader = Reader::new(body, WHAT);
    let (mut cid, mut name, mut tsize) = (None, None, None);
    let mut last_field = 0;
    while !reader.is_done() {
        let at = reader.offset();
        let (field, wire_type) = reader.key()?;
        if field <= last_field {
            return Err(reader.error_at(at, DecodeErrorKind::FieldOrder));
        }
        last_field = field;
        let expected_wire = if field == 3 { pb::VARINT } else { pb::LEN };
        if field > 3 {
            return Err(reader.error_at(at, DecodeErrorKind::UnknownField(field)));
        }
        if wire_type != expected_wire {
            return Err(reader.error_at(at, DecodeErrorKind::WrongWireType { field, wire_type }));
        }
        match field {
            1 => {
                let bytes = reader.bytes()?;
                cid = Some(parse_cid(&reader, bytes, at)?);
            }
            2 => {
                let bytes = reader.bytes()?;
                name = Some(parse_name(&reader, bytes, at)?);
            }
            _ => tsize = Some(reader.varint()?),
        }
    }
    let cid = cid.ok_or_else(|| reader.error_at(0, DecodeErrorKind::MissingHash))?;
    Ok(PbLink { cid, name, tsize })
}

fn parse_cid(reader: &Reader<'_>, bytes: &[u8], at: usize) -> Result<Cid, DecodeError> {
    // Strict like go-cid's `Cast`: one whole CID, spelled canonically.
    crate::parse_canonical_cid(bytes)
        .map_err(|e| reader.error_at(at, DecodeErrorKind::InvalidCid(e)))
}

fn parse_name(reader: &Reader<'_>, bytes: &[u8], at: usize) -> Result<String, DecodeError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| reader.error_at(at, DecodeErrorKind::InvalidName))
}

/// The CIDs a dag-pb block links to, in order (for GC, walks and CAR export).
///
/// ```
/// use hamt_codec::dagpb::{PbLink, PbNode, dag_pb_links};
/// use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};
///
/// let leaves = [b"one".as_slice(), b"two"].map(|d| block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, d));
/// let links = leaves.iter().map(|&cid| PbLink { cid, name: Some(String::new()), tsize: Some(3) });
/// let node = PbNode { links: links.collect(), data: None };
/// assert_eq!(dag_pb_links(&node.encode()).unwrap(), leaves);
/// ```
pub fn dag_pb_links(bytes: &[u8]) -> Result<Vec<Cid>, DecodeError> {
    Ok(decode_parts(bytes)?.0.into_iter().map(|l| l.cid).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockCodec, HashAlgorithm, block_cid};

    fn sample() -> PbNode {
        let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Sha2_256, b"x");
        PbNode {
            links: vec![PbLink {
                cid,
                name: Some(String::new()),
                tsize: Some(1),
            }],
            data: Some(Bytes::from_static(&[8, 2, 0x18, 1])),
        }
    }

    #[test]
    fn empty_name_is_encoded_and_round_trips() {
        let bytes = sample().encode();
        // Link: 0x12 len, then Hash (0x0a 0x24 + 36 bytes), Name (0x12 0x00), Tsize (0x18 0x01).
        assert_eq!(&bytes[..4], &[0x12, 42, 0x0a, 36]);
        assert_eq!(&bytes[40..44], &[0x12, 0x00, 0x18, 0x01]);
        assert_eq!(PbNode::decode(&bytes.into()).unwrap(), sample());
    }

    #[test]
    fn data_before_links_is_rejected() {
        let mut bytes = vec![0x0a, 0x00];
        bytes.extend(sample().encode());
        let err = PbNode::decode(&bytes.into()).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::FieldOrder);
    }

    #[test]
    fn hostile_inputs_are_errors_not_panics() {
        let valid = sample().encode();
        // Every truncation and every single-byte change either decodes or is a typed error.
        for cut in 0..valid.len() {
            let _ = PbNode::decode(&Bytes::copy_from_slice(&valid[..cut]));
        }
        for i in 0..valid.len() {
            for byte in [0x00, 0x7f, 0x80, 0xff] {
                let mut bad = valid.clone();
                bad[i] = byte;
                let _ = PbNode::decode(&bad.into());
            }
        }
        let err = PbNode::decode(&Bytes::from_static(&[0x12, 0x02, 0x18, 0x01])).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::MissingHash);
        let err = PbNode::decode(&Bytes::from_static(&[0x1a, 0x00])).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::UnknownField(3));
    }

    /// A link's Hash must be one whole CID, spelled canonically, as go-cid's
    /// `Cast` requires (found by the `unixfs_decode` fuzz target).
    #[test]
    fn a_hash_with_trailing_bytes_or_an_overlong_varint_is_rejected() {
        let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"x").to_bytes();
        let link_with_hash = |hash: &[u8]| {
            let mut link = vec![0x0a, u8::try_from(hash.len()).unwrap()];
            link.extend_from_slice(hash);
            let mut node = vec![0x12, u8::try_from(link.len()).unwrap()];
            node.extend(link);
            PbNode::decode(&node.into())
        };
        assert!(link_with_hash(&cid).is_ok());

        let mut trailing = cid.clone();
        trailing.push(0);
        let err = link_with_hash(&trailing).unwrap_err();
        assert!(
            matches!(&err.kind, DecodeErrorKind::InvalidCid(m) if m.to_string().contains("after the CID")),
            "{err}"
        );

        // The raw codec 0x55 spelled as a 10-byte varint that overflows 64 bits.
        let mut aliased = vec![
            0x01, 0xd5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02,
        ];
        aliased.extend_from_slice(&cid[2..]);
        let err = link_with_hash(&aliased).unwrap_err();
        assert!(
            matches!(&err.kind, DecodeErrorKind::InvalidCid(m) if m.to_string().contains("non-canonical")),
            "{err}"
        );
    }
}
