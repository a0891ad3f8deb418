//! CAR v1 files: a varint-length-prefixed DAG-CBOR header `{roots: [CID],
//! version: 1}`, then sections of varint(len(CID) + len(data)) CID data.
//!
//! Written here rather than taken from `iroh-car` (the maintained crate we
//! checked): its reader takes a varint cut short by the end of the file for
//! a clean end, so a truncated CAR could pass as a complete one, its errors
//! carry no byte offsets, and it brings `anyhow` and a second `thiserror`.
//! The format is small; this reader reports every truncation with the byte
//! offset and bounds every allocation.

use std::io::{self, Read, Write};

use bytes::Bytes;
use hamt_codec::Cid;
use ipld_core::ipld::Ipld;

use crate::error::{CliError, Result, fail};

/// The largest section accepted: well above Kubo's 2 MiB block limit, and a
/// bound on what a hostile length prefix can make the reader allocate.
const MAX_SECTION: u64 = 8 << 20;

/// The largest header accepted.
const MAX_HEADER: u64 = 1 << 20;

/// Writes a CAR v1 stream.
pub(crate) struct CarWriter<W: Write> {
    out: W,
}

impl<W: Write> CarWriter<W> {
    /// Starts a CAR with these roots (the header is written now).
    pub(crate) fn new(mut out: W, roots: &[Cid]) -> io::Result<Self> {
        let header = Ipld::Map(
            [
                (
                    "roots".to_owned(),
                    Ipld::List(roots.iter().copied().map(Ipld::Link).collect()),
                ),
                ("version".to_owned(), Ipld::Integer(1)),
            ]
            .into(),
        );
        let bytes = serde_ipld_dagcbor::to_vec(&header).map_err(io::Error::other)?;
        write_varint(&mut out, bytes.len() as u64)?;
        out.write_all(&bytes)?;
        Ok(CarWriter { out })
    }

    pub(crate) fn write_block(&mut self, cid: &Cid, data: &[u8]) -> io::Result<()> {
        let cid_bytes = cid.to_bytes();
        write_varint(&mut self.out, (cid_bytes.len() + data.len()) as u64)?;
        self.out.write_all(&cid_bytes)?;
        self.out.write_all(data)
    }

    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads a CAR v1 stream, section by section. Blocks are returned unverified:
/// the caller checks each against its CID.
pub(crate) struct CarReader<R: Read> {
    input: R,
    /// Bytes consumed so far, for error messages.
    offset: u64,
    /// Sections read so far.
    sections: u64,
}

impl<R: Read> CarReader<R> {
    /// Reads the header; returns the reader and the roots it names.
    pub(crate) fn open(input: R) -> Result<(Self, Vec<Cid>)> {
        let mut reader = CarReader {
            input,
            offset: 0,
            sections: 0,
        };
        let Some(len) = reader.read_varint()? else {
            fail!("the file is empty: not a CAR");
        };
        if len > MAX_HEADER {
            fail!("not a CAR: its header claims {len} bytes");
        }
        let header = reader.read_exact_vec(len, "the header")?;
        let roots = decode_header(&header)?;
        Ok((reader, roots))
    }

    /// The next block, or `None` at a clean end of the file.
    pub(crate) fn next_block(&mut self) -> Result<Option<(Cid, Bytes)>> {
        let start = self.offset;
        let Some(len) = self.read_varint()? else {
            return Ok(None);
        };
        self.sections += 1;
        if len > MAX_SECTION {
            fail!(
                "CAR section {} at byte {start} claims {len} bytes (more than {MAX_SECTION}): corrupt CAR",
                self.sections
            );
        }
        let what = format!("section {} (starting at byte {start})", self.sections);
        let section = self.read_exact_vec(len, &what)?;
        let mut cursor = io::Cursor::new(&section[..]);
        let cid = Cid::read_bytes(&mut cursor).map_err(|e| {
            CliError::new(format!("CAR {what}: does not start with a valid CID: {e}"))
        })?;
        let data_start = usize::try_from(cursor.position()).unwrap_or(section.len());
        Ok(Some((cid, Bytes::from(section).slice(data_start..))))
    }

    /// Sections read so far.
    pub(crate) fn sections(&self) -> u64 {
        self.sections
    }

