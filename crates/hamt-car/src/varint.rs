//! Unsigned LEB128 varints, the length prefixes of a CAR.

use std::io::{self, Write};

/// The longest varint a `u64` needs.
pub(crate) const MAX_VARINT_LEN: usize = 10;

pub(crate) fn write_varint(out: &mut impl Write, mut value: u64) -> io::Result<()> {
    let mut buf = [0u8; MAX_VARINT_LEN];
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
