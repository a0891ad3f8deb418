//! `hamt expire` on the real binary: history before a cutoff is dropped,
//! `hamt gc` then removes the old datasets, the recent ones still verify.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

mod common;
use common::{FakeDaemon, hamt, s};

fn write(root: &Path, relative: &str, data: &[u8]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Imports `data` and commits it on main; returns (root, commit).
fn import_and_commit(store: &Path, data: &Path, message: &str) -> (String, String) {
    let root = hamt(store, &["import", s(data), "-q"]).ok().line();
    let commit = hamt(store, &["commit", &root, "-m", message]).ok().line();
    (root, commit)
}

#[test]
fn expire_then_gc_removes_the_old_versions_only() {
    let tmp = TempDir::new().unwrap();
    let (store, data) = (tmp.path().join("store"), tmp.path().join("data"));
    write(&data, "a/x", b"one");
    let (v1, _) = import_and_commit(&store, &data, "first");
    // Commit times are now: the next commits must fall in a later second
    // than v1's for a cutoff (to the second) to fall between them.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(&data, "a/x", b"two");
    let (v2, _) = import_and_commit(&store, &data, "second");
    write(&data, "a/x", b"three");
    let (v3, c3) = import_and_commit(&store, &data, "third");
    let log = hamt(&store, &["log", "--json", "--no-stat"]).ok().json();
    let v2_ms = log[1]["time_ms"].as_u64().unwrap();
    let cutoff = (v2_ms / 1000).to_string(); // Unix seconds: v2's second

    let report = hamt(&store, &["expire", "--older-than", &cutoff, "--json"])
        .ok()
        .json();
    assert_eq!(report["cutoff_ms"].as_u64().unwrap(), v2_ms / 1000 * 1000);
    let main = &report["branches"][0];
    assert_eq!(main["branch"], "main");
    assert_eq!(main["old_head"], c3.as_str());
    assert_eq!(
        (main["kept"].as_u64(), main["dropped"].as_u64()),
        (Some(2), Some(1))
    );
    let log = hamt(&store, &["log", "--json", "--no-stat"]).ok().json();
    let messages: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["third", "second"]);
    assert_eq!(log[0]["commit"], main["new_head"]);
    assert_eq!(log[0]["root"], v3.as_str());

    hamt(&store, &["gc", "--grace", "0", "-q"]).ok();
    let old = hamt(&store, &["verify", &v1]);
    assert_ne!(old.code, 0, "v1 survived the GC: {}", old.stdout);
    hamt(&store, &["verify", &v2]).ok();
    hamt(&store, &["verify", "main"]).ok();
    assert_eq!(hamt(&store, &["checkout", "main~1"]).ok().line(), v2);

    // The text summary, on a history with nothing left to drop.
    let again = hamt(&store, &["expire", "--older-than", &cutoff]).ok();
    assert!(
        again
            .stdout
            .contains("branch main: kept 2, dropped 0 (unchanged"),
        "{}",
        again.stdout
    );
}

#[test]
fn a_bad_duration_is_a_usage_error_and_other_stores_are_refused() {
    let tmp = TempDir::new().unwrap();
    let store = tmp.path().join("store");
    for bad in ["30x", "1.5h", "d", "3d12h"] {
        let run = hamt(&store, &["expire", "--older-than", bad]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(run.stderr.contains("neither a duration"), "{}", run.stderr);
    }
    let memory = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .args(["--memory", "expire", "--older-than", "30d"])
        .output()
        .unwrap();
    assert_eq!(memory.status.code(), Some(1));
    let daemon = FakeDaemon::start(Vec::new());
    let kubo = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .args(["--kubo", &daemon.url, "expire", "--older-than", "30d"])
        .output()
        .unwrap();
    assert_eq!(kubo.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&kubo.stderr);
    assert!(stderr.contains("needs the embedded store"), "{stderr}");
}
