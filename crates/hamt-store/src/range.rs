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
        let range = self.to_offset_range(len as u64);
        // Both ends are at most `len`, a usize.
        usize::try_from(range.start).unwrap_or(len)..usize::try_from(range.end).unwrap_or(len)
    }

    /// The byte offsets this selects in a value of `len` bytes, clamped:
    /// [`to_index_range`](Self::to_index_range) for values that need not fit
    /// in memory (a UnixFS file declares its size before it is read).
    ///
    /// ```
    /// use hamt_store::ByteRange;
    /// assert_eq!(ByteRange::Suffix(4).to_offset_range(1 << 40), (1 << 40) - 4..1 << 40);
    /// ```
    pub fn to_offset_range(self, len: u64) -> Range<u64> {
        match self {
            ByteRange::Full => 0..len,
            ByteRange::From(offset) => offset.min(len)..len,
            ByteRange::Slice { offset, length } => {
                offset.min(len)..offset.saturating_add(length).min(len)
            }
            ByteRange::Suffix(n) => len - n.min(len)..len,
        }
    }
}
