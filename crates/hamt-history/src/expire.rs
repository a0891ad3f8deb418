//! Expiring old history: rewriting each branch's recent commits into a
//! shorter history, so that a GC frees what only the old commits reached.
//!
//! Commits are content-addressed: a commit names its parents by CID, so
//! history cannot be cut below a commit without writing that commit again.
//! [`Repository::expire`] keeps, for each branch, the commits **retained**
//! at a cutoff time and rewrites them:
//!
//! - **Retained**: the branch's head (always, even if older than the
//!   cutoff), and every commit reached from a retained commit through a
//!   parent whose time is at or after the cutoff. A walk back stops at the
//!   first commit older than the cutoff on each path: what lies behind it is
//!   expired even if its own time is later (times are their writers', and
//!   may go back and forth).
//! - **Rewritten**, oldest first: the same root, time, author, message and
//!   meta, its retained parents replaced by their rewrites and its other
//!   parents dropped. A commit that lost a parent records the cutoff in its
//!   meta under [`EXPIRED_BEFORE`] (milliseconds since the Unix epoch, in
//!   decimal); the oldest retained commit becomes a root commit. A commit
//!   whose parents are all retained and unchanged is its own rewrite (same
//!   bytes, same CID), so expiring again at the same cutoff changes
//!   nothing.
//! - **Moved**: each branch from its old head to the rewrite of it, by
//!   compare-and-swap.
//! - **Tags**: untouched with [`ExpireOptions::keep_tags`] (so a GC keeps
//!   a tag's whole history, expired or not). Otherwise a tag naming a commit
//!   retained by a branch that moved is moved to that commit's rewrite; a
//!   tag naming a commit the expiry dropped from a branch it moved is
//!   removed, unless a branch left as it was (not selected, or moved
//!   meanwhile) reaches it; every other tag is untouched (one on a deleted
//!   branch's commit, say). This is the one operation that moves or
//!   removes a tag.
//!
//! **Concurrency.** Every branch and tag moves by its own compare-and-swap:
//! there is no transaction across refs. A branch another writer moved
//! meanwhile is left as that writer left it, the other branches and the
//! tags are still processed (tags in that branch's history stay as they
//! were), and the call then fails with [`HistoryError::Conflict`] naming the
//! first ref that moved. Running `expire` again finishes the job. A
//! branch whose swap failed (the store failed) is treated the same, and
//! the store's error returned. Branches move before tags: an expiry that
//! dies between the two leaves tags on the old commits, which a second run
//! leaves alone (they are in no branch's history any more), so no tagged
//! version is lost; remove such tags by hand once they are not wanted.
//!
//! **Bounds.** Each branch's whole history is read (to count what is
//! dropped and to refuse a cycle), at most [`MAX_WALK`] commits, else
//! [`HistoryError::HistoryTooLong`]; a cycle (which only forged CIDs can
//! make) is the same error, naming the commit where it loops back. Every
//! walk happens before any ref moves.

use std::collections::{HashMap, HashSet};

use hamt_codec::{BlockCodec, Cid};
use hamt_store::{BlockStore, dag::BlockSet};

use crate::{Conflict, HistoryError, MAX_WALK, RefName, Refs, Repository};

/// The meta key under which a rewritten commit that lost parents to
/// [`Repository::expire`] records the cutoff (milliseconds since the Unix
/// epoch, in decimal): history older than this was dropped below it.
pub const EXPIRED_BEFORE: &str = "expired-before";

/// What [`Repository::expire`] touches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpireOptions {
    /// Leave every tag as it is: the commits tags name, and their whole
    /// history, stay (and a GC keeps them).
    pub keep_tags: bool,
    /// The branches to expire, by name (without `refs/heads/`); empty:
    /// every branch.
    pub branches: Vec<String>,
}

impl ExpireOptions {
    /// Every branch; tags follow their commits.
    pub fn new() -> Self {
        ExpireOptions::default()
    }

    /// Leave tags as they are (see [`ExpireOptions::keep_tags`]).
    #[must_use]
    pub fn keep_tags(mut self, keep: bool) -> Self {
        self.keep_tags = keep;
        self
    }

    /// Expire branch `name` (call once per branch; none: every branch).
    #[must_use]
    pub fn branch(mut self, name: impl Into<String>) -> Self {
        self.branches.push(name.into());
        self
    }
}

/// What [`Repository::expire`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpireReport {
    /// Commits older than this (milliseconds since the Unix epoch) were
    /// expired.
    pub cutoff_ms: u64,
    /// Each branch expired, in name order.
    pub branches: Vec<BranchExpiry>,
    /// Each tag moved or removed, in name order (tags left as they were
    /// are not listed).
    pub tags: Vec<TagExpiry>,
}

