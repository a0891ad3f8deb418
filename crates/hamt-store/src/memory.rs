use std::hash::BuildHasher;

use async_trait::async_trait;
use bytes::Bytes;
use hamt_codec::{Cid, HashAlgorithm, PackedCid, verify_block};
use hashbrown::HashTable;
use parking_lot::RwLock;

use crate::{Block, BlockStore, BlockingStore, ByteRange, CidHash, StoreError};

/// A block store in memory, behind a read-write lock.
///
/// Blocks sit in an array in the order they were first put, found through
/// a compact index of 8 bytes per block (a 32-bit hash of the CID and the
/// block's position). Putting a new block touches the index (small, so
/// mostly in cache) and the end of the array, and never a random entry of
/// a large table; a CID is held packed, in 40 bytes (a `Cid` takes 96). The store
/// answers through [`BlockingStore`], so a HAMT reading or writing it pays
/// no future per block. Reads verify like every other store, so a test can
/// plant a corrupt block with [`MemoryStore::insert_unverified`] and see
/// the error a disk or network fault would give.
#[derive(Debug, Default)]
pub struct MemoryStore {
    blocks: RwLock<Blocks>,
    hash: HashAlgorithm,
}

/// The blocks and their index.
#[derive(Default)]
struct Blocks {
    entries: Vec<(PackedCid, Bytes)>,
    /// Per block, `hash << 32 | position` (the hash is the low 32 bits of
    /// the key's [`CidHash`]), so the table grows without reading entries.
    index: HashTable<u64>,
}

impl std::fmt::Debug for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocks")
            .field("len", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// The 32-bit hash the index keeps of a key.
fn hash32(key: &PackedCid) -> u32 {
    // The low half of a 64-bit hash: the truncation is the point.
    #[allow(clippy::cast_possible_truncation)]
    let hash = CidHash::default().hash_one(key) as u32;
    hash
}

/// The table's hash of an index entry, from the 32 bits it keeps: spread
/// over both halves, as hashbrown takes bucket bits from the bottom and tag
/// bits from the top.
fn table_hash(entry: u64) -> u64 {
    let hash = entry >> 32;
    hash << 32 | hash
}

fn position(entry: u64) -> usize {
    // The low 32 bits: a position in the array, which fits any `usize`
    // this crate builds for.
    #[allow(clippy::cast_possible_truncation)]
    let position = (entry & u64::from(u32::MAX)) as usize;
    position
}

impl Blocks {
    fn find(&self, key: &PackedCid) -> Option<usize> {
        let hash = hash32(key);
        self.index
            .find(table_hash(u64::from(hash) << 32), |&entry| {
                entry >> 32 == u64::from(hash) && self.entries[position(entry)].0 == *key
            })
            .map(|&entry| position(entry))
    }

    fn get(&self, key: &PackedCid) -> Option<&Bytes> {
        self.find(key).map(|i| &self.entries[i].1)
    }

    /// Adds a block unless its key is held.
    fn insert(&mut self, key: PackedCid, data: Bytes) {
        if self.find(&key).is_some() {
            return;
        }
        let hash = u64::from(hash32(&key));
        // Positions are 32 bits: 4 billion blocks would take over 280 GiB
        // of entries alone, which no memory store here can hold.
        #[allow(clippy::expect_used)]
        let at = u32::try_from(self.entries.len()).expect("fewer than 2^32 blocks in memory");
        self.index
            .insert_unique(table_hash(hash << 32), hash << 32 | u64::from(at), |&e| {
                table_hash(e)
            });
        self.entries.push((key, data));
    }

    fn remove(&mut self, key: &PackedCid) -> Option<Bytes> {
        let hash = u64::from(hash32(key));
        let entries = &self.entries;
        let found = self
            .index
            .find_entry(table_hash(hash << 32), |&entry| {
                entry >> 32 == hash && entries[position(entry)].0 == *key
            })
            .ok()?;
        let at = position(*found.get());
        found.remove();
        let (_, data) = self.entries.swap_remove(at);
        // The last block moved into the gap: its index entry follows it.
        if let Some((moved, _)) = self.entries.get(at) {
            let moved_hash = u64::from(hash32(moved));
            let from = self.entries.len() as u64;
            let entry = self.index.find_mut(table_hash(moved_hash << 32), |&e| {
                e == moved_hash << 32 | from
            });
            // Every held block has its index entry.
            debug_assert!(entry.is_some(), "a held block has no index entry");
            if let Some(entry) = entry {
                *entry = moved_hash << 32 | at as u64;
            }
        }
        Some(data)
    }
}

impl MemoryStore {
    /// An empty store addressing new blocks with blake3.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store addressing new blocks with `hash`.
    pub fn with_hash(hash: HashAlgorithm) -> Self {
        MemoryStore {
            blocks: RwLock::default(),
            hash,
        }
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.blocks.read().entries.len()
    }

    /// Whether the store holds no block.
    pub fn is_empty(&self) -> bool {
        self.blocks.read().entries.is_empty()
    }

    /// Total bytes of all blocks held.
    pub fn total_bytes(&self) -> usize {
        self.blocks
            .read()
            .entries
            .iter()
            .map(|(_, data)| data.len())
            .sum()
    }

    /// The CIDs of every block held, in no particular order.
    pub fn cids(&self) -> Vec<Cid> {
        self.blocks
            .read()
            .entries
            .iter()
            .map(|(key, _)| key.cid())
            .collect()
    }

    /// Removes a block, returning its bytes.
    pub fn remove(&self, cid: &Cid) -> Option<Bytes> {
        self.blocks.write().remove(&PackedCid::new(cid))
    }

    /// Stores `data` under `cid` without checking it: only for tests that
    /// need a corrupt block, to see that reads reject it. Replaces what the
    /// store held under `cid`.
    pub fn insert_unverified(&self, cid: Cid, data: Bytes) {
        let key = PackedCid::new(&cid);
        let mut blocks = self.blocks.write();
        blocks.remove(&key);
        blocks.insert(key, data);
    }

    fn read(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        let data = self
            .blocks
            .read()
            .get(&PackedCid::new(cid))
            .cloned()
            .ok_or(StoreError::NotFound(*cid))?;
        verify_block(cid, &data)?;
        Ok(data)
    }

    fn write(&self, blocks: impl ExactSizeIterator<Item = Block>) {
        let mut held = self.blocks.write();
        held.index.reserve(blocks.len(), |&e| table_hash(e));
        for block in blocks {
            let (cid, data) = block.into_parts();
            held.insert(PackedCid::new(&cid), data);
        }
    }
}

#[async_trait]
impl BlockStore for MemoryStore {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.read(cid)
    }

    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self.blocks.read().find(&PackedCid::new(cid)).is_some())
    }

    async fn block_size(&self, cid: &Cid) -> Result<u64, StoreError> {
        self.block_size_blocking(cid)
    }

    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.write(std::iter::once(block));
        Ok(())
    }

    async fn put_many(&self, blocks: Vec<Block>) -> Result<(), StoreError> {
        self.write(blocks.into_iter());
        Ok(())
    }

    fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash
    }

    fn blocking(&self) -> Option<&dyn BlockingStore> {
        Some(self)
    }
}

