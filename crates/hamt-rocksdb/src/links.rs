//! The links inside a block, for garbage collection and DAG checks.

use hamt_codec::{BlockCodec, Cid, Node, Slot};
use ipld_core::ipld::Ipld;

/// Multihash code of the identity "hash": the data is inline in the CID, no block exists.
pub(crate) const IDENTITY_HASH: u64 = 0x00;

/// Why the links of a block could not be read.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// A codec whose links this crate cannot parse.
    UnknownCodec(u64),
    /// dag-cbor that is neither a HAMT node nor decodable DAG-CBOR.
    DagCbor(String),
    /// dag-pb that is not a valid `PBNode`.
    DagPb(&'static str),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::UnknownCodec(code) => write!(f, "cannot read the links of codec {code:#x}"),
            LinkError::DagCbor(e) => write!(f, "undecodable dag-cbor: {e}"),
            LinkError::DagPb(e) => write!(f, "invalid dag-pb: {e}"),
        }
    }
}

impl std::error::Error for LinkError {}

/// Appends the CIDs block `data` (of codec `codec`) links to.
pub(crate) fn links(codec: u64, data: &[u8], out: &mut Vec<Cid>) -> Result<(), LinkError> {
    match BlockCodec::from_code(codec) {
        Some(BlockCodec::Raw) => Ok(()),
        Some(BlockCodec::DagCbor) => dag_cbor_links(data, out),
        Some(BlockCodec::DagPb) => dag_pb_links(data, out),
        _ => Err(LinkError::UnknownCodec(codec)),
    }
}

/// Whether blocks of `codec` can hold links, i.e. must be read to be traced.
pub(crate) fn may_have_links(codec: u64) -> bool {
    codec != BlockCodec::Raw.code()
}

fn dag_cbor_links(data: &[u8], out: &mut Vec<Cid>) -> Result<(), LinkError> {
    // Nearly every dag-cbor block here is a HAMT node; the generic decoder
    // covers any other dag-cbor a caller stored (e.g. its own metadata).
    let Ok(node) = Node::<Cid>::decode(data, usize::MAX) else {
        return generic_dag_cbor_links(data, out);
    };
    for (_, slot) in node.iter() {
        match slot {
            Slot::Child(cid) => out.push(*cid),
            Slot::Bucket(bucket) => out.extend(bucket.iter().map(|(_, link)| *link)),
        }
    }
    Ok(())
}

