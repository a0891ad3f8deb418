//! SIGKILL a writer at random moments: every named root must stay whole.
//!
//! The parent test re-runs this test binary as a child (selecting
//! `crash_child_writer` with the `HAMT_CRASH_CHILD_DIR` variable) that writes
//! block graphs and names their roots in a loop, printing each name after
//! `set_root` returns. The parent kills it, reopens the store and checks.
//! `HAMT_CRASH_KILLS` sets the number of kills (default 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{BlockStore, Cid};

const CHILD_DIR_VAR: &str = "HAMT_CRASH_CHILD_DIR";
const CHILD_RUN_VAR: &str = "HAMT_CRASH_CHILD_RUN";

fn zero_grace() -> RocksDbOptions {
    let mut options = RocksDbOptions::default();
    options.gc_grace = Duration::ZERO;
    options
}

/// The child: only does anything when the parent sets its variables.
#[tokio::test]
async fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let run: u64 = std::env::var(CHILD_RUN_VAR).unwrap().parse().unwrap();
    let store = RocksDbStore::open(&dir, &zero_grace()).unwrap();
    let mut previous = Vec::new();
    for generation in 0u64.. {
        let tag = format!("run{run}-gen{generation}");
        // Each generation shares the previous one's blocks, as HAMT versions do.
        let g = common::graph(
            &tag,
            30 + usize::try_from(generation % 50).unwrap(),
            &previous,
        );
        store.put_many(g.blocks.clone()).await.unwrap();
        store.set_root(&tag, &g.root).unwrap();
        println!("NAMED {tag} {}", g.root);
        if generation >= 3 {
            store
                .remove_root(&format!("run{run}-gen{}", generation - 3))
                .unwrap();
        }
        if generation % 7 == 6 {
            store.gc().unwrap();
        }
        previous = g.blocks.into_iter().take(5).collect(); // raw values only
    }
}

fn random_below(n: u64) -> u64 {
    RandomState::new().build_hasher().finish() % n
}

/// Runs one child, kills it at a random moment, returns the last root it reported.
fn run_and_kill(dir: &std::path::Path, run: u64) -> Option<(String, Cid)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_writer",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_VAR, dir)
        .env(CHILD_RUN_VAR, run.to_string())
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
    // Let it name a first root (or give up waiting), then kill at a random moment.
    let mut last = None;
    while last.is_none() {
        match lines_rx.recv_timeout(Duration::from_mins(2)) {
            Ok(line) => last = parse_named(&line),
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_millis(random_below(300)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    lines_rx
        .try_iter()
        .filter_map(|line| parse_named(&line))
        .last()
        .or(last)
}

fn parse_named(line: &str) -> Option<(String, Cid)> {
    // libtest may print "test crash_child_writer ... " before the first line.
    let mut words = line[line.find("NAMED ")? + "NAMED ".len()..].split(' ');
    let name = words.next()?.to_owned();
    let cid = Cid::try_from(words.next()?).ok()?;
    Some((name, cid))
}

fn check_every_root_is_whole(store: &RocksDbStore) {
    for (name, root) in store.roots().unwrap() {
        store
            .verify_dag(&root)
            .unwrap_or_else(|e| panic!("root {name} broken after a crash: {e}"));
    }
}

#[tokio::test]
async fn named_roots_survive_sigkill_at_random_moments() {
    if std::env::var(CHILD_DIR_VAR).is_ok() {
        return; // we are a child running the whole binary by mistake
    }
    let kills: u64 = std::env::var("HAMT_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let mut named_total = 0;
    for run in 0..kills {
        let last = run_and_kill(dir.path(), run);
        let store = RocksDbStore::open(dir.path(), &zero_grace()).unwrap();
        if let Some((name, cid)) = &last {
            named_total += 1;
            assert_eq!(
                store.root(name).unwrap(),
                Some(*cid),
                "run {run}: last reported root lost"
            );
            assert!(store.has(cid).await.unwrap());
        }
        check_every_root_is_whole(&store);
        // GC over a crash-recovered store keeps every named root whole too.
        store.gc().unwrap();
        check_every_root_is_whole(&store);
    }
    println!("{kills} kills, {named_total} runs had named a root; every root whole");
    assert!(named_total > 0, "no child ever named a root");
}
