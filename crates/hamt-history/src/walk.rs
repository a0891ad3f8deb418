//! Walking a whole history: every commit a commit reaches through all its
//! parents (not only first parents, as revisions and `log` walk), and
//! whether one commit is an ancestor of another (a fast-forward).
//!
//! A history travels between stores whole or cut short: a CAR of the
//! newest commits only links parents it does not hold. The walk reports
//! such a parent ([`HistoryStep::MissingParent`]) instead of failing, so a
//! caller can tell a shallow history from a broken one.
//!
//! **Bounds.** The walk is breadth first and visits each commit once (a
//! [`BlockSet`] of those reached; its queue holds at most the parents of
//! one generation), reads at most [`MAX_WALK`] commits, and refuses a
//! commit that names itself or the walk's start as a parent (a cycle, which
//! only forged CIDs can make): both are [`HistoryError::HistoryTooLong`].
//! A longer forged cycle is still walked once per commit, so it cannot make
//! the walk loop.

use std::collections::VecDeque;
use std::num::NonZeroU64;

use hamt_codec::{BlockCodec, Cid};
use hamt_store::{BlockStore, Bytes, StoreError, dag::BlockSet};

use crate::{Commit, HistoryError, MAX_WALK, Refs, Repository};

/// A commit a [`HistoryWalk`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkedCommit {
    /// Its CID.
    pub cid: Cid,
    /// The commit, decoded and checked.
    pub commit: Commit,
    /// Its block's verified bytes (to copy it elsewhere without reading it
    /// again).
    pub block: Bytes,
    /// How far from the walk's start: 1 for the start, 2 for its parents,
    /// and so on (the fewest parent links from the start, since the walk is
    /// breadth first).
    pub generation: u64,
}

/// What a [`HistoryWalk`] reached next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryStep {
    /// A commit, read from the store.
    Commit(WalkedCommit),
    /// A parent the store does not hold (a shallow history, or one whose
    /// older part was never copied here); the walk does not go past it.
    MissingParent {
        /// The missing commit.
        parent: Cid,
        /// The commit that names it as a parent.
        child: Cid,
    },
}

/// A breadth-first walk over a commit and all its ancestors, through every
/// parent, each commit once, newest generation first (see the module docs
/// for its bounds).
///
/// ```
/// use hamt_history::{CommitInfo, HistoryStep, MemoryRefs, Repository};
/// use hamt_store::{BlockCodec, BlockStore, MemoryStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let repo = Repository::new(MemoryStore::new(), MemoryRefs::new());
/// let data = repo.store().put(BlockCodec::DagCbor, vec![0xa0].into()).await?;
/// let first = repo.commit("main", data, CommitInfo::new("me", "first")).await?;
/// let second = repo.commit("main", data, CommitInfo::new("me", "second")).await?;
/// let mut walk = repo.history(second);
/// let mut seen = Vec::new();
/// while let Some(HistoryStep::Commit(walked)) = walk.next().await? {
///     seen.push((walked.cid, walked.generation));
/// }
/// assert_eq!(seen, [(second, 1), (first, 2)]);
/// assert!(repo.is_ancestor(&first, &second).await?);
/// assert!(!repo.is_ancestor(&second, &first).await?);
/// # Ok::<(), hamt_history::HistoryError>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct HistoryWalk<'s, S: ?Sized> {
    store: &'s S,
    start: Cid,
    /// Commits to read, each with its generation and the commit that named
    /// it (`None` for the start).
    queue: VecDeque<(Cid, u64, Option<Cid>)>,
    /// Every commit ever queued: each is read once.
    queued: BlockSet,
    /// Commits read so far.
    read: u64,
    /// The most commits read ([`MAX_WALK`]; lower in tests).
    limit: u64,
    /// The last generation whose parents are followed (`None`: all).
    depth: Option<NonZeroU64>,
}

impl<'s, S: BlockStore + ?Sized> HistoryWalk<'s, S> {
    /// A walk over `start` (a commit) and every commit it reaches.
    pub fn new(store: &'s S, start: Cid) -> Self {
        let mut queued = BlockSet::new();
        queued.insert(&start);
        HistoryWalk {
            store,
            start,
            queue: VecDeque::from([(start, 1, None)]),
            queued,
            read: 0,
            limit: MAX_WALK,
            depth: None,
        }
    }

    /// Only the commits within `generations` of the start (1: the start
    /// alone; 2: it and its parents), as a shallow clone keeps: the parents
    /// of the oldest generation are neither read nor reported.
    #[must_use]
    pub fn depth(mut self, generations: NonZeroU64) -> Self {
        self.depth = Some(generations);
        self
    }

