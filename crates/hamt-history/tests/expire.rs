//! Expiring old history: what stays in the log and the refs, what a GC then
//! keeps (exactly what the retained history reaches, checked against a
//! model), conflicts, tags, and forged histories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hamt_codec::{HashAlgorithm, block_cid};
use hamt_history::{
    Commit, CommitInfo, EXPIRED_BEFORE, ExpireOptions, HistoryError, MemoryRefs, RefName, Refs,
    RefsFuture, Repository, Swapped, TagChange,
};
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{BlockCodec, BlockStore, Cid, MemoryStore};
use parking_lot::Mutex;
use proptest::prelude::*;

fn open(dir: &std::path::Path) -> Arc<RocksDbStore> {
    let mut options = RocksDbOptions::default();
    options.gc_grace = Duration::ZERO;
    Arc::new(RocksDbStore::open(dir, &options).unwrap())
}

type RocksRepo = Repository<Arc<RocksDbStore>, Arc<RocksDbStore>>;

fn repo_of(store: &Arc<RocksDbStore>) -> RocksRepo {
    Repository::new(Arc::clone(store), Arc::clone(store))
}

/// A tiny dataset: a raw value under a DAG-CBOR list. Returns its blocks,
/// root first.
async fn dataset<S: BlockStore>(store: &S, value: u8) -> [Cid; 2] {
    let leaf = store
        .put(BlockCodec::Raw, vec![b'v', value].into())
        .await
        .unwrap();
    let root = hamt_codec::link_list::encode(&[Some(leaf)]);
    let root = store.put(BlockCodec::DagCbor, root.into()).await.unwrap();
    [root, leaf]
}

/// Commits datasets 1..=n on main at 1 s, 2 s, …; returns (commit, root).
async fn history<S: BlockStore, R: Refs>(repo: &Repository<S, R>, n: u8) -> Vec<(Cid, Cid)> {
    let mut commits = Vec::new();
    for version in 1..=n {
        let [root, _] = dataset(repo.store(), version).await;
        let info = CommitInfo::new("me", format!("v{version}")).at_ms(u64::from(version) * 1000);
        commits.push((repo.commit("main", root, info).await.unwrap(), root));
    }
    commits
}

fn messages(log: &[(Cid, Commit)]) -> Vec<&str> {
    log.iter().map(|(_, c)| c.message.as_str()).collect()
}

/// The log after expiry: the same commits from the cutoff on (messages,
/// times, roots), ending at a root commit that records the cutoff; time
/// travel before it finds nothing; expiring again changes nothing.
#[tokio::test]
async fn the_log_keeps_the_commits_from_the_cutoff_on() {
    let repo = Repository::new(MemoryStore::new(), MemoryRefs::new());
    let made = history(&repo, 5).await;
    let before = repo.log("main", 10).await.unwrap();

    let report = repo.expire(3000, ExpireOptions::new()).await.unwrap();
    let [main] = &report.branches[..] else {
        panic!("{report:?}")
    };
    assert_eq!(
        (main.name.as_str(), main.kept, main.dropped),
        ("main", 3, 2)
    );
    assert_eq!(main.old_head, made[4].0);
    assert_ne!(main.new_head, main.old_head);

    let after = repo.log("main", 10).await.unwrap();
    assert_eq!(messages(&after), ["v5", "v4", "v3"]);
    assert_eq!(after[0].0, main.new_head);
    for ((_, new), (_, old)) in after.iter().zip(&before) {
        assert_eq!(
            (new.root, new.time_ms, &new.author),
            (old.root, old.time_ms, &old.author)
        );
    }
    let oldest = &after[2].1;
    assert!(oldest.parents.is_empty());
    assert_eq!(
        oldest.meta.get(EXPIRED_BEFORE).map(String::as_str),
        Some("3000")
    );
    assert!(!after[1].1.meta.contains_key(EXPIRED_BEFORE));
    assert_eq!(repo.resolve("main@{3}").await.unwrap(), after[2].0);
    assert!(matches!(
        repo.resolve("main@{2}").await,
        Err(HistoryError::BeforeHistory { .. })
    ));

    let again = repo.expire(3000, ExpireOptions::new()).await.unwrap();
    assert_eq!(again.branches[0].new_head, main.new_head);
    assert_eq!((again.branches[0].kept, again.branches[0].dropped), (3, 0));
}

