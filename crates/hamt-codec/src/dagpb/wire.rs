//! The few protobuf wire primitives dag-pb and UnixFS need, by hand: both
//! schemas are tiny, and a hand decoder can bound every allocation.

use super::{DecodeError, DecodeErrorKind};
use crate::varint::{self, VarintError};

/// Wire type of varint fields.
pub(crate) const VARINT: u64 = 0;
/// Wire type of 64-bit fields (only skipped).
pub(crate) const FIXED64: u64 = 1;
/// Wire type of length-delimited fields.
pub(crate) const LEN: u64 = 2;
/// Wire type of 32-bit fields (only skipped).
pub(crate) const FIXED32: u64 = 5;

/// Appends a field key.
pub(crate) fn put_key(out: &mut Vec<u8>, field: u64, wire_type: u64) {
    varint::encode((field << 3) | wire_type, out);
}

/// Appends a length-delimited field.
pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_key(out, field, LEN);
    varint::encode(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Appends a varint field.
pub(crate) fn put_uint(out: &mut Vec<u8>, field: u64, value: u64) {
    put_key(out, field, VARINT);
    varint::encode(value, out);
}

/// A cursor over one protobuf message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `what` names the message in errors.
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    /// Whether every byte has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The current offset, for positions in errors.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// An error at the current offset.
    pub(crate) fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        self.error_at(self.pos, kind)
    }

    /// An error at `offset`.
    pub(crate) fn error_at(&self, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            what: self.what,
            offset,
            kind,
        }
    }

    /// Reads a varint of at most 10 bytes that fits 64 bits.
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        match varint::decode(&self.buf[self.pos..]) {
            Ok((value, len)) => {
                self.pos += len;
                Ok(value)
            }
            Err(VarintError::Truncated) => {
                self.pos = self.buf.len();
                Err(self.error(DecodeErrorKind::UnexpectedEnd))
            }
            Err(VarintError::Overflow) => Err(self.error(DecodeErrorKind::VarintOverflow)),
        }
    }

    /// Reads a field key: `(field number, wire type)`.
    pub(crate) fn key(&mut self) -> Result<(u64, u64), DecodeError> {
        let key = self.varint()?;
        Ok((key >> 3, key & 7))
    }

    /// Reads the body of a length-delimited field, borrowing it: no allocation.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let remaining = self.buf.len() - self.pos;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= remaining)
            .ok_or_else(|| self.error(DecodeErrorKind::UnexpectedEnd))?;
        let body = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(body)
    }

    /// Skips a field of `wire_type` (for fields a lenient schema ignores).
    pub(crate) fn skip(&mut self, field: u64, wire_type: u64) -> Result<(), DecodeError> {
        match wire_type {
            VARINT => self.varint().map(drop),
            LEN => self.bytes().map(drop),
            FIXED64 => self.advance(8),
            FIXED32 => self.advance(4),
            _ => Err(self.error(DecodeErrorKind::WrongWireType { field, wire_type })),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), DecodeError> {
        if self.buf.len() - self.pos < n {
            return Err(self.error(DecodeErrorKind::UnexpectedEnd));
        }
        self.pos += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for value in [0, 1, 127, 128, 300, 1 << 20, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            varint::encode(value, &mut out);
            let mut reader = Reader::new(&out, "test");
            assert_eq!(reader.varint().unwrap(), value);
            assert!(reader.is_done());
        }
    }

    #[test]
    fn overlong_varints_are_rejected() {
        let eleven = [0xff; 11];
        let err = Reader::new(&eleven, "test").varint().unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::VarintOverflow);
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        let err = Reader::new(&overflow, "test").varint().unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::VarintOverflow);
        let err = Reader::new(&[0x80], "test").varint().unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::UnexpectedEnd);
    }

    #[test]
    fn lengths_past_the_end_are_rejected() {
        let huge = [0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2];
        let err = Reader::new(&huge, "test").bytes().unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::UnexpectedEnd);
    }
}
