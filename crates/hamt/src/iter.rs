//! Streams over a HAMT's entries.

use std::collections::VecDeque;

use bytes::Bytes;
use futures::stream::{self, Stream, TryStreamExt};
use hamt_codec::Cid;
use hamt_store::{BlockStore, ByteRange};

use crate::walk::Walk;
use crate::{Hamt, HamtError};

impl<S: BlockStore> Hamt<S> {
    /// Every key with the link of its value block, depth first in hash order
    /// (deterministic for a given tree, not sorted by key).
    ///
    /// ```
    /// # use hamt::{Hamt, HamtConfig}; use hamt_store::MemoryStore;
    /// use futures::TryStreamExt;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
    /// map.insert("a", b"1".to_vec()).await?;
    /// map.insert("b", b"2".to_vec()).await?;
    /// let mut keys: Vec<String> = map.keys().try_collect().await?;
    /// keys.sort();
    /// assert_eq!(keys, ["a", "b"]);
    /// # Ok::<(), hamt::HamtError>(()) }).unwrap();
    /// ```
    pub fn links(&self) -> impl Stream<Item = Result<(String, Cid), HamtError>> + Send + '_ {
        self.links_of(Walk::new(self.root_ref()))
    }

    /// [`links`](Self::links) in the order py-hamt 3.6.0's `keys()` yields
    /// them: each node's buckets in slot order, then its children from the
    /// last slot to the first. Where replaying a map's keys in py-hamt's
    /// order changes the result (its HAMT-to-sharded converter), this gives
    /// the same one.
    pub fn links_in_py_hamt_order(
        &self,
    ) -> impl Stream<Item = Result<(String, Cid), HamtError>> + Send + '_ {
        self.links_of(Walk::last_child_first(self.root_ref()))
    }

    fn links_of<'a>(
        &'a self,
        walk: Walk<'a>,
    ) -> impl Stream<Item = Result<(String, Cid), HamtError>> + Send + 'a {
        let start = (walk, VecDeque::new());
        stream::try_unfold(start, move |(mut walk, mut ready)| async move {
            loop {
                if let Some(entry) = ready.pop_front() {
                    return Ok(Some((entry, (walk, ready))));
                }
                let Some((node, _)) = walk.next(self).await? else {
                    return Ok(None);
                };
                node.for_each_entry(|key, link| ready.push_back((key.to_owned(), link)));
            }
        })
    }

    /// Every key (py-hamt's `keys()`), in the order of [`links`](Self::links).
    pub fn keys(&self) -> impl Stream<Item = Result<String, HamtError>> + Send + '_ {
        self.links().map_ok(|(key, _)| key)
    }

    /// Every key with its value, in the order of [`links`](Self::links),
    /// reading up to `concurrency` values at once.
    pub fn entries(
        &self,
        concurrency: usize,
    ) -> impl Stream<Item = Result<(String, Bytes), HamtError>> + Send + '_ {
        self.links()
            .map_ok(move |(key, link)| async move {
                let value = self.read_value(&link, ByteRange::Full).await?;
                Ok((key, value))
            })
            .try_buffered(concurrency.max(1))
    }
}
