//! Reading a CAR v1 stream, strictly and with bounded allocations.

use std::io::{self, Read};

use bytes::Bytes;
use cid::Cid;
use hamt_codec::read_canonical_cid;
use ipld_core::ipld::Ipld;

use crate::{CarError, MAX_HEADER, MAX_SECTION};
use hamt_codec::varint::{self, VarintError};

/// Reads a CAR v1 stream, section by section. Blocks are returned
/// unverified: the caller checks each against its CID.
#[derive(Debug)]
pub struct CarReader<R: Read> {
    input: R,
    /// Bytes consumed so far, for error messages.
    offset: u64,
    /// Sections read so far.
    sections: u64,
}

impl<R: Read> CarReader<R> {
    /// Reads the header; returns the reader and the roots it names.
    ///
    /// # Errors
    /// The input is empty, truncated, or its header is not a CAR v1 header.
    pub fn open(input: R) -> Result<(Self, Vec<Cid>), CarError> {
        let mut reader = CarReader {
            input,
            offset: 0,
            sections: 0,
        };
        let Some(len) = reader.read_varint()? else {
            return Err(CarError::Empty);
        };
        if len > MAX_HEADER {
            return Err(CarError::HeaderTooLarge { len });
        }
        let header = reader.read_exact_vec(len, || "the header".to_owned())?;
        let roots = decode_header(&header)?;
        Ok((reader, roots))
    }

    /// The next block, or `None` at a clean end of the input (the end
    /// falls exactly between two sections).
    ///
    /// # Errors
    /// The input ends inside a section, a length is out of bounds, or a
    /// section does not start with a CID.
    pub fn next_block(&mut self) -> Result<Option<(Cid, Bytes)>, CarError> {
        let start = self.offset;
        let Some(len) = self.read_varint()? else {
            return Ok(None);
        };
        self.sections += 1;
        let section = self.sections;
        if len > MAX_SECTION {
            return Err(CarError::SectionTooLarge {
                section,
                offset: start,
                len,
            });
        }
        let bytes = self.read_exact_vec(len, || {
            format!("section {section} (starting at byte {start})")
        })?;
        let (cid, cid_len) = read_canonical_cid(&bytes).map_err(|reason| CarError::BadCid {
            section,
            offset: start,
            reason,
        })?;
        Ok(Some((cid, Bytes::from(bytes).slice(cid_len..))))
    }