    /// Does not walk into `commit` (unless it is the start): a commit the
    /// caller knows to be held with its whole history (one a name of the
    /// embedded store holds, say), so walking on below it would only
    /// confirm what is known. It is neither read nor reported, nor is what
    /// only it reaches. Call it before the walk reaches `commit`.
    pub fn stop_at(&mut self, commit: &Cid) {
        self.queued.insert(commit);
    }

    /// Commits read so far.
    pub fn commits_read(&self) -> u64 {
        self.read
    }

    /// The next commit (or missing parent), or `None` when the history has
    /// been walked.
    ///
    /// # Errors
    /// The start is missing ([`HistoryError::Store`] with
    /// [`StoreError::NotFound`]) or any commit is not one
    /// ([`HistoryError::MalformedCommit`]); the walk read [`MAX_WALK`]
    /// commits, or a commit names itself or the start as a parent
    /// ([`HistoryError::HistoryTooLong`]); the store failed.
    pub async fn next(&mut self) -> Result<Option<HistoryStep>, HistoryError> {
        let Some((cid, generation, child)) = self.queue.pop_front() else {
            return Ok(None);
        };
        if self.read >= self.limit {
            return Err(self.too_long(cid));
        }
        let block = match (self.read_block(&cid).await, child) {
            (Ok(block), _) => block,
            // A parent not here: the history goes on elsewhere (or nowhere).
            (Err(HistoryError::Store(StoreError::NotFound(_))), Some(child)) => {
                return Ok(Some(HistoryStep::MissingParent { parent: cid, child }));
            }
            (Err(other), _) => return Err(other),
        };
        self.read += 1;
        let commit = Commit::decode(&cid, &block)?;
        let follow = self.depth.is_none_or(|depth| generation < depth.get());
        if follow {
            for parent in &commit.parents {
                if *parent == cid || *parent == self.start {
                    return Err(self.too_long(*parent));
                }
                if self.queued.insert(parent) {
                    self.queue.push_back((*parent, generation + 1, Some(cid)));
                }
            }
        }
        Ok(Some(HistoryStep::Commit(WalkedCommit {
            cid,
            commit,
            block,
            generation,
        })))
    }

    /// A commit's verified bytes; a CID of another codec is no commit.
    async fn read_block(&self, cid: &Cid) -> Result<Bytes, HistoryError> {
        if cid.codec() != BlockCodec::DagCbor.code() {
            return Err(HistoryError::MalformedCommit {
                cid: Some(*cid),
                why: format!("codec {:#x}, not DAG-CBOR", cid.codec()),
            });
        }
        Ok(self.store.get(cid).await?)
    }

    fn too_long(&self, at: Cid) -> HistoryError {
        HistoryError::HistoryTooLong {
            revision: self.start.to_string(),
            at,
        }
    }
}

