//! A node as read from its block: every slot and entry in two arrays.

use cid::Cid;

use crate::Key;
use crate::node::{Bucket, Node, Slot, canonical_key_order};
use crate::packed_cid::PackedCid;

/// A HAMT node as read: the same content as a [`Node`], laid out for
/// lookups and walks rather than for change.
///
/// A `Node` holds each bucket in an allocation of its own; decoding one of
/// py-hamt's nodes (hundreds of small buckets) costs an allocation per
/// bucket, and a lookup follows a pointer from the slot to its bucket. Here
/// the bucket entries of all slots sit in one array, in slot order, and each
/// slot is 8 bytes saying where its entries (or its child link) are: a
/// decode makes three allocations whatever the node holds, and a lookup
/// reads the slot table (small, usually cached) and then one run of entries.
/// Nodes in a read cache are this type; a node about to change becomes a
/// [`Node`] ([`to_node`](Self::to_node)).
///
/// ```
/// use hamt_codec::{Bucket, BlockCodec, HashAlgorithm, Node, Slot, StoredNode, block_cid};
/// let value = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"v");
/// let mut node: Node = Node::new();
/// node.set(9, Slot::Bucket(Bucket::single("temp/c/0".into(), value)));
/// let stored = StoredNode::decode(&node.encode(), 4)?;
/// assert_eq!(stored.get_link(9, "temp/c/0"), Some(value));
/// assert_eq!(stored.to_node(), node);
/// # Ok::<(), hamt_codec::DecodeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNode {
    occupied: [u64; 4],
    /// One per occupied slot, in index order.
    slots: Box<[SlotPlace]>,
    /// The entries of every bucket, bucket after bucket in slot order.
    entries: Box<[(Key, PackedCid)]>,
    /// The links of the child slots, in slot order.
    children: Box<[PackedCid]>,
}

/// Where an occupied slot's content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotPlace {
    /// `len` entries from `start` in `entries`.
    Bucket { start: u32, len: u32 },
    /// The link at this position in `children`.
    Child(u32),
}

/// An occupied slot of a [`StoredNode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredSlot<'a> {
    /// A bucket's entries.
    Bucket(BucketEntries<'a>),
    /// The link of a child node.
    Child(Cid),
}

/// The entries of one bucket of a [`StoredNode`], in canonical key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketEntries<'a> {
    entries: &'a [(Key, PackedCid)],
}

impl<'a> BucketEntries<'a> {
    /// The link stored for `key`.
    pub fn get(&self, key: &str) -> Option<Cid> {
        // Buckets are small (py-hamt's default is 4) and kept in canonical
        // order: a scan that stops at the first larger key.
        for (k, link) in self.entries {
            match canonical_key_order(k, key) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Some(link.cid()),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none (never, for a decoded bucket).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in canonical key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a str, Cid)> + 'a {
        self.entries.iter().map(|(k, link)| (&**k, link.cid()))
    }

    /// The entries as a [`Bucket`] of their own.
    pub fn to_bucket(&self) -> Bucket {
        Bucket::from_sorted(self.entries.to_vec())
    }
}

impl StoredNode {
    /// Decodes a node, accepting exactly what [`Node::decode`] accepts
    /// (canonical DAG-CBOR in the py-hamt shape, no bucket over
    /// `max_bucket_entries`); allocation is bounded by the input length.
    pub fn decode(bytes: &[u8], max_bucket_entries: usize) -> Result<Self, crate::DecodeError> {
        crate::cbor::decode_node(bytes, max_bucket_entries)
    }

