use std::cmp::Ordering;

use cid::Cid;

use crate::Key;
use crate::packed_cid::PackedCid;

/// Slots in every node: one per value of a hash byte.
pub const SLOT_COUNT: usize = 256;

/// A HAMT node: 256 slots, stored sparsely (a bitmap of occupied slots plus
/// the occupied slots in index order), so an almost empty node is small.
///
/// `L` is what a child slot holds: a [`Cid`] for a node as stored, or an
/// in-memory child for a node being written (the `hamt` crate uses that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node<L = Cid> {
    occupied: [u64; 4],
    slots: Vec<Slot<L>>,
}

/// One occupied slot of a [`Node`]. Empty slots are simply absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot<L = Cid> {
    /// Keys whose hash ends its path here, each with the link of its value block.
    Bucket(Bucket),
    /// A child node holding every key whose hash shares this node's path plus this index.
    Child(L),
}

/// A non-empty map from key to value link, kept in DAG-CBOR canonical key
/// order (shorter keys first, then bytewise), which is the order it encodes in.
///
/// Links are held packed (40 bytes for every CID py-hamt makes), so an
/// entry with a short key is one 64-byte cache line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bucket {
    entries: Vec<(Key, PackedCid)>,
}

/// DAG-CBOR's canonical map key order: length first, then bytes.
pub(crate) fn canonical_key_order(a: &str, b: &str) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| same_length_order(a.as_bytes(), b.as_bytes()))
}

/// The bytewise order of two slices of the same length, eight bytes at a
/// time: keys are short and share long prefixes (`temp/c/…`), and a call
/// into `memcmp` per key costs more than comparing the words here.
fn same_length_order(a: &[u8], b: &[u8]) -> Ordering {
    let (mut words_a, mut words_b) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut words_a).zip(&mut words_b) {
        match big_endian_word(x).cmp(&big_endian_word(y)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
    }
    // Equal lengths leave equal remainders, zero-padded alike.
    big_endian_word(words_a.remainder()).cmp(&big_endian_word(words_b.remainder()))
}

/// Up to eight bytes as a big-endian word, zero-padded on the right, so
/// that words order as their bytes do.
fn big_endian_word(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(word)
}

impl Bucket {
    /// A bucket with one entry.
    pub fn single(key: Key, link: Cid) -> Self {
        let mut entries = Vec::with_capacity(2);
        entries.push((key, PackedCid::new(&link)));
        Bucket { entries }
    }

    /// A bucket from entries in any order; a repeated key keeps its last link.
    pub fn from_entries(entries: impl IntoIterator<Item = (Key, Cid)>) -> Self {
        let mut bucket = Bucket::default();
        for (key, link) in entries {
            bucket.insert(key, link);
        }
        bucket
    }

    /// Entries in canonical order, as the caller guarantees (the decoder checks it).
    pub(crate) fn from_sorted(entries: Vec<(Key, PackedCid)>) -> Self {
        Bucket { entries }
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        // Buckets are small (py-hamt's default is 4): a scan that compares
        // lengths first beats a binary search's calls into `memcmp`.
        if self.entries.len() > 16 {
            return self
                .entries
                .binary_search_by(|(k, _)| canonical_key_order(k, key));
        }
        for (i, (k, _)) in self.entries.iter().enumerate() {
            match canonical_key_order(k, key) {
                Ordering::Less => {}
                Ordering::Equal => return Ok(i),
                Ordering::Greater => return Err(i),
            }
        }
        Err(self.entries.len())
    }

    /// The link stored for `key`.
    pub fn get(&self, key: &str) -> Option<Cid> {
        self.position(key).ok().map(|i| self.entries[i].1.cid())
    }

