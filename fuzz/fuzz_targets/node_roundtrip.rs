//! decode → encode → decode is a fixed point, and only canonical DAG-CBOR is
//! accepted: every input that decodes re-encodes to exactly its own bytes,
//! which an independent DAG-CBOR implementation (`serde_ipld_dagcbor`) also
//! reads and re-encodes unchanged. Then the same bytes drive a node built
//! from parts (arbitrary slots, keys and CIDs), whose encoding must decode
//! back to it.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use hamt_codec::{Bucket, Cid, Node, Slot};
use hamt_fuzz::check_node_invariants;
use ipld_core::ipld::Ipld;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(node) = Node::decode(data, usize::MAX) {
        check_node_invariants(&node, usize::MAX);
        let bytes = node.encode();
        assert_eq!(bytes, data, "accepted a non-canonical encoding");
        assert_eq!(node.encoded_len(), bytes.len());
        let mut appended = vec![0xee; 3];
        node.encode_into(&mut appended);
        assert_eq!(&appended[3..], data);
        assert_eq!(Node::decode(&bytes, usize::MAX).as_ref(), Ok(&node));

        let ipld: Ipld = serde_ipld_dagcbor::from_slice(data)
            .expect("serde_ipld_dagcbor rejects a node hamt-codec accepts");
        let again = serde_ipld_dagcbor::to_vec(&ipld).expect("re-encoding");
        assert_eq!(
            again, data,
            "serde_ipld_dagcbor re-encodes an accepted node differently"
        );
    }

    let mut u = Unstructured::new(data);
    if let Ok(node) = arbitrary_node(&mut u) {
        let bytes = node.encode();
        assert_eq!(node.encoded_len(), bytes.len());
        let max = node
            .iter()
            .map(|(_, s)| match s {
                Slot::Bucket(b) => b.len(),
                Slot::Child(_) => 0,
            })
            .max()
            .unwrap_or(0);
        let back = Node::decode(&bytes, max).expect("an encoded node must decode");
        assert_eq!(back, node);
        let ipld: Ipld = serde_ipld_dagcbor::from_slice(&bytes).expect("independent decoder");
        assert_eq!(
            serde_ipld_dagcbor::to_vec(&ipld).expect("re-encoding"),
            bytes
        );
    }
});

/// A CID from arbitrary bytes: parsed if they are one, else built from parts.
fn arbitrary_cid(u: &mut Unstructured<'_>) -> arbitrary::Result<Cid> {
    let raw: &[u8] = u.arbitrary()?;
    if let Ok(cid) = Cid::try_from(raw) {
        return Ok(cid);
    }
    let codec = *u.choose(&[0x55u64, 0x70, 0x71, 0x00, 0x7f, 0x80, 0xffff_ffff])?;
    let code = *u.choose(&[0x1eu64, 0x12, 0x00, 0x13, 0x3fff])?;
    let len = u.int_in_range(0..=64usize)?;
    let digest = u.bytes(len)?;
    let mh = cid::multihash::Multihash::<64>::wrap(code, digest)
        .map_err(|_| arbitrary::Error::IncorrectFormat)?;
    Ok(Cid::new_v1(codec, mh))
}

fn arbitrary_node(u: &mut Unstructured<'_>) -> arbitrary::Result<Node> {
    let mut node = Node::new();
    let slots = u.int_in_range(0..=16u8)?;
    for _ in 0..slots {
        let index: u8 = u.arbitrary()?;
        let slot = if bool::arbitrary(u)? {
            Slot::Child(arbitrary_cid(u)?)
        } else {
            let n = u.int_in_range(1..=6usize)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let key: String = u.arbitrary()?;
                entries.push((key.into(), arbitrary_cid(u)?));
            }
            Slot::Bucket(Bucket::from_entries(entries))
        };
        node.set(index, slot);
    }
    Ok(node)
}
