//! Histories on the embedded store: concurrent writers, restarts, GC, time
//! travel, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use hamt_history::{CommitInfo, HistoryError, MemoryRefs, RefName, Refs, Repository};
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{BlockCodec, BlockStore, Cid, MemoryStore};

fn open(dir: &std::path::Path) -> Arc<RocksDbStore> {
    let mut options = RocksDbOptions::default();
    options.gc_grace = Duration::ZERO;
    Arc::new(RocksDbStore::open(dir, &options).unwrap())
}

/// A tiny dataset: a raw value under a DAG-CBOR list.
async fn dataset(store: &RocksDbStore, tag: &str) -> (Cid, Cid) {
    let value = store
        .put(
            BlockCodec::Raw,
            format!("value of {tag}").into_bytes().into(),
        )
        .await
        .unwrap();
    let root = hamt_codec::link_list::encode(&[Some(value)]);
    let root = store.put(BlockCodec::DagCbor, root.into()).await.unwrap();
    (root, value)
}

/// Writers on one branch, each committing and retrying on conflict: every
/// commit lands exactly once, one after another, and losers saw conflicts.
#[test]
fn concurrent_writers_never_lose_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let writers = 4;
    let per_writer = 15;
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                let repo = Repository::new(Arc::clone(&store), Arc::clone(&store));
                let mut conflicts = 0;
                for i in 0..per_writer {
                    let (root, _) = runtime.block_on(dataset(&store, &format!("{w}-{i}")));
                    loop {
                        let info = CommitInfo::new(format!("writer {w}"), format!("{w}-{i}"));
                        match runtime.block_on(repo.commit("main", root, info)) {
                            Ok(_) => break,
                            Err(HistoryError::Conflict(conflict)) => {
                                assert_ne!(conflict.actual, Some(conflict.ours));
                                assert_ne!(conflict.actual, conflict.expected);
                                conflicts += 1;
                            }
                            Err(other) => panic!("{other}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    println!("{conflicts} conflicts retried");
    assert!(
        conflicts > 0,
        "no two writers raced: the conflict path was not run"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let repo = Repository::new(Arc::clone(&store), Arc::clone(&store));
    let log = runtime.block_on(repo.log("main", 1000)).unwrap();
    assert_eq!(log.len(), writers * per_writer);
    let mut messages: Vec<String> = log.iter().map(|(_, c)| c.message.clone()).collect();
    messages.sort();
    messages.dedup();
    assert_eq!(
        messages.len(),
        writers * per_writer,
        "a commit landed twice"
    );
    // Each writer's commits are in its own order along the history.
    for w in 0..writers {
        let mine: Vec<usize> = log
            .iter()
            .rev()
            .filter(|(_, c)| c.author == format!("writer {w}"))
            .map(|(_, c)| c.message.rsplit('-').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(mine, (0..per_writer).collect::<Vec<_>>());
    }
}

/// History outlives the process, and GC keeps every version a branch's
/// history reaches (and nothing else).
#[tokio::test]
async fn history_survives_a_restart_and_gc_keeps_every_version() {
    let dir = tempfile::tempdir().unwrap();
    let (v1_value, v2_value, loose_value);
    {
        let store = open(dir.path());
        let repo = Repository::new(Arc::clone(&store), Arc::clone(&store));
        let (v1, a) = dataset(&store, "v1").await;
        let (v2, b) = dataset(&store, "v2").await;
        let (_, c) = dataset(&store, "never committed").await;
        (v1_value, v2_value, loose_value) = (a, b, c);
        repo.commit("main", v1, CommitInfo::new("me", "v1").at_ms(1_000))
            .await
            .unwrap();
        repo.commit("main", v2, CommitInfo::new("me", "v2").at_ms(2_000))
            .await
            .unwrap();
        repo.tag("first", "main~1").await.unwrap();
    }
    let store = open(dir.path());
    let report = store.gc().unwrap();
    assert!(report.blocks_removed >= 2, "{report:?}");
    assert!(
        store.has(&v1_value).await.unwrap(),
        "an old version was swept"
    );
    assert!(store.has(&v2_value).await.unwrap());
    assert!(!store.has(&loose_value).await.unwrap());
    let repo = Repository::new(Arc::clone(&store), Arc::clone(&store));
    let log = repo.log("main", 10).await.unwrap();
    let messages: Vec<&str> = log.iter().map(|(_, c)| c.message.as_str()).collect();
    assert_eq!(messages, ["v2", "v1"]);
    assert_eq!(repo.resolve("first").await.unwrap(), log[1].0);
    let refs: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|(name, _)| name.key())
        .collect();
    assert_eq!(refs, ["refs/heads/main", "refs/tags/first"]);
    assert!(matches!(
        repo.tag("first", "main").await,
        Err(HistoryError::TagExists(_))
    ));
}

/// `@{TIME}` finds the newest commit at or before a time, exactly on a
/// commit's time and between two; before the first is an error.
#[tokio::test]
async fn time_travel_at_and_between_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let repo = Repository::new(Arc::clone(&store), Arc::clone(&store));
    let mut commits = Vec::new();
    for day in 1..=5u64 {
        let (root, _) = dataset(&store, &format!("day {day}")).await;
        let info = CommitInfo::new("loader", format!("day {day}")).at_ms(day * 86_400_000);
        commits.push(repo.commit("main", root, info).await.unwrap());
    }
    assert_eq!(repo.resolve("main@{1970-01-03}").await.unwrap(), commits[1]);
    assert_eq!(
        repo.resolve("main@{1970-01-03T12:00:00Z}").await.unwrap(),
        commits[1]
    );
    assert_eq!(repo.resolve("main@{432000}").await.unwrap(), commits[4]);
    assert_eq!(repo.resolve("main@{2100-01-01}").await.unwrap(), commits[4]);
    assert!(matches!(
        repo.resolve("main@{1970-01-01T23:59:59Z}").await,
        Err(HistoryError::BeforeHistory { walked: 5, .. })
    ));
    assert_eq!(repo.resolve("main~4").await.unwrap(), commits[0]);
    assert_eq!(
        repo.resolve(&format!("{}~1", commits[3])).await.unwrap(),
        commits[2]
    );
    assert!(matches!(
        repo.resolve("main~5").await,
        Err(HistoryError::BeforeHistory { .. })
    ));
    assert!(matches!(
        repo.resolve("nope").await,
        Err(HistoryError::UnknownRevision(_))
    ));
}

/// A ref moved over a commit that is not one, or a history through a
/// malformed block: typed errors, not panics or silent truncation.
#[tokio::test]
async fn malformed_commits_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let repo = Repository::new(Arc::clone(&store), Arc::clone(&store));
    let (root, _) = dataset(&store, "data").await;
    // The dataset root itself is no commit.
    store
        .swap_root("refs/heads/bad", None, &root)
        .unwrap()
        .unwrap();
    assert!(matches!(
        repo.resolve("bad").await,
        Err(HistoryError::MalformedCommit { cid: Some(c), .. }) if c == root
    ));
    assert!(matches!(
        repo.log("bad", 5).await,
        Err(HistoryError::MalformedCommit { .. })
    ));
    // A parent that is not a commit is refused before anything moves.
    assert!(matches!(
        repo.commit_with_parents("side", None, root, vec![root], CommitInfo::new("me", "odd"))
            .await,
        Err(HistoryError::MalformedCommit { cid: Some(c), .. }) if c == root
    ));
    assert!(matches!(
        repo.resolve("side").await,
        Err(HistoryError::UnknownRevision(_))
    ));
    // A commit is not a dataset to commit.
    let first = repo
        .commit("main2", root, CommitInfo::new("me", "first"))
        .await
        .unwrap();
    assert!(matches!(
        repo.commit("main2", first, CommitInfo::new("me", "nested"))
            .await,
        Err(HistoryError::MalformedCommit { .. })
    ));
    // A commit block written by someone else, whose parent is not a
    // commit: the walk stops there with the error.
    let odd = hamt_history::Commit {
        root,
        parents: vec![root],
        time_ms: 5,
        author: "elsewhere".into(),
        message: "odd".into(),
        meta: std::collections::BTreeMap::new(),
    };
    let odd = store
        .put(BlockCodec::DagCbor, odd.encode().unwrap().into())
        .await
        .unwrap();
    store
        .swap_root("refs/heads/side", None, &odd)
        .unwrap()
        .unwrap();
    assert!(matches!(
        repo.resolve("side~1").await,
        Err(HistoryError::MalformedCommit { .. })
    ));
    assert_eq!(repo.resolve("side").await.unwrap(), odd);
    // A commit over a dataset that is not all there cannot be referenced.
    let missing = hamt_codec::block_cid(
        BlockCodec::DagCbor,
        hamt_codec::HashAlgorithm::Blake3,
        b"gone",
    );
    assert!(matches!(
        repo.commit("main", missing, CommitInfo::new("me", "hole")).await,
        Err(HistoryError::Store(hamt_store::StoreError::NotFound(c))) if c == missing
    ));
    assert_eq!(
        Refs::get(&*store, &hamt_history::RefName::branch("main").unwrap())
            .await
            .unwrap(),
        None
    );
}

/// Merge plans over a history with a merge commit in it, and one unrelated.
#[tokio::test]
async fn merge_plans_find_the_newest_common_ancestor() {
    use hamt_history::MergePlan;
    let repo = Repository::new(MemoryStore::new(), MemoryRefs::new());
    let data = repo
        .store()
        .put(BlockCodec::DagCbor, vec![0xa0].into())
        .await
        .unwrap();
    let info = |m: &str| CommitInfo::new("t", m);
    let root = repo.commit("main", data, info("root")).await.unwrap();
    let dev = RefName::branch("dev").unwrap();
    repo.refs().swap(&dev, None, &root).await.unwrap().unwrap();
    let m1 = repo.commit("main", data, info("m1")).await.unwrap();
    let d1 = repo.commit("dev", data, info("d1")).await.unwrap();
    assert_eq!(
        repo.merge_plan(&m1, &d1).await.unwrap(),
        MergePlan::ThreeWay { base: root }
    );
    // dev merged into main: the next merge's base is d1, not root.
    let merged = repo
        .commit_with_parents("main", Some(m1), data, vec![m1, d1], info("merge"))
        .await
        .unwrap();
    let d2 = repo.commit("dev", data, info("d2")).await.unwrap();
    assert_eq!(
        repo.merge_plan(&merged, &d2).await.unwrap(),
        MergePlan::ThreeWay { base: d1 }
    );
    assert_eq!(
        repo.merge_plan(&merged, &d1).await.unwrap(),
        MergePlan::UpToDate
    );
    assert_eq!(
        repo.merge_plan(&d1, &merged).await.unwrap(),
        MergePlan::FastForward
    );
    let other = repo.commit("other", data, info("alone")).await.unwrap();
    assert_eq!(
        repo.merge_plan(&merged, &other).await.unwrap(),
        MergePlan::Unrelated
    );
}
