//! Versioned datasets: commits, branches and tags over content-addressed
//! dataset roots.
//!
//! A [`Commit`] is one small DAG-CBOR block (schema in [`commit`]) linking a
//! dataset root (a HAMT root or a sharded manifest) and the commits it
//! follows, so history is content-addressed like the data: it travels in a
//! CAR with it, and a store's GC keeps it with what it reaches. Branches and
//! tags ([`RefName`]) live in a [`Refs`] store and move only by
//! compare-and-swap: of two writers committing on one branch from the same
//! head, one wins and the other gets [`HistoryError::Conflict`] naming both
//! commits.
//!
//! ```
//! use hamt_history::{CommitInfo, MemoryRefs, Repository};
//! use hamt_store::{BlockCodec, BlockStore, MemoryStore};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let repo = Repository::new(MemoryStore::new(), MemoryRefs::new());
//! let v1 = repo.store().put(BlockCodec::DagCbor, vec![0xa0].into()).await?;
//! let v2 = repo.store().put(BlockCodec::DagCbor, vec![0x80].into()).await?;
//! let first = repo.commit("main", v1, CommitInfo::new("me", "first").at_ms(1_000)).await?;
//! let second = repo.commit("main", v2, CommitInfo::new("me", "second").at_ms(2_000)).await?;
//! assert_eq!(repo.resolve("main").await?, second);
//! assert_eq!(repo.resolve("main~1").await?, first);
//! assert_eq!(repo.resolve("main@{1}").await?, first); // at or before 1 s
//! let log = repo.log("main", 10).await?;
//! assert_eq!(log.iter().map(|(_, c)| c.message.as_str()).collect::<Vec<_>>(), ["second", "first"]);
//! # Ok::<(), hamt_history::HistoryError>(())
//! # }).unwrap();
//! ```

pub mod commit;
pub mod expire;
mod merge;
mod refs;
mod revision;
mod walk;

use std::time::{SystemTime, UNIX_EPOCH};

use hamt_codec::{BlockCodec, Cid};
use hamt_store::{BlockStore, StoreError, dag::BlockSet};

pub use commit::Commit;
pub use expire::{BranchExpiry, EXPIRED_BEFORE, ExpireOptions, ExpireReport, TagChange, TagExpiry};
pub use merge::MergePlan;
#[cfg(feature = "kubo")]
pub use refs::KuboRefs;
pub use refs::{MemoryRefs, RefName, Refs, RefsFuture, Swapped};
pub use revision::{Back, Revision, format_time, parse_time};
pub use walk::{HistoryStep, HistoryWalk, WalkedCommit};

/// The most commits a walk back through history reads for one request
/// (`~N`, `@{TIME}`, `log`): a bound on the work a hostile or huge history
/// can cause.
pub const MAX_WALK: u64 = 1_000_000;

/// What went wrong with a history.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The block store failed, or a block is missing.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A block read as a commit is not one (see [`commit`]).
    #[error("{} is not a commit: {why}", cid.map_or_else(|| "a block".to_owned(), |c| c.to_string()))]
    MalformedCommit {
        /// The block, when it was read from a store.
        cid: Option<Cid>,
        /// What is wrong with it.
        why: String,
    },
    /// The ref moved since it was read: the write was not applied.
    #[error("{0}")]
    Conflict(Box<Conflict>),
    /// No branch, tag or commit by this name.
    #[error("unknown revision {0:?}: no branch, tag or commit CID of that name")]
    UnknownRevision(String),
    /// A revision that cannot be parsed.
    #[error("bad revision {revision:?}: {why}")]
    BadRevision {
        /// The text.
        revision: String,
        /// What is wrong.
        why: String,
    },
    /// A ref name that is not allowed.
    #[error("bad ref name {name:?}: {why}")]
    BadRefName {
        /// The name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The history does not go back that far (`~N` past the first commit,
    /// `@{TIME}` before it).
    #[error("{revision}: the history does not go back that far ({walked} commits)")]
    BeforeHistory {
        /// The revision asked for.
        revision: String,
        /// Commits walked.
        walked: u64,
    },
    /// A walk back read [`MAX_WALK`] commits, or met a commit twice (a
    /// cycle, which only forged CIDs can make).
    #[error("{revision}: the history is longer than {MAX_WALK} commits or loops back at {at}")]
    HistoryTooLong {
        /// The revision asked for.
        revision: String,
        /// The commit the walk stopped at.
        at: Cid,
    },
    /// A tag exists already: tags never move.
    #[error("tag {0} exists already")]
    TagExists(String),
}

