use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hamt_codec::{Cid, StoredNode};
use quick_cache::Weighter;
use quick_cache::sync::{Cache, DefaultLifecycle};

use hamt_store::CidHash;

/// What the node cache holds and how well it serves (py-hamt's `cache_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Decoded nodes held.
    pub nodes: u64,
    /// Approximate memory they take, in bytes.
    pub bytes: u64,
    /// The budget, in bytes.
    pub capacity_bytes: u64,
    /// Lookups served from the cache.
    pub hits: u64,
    /// Lookups that had to read and decode the block.
    pub misses: u64,
}

#[derive(Clone)]
struct NodeWeighter;

impl Weighter<Cid, Arc<StoredNode>> for NodeWeighter {
    fn weight(&self, _cid: &Cid, node: &Arc<StoredNode>) -> u64 {
        node_weight(node)
    }
}

pub(crate) fn node_weight(node: &StoredNode) -> u64 {
    (std::mem::size_of::<StoredNode>() + std::mem::size_of::<Cid>() + node.heap_size()) as u64
}

/// Decoded stored nodes by CID, bounded by a memory budget. Stored nodes are
/// immutable, so an entry never goes stale; shared `Arc`s mean a hit costs no
/// decode and no copy. Sharded internally, so concurrent readers rarely meet.
pub(crate) struct NodeCache {
    nodes: Option<Cache<Cid, Arc<StoredNode>, NodeWeighter, CidHash>>,
    capacity_bytes: u64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl NodeCache {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        let capacity_bytes = capacity_bytes as u64;
        // Typical node weight is a few KiB; the estimate only sizes the shards.
        let estimated_nodes = usize::try_from(capacity_bytes / 2048)
            .unwrap_or(usize::MAX)
            .max(16);
        NodeCache {
            nodes: (capacity_bytes > 0).then(|| {
                Cache::with(
                    estimated_nodes,
                    capacity_bytes,
                    NodeWeighter,
                    CidHash::default(),
                    DefaultLifecycle::default(),
                )
            }),
            capacity_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self, cid: &Cid) -> Option<Arc<StoredNode>> {
        let hit = self.nodes.as_ref().and_then(|c| c.get(cid));
        let counter = if hit.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// The node `cid` from the cache, else from `load` (and then cached).
    /// Concurrent callers missing the same node share one `load`: the first
    /// runs it, the others wait for its node (if it fails, the next waiter
    /// tries its own). With no cache (a zero budget) every caller loads.
    pub(crate) async fn get_or_load<E>(
        &self,
        cid: &Cid,
        load: impl Future<Output = Result<Arc<StoredNode>, E>>,
    ) -> Result<Arc<StoredNode>, E> {
        let Some(nodes) = &self.nodes else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return load.await;
        };
        let mut loaded = false;
        let node = nodes
            .get_or_insert_async(cid, async {
                loaded = true;
                load.await
            })
            .await?;
        let counter = if loaded { &self.misses } else { &self.hits };
        counter.fetch_add(1, Ordering::Relaxed);
        if !loaded {
            // A miss is recorded by the load itself.
            hamt_store::telemetry::NODE_LOADS.add(1, true);
        }
        Ok(node)
    }

    /// The node `cid` if cached, counted as a hit (and kept warm, as any
    /// hit); a miss is not counted here but by the fetch that follows it.
    pub(crate) fn get_if_cached(&self, cid: &Cid) -> Option<Arc<StoredNode>> {
        let node = self.nodes.as_ref()?.get(cid)?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        hamt_store::telemetry::NODE_LOADS.add(1, true);
        Some(node)
    }

    pub(crate) fn insert(&self, cid: Cid, node: Arc<StoredNode>) {
        if let Some(nodes) = &self.nodes {
            nodes.insert(cid, node);
        }
    }

    pub(crate) fn clear(&self) {
        if let Some(nodes) = &self.nodes {
            nodes.clear();
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            nodes: self.nodes.as_ref().map_or(0, |c| c.len() as u64),
            bytes: self.nodes.as_ref().map_or(0, Cache::weight),
            capacity_bytes: self.capacity_bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}
