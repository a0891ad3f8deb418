//! SIGKILL a committing writer at random moments: the branch must name a
//! whole commit afterwards, with its whole history and every version's
//! dataset, and keep every commit the writer reported (the ref update, one
//! synced write, is the commit point).
//!
//! The parent test re-runs this test binary as a child (selecting
//! `crash_child_committer` with `HAMT_HISTORY_CRASH_DIR`) that commits new
//! versions of a small dataset in a loop, with a zero-grace GC now and then,
//! printing each commit after `commit` returns. `HAMT_CRASH_KILLS` sets the
//! number of kills (default 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use hamt_history::{CommitInfo, Repository};
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{BlockCodec, BlockStore, Cid};

const CHILD_DIR_VAR: &str = "HAMT_HISTORY_CRASH_DIR";

fn zero_grace() -> RocksDbOptions {
    let mut options = RocksDbOptions::default();
    options.gc_grace = Duration::ZERO;
    options
}

/// A DAG-CBOR list of links.
fn list_of(links: &[Cid]) -> Vec<u8> {
    let len = u8::try_from(links.len()).unwrap();
    let mut data = if len < 24 {
        vec![0x80 + len]
    } else {
        vec![0x98, len]
    };
    for link in links {
        let bytes = link.to_bytes();
        data.extend([0xd8, 0x2a, 0x58, u8::try_from(bytes.len() + 1).unwrap(), 0]);
        data.extend(bytes);
    }
    data
}

/// The child: only does anything when the parent sets its variable.
#[tokio::test]
async fn crash_child_committer() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let store = Arc::new(RocksDbStore::open(&dir, &zero_grace()).unwrap());
    let repo = Repository::new(Arc::clone(&store), Arc::clone(&store));
    let mut leaves: Vec<Cid> = Vec::new();
    for version in 0u64.. {
        // Each version keeps most of the last one's values, as datasets do.
        let mut fresh = Vec::new();
        for i in 0..20u64 {
            let value = format!("{dir}/{version}/{i}").into_bytes();
            fresh.push(store.put(BlockCodec::Raw, value.into()).await.unwrap());
        }
        leaves.truncate(100);
        leaves.splice(0..0, fresh);
        let root = store
            .put(BlockCodec::DagCbor, list_of(&leaves).into())
            .await
            .unwrap();
        let commit = repo
            .commit(
                "main",
                root,
                CommitInfo::new("crash", format!("v{version}")),
            )
            .await
            .unwrap();
        println!("COMMITTED {commit}");
        if version % 5 == 4 {
            store.gc().unwrap();
        }
    }
}

fn random_below(n: u64) -> u64 {
    RandomState::new().build_hasher().finish() % n
}

/// Runs one child, kills it at a random moment, returns the commits it
/// reported.
fn run_and_kill(dir: &std::path::Path) -> Vec<Cid> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_committer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_VAR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut reported = Vec::new();
    // Let it commit once (or give up waiting), then kill at a random moment.
    while reported.is_empty() {
        match lines_rx.recv_timeout(Duration::from_mins(2)) {
            Ok(line) => reported.extend(parse_committed(&line)),
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_millis(random_below(400)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    reported.extend(
        lines_rx
            .try_iter()
            .filter_map(|line| parse_committed(&line)),
    );
    reported
}

fn parse_committed(line: &str) -> Option<Cid> {
    // libtest may print "test crash_child_committer ... " before it.
    let cid = line[line.find("COMMITTED ")? + "COMMITTED ".len()..].trim();
    Cid::try_from(cid).ok()
}

#[tokio::test]
async fn a_branch_survives_sigkill_during_commits() {
    if std::env::var(CHILD_DIR_VAR).is_ok() {
        return; // a child running the whole binary by mistake
    }
    let kills: u64 = std::env::var("HAMT_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let mut all_reported = Vec::new();
    for run in 0..kills {
        all_reported.extend(run_and_kill(dir.path()));
        let store = Arc::new(RocksDbStore::open(dir.path(), &zero_grace()).unwrap());
        let repo = Repository::new(Arc::clone(&store), Arc::clone(&store));
        let Ok(head) = repo.resolve("main").await else {
            assert!(all_reported.is_empty(), "run {run}: main lost");
            continue;
        };
        // The whole history and every version's dataset are there.
        store
            .verify_dag(&head)
            .unwrap_or_else(|e| panic!("run {run}: main broken after a crash: {e}"));
        let log: Vec<Cid> = repo
            .log("main", usize::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|(cid, _)| cid)
            .collect();
        // Every commit reported is in it: none was lost, and (one chain,
        // newest first) they come in the order they were reported.
        let positions: Vec<usize> = all_reported
            .iter()
            .map(|c| {
                log.iter()
                    .position(|l| l == c)
                    .unwrap_or_else(|| panic!("run {run}: reported commit {c} lost"))
            })
            .collect();
        assert!(
            positions.windows(2).all(|p| p[0] > p[1]),
            "run {run}: order"
        );
        // A GC after the crash keeps it all whole.
        store.gc().unwrap();
        store.verify_dag(&head).unwrap();
    }
    println!(
        "{kills} kills, {} commits reported, none lost",
        all_reported.len()
    );
    assert!(!all_reported.is_empty(), "no child ever committed");
}
