//! The key of a bucket entry, held without an allocation when it is short.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use compact_str::CompactString;

/// A HAMT key as a bucket holds it: a string stored inline up to 24 bytes
/// (zarr chunk keys such as `temp/c/12/0/3` all fit), on the heap beyond.
///
/// A map of millions of keys would otherwise make one heap allocation per
/// key on every insert and on every decoded node; inline keys make building
/// and dropping a bucket cost one allocation in all.
///
/// ```
/// use hamt_codec::Key;
/// let key = Key::from("temp/c/0/0");
/// assert_eq!(key, "temp/c/0/0");
/// assert_eq!(key.len(), 10);
/// assert_eq!(key.heap_bytes(), 0);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Key(CompactString);

impl Key {
    /// The longest key held inline, in bytes.
    pub const INLINE_BYTES: usize = std::mem::size_of::<CompactString>();

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Heap bytes the key holds: none when it is inline.
    pub fn heap_bytes(&self) -> usize {
        if self.0.is_heap_allocated() {
            self.0.capacity()
        } else {
            0
        }
    }
}

impl Deref for Key {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Key {
    fn from(key: &str) -> Self {
        Key(CompactString::new(key))
    }
}

impl From<&String> for Key {
    fn from(key: &String) -> Self {
        Key(CompactString::new(key))
    }
}

impl From<String> for Key {
    fn from(key: String) -> Self {
        Key(CompactString::from(key))
    }
}

impl From<Box<str>> for Key {
    fn from(key: Box<str>) -> Self {
        Key(CompactString::from(key))
    }
}

impl From<Key> for String {
    fn from(key: Key) -> Self {
        key.0.into_string()
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_inline_long_ones_on_the_heap() {
        let inline = "x".repeat(Key::INLINE_BYTES);
        assert_eq!(Key::from(inline.as_str()).heap_bytes(), 0);
        let long = "y".repeat(Key::INLINE_BYTES + 1);
        let key = Key::from(long.clone());
        assert!(key.heap_bytes() >= long.len());
        assert_eq!(&*key, long);
        assert_eq!(String::from(key.clone()), long);
        assert_eq!(Key::from(long.clone().into_boxed_str()), key);
        assert_eq!(format!("{key}"), long);
        assert_eq!(format!("{:?}", Key::from("a\"b")), "\"a\\\"b\"");
    }

    #[test]
    fn reads_as_a_string_every_way() {
        let owned = String::from("temp/c/1/2");
        let key = Key::from(&owned);
        let as_ref: &str = key.as_ref();
        assert_eq!(as_ref, owned);
        assert!(key == *owned.as_str());
        assert!(key == "temp/c/1/2");
        let set: std::collections::HashSet<Key> = [key.clone()].into();
        assert!(set.contains("temp/c/1/2"));
        assert_eq!(key.as_str(), owned);
    }
}