/// One branch's expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BranchExpiry {
    /// The branch (without `refs/heads/`).
    pub name: String,
    /// Its head before.
    pub old_head: Cid,
    /// Its head now: the rewrite of the old head (the same commit when
    /// nothing was dropped).
    pub new_head: Cid,
    /// Commits retained (and rewritten).
    pub kept: u64,
    /// Commits of the old history not retained.
    pub dropped: u64,
}

/// What happened to one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagExpiry {
    /// The tag (without `refs/tags/`).
    pub name: String,
    /// Moved or removed.
    pub change: TagChange,
}

/// How a tag changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagChange {
    /// Its commit was retained: it names the rewrite now.
    Moved {
        /// The commit it named.
        from: Cid,
        /// The rewrite it names now.
        to: Cid,
    },
    /// Its commit was expired: the tag is gone.
    Removed {
        /// The commit it named.
        was: Cid,
    },
}

/// One commit of a history as the walk needs it (the whole commit is read
/// again only if it is retained, so an old history's messages and meta are
/// never all in memory at once).
struct Walked {
    cid: Cid,
    parents: Vec<Cid>,
    time_ms: u64,
}

/// One branch's plan: what it keeps and where it moves.
struct BranchPlan {
    name: RefName,
    old_head: Cid,
    new_head: Cid,
    /// The original commits retained.
    retained: HashSet<Cid>,
    /// Every commit of the old history.
    history: Vec<Cid>,
    dropped: u64,
}

impl<S: BlockStore, R: Refs> Repository<S, R> {
    /// Expires history older than `older_than_ms` (milliseconds since the
    /// Unix epoch): each branch (or those named in `options`) moves to a
    /// rewrite of its commits made at or after it, and tags follow (see the
    /// [module docs](crate::expire) for the exact rule). Nothing is deleted
    /// here: a GC of the store then frees what only the expired history
    /// reached.
    ///
    /// # Errors
    /// [`HistoryError::UnknownRevision`] for a named branch that does not
    /// exist, [`HistoryError::HistoryTooLong`] for a history over
    /// [`MAX_WALK`] commits or a cycle (both before any ref moves),
    /// [`HistoryError::Conflict`] when a ref moved meanwhile (that ref is
    /// left as it is, the others are processed), or a store error.
    ///
    /// ```
    /// use hamt_history::{CommitInfo, ExpireOptions, HistoryError, MemoryRefs, Repository};
    /// use hamt_store::{BlockCodec, BlockStore, MemoryStore};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let repo = Repository::new(MemoryStore::new(), MemoryRefs::new());
    /// for (version, ms) in [(1u8, 1_000), (2, 2_000), (3, 3_000)] {
    ///     let root = repo.store().put(BlockCodec::DagCbor, vec![0x81, version].into()).await?;
    ///     repo.commit("main", root, CommitInfo::new("me", format!("v{version}")).at_ms(ms)).await?;
    /// }
    /// let report = repo.expire(2_000, ExpireOptions::new()).await?;
    /// assert_eq!((report.branches[0].kept, report.branches[0].dropped), (2, 1));
    /// let log = repo.log("main", 10).await?;
    /// assert_eq!(log.iter().map(|(_, c)| c.message.as_str()).collect::<Vec<_>>(), ["v3", "v2"]);
    /// assert!(log[1].1.parents.is_empty()); // v2 is the first commit now
    /// assert!(matches!(repo.resolve("main@{1}").await, Err(HistoryError::BeforeHistory { .. })));
    /// # Ok::<(), HistoryError>(())
    /// # }).unwrap();
    /// ```
    pub async fn expire(
        &self,
        older_than_ms: u64,
        options: ExpireOptions,
    ) -> Result<ExpireReport, HistoryError> {
        let cutoff = older_than_ms;
        let refs = self.refs.list().await?;
        let branches: Vec<(RefName, Cid)> = refs
            .iter()
            .filter(|(name, _)| matches!(name, RefName::Branch(_)))
            .cloned()
            .collect();
        let selected = select_branches(&branches, &options.branches)?;

        // Plan and write every rewrite before any ref moves.
        let mut rewrites: HashMap<Cid, Cid> = HashMap::new();
        let mut plans = Vec::with_capacity(selected.len());
        for (name, head) in &selected {
            plans.push(self.plan_branch(name, *head, cutoff, &mut rewrites).await?);
        }
        let tags: Vec<(RefName, Cid)> = if options.keep_tags {
            Vec::new()
        } else {
            refs.into_iter()
                .filter(|(name, _)| matches!(name, RefName::Tag(_)))
                .collect()
        };
        // Commits reached by the branches not expired: tags there stay.
        // Walked only if a tag's commit is retained by no expired branch.
        let mut protected = BlockSet::new();
        let retained_somewhere =
            |commit: &Cid| plans.iter().any(|plan| plan.retained.contains(commit));
        if tags.iter().any(|(_, commit)| !retained_somewhere(commit)) {
            for (name, head) in &branches {
                if !selected.iter().any(|(chosen, _)| chosen == name) {
                    for walked in self.read_history(name, *head).await? {
                        protected.insert(&walked.cid);
                    }
                }
            }
        }

        let mut first_conflict: Option<Conflict> = None;
        let mut report = ExpireReport {
            cutoff_ms: cutoff,
            branches: Vec::with_capacity(plans.len()),
            tags: Vec::new(),
        };
        let mut moved = Vec::with_capacity(plans.len());
        // Every commit of the branches that moved, retained or not: only a
        // tag in there is removed (one elsewhere, on a deleted branch's
        // commit or left by an expiry that crashed before its tags, stays).
        let mut expired_history = BlockSet::new();
        let mut first_error = None;
        for plan in plans {
            let swapped = if plan.new_head == plan.old_head {
                Ok(())
            } else {
                match self
                    .refs
                    .swap(&plan.name, Some(&plan.old_head), &plan.new_head)
                    .await
                {
                    Ok(swapped) => swapped,
                    // Unknown whether it moved: its tags stay as they are
                    // (the other branches' are still moved), then the error.
                    Err(error) => {
                        protected.insert_many(&plan.history);
                        first_error.get_or_insert(error);
                        continue;
                    }
                }
            };
            match swapped {
                Ok(()) => {
                    report.branches.push(BranchExpiry {
                        name: plan.name.name().to_owned(),
                        old_head: plan.old_head,
                        new_head: plan.new_head,
                        kept: plan.retained.len() as u64,
                        dropped: plan.dropped,
                    });
                    expired_history.insert_many(&plan.history);
                    moved.push(plan.retained);
                }
                Err(actual) => {
                    // Its history still stands: keep the tags in it.
                    protected.insert_many(&plan.history);
                    first_conflict.get_or_insert(Conflict {
                        name: plan.name,
                        expected: Some(plan.old_head),
                        actual,
                        ours: plan.new_head,
                    });
                }
            }
        }

        report.tags = self
            .move_tags(
                tags,
                &moved,
                &rewrites,
                (&expired_history, &protected),
                &mut first_conflict,
            )
            .await?;
        if let Some(error) = first_error {
            return Err(error);
        }
        match first_conflict {
            Some(conflict) => Err(HistoryError::Conflict(Box::new(conflict))),
            None => Ok(report),
        }
    }

