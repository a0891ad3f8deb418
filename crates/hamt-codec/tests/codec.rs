//! Node codec properties: round trips, agreement with `serde_ipld_dagcbor`
//! (an independent DAG-CBOR implementation), and rejection of every
//! non-canonical or off-shape input without panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use hamt_codec::{BlockCodec, Bucket, Cid, DecodeErrorKind, HashAlgorithm, Node, Slot, block_cid};
use ipld_core::ipld::Ipld;
use proptest::prelude::*;

fn link(seed: u32, codec: BlockCodec, hash: HashAlgorithm) -> Cid {
    block_cid(codec, hash, &seed.to_le_bytes())
}

fn arb_link() -> impl Strategy<Value = Cid> {
    (
        any::<u32>(),
        prop_oneof![
            Just(BlockCodec::Raw),
            Just(BlockCodec::DagCbor),
            Just(BlockCodec::DagPb)
        ],
        prop_oneof![Just(HashAlgorithm::Blake3), Just(HashAlgorithm::Sha2_256)],
    )
        .prop_map(|(seed, codec, hash)| link(seed, codec, hash))
}

fn arb_slot() -> impl Strategy<Value = Slot> {
    prop_oneof![
        arb_link().prop_map(Slot::Child),
        prop::collection::vec(
            (prop::collection::vec(any::<char>(), 0..24), arb_link()),
            1..8
        )
        .prop_map(|entries| {
            Slot::Bucket(Bucket::from_entries(
                entries
                    .into_iter()
                    .map(|(k, l)| (k.into_iter().collect::<String>().into(), l)),
            ))
        }),
    ]
}

fn arb_node() -> impl Strategy<Value = Node> {
    prop::collection::btree_map(any::<u8>(), arb_slot(), 0..40).prop_map(|slots| {
        let mut node = Node::new();
        for (index, slot) in slots {
            node.set(index, slot);
        }
        node
    })
}

