//! Versioned datasets in CAR files: `hamt car export REVISION` writes a
//! commit with its history and every commit's dataset; `hamt car import
//! --branch` brings it back as a branch, by fast-forward only. The real
//! `hamt` binary on temporary RocksDB stores.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{hamt, hamt_kubo, s};

/// A temporary directory for stores, data and CARs.
struct World {
    base: PathBuf,
    _tmp: TempDir,
}

impl World {
    fn new() -> World {
        let tmp = TempDir::new().unwrap();
        World {
            base: tmp.path().to_path_buf(),
            _tmp: tmp,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }

    /// A file holding `bytes`, for `put`.
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        s(&path).to_owned()
    }
}

/// Commits on `branch` a dataset with `key` set to `value` (on top of the
/// branch's head, or alone for a new branch); returns the commit.
fn commit_put(w: &World, store: &Path, branch: &str, key: &str, value: &str) -> String {
    let file = w.file(&format!("value-{value}"), value.as_bytes());
    let head = hamt(store, &["checkout", branch]);
    if head.code == 0 {
        hamt(
            store,
            &["put", branch, key, &file, "--branch", branch, "-q"],
        )
        .ok();
    } else {
        let data = w.path(&format!("data-{value}"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join(key), value).unwrap();
        hamt(store, &["import", s(&data), "--branch", branch, "-q"]).ok();
    }
    head_of(store, branch)
}

/// The commit a branch or tag names.
fn head_of(store: &Path, revision: &str) -> String {
    hamt(store, &["checkout", revision, "--json"]).ok().json()["commit"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `hamt log --json --no-stat` of a revision.
fn log(store: &Path, revision: &str) -> Value {
    hamt(store, &["log", revision, "--json", "--no-stat"])
        .ok()
        .json()
}

fn branches(store: &Path) -> Value {
    hamt(store, &["branch", "--json"]).ok().json()
}

/// main: c1 - c2 - m - c3, where m merges dev: c1 - d1. Returns
/// `[c1, d1, c2, m, c3]`.
fn history_with_a_merge(w: &World, store: &Path) -> [String; 5] {
    let c1 = commit_put(w, store, "main", "a", "1");
    hamt(store, &["branch", "dev", "main"]).ok();
    let d1 = commit_put(w, store, "dev", "b", "2");
    let c2 = commit_put(w, store, "main", "c", "3");
    hamt(store, &["merge", "dev", "--into", "main", "-q"]).ok();
    let m = head_of(store, "main");
    let c3 = commit_put(w, store, "main", "d", "4");
    [c1, d1, c2, m, c3]
}

/// The whole history, merged branch included, survives a round trip into
/// a fresh store: same log, same revisions, every dataset whole.
#[test]
fn a_history_survives_a_car_round_trip() {
    let w = World::new();
    let (from, to) = (w.path("from"), w.path("to"));
    let commits = history_with_a_merge(&w, &from);
    let car = w.path("main.car");
    let exported = hamt(&from, &["car", "export", "main", s(&car), "--json"])
        .ok()
        .json();
    assert_eq!(exported["root"], commits[4].as_str());
    assert_eq!(exported["commits"], 5);

    let imported = hamt(
        &to,
        &["car", "import", s(&car), "--branch", "main", "--json"],
    )
    .ok()
    .json();
    assert_eq!(imported["roots"][0], commits[4].as_str());
    assert_eq!(imported["moved"], "created");
    assert_eq!(log(&to, "main"), log(&from, "main"));
    assert_eq!(
        hamt(&to, &["checkout", "main~2"]).ok().line(),
        hamt(&from, &["checkout", "main~2"]).ok().line()
    );
    // The merged branch's commit came along through the merge's second parent.
    assert_eq!(
        hamt(&to, &["checkout", &commits[1]]).ok().line(),
        hamt(&from, &["checkout", &commits[1]]).ok().line()
    );
    for commit in &commits {
        hamt(&to, &["verify", commit]).ok();
    }
    // Every block once: the same history exported again from the copy is
    // the same file.
    let again = w.path("again.car");
    hamt(&to, &["car", "export", "main", s(&again)]).ok();
    assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&car).unwrap());
    // A GC keeps what the branch reaches.
    hamt(&to, &["gc", "--grace", "0"]).ok();
    hamt(&to, &["verify", &commits[0]]).ok();
}

/// `--depth 1` carries the newest commit only: it fast-forwards a store
/// that holds the older history, and is refused, moving nothing, by one
/// that does not.
#[test]
fn a_shallow_car_needs_the_older_history() {
    let w = World::new();
    let (from, to, empty) = (w.path("from"), w.path("to"), w.path("empty"));
    let c1 = commit_put(&w, &from, "main", "a", "1");
    let c2 = commit_put(&w, &from, "main", "b", "2");
    let full = w.path("full.car");
    hamt(&from, &["car", "export", "main", s(&full)]).ok();
    hamt(&to, &["car", "import", s(&full), "--branch", "main"]).ok();
    assert_eq!(head_of(&to, "main"), c2);

    let c3 = commit_put(&w, &from, "main", "c", "3");
    let shallow = w.path("shallow.car");
    let exported = hamt(
        &from,
        &[
            "car",
            "export",
            "main",
            s(&shallow),
            "--depth",
            "1",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(exported["commits"], 1);
    assert!(std::fs::metadata(&shallow).unwrap().len() < std::fs::metadata(&full).unwrap().len());

    let moved = hamt(
        &to,
        &["car", "import", s(&shallow), "--branch", "main", "--json"],
    )
    .ok()
    .json();
    assert_eq!(moved["moved"], "fast-forward");
    assert_eq!(moved["previous"], c2.as_str());
    assert_eq!(head_of(&to, "main"), c3);
    assert_eq!(log(&to, "main"), log(&from, "main"));
    hamt(&to, &["verify", "main"]).ok();
    assert_eq!(head_of(&to, "main~2"), c1);

    // Into a store without c2: the error says what is missing and what to do.
    let refused = hamt(&empty, &["car", "import", s(&shallow), "--branch", "main"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    for needle in [
        format!("history incomplete below commit {c3}"),
        format!("parent {c2}"),
        "import the older history first".to_owned(),
        "--depth".to_owned(),
    ] {
        assert!(
            refused.stderr.contains(&needle),
            "{needle}: {}",
            refused.stderr
        );
    }
    assert_eq!(branches(&empty), Value::Array(Vec::new()));
    // Unnamed, the blocks may come first (the older history after them).
    let unnamed = hamt(&empty, &["car", "import", s(&shallow)]).ok();
    assert!(unnamed.stderr.contains("shallow"), "{}", unnamed.stderr);
    hamt(&empty, &["car", "import", s(&full), "--branch", "main"]).ok();
    hamt(&empty, &["car", "import", s(&shallow), "--branch", "main"]).ok();
    assert_eq!(head_of(&empty, "main"), c3);

    // A store that holds only part of a history cannot export all of it.
    let partial = w.path("partial");
    hamt(&partial, &["car", "import", s(&shallow)]).ok();
    let whole = hamt(&partial, &["car", "export", &c3, s(&w.path("whole.car"))]);
    assert_eq!(whole.code, 1, "{}", whole.stderr);
    assert!(whole.stderr.contains("--depth"), "{}", whole.stderr);
    assert!(!w.path("whole.car").exists());
    hamt(
        &partial,
        &["car", "export", &c3, s(&w.path("one.car")), "--depth", "1"],
    )
    .ok();
}

/// A branch that went its own way is not moved by an import (exit 4,
/// naming both commits); the import can land on a new branch instead.
#[test]
fn a_diverged_branch_is_left_as_it_is() {
    let w = World::new();
    let (from, to) = (w.path("from"), w.path("to"));
    commit_put(&w, &from, "main", "a", "1");
    let car = w.path("main.car");
    hamt(&from, &["car", "export", "main", s(&car)]).ok();
    hamt(&to, &["car", "import", s(&car), "--branch", "main"]).ok();
    let theirs = commit_put(&w, &from, "main", "b", "2");
    let ours = commit_put(&w, &to, "main", "c", "3");
    hamt(&from, &["car", "export", "main", s(&car)]).ok();

    let refused = hamt(&to, &["car", "import", s(&car), "--branch", "main"]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("not a fast-forward"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains(&ours), "{}", refused.stderr);
    assert!(refused.stderr.contains(&theirs), "{}", refused.stderr);
    assert_eq!(head_of(&to, "main"), ours);

    // Importing what the branch already has is no move at all.
    let behind = w.path("behind.car");
    hamt(&to, &["car", "export", "main", s(&behind)]).ok();
    let same = hamt(
        &to,
        &["car", "import", s(&behind), "--branch", "main", "--json"],
    )
    .ok()
    .json();
    assert_eq!(same["moved"], "up to date");
    // Nor is an older commit: the branch has it already (as `merge`).
    let older = w.path("older.car");
    hamt(&to, &["car", "export", "main~1", s(&older)]).ok();
    let ahead = hamt(
        &to,
        &["car", "import", s(&older), "--branch", "main", "--json"],
    )
    .ok();
    assert_eq!(ahead.json()["moved"], "up to date");
    assert_eq!(head_of(&to, "main"), ours);

    hamt(&to, &["car", "import", s(&car), "--branch", "theirs"]).ok();
    assert_eq!(head_of(&to, "theirs"), theirs);
    hamt(&to, &["merge", "theirs", "--into", "main", "-q"]).ok();
}

/// `--no-history` exports the commit's dataset alone, as a dataset root's
/// export does; such a CAR cannot make a branch.
#[test]
fn no_history_exports_the_dataset_only() {
    let w = World::new();
    let (from, to) = (w.path("from"), w.path("to"));
    commit_put(&w, &from, "main", "a", "1");
    commit_put(&w, &from, "main", "b", "2");
    let dataset = hamt(&from, &["checkout", "main"]).ok().line();
    let car = w.path("data.car");
    let exported = hamt(
        &from,
        &["car", "export", "main", s(&car), "--no-history", "--json"],
    )
    .ok()
    .json();
    assert_eq!(exported["root"], dataset.as_str());
    assert_eq!(exported.get("commits"), None);
    // The same file as exporting the dataset root itself.
    let by_root = w.path("root.car");
    hamt(&from, &["car", "export", &dataset, s(&by_root)]).ok();
    assert_eq!(
        std::fs::read(&car).unwrap(),
        std::fs::read(&by_root).unwrap()
    );
    let depth = hamt(
        &from,
        &["car", "export", &dataset, s(&by_root), "--depth", "2"],
    );
    assert_eq!(depth.code, 1, "{}", depth.stderr);
    assert!(depth.stderr.contains("not a commit"), "{}", depth.stderr);

    let refused = hamt(&to, &["car", "import", s(&car), "--branch", "main"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains(&format!("its root {dataset} is not one")),
        "{}",
        refused.stderr
    );
    assert_eq!(branches(&to), Value::Array(Vec::new()));
    let plain = hamt(&to, &["car", "import", s(&car), "--json"]).ok().json();
    assert_eq!(plain["roots"][0], dataset.as_str());
    hamt(&to, &["verify", &dataset]).ok();
}

/// With --kubo there are no branches: `--branch` is a usage error (exit 2)
/// before anything is read or sent.
#[test]
fn branch_with_kubo_is_a_usage_error() {
    let w = World::new();
    let missing = w.path("nothing.car");
    let run = hamt_kubo(
        "http://127.0.0.1:9",
        &["car", "import", s(&missing), "--branch", "main"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--branch"), "{}", run.stderr);
}
