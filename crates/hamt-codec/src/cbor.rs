//! The node's DAG-CBOR, written and read by hand.
//!
//! The node shape is fixed (an array of 256 maps or one-element arrays), so a
//! direct writer emits canonical bytes into the caller's buffer with no
//! intermediate values, and a direct reader can reject every non-canonical or
//! off-shape input with a precise error while allocating only what the input
//! itself holds. The tests check both against `serde_ipld_dagcbor`.

use cid::Cid;

use crate::error::{DecodeError, DecodeErrorKind};
use crate::node::{Node, SLOT_COUNT, Slot, canonical_key_order};
use crate::packed_cid::{Packed, PackedCid};
use crate::stored_node::{Builder, StoredNode};

pub(crate) const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
pub(crate) const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const TAG_LINK: u64 = 42;
/// The node header: an array of 256 entries (`0x99 0x01 0x00`).
const NODE_HEADER: [u8; 3] = [0x99, 0x01, 0x00];

pub(crate) fn write_head(buf: &mut Vec<u8>, major: u8, value: u64) {
    let m = major << 5;
    if let Ok(byte) = u8::try_from(value) {
        if byte < 24 {
            buf.push(m | byte);
        } else {
            buf.extend_from_slice(&[m | 0x18, byte]);
        }
    } else if let Ok(short) = u16::try_from(value) {
        buf.push(m | 0x19);
        buf.extend_from_slice(&short.to_be_bytes());
    } else if let Ok(word) = u32::try_from(value) {
        buf.push(m | 0x1a);
        buf.extend_from_slice(&word.to_be_bytes());
    } else {
        buf.push(m | 0x1b);
        buf.extend_from_slice(&value.to_be_bytes());
    }
}