/// The same node as an IPLD value, the way py-hamt holds it.
fn to_ipld(node: &Node) -> Ipld {
    let mut list = vec![Ipld::Map(BTreeMap::new()); 256];
    for (index, slot) in node.iter() {
        list[usize::from(index)] = match slot {
            Slot::Bucket(bucket) => Ipld::Map(
                bucket
                    .iter()
                    .map(|(k, l)| (k.to_owned(), Ipld::Link(l)))
                    .collect(),
            ),
            Slot::Child(l) => Ipld::List(vec![Ipld::Link(*l)]),
        };
    }
    Ipld::List(list)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_decode_round_trip(node in arb_node()) {
        let bytes = node.encode();
        prop_assert_eq!(bytes.len(), node.encoded_len());
        prop_assert_eq!(Node::decode(&bytes, 8).unwrap(), node);
    }

    #[test]
    fn encoding_matches_serde_ipld_dagcbor(node in arb_node()) {
        let ours = node.encode();
        let theirs = serde_ipld_dagcbor::to_vec(&to_ipld(&node)).unwrap();
        prop_assert_eq!(&ours, &theirs);
        let mut reused = vec![0xff; 3];
        node.encode_into(&mut reused);
        prop_assert_eq!(&reused[3..], &ours[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Node::decode(&bytes, 4);
    }

    /// Mutations of valid nodes either fail cleanly or decode to a node that
    /// re-encodes to exactly the input (only canonical bytes are accepted),
    /// and the independent decoder agrees on what it holds.
    #[test]
    fn mutated_nodes_decode_only_canonically(
        node in arb_node(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = node.encode();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(decoded) = Node::decode(&bytes, usize::MAX) {
            prop_assert_eq!(decoded.encode(), bytes.clone());
            let ipld: Ipld = serde_ipld_dagcbor::from_slice(&bytes).unwrap();
            prop_assert_eq!(to_ipld(&decoded), ipld);
        }
    }
}

fn empty_node_bytes() -> Vec<u8> {
    Node::<Cid>::new().encode()
}

/// A node whose first slot is replaced by `entry` (raw CBOR).
fn with_first_entry(entry: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0x99, 0x01, 0x00];
    bytes.extend_from_slice(entry);
    bytes.extend(std::iter::repeat_n(0xa0, 255));
    bytes
}

fn link_bytes(cid: &Cid) -> Vec<u8> {
    let raw = cid.to_bytes();
    let mut out = vec![0xd8, 0x2a, 0x58, u8::try_from(raw.len() + 1).unwrap(), 0x00];
    out.extend_from_slice(&raw);
    out
}

fn kind_of(bytes: &[u8], max: usize) -> DecodeErrorKind {
    Node::decode(bytes, max).unwrap_err().kind
}

#[test]
fn empty_node_is_py_hamts_259_bytes() {
    let bytes = empty_node_bytes();
    assert_eq!(bytes.len(), 259);
    assert_eq!(
        block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, &bytes).to_string(),
        // py-hamt 3.6.0, empty.json
        "bafyr4igb3js3dqlnsvmbi533lhghfet3l4r35vbi7mlrvxjb6f3n5wkc3m"
    );
}

#[test]
fn rejects_wrong_node_shapes() {
    assert_eq!(kind_of(&[], 4), DecodeErrorKind::NotANode);
    assert_eq!(kind_of(&[0x98, 0xff], 4), DecodeErrorKind::NotANode);
    let mut long = empty_node_bytes();
    long.push(0xa0);
    assert_eq!(kind_of(&long, 4), DecodeErrorKind::TrailingBytes);
    let mut short = empty_node_bytes();
    short.pop();
    assert_eq!(kind_of(&short, 4), DecodeErrorKind::UnexpectedEnd);
    // Indefinite-length array.
    assert_eq!(kind_of(&[0x9f, 0xff], 4), DecodeErrorKind::NotANode);
}

#[test]
fn rejects_bad_entries() {
    let cid = link(1, BlockCodec::DagCbor, HashAlgorithm::Blake3);
    // A two-element array, a text string, an integer, an indefinite map.
    assert_eq!(
        kind_of(&with_first_entry(&[0x82, 0x01, 0x02]), 4),
        DecodeErrorKind::InvalidEntry
    );
    assert_eq!(
        kind_of(&with_first_entry(&[0x61, b'a']), 4),
        DecodeErrorKind::InvalidEntry
    );
    assert_eq!(
        kind_of(&with_first_entry(&[0x01]), 4),
        DecodeErrorKind::InvalidEntry
    );
    assert_eq!(
        kind_of(&with_first_entry(&[0xbf, 0xff]), 4),
        DecodeErrorKind::NonCanonicalHead
    );
    // A child array holding a non-link.
    assert_eq!(
        kind_of(&with_first_entry(&[0x81, 0x01]), 4),
        DecodeErrorKind::NotALink
    );
    // Tag 42 over a text string.
    assert_eq!(
        kind_of(&with_first_entry(&[0x81, 0xd8, 0x2a, 0x61, b'x']), 4),
        DecodeErrorKind::NotALink
    );
    // A valid child link decodes.
    let mut ok = vec![0x81];
    ok.extend(link_bytes(&cid));
    assert!(Node::decode(&with_first_entry(&ok), 4).is_ok());
}

#[test]
fn rejects_non_minimal_heads() {
    // Map of 1 with a 1-byte length argument (0xb8 0x01) instead of 0xa1.
    let cid = link(1, BlockCodec::Raw, HashAlgorithm::Blake3);
    let mut entry = vec![0xb8, 0x01, 0x61, b'k'];
    entry.extend(link_bytes(&cid));
    assert_eq!(
        kind_of(&with_first_entry(&entry), 4),
        DecodeErrorKind::NonCanonicalHead
    );
    // Empty map written long-hand.
    assert_eq!(
        kind_of(&with_first_entry(&[0xb8, 0x00]), 4),
        DecodeErrorKind::NonCanonicalHead
    );
    // Text key length written with 2 bytes.
    let mut entry = vec![0xa1, 0x79, 0x00, 0x01, b'k'];
    entry.extend(link_bytes(&cid));
    assert_eq!(
        kind_of(&with_first_entry(&entry), 4),
        DecodeErrorKind::NonCanonicalHead
    );
}

#[test]
fn rejects_bad_bucket_keys() {
    let cid = link(2, BlockCodec::Raw, HashAlgorithm::Blake3);
    let l = link_bytes(&cid);
    let bucket = |keys: &[&[u8]]| {
        let mut entry = vec![0xa0 | u8::try_from(keys.len()).unwrap()];
        for key in keys {
            entry.push(0x60 | u8::try_from(key.len()).unwrap());
            entry.extend_from_slice(key);
            entry.extend_from_slice(&l);
        }
        with_first_entry(&entry)
    };
    assert!(Node::decode(&bucket(&[b"a", b"b", b"aa"]), 4).is_ok());
    assert_eq!(
        kind_of(&bucket(&[b"b", b"a"]), 4),
        DecodeErrorKind::KeyOrder
    );
    assert_eq!(
        kind_of(&bucket(&[b"aa", b"b"]), 4),
        DecodeErrorKind::KeyOrder
    );
    assert_eq!(
        kind_of(&bucket(&[b"a", b"a"]), 4),
        DecodeErrorKind::KeyOrder
    );
    assert_eq!(
        kind_of(&bucket(&[&[0xff, 0xfe]]), 4),
        DecodeErrorKind::InvalidUtf8
    );
    assert_eq!(
        kind_of(&bucket(&[b"a", b"b", b"c"]), 2),
        DecodeErrorKind::BucketTooLarge { len: 3, max: 2 }
    );
    // A byte-string key.
    let mut entry = vec![0xa1, 0x41, b'k'];
    entry.extend_from_slice(&l);
    assert_eq!(
        kind_of(&with_first_entry(&entry), 4),
        DecodeErrorKind::KeyNotText
    );
}

#[test]
fn rejects_bad_links() {
    let cid = link(3, BlockCodec::Raw, HashAlgorithm::Blake3);
    let raw = cid.to_bytes();
    let child = |payload: &[u8]| {
        let mut entry = vec![0x81, 0xd8, 0x2a, 0x58, u8::try_from(payload.len()).unwrap()];
        entry.extend_from_slice(payload);
        with_first_entry(&entry)
    };
    // Missing the 0x00 prefix.
    assert!(matches!(
        kind_of(&child(&raw), 4),
        DecodeErrorKind::InvalidCid(_)
    ));
    // Bytes after the CID.
    let mut extra = vec![0x00];
    extra.extend_from_slice(&raw);
    extra.push(0x00);
    assert!(matches!(
        kind_of(&child(&extra), 4),
        DecodeErrorKind::InvalidCid(_)
    ));
    // A truncated CID.
    let mut cut = vec![0x00];
    cut.extend_from_slice(&raw[..raw.len() - 3]);
    assert!(matches!(
        kind_of(&child(&cut), 4),
        DecodeErrorKind::InvalidCid(_)
    ));
    // Empty bytes.
    let empty = with_first_entry(&[0x81, 0xd8, 0x2a, 0x40]);
    assert!(matches!(kind_of(&empty, 4), DecodeErrorKind::InvalidCid(_)));
    // Length 0 written long-hand.
    assert_eq!(kind_of(&child(&[]), 4), DecodeErrorKind::NonCanonicalHead);
    // A huge claimed length is an error, not an allocation.
    let mut huge = vec![0x81, 0xd8, 0x2a, 0x5b];
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(
        kind_of(&with_first_entry(&huge), 4),
        DecodeErrorKind::UnexpectedEnd
    );
}

#[test]
fn huge_bucket_length_is_rejected_before_allocating() {
    let mut entry = vec![0xbb];
    entry.extend_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(
        kind_of(&with_first_entry(&entry), usize::MAX),
        DecodeErrorKind::UnexpectedEnd | DecodeErrorKind::BucketTooLarge { .. }
    ));
    let mut entry = vec![0xba];
    entry.extend_from_slice(&0x00ff_ffffu32.to_be_bytes());
    assert_eq!(
        kind_of(&with_first_entry(&entry), usize::MAX),
        DecodeErrorKind::UnexpectedEnd
    );
}