/// A branch whose head is older than the cutoff keeps its head alone.
#[tokio::test]
async fn an_old_head_is_kept_alone() {
    let repo = Repository::new(MemoryStore::new(), MemoryRefs::new());
    history(&repo, 3).await;
    let report = repo.expire(10_000, ExpireOptions::new()).await.unwrap();
    assert_eq!(
        (report.branches[0].kept, report.branches[0].dropped),
        (1, 2)
    );
    let log = repo.log("main", 10).await.unwrap();
    assert_eq!(messages(&log), ["v3"]);
    assert!(log[0].1.parents.is_empty());
}

/// Refs that let another writer commit on a branch just before the
/// expiry's swap of it.
struct Interrupted {
    refs: MemoryRefs,
    /// The branch and the commit the other writer lands on it.
    interloper: Mutex<Option<(RefName, Cid)>>,
}

impl Refs for Interrupted {
    fn get<'a>(&'a self, name: &'a RefName) -> RefsFuture<'a, Option<Cid>> {
        self.refs.get(name)
    }

    fn swap<'a>(
        &'a self,
        name: &'a RefName,
        expected: Option<&'a Cid>,
        new: &'a Cid,
    ) -> RefsFuture<'a, Swapped> {
        // The other writer's commit, taken before any await (the lock
        // is not held across one).
        let theirs = {
            let mut interloper = self.interloper.lock();
            match interloper.as_ref() {
                Some((branch, _)) if branch == name => interloper.take().map(|(_, c)| c),
                _ => None,
            }
        };
        Box::pin(async move {
            if let Some(theirs) = theirs {
                self.refs.swap(name, expected, &theirs).await?.unwrap();
            }
            self.refs.swap(name, expected, new).await
        })
    }

    fn remove<'a>(&'a self, name: &'a RefName, expected: &'a Cid) -> RefsFuture<'a, Swapped> {
        self.refs.remove(name, expected)
    }

    fn list(&self) -> RefsFuture<'_, Vec<(RefName, Cid)>> {
        self.refs.list()
    }
}

/// A commit landing on a branch while it is expired: the branch keeps it
/// (and its whole history), the call is a conflict, and the other branch
/// is expired all the same.
#[tokio::test]
async fn a_commit_landing_during_expiry_is_a_conflict() {
    let refs = Interrupted {
        refs: MemoryRefs::new(),
        interloper: Mutex::new(None),
    };
    let repo = Repository::new(MemoryStore::new(), refs);
    let made = history(&repo, 3).await;
    let dev = RefName::branch("dev").unwrap();
    repo.refs()
        .swap(&dev, None, &made[2].0)
        .await
        .unwrap()
        .unwrap();
    // The other writer's commit, made as `commit` would after main's head.
    let theirs = Commit {
        root: made[2].1,
        parents: vec![made[2].0],
        time_ms: 4000,
        author: "other".into(),
        message: "meanwhile".into(),
        meta: BTreeMap::new(),
    };
    let theirs = repo
        .store()
        .put(BlockCodec::DagCbor, theirs.encode().unwrap().into())
        .await
        .unwrap();
    let main = RefName::branch("main").unwrap();
    *repo.refs().interloper.lock() = Some((main.clone(), theirs));

    match repo.expire(2000, ExpireOptions::new()).await {
        Err(HistoryError::Conflict(conflict)) => {
            assert_eq!(conflict.name, main);
            assert_eq!(conflict.expected, Some(made[2].0));
            assert_eq!(conflict.actual, Some(theirs));
        }
        other => panic!("{other:?}"),
    }
    let log = repo.log("main", 10).await.unwrap();
    assert_eq!(messages(&log), ["meanwhile", "v3", "v2", "v1"]);
    assert_eq!(log[0].0, theirs);
    let dev_log = repo.log("dev", 10).await.unwrap();
    assert_eq!(messages(&dev_log), ["v3", "v2"], "dev was not expired");
}