fn generic_dag_cbor_links(data: &[u8], out: &mut Vec<Cid>) -> Result<(), LinkError> {
    let value: Ipld =
        serde_ipld_dagcbor::from_slice(data).map_err(|e| LinkError::DagCbor(e.to_string()))?;
    let mut stack = vec![&value];
    while let Some(item) = stack.pop() {
        match item {
            Ipld::Link(cid) => out.push(*cid),
            Ipld::List(items) => stack.extend(items),
            Ipld::Map(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    Ok(())
}

/// Protobuf wire types used by dag-pb.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;

/// `PBNode.Links` is field 2; `PBLink.Hash` is field 1 (a binary CID).
const PBNODE_LINKS: u64 = 2;
const PBLINK_HASH: u64 = 1;

fn dag_pb_links(data: &[u8], out: &mut Vec<Cid>) -> Result<(), LinkError> {
    let mut reader = ProtoReader { data };
    while let Some((field, value)) = reader.next_field()? {
        if let (PBNODE_LINKS, FieldValue::Bytes(link)) = (field, value) {
            out.push(pblink_hash(link)?);
        }
    }
    Ok(())
}

fn pblink_hash(link: &[u8]) -> Result<Cid, LinkError> {
    let mut reader = ProtoReader { data: link };
    while let Some((field, value)) = reader.next_field()? {
        if let (PBLINK_HASH, FieldValue::Bytes(hash)) = (field, value) {
            return Cid::try_from(hash).map_err(|_| LinkError::DagPb("a link's Hash is not a CID"));
        }
    }
    Err(LinkError::DagPb("a link has no Hash"))
}

enum FieldValue<'a> {
    Bytes(&'a [u8]),
    Other,
}

/// Reads protobuf fields one after another; every read is bounded by the slice.
struct ProtoReader<'a> {
    data: &'a [u8],
}

impl<'a> ProtoReader<'a> {
    fn next_field(&mut self) -> Result<Option<(u64, FieldValue<'a>)>, LinkError> {
        if self.data.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            VARINT => self.varint().map(|_| FieldValue::Other)?,
            FIXED64 => self.take(8).map(|_| FieldValue::Other)?,
            FIXED32 => self.take(4).map(|_| FieldValue::Other)?,
            LENGTH_DELIMITED => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| LinkError::DagPb("length overflows"))?;
                FieldValue::Bytes(self.take(len)?)
            }
            _ => return Err(LinkError::DagPb("unknown wire type")),
        };
        Ok(Some((key >> 3, value)))
    }

    fn varint(&mut self) -> Result<u64, LinkError> {
        let mut value = 0u64;
        for (i, byte) in self.data.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.data = &self.data[i + 1..];
                return Ok(value);
            }
        }
        Err(LinkError::DagPb("truncated or overlong varint"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], LinkError> {
        if len > self.data.len() {
            return Err(LinkError::DagPb("field runs past the end"));
        }
        let (head, tail) = self.data.split_at(len);
        self.data = tail;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hamt_codec::{Bucket, HashAlgorithm, block_cid};

    fn raw(n: u8) -> Cid {
        block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &[n])
    }

    fn pb_bytes(field: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::try_from((field << 3) | LENGTH_DELIMITED).unwrap()];
        out.push(u8::try_from(bytes.len()).unwrap());
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn hamt_node_links_are_children_and_values() {
        let child = block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b"child");
        let mut node: Node = Node::new();
        node.set(1, Slot::Child(child));
        node.set(
            9,
            Slot::Bucket(Bucket::from_entries([
                ("a".into(), raw(1)),
                ("b".into(), raw(2)),
            ])),
        );
        let mut out = Vec::new();
        links(BlockCodec::DagCbor.code(), &node.encode(), &mut out).unwrap();
        out.sort();
        let mut expected = vec![child, raw(1), raw(2)];
        expected.sort();
        assert_eq!(out, expected);
    }

    #[test]
    fn other_dag_cbor_links_are_found() {
        let value = Ipld::Map(
            [(
                "x".to_owned(),
                Ipld::List(vec![Ipld::Link(raw(3)), Ipld::Integer(4)]),
            )]
            .into(),
        );
        let bytes = serde_ipld_dagcbor::to_vec(&value).unwrap();
        let mut out = Vec::new();
        links(BlockCodec::DagCbor.code(), &bytes, &mut out).unwrap();
        assert_eq!(out, vec![raw(3)]);
        assert!(links(BlockCodec::DagCbor.code(), &[0xff, 0x00], &mut out).is_err());
    }

    #[test]
    fn dag_pb_links_are_parsed() {
        // PBNode { Links: [PBLink { Hash, Name: "n", Tsize: 5 }], Data: "d" }, Data first.
        let mut link = pb_bytes(PBLINK_HASH, &raw(4).to_bytes());
        link.extend(pb_bytes(2, b"n"));
        link.extend([3 << 3, 5]);
        let mut node = pb_bytes(1, b"d");
        node.extend(pb_bytes(PBNODE_LINKS, &link));
        let mut out = Vec::new();
        links(BlockCodec::DagPb.code(), &node, &mut out).unwrap();
        assert_eq!(out, vec![raw(4)]);
    }

    #[test]
    fn malformed_dag_pb_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        for bad in [
            &[0x12, 0x05, 0x01][..],
            &[0xff; 11],
            &[0x13],
            &[0x12, 0x02, 0x12, 0x00],
        ] {
            assert!(
                links(BlockCodec::DagPb.code(), bad, &mut out).is_err(),
                "{bad:?}"
            );
        }
        assert!(links(0x0129, b"{}", &mut out).is_err());
    }
}