impl BlockingStore for MemoryStore {
    fn get_blocking(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.read(cid)
    }

    fn get_range_blocking(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        let data = self.read(cid)?;
        Ok(data.slice(range.to_index_range(data.len())))
    }

    fn block_size_blocking(&self, cid: &Cid) -> Result<u64, StoreError> {
        let blocks = self.blocks.read();
        let data = blocks
            .get(&PackedCid::new(cid))
            .ok_or(StoreError::NotFound(*cid))?;
        Ok(data.len() as u64)
    }

    fn put_many_blocking(&self, blocks: &mut Vec<Block>) -> Result<(), StoreError> {
        self.write(blocks.drain(..));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use multihash::Multihash;

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let store = MemoryStore::new();
        crate::conformance::check_all(&store, |cid, data| store.insert_unverified(cid, data)).await;
    }

    #[tokio::test]
    async fn sha256_store_addresses_with_sha256() {
        let store = MemoryStore::with_hash(HashAlgorithm::Sha2_256);
        let cid = store
            .put(hamt_codec::BlockCodec::Raw, Bytes::from_static(b"x"))
            .await
            .unwrap();
        assert_eq!(cid.hash().code(), 0x12);
        assert_eq!(store.len(), 1);
        assert_eq!(store.total_bytes(), 1);
        assert_eq!(store.cids(), vec![cid]);
        assert_eq!(store.remove(&cid), Some(Bytes::from_static(b"x")));
        assert!(store.is_empty());
    }