/// With `keep_tags` an old tag stays, resolvable, and GC keeps its data;
/// the expired commits no ref reaches are swept.
#[tokio::test]
async fn keep_tags_keeps_an_old_tag_and_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let repo = repo_of(&store);
    let made = history(&repo, 3).await;
    let tagged = repo.tag("old", "main~2").await.unwrap();
    assert_eq!(tagged, made[0].0);

    let report = repo
        .expire(2500, ExpireOptions::new().keep_tags(true))
        .await
        .unwrap();
    assert!(report.tags.is_empty());
    store.gc().unwrap();
    assert_eq!(repo.resolve("old").await.unwrap(), made[0].0);
    let [v1_root, v1_leaf] = dataset(&MemoryStore::new(), 1).await;
    assert_eq!(v1_root, made[0].1);
    assert!(
        store.has(&v1_leaf).await.unwrap(),
        "the tag's data was swept"
    );
    let [_, v2_leaf] = dataset(&MemoryStore::new(), 2).await;
    assert!(
        !store.has(&v2_leaf).await.unwrap(),
        "v2 is reached by no ref"
    );
    assert!(!store.has(&made[1].0).await.unwrap());
    assert_eq!(messages(&repo.log("main", 10).await.unwrap()), ["v3"]);
}

/// Without `keep_tags` a tag on an expired commit is removed (and GC
/// sweeps its data) and a tag on a retained commit moves to the rewrite.
#[tokio::test]
async fn tags_follow_their_commits_or_go() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let repo = repo_of(&store);
    let made = history(&repo, 3).await;
    repo.tag("old", "main~2").await.unwrap();
    repo.tag("recent", "main~1").await.unwrap();

    let report = repo.expire(2000, ExpireOptions::new()).await.unwrap();
    let recent = repo.resolve("main~1").await.unwrap();
    let changes: Vec<(&str, TagChange)> = report
        .tags
        .iter()
        .map(|t| (t.name.as_str(), t.change))
        .collect();
    assert_eq!(
        changes,
        [
            ("old", TagChange::Removed { was: made[0].0 }),
            (
                "recent",
                TagChange::Moved {
                    from: made[1].0,
                    to: recent
                }
            ),
        ]
    );
    store.gc().unwrap();
    assert!(matches!(
        repo.resolve("old").await,
        Err(HistoryError::UnknownRevision(_))
    ));
    assert_eq!(repo.resolve("recent").await.unwrap(), recent);
    let [_, v1_leaf] = dataset(&MemoryStore::new(), 1).await;
    assert!(!store.has(&v1_leaf).await.unwrap());
    assert!(!store.has(&made[0].0).await.unwrap());
    let tags: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name.key())
        .collect();
    assert_eq!(tags, ["refs/heads/main", "refs/tags/recent"]);
}

