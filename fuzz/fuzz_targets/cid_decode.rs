//! Binary CIDs from arbitrary bytes: `Cid::try_from` never panics, what it
//! accepts re-encodes to bytes that parse back to itself (as bytes and as its
//! multibase string), and the node codec accepts the same bytes as a link (in
//! a child slot and as a bucket value) exactly when they are one whole CID in
//! canonical form. dag-pb links (like go-cid's `Cast`) accept exactly the same.
//!
//! `Cid::try_from` itself is lenient: it ignores bytes after the CID, and its
//! varint reader (unsigned-varint 0.8) drops the bits of a 10th byte past 64,
//! so `01 ff 96 9d ba ff f9 96 91 96 55 ..` reads as a CID that writes back
//! with a last codec byte of `01`. The node codec must reject both.
#![no_main]

use bytes::Bytes;
use hamt_codec::{Cid, Node, Slot};
use hamt_fuzz::{cbor_head, link_around, one_slot_node};
use hamt_unixfs::PbNode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = Cid::try_from(data).ok();
    let mut cursor = data;
    let read = Cid::read_bytes(&mut cursor).ok();
    assert_eq!(parsed, read);
    // A CID that is the whole input, in canonical form, with no bytes after it.
    let whole = read.filter(|cid| cursor.is_empty() && cid.to_bytes() == data);

    if let Some(cid) = parsed {
        let bytes = cid.to_bytes();
        assert_eq!(bytes.len(), cid.encoded_len());
        // Dropped overflow bits can only shorten the re-encoding.
        assert!(
            bytes.len() <= data.len() - cursor.len(),
            "re-encoding is longer than the input"
        );
        assert_eq!(Cid::try_from(&bytes[..]).ok(), Some(cid));
        let text = cid.to_string();
        assert_eq!(
            Cid::try_from(text.as_str()).ok(),
            Some(cid),
            "string round trip of {text}"
        );
    }

    // As a child link in slot 7.
    let mut child = vec![0x81];
    link_around(&mut child, data);
    let node = Node::decode(&one_slot_node(7, &child), 4);
    match (&node, whole) {
        (Ok(node), Some(cid)) => {
            assert_eq!(node.get(7), Some(&Slot::Child(cid)));
            assert_eq!(node.occupied_len(), 1);
        }
        (Err(_), None) => {}
        (Ok(_), None) => panic!("node accepts a link that is not one whole canonical CID"),
        (Err(e), Some(cid)) => panic!("node rejects the link {cid}: {e}"),
    }
    if let Ok(node) = &node {
        assert_eq!(node.encode(), one_slot_node(7, &child));
    }

    // As the value link of a one-entry bucket in slot 255.
    let mut bucket = Vec::new();
    cbor_head(&mut bucket, 5, 1);
    cbor_head(&mut bucket, 3, 3);
    bucket.extend_from_slice(b"key");
    link_around(&mut bucket, data);
    let node = Node::decode(&one_slot_node(255, &bucket), 1);
    assert_eq!(node.is_ok(), whole.is_some());
    if let (Ok(node), Some(cid)) = (&node, whole) {
        match node.get(255) {
            Some(Slot::Bucket(b)) => assert_eq!(b.get("key"), Some(cid)),
            other => panic!("expected a bucket, got {other:?}"),
        }
    }

    // As the Hash of a dag-pb link (dag-pb takes the CID's own bytes, with no prefix).
    let mut link = vec![0x0a];
    put_varint(&mut link, data.len() as u64);
    link.extend_from_slice(data);
    let mut pb = vec![0x12];
    put_varint(&mut pb, link.len() as u64);
    pb.extend_from_slice(&link);
    match (PbNode::decode(&Bytes::from(pb)), whole) {
        (Ok(node), Some(cid)) => {
            assert_eq!(node.links[0].cid, cid);
            assert_eq!(node.links.len(), 1);
        }
        (Err(_), None) => {}
        (Ok(_), None) => panic!("dag-pb accepts a Hash that is not one whole canonical CID"),
        (Err(e), Some(cid)) => panic!("dag-pb rejects the Hash {cid}: {e}"),
    }
});

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
