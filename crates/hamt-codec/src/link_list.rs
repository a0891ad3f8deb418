//! A DAG-CBOR list of a fixed number of entries, each a link or null: the
//! shard block of py-hamt's sharded layout (`ShardedZarrStore`), which holds
//! the chunk CIDs of a run of chunks in C order.
//!
//! Written canonically by hand (as `dag_cbor.encode` writes it) and read
//! strictly: canonical heads only, exactly the expected number of entries,
//! nothing after the last. [`entry`] reads one entry by skipping the ones
//! before it, without decoding or allocating the rest (py-hamt's "sparse"
//! read).
//!
//! ```
//! use hamt_codec::{BlockCodec, HashAlgorithm, block_cid, link_list};
//!
//! let chunk = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"chunk");
//! let bytes = link_list::encode(&[None, Some(chunk), None]);
//! assert_eq!(&bytes[..2], &[0x83, 0xf6]);
//! assert_eq!(link_list::decode(&bytes, 3)?, vec![None, Some(chunk), None]);
//! assert_eq!(link_list::entry(&bytes, 3, 1)?, Some(chunk));
//! assert!(link_list::decode(&bytes, 4).is_err());
//! # Ok::<(), hamt_codec::LinkListError>(())
//! ```

use cid::Cid;

use crate::cbor::{MAJOR_ARRAY, Reader, head_len, link_len, write_head, write_link};
use crate::error::{DecodeErrorKind, LinkListError};

/// CBOR `null`.
const NULL: u8 = 0xf6;

/// The canonical DAG-CBOR bytes of the list.
pub fn encode(entries: &[Option<Cid>]) -> Vec<u8> {
    let len = head_len(entries.len() as u64)
        + entries
            .iter()
            .map(|e| e.as_ref().map_or(1, link_len))
            .sum::<usize>();
    let mut out = Vec::with_capacity(len);
    write_head(&mut out, MAJOR_ARRAY, entries.len() as u64);
    for entry in entries {
        match entry {
            Some(cid) => write_link(&mut out, cid),
            None => out.push(NULL),
        }
    }
    out
}

/// Reads the list header: the entry count, which must be `expected`.
fn header(reader: &mut Reader<'_>, expected: u64) -> Result<(), LinkListError> {
    let (major, found) = reader.head()?;
    if major != MAJOR_ARRAY {
        return Err(LinkListError {
            offset: 0,
            kind: DecodeErrorKind::NotAList,
        });
    }
    if found != expected {
        return Err(LinkListError {
            offset: 0,
            kind: DecodeErrorKind::WrongLength { expected, found },
        });
    }
    // Every entry takes at least a byte: a count past the input is a lie.
    reader.bounded_len(found)?;
    Ok(())
}

fn next_entry(reader: &mut Reader<'_>) -> Result<Option<Cid>, LinkListError> {
    if reader.peek()? == NULL {
        reader.pos += 1;
        return Ok(None);
    }
    let start = reader.pos;
    reader.link().map(Some).map_err(|error| match error.kind {
        DecodeErrorKind::NotALink => LinkListError {
            offset: start,
            kind: DecodeErrorKind::NotALinkOrNull,
        },
        _ => error.into(),
    })
}

/// The entries of a list that must hold exactly `expected` of them.
/// Allocation is bounded by the input's length.
pub fn decode(bytes: &[u8], expected: u64) -> Result<Vec<Option<Cid>>, LinkListError> {
    let mut reader = Reader {
        input: bytes,
        pos: 0,
    };
    header(&mut reader, expected)?;
    let mut entries = Vec::with_capacity(reader.bounded_len(expected)?);
    for _ in 0..expected {
        entries.push(next_entry(&mut reader)?);
    }
    if reader.pos != bytes.len() {
        return Err(reader.error(DecodeErrorKind::TrailingBytes).into());
    }
    Ok(entries)
}

/// Entry `index` of a list that must hold exactly `expected` entries,
/// stepping over only the entries before it (each checked to be null or a
/// link's tag and bytes) and decoding none of them.
pub fn entry(bytes: &[u8], expected: u64, index: u64) -> Result<Option<Cid>, LinkListError> {
    let mut reader = Reader {
        input: bytes,
        pos: 0,
    };
    header(&mut reader, expected)?;
    if index >= expected {
        return Err(LinkListError {
            offset: 0,
            kind: DecodeErrorKind::WrongLength {
                expected: index + 1,
                found: expected,
            },
        });
    }
    for _ in 0..index {
        skip_entry(&mut reader)?;
    }
    next_entry(&mut reader)
}

/// Where each entry of a list of exactly `expected` entries starts, read in
/// one pass without decoding any CID: then [`entry_at`] decodes any one
/// entry alone. (Offsets are `u32`: a longer list is refused.)
pub fn offsets(bytes: &[u8], expected: u64) -> Result<Vec<u32>, LinkListError> {
    let mut reader = Reader {
        input: bytes,
        pos: 0,
    };
    header(&mut reader, expected)?;
    let too_long = || LinkListError {
        offset: 0,
        kind: DecodeErrorKind::UnexpectedEnd,
    };
    let mut offsets = Vec::with_capacity(reader.bounded_len(expected)?);
    for _ in 0..expected {
        offsets.push(u32::try_from(reader.pos).map_err(|_| too_long())?);
        skip_entry(&mut reader)?;
    }
    if reader.pos != bytes.len() {
        return Err(reader.error(DecodeErrorKind::TrailingBytes).into());
    }
    Ok(offsets)
}

