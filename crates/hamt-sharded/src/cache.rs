//! Shards as read: the block's bytes with where each entry starts, so any
//! entry decodes alone (py-hamt's "sparse" read, without re-reading the
//! block), kept in a cache bounded by bytes in which concurrent readers of
//! one missing shard share one fetch.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use hamt_codec::{Cid, LinkListError, link_list};
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::error::ShardedError;

/// A shard block, its entries located but not decoded.
#[derive(Debug)]
pub(crate) struct ShardView {
    bytes: Bytes,
    offsets: Vec<u32>,
}

impl ShardView {
    /// Locates every entry of a shard that must hold `entries` of them
    /// (checking its shape: a list of exactly that many links and nulls).
    pub(crate) fn parse(bytes: Bytes, entries: u64) -> Result<Self, LinkListError> {
        let offsets = link_list::offsets(&bytes, entries)?;
        Ok(ShardView { bytes, offsets })
    }

    /// Entry `slot`, decoded alone.
    pub(crate) fn entry(&self, slot: u64) -> Result<Option<Cid>, LinkListError> {
        let Some(&offset) = usize::try_from(slot).ok().and_then(|i| self.offsets.get(i)) else {
            return Ok(None);
        };
        link_list::entry_at(&self.bytes, offset)
    }

    /// Every entry, decoded.
    pub(crate) fn entries(&self) -> Result<Vec<Option<Cid>>, LinkListError> {
        self.offsets
            .iter()
            .map(|&offset| link_list::entry_at(&self.bytes, offset))
            .collect()
    }

    fn weight(&self) -> u64 {
        (self.bytes.len() + self.offsets.len() * 4 + 64) as u64
    }
}

#[derive(Clone)]
struct ViewWeighter;

impl Weighter<(Cid, u64), Arc<ShardView>> for ViewWeighter {
    fn weight(&self, _key: &(Cid, u64), view: &Arc<ShardView>) -> u64 {
        view.weight()
    }
}

/// Shard views by (CID, entry count): content-addressed, so never stale.
pub(crate) struct ShardCache {
    views: Option<Cache<(Cid, u64), Arc<ShardView>, ViewWeighter>>,
}

impl ShardCache {
    pub(crate) fn new(capacity_bytes: u64) -> Self {
        ShardCache {
            views: (capacity_bytes > 0).then(|| {
                // A shard of py-hamt's default size is ~250 KB.
                let estimated = usize::try_from(capacity_bytes / (256 << 10))
                    .unwrap_or(1)
                    .max(8);
                Cache::with_weighter(estimated, capacity_bytes, ViewWeighter)
            }),
        }
    }

    /// The view of shard `cid`, loading it with `load` if no one has: a
    /// reader arriving while another loads it waits for that load.
    pub(crate) async fn get_or_load(
        &self,
        cid: Cid,
        entries: u64,
        load: impl Future<Output = Result<ShardView, ShardedError>>,
    ) -> Result<Arc<ShardView>, ShardedError> {
        match &self.views {
            Some(views) => {
                views
                    .get_or_insert_async(&(cid, entries), async { load.await.map(Arc::new) })
                    .await
            }
            None => load.await.map(Arc::new),
        }
    }

    /// Keeps a view just written.
    pub(crate) fn insert(&self, cid: Cid, entries: u64, view: Arc<ShardView>) {
        if let Some(views) = &self.views {
            views.insert((cid, entries), view);
        }
    }
}