/// `--branch`-style selection: only the named branch moves; a tag in the
/// history of a branch left as it was stays; an unknown branch is an error
/// before anything moves.
#[tokio::test]
async fn only_the_named_branches_expire() {
    let repo = Repository::new(MemoryStore::new(), MemoryRefs::new());
    let made = history(&repo, 3).await;
    let dev = RefName::branch("dev").unwrap();
    repo.refs()
        .swap(&dev, None, &made[0].0)
        .await
        .unwrap()
        .unwrap();
    repo.tag("first", "dev").await.unwrap();

    assert!(matches!(
        repo.expire(2500, ExpireOptions::new().branch("nope")).await,
        Err(HistoryError::UnknownRevision(name)) if name == "nope"
    ));
    assert_eq!(repo.resolve("main").await.unwrap(), made[2].0);

    let report = repo
        .expire(2500, ExpireOptions::new().branch("main"))
        .await
        .unwrap();
    assert_eq!(report.branches.len(), 1);
    assert!(report.tags.is_empty(), "{:?}", report.tags);
    assert_eq!(repo.resolve("first").await.unwrap(), made[0].0);
    assert_eq!(repo.resolve("dev").await.unwrap(), made[0].0);
    assert_eq!(messages(&repo.log("main", 10).await.unwrap()), ["v3"]);
}