/// The entry starting at `offset` (one of [`offsets`]).
pub fn entry_at(bytes: &[u8], offset: u32) -> Result<Option<Cid>, LinkListError> {
    let mut reader = Reader {
        input: bytes,
        pos: offset as usize,
    };
    next_entry(&mut reader)
}

/// Whether `head` (the first 9 bytes of an entry) starts a link to a
/// 36-byte CIDv1 of one-byte codec and hash codes and a 32-byte digest.
fn common_link(head: Option<&[u8]>) -> bool {
    matches!(
        head,
        Some(&[0xd8, 0x2a, 0x58, 0x25, 0x00, 0x01, codec, hash, 0x20]) if codec < 0x80 && hash < 0x80
    )
}

/// Steps over one entry without building its CID.
fn skip_entry(reader: &mut Reader<'_>) -> Result<(), LinkListError> {
    match reader.peek()? {
        NULL => {
            reader.pos += 1;
            Ok(())
        }
        // The common link (`d8 2a 58 25 00 01 CC MM 20` + a 32-byte digest:
        // 41 bytes, a CIDv1 whose codec and hash codes are one-byte varints)
        // is a valid canonical CID by its shape, and skipped by its length;
        // anything else is read in full, and checked.
        0xd8 if common_link(reader.input.get(reader.pos..reader.pos + 9)) => {
            let end = reader.pos + 41;
            if end > reader.input.len() {
                return next_entry(reader).map(drop);
            }
            reader.pos = end;
            Ok(())
        }
        _ => next_entry(reader).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockCodec, HashAlgorithm, block_cid};

    fn cid(n: u8) -> Cid {
        block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &[n])
    }

    #[test]
    fn round_trips_and_matches_the_reference_encoder() {
        let entries: Vec<Option<Cid>> = (0..30u8).map(|i| (i % 3 != 0).then(|| cid(i))).collect();
        let bytes = encode(&entries);
        let as_ipld = ipld_core::ipld::Ipld::List(
            entries
                .iter()
                .map(|e| e.map_or(ipld_core::ipld::Ipld::Null, ipld_core::ipld::Ipld::Link))
                .collect(),
        );
        let reference = serde_ipld_dagcbor::to_vec(&as_ipld).unwrap();
        assert_eq!(bytes, reference);
        assert_eq!(decode(&bytes, 30).unwrap(), entries);
        let offsets = offsets(&bytes, 30).unwrap();
        for (i, expected) in entries.iter().enumerate() {
            assert_eq!(entry(&bytes, 30, i as u64).unwrap(), *expected);
            assert_eq!(entry_at(&bytes, offsets[i]).unwrap(), *expected);
        }
        assert_eq!(encode(&[]), [0x80]);
    }

    #[test]
    fn a_link_of_the_common_length_with_a_bad_cid_is_refused_by_every_reader() {
        // Found by fuzzing: `offsets` skipped a 41-byte link by its length
        // alone, so a CID with a bad digest length passed it (not `decode`).
        let mut bytes = encode(&[Some(cid(1)), Some(cid(2))]);
        assert_eq!(
            &bytes[1..10],
            &[0xd8, 0x2a, 0x58, 0x25, 0x00, 0x01, 0x55, 0x1e, 0x20]
        );
        bytes[9] = 0x00; // digest length 0: 32 bytes trail the CID
        let refused = decode(&bytes, 2).unwrap_err();
        assert!(
            matches!(refused.kind, DecodeErrorKind::InvalidCid(_)),
            "{refused:?}"
        );
        assert_eq!(offsets(&bytes, 2).unwrap_err(), refused);
        assert_eq!(entry(&bytes, 2, 1).unwrap_err(), refused);
    }

    #[test]
    fn bad_lists_are_typed_errors() {
        let bytes = encode(&[Some(cid(1)), None]);
        assert!(matches!(
            decode(&bytes, 3).unwrap_err().kind,
            DecodeErrorKind::WrongLength {
                expected: 3,
                found: 2
            }
        ));
        assert!(matches!(
            decode(&[0xa0], 0).unwrap_err().kind,
            DecodeErrorKind::NotAList
        ));
        // An entry that is a number.
        assert!(matches!(
            decode(&[0x82, 0xf6, 0x01], 2).unwrap_err().kind,
            DecodeErrorKind::NotALinkOrNull
        ));
        let mut trailing = bytes.clone();
        trailing.push(0xf6);
        assert!(matches!(
            decode(&trailing, 2).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes
        ));
        // A count far past the input allocates nothing.
        assert!(decode(&[0x9b, 0, 0, 0, 1, 0, 0, 0, 0], 1 << 32).is_err());
        assert!(entry(&bytes, 2, 2).is_err());
        // A non-canonical head.
        assert!(decode(&[0x98, 0x01, 0xf6], 1).is_err());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], 2).is_err());
        }
    }
}
