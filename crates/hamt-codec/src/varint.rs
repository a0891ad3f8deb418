//! Unsigned LEB128 varints, as protobuf (dag-pb, UnixFS), CIDs and CAR
//! length prefixes spell integers: seven bits per byte, low bits first, the
//! high bit set on every byte but the last.
//!
//! ```
//! use hamt_codec::varint;
//!
//! let mut out = Vec::new();
//! varint::encode(300, &mut out);
//! assert_eq!(out, [0xac, 0x02]);
//! assert_eq!(varint::decode(&out)?, (300, 2));
//! assert_eq!(varint::encoded_len(300), 2);
//! // 300 spelled with a needless third byte: it decodes, but is not minimal.
//! assert_eq!(varint::decode(&[0xac, 0x82, 0x00])?, (300, 3));
//! # Ok::<(), varint::VarintError>(())
//! ```

/// The longest varint a `u64` needs.
pub const MAX_LEN: usize = 10;

/// Why bytes are not a varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    /// The input ends before the varint's last byte.
    #[error("the input ends inside a varint")]
    Truncated,
    /// More than ten bytes, or a value over 64 bits.
    #[error("a varint overflows 64 bits")]
    Overflow,
}

/// Appends `value` as a varint.
pub fn encode(value: u64, out: &mut Vec<u8>) {
    let (bytes, len) = encode_array(value);
    out.extend_from_slice(&bytes[..len]);
}

/// `value` as a varint in a fixed array, with its length (for writers that
/// take a slice).
pub fn encode_array(mut value: u64) -> ([u8; MAX_LEN], usize) {
    let mut bytes = [0u8; MAX_LEN];
    let mut len = 0;
    loop {
        // Truncation intended: the low seven bits.
        #[allow(clippy::cast_possible_truncation)]
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes[len] = low;
            return (bytes, len + 1);
        }
        bytes[len] = low | 0x80;
        len += 1;
    }
}

/// How many bytes the minimal varint of `value` takes.
pub const fn encoded_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    if bits == 0 { 1 } else { bits.div_ceil(7) }
}

/// Reads the varint at the start of `bytes`: its value and how many bytes
/// it took. A non-minimal spelling (a needless zero last byte) is accepted;
/// callers that require one spelling per value compare the length with
/// [`encoded_len`].
pub fn decode(bytes: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut decoder = Decoder::default();
    for &byte in bytes {
        if let Some(value) = decoder.push(byte)? {
            return Ok((value, decoder.len()));
        }
    }
    Err(VarintError::Truncated)
}

/// Decodes a varint one byte at a time, for readers of a stream.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    value: u64,
    len: usize,
}

impl Decoder {
    /// Takes the next byte: the value once it was the last one, `None` while
    /// more are needed.
    pub fn push(&mut self, byte: u8) -> Result<Option<u64>, VarintError> {
        // The tenth byte may carry bit 63 only; more would not fit a u64.
        if self.len == MAX_LEN - 1 && byte > 1 {
            return Err(VarintError::Overflow);
        }
        self.value |= u64::from(byte & 0x7f) << (7 * self.len);
        self.len += 1;
        Ok((byte & 0x80 == 0).then_some(self.value))
    }

    /// Bytes taken so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte was taken yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_minimally() {
        for value in [0, 1, 127, 128, 300, 1 << 20, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            encode(value, &mut out);
            assert_eq!(out.len(), encoded_len(value), "{value}");
            assert_eq!(decode(&out), Ok((value, out.len())));
        }
    }

    #[test]
    fn bad_varints_are_errors() {
        assert_eq!(decode(&[]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0x80]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0xff; 11]), Err(VarintError::Overflow));
        // Ten bytes whose last one carries more than bit 63.
        let mut over = [0xff; 10];
        over[9] = 0x02;
        assert_eq!(decode(&over), Err(VarintError::Overflow));
        over[9] = 0x01;
        assert_eq!(decode(&over), Ok((u64::MAX, 10)));
    }

    #[test]
    fn a_non_minimal_spelling_is_visible_by_its_length() {
        let (value, len) = decode(&[0x81, 0x00]).unwrap();
        assert_eq!((value, len), (1, 2));
        assert_ne!(len, encoded_len(value));
    }
}