    /// The occupied slot at `index`.
    pub fn get(&self, index: u8) -> Option<StoredSlot<'_>> {
        if self.occupied[usize::from(index >> 6)] & (1 << (index & 63)) == 0 {
            return None;
        }
        Some(self.slot(self.slots[self.rank(index)]))
    }

    /// The link of `key` if it is in the bucket at `index` (one step of a lookup).
    pub fn get_link(&self, index: u8, key: &str) -> Option<Cid> {
        match self.get(index)? {
            StoredSlot::Bucket(bucket) => bucket.get(key),
            StoredSlot::Child(_) => None,
        }
    }

    fn rank(&self, index: u8) -> usize {
        let word = usize::from(index >> 6);
        let below: u32 = self.occupied[..word].iter().map(|w| w.count_ones()).sum();
        let mask = (1u64 << (index & 63)) - 1;
        (below + (self.occupied[word] & mask).count_ones()) as usize
    }

    fn slot(&self, place: SlotPlace) -> StoredSlot<'_> {
        match place {
            SlotPlace::Child(at) => StoredSlot::Child(self.children[at as usize].cid()),
            SlotPlace::Bucket { start, len } => StoredSlot::Bucket(BucketEntries {
                entries: &self.entries[start as usize..(start + len) as usize],
            }),
        }
    }

    /// Occupied slots with their indices, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, StoredSlot<'_>)> {
        (0..=255u8)
            .filter(|&i| self.occupied[usize::from(i >> 6)] & (1 << (i & 63)) != 0)
            .zip(self.slots.iter())
            .map(|(index, place)| (index, self.slot(*place)))
    }

    /// The links of the child slots, in slot order.
    pub fn children(&self) -> impl ExactSizeIterator<Item = Cid> + '_ {
        self.children.iter().map(PackedCid::cid)
    }

    /// Every bucket entry, bucket after bucket in slot order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (&str, Cid)> {
        self.entries.iter().map(|(k, link)| (&**k, link.cid()))
    }

    /// Number of occupied slots.
    pub fn occupied_len(&self) -> usize {
        self.slots.len()
    }

    /// Number of entries in this node's buckets (not counting children).
    pub fn bucket_entries(&self) -> usize {
        self.entries.len()
    }

    /// The length of the node's block (computed: for statistics).
    pub fn encoded_len(&self) -> usize {
        crate::cbor::slots_encoded_len(
            crate::SLOT_COUNT - self.slots.len(),
            self.slots.iter().filter_map(|place| match place {
                SlotPlace::Bucket { len, .. } => Some(*len as usize),
                SlotPlace::Child(_) => None,
            }),
            self.entries.iter(),
            self.children.iter(),
        )
    }

    /// Approximate heap bytes held (for cache accounting).
    pub fn heap_size(&self) -> usize {
        std::mem::size_of_val::<[SlotPlace]>(&self.slots)
            + std::mem::size_of_val::<[(Key, PackedCid)]>(&self.entries)
            + std::mem::size_of_val::<[PackedCid]>(&self.children)
            + self
                .entries
                .iter()
                .map(|(k, _)| k.heap_bytes())
                .sum::<usize>()
    }

    /// The same node as a [`Node`] (which can change).
    pub fn to_node(&self) -> Node {
        self.to_node_with(|cid| cid)
    }

    /// The same node as a [`Node`] whose children are `child(link)`.
    pub fn to_node_with<L>(&self, mut child: impl FnMut(Cid) -> L) -> Node<L> {
        let mut node = Node::new();
        for (index, slot) in self.iter() {
            node.push_ordered(
                index,
                match slot {
                    StoredSlot::Bucket(bucket) => Slot::Bucket(bucket.to_bucket()),
                    StoredSlot::Child(cid) => Slot::Child(child(cid)),
                },
            );
        }
        node
    }

    /// The same node, taking its buckets' entries (no key is copied).
    pub fn from_node(node: Node) -> Self {
        Self::from_node_with(node, |cid| cid)
    }

    /// The node `node` whose children link `child(c)` (called in slot
    /// order), taking its buckets' entries.
    pub fn from_node_with<L>(node: Node<L>, mut child: impl FnMut(L) -> Cid) -> Self {
        let mut builder = Builder::with_capacity(node.occupied_len(), node.bucket_entries());
        for (index, slot) in node.into_slots() {
            match slot {
                Slot::Bucket(bucket) => builder.push_bucket(index, bucket.into_packed()),
                Slot::Child(c) => builder.push_child(index, PackedCid::new(&child(c))),
            }
        }
        builder.finish()
    }
}

/// Builds a [`StoredNode`] slot by slot, in index order (the decoder's and
/// [`StoredNode::from_node`]'s way).
pub(crate) struct Builder {
    occupied: [u64; 4],
    slots: Vec<SlotPlace>,
    entries: Vec<(Key, PackedCid)>,
    children: Vec<PackedCid>,
}

impl Builder {
    pub(crate) fn with_capacity(slots: usize, entries: usize) -> Self {
        Builder {
            occupied: [0; 4],
            slots: Vec::with_capacity(slots),
            entries: Vec::with_capacity(entries),
            children: Vec::new(),
        }
    }

    fn occupy(&mut self, index: u8) {
        self.occupied[usize::from(index >> 6)] |= 1 << (index & 63);
    }

    /// Entries pushed so far (for the decoder's order check).
    pub(crate) fn last_entry(&self) -> Option<&Key> {
        self.entries.last().map(|(k, _)| k)
    }

    /// Appends an entry to the bucket being read (see [`end_bucket`](Self::end_bucket)).
    pub(crate) fn push_entry(&mut self, key: Key, link: PackedCid) {
        self.entries.push((key, link));
    }

    /// Number of entries pushed so far.
    pub(crate) fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Closes a bucket at `index` made of the entries pushed since `start`.
    pub(crate) fn end_bucket(&mut self, index: u8, start: usize) {
        self.occupy(index);
        self.slots.push(SlotPlace::Bucket {
            start: to_u32(start),
            len: to_u32(self.entries.len() - start),
        });
    }