    /// Removing blocks in any order (each moves the last block into its
    /// place) leaves every other block findable, and the index consistent
    /// for later puts.
    #[tokio::test]
    async fn removals_keep_the_index_consistent() {
        use hamt_codec::BlockCodec;
        let store = MemoryStore::new();
        let blocks: Vec<Block> = (0..500u32)
            .map(|i| {
                Block::new(
                    BlockCodec::Raw,
                    HashAlgorithm::Blake3,
                    i.to_le_bytes().to_vec().into(),
                )
            })
            .collect();
        store.put_many(blocks.clone()).await.unwrap();
        let mut held: Vec<&Block> = blocks.iter().collect();
        let mut step = 0usize;
        while !held.is_empty() {
            step = (step * 31 + 7) % held.len();
            let gone = held.swap_remove(step);
            assert_eq!(store.remove(gone.cid()).as_ref(), Some(gone.data()));
            assert_eq!(store.remove(gone.cid()), None);
            assert!(!store.has(gone.cid()).await.unwrap());
            if held.len().is_multiple_of(50) {
                for block in &held {
                    assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
                }
            }
        }
        assert!(store.is_empty());
        store.put_many(blocks.clone()).await.unwrap();
        assert_eq!(store.len(), blocks.len());
        let corrupt = Bytes::from_static(b"planted");
        store.insert_unverified(*blocks[3].cid(), corrupt.clone());
        assert_eq!(store.len(), blocks.len());
        assert!(matches!(
            store.get(blocks[3].cid()).await,
            Err(StoreError::Corrupt { .. })
        ));
    }

    /// CIDs outside the compact key (CIDv0, a 64-byte digest, a codec
    /// past 32 bits) are held and listed as they are, and the same bytes
    /// under two codecs are two blocks.
    #[tokio::test]
    async fn every_cid_shape_is_its_own_key() {
        use hamt_codec::{BlockCodec, block_cid};
        let store = MemoryStore::new();
        let data = Bytes::from_static(b"shape");
        let sha = block_cid(BlockCodec::DagPb, HashAlgorithm::Sha2_256, &data);
        let v0 = Cid::new_v0(*sha.hash()).unwrap();
        let wide = Cid::new_v1(0x55, Multihash::<64>::wrap(0x13, &[7; 64]).unwrap());
        let big_codec = Cid::new_v1(1 << 40, *sha.hash());
        let raw = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &data);
        let cbor = block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, &data);
        for cid in [v0, wide, big_codec, raw, cbor, sha] {
            store.insert_unverified(cid, data.clone());
        }
        let mut listed = store.cids();
        listed.sort();
        let mut expected = vec![v0, wide, big_codec, raw, cbor, sha];
        expected.sort();
        assert_eq!(listed, expected);
        assert_eq!(store.get(&v0).await.unwrap(), data);
        assert_eq!(store.get(&raw).await.unwrap(), data);
        assert_eq!(store.remove(&cbor), Some(data.clone()));
        assert!(format!("{store:?}").contains("len: 5"));
        assert!(store.has(&raw).await.unwrap());
        assert!(!store.has(&cbor).await.unwrap());
    }
}

#[cfg(test)]
mod error_tests {
    use hamt_codec::{BlockCodec, Cid, HashAlgorithm, block_cid};
    use multihash::Multihash;

    use super::*;

    #[tokio::test]
    async fn unverifiable_hash_is_a_typed_error() {
        let store = MemoryStore::new();
        let cid = Cid::new_v1(0x55, Multihash::<64>::wrap(0x13, &[0; 64]).unwrap());
        store.insert_unverified(cid, Bytes::from_static(b"x"));
        match store.get(&cid).await {
            Err(StoreError::UnsupportedHash { cid: c, code: 0x13 }) => assert_eq!(c, cid),
            other => panic!("expected UnsupportedHash, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn shared_and_boxed_stores_forward_every_call() {
        let data = Bytes::from_static(b"forwarded");
        let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &data);
        let boxed: Box<MemoryStore> = Box::default();
        let shared = std::sync::Arc::new(MemoryStore::with_hash(HashAlgorithm::Sha2_256));
        for store in [
            &boxed as &dyn BlockStore,
            &shared as &dyn BlockStore,
            &&*boxed as &dyn BlockStore,
        ] {
            store
                .put_block(crate::Block::verified(cid, data.clone()).unwrap())
                .await
                .unwrap();
            assert!(store.has(&cid).await.unwrap());
            assert_eq!(store.get(&cid).await.unwrap(), data);
            assert_eq!(
                &store
                    .get_range(&cid, crate::ByteRange::Suffix(3))
                    .await
                    .unwrap()[..],
                b"ded"
            );
            store.put_many(vec![]).await.unwrap();
            let put = store.put(BlockCodec::DagCbor, data.clone()).await.unwrap();
            assert_eq!(put.hash().code(), store.hash_algorithm().code());
            assert!(store.verifies_reads());
            let direct = store.blocking().unwrap();
            assert_eq!(direct.get_blocking(&cid).unwrap(), data);
        }
        let err = StoreError::backend("doing x", std::io::Error::other("disk on fire"));
        assert_eq!(err.to_string(), "doing x: disk on fire");
        assert!(StoreError::ReadOnly.to_string().contains("read-only"));
    }
}
