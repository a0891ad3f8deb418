//! Three-way merges: two maps changed independently since a common
//! ancestor become one, when they changed different keys.
//!
//! Both sides' changes are found with [`Hamt::diff`], which skips every
//! subtree the two maps share: a merge of two versions of a large dataset
//! that each changed a few chunks reads only the paths to those chunks.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use hamt_codec::Cid;
use hamt_store::BlockStore;

use crate::diff::Change;
use crate::{Hamt, HamtError};

impl Change {
    /// The key's value link after the change (`None`: removed).
    pub fn new_link(&self) -> Option<Cid> {
        match self {
            Change::Added { link, .. } => Some(*link),
            Change::Changed { new, .. } => Some(*new),
            Change::Removed { .. } => None,
        }
    }
}

impl<S: BlockStore> Hamt<S> {
    /// Merges into `self` ("ours", changed from `base`) the changes made
    /// from `base` to `theirs`, and returns how many keys it changed. A key
    /// both sides changed to the same value (or both removed) is not a
    /// conflict; a key they changed differently is: then nothing is
    /// applied and [`HamtError::MergeConflict`] lists every such key.
    ///
    /// The result is the map holding both change sets, with the same root
    /// as applying them one by one (a HAMT is a function of its entries).
    /// Values are merged as links: the blocks of `theirs`' new values must
    /// be in `self`'s store (they are when all three maps share one).
    /// Memory: both sides' changes since `base` (a key and a link or two
    /// each), not the maps.
    ///
    /// ```
    /// # use hamt::{Hamt, HamtConfig}; use hamt_store::MemoryStore; use std::sync::Arc;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let mut base = Hamt::new(store.clone(), HamtConfig::default());
    /// base.insert("a", b"1".to_vec()).await?;
    /// let base_root = base.flush().await?;
    /// let mut ours = Hamt::open(store.clone(), base_root, HamtConfig::default()).await?;
    /// ours.insert("b", b"2".to_vec()).await?;
    /// let mut theirs = Hamt::open(store.clone(), base_root, HamtConfig::default()).await?;
    /// theirs.insert("c", b"3".to_vec()).await?;
    /// theirs.flush().await?;
    /// assert_eq!(ours.merge(&base, &theirs).await?, 1);
    /// assert_eq!(ours.get("c").await?.as_deref(), Some(&b"3"[..]));
    ///
    /// // Both changed "a", differently: a conflict naming it.
    /// ours.insert("a", b"ours".to_vec()).await?;
    /// let mut other = Hamt::open(store, base_root, HamtConfig::default()).await?;
    /// other.insert("a", b"theirs".to_vec()).await?;
    /// let conflict = ours.merge(&base, &other).await.unwrap_err();
    /// assert!(matches!(conflict, hamt::HamtError::MergeConflict { keys } if keys == ["a"]));
    /// # Ok::<(), hamt::HamtError>(()) }).unwrap();
    /// ```
    pub async fn merge<B: BlockStore, T: BlockStore>(
        &mut self,
        base: &Hamt<B>,
        theirs: &Hamt<T>,
    ) -> Result<u64, HamtError> {
        let ours: BTreeMap<String, Option<Cid>> = base
            .diff(self)
            .map_ok(|change| {
                let link = change.new_link();
                (key_of(change), link)
            })
            .try_collect()
            .await?;
        let theirs: Vec<Change> = base.diff(theirs).try_collect().await?;
        let mut conflicts: Vec<String> = theirs
            .iter()
            .filter(|change| {
                ours.get(change.key())
                    .is_some_and(|ours| *ours != change.new_link())
            })
            .map(|change| change.key().to_owned())
            .collect();
        if !conflicts.is_empty() {
            conflicts.sort();
            return Err(HamtError::MergeConflict { keys: conflicts });
        }
        let mut applied = 0;
        for change in theirs {
            if ours.contains_key(change.key()) {
                // The same change on both sides.
                continue;
            }
            match change.new_link() {
                Some(link) => self.insert_link(change.key(), link).await?,
                None => self.remove(change.key()).await?,
            };
            applied += 1;
        }
        Ok(applied)
    }
}

fn key_of(change: Change) -> String {
    match change {
        Change::Added { key, .. } | Change::Removed { key, .. } | Change::Changed { key, .. } => {
            key
        }
    }
}