    /// Sections read so far.
    pub fn sections(&self) -> u64 {
        self.sections
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// An unsigned LEB128 varint; `None` if the input ends before its first byte.
    fn read_varint(&mut self) -> Result<Option<u64>, CarError> {
        let mut decoder = varint::Decoder::default();
        loop {
            let Some(byte) = self.read_byte()? else {
                if decoder.is_empty() {
                    return Ok(None);
                }
                return Err(CarError::TruncatedPrefix {
                    offset: self.offset,
                });
            };
            match decoder.push(byte) {
                // A longer spelling than the value needs (go-varint's "not
                // minimally encoded"): each length must have one spelling.
                Ok(Some(value)) if decoder.len() != varint::encoded_len(value) => {
                    return Err(CarError::NonMinimalPrefix {
                        offset: self.offset,
                    });
                }
                Ok(Some(value)) => return Ok(Some(value)),
                Ok(None) => {}
                Err(VarintError::Overflow | VarintError::Truncated) => {
                    return Err(CarError::PrefixTooLong {
                        offset: self.offset,
                    });
                }
            }
        }
    }

    fn read_byte(&mut self) -> Result<Option<u8>, CarError> {
        let mut byte = [0u8];
        loop {
            match self.input.read(&mut byte) {
                Ok(0) => return Ok(None),
                Ok(_) => {
                    self.offset += 1;
                    return Ok(Some(byte[0]));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(CarError::Io {
                        offset: self.offset,
                        source,
                    });
                }
            }
        }
    }

    /// Exactly `len` bytes; the buffer grows as bytes arrive, so a length
    /// prefix larger than the input costs no more than the input.
    fn read_exact_vec(&mut self, len: u64, what: impl Fn() -> String) -> Result<Vec<u8>, CarError> {
        let mut buf = Vec::new();
        let read = (&mut self.input)
            .take(len)
            .read_to_end(&mut buf)
            .map_err(|source| CarError::Io {
                offset: self.offset,
                source,
            })?;
        self.offset += read as u64;
        if (read as u64) < len {
            return Err(CarError::Truncated {
                what: what(),
                needed: len,
                got: read as u64,
                offset: self.offset,
            });
        }
        Ok(buf)
    }
}

fn decode_header(bytes: &[u8]) -> Result<Vec<Cid>, CarError> {
    let bad = |reason: String| CarError::BadHeader { reason };
    let header: Ipld = serde_ipld_dagcbor::from_slice(bytes)
        .map_err(|e| bad(format!("its header is not DAG-CBOR: {e}")))?;
    let Ipld::Map(map) = header else {
        return Err(bad("its header is not a map".to_owned()));
    };
    match map.get("version") {
        Some(Ipld::Integer(1)) => {}
        Some(Ipld::Integer(2)) => return Err(CarError::Version2),
        other => return Err(bad(format!("header version is {other:?}, not 1"))),
    }
    let Some(Ipld::List(roots)) = map.get("roots") else {
        return Err(bad("its header has no list of roots".to_owned()));
    };
    roots
        .iter()
        .map(|root| match root {
            Ipld::Link(cid) => Ok(*cid),
            other => Err(bad(format!("a root in its header is not a CID: {other:?}"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::CarWriter;
    use crate::writer::write_varint;
    use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};

    fn sample_car() -> (Vec<u8>, Cid) {
        let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"hello");
        let mut writer = CarWriter::new(Vec::new(), &[cid]).unwrap();
        writer.write_block(&cid, b"hello").unwrap();
        (writer.finish().unwrap(), cid)
    }

    fn header_end(bytes: &[u8]) -> usize {
        let (reader, _) = CarReader::open(bytes).unwrap();
        usize::try_from(reader.offset()).unwrap()
    }

    #[test]
    fn round_trips_header_and_blocks() {
        let (bytes, cid) = sample_car();
        let (mut reader, roots) = CarReader::open(&bytes[..]).unwrap();
        assert_eq!(roots, [cid]);
        let (got, data) = reader.next_block().unwrap().unwrap();
        assert_eq!((got, &data[..]), (cid, &b"hello"[..]));
        assert!(reader.next_block().unwrap().is_none());
        assert_eq!(reader.sections(), 1);
    }

    #[test]
    fn every_truncation_inside_a_section_is_an_error() {
        let (bytes, _) = sample_car();
        for cut in header_end(&bytes) + 1..bytes.len() {
            let (mut reader, _) = CarReader::open(&bytes[..cut]).unwrap();
            let err = reader.next_block().unwrap_err().to_string();
            assert!(err.contains("truncated"), "cut {cut}: {err}");
        }
    }

    #[test]
    fn every_truncation_inside_the_header_is_an_error() {
        let (bytes, _) = sample_car();
        assert!(matches!(CarReader::open(&[][..]), Err(CarError::Empty)));
        for cut in 1..header_end(&bytes) {
            let err = CarReader::open(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(err, CarError::Truncated { .. }),
                "cut {cut}: {err}"
            );
        }
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        let mut huge_header = Vec::new();
        write_varint(&mut huge_header, u64::MAX).unwrap();
        assert!(matches!(
            CarReader::open(&huge_header[..]),
            Err(CarError::HeaderTooLarge { len: u64::MAX })
        ));

        let (mut bytes, _) = sample_car();
        bytes.truncate(header_end(&bytes));
        write_varint(&mut bytes, MAX_SECTION + 1).unwrap();
        let (mut reader, _) = CarReader::open(&bytes[..]).unwrap();
        let err = reader.next_block().unwrap_err();
        assert!(
            matches!(err, CarError::SectionTooLarge { section: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_varint_over_64_bits_is_corrupt() {
        let mut bytes = vec![0xff; 9];
        bytes.push(0x02);
        assert!(matches!(
            CarReader::open(&bytes[..]),
            Err(CarError::PrefixTooLong { offset: 10 })
        ));
        let eleven = [0x80u8; 11];
        assert!(matches!(
            CarReader::open(&eleven[..]),
            Err(CarError::PrefixTooLong { .. })
        ));
    }

    #[test]
    fn a_length_prefix_with_a_shorter_spelling_is_corrupt() {
        // The header's length as `len | 0x80, 0x00`: the right value, one byte too long.
        let (bytes, _) = sample_car();
        let mut padded = vec![bytes[0] | 0x80, 0x00];
        padded.extend_from_slice(&bytes[1..]);
        assert!(matches!(
            CarReader::open(&padded[..]),
            Err(CarError::NonMinimalPrefix { offset: 2 })
        ));

        let start = header_end(&bytes);
        let mut padded = bytes[..start].to_vec();
        padded.extend_from_slice(&[bytes[start] | 0x80, 0x80, 0x00]);
        padded.extend_from_slice(&bytes[start + 1..]);
        let (mut reader, _) = CarReader::open(&padded[..]).unwrap();
        let err = reader.next_block().unwrap_err();
        assert!(
            matches!(err, CarError::NonMinimalPrefix { offset } if offset == start as u64 + 3),
            "{err}"
        );
        // Zero itself is one byte, `00`, and is fine (an empty header is refused later).
        assert!(!matches!(
            CarReader::open(&[0u8][..]),
            Err(CarError::NonMinimalPrefix { .. })
        ));
    }

    #[test]
    fn headers_that_are_not_car_v1_are_named() {
        let header = |ipld: &Ipld| {
            let body = serde_ipld_dagcbor::to_vec(ipld).unwrap();
            let mut out = Vec::new();
            write_varint(&mut out, body.len() as u64).unwrap();
            out.extend_from_slice(&body);
            CarReader::open(&out[..]).unwrap_err().to_string()
        };
        let map = |entries: Vec<(&str, Ipld)>| {
            Ipld::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
            )
        };
        assert!(header(&Ipld::Integer(1)).contains("not a map"));
        assert!(header(&map(vec![("version", Ipld::Integer(2))])).contains("CARv2"));
        assert!(header(&map(vec![("version", Ipld::Integer(3))])).contains("version"));
        assert!(header(&map(vec![("version", Ipld::Integer(1))])).contains("no list of roots"));
        let bad_root = map(vec![
            ("version", Ipld::Integer(1)),
            ("roots", Ipld::List(vec![Ipld::Integer(5)])),
        ]);
        assert!(header(&bad_root).contains("not a CID"));
        let mut garbage = vec![1u8];
        garbage.push(0xff);
        assert!(
            CarReader::open(&garbage[..])
                .unwrap_err()
                .to_string()
                .contains("not DAG-CBOR")
        );
    }

    #[test]
    fn a_section_without_a_cid_is_corrupt() {
        let (mut bytes, _) = sample_car();
        bytes.truncate(header_end(&bytes));
        write_varint(&mut bytes, 3).unwrap();
        bytes.extend_from_slice(&[0x07, 0x07, 0x07]);
        let (mut reader, _) = CarReader::open(&bytes[..]).unwrap();
        let err = reader.next_block().unwrap_err();
        assert!(matches!(err, CarError::BadCid { section: 1, .. }), "{err}");
    }

    #[test]
    fn a_non_canonical_cid_is_corrupt() {
        let value = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"v").to_bytes();
        // The raw codec 0x55 spelled as a 10-byte varint that overflows 64 bits.
        let mut aliased = vec![
            0x01, 0xd5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02,
        ];
        aliased.extend_from_slice(&value[2..]);
        aliased.extend_from_slice(b"v");
        let (mut bytes, _) = sample_car();
        bytes.truncate(header_end(&bytes));
        write_varint(&mut bytes, aliased.len() as u64).unwrap();
        bytes.extend_from_slice(&aliased);
        let (mut reader, _) = CarReader::open(&bytes[..]).unwrap();
        let err = reader.next_block().unwrap_err();
        assert!(err.to_string().contains("non-canonical"), "{err}");
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
            assert_eq!(reader.offset(), buf.len() as u64);
        }
    }

    #[test]
    fn io_errors_carry_the_offset() {
        #[derive(Debug)]
        struct Failing(u8);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                self.0 -= 1;
                buf[0] = 0x80;
                Ok(1)
            }
        }
        let err = CarReader::open(Failing(2)).unwrap_err();
        assert!(matches!(err, CarError::Io { offset: 2, .. }), "{err}");
    }
}