    /// Moves each tag on a commit a moved branch retained to its rewrite,
    /// and removes each tag on a commit of a moved branch's old history
    /// (`expired`) neither retained nor `protected`; returns what changed. A tag that moved meanwhile is left as it is
    /// and noted in `first_conflict`.
    async fn move_tags(
        &self,
        tags: Vec<(RefName, Cid)>,
        moved: &[HashSet<Cid>],
        rewrites: &HashMap<Cid, Cid>,
        (expired, protected): (&BlockSet, &BlockSet),
        first_conflict: &mut Option<Conflict>,
    ) -> Result<Vec<TagExpiry>, HistoryError> {
        let mut changed = Vec::new();
        for (name, commit) in tags {
            let rewrite = moved
                .iter()
                .any(|retained| retained.contains(&commit))
                .then(|| rewrites.get(&commit).copied())
                .flatten();
            let (outcome, change) = match rewrite {
                Some(to) if to == commit => continue,
                Some(to) => (
                    self.refs.swap(&name, Some(&commit), &to).await?,
                    TagChange::Moved { from: commit, to },
                ),
                None if protected.contains(&commit) || !expired.contains(&commit) => continue,
                None => (
                    self.refs.remove(&name, &commit).await?,
                    TagChange::Removed { was: commit },
                ),
            };
            match outcome {
                Ok(()) => changed.push(TagExpiry {
                    name: name.name().to_owned(),
                    change,
                }),
                Err(actual) => {
                    let ours = match change {
                        TagChange::Moved { to, .. } => to,
                        TagChange::Removed { was } => was,
                    };
                    first_conflict.get_or_insert(Conflict {
                        name,
                        expected: Some(commit),
                        actual,
                        ours,
                    });
                }
            }
        }
        Ok(changed)
    }