pub(crate) fn head_len(value: u64) -> usize {
    match value {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

pub(crate) fn write_link(buf: &mut Vec<u8>, cid: &Cid) {
    write_packed_link(buf, &PackedCid::new(cid));
}

/// Writes a link as DAG-CBOR: the common shape (CIDv1, one-byte codec and
/// hash codes, 32-byte digest: every link py-hamt makes) directly, anything
/// else through the `cid` crate's varint writer.
pub(crate) fn write_packed_link(buf: &mut Vec<u8>, link: &PackedCid) {
    let cid = match &link.0 {
        Packed::Short {
            codec,
            hash,
            digest,
        } => {
            // `d8 2a 58 25 00 01 <codec> <hash> 20`, then the digest, built
            // on the stack and appended in one copy.
            let mut bytes = [0u8; 41];
            bytes[..9].copy_from_slice(&[0xd8, 0x2a, 0x58, 0x25, 0x00, 0x01, *codec, *hash, 0x20]);
            bytes[9..].copy_from_slice(digest);
            buf.extend_from_slice(&bytes);
            return;
        }
        Packed::Other(cid) => cid,
    };
    write_head(buf, MAJOR_TAG, TAG_LINK);
    let len = cid.encoded_len();
    write_head(buf, MAJOR_BYTES, len as u64 + 1);
    buf.push(0x00);
    // Writing into a Vec cannot fail.
    let _ = cid.write_bytes(&mut *buf);
}

/// The encoded length of a packed link.
pub(crate) fn packed_link_len(link: &PackedCid) -> usize {
    match &link.0 {
        // `d8 2a 58 25 00` and the 36 bytes of the CID.
        Packed::Short { .. } => 41,
        Packed::Other(cid) => link_len(cid),
    }
}

/// The encoded length of a node with `empty` empty slots, buckets of these
/// sizes and entries, and these children.
pub(crate) fn slots_encoded_len<'a>(
    empty: usize,
    bucket_sizes: impl Iterator<Item = usize>,
    entries: impl Iterator<Item = &'a (crate::Key, PackedCid)>,
    children: impl Iterator<Item = &'a PackedCid>,
) -> usize {
    NODE_HEADER.len()
        + empty
        + bucket_sizes.map(|n| head_len(n as u64)).sum::<usize>()
        + entries
            .map(|(k, l)| head_len(k.len() as u64) + k.len() + packed_link_len(l))
            .sum::<usize>()
        + children.map(|l| 1 + packed_link_len(l)).sum::<usize>()
}

pub(crate) fn link_len(cid: &Cid) -> usize {
    let len = cid.encoded_len() + 1;
    2 + head_len(len as u64) + len
}

/// Writes a node whose child slots hold any `L`; `link` gives each child's
/// CID, called once per child in slot order.
pub(crate) fn encode_node<L>(node: &Node<L>, buf: &mut Vec<u8>, mut link: impl FnMut(&L) -> Cid) {
    buf.extend_from_slice(&NODE_HEADER);
    let mut next = 0usize;
    for (index, slot) in node.iter() {
        let index = usize::from(index);
        buf.resize(buf.len() + (index - next), 0xa0);
        next = index + 1;
        match slot {
            Slot::Bucket(bucket) => {
                write_head(buf, MAJOR_MAP, bucket.len() as u64);
                for (key, link) in bucket.packed() {
                    write_head(buf, MAJOR_TEXT, key.len() as u64);
                    buf.extend_from_slice(key.as_bytes());
                    write_packed_link(buf, link);
                }
            }
            Slot::Child(child) => {
                write_head(buf, MAJOR_ARRAY, 1);
                write_link(buf, &link(child));
            }
        }
    }
    buf.resize(buf.len() + (SLOT_COUNT - next), 0xa0);
}

pub(crate) fn encoded_len(node: &Node<Cid>) -> usize {
    let empty = SLOT_COUNT - node.occupied_len();
    let slots: usize = node
        .iter()
        .map(|(_, slot)| match slot {
            Slot::Bucket(bucket) => {
                head_len(bucket.len() as u64)
                    + bucket
                        .packed()
                        .iter()
                        .map(|(k, l)| head_len(k.len() as u64) + k.len() + packed_link_len(l))
                        .sum::<usize>()
            }
            Slot::Child(link) => 1 + link_len(link),
        })
        .sum();
    NODE_HEADER.len() + empty + slots
}

/// The common link, CIDv1 with one-byte codec and hash codes and a 32-byte
/// digest (every link py-hamt makes), read without the general varint
/// reader; one-byte varints are canonical by construction. `None` for
/// anything else, which the general path then reads and checks.
fn read_short_link(bytes: &[u8]) -> Option<PackedCid> {
    match bytes {
        [0x01, codec, hash, 0x20, digest @ ..] if *codec < 0x80 && *hash < 0x80 => {
            Some(PackedCid::short(*codec, *hash, digest.try_into().ok()?))
        }
        _ => None,
    }
}

/// A cursor over the input that reads canonical CBOR heads.
pub(crate) struct Reader<'a> {
    pub(crate) input: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.pos,
            kind,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| self.error(DecodeErrorKind::UnexpectedEnd))?;
        let bytes = &self.input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    pub(crate) fn peek(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.error(DecodeErrorKind::UnexpectedEnd))
    }

    /// Reads a head, returning (major type, argument); rejects non-shortest
    /// forms and indefinite lengths, as DAG-CBOR requires.
    pub(crate) fn head(&mut self) -> Result<(u8, u64), DecodeError> {
        let start = self.pos;
        let first = self.take(1)?[0];
        let major = first >> 5;
        let info = first & 0x1f;
        let (value, min) = match info {
            0..=23 => return Ok((major, u64::from(info))),
            24 => (u64::from(self.take(1)?[0]), 24),
            25 => (
                u64::from(u16::from_be_bytes([self.take(1)?[0], self.take(1)?[0]])),
                0x100,
            ),
            26 => {
                let b = self.take(4)?;
                (
                    u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                    0x1_0000,
                )
            }
            27 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                (u64::from_be_bytes(a), 0x1_0000_0000)
            }
            _ => {
                return Err(DecodeError {
                    offset: start,
                    kind: DecodeErrorKind::NonCanonicalHead,
                });
            }
        };
        if value < min {
            return Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::NonCanonicalHead,
            });
        }
        Ok((major, value))
    }

    /// A length that must fit in the remaining input (each item takes at least a byte).
    pub(crate) fn bounded_len(&self, value: u64) -> Result<usize, DecodeError> {
        usize::try_from(value)
            .ok()
            .filter(|&n| n <= self.input.len() - self.pos)
            .ok_or_else(|| self.error(DecodeErrorKind::UnexpectedEnd))
    }

    pub(crate) fn link(&mut self) -> Result<Cid, DecodeError> {
        Ok(self.packed_link()?.cid())
    }

    fn packed_link(&mut self) -> Result<PackedCid, DecodeError> {
        let start = self.pos;
        let not_a_link = DecodeError {
            offset: start,
            kind: DecodeErrorKind::NotALink,
        };
        if self.head()? != (MAJOR_TAG, TAG_LINK) {
            return Err(not_a_link);
        }
        let (major, len) = self.head()?;
        if major != MAJOR_BYTES {
            return Err(not_a_link);
        }
        let len = self.bounded_len(len)?;
        let bytes = self.take(len)?;
        let invalid = |error: crate::CidError| DecodeError {
            offset: start,
            kind: DecodeErrorKind::InvalidCid(error),
        };
        match bytes.split_first() {
            Some((0x00, cid_bytes)) => {
                if let Some(cid) = read_short_link(cid_bytes) {
                    return Ok(cid);
                }
                crate::link::parse_canonical_cid(cid_bytes)
                    .map(PackedCid::from)
                    .map_err(invalid)
            }
            _ => Err(invalid(crate::CidError::MissingMultibasePrefix)),
        }
    }

    /// Reads a bucket's `len` entries into `out`, checking their order.
    fn bucket(
        &mut self,
        len: u64,
        max_entries: usize,
        out: &mut Builder,
    ) -> Result<(), DecodeError> {
        if usize::try_from(len).map_or(true, |n| n > max_entries) {
            return Err(self.error(DecodeErrorKind::BucketTooLarge {
                len,
                max: max_entries,
            }));
        }
        let len = self.bounded_len(len)?;
        let first = out.entry_count();
        for _ in 0..len {
            let key_start = self.pos;
            let (major, key_len) = self.head()?;
            if major != MAJOR_TEXT {
                return Err(DecodeError {
                    offset: key_start,
                    kind: DecodeErrorKind::KeyNotText,
                });
            }
            let key_len = self.bounded_len(key_len)?;
            let key = std::str::from_utf8(self.take(key_len)?).map_err(|_| DecodeError {
                offset: key_start,
                kind: DecodeErrorKind::InvalidUtf8,
            })?;
            if out.entry_count() > first
                && let Some(last) = out.last_entry()
                && canonical_key_order(last, key) != std::cmp::Ordering::Less
            {
                return Err(DecodeError {
                    offset: key_start,
                    kind: DecodeErrorKind::KeyOrder,
                });
            }
            let link = self.packed_link()?;
            out.push_entry(key.into(), link);
        }
        Ok(())
    }
}

