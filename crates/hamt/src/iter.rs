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
        let start = (Walk::new(self.root_ref()), VecDeque::new());
        stream::try_unfold(start, move |(mut walk, mut ready)| async move {
            loop {
                if let Some(entry) = ready.pop_front() {
                    return Ok(Some((entry, (walk, ready))));
                }
                let Some((node, _)) = walk.next(self).await? else {
                    return Ok(None);
                };
                node.for_each_bucket(|bucket| {
                    ready.extend(bucket.iter().map(|(k, l)| (k.to_owned(), *l)));
                });
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