impl<S: BlockStore, R: Refs> Repository<S, R> {
    /// A walk over `start` and all its ancestors, through every parent
    /// (see [`HistoryWalk`]).
    pub fn history(&self, start: Cid) -> HistoryWalk<'_, S> {
        HistoryWalk::new(self.store(), start)
    }

    /// Whether commit `ancestor` is commit `descendant` or one of its
    /// ancestors: whether a ref at `ancestor` may move to `descendant` as a
    /// fast-forward. Walks `descendant`'s history breadth first until it
    /// meets `ancestor`, at most [`MAX_WALK`] commits.
    ///
    /// # Errors
    /// As [`HistoryWalk::next`]; and when `ancestor` was not met but some
    /// parent is missing from the store (a shallow history: the answer is
    /// unknown), [`HistoryError::Store`] with [`StoreError::NotFound`]
    /// naming the first such parent.
    pub async fn is_ancestor(
        &self,
        ancestor: &Cid,
        descendant: &Cid,
    ) -> Result<bool, HistoryError> {
        let mut walk = self.history(*descendant);
        let mut first_missing = None;
        while let Some(step) = walk.next().await? {
            match step {
                HistoryStep::Commit(walked) if walked.cid == *ancestor => return Ok(true),
                HistoryStep::Commit(_) => {}
                HistoryStep::MissingParent { parent, .. } => {
                    first_missing.get_or_insert(parent);
                }
            }
        }
        match first_missing {
            Some(parent) => Err(HistoryError::Store(StoreError::NotFound(parent))),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::collections::BTreeMap;

    use std::future::Future;
    use std::pin::Pin;

    use hamt_store::{Block, MemoryStore};

    use super::*;
    use crate::{CommitInfo, MemoryRefs, RefName};

    fn repo() -> Repository<MemoryStore, MemoryRefs> {
        Repository::new(MemoryStore::new(), MemoryRefs::new())
    }

    async fn dataset(repo: &Repository<MemoryStore, MemoryRefs>, byte: u8) -> Cid {
        // A DAG-CBOR byte string: any block will do as a dataset root here.
        let data = vec![0x41, byte];
        repo.store()
            .put(BlockCodec::DagCbor, data.into())
            .await
            .unwrap()
    }

    async fn commit_on(repo: &Repository<MemoryStore, MemoryRefs>, branch: &str, n: u8) -> Cid {
        let root = dataset(repo, n).await;
        let info = CommitInfo::new("me", format!("{n}")).at_ms(u64::from(n));
        repo.commit(branch, root, info).await.unwrap()
    }

    /// Every step of a walk: `Ok((cid, generation))` per commit,
    /// `Err((parent, child))` per missing parent.
    async fn steps<S: BlockStore + ?Sized>(
        mut walk: HistoryWalk<'_, S>,
    ) -> Vec<Result<(Cid, u64), (Cid, Cid)>> {
        let mut steps = Vec::new();
        while let Some(step) = walk.next().await.unwrap() {
            steps.push(match step {
                HistoryStep::Commit(w) => Ok((w.cid, w.generation)),
                HistoryStep::MissingParent { parent, child } => Err((parent, child)),
            });
        }
        steps
    }

    /// main: a - b - m, dev: a - d, m merges d.
    async fn merged(repo: &Repository<MemoryStore, MemoryRefs>) -> [Cid; 4] {
        let a = commit_on(repo, "main", 1).await;
        repo.refs()
            .swap(&RefName::branch("dev").unwrap(), None, &a)
            .await
            .unwrap()
            .unwrap();
        let b = commit_on(repo, "main", 2).await;
        let d = commit_on(repo, "dev", 3).await;
        let root = dataset(repo, 4).await;
        let m = repo
            .commit_with_parents(
                "main",
                Some(b),
                root,
                vec![b, d],
                CommitInfo::new("me", "m"),
            )
            .await
            .unwrap();
        [a, b, d, m]
    }

    #[tokio::test]
    async fn the_walk_reaches_every_parent_once_by_generation() {
        let repo = repo();
        let [a, b, d, m] = merged(&repo).await;
        // `a` is the parent of both `b` and `d`: read once, at generation 3.
        assert_eq!(
            steps(repo.history(m)).await,
            [Ok((m, 1)), Ok((b, 2)), Ok((d, 2)), Ok((a, 3))]
        );
        let mut walk = repo.history(m);
        let Some(HistoryStep::Commit(first)) = walk.next().await.unwrap() else {
            panic!("no first commit");
        };
        assert_eq!(first.commit.parents, [b, d]);
        assert_eq!(first.block, repo.store().get(&m).await.unwrap());
        assert_eq!(walk.commits_read(), 1);
    }

    #[tokio::test]
    async fn depth_keeps_the_newest_generations_only() {
        let repo = repo();
        let [_, b, d, m] = merged(&repo).await;
        let one = NonZeroU64::new(1).unwrap();
        assert_eq!(steps(repo.history(m).depth(one)).await, [Ok((m, 1))]);
        let two = NonZeroU64::new(2).unwrap();
        assert_eq!(
            steps(repo.history(m).depth(two)).await,
            [Ok((m, 1)), Ok((b, 2)), Ok((d, 2))]
        );
    }

    #[tokio::test]
    async fn a_shallow_history_reports_its_missing_parents() {
        let repo = repo();
        let [a, b, d, m] = merged(&repo).await;
        repo.store().remove(&a);
        assert_eq!(
            steps(repo.history(m)).await,
            [Ok((m, 1)), Ok((b, 2)), Ok((d, 2)), Err((a, b))]
        );
        // `b` is found before the hole; `a` cannot be told.
        assert!(repo.is_ancestor(&b, &m).await.unwrap());
        assert!(matches!(
            repo.is_ancestor(&a, &m).await,
            Err(HistoryError::Store(StoreError::NotFound(cid))) if cid == a
        ));
        // A missing start is an error, not a step.
        repo.store().remove(&m);
        let mut walk = repo.history(m);
        assert!(matches!(
            walk.next().await,
            Err(HistoryError::Store(StoreError::NotFound(cid))) if cid == m
        ));
    }

    #[tokio::test]
    async fn ancestors_are_fast_forwards_and_nothing_else_is() {
        let repo = repo();
        let [a, b, d, m] = merged(&repo).await;
        for (ancestor, descendant) in [(a, m), (b, m), (d, m), (a, d), (m, m)] {
            assert!(repo.is_ancestor(&ancestor, &descendant).await.unwrap());
        }
        for (ancestor, descendant) in [(m, a), (b, d), (d, b)] {
            assert!(!repo.is_ancestor(&ancestor, &descendant).await.unwrap());
        }
        // Unrelated history.
        let other = commit_on(&repo, "other", 9).await;
        assert!(!repo.is_ancestor(&other, &m).await.unwrap());
        // A dataset root is no commit.
        let root = dataset(&repo, 1).await;
        assert!(matches!(
            repo.is_ancestor(&a, &root).await,
            Err(HistoryError::MalformedCommit { .. })
        ));
    }

    /// A hostile store that serves commits under CIDs they do not hash to
    /// (it does not verify its reads): commit `n` (its CID's digest holds
    /// `n`) has parent `parent_of(n)`, without end or in a loop.
    struct Forged {
        parent_of: fn(u64) -> u64,
    }

    fn forged_cid(n: u64) -> Cid {
        // CIDv1, DAG-CBOR, a blake3 multihash of 32 bytes: all one-byte varints.
        let mut bytes = vec![0x01, 0x71, 0x1e, 0x20];
        bytes.extend_from_slice(&n.to_le_bytes());
        bytes.resize(4 + 32, 0);
        Cid::try_from(bytes.as_slice()).unwrap()
    }

    fn forged_number(cid: &Cid) -> u64 {
        u64::from_le_bytes(cid.hash().digest()[..8].try_into().unwrap())
    }

    impl Forged {
        fn commit(&self, cid: &Cid) -> Bytes {
            let n = forged_number(cid);
            let commit = Commit {
                root: forged_cid(u64::MAX),
                parents: vec![forged_cid((self.parent_of)(n))],
                time_ms: n,
                author: "forger".into(),
                message: String::new(),
                meta: BTreeMap::new(),
            };
            commit.encode().unwrap().into()
        }
    }

    /// What `#[async_trait]` makes of an async method's result (the crate
    /// is no dependency of this one).
    type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

    impl BlockStore for Forged {
        fn get<'s, 'c, 'a>(&'s self, cid: &'c Cid) -> Answer<'a, Bytes>
        where
            's: 'a,
            'c: 'a,
            Self: 'a,
        {
            let data = self.commit(cid);
            Box::pin(async move { Ok(data) })
        }

        fn has<'s, 'c, 'a>(&'s self, _: &'c Cid) -> Answer<'a, bool>
        where
            's: 'a,
            'c: 'a,
            Self: 'a,
        {
            Box::pin(async { Ok(true) })
        }

        fn put_block<'s, 'a>(&'s self, _: Block) -> Answer<'a, ()>
        where
            's: 'a,
            Self: 'a,
        {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn an_endless_history_stops_at_the_bound() {
        let store = Forged {
            parent_of: |n| n + 1,
        };
        let mut walk = HistoryWalk::new(&store, forged_cid(0));
        // The bound is `MAX_WALK`; a smaller one keeps the test quick.
        assert_eq!(walk.limit, MAX_WALK);
        walk.limit = 1_000;
        let mut read = 0;
        let error = loop {
            match walk.next().await {
                Ok(Some(_)) => read += 1,
                Ok(None) => panic!("an endless history ended"),
                Err(error) => break error,
            }
        };
        assert_eq!(read, 1_000);
        assert!(matches!(
            error,
            HistoryError::HistoryTooLong { at, .. } if at == forged_cid(1_000)
        ));
    }

    #[tokio::test]
    async fn a_forged_cycle_is_refused() {
        // 0 -> 1 -> 2 -> 0: back to the start.
        let store = Forged {
            parent_of: |n| (n + 1) % 3,
        };
        let mut walk = HistoryWalk::new(&store, forged_cid(0));
        let error = loop {
            match walk.next().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a cycle was walked as a history"),
                Err(error) => break error,
            }
        };
        assert!(matches!(
            error,
            HistoryError::HistoryTooLong { at, .. } if at == forged_cid(0)
        ));
        // A commit its own parent.
        let store = Forged { parent_of: |n| n };
        let mut walk = HistoryWalk::new(&store, forged_cid(5));
        assert!(matches!(
            walk.next().await,
            Err(HistoryError::HistoryTooLong { at, .. }) if at == forged_cid(5)
        ));
        // A loop that does not pass the start is walked once per commit.
        let store = Forged {
            parent_of: |n| if n == 0 { 1 } else { 1 + n % 3 },
        };
        let walked = steps(HistoryWalk::new(&store, forged_cid(0))).await;
        assert_eq!(walked.len(), 4);
    }
}
