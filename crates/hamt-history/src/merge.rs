//! How two commits merge: already merged, a fast-forward, or a three-way
//! merge from their merge base (the merge of the datasets themselves is
//! the layout's: `Hamt::merge` in the `hamt` crate for a HAMT).

use std::collections::VecDeque;

use hamt_codec::Cid;
use hamt_store::{BlockStore, dag::BlockSet};

use crate::{HistoryError, MAX_WALK, Refs, Repository};

/// What merging `theirs` into `ours` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergePlan {
    /// `theirs` is `ours` or one of its ancestors: nothing to do.
    UpToDate,
    /// `ours` is an ancestor of `theirs`: move the branch to `theirs`.
    FastForward,
    /// Both changed since `base`, their newest common ancestor: merge the
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
    /// branch-and-merge histories, the commit the branches split at).
    /// Reads `ours`' whole history (at most [`MAX_WALK`] commits, else
    /// [`HistoryError::HistoryTooLong`]) and `theirs`' back to the base.
    ///
    /// ```
    /// use hamt_history::{CommitInfo, MemoryRefs, MergePlan, Refs, Repository};
    /// use hamt_store::{BlockCodec, BlockStore, MemoryStore};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let repo = Repository::new(MemoryStore::new(), MemoryRefs::new());
    /// let data = repo.store().put(BlockCodec::DagCbor, vec![0xa0].into()).await?;
    /// let split = repo.commit("main", data, CommitInfo::new("me", "split")).await?;
    /// repo.refs().swap(&hamt_history::RefName::branch("dev")?, None, &split)?.unwrap();
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
        self.breadth_first(ours, |cid| {
            ours_history.insert(cid);
            false
        })
        .await?;
        if ours_history.contains(theirs) {
            return Ok(MergePlan::UpToDate);
        }
        let base = self
            .breadth_first(theirs, |cid| ours_history.contains(cid))
            .await?;
        Ok(match base {
            Some(base) if base == *ours => MergePlan::FastForward,
            Some(base) => MergePlan::ThreeWay { base },
            None => MergePlan::Unrelated,
        })
    }

    /// Visits `start` and its ancestors breadth first, each once, until
    /// `stop` says so: returns the commit it stopped at.
    async fn breadth_first(
        &self,
        start: &Cid,
        mut stop: impl FnMut(&Cid) -> bool,
    ) -> Result<Option<Cid>, HistoryError> {
        let mut seen = BlockSet::new();
        let mut queue = VecDeque::from([*start]);
        seen.insert(start);
        let mut walked = 0u64;
        while let Some(cid) = queue.pop_front() {
            if stop(&cid) {
                return Ok(Some(cid));
            }
            walked += 1;
            if walked > MAX_WALK {
                return Err(HistoryError::HistoryTooLong {
                    revision: start.to_string(),
                    at: cid,
                });
            }
            for parent in self.read_commit(&cid).await?.parents {
                if seen.insert(&parent) {
                    queue.push_back(parent);
                }
            }
        }
        Ok(None)
    }
}