    /// Whether `key` is in this bucket.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key` to `link`, returning the link it replaced.
    pub fn insert(&mut self, key: Key, link: Cid) -> Option<Cid> {
        let link = PackedCid::new(&link);
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, link).cid()),
            Err(i) => {
                self.entries.insert(i, (key, link));
                None
            }
        }
    }

    /// Removes `key`, returning its link.
    pub fn remove(&mut self, key: &str) -> Option<Cid> {
        self.position(key)
            .ok()
            .map(|i| self.entries.remove(i).1.cid())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the bucket has no entries (only transiently, before its slot is cleared).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in canonical key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, Cid)> {
        self.entries.iter().map(|(k, v)| (&**k, v.cid()))
    }

    /// Entries with their links packed, for the encoder.
    pub(crate) fn packed(&self) -> &[(Key, PackedCid)] {
        &self.entries
    }

    /// Consumes the bucket, yielding its entries with their links packed.
    pub(crate) fn into_packed(self) -> Vec<(Key, PackedCid)> {
        self.entries
    }

    /// Consumes the bucket, yielding its entries in canonical key order.
    pub fn into_entries(self) -> Vec<(Key, Cid)> {
        self.entries
            .into_iter()
            .map(|(key, link)| (key, link.cid()))
            .collect()
    }

    /// Approximate heap bytes held, for cache accounting.
    pub fn heap_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(Key, PackedCid)>()
            + self
                .entries
                .iter()
                .map(|(k, _)| k.heap_bytes())
                .sum::<usize>()
    }
}

impl<L> Default for Node<L> {
    fn default() -> Self {
        Node {
            occupied: [0; 4],
            slots: Vec::new(),
        }
    }
}

impl<L> Node<L> {
    /// An empty node (all 256 slots empty).
    pub fn new() -> Self {
        Self::default()
    }

    fn is_occupied(&self, index: u8) -> bool {
        self.occupied[usize::from(index >> 6)] & (1 << (index & 63)) != 0
    }

    /// Position in `slots` of slot `index`: the number of occupied slots before it.
    fn rank(&self, index: u8) -> usize {
        let word = usize::from(index >> 6);
        let below: u32 = self.occupied[..word].iter().map(|w| w.count_ones()).sum();
        let mask = (1u64 << (index & 63)) - 1;
        (below + (self.occupied[word] & mask).count_ones()) as usize
    }

    /// The slot at `index`, or `None` when it is empty.
    pub fn get(&self, index: u8) -> Option<&Slot<L>> {
        if self.is_occupied(index) {
            Some(&self.slots[self.rank(index)])
        } else {
            None
        }
    }

    /// The slot at `index`, mutably.
    pub fn get_mut(&mut self, index: u8) -> Option<&mut Slot<L>> {
        if self.is_occupied(index) {
            let rank = self.rank(index);
            Some(&mut self.slots[rank])
        } else {
            None
        }
    }

    /// Puts `slot` at `index`, returning what was there.
    pub fn set(&mut self, index: u8, slot: Slot<L>) -> Option<Slot<L>> {
        let rank = self.rank(index);
        if self.is_occupied(index) {
            Some(std::mem::replace(&mut self.slots[rank], slot))
        } else {
            self.occupied[usize::from(index >> 6)] |= 1 << (index & 63);
            self.slots.insert(rank, slot);
            None
        }
    }

    /// Empties slot `index`, returning what was there.
    pub fn clear(&mut self, index: u8) -> Option<Slot<L>> {
        if self.is_occupied(index) {
            let rank = self.rank(index);
            self.occupied[usize::from(index >> 6)] &= !(1 << (index & 63));
            Some(self.slots.remove(rank))
        } else {
            None
        }
    }

    /// Occupied slots with their indices, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &Slot<L>)> {
        self.indices().zip(self.slots.iter())
    }

    /// Consumes the node, yielding its occupied slots with their indices.
    pub(crate) fn into_slots(self) -> impl Iterator<Item = (u8, Slot<L>)> {
        let indices: Vec<u8> = self.indices().collect();
        indices.into_iter().zip(self.slots)
    }

    /// Appends slot `index`, which must come after every occupied slot
    /// (nodes are built in slot order, so no slot is ever moved).
    pub(crate) fn push_ordered(&mut self, index: u8, slot: Slot<L>) {
        self.occupied[usize::from(index >> 6)] |= 1 << (index & 63);
        self.slots.push(slot);
    }

    /// Occupied slots with their indices, mutably, in index order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u8, &mut Slot<L>)> {
        let indices: Vec<u8> = self.indices().collect();
        indices.into_iter().zip(self.slots.iter_mut())
    }

    fn indices(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|&i| self.is_occupied(i))
    }

    /// Number of occupied slots.
    pub fn occupied_len(&self) -> usize {
        self.slots.len()
    }

    /// Whether every slot is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Number of entries in this node's buckets (not counting children).
    pub fn bucket_entries(&self) -> usize {
        self.slots
            .iter()
            .map(|s| match s {
                Slot::Bucket(b) => b.len(),
                Slot::Child(_) => 0,
            })
            .sum()
    }

    /// The same node with every child converted by `f`.
    pub fn map_children<M>(self, mut f: impl FnMut(L) -> M) -> Node<M> {
        Node {
            occupied: self.occupied,
            slots: self
                .slots
                .into_iter()
                .map(|s| match s {
                    Slot::Bucket(b) => Slot::Bucket(b),
                    Slot::Child(c) => Slot::Child(f(c)),
                })
                .collect(),
        }
    }

    /// Appends the canonical DAG-CBOR encoding of this node as stored, where
    /// `link` gives the CID of each child (called once per child, in slot
    /// order): a node being written encodes without first being converted
    /// to a `Node<Cid>`.
    pub fn encode_with(&self, buf: &mut Vec<u8>, link: impl FnMut(&L) -> Cid) {
        crate::cbor::encode_node(self, buf, link);
    }

    /// Approximate heap bytes held (slots and keys), for cache and buffer accounting.
    pub fn heap_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<L>>()
            + self
                .slots
                .iter()
                .map(|s| match s {
                    Slot::Bucket(b) => b.heap_size(),
                    Slot::Child(_) => 0,
                })
                .sum::<usize>()
    }
}