#[test]
fn errors_say_where() {
    let err = Node::decode(&with_first_entry(&[0x01]), 4).unwrap_err();
    assert_eq!(err.offset, 3);
    assert!(err.to_string().contains("byte 3"), "{err}");
}

#[test]
fn long_keys_use_wider_length_heads() {
    let link = link(9, BlockCodec::Raw, HashAlgorithm::Blake3);
    for len in [23usize, 24, 255, 256, 65_535, 65_536, 70_000] {
        let key = "k".repeat(len);
        let mut node = Node::new();
        node.set(3, Slot::Bucket(Bucket::single(key.clone().into(), link)));
        let bytes = node.encode();
        assert_eq!(bytes.len(), node.encoded_len(), "len {len}");
        assert_eq!(
            bytes,
            serde_ipld_dagcbor::to_vec(&to_ipld(&node)).unwrap(),
            "len {len}"
        );
        assert_eq!(Node::decode(&bytes, 4).unwrap(), node, "len {len}");
    }
}

#[test]
fn nodes_and_buckets_report_their_contents() {
    let mut node: Node = Node::new();
    assert!(node.is_empty());
    let l = link(4, BlockCodec::Raw, HashAlgorithm::Blake3);
    node.set(
        1,
        Slot::Bucket(Bucket::from_entries([("b".into(), l), ("a".into(), l)])),
    );
    node.set(2, Slot::Child(l));
    assert!(!node.is_empty());
    assert_eq!(node.bucket_entries(), 2);
    assert!(node.heap_size() > 0);
    let Some(Slot::Bucket(bucket)) = node.get(1) else {
        panic!("bucket expected")
    };
    let keys: Vec<hamt_codec::Key> = bucket
        .clone()
        .into_entries()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn hash_algorithms_name_themselves_as_kubo_does() {
    assert_eq!(HashAlgorithm::Blake3.name(), "blake3");
    assert_eq!(HashAlgorithm::Sha2_256.name(), "sha2-256");
    assert_eq!(HashAlgorithm::default(), HashAlgorithm::Blake3);
}

#[test]
fn bad_dagcbor_values_are_errors() {
    let err = hamt_codec::value::decode::<u32>(&[0xff]).unwrap_err();
    assert!(err.to_string().contains("DAG-CBOR"), "{err}");
    let err = hamt_codec::value::decode::<u32>(&[0x61, b'x']).unwrap_err();
    assert!(!err.to_string().is_empty());
}
