//! zarrs byte ranges on HAMT values. zarrs treats a range reaching past the
//! end of a value as an error, while the HAMT clamps (as py-hamt does), so a
//! short read is checked against the value's size.

use bytes::Bytes;
use hamt::ByteRange as HamtRange;
use zarrs_storage::byte_range::{ByteRange, InvalidByteRangeError};

/// The HAMT range reading the same bytes as `range`.
pub(crate) fn to_hamt(range: ByteRange) -> HamtRange {
    match range {
        ByteRange::FromStart(offset, None) => HamtRange::From(offset),
        ByteRange::FromStart(offset, Some(length)) => HamtRange::Slice { offset, length },
        ByteRange::Suffix(length) => HamtRange::Suffix(length),
    }
}

/// Whether `range` lies within a value of `len` bytes.
pub(crate) fn is_within(range: ByteRange, len: u64) -> bool {
    match range {
        ByteRange::FromStart(offset, length) => offset
            .checked_add(length.unwrap_or(0))
            .is_some_and(|end| end <= len),
        ByteRange::Suffix(length) => length <= len,
    }
}

/// Whether a clamped read of `range` that gave `got` bytes may have been cut
/// short by the end of the value, so the value's size must be checked.
pub(crate) fn maybe_short(range: ByteRange, got: usize) -> bool {
    let got = got as u64;
    match range {
        ByteRange::FromStart(offset, None) => got == 0 && offset > 0,
        ByteRange::FromStart(_, Some(length)) | ByteRange::Suffix(length) => got < length,
    }
}

/// `range` of a whole value, or an error if it reaches past its end.
pub(crate) fn slice(value: &Bytes, range: ByteRange) -> Result<Bytes, InvalidByteRangeError> {
    let len = value.len() as u64;
    if !is_within(range, len) {
        return Err(InvalidByteRangeError::new(range, len));
    }
    Ok(value.slice(to_hamt(range).to_index_range(value.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_like_zarrs() {
        let value = Bytes::from_static(b"0123456789");
        assert_eq!(
            &slice(&value, ByteRange::FromStart(2, Some(3))).unwrap()[..],
            b"234"
        );
        assert_eq!(
            &slice(&value, ByteRange::FromStart(7, None)).unwrap()[..],
            b"789"
        );
        assert_eq!(&slice(&value, ByteRange::Suffix(2)).unwrap()[..], b"89");
        assert!(
            slice(&value, ByteRange::FromStart(10, None))
                .unwrap()
                .is_empty()
        );
        assert!(slice(&value, ByteRange::FromStart(11, None)).is_err());
        assert!(slice(&value, ByteRange::FromStart(8, Some(3))).is_err());
        assert!(slice(&value, ByteRange::Suffix(11)).is_err());
        assert!(slice(&value, ByteRange::FromStart(u64::MAX, Some(2))).is_err());
    }

    #[test]
    fn flags_reads_that_may_be_short() {
        assert!(maybe_short(ByteRange::FromStart(3, Some(4)), 2));
        assert!(!maybe_short(ByteRange::FromStart(3, Some(4)), 4));
        assert!(maybe_short(ByteRange::FromStart(3, None), 0));
        assert!(!maybe_short(ByteRange::FromStart(0, None), 0));
        assert!(maybe_short(ByteRange::Suffix(5), 4));
    }
}
