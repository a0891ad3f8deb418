//! The shape of a HAMT: keys, nodes per depth, bytes.

use hamt_store::BlockStore;

use crate::walk::{NodeView, Walk};
use crate::{Hamt, HamtError};

/// The shape of a HAMT, from a walk of every node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HamtStats {
    /// Entries (keys).
    pub keys: u64,
    /// Nodes, the root included.
    pub nodes: u64,
    /// Nodes changed since the last flush (not yet written).
    pub dirty_nodes: u64,
    /// `nodes_per_depth[d]`: nodes at depth `d` (the root is depth 0).
    pub nodes_per_depth: Vec<u64>,
    /// `keys_per_depth[d]`: entries held in buckets of nodes at depth `d`.
    pub keys_per_depth: Vec<u64>,
    /// Encoded bytes of the stored nodes (dirty nodes are not encoded yet).
    pub node_bytes: u64,
}

impl HamtStats {
    /// Depth of the deepest node (0 for a map that is only a root).
    pub fn max_depth(&self) -> usize {
        self.nodes_per_depth.len().saturating_sub(1)
    }
}

impl<S: BlockStore> Hamt<S> {
    /// Walks every node and reports the tree's shape.
    ///
    /// ```
    /// # use hamt::{Hamt, HamtConfig}; use hamt_store::MemoryStore;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
    /// for i in 0..2000 { map.insert(&format!("k{i}"), vec![]).await?; }
    /// map.flush().await?;
    /// let stats = map.stats().await?;
    /// assert_eq!(stats.keys, 2000);
    /// assert!(stats.max_depth() >= 1);
    /// # Ok::<(), hamt::HamtError>(()) }).unwrap();
    /// ```
    pub async fn stats(&self) -> Result<HamtStats, HamtError> {
        let mut stats = HamtStats::default();
        let mut walk = Walk::new(self.root_ref());
        while let Some((node, depth)) = walk.next(self).await? {
            if stats.nodes_per_depth.len() <= depth {
                stats.nodes_per_depth.resize(depth + 1, 0);
                stats.keys_per_depth.resize(depth + 1, 0);
            }
            match &node {
                NodeView::Dirty(_) => stats.dirty_nodes += 1,
                NodeView::Stored(stored) => stats.node_bytes += stored.encoded_len() as u64,
            }
            let keys = node.bucket_entries() as u64;
            stats.nodes += 1;
            stats.nodes_per_depth[depth] += 1;
            stats.keys_per_depth[depth] += keys;
            stats.keys += keys;
        }
        Ok(stats)
    }
}
