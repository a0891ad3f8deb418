//! New value blocks held until the next write.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use hamt_codec::{Cid, PackedCid};
use hamt_store::{Block, CidHash};

/// What a held block is counted as against the value buffer's budget: its
/// bytes, its `Block` (CID and handle, 128 bytes) in the buffer, and the
/// allocator's share of its bytes' allocation. Counting the bytes alone
/// held three times the budget in memory for 64-byte values.
fn memory_cost(block: &Block) -> usize {
    const ALLOCATION_OVERHEAD: usize = 32;
    block.data().len() + std::mem::size_of::<Block>() + ALLOCATION_OVERHEAD
}

/// Value blocks not yet written, in insertion order, findable by CID.
///
/// The index by CID is built only when a read asks for a pending value, and
/// then only over the blocks added since: a pure import never pays for it.
/// A value inserted twice is held (and written) twice, which stores treat
/// as a no-op.
#[derive(Default)]
pub(crate) struct PendingValues {
    blocks: Vec<Block>,
    index: Mutex<Index>,
    /// Whole values over one block (UnixFS files), by root CID.
    files: HashMap<Cid, Bytes, CidHash>,
    bytes: usize,
}

/// Position in `blocks` of each block among the first `covered`.
#[derive(Default)]
struct Index {
    positions: HashMap<PackedCid, usize, CidHash>,
    covered: usize,
}

impl PendingValues {
    /// Holds `block` until the next write.
    pub(crate) fn push(&mut self, block: Block) {
        self.bytes += memory_cost(&block);
        self.blocks.push(block);
    }

    /// Holds a whole value stored as a UnixFS file under `root`.
    pub(crate) fn push_file(&mut self, root: Cid, value: Bytes) {
        self.files.insert(root, value);
    }

    /// The whole value linked by `link`, if held.
    pub(crate) fn get(&self, link: &Cid) -> Option<Bytes> {
        if self.blocks.is_empty() {
            return None;
        }
        // A file's root is also among the blocks: look for the whole file first.
        if let Some(file) = self.files.get(link) {
            return Some(file.clone());
        }
        let key = PackedCid::new(link);
        // A poisoned lock only means another reader panicked mid-update;
        // the index is rebuilt from scratch then, once.
        let mut index = self.index.lock().unwrap_or_else(|poisoned| {
            let mut index = poisoned.into_inner();
            *index = Index::default();
            self.index.clear_poison();
            index
        });
        let Index { positions, covered } = &mut *index;
        for (i, block) in self.blocks.iter().enumerate().skip(*covered) {
            positions.entry(PackedCid::new(block.cid())).or_insert(i);
        }
        *covered = self.blocks.len();
        Some(self.blocks[*positions.get(&key)?].data().clone())
    }

    /// The held blocks, for a write that takes out what it stored
    /// ([`hamt_store::write_blocks`]); the index by CID is rebuilt by the
    /// next read that needs it.
    pub(crate) fn blocks_to_write(&mut self) -> &mut Vec<Block> {
        *self.index.get_mut().unwrap_or_else(PoisonError::into_inner) = Index::default();
        &mut self.blocks
    }

    /// After a write that stopped early: counts the blocks still held.
    pub(crate) fn recount(&mut self) {
        self.bytes = self.blocks.iter().map(memory_cost).sum();
    }

    /// Memory the held blocks take (see [`memory_cost`]).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of blocks held.
    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Forgets every held block (after they were written).
    pub(crate) fn clear(&mut self) {
        self.blocks.clear();
        self.files.clear();
        self.bytes = 0;
        let index = self.index.get_mut().unwrap_or_else(PoisonError::into_inner);
        *index = Index::default();
    }
}

#[cfg(test)]
mod tests {
    use hamt_codec::{BlockCodec, HashAlgorithm};

    use super::*;

    fn block(i: u32) -> Block {
        Block::new(
            BlockCodec::Raw,
            HashAlgorithm::Blake3,
            Bytes::from(i.to_le_bytes().to_vec()),
        )
    }

    /// A reader that panicked while holding the index poisons its lock: the
    /// next read rebuilds the index, finds every block, and clears the
    /// poison, so later reads do not rebuild it again.
    #[test]
    fn poisoned_index_is_rebuilt_once() {
        let mut pending = PendingValues::default();
        for i in 0..10 {
            pending.push(block(i));
        }
        assert_eq!(pending.get(block(3).cid()), Some(block(3).data().clone()));
        let panicked = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let _guard = pending.index.lock();
                    panic!("a reader panics holding the index");
                })
                .join()
        });
        assert!(panicked.is_err());
        assert!(pending.index.is_poisoned());
        pending.push(block(10));
        for i in 0..11 {
            assert_eq!(pending.get(block(i).cid()), Some(block(i).data().clone()));
        }
        assert!(!pending.index.is_poisoned());
        assert_eq!(pending.get(block(99).cid()), None);
        assert_eq!(pending.len(), 11);
    }
}