/// Two writers moved one ref from the same commit; this one lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name} moved: expected {}, found {}; commit {ours} was written but not referenced",
    show(expected.as_ref()),
    show(actual.as_ref())
)]
pub struct Conflict {
    /// The ref.
    pub name: RefName,
    /// What the writer read.
    pub expected: Option<Cid>,
    /// What the ref names now (another writer's commit).
    pub actual: Option<Cid>,
    /// The commit the losing writer made.
    pub ours: Cid,
}

fn show(cid: Option<&Cid>) -> String {
    cid.map_or_else(|| "no commit".to_owned(), ToString::to_string)
}

/// Who commits, why, and when (now by default).
#[derive(Debug, Clone, Default)]
pub struct CommitInfo {
    /// Who commits.
    pub author: String,
    /// Why.
    pub message: String,
    /// When, in milliseconds since the Unix epoch (`None`: now).
    pub time_ms: Option<u64>,
    /// Free-form metadata.
    pub meta: std::collections::BTreeMap<String, String>,
}

impl CommitInfo {
    /// A commit by `author` for `message`, made now.
    pub fn new(author: impl Into<String>, message: impl Into<String>) -> Self {
        CommitInfo {
            author: author.into(),
            message: message.into(),
            ..CommitInfo::default()
        }
    }

    /// The same, made at `ms` since the Unix epoch.
    #[must_use]
    pub fn at_ms(mut self, ms: u64) -> Self {
        self.time_ms = Some(ms);
        self
    }
}

/// Commits, refs and revisions over a block store and a ref store (often
/// the same RocksDB store, see [`Refs`]).
#[derive(Debug)]
pub struct Repository<S, R> {
    store: S,
    refs: R,
}

impl<S: BlockStore, R: Refs> Repository<S, R> {
    /// A repository of the commits in `store`, named by `refs`.
    pub fn new(store: S, refs: R) -> Self {
        Repository { store, refs }
    }
}

impl<T: BlockStore + Refs + Clone> Repository<T, T> {
    /// The repository of a store that keeps its own refs: the embedded
    /// store (refs are its named roots) or a daemon (MFS files), e.g.
    /// `Repository::open(Arc::new(RocksDbStore::open(dir, &options)?))`.
    pub fn open(store: T) -> Self {
        Repository::new(store.clone(), store)
    }
}

impl<S: BlockStore, R: Refs> Repository<S, R> {
    /// The block store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The ref store.
    pub fn refs(&self) -> &R {
        &self.refs
    }

    /// Commits `root` on `branch` (created if new), its head as parent.
    /// The branch moves only if no other commit landed on it meanwhile:
    /// otherwise [`HistoryError::Conflict`], and the branch is unchanged.
    pub async fn commit(
        &self,
        branch: &str,
        root: Cid,
        info: CommitInfo,
    ) -> Result<Cid, HistoryError> {
        let name = RefName::branch(branch)?;
        let head = self.refs.get(&name).await?;
        self.commit_on(&name, head, vec![root], info).await
    }

    /// Commits `root` on `branch` as the commit after `expected`: the head
    /// the work began from (`None`: a new branch). A writer that read a
    /// dataset at the head, changed it and commits the result passes the
    /// head it read, so a commit landed meanwhile is a
    /// [`HistoryError::Conflict`] rather than silently undone.
    pub async fn commit_after(
        &self,
        branch: &str,
        expected: Option<Cid>,
        root: Cid,
        info: CommitInfo,
    ) -> Result<Cid, HistoryError> {
        let name = RefName::branch(branch)?;
        self.commit_on(&name, expected, vec![root], info).await
    }

