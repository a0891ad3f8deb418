//! Helpers shared by the fuzz targets: hand-built DAG-CBOR around fuzz bytes,
//! and the invariants every accepted node must hold.

use hamt_codec::{Node, SLOT_COUNT, Slot};

/// Appends a canonical CBOR head (shortest form).
pub fn cbor_head(out: &mut Vec<u8>, major: u8, value: u64) {
    let m = major << 5;
    match value {
        0..=23 => out.push(m | value as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, value as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// A DAG-CBOR link (tag 42 over `0x00 || cid_bytes`) around arbitrary CID bytes.
pub fn link_around(out: &mut Vec<u8>, cid_bytes: &[u8]) {
    cbor_head(out, 6, 42);
    cbor_head(out, 2, cid_bytes.len() as u64 + 1);
    out.push(0x00);
    out.extend_from_slice(cid_bytes);
}

/// A node whose slot `index` holds `entry` (raw CBOR bytes) and every other slot is empty.
pub fn one_slot_node(index: u8, entry: &[u8]) -> Vec<u8> {
    let mut out = vec![0x99, 0x01, 0x00];
    out.resize(3 + usize::from(index), 0xa0);
    out.extend_from_slice(entry);
    out.resize(out.len() + (SLOT_COUNT - 1 - usize::from(index)), 0xa0);
    out
}

/// What every decoded node must satisfy: buckets non-empty, within `max`,
/// keys strictly in canonical order (length, then bytes).
pub fn check_node_invariants(node: &Node, max: usize) {
    let mut last_index = None;
    for (index, slot) in node.iter() {
        assert!(last_index.is_none_or(|l| l < index), "slots out of order");
        last_index = Some(index);
        if let Slot::Bucket(bucket) = slot {
            assert!(!bucket.is_empty(), "decoded an empty bucket");
            assert!(bucket.len() <= max, "bucket over the maximum");
            let keys: Vec<&str> = bucket.iter().map(|(k, _)| k).collect();
            for pair in keys.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                assert!(
                    (a.len(), a.as_bytes()) < (b.len(), b.as_bytes()),
                    "bucket keys not in canonical order: {a:?} then {b:?}"
                );
            }
        }
    }
    assert_eq!(node.occupied_len(), node.iter().count());
}
