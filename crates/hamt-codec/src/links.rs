//! The links inside a block, by its codec: what every walk over a DAG (GC,
//! DAG checks, CAR export) follows.

use ipld_core::ipld::Ipld;

use crate::{BlockCodec, Cid, StoredNode, StoredSlot, dagpb};

/// Why the links of a block could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinksError {
    /// A codec whose links this crate cannot read.
    #[error("cannot read the links of codec {0:#x}")]
    UnknownCodec(u64),
    /// dag-cbor that is neither a HAMT node nor any decodable DAG-CBOR.
    #[error("undecodable dag-cbor: {0}")]
    DagCbor(String),
    /// dag-pb that is not a valid `PBNode`.
    #[error(transparent)]
    DagPb(#[from] dagpb::DecodeError),
}

/// Appends the CIDs that block `data`, of codec `codec` (the multicodec of
/// its CID), links to, in the order the block holds them: none for raw
/// blocks, every child and value link of a HAMT node, every link of any
/// other DAG-CBOR value (e.g. a sharded store's manifest or shard), and the
/// links of a dag-pb node.
///
/// ```
/// use hamt_codec::{Bucket, BlockCodec, HashAlgorithm, Node, Slot, block_cid, block_links};
///
/// let value = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"v");
/// let mut node: Node = Node::new();
/// node.set(3, Slot::Bucket(Bucket::single("k".into(), value)));
/// let mut links = Vec::new();
/// block_links(BlockCodec::DagCbor.code(), &node.encode(), &mut links)?;
/// assert_eq!(links, [value]);
/// # Ok::<(), hamt_codec::LinksError>(())
/// ```
pub fn block_links(codec: u64, data: &[u8], out: &mut Vec<Cid>) -> Result<(), LinksError> {
    match BlockCodec::from_code(codec) {
        Some(BlockCodec::Raw) => Ok(()),
        Some(BlockCodec::DagCbor) => dag_cbor_links(data, out),
        Some(BlockCodec::DagPb) => {
            out.extend(dagpb::dag_pb_links(data)?);
            Ok(())
        }
        None => Err(LinksError::UnknownCodec(codec)),
    }
}

impl BlockCodec {
    /// Whether blocks of this codec can hold links (so a walk must read them).
    pub const fn may_have_links(self) -> bool {
        !matches!(self, BlockCodec::Raw)
    }
}

fn dag_cbor_links(data: &[u8], out: &mut Vec<Cid>) -> Result<(), LinksError> {
    // Most dag-cbor blocks here are HAMT nodes: read them with the fast,
    // strict node decoder; anything else with the generic one.
    let Ok(node) = StoredNode::decode(data, usize::MAX) else {
        return generic_dag_cbor_links(data, out);
    };
    for (_, slot) in node.iter() {
        match slot {
            StoredSlot::Child(cid) => out.push(cid),
            StoredSlot::Bucket(bucket) => out.extend(bucket.iter().map(|(_, link)| link)),
        }
    }
    Ok(())
}

fn generic_dag_cbor_links(data: &[u8], out: &mut Vec<Cid>) -> Result<(), LinksError> {
    let value: Ipld =
        serde_ipld_dagcbor::from_slice(data).map_err(|e| LinksError::DagCbor(e.to_string()))?;
    // In document order: a stack of iterators rather than of values.
    let mut stack: Vec<Box<dyn Iterator<Item = &Ipld>>> = vec![Box::new(std::iter::once(&value))];
    while let Some(items) = stack.last_mut() {
        let Some(item) = items.next() else {
            stack.pop();
            continue;
        };
        match item {
            Ipld::Link(cid) => out.push(*cid),
            Ipld::List(items) => stack.push(Box::new(items.iter())),
            Ipld::Map(map) => stack.push(Box::new(map.values())),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bucket, HashAlgorithm, Node, Slot, block_cid};

    fn raw(n: u8) -> Cid {
        block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &[n])
    }

    fn pb_bytes(field: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(field << 3) | 2, u8::try_from(bytes.len()).unwrap()];
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
        block_links(BlockCodec::DagCbor.code(), &node.encode(), &mut out).unwrap();
        out.sort();
        let mut expected = vec![child, raw(1), raw(2)];
        expected.sort();
        assert_eq!(out, expected);
    }

    #[test]
    fn other_dag_cbor_links_are_found_in_order() {
        let value = Ipld::Map(
            [(
                "x".to_owned(),
                Ipld::List(vec![
                    Ipld::Link(raw(3)),
                    Ipld::Integer(4),
                    Ipld::Null,
                    Ipld::Link(raw(5)),
                ]),
            )]
            .into(),
        );
        let bytes = serde_ipld_dagcbor::to_vec(&value).unwrap();
        let mut out = Vec::new();
        block_links(BlockCodec::DagCbor.code(), &bytes, &mut out).unwrap();
        assert_eq!(out, vec![raw(3), raw(5)]);
        assert!(matches!(
            block_links(BlockCodec::DagCbor.code(), &[0xff, 0x00], &mut out),
            Err(LinksError::DagCbor(_))
        ));
    }

    #[test]
    fn dag_pb_links_are_read() {
        // PBNode { Links: [PBLink { Hash, Name: "n", Tsize: 5 }], Data: "d" }.
        let mut link = pb_bytes(1, &raw(4).to_bytes());
        link.extend(pb_bytes(2, b"n"));
        link.extend([3 << 3, 5]);
        let mut node = pb_bytes(2, &link);
        node.extend(pb_bytes(1, b"d"));
        let mut out = Vec::new();
        block_links(BlockCodec::DagPb.code(), &node, &mut out).unwrap();
        assert_eq!(out, vec![raw(4)]);
    }

    #[test]
    fn malformed_blocks_are_errors_not_panics() {
        // Data before the links: not canonical dag-pb, which the one dag-pb
        // reader (the UnixFS reader's) refuses, so GC refuses to guess too.
        let mut data_first = pb_bytes(1, b"d");
        data_first.extend(pb_bytes(2, &pb_bytes(1, &raw(4).to_bytes())));
        let mut out = Vec::new();
        for bad in [
            &[0x12, 0x05, 0x01][..],
            &[0xff; 11],
            &[0x13],
            &[0x12, 0x02, 0x12, 0x00],
            &data_first,
        ] {
            assert!(
                block_links(BlockCodec::DagPb.code(), bad, &mut out).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(
            block_links(0x0129, b"{}", &mut out),
            Err(LinksError::UnknownCodec(0x0129))
        );
        assert!(block_links(BlockCodec::Raw.code(), b"anything", &mut out).is_ok());
    }
}