/// A history that loops back (only forged CIDs can make one) is refused
/// with a typed error naming where, and nothing moves.
#[tokio::test]
async fn a_forged_cycle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = RocksDbOptions::default();
    options.verify_reads = false;
    let store = RocksDbStore::open(dir.path(), &options).unwrap();
    let [root, _] = dataset(&store, 1).await;
    let commit = |parent: Cid, time_ms: u64| Commit {
        root,
        parents: vec![parent],
        time_ms,
        author: "forger".into(),
        message: String::new(),
        meta: BTreeMap::new(),
    };
    // `forged` is a CID whose block names `real` as its parent, while
    // `real` names `forged`.
    let forged = block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b"forged");
    let real = store
        .put(
            BlockCodec::DagCbor,
            commit(forged, 1000).encode().unwrap().into(),
        )
        .await
        .unwrap();
    store
        .put_unverified(&forged, &commit(real, 2000).encode().unwrap())
        .unwrap();
    let repo = Repository::new(store, MemoryRefs::new());
    let main = RefName::branch("main").unwrap();
    repo.refs()
        .swap(&main, None, &forged)
        .await
        .unwrap()
        .unwrap();

    match repo.expire(0, ExpireOptions::new()).await {
        Err(HistoryError::HistoryTooLong { revision, at }) => {
            assert_eq!(revision, "refs/heads/main");
            assert_eq!(at, forged);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(repo.refs().get(&main).await.unwrap(), Some(forged));
}

// ---------------------------------------------------------------------------
// The model check.

const BRANCHES: [&str; 3] = ["main", "dev", "exp"];

#[derive(Debug, Clone)]
enum Op {
    /// Commit dataset `value` on a branch (created if new).
    Commit { branch: usize, value: u8 },
    /// Commit dataset `value` on `into` with its head and `from`'s as
    /// parents.
    Merge { into: usize, from: usize, value: u8 },
    /// Create a branch at the `at`-th commit made (modulo their count).
    Branch { branch: usize, at: usize },
    /// Tag the `at`-th commit made.
    Tag { at: usize },
}

fn arb_op() -> impl Strategy<Value = Op> {
    let branch = 0..BRANCHES.len();
    let value = 0u8..6;
    prop_oneof![
        4 => (branch.clone(), value.clone()).prop_map(|(branch, value)| Op::Commit { branch, value }),
        1 => (branch.clone(), branch.clone(), value)
            .prop_map(|(into, from, value)| Op::Merge { into, from, value }),
        1 => (branch, any::<usize>()).prop_map(|(branch, at)| Op::Branch { branch, at }),
        1 => any::<usize>().prop_map(|at| Op::Tag { at }),
    ]
}

/// The reference model: every commit made (and rewritten), by CID, and
/// the blocks of each dataset.
#[derive(Default)]
struct Model {
    commits: HashMap<Cid, Commit>,
    made: Vec<Cid>,
    datasets: HashMap<Cid, [Cid; 2]>,
    branches: BTreeMap<String, Cid>,
    tags: BTreeMap<String, Cid>,
}

impl Model {
    /// Records a commit, checking the model encodes it as the repository did.
    fn record(&mut self, cid: Cid, commit: Commit) {
        assert_eq!(encoded_cid(&commit), cid, "the model encodes another block");
        self.commits.insert(cid, commit);
        self.made.push(cid);
    }

    /// The model's own expiry rule: from each head, keep it and every
    /// parent (transitively) made at or after the cutoff; rewrite bottom
    /// up; tags follow their commits, go with them, or (on a commit no
    /// branch reached) stay.
    fn expire(&mut self, cutoff: u64, keep_tags: bool) {
        // One branch's rewrites must not decide another's: each branch is
        // rewritten on its own, and a commit two branches retain must come
        // out the same from both.
        let mut rewrites_anywhere: HashMap<Cid, Cid> = HashMap::new();
        // Every commit of the old histories: a tag elsewhere stays.
        let mut old_history = BTreeSet::new();
        let mut todo: Vec<Cid> = self.branches.values().copied().collect();
        while let Some(cid) = todo.pop() {
            if old_history.insert(cid) {
                todo.extend(&self.commits[&cid].parents);
            }
        }
        for head in self.branches.values_mut() {
            let mut rewrites = HashMap::new();
            let mut retained = BTreeSet::from([*head]);
            let mut todo = vec![*head];
            while let Some(cid) = todo.pop() {
                for parent in &self.commits[&cid].parents {
                    if self.commits[parent].time_ms >= cutoff && retained.insert(*parent) {
                        todo.push(*parent);
                    }
                }
            }
            *head = rewrite(&mut self.commits, &retained, &mut rewrites, *head, cutoff);
            for (old, new) in rewrites {
                let first = *rewrites_anywhere.entry(old).or_insert(new);
                assert_eq!(first, new, "two branches rewrite {old} differently");
            }
        }
        if !keep_tags {
            self.tags = std::mem::take(&mut self.tags)
                .into_iter()
                .filter_map(|(name, cid)| match rewrites_anywhere.get(&cid) {
                    Some(rewrite) => Some((name, *rewrite)),
                    None if old_history.contains(&cid) => None,
                    None => Some((name, cid)),
                })
                .collect();
        }
    }

    /// Every block the refs reach: commits and their datasets.
    fn reachable(&self) -> BTreeSet<Cid> {
        let mut reached = BTreeSet::new();
        let mut todo: Vec<Cid> = self
            .branches
            .values()
            .chain(self.tags.values())
            .copied()
            .collect();
        while let Some(cid) = todo.pop() {
            if reached.insert(cid) {
                let commit = &self.commits[&cid];
                reached.extend(self.datasets[&commit.root]);
                todo.extend(&commit.parents);
            }
        }
        reached
    }
}

fn encoded_cid(commit: &Commit) -> Cid {
    block_cid(
        BlockCodec::DagCbor,
        HashAlgorithm::Blake3,
        &commit.encode().unwrap(),
    )
}

/// `cid`'s rewrite for a branch retaining `retained`, parents first.
fn rewrite(
    commits: &mut HashMap<Cid, Commit>,
    retained: &BTreeSet<Cid>,
    rewrites: &mut HashMap<Cid, Cid>,
    cid: Cid,
    cutoff: u64,
) -> Cid {
    if let Some(done) = rewrites.get(&cid) {
        return *done;
    }
    let mut commit = commits[&cid].clone();
    let old_parents = std::mem::take(&mut commit.parents);
    for parent in &old_parents {
        if retained.contains(parent) {
            let new = rewrite(commits, retained, rewrites, *parent, cutoff);
            commit.parents.push(new);
        }
    }
    if commit.parents.len() < old_parents.len() {
        commit
            .meta
            .insert(EXPIRED_BEFORE.into(), cutoff.to_string());
    }
    let new = encoded_cid(&commit);
    commits.insert(new, commit);
    rewrites.insert(cid, new);
    new
}

/// Runs `ops` on a fresh store and the model, expires both, GCs the store:
/// it must hold exactly what the model's refs reach.
async fn check_expiry(ops: Vec<Op>, cutoff_step: u64, keep_tags: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let repo = repo_of(&store);
    let mut model = Model::default();
    let mut time = 0;
    for op in ops {
        time += 1000;
        match op {
            Op::Commit { branch, value } => {
                let blocks = dataset(&*store, value).await;
                model.datasets.insert(blocks[0], blocks);
                let name = BRANCHES[branch];
                let info = CommitInfo::new("model", format!("commit {time}")).at_ms(time);
                let cid = repo.commit(name, blocks[0], info).await.unwrap();
                let head = model.branches.insert(name.to_owned(), cid);
                let commit = model_commit(blocks[0], head.into_iter().collect(), time);
                model.record(cid, commit);
            }
            Op::Merge { into, from, value } => {
                let (target, source) = (BRANCHES[into], BRANCHES[from]);
                let (Some(&ours), Some(&theirs)) =
                    (model.branches.get(target), model.branches.get(source))
                else {
                    continue;
                };
                if ours == theirs {
                    continue;
                }
                let blocks = dataset(&*store, value).await;
                model.datasets.insert(blocks[0], blocks);
                let info = CommitInfo::new("model", format!("commit {time}")).at_ms(time);
                let cid = repo
                    .commit_with_parents(target, Some(ours), blocks[0], vec![ours, theirs], info)
                    .await
                    .unwrap();
                model.branches.insert(target.to_owned(), cid);
                model.record(cid, model_commit(blocks[0], vec![ours, theirs], time));
            }
            Op::Branch { branch, at } => {
                let name = BRANCHES[branch];
                if model.made.is_empty() || model.branches.contains_key(name) {
                    continue;
                }
                let commit = model.made[at % model.made.len()];
                let branch = RefName::branch(name).unwrap();
                repo.refs()
                    .swap(&branch, None, &commit)
                    .await
                    .unwrap()
                    .unwrap();
                model.branches.insert(name.to_owned(), commit);
            }
            Op::Tag { at } => {
                if model.made.is_empty() {
                    continue;
                }
                let commit = model.made[at % model.made.len()];
                let name = format!("t{time}");
                repo.tag(&name, &commit.to_string()).await.unwrap();
                model.tags.insert(name, commit);
            }
        }
    }
    let cutoff = cutoff_step * 1000;
    let options = ExpireOptions::new().keep_tags(keep_tags);
    let report = repo.expire(cutoff, options).await.unwrap();
    model.expire(cutoff, keep_tags);
    store.gc().unwrap();

    let refs: BTreeMap<String, Cid> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|(name, cid)| (name.key(), cid))
        .collect();
    let expected_refs: BTreeMap<String, Cid> = model
        .branches
        .iter()
        .map(|(name, cid)| (format!("refs/heads/{name}"), *cid))
        .chain(
            model
                .tags
                .iter()
                .map(|(name, cid)| (format!("refs/tags/{name}"), *cid)),
        )
        .collect();
    assert_eq!(refs, expected_refs, "{report:?}");
    let held: BTreeSet<Cid> = store.cids().unwrap().into_iter().collect();
    assert_eq!(held, model.reachable(), "{report:?}");
}

fn model_commit(root: Cid, parents: Vec<Cid>, time_ms: u64) -> Commit {
    Commit {
        root,
        parents,
        time_ms,
        author: "model".into(),
        message: format!("commit {time_ms}"),
        meta: BTreeMap::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// After expiry and a GC with no grace period, the store holds exactly
    /// the blocks the model's retained history reaches: no expired commit
    /// or dataset survives, nothing retained is lost.
    #[test]
    fn gc_after_expiry_keeps_exactly_the_retained_history(
        ops in proptest::collection::vec(arb_op(), 1..=20),
        cutoff_step in 0u64..=22,
        keep_tags in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(check_expiry(ops, cutoff_step, keep_tags));
    }
}
