use std::ops::Range;

/// Which bytes of a block to read: py-hamt's `get(offset, length, suffix)`.
///
/// Ranges are clamped to the block, as Python slicing and HTTP ranges are: a
/// range past the end gives fewer (or no) bytes, never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ByteRange {
    /// The whole block.
    #[default]
    Full,
    /// From `offset` to the end.
    From(u64),
    /// `length` bytes from `offset`.
    Slice {
        /// First byte.
        offset: u64,
        /// Number of bytes.
        length: u64,
    },
    /// The last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The index range this selects in a block of `len` bytes, clamped.
    ///
    /// ```
    /// use hamt_store::ByteRange;
    /// assert_eq!(ByteRange::Slice { offset: 2, length: 3 }.to_index_range(10), 2..5);
    /// assert_eq!(ByteRange::Suffix(4).to_index_range(10), 6..10);
    /// assert_eq!(ByteRange::From(20).to_index_range(10), 10..10);
    /// ```
    pub fn to_index_range(self, len: usize) -> Range<usize> {
        let clamp = |n: u64| usize::try_from(n).map_or(len, |n| n.min(len));
        match self {
            ByteRange::Full => 0..len,
            ByteRange::From(offset) => clamp(offset)..len,
            ByteRange::Slice { offset, length } => {
                let start = clamp(offset);
                start..clamp(offset.saturating_add(length))
            }
            ByteRange::Suffix(n) => len - clamp(n)..len,
        }
    }
}
