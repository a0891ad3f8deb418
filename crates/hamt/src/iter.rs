//! Streams over a HAMT's entries.

use std::collections::VecDeque;

use bytes::Bytes;
use futures::stream::{self, Stream, TryStreamExt};
use hamt_codec::Cid;
use hamt_store::{BlockStore, ByteRange};

use crate::hamt::{ChildRef, for_each_bucket, push_children};
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
        struct Walk<'a> {
            stack: Vec<ChildRef<'a>>,
            ready: VecDeque<(String, Cid)>,
        }
        let start = Walk {
            stack: vec![self.root_ref()],
            ready: VecDeque::new(),
        };
        stream::try_unfold(start, move |mut walk| async move {
            loop {
                if let Some(entry) = walk.ready.pop_front() {
                    return Ok(Some((entry, walk)));
                }
                let Some(next) = walk.stack.pop() else {
                    return Ok(None);
                };
                let view = self.resolve(next).await?;
                for_each_bucket(&view, |bucket| {
                    walk.ready
                        .extend(bucket.iter().map(|(k, l)| (k.to_owned(), *l)));
                });
                push_children(&view, &mut walk.stack);
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