    /// An unsigned LEB128 varint; `None` if the file ends before its first byte.
    fn read_varint(&mut self) -> Result<Option<u64>> {
        let mut value = 0u64;
        for index in 0..10u32 {
            let mut byte = [0u8];
            let read = loop {
                match self.input.read(&mut byte) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            match read {
                Ok(0) if index == 0 => return Ok(None),
                Ok(0) => fail!(
                    "truncated CAR: the file ends inside a length prefix at byte {}",
                    self.offset
                ),
                Ok(_) => {}
                Err(e) => fail!("read the CAR at byte {}: {e}", self.offset),
            }
            self.offset += 1;
            value |= u64::from(byte[0] & 0x7f) << (7 * index);
            if byte[0] & 0x80 == 0 {
                return Ok(Some(value));
            }
        }
        fail!(
            "corrupt CAR: a length prefix ending at byte {} is too long",
            self.offset
        )
    }

    fn read_exact_vec(&mut self, len: u64, what: &str) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        let read = (&mut self.input)
            .take(len)
            .read_to_end(&mut buf)
            .map_err(|e| CliError::new(format!("read CAR {what}: {e}")))?;
        self.offset += read as u64;
        if (read as u64) < len {
            fail!(
                "truncated CAR: {what} needs {len} bytes but the file ends after {read} (at byte {})",
                self.offset
            );
        }
        Ok(buf)
    }
}

fn decode_header(bytes: &[u8]) -> Result<Vec<Cid>> {
    let header: Ipld = serde_ipld_dagcbor::from_slice(bytes)
        .map_err(|e| CliError::new(format!("not a CAR: its header is not DAG-CBOR: {e}")))?;
    let Ipld::Map(map) = header else {
        fail!("not a CAR: its header is not a map");
    };
    match map.get("version") {
        Some(Ipld::Integer(1)) => {}
        Some(Ipld::Integer(2)) => fail!("this is a CARv2 file; only CARv1 is supported"),
        other => fail!("not a CARv1 file: header version is {other:?}"),
    }
    let Some(Ipld::List(roots)) = map.get("roots") else {
        fail!("not a CAR: its header has no list of roots");
    };
    roots
        .iter()
        .map(|root| match root {
            Ipld::Link(cid) => Ok(*cid),
            other => Err(CliError::new(format!(
                "not a CAR: a root in its header is not a CID: {other:?}"
            ))),
        })
        .collect()
}

fn write_varint(out: &mut impl Write, mut value: u64) -> io::Result<()> {
    let mut buf = [0u8; 10];
    let mut len = 0;
    loop {
        // Truncation intended: the low seven bits.
        #[allow(clippy::cast_possible_truncation)]
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            buf[len] = low;
            len += 1;
            break;
        }
        buf[len] = low | 0x80;
        len += 1;
    }
    out.write_all(&buf[..len])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};

    fn sample_car() -> (Vec<u8>, Cid) {
        let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"hello");
        let mut writer = CarWriter::new(Vec::new(), &[cid]).unwrap();
        writer.write_block(&cid, b"hello").unwrap();
        (writer.finish().unwrap(), cid)
    }

    #[test]
    fn round_trips_header_and_blocks() {
        let (bytes, cid) = sample_car();
        let (mut reader, roots) = CarReader::open(&bytes[..]).unwrap();
        assert_eq!(roots, [cid]);
        let (got, data) = reader.next_block().unwrap().unwrap();
        assert_eq!((got, &data[..]), (cid, &b"hello"[..]));
        assert!(reader.next_block().unwrap().is_none());
    }

    #[test]
    fn every_truncation_inside_a_section_is_an_error() {
        let (bytes, _) = sample_car();
        let (reader, _) = CarReader::open(&bytes[..]).unwrap();
        let header_end = usize::try_from(reader.offset).unwrap();
        for cut in header_end + 1..bytes.len() {
            let (mut reader, _) = CarReader::open(&bytes[..cut]).unwrap();
            let err = reader.next_block().unwrap_err().to_string();
            assert!(err.contains("truncated"), "cut {cut}: {err}");
        }
    }

    #[test]
    fn varints_round_trip() {
        for value in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut buf = Vec::new();
            write_varint(&mut buf, value).unwrap();
            let mut reader = CarReader {
                input: &buf[..],
                offset: 0,
                sections: 0,
            };
            assert_eq!(reader.read_varint().unwrap(), Some(value));
        }
    }
}
