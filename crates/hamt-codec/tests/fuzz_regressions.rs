//! Inputs the fuzz targets (`fuzz/`, `cargo xtask fuzz`) found, kept as tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hamt_codec::{BlockCodec, Cid, DecodeErrorKind, HashAlgorithm, Node, Slot, block_cid};

/// A node whose only occupied slot, `index`, holds `entry` (raw CBOR).
fn one_slot_node(index: u8, entry: &[u8]) -> Vec<u8> {
    let mut out = vec![0x99, 0x01, 0x00];
    out.resize(3 + usize::from(index), 0xa0);
    out.extend_from_slice(entry);
    out.resize(out.len() + (255 - usize::from(index)), 0xa0);
    out
}

/// A child entry: `81`, tag 42, a byte string of `00 || cid_bytes` (under 24 bytes of CID here or not).
fn child_entry(cid_bytes: &[u8]) -> Vec<u8> {
    let len = cid_bytes.len() + 1;
    let mut out = vec![0x81, 0xd8, 0x2a];
    if len < 24 {
        out.push(0x40 | u8::try_from(len).unwrap());
    } else {
        out.extend_from_slice(&[0x58, u8::try_from(len).unwrap()]);
    }
    out.push(0x00);
    out.extend_from_slice(cid_bytes);
    out
}

fn assert_rejected_as_non_canonical_cid(cid_bytes: &[u8]) {
    let bytes = one_slot_node(7, &child_entry(cid_bytes));
    let err = Node::decode(&bytes, 4).unwrap_err();
    assert!(
        matches!(&err.kind, DecodeErrorKind::InvalidCid(msg) if msg.to_string().contains("non-canonical")),
        "{err}"
    );
    assert_eq!(err.offset, 3 + 7 + 1, "the error points at the link");
}

/// `cid_decode`, crash-72fd6ec3e99a9c3edbcd9feb9d7ea364ab4754e5 (minus its
/// trailing byte): the codec varint is 10 bytes whose last byte (`55`) holds
/// bits past 64. `cid` 0.11 (unsigned-varint 0.8) drops them and reads a CID
/// that writes back with `01` there, so the node decoded but re-encoded to
/// other bytes. The codec now accepts only links that write back exactly.
#[test]
fn link_with_overflowing_codec_varint_is_rejected() {
    let cid_bytes = [
        0x01, 0xff, 0x96, 0x9d, 0xba, 0xff, 0xf9, 0x96, 0x91, 0x96, 0x55, 0x95, 0xff, 0xf9, 0x94,
        0x91, 0x0c, 0x00,
    ];
    let cid = Cid::try_from(&cid_bytes[..]).expect("the cid crate accepts these bytes");
    assert_ne!(
        cid.to_bytes(),
        cid_bytes,
        "and writes them back differently"
    );
    assert_rejected_as_non_canonical_cid(&cid_bytes);
}

/// The same flaw makes an alias of an ordinary value link: raw (`0x55`) spelled
/// as a 10-byte varint whose overflow bits vanish. Without the check both
/// spellings decoded to one node, so two different blocks had one meaning.
#[test]
fn alias_spelling_of_a_real_link_is_rejected() {
    let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"value");
    let canonical = cid.to_bytes();
    assert_eq!(&canonical[..2], &[0x01, 0x55]);
    let mut alias = vec![
        0x01, 0xd5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02,
    ];
    alias.extend_from_slice(&canonical[2..]);
    assert_eq!(
        Cid::try_from(&alias[..]).ok(),
        Some(cid),
        "the cid crate reads the alias"
    );
    assert_rejected_as_non_canonical_cid(&alias);

    // The canonical spelling still decodes, and re-encodes to the same bytes.
    let bytes = one_slot_node(7, &child_entry(&canonical));
    let node = Node::decode(&bytes, 4).unwrap();
    assert_eq!(node.get(7), Some(&Slot::Child(cid)));
    assert_eq!(node.encode(), bytes);
}

/// The multihash's digest-size varint has the same flaw: `80 .. 80 02` reads as 0.
#[test]
fn link_with_overflowing_digest_size_is_rejected() {
    let mut cid_bytes = vec![0x01, 0x55, 0x00];
    cid_bytes.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]);
    let cid = Cid::try_from(&cid_bytes[..]).expect("the cid crate accepts these bytes");
    assert_eq!(cid.hash().size(), 0);
    assert_rejected_as_non_canonical_cid(&cid_bytes);
}