    /// Reads `head`'s history, chooses what it retains at `cutoff`, writes
    /// the rewrites (recorded in `rewrites`, shared by the branches: a
    /// commit's rewrite depends only on the commit and the cutoff).
    async fn plan_branch(
        &self,
        name: &RefName,
        head: Cid,
        cutoff: u64,
        rewrites: &mut HashMap<Cid, Cid>,
    ) -> Result<BranchPlan, HistoryError> {
        let history = self.read_history(name, head).await?;
        // Children come after their parents in `history`: going backwards,
        // a commit is decided before its parents are looked at.
        let times: HashMap<Cid, u64> = history.iter().map(|w| (w.cid, w.time_ms)).collect();
        let mut retained = HashSet::from([head]);
        for walked in history.iter().rev() {
            if retained.contains(&walked.cid) {
                for parent in &walked.parents {
                    if times.get(parent).is_some_and(|&time| time >= cutoff) {
                        retained.insert(*parent);
                    }
                }
            }
        }
        for walked in history.iter().filter(|w| retained.contains(&w.cid)) {
            if rewrites.contains_key(&walked.cid) {
                continue;
            }
            let mut commit = self.read_commit(&walked.cid).await?;
            let kept: Vec<Cid> = commit
                .parents
                .iter()
                .filter(|parent| retained.contains(*parent))
                .filter_map(|parent| rewrites.get(parent).copied())
                .collect();
            if kept.len() < commit.parents.len() {
                commit
                    .meta
                    .insert(EXPIRED_BEFORE.to_owned(), cutoff.to_string());
            }
            commit.parents = kept;
            let cid = self
                .store
                .put(BlockCodec::DagCbor, commit.encode()?.into())
                .await?;
            rewrites.insert(walked.cid, cid);
        }
        let new_head = rewrites.get(&head).copied().ok_or_else(|| {
            // Unreachable: the head is retained and last in `history`.
            HistoryError::HistoryTooLong {
                revision: name.to_string(),
                at: head,
            }
        })?;
        Ok(BranchPlan {
            name: name.clone(),
            old_head: head,
            new_head,
            dropped: (history.len() - retained.len()) as u64,
            retained,
            history: history.iter().map(|walked| walked.cid).collect(),
        })
    }

    /// Every commit reachable from `head`, each once, parents before
    /// children (a depth-first post-order). At most [`MAX_WALK`] commits;
    /// meeting a commit still open on the walk's path is a cycle. Both are
    /// [`HistoryError::HistoryTooLong`].
    async fn read_history(&self, name: &RefName, head: Cid) -> Result<Vec<Walked>, HistoryError> {
        let refuse = |at: Cid| HistoryError::HistoryTooLong {
            revision: name.to_string(),
            at,
        };
        let mut done: HashSet<Cid> = HashSet::new();
        let mut open: HashSet<Cid> = HashSet::from([head]);
        // Each entry: a commit on the current path and how many of its
        // parents were visited.
        let mut path: Vec<(Walked, usize)> = vec![(self.walked(head).await?, 0)];
        let mut order = Vec::new();
        let mut read = 1u64;
        while let Some((top, next_parent)) = path.last_mut() {
            let Some(&parent) = top.parents.get(*next_parent) else {
                if let Some((walked, _)) = path.pop() {
                    open.remove(&walked.cid);
                    done.insert(walked.cid);
                    order.push(walked);
                }
                continue;
            };
            *next_parent += 1;
            if open.contains(&parent) {
                return Err(refuse(parent));
            }
            if done.contains(&parent) {
                continue;
            }
            if read >= MAX_WALK {
                return Err(refuse(parent));
            }
            read += 1;
            open.insert(parent);
            path.push((self.walked(parent).await?, 0));
        }
        Ok(order)
    }

    async fn walked(&self, cid: Cid) -> Result<Walked, HistoryError> {
        let commit = self.read_commit(&cid).await?;
        Ok(Walked {
            cid,
            parents: commit.parents,
            time_ms: commit.time_ms,
        })
    }
}

/// The branches `names` picks out of `branches` (all of them for no
/// names), in name order, each once.
fn select_branches(
    branches: &[(RefName, Cid)],
    names: &[String],
) -> Result<Vec<(RefName, Cid)>, HistoryError> {
    if names.is_empty() {
        return Ok(branches.to_vec());
    }
    let mut selected = Vec::with_capacity(names.len());
    for name in names {
        let wanted = RefName::branch(name)?;
        match branches.iter().find(|(branch, _)| *branch == wanted) {
            Some(found) if !selected.contains(found) => selected.push(found.clone()),
            Some(_) => {}
            None => return Err(HistoryError::UnknownRevision(name.clone())),
        }
    }
    selected.sort_by_key(|(name, _)| name.key());
    Ok(selected)
}