    /// Commits `root` with `parents` (one, or two for a merge) and moves
    /// `branch` to it if the branch names `expected`.
    pub async fn commit_with_parents(
        &self,
        branch: &str,
        expected: Option<Cid>,
        root: Cid,
        parents: Vec<Cid>,
        info: CommitInfo,
    ) -> Result<Cid, HistoryError> {
        let name = RefName::branch(branch)?;
        if parents.is_empty() || parents.len() > commit::MAX_PARENTS {
            return Err(HistoryError::MalformedCommit {
                cid: None,
                why: format!(
                    "{} parents given, 1 to {}",
                    parents.len(),
                    commit::MAX_PARENTS
                ),
            });
        }
        for parent in &parents {
            self.read_commit(parent).await?;
        }
        let mut fields = vec![root];
        fields.extend(parents);
        self.commit_on(&name, expected, fields, info).await
    }

    /// `fields`: the root, then the parents (the head if none given).
    async fn commit_on(
        &self,
        name: &RefName,
        expected: Option<Cid>,
        fields: Vec<Cid>,
        info: CommitInfo,
    ) -> Result<Cid, HistoryError> {
        let mut fields = fields.into_iter();
        let root = fields.next().ok_or_else(|| HistoryError::BadRevision {
            revision: name.to_string(),
            why: "no root to commit".into(),
        })?;
        let mut parents: Vec<Cid> = fields.collect();
        if parents.is_empty() {
            parents.extend(expected);
        }
        // A dataset root, not a commit (an easy slip: `commit main` would
        // otherwise make a history of histories).
        if root.codec() == BlockCodec::DagCbor.code()
            && let Ok(bytes) = self.store.get(&root).await
            && Commit::decode(&root, &bytes).is_ok()
        {
            return Err(HistoryError::MalformedCommit {
                cid: None,
                why: format!("its root {root} is a commit, not a dataset"),
            });
        }
        let commit = Commit {
            root,
            parents,
            time_ms: info.time_ms.unwrap_or_else(now_ms),
            author: info.author,
            message: info.message,
            meta: info.meta,
        };
        let cid = self
            .store
            .put(BlockCodec::DagCbor, commit.encode()?.into())
            .await?;
        match self.refs.swap(name, expected.as_ref(), &cid).await? {
            Ok(()) => Ok(cid),
            Err(actual) => Err(HistoryError::Conflict(Box::new(Conflict {
                name: name.clone(),
                expected,
                actual,
                ours: cid,
            }))),
        }
    }

    /// Tags `commit` (a revision) as `tag`. Tags never move (but for
    /// [`expire`](Self::expire), which moves a tag to the rewrite of its
    /// commit or removes it).
    pub async fn tag(&self, tag: &str, revision: &str) -> Result<Cid, HistoryError> {
        let commit = self.resolve(revision).await?;
        let name = RefName::tag(tag)?;
        match self.refs.swap(&name, None, &commit).await? {
            Ok(()) => Ok(commit),
            Err(_) => Err(HistoryError::TagExists(tag.to_owned())),
        }
    }

    /// The commit block `cid`, read and checked.
    pub async fn read_commit(&self, cid: &Cid) -> Result<Commit, HistoryError> {
        if cid.codec() != BlockCodec::DagCbor.code() {
            return Err(HistoryError::MalformedCommit {
                cid: Some(*cid),
                why: format!("codec {:#x}, not DAG-CBOR", cid.codec()),
            });
        }
        let bytes = self.store.get(cid).await?;
        Commit::decode(cid, &bytes)
    }

    /// The commit a revision names (see [`Revision`]).
    pub async fn resolve(&self, revision: &str) -> Result<Cid, HistoryError> {
        let parsed: Revision = revision.parse()?;
        let start = self.named(&parsed.name).await?;
        match parsed.back {
            Back::None => {
                // A CID named directly must be a commit.
                self.read_commit(&start).await?;
                Ok(start)
            }
            Back::Parents(n) => {
                let mut walk = FirstParents::new(start, revision);
                for _ in 0..n {
                    if walk.next(self).await?.is_none() {
                        break;
                    }
                }
                match walk.next {
                    Some(cid) if walk.walked == n => {
                        self.read_commit(&cid).await?;
                        Ok(cid)
                    }
                    _ => Err(HistoryError::BeforeHistory {
                        revision: revision.to_owned(),
                        walked: walk.walked,
                    }),
                }
            }
            Back::AtOrBefore(ms) => {
                let mut walk = FirstParents::new(start, revision);
                while let Some((cid, commit)) = walk.next(self).await? {
                    if commit.time_ms <= ms {
                        return Ok(cid);
                    }
                }
                Err(HistoryError::BeforeHistory {
                    revision: revision.to_owned(),
                    walked: walk.walked,
                })
            }
        }
    }

