/// One memory budget for a writer, shared by the map and its store.
///
/// A HAMT writer holds memory in five places: changed nodes not yet written,
/// decoded nodes cached for reads, new values not yet written (the map's
/// half), and the store's write buffers and read cache (the store's half).
/// Each has its own knob; this type sets them all from one figure, so an
/// import's peak memory is chosen once and stays flat however many keys it
/// writes. `HamtConfig::with_memory_budget` takes the map's half and
/// `RocksDbOptions::with_memory_budget` the store's.
///
/// ```
/// use hamt_store::MemoryBudget;
/// let budget = MemoryBudget::new(128 << 20);
/// assert_eq!(budget.map_bytes() + budget.store_bytes(), 128 << 20);
/// assert_eq!(MemoryBudget::default().bytes(), MemoryBudget::DEFAULT_BYTES);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    bytes: usize,
}

impl MemoryBudget {
    /// The default: 144 MiB, so a whole import process (with the program,
    /// the allocator's slack and RocksDB's own tables) stays under 256 MiB.
    pub const DEFAULT_BYTES: usize = 144 << 20;

    /// A budget of `bytes` in all.
    pub fn new(bytes: usize) -> Self {
        MemoryBudget { bytes }
    }

    /// The whole budget.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The map's half: dirty nodes, node cache and value buffer.
    pub fn map_bytes(&self) -> usize {
        self.bytes / 2
    }

    /// The store's half: its write buffers and caches.
    pub fn store_bytes(&self) -> usize {
        self.bytes - self.map_bytes()
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::new(Self::DEFAULT_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_add_up_to_the_whole() {
        let budget = MemoryBudget::new(101);
        assert_eq!(budget.bytes(), 101);
        assert_eq!(budget.map_bytes() + budget.store_bytes(), 101);
        assert_eq!(MemoryBudget::default().bytes(), MemoryBudget::DEFAULT_BYTES);
    }
}