pub(crate) fn decode_node(
    input: &[u8],
    max_bucket_entries: usize,
) -> Result<StoredNode, DecodeError> {
    let mut r = Reader { input, pos: 0 };
    if r.take(NODE_HEADER.len()).ok() != Some(&NODE_HEADER[..]) {
        return Err(DecodeError {
            offset: 0,
            kind: DecodeErrorKind::NotANode,
        });
    }
    // Room for the entries of a typical node (about 55 bytes each); only a
    // hint: the entries grow as they are read, never past what the input
    // holds (each takes a few bytes at least).
    let mut node = Builder::with_capacity(SLOT_COUNT, input.len() / 64);
    for index in 0..=255u8 {
        let entry_start = r.pos;
        if r.peek()? == 0xa0 {
            r.pos += 1;
            continue;
        }
        match r.head()? {
            // A map is not empty here: the canonical empty map is `a0`,
            // taken above, and any other spelling of it is non-canonical.
            (MAJOR_MAP, len) => {
                let start = node.entry_count();
                r.bucket(len, max_bucket_entries, &mut node)?;
                node.end_bucket(index, start);
            }
            (MAJOR_ARRAY, 1) => node.push_child(index, r.packed_link()?),
            _ => {
                return Err(DecodeError {
                    offset: entry_start,
                    kind: DecodeErrorKind::InvalidEntry,
                });
            }
        }
    }
    if r.pos != input.len() {
        return Err(r.error(DecodeErrorKind::TrailingBytes));
    }
    Ok(node.finish())
}