    /// The commits from `revision` back along first parents, newest
    /// first, as a stream: each read as it is consumed (take what you
    /// need), at most [`MAX_WALK`] in all.
    ///
    /// ```
    /// use futures::TryStreamExt;
    /// use hamt_history::{CommitInfo, MemoryRefs, Repository};
    /// use hamt_store::{BlockCodec, BlockStore, MemoryStore};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let repo = Repository::new(MemoryStore::new(), MemoryRefs::new());
    /// let data = repo.store().put(BlockCodec::DagCbor, vec![0xa0].into()).await?;
    /// for day in 1..=3 {
    ///     repo.commit("main", data, CommitInfo::new("me", format!("day {day}"))).await?;
    /// }
    /// let newest: Vec<String> = repo
    ///     .commits("main")
    ///     .map_ok(|(_, commit)| commit.message)
    ///     .try_take_while(|message| std::future::ready(Ok(message != "day 1")))
    ///     .try_collect()
    ///     .await?;
    /// assert_eq!(newest, ["day 3", "day 2"]);
    /// # Ok::<(), hamt_history::HistoryError>(())
    /// # }).unwrap();
    /// ```
    pub fn commits<'a>(
        &'a self,
        revision: &'a str,
    ) -> impl futures::Stream<Item = Result<(Cid, Commit), HistoryError>> + Send + 'a {
        futures::stream::try_unfold(None, move |walk: Option<FirstParents<'a>>| async move {
            let mut walk = match walk {
                Some(walk) => walk,
                None => FirstParents::new(self.resolve(revision).await?, revision),
            };
            Ok(walk.next(self).await?.map(|entry| (entry, Some(walk))))
        })
    }

    /// Up to `limit` commits from `revision` back along first parents,
    /// newest first (see [`commits`](Self::commits) for a stream).
    pub async fn log(
        &self,
        revision: &str,
        limit: usize,
    ) -> Result<Vec<(Cid, Commit)>, HistoryError> {
        use futures::{StreamExt, TryStreamExt};
        self.commits(revision).take(limit).try_collect().await
    }

    /// A branch, else a tag, else a CID.
    async fn named(&self, name: &str) -> Result<Cid, HistoryError> {
        for r in [RefName::branch(name), RefName::tag(name)]
            .into_iter()
            .flatten()
        {
            if let Some(cid) = self.refs.get(&r).await? {
                return Ok(cid);
            }
        }
        Cid::try_from(name).map_err(|_| HistoryError::UnknownRevision(name.to_owned()))
    }
}

/// A walk back along first parents, bounded by [`MAX_WALK`] and refusing
/// to visit a commit twice.
struct FirstParents<'r> {
    next: Option<Cid>,
    seen: BlockSet,
    walked: u64,
    revision: &'r str,
}

impl<'r> FirstParents<'r> {
    fn new(start: Cid, revision: &'r str) -> Self {
        FirstParents {
            next: Some(start),
            seen: BlockSet::new(),
            walked: 0,
            revision,
        }
    }

    async fn next<S: BlockStore, R: Refs>(
        &mut self,
        repo: &Repository<S, R>,
    ) -> Result<Option<(Cid, Commit)>, HistoryError> {
        let Some(cid) = self.next else {
            return Ok(None);
        };
        if self.walked >= MAX_WALK || !self.seen.insert(&cid) {
            return Err(HistoryError::HistoryTooLong {
                revision: self.revision.to_owned(),
                at: cid,
            });
        }
        self.walked += 1;
        let commit = repo.read_commit(&cid).await?;
        self.next = commit.parents.first().copied();
        Ok(Some((cid, commit)))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
