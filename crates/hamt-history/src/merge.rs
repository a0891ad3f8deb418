//! How two commits merge: already merged, a fast-forward, or a three-way
//! merge from their merge base (the merge of the datasets themselves is
//! the layout's: `Hamt::merge` in the `hamt` crate for a HAMT).

use hamt_codec::Cid;
use hamt_store::{BlockStore, StoreError, dag::BlockSet};

use crate::{HistoryError, HistoryStep, Refs, Repository};

/// What merging `theirs` into `ours` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergePlan {
    /// `theirs` is `ours` or one of its ancestors: nothing to do.
    UpToDate,
    /// `ours` is an ancestor of `theirs`: move the branch to `theirs`.
    FastForward,
    /// Both changed since `base`, a common ancestor (the nearest to it found breadth first): merge the
    /// changes from `base` to each, and commit with both as parents.
    ThreeWay {
        /// The merge base.
        base: Cid,
    },
    /// No common ancestor: the histories are unrelated.
    Unrelated,
}

impl<S: BlockStore, R: Refs> Repository<S, R> {
    /// How to merge commit `theirs` into commit `ours` (see [`MergePlan`]).
    /// The base is the first of `theirs`' ancestors, breadth first through
    /// every parent, that is also an ancestor of `ours` (for the usual
    /// branch-and-merge histories, the commit the branches split at, or
    /// the last one merged). In a criss-cross history it may not be the
    /// best base: the merge is then never wrong, but may report a conflict
    /// over a change both sides already share.
    /// Reads `ours`' whole history and `theirs`' back to the base, each a
    /// [`HistoryWalk`](crate::HistoryWalk) (bounded by
    /// [`MAX_WALK`](crate::MAX_WALK)); a parent missing from the store on
    /// the way (a shallow history) is [`StoreError::NotFound`].
    ///
    /// ```
    /// use hamt_history::{CommitInfo, MemoryRefs, MergePlan, Refs, Repository};
    /// use hamt_store::{BlockCodec, BlockStore, MemoryStore};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let repo = Repository::new(MemoryStore::new(), MemoryRefs::new());
    /// let data = repo.store().put(BlockCodec::DagCbor, vec![0xa0].into()).await?;
    /// let split = repo.commit("main", data, CommitInfo::new("me", "split")).await?;
    /// repo.refs().swap(&hamt_history::RefName::branch("dev")?, None, &split).await?.unwrap();
    /// let ours = repo.commit("main", data, CommitInfo::new("me", "ours")).await?;
    /// let theirs = repo.commit("dev", data, CommitInfo::new("me", "theirs")).await?;
    /// assert_eq!(repo.merge_plan(&ours, &theirs).await?, MergePlan::ThreeWay { base: split });
    /// assert_eq!(repo.merge_plan(&split, &ours).await?, MergePlan::FastForward);
    /// assert_eq!(repo.merge_plan(&ours, &split).await?, MergePlan::UpToDate);
    /// # Ok::<(), hamt_history::HistoryError>(())
    /// # }).unwrap();
    /// ```
    pub async fn merge_plan(&self, ours: &Cid, theirs: &Cid) -> Result<MergePlan, HistoryError> {
        let mut ours_history = BlockSet::new();
        let mut walk = self.history(*ours);
        while let Some(step) = walk.next().await? {
            ours_history.insert(&walked(step)?);
        }
        if ours_history.contains(theirs) {
            return Ok(MergePlan::UpToDate);
        }
        let mut walk = self.history(*theirs);
        while let Some(step) = walk.next().await? {
            let cid = walked(step)?;
            if ours_history.contains(&cid) {
                return Ok(if cid == *ours {
                    MergePlan::FastForward
                } else {
                    MergePlan::ThreeWay { base: cid }
                });
            }
        }
        Ok(MergePlan::Unrelated)
    }
}

/// The commit a step read; a parent missing from the store leaves the
/// merge base unknown.
fn walked(step: HistoryStep) -> Result<Cid, HistoryError> {
    match step {
        HistoryStep::Commit(commit) => Ok(commit.cid),
        HistoryStep::MissingParent { parent, .. } => {
            Err(HistoryError::Store(StoreError::NotFound(parent)))
        }
    }
}