impl Node<Cid> {
    /// Encodes the node as canonical DAG-CBOR, exactly as py-hamt does.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut buf);
        buf
    }

    /// Appends the node's canonical DAG-CBOR encoding to `buf` (reuse it across nodes).
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        crate::cbor::encode_node(self, buf, |cid| *cid);
    }

    /// The exact length of [`Node::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        crate::cbor::encoded_len(self)
    }

    /// Decodes a node, accepting only canonical DAG-CBOR in the py-hamt shape,
    /// with no bucket larger than `max_bucket_entries`.
    ///
    /// Allocation is bounded by the input length; every malformed input is a
    /// [`DecodeError`](crate::DecodeError), never a panic.
    pub fn decode(bytes: &[u8], max_bucket_entries: usize) -> Result<Self, crate::DecodeError> {
        Ok(crate::StoredNode::decode(bytes, max_bucket_entries)?.to_node())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockCodec, HashAlgorithm, block_cid};

    fn link(n: u8) -> Cid {
        block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &[n])
    }

    #[test]
    fn bucket_keeps_canonical_order() {
        let bucket = Bucket::from_entries([
            ("bb".into(), link(1)),
            ("a".into(), link(2)),
            ("c".into(), link(3)),
            ("aaa".into(), link(4)),
        ]);
        let keys: Vec<&str> = bucket.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "c", "bb", "aaa"]);
    }

    #[test]
    fn bucket_insert_replace_remove() {
        let mut bucket = Bucket::single("k".into(), link(1));
        assert_eq!(bucket.insert("k".into(), link(2)), Some(link(1)));
        assert_eq!(bucket.get("k"), Some(link(2)));
        assert!(bucket.contains_key("k"));
        assert_eq!(bucket.remove("k"), Some(link(2)));
        assert_eq!(bucket.remove("k"), None);
        assert!(bucket.is_empty());
    }

    #[test]
    fn sparse_slots_behave_like_an_array() {
        let mut node: Node<u32> = Node::new();
        for i in [255u8, 0, 64, 63, 128, 1] {
            assert!(node.set(i, Slot::Child(u32::from(i))).is_none());
        }
        let order: Vec<u8> = node.iter().map(|(i, _)| i).collect();
        assert_eq!(order, [0, 1, 63, 64, 128, 255]);
        assert_eq!(node.get(64), Some(&Slot::Child(64)));
        assert_eq!(node.get(65), None);
        assert_eq!(node.set(64, Slot::Child(7)), Some(Slot::Child(64)));
        assert_eq!(node.clear(0), Some(Slot::Child(0)));
        assert_eq!(node.clear(0), None);
        assert_eq!(node.occupied_len(), 5);
        if let Some(Slot::Child(c)) = node.get_mut(255) {
            *c = 9;
        }
        assert_eq!(node.get(255), Some(&Slot::Child(9)));
        let mapped = node.map_children(u64::from);
        assert_eq!(mapped.get(64), Some(&Slot::Child(7u64)));
        for (_, slot) in &mut mapped.clone().iter_mut() {
            assert!(matches!(slot, Slot::Child(_)));
        }
    }
}