    fn push_bucket(&mut self, index: u8, entries: Vec<(Key, PackedCid)>) {
        let start = self.entries.len();
        self.entries.extend(entries);
        self.end_bucket(index, start);
    }

    pub(crate) fn push_child(&mut self, index: u8, link: PackedCid) {
        self.occupy(index);
        self.slots
            .push(SlotPlace::Child(to_u32(self.children.len())));
        self.children.push(link);
    }

    pub(crate) fn finish(self) -> StoredNode {
        StoredNode {
            occupied: self.occupied,
            slots: self.slots.into_boxed_slice(),
            entries: self.entries.into_boxed_slice(),
            children: self.children.into_boxed_slice(),
        }
    }
}

/// A position within one node's arrays. A decoded node has fewer entries
/// than its block has bytes (an entry takes several), which a block read
/// into memory keeps under 4 GiB, and a node built in memory fewer than its
/// 64-byte entries could fill in 256 GiB: 32 bits always hold it.
fn to_u32(n: usize) -> u32 {
    #[allow(clippy::expect_used)]
    u32::try_from(n).expect("a node holds fewer than 2^32 entries")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockCodec, HashAlgorithm, block_cid};

    fn link(n: u8) -> Cid {
        block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &[n])
    }

    fn sample() -> Node {
        let mut node = Node::new();
        node.set(
            0,
            Slot::Bucket(Bucket::from_entries([
                ("bb".into(), link(1)),
                ("a".into(), link(2)),
            ])),
        );
        node.set(7, Slot::Child(link(3)));
        node.set(200, Slot::Bucket(Bucket::single("z".into(), link(4))));
        node.set(255, Slot::Child(link(5)));
        node
    }

    #[test]
    fn reads_as_the_node_it_encodes() {
        let node = sample();
        let bytes = node.encode();
        let stored = StoredNode::decode(&bytes, 4).unwrap();
        assert_eq!(stored.to_node(), node);
        assert_eq!(StoredNode::from_node(node.clone()), stored);
        assert_eq!(stored.encoded_len(), bytes.len());
        assert_eq!(stored.occupied_len(), 4);
        assert_eq!(stored.bucket_entries(), 3);
        assert_eq!(stored.get_link(0, "bb"), Some(link(1)));
        assert_eq!(stored.get_link(0, "a"), Some(link(2)));
        assert_eq!(stored.get_link(0, "c"), None);
        assert_eq!(stored.get_link(0, "zzz"), None);
        assert_eq!(stored.get_link(7, "a"), None);
        assert_eq!(stored.get_link(8, "a"), None);
        assert_eq!(stored.get(7), Some(StoredSlot::Child(link(3))));
        assert_eq!(stored.get(1), None);
        let children: Vec<Cid> = stored.children().collect();
        assert_eq!(children, [link(3), link(5)]);
        let keys: Vec<&str> = stored.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "bb", "z"]);
        let indices: Vec<u8> = stored.iter().map(|(i, _)| i).collect();
        assert_eq!(indices, [0, 7, 200, 255]);
        let bucket = match stored.get(200) {
            Some(StoredSlot::Bucket(bucket)) => Some(bucket),
            _ => None,
        }
        .expect("slot 200 holds a bucket");
        assert_eq!(bucket.len(), 1);
        assert!(!bucket.is_empty());
        assert_eq!(bucket.to_bucket(), Bucket::single("z".into(), link(4)));
        assert_eq!(bucket.iter().collect::<Vec<_>>(), [("z", link(4))]);
        assert!(stored.heap_size() >= 3 * 64);
        let empty = StoredNode::decode(&Node::<Cid>::new().encode(), 4).unwrap();
        assert_eq!(empty.occupied_len(), 0);
        assert_eq!(empty.iter().count(), 0);
        assert_eq!(empty.encoded_len(), 259);
    }

    /// The computed block length matches the encoding for large buckets
    /// (two-byte heads), long keys and links that do not pack.
    #[test]
    fn encoded_len_is_exact() {
        let v0 = Cid::new_v0(*block_cid(BlockCodec::DagPb, HashAlgorithm::Sha2_256, b"x").hash())
            .unwrap();
        let mut node = sample();
        node.set(
            100,
            Slot::Bucket(Bucket::from_entries((0..30u8).map(|i| {
                (format!("{}{i}", "k".repeat(usize::from(i))).into(), link(i))
            }))),
        );
        node.set(101, Slot::Bucket(Bucket::single("v0".into(), v0)));
        node.set(102, Slot::Child(v0));
        let bytes = node.encode();
        let stored = StoredNode::decode(&bytes, 64).unwrap();
        assert_eq!(stored.encoded_len(), bytes.len());
        assert_eq!(node.encoded_len(), bytes.len());
        assert_eq!(stored.to_node(), node);
    }
}
