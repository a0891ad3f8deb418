//! Cut the power at random moments: every root named so far must stay whole.
//!
//! `crash.rs` SIGKILLs the writer, which loses nothing it wrote: unsynced
//! writes wait in the kernel's page cache. Here the store lives on
//! `hamt_lossyfs`, a FUSE disk that keeps only what was synced, so a cut
//! loses what a real power failure would.
//!
//! The parent mounts the disk and re-runs this test binary as a child
//! (selecting `power_child_writer` with the `HAMT_POWER_CHILD_DIR` variable)
//! that writes block graphs and names their roots in a loop, as crash.rs's
//! child does, reporting on stdout once each call returned: `NAMED tag cid`
//! after `set_root`; `REMOVING tag` before and `REMOVED tag` after
//! `remove_root`. Right after a report, or a random moment later, the
//! parent cuts the power, kills the child, mounts the durable state and
//! reopens the store: every name ever reported (and not removed) must name
//! its root, whose whole DAG must read and verify (each block re-hashed
//! against its CID); every name reported removed must be gone. Then GC runs
//! and everything is checked again.
//! `HAMT_POWER_CUTS` sets the number of cuts (default 20).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use hamt_lossyfs::LossyFs;
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{BlockStore, Cid};

const CHILD_DIR_VAR: &str = "HAMT_POWER_CHILD_DIR";
const CHILD_RUN_VAR: &str = "HAMT_POWER_CHILD_RUN";

fn zero_grace() -> RocksDbOptions {
    let mut options = RocksDbOptions::default();
    options.gc_grace = Duration::ZERO;
    options
}

/// The child: only does anything when the parent sets its variables.
#[tokio::test]
async fn power_child_writer() {
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
            let old = format!("run{run}-gen{}", generation - 3);
            println!("REMOVING {old}");
            store.remove_root(&old).unwrap();
            println!("REMOVED {old}");
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

/// What the children reported, so what the disk must hold after a cut.
#[derive(Default)]
struct Expected {
    /// Names that must be there, with their roots.
    named: BTreeMap<String, Cid>,
    /// Names whose removal started but was not reported done: either way.
    removing: BTreeSet<String>,
    /// Names that must be gone.
    removed: BTreeSet<String>,
    /// `NAMED` lines read, over every run.
    reports: u64,
}

impl Expected {
    /// Takes in one line of a child's stdout; true if it reported a name.
    fn read(&mut self, line: &str) -> bool {
        // libtest may print "test power_child_writer ... " before the first line.
        let word = |w: &str| line.find(w).map(|at| &line[at + w.len()..]);
        if let Some(rest) = word("NAMED ") {
            let (name, cid) = rest.split_once(' ').unwrap();
            self.named
                .insert(name.to_owned(), Cid::try_from(cid).unwrap());
            self.reports += 1;
            return true;
        }
        if let Some(name) = word("REMOVING ") {
            self.named.remove(name);
            self.removing.insert(name.to_owned());
        } else if let Some(name) = word("REMOVED ") {
            self.removing.remove(name);
            self.removed.insert(name.to_owned());
        }
        false
    }

    /// Checks the store against the reports, and verifies every named
    /// root's whole DAG; returns how many roots it verified. Then what the
    /// disk holds is what must stay: a removal in flight at the cut either
    /// happened or not, and a name set but not yet reported is there to
    /// stay if the cut kept it.
    fn check(&mut self, store: &RocksDbStore, cut: u64) -> usize {
        for (name, cid) in &self.named {
            let found = store.root(name).unwrap();
            assert_eq!(
                found,
                Some(*cid),
                "cut {cut}: root {name} was reported named, and the power cut lost it"
            );
        }
        for name in &self.removed {
            let found = store.root(name).unwrap();
            assert_eq!(
                found, None,
                "cut {cut}: {name} was reported removed, and is back"
            );
        }
        let roots: BTreeMap<String, Cid> = store.roots().unwrap().into_iter().collect();
        for (name, root) in &roots {
            store
                .verify_dag(root)
                .unwrap_or_else(|e| panic!("cut {cut}: root {name} broken: {e}"));
        }
        for name in std::mem::take(&mut self.removing) {
            if !roots.contains_key(&name) {
                self.removed.insert(name);
            }
        }
        self.named = roots;
        self.named.len()
    }
}

/// Kills the child when dropped: a failing parent leaves no writer behind
/// (nor a busy mount).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

/// Runs one child, cuts the power at a random moment, kills the child and
/// reads all it reported.
fn run_and_cut(disk: &LossyFs, dir: &Path, run: u64, expected: &mut Expected) {
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "power_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_VAR, dir)
            .env(CHILD_RUN_VAR, run.to_string())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Let it name 1 to 8 roots (a gc runs after the 7th), then cut at once
    // (half the time: right after a report is where a missing sync shows)
    // or at a random moment within the next 100 ms.
    let wanted = 1 + random_below(8);
    let mut reported = 0;
    let mut ended = false; // its stdout closed: it exited
    while reported < wanted && !ended {
        match lines_rx.recv_timeout(Duration::from_mins(2)) {
            Ok(line) => reported += u64::from(expected.read(&line)),
            Err(RecvTimeoutError::Disconnected) => ended = true,
            Err(RecvTimeoutError::Timeout) => break,
        }
    }
    if random_below(2) == 0 {
        std::thread::sleep(Duration::from_millis(random_below(100)));
    }
    let status = if ended {
        child.0.wait().ok()
    } else {
        child.0.try_wait().unwrap()
    };
    if let Some(status) = status {
        let log = std::fs::read_to_string(stderr.path()).unwrap_or_default();
        panic!("run {run}: the child ended before the power cut ({status}):\n{log}");
    }
    disk.power_cut();
    drop(child); // SIGKILL; it can only have failed since the cut
    reader.join().unwrap();
    for line in lines_rx.try_iter() {
        expected.read(&line);
    }
}

#[tokio::test]
async fn named_roots_survive_power_cuts_at_random_moments() {
    if std::env::var(CHILD_DIR_VAR).is_ok() {
        return; // we are a child running the whole binary by mistake
    }
    let cuts: u64 = std::env::var("HAMT_POWER_CUTS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(20);
    let started = Instant::now();
    let mountpoint = tempfile::tempdir().unwrap();
    let mut disk = LossyFs::mount(mountpoint.path())
        .unwrap_or_else(|e| panic!("the power-loss test cannot run: {e}"));
    // A directory RocksDB creates, as a store's usually is.
    let dir = disk.mountpoint().join("store");
    let mut expected = Expected::default();
    let mut checked = 0;
    for cut in 0..cuts {
        run_and_cut(&disk, &dir, cut, &mut expected);
        disk.remount().unwrap();
        let store = RocksDbStore::open(&dir, &zero_grace())
            .unwrap_or_else(|e| panic!("cut {cut}: the store does not open: {e}"));
        checked += expected.check(&store, cut);
        // GC over a store recovered from a power cut keeps every named root whole too.
        store.gc().unwrap();
        checked += expected.check(&store, cut);
    }
    println!(
        "{cuts} power cuts, {} names reported, {checked} checks of a named root's whole DAG \
         ({} named at the end), {:.1} s",
        expected.reports,
        expected.named.len(),
        started.elapsed().as_secs_f32()
    );
    assert!(expected.reports > 0, "no child ever named a root");
}
