//! End-to-end tests: the real `hamt` binary on temporary stores and directories.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{FakeDaemon, hamt, hamt_kubo, ipfs, pin_of, s, salt};
use hamt_kubo::PinKind;

/// Deterministic bytes that do not repeat in 1 MiB leaves.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn write(root: &Path, relative: &str, data: &[u8]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// A small zarr-like tree: nested dirs, a > 1 MiB value, a non-ASCII name, an empty file.
fn dataset(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let files: BTreeMap<String, Vec<u8>> = [
        (
            "zarr.json",
            br#"{"zarr_format":3,"node_type":"group"}"#.to_vec(),
        ),
        (
            "temp/zarr.json",
            br#"{"zarr_format":3,"node_type":"array"}"#.to_vec(),
        ),
        ("temp/c/0/0/0", noise(4096, 1)),
        ("temp/c/0/0/1", noise(4096, 2)),
        ("temp/c/1/0/0", noise(100, 3)),
        ("big/c/0", noise((3 << 20) / 2, 4)),
        ("données/température été.bin", b"caf\xc3\xa9".to_vec()),
        ("deep/a/b/c/d/e/f", b"deep".to_vec()),
        ("empty", Vec::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, value) in &files {
        write(root, key, value);
    }
    files
}

/// Every file under `root`, by relative path with `/`.
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let key = path
                    .strip_prefix(root)
                    .unwrap()
                    .iter()
                    .map(|p| p.to_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(key, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

struct World {
    _tmp: TempDir,
    store: PathBuf,
    data: PathBuf,
    base: PathBuf,
}

fn world() -> World {
    let tmp = TempDir::new().unwrap();
    let base = tmp.path().to_path_buf();
    World {
        store: base.join("store"),
        data: base.join("data"),
        base,
        _tmp: tmp,
    }
}

fn named_roots(store: &Path) -> Value {
    hamt(store, &["roots", "--json"]).ok().json()
}

#[test]
fn import_then_export_gives_identical_files() {
    let w = world();
    let files = dataset(&w.data);
    let run = hamt(&w.store, &["import", s(&w.data), "--name", "ds", "--quiet"]).ok();
    let root = run.line();
    assert!(root.starts_with("bafy"), "{root}");
    assert_eq!(named_roots(&w.store)[0]["root"], root.as_str());

    let out = w.base.join("out");
    hamt(&w.store, &["export", "ds", s(&out)]).ok();
    assert_eq!(read_tree(&out), files);

    // The same tree imported again (into a fresh store) gives the same root.
    let again = hamt(&w.base.join("store2"), &["import", s(&out), "-q"]).ok();
    assert_eq!(again.line(), root);
}

#[test]
fn get_ls_and_stat_read_one_root() {
    let w = world();
    let files = dataset(&w.data);
    let root = hamt(&w.store, &["import", s(&w.data), "-q"]).ok().line();

    let output = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .args(["--store", s(&w.store), "get", &root, "big/c/0"])
        .output()
        .unwrap();
    assert_eq!(output.stdout, files["big/c/0"], "stdout is the raw value");
    let output = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .args([
            "--store",
            s(&w.store),
            "get",
            &root,
            "big/c/0",
            "--range",
            "1048570-1048580",
        ])
        .output()
        .unwrap();
    assert_eq!(output.stdout, files["big/c/0"][1_048_570..1_048_580]);
    let output = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .args([
            "--store",
            s(&w.store),
            "get",
            &root,
            "temp/c/0/0/0",
            "--suffix",
            "7",
        ])
        .output()
        .unwrap();
    assert_eq!(output.stdout, files["temp/c/0/0/0"][4096 - 7..]);

    let keys = hamt(&w.store, &["ls", &root, "--json"]).ok().json();
    let expected: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(keys, serde_json::json!(expected));
    let level = hamt(&w.store, &["ls", &root, "temp/", "--dirs", "--json"])
        .ok()
        .json();
    assert_eq!(level, serde_json::json!(["c/", "zarr.json"]));

    let stat = hamt(&w.store, &["stat", &root, "--json"]).ok().json();
    assert_eq!(stat["keys"], files.len());
    // One raw block per small value (the empty file's and others are distinct)
    // plus the big value's dag-pb root and its two raw leaves.
    assert_eq!(stat["value_blocks"], files.len());
    assert_eq!(stat["unixfs_blocks"], 2);
    assert_eq!(stat["unreadable_blocks"], 0);
}

#[test]
fn put_then_rm_returns_to_the_same_root() {
    let w = world();
    dataset(&w.data);
    let root = hamt(&w.store, &["import", s(&w.data), "--name", "ds", "-q"])
        .ok()
        .line();
    let file = w.base.join("new-chunk");
    std::fs::write(&file, b"new chunk").unwrap();
    let added = hamt(
        &w.store,
        &["put", "ds", "temp/c/9/9/9", s(&file), "--name", "ds"],
    )
    .ok()
    .line();
    assert_ne!(added, root);
    let got = hamt(&w.store, &["get", "ds", "temp/c/9/9/9"]).ok();
    assert_eq!(got.stdout, "new chunk");
    let removed = hamt(&w.store, &["rm", "ds", "temp/c/9/9/9", "--name", "ds"])
        .ok()
        .line();
    assert_eq!(removed, root, "the same entries give the same root");
    assert_eq!(named_roots(&w.store)[0]["root"], root.as_str());
}

#[test]
fn car_export_then_import_into_a_fresh_store_gives_the_same_root() {
    let w = world();
    let files = dataset(&w.data);
    let root = hamt(&w.store, &["import", s(&w.data), "-q"]).ok().line();
    let car = w.base.join("ds.car");
    hamt(&w.store, &["car", "export", &root, s(&car)]).ok();

    let fresh = w.base.join("fresh");
    let imported = hamt(
        &fresh,
        &["car", "import", s(&car), "--name", "copy", "--json"],
    )
    .ok()
    .json();
    assert_eq!(imported["roots"], serde_json::json!([root]));
    assert_eq!(named_roots(&fresh)[0]["name"], "copy");
    let out = w.base.join("out");
    hamt(&fresh, &["export", "copy", s(&out)]).ok();
    assert_eq!(read_tree(&out), files);
    hamt(&fresh, &["verify", &root]).ok();
}

#[test]
fn diff_lists_exactly_the_files_that_differ() {
    let w = world();
    dataset(&w.data);
    let old = hamt(&w.store, &["import", s(&w.data), "-q"]).ok().line();
    write(&w.data, "temp/c/0/0/1", b"changed");
    write(&w.data, "temp/c/5/0/0", b"added");
    std::fs::remove_file(w.data.join("deep/a/b/c/d/e/f")).unwrap();
    let new = hamt(&w.store, &["import", s(&w.data), "-q"]).ok().line();

    let diff = hamt(&w.store, &["diff", &old, &new, "--json"]).ok().json();
    assert_eq!(
        diff,
        serde_json::json!({"added": ["temp/c/5/0/0"], "removed": ["deep/a/b/c/d/e/f"], "changed": ["temp/c/0/0/1"]})
    );
    let text = hamt(&w.store, &["diff", &old, &new]).ok().stdout;
    assert_eq!(text, "- deep/a/b/c/d/e/f\n~ temp/c/0/0/1\n+ temp/c/5/0/0\n");
    assert_eq!(
        hamt(&w.store, &["diff", &old, &old, "--json"]).ok().json()["changed"],
        serde_json::json!([])
    );
}

#[test]
fn verify_reports_a_block_corrupted_on_disk() {
    let w = world();
    let files = dataset(&w.data);
    let root = hamt(&w.store, &["import", s(&w.data), "--name", "ds", "-q"])
        .ok()
        .line();
    hamt(&w.store, &["verify", "ds"]).ok();

    // Overwrite one value's bytes in the RocksDB store through its test hook
    // (the CLI has exited, so the store is free to open).
    let victim = block_cid(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        &files["temp/c/1/0/0"],
    );
    {
        let store = RocksDbStore::open(&w.store, &RocksDbOptions::default()).unwrap();
        store.put_unverified(&victim, b"bit rot").unwrap();
    }
    let run = hamt(&w.store, &["verify", &root]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("corrupt block {victim}")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("temp/c/1/0/0"), "{}", run.stdout);
    let report = hamt(&w.store, &["verify", &root, "--json"]).json();
    assert_eq!(report["ok"], false);
    assert_eq!(report["problems"][0]["where"], "temp/c/1/0/0");
    assert_eq!(report["problems"].as_array().unwrap().len(), 1);

    // Reading the key fails with a clear error naming it.
    let get = hamt(&w.store, &["get", &root, "temp/c/1/0/0"]);
    assert_eq!(get.code, 1);
    assert!(
        get.stderr.contains("temp/c/1/0/0") && get.stderr.contains("corrupt"),
        "{}",
        get.stderr
    );
}

#[test]
fn gc_keeps_what_named_roots_reach_and_removes_the_rest() {
    let w = world();
    let files = dataset(&w.data);
    let kept = hamt(&w.store, &["import", s(&w.data), "--name", "kept", "-q"])
        .ok()
        .line();
    let other = w.base.join("other");
    write(&other, "only/here", b"unnamed data");
    let dropped = hamt(&w.store, &["import", s(&other), "-q"]).ok().line();

    let report = hamt(&w.store, &["gc", "--grace", "0", "--json"])
        .ok()
        .json();
    assert_eq!(report["roots"], 1);
    assert_eq!(report["blocks_missing"], 0);
    // The unnamed import's node and its one value.
    assert_eq!(report["blocks_removed"], 2);

    hamt(&w.store, &["verify", "kept"]).ok();
    let out = w.base.join("out");
    hamt(&w.store, &["export", &kept, s(&out)]).ok();
    assert_eq!(read_tree(&out), files);
    let gone = hamt(&w.store, &["ls", &dropped]);
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains(&dropped), "{}", gone.stderr);
}

#[test]
fn bad_input_fails_clearly_and_never_moves_a_named_root() {
    let w = world();
    dataset(&w.data);
    let root = hamt(&w.store, &["import", s(&w.data), "--name", "ds", "-q"])
        .ok()
        .line();
    let before = named_roots(&w.store);
    let expect_error = |args: &[&str], needle: &str| {
        let run = hamt(&w.store, args);
        assert_eq!(run.code, 1, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
        assert_eq!(
            run.stderr.trim().lines().count(),
            1,
            "one line: {}",
            run.stderr
        );
    };

    let missing = w.base.join("no-such-dir");
    expect_error(&["import", s(&missing), "--name", "ds"], "no-such-dir");
    expect_error(
        &["get", "bafynotacid", "zarr.json"],
        "neither a CID nor a named root",
    );
    expect_error(&["get", &root, "no/such/key"], "\"no/such/key\" not found");
    expect_error(
        &["rm", "ds", "no/such/key", "--name", "ds"],
        "\"no/such/key\" not found",
    );

    let car = w.base.join("ds.car");
    hamt(&w.store, &["car", "export", "ds", s(&car)]).ok();
    let bytes = std::fs::read(&car).unwrap();
    let truncated = w.base.join("truncated.car");
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    expect_error(
        &["car", "import", s(&truncated), "--name", "ds"],
        "truncated CAR",
    );
    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 1;
    let corrupt = w.base.join("corrupt.car");
    std::fs::write(&corrupt, &flipped).unwrap();
    expect_error(
        &["car", "import", s(&corrupt), "--name", "ds"],
        "fails verification",
    );
    let not_car = w.base.join("not.car");
    std::fs::write(&not_car, b"hello").unwrap();
    expect_error(&["car", "import", s(&not_car), "--name", "ds"], "not.car");

    assert_eq!(named_roots(&w.store), before);
    let usage = hamt(&w.store, &["get", &root]);
    assert_eq!(usage.code, 2, "a usage error");
}

#[test]
fn a_car_cut_at_a_block_boundary_is_incomplete() {
    let w = world();
    dataset(&w.data);
    let root = hamt(&w.store, &["import", s(&w.data), "-q"]).ok().line();
    let car = w.base.join("ds.car");
    hamt(&w.store, &["car", "export", &root, s(&car)]).ok();
    // Re-write the CAR without its last block: every section still parses.
    let last_value = b"deep".to_vec();
    let bytes = std::fs::read(&car).unwrap();
    let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &last_value).to_bytes();
    let mut section = vec![u8::try_from(cid.len() + last_value.len()).unwrap()];
    section.extend(&cid);
    section.extend(&last_value);
    let at = bytes
        .windows(section.len())
        .position(|w| w == section)
        .expect("the section");
    let mut cut = bytes[..at].to_vec();
    cut.extend(&bytes[at + section.len()..]);
    std::fs::write(&car, cut).unwrap();

    let fresh = w.base.join("fresh");
    let run = hamt(&fresh, &["car", "import", s(&car), "--name", "copy"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("incomplete CAR") && run.stderr.contains("deep/a/b/c/d/e/f"),
        "{}",
        run.stderr
    );
    assert_eq!(named_roots(&fresh), serde_json::json!([]));
}

#[test]
fn demo_writes_reads_and_names_a_small_dataset() {
    let w = world();
    let run = hamt(&w.store, &["demo", "--days", "3", "--json"])
        .ok()
        .json();
    assert_eq!(run["verified"], true);
    let root = run["root"].as_str().unwrap().to_owned();
    assert_eq!(
        named_roots(&w.store)[0],
        serde_json::json!({"name": "demo", "root": root})
    );
    let keys = hamt(
        &w.store,
        &["ls", "demo", "temperature/c/", "--dirs", "--json"],
    )
    .ok()
    .json();
    assert_eq!(keys, serde_json::json!(["0/", "1/", "2/"]));
    hamt(&w.store, &["verify", "demo"]).ok();
}

#[test]
fn memory_store_computes_the_same_root_without_keeping_anything() {
    let w = world();
    dataset(&w.data);
    let on_disk = hamt(&w.store, &["import", s(&w.data), "-q"]).ok().line();
    let output = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .args(["--memory", "import", s(&w.data), "-q"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), on_disk);
    let named = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .args(["--memory", "import", s(&w.data), "--name", "x"])
        .output()
        .unwrap();
    assert_eq!(named.status.code(), Some(1));
}

/// A daemon or gateway URL's credentials never reach the terminal, even
/// when the daemon cannot be reached.
#[test]
fn kubo_url_credentials_are_never_printed() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hamt"))
        .args([
            "--kubo",
            "http://alice:rpc-SECRET@127.0.0.1:9/?token=q-SECRET",
            "--gateway",
            "http://bob:gw-SECRET@127.0.0.1:9",
            "stat",
            "bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        ])
        .env_remove("HAMT_STORE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("SECRET"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");

    // Nor do names, pins and GC on the daemon show them.
    let tmp = TempDir::new().unwrap();
    std::fs::write(tmp.path().join("k"), "v").unwrap();
    let url = "http://alice:rpc-SECRET@127.0.0.1:9/?token=q-SECRET";
    for args in [
        vec!["roots"],
        vec!["gc"],
        vec!["get", "some-name", "k"],
        vec!["import", s(tmp.path()), "--name", "x"],
    ] {
        let run = hamt_kubo(url, &args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("SECRET"), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("127.0.0.1:9"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// `--trace` logs spans of node loads and lookups, and ends with the
/// telemetry summary.
#[test]
fn trace_logs_spans_and_a_summary() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    for i in 0..50 {
        std::fs::write(dir.join("a").join(i.to_string()), format!("v{i}")).unwrap();
    }
    let store = tmp.path().join("s");
    hamt(&store, &["import", s(&dir), "--name", "x"]).ok();
    let run = hamt(&store, &["--trace", "get", "x", "a/7"]).ok();
    assert_eq!(run.stdout.trim(), "v7");
    assert!(run.stderr.contains("py_hamt.hamt.lookup"), "{}", run.stderr);
    assert!(
        run.stderr.contains("py_hamt.hamt.node_load"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("telemetry:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("key lookups: 1 (1 found)"),
        "{}",
        run.stderr
    );
    // Without --trace a short command says nothing more.
    let quiet = hamt(&store, &["get", "x", "a/7"]).ok();
    assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
}

/// Over an IPFS gateway, `car export` and `verify` fetch the DAG in one
/// CAR; the CAR written is the same as block by block. (Needs the IPFS
/// test node: `IPFS_API_URL` and `IPFS_GATEWAY_URL`, as `cargo xtask test` sets.)
#[test]
fn car_export_over_a_gateway_takes_one_car() {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let (Some(api), Some(gateway)) = (var("IPFS_API_URL"), var("IPFS_GATEWAY_URL")) else {
        assert!(
            var("HAMT_REQUIRE_IPFS").is_none(),
            "the IPFS test node is required"
        );
        eprintln!("skipped: no IPFS_API_URL / IPFS_GATEWAY_URL");
        return;
    };
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir_all(&dir).unwrap();
    let salt = format!("{:?}", std::time::SystemTime::now());
    for i in 0..120 {
        std::fs::write(dir.join(i.to_string()), format!("{salt} {i}")).unwrap();
    }
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_hamt"))
            .args(args)
            .env_remove("HAMT_STORE")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        (
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (root, _) = run(&["--kubo", &api, "import", s(&dir)]);
    let root = root.lines().last().unwrap().to_owned();
    let by_car = tmp.path().join("by-car.car");
    let (_, note) = run(&[
        "--kubo",
        &api,
        "--gateway",
        &gateway,
        "car",
        "export",
        &root,
        s(&by_car),
    ]);
    assert!(note.contains("in one CAR from the gateway"), "{note}");
    let by_block = tmp.path().join("by-block.car");
    let (_, note) = run(&["--kubo", &api, "car", "export", &root, s(&by_block)]);
    assert!(!note.contains("one CAR"), "{note}");
    assert_eq!(
        std::fs::read(&by_car).unwrap(),
        std::fs::read(&by_block).unwrap()
    );
    let (verified, note) = run(&["--kubo", &api, "--gateway", &gateway, "verify", &root]);
    assert!(
        verified.starts_with("ok: ") && verified.ends_with("all present and verified"),
        "{verified}"
    );
    assert!(note.contains("in one CAR from the gateway"), "{note}");
}

/// Keys are data: `ls` and `diff` show their control characters escaped,
/// never as terminal escape sequences or extra lines (JSON keeps them).
#[test]
fn keys_with_control_characters_are_printed_escaped() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plain"), "a").unwrap();
    std::fs::write(dir.join("red\x1b[31mtext\nsecond"), "b").unwrap();
    let store = tmp.path().join("s");
    hamt(&store, &["import", s(&dir), "--name", "x"]).ok();
    let ls = hamt(&store, &["ls", "x"]).ok();
    assert!(!ls.stdout.contains('\x1b'), "{:?}", ls.stdout);
    assert_eq!(
        ls.stdout.trim().lines().collect::<Vec<_>>(),
        ["plain", "red\\u{1b}[31mtext\\nsecond"]
    );
    let json = hamt(&store, &["ls", "x", "--json"]).ok().json();
    assert_eq!(json[1], "red\x1b[31mtext\nsecond");
    std::fs::write(dir.join("plain"), "changed").unwrap();
    hamt(&store, &["import", s(&dir), "--name", "y"]).ok();
    std::fs::remove_file(dir.join("red\x1b[31mtext\nsecond")).unwrap();
    hamt(&store, &["import", s(&dir), "--name", "z"]).ok();
    let diff = hamt(&store, &["diff", "x", "z"]);
    assert!(!diff.stdout.contains('\x1b'), "{:?}", diff.stdout);
    assert!(
        diff.stdout.contains("- red\\u{1b}[31mtext\\nsecond"),
        "{:?}",
        diff.stdout
    );
}

/// A symbolic link out of the imported directory stops `import`, naming
/// the link, before anything is written; `--follow-symlinks` reads it.
#[cfg(unix)]
#[test]
fn import_refuses_symlinks_out_of_the_directory() {
    let w = world();
    write(&w.data, "inside", b"mine");
    let secret = w.base.join("secret");
    std::fs::write(&secret, b"not yours").unwrap();
    std::os::unix::fs::symlink(&secret, w.data.join("leak")).unwrap();
    let refused = hamt(&w.store, &["import", s(&w.data), "--name", "ds"]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stderr.contains(s(&w.data.join("leak")))
            && refused.stderr.contains("outside")
            && refused.stderr.contains("--follow-symlinks"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        refused.stderr.trim().lines().count(),
        1,
        "{}",
        refused.stderr
    );
    assert_eq!(
        named_roots(&w.store),
        serde_json::json!([]),
        "nothing was named"
    );

    let root = hamt(&w.store, &["import", s(&w.data), "--follow-symlinks", "-q"])
        .ok()
        .line();
    let got = hamt(&w.store, &["get", &root, "leak"]).ok();
    assert_eq!(got.stdout, "not yours");
}

/// Every command that writes a new root to the daemon pins it
/// recursively (so the daemon's GC keeps it); `--no-pin` does not.
#[test]
fn kubo_writes_pin_their_roots_unless_no_pin() {
    let Some((api, _)) = ipfs() else { return };
    let salt = salt();
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("d");
    for i in 0..20 {
        write(&dir, &format!("k/{i}"), format!("{salt} {i}").as_bytes());
    }
    let pinned = |cid: &str| pin_of(&api, cid) == Some(PinKind::Recursive);

    let imported = hamt_kubo(&api, &["import", s(&dir), "-q"]).ok().line();
    assert!(pinned(&imported), "import left {imported} unpinned");
    let file = tmp.path().join("value");
    std::fs::write(&file, format!("new {salt}")).unwrap();
    let put = hamt_kubo(&api, &["put", &imported, "extra", s(&file), "-q"])
        .ok()
        .line();
    assert!(pinned(&put), "put left {put} unpinned");
    let removed = hamt_kubo(&api, &["rm", &imported, "k/3", "-q"]).ok().line();
    assert!(pinned(&removed), "rm left {removed} unpinned");

    // A CAR made in an embedded store, imported into the daemon.
    let other = tmp.path().join("o");
    write(&other, "only", format!("car {salt}").as_bytes());
    let store = tmp.path().join("store");
    let car_root = hamt(&store, &["import", s(&other), "-q"]).ok().line();
    let car = tmp.path().join("o.car");
    hamt(&store, &["car", "export", &car_root, s(&car)]).ok();
    let from_car = hamt_kubo(&api, &["car", "import", s(&car), "-q"])
        .ok()
        .line();
    assert_eq!(from_car, car_root);
    assert!(pinned(&from_car), "car import left {from_car} unpinned");

    // demo (a zarr dataset, named "demo") and convert (to the sharded layout).
    let demo = hamt_kubo(&api, &["demo", "--days", "1", "--json"])
        .ok()
        .json();
    let demo_root = demo["root"].as_str().unwrap().to_owned();
    assert!(pinned(&demo_root), "demo left {demo_root} unpinned");
    let sharded = hamt_kubo(&api, &["convert", &demo_root, "-q"]).ok().line();
    assert!(pinned(&sharded), "convert left {sharded} unpinned");

    let unpinned_dir = tmp.path().join("u");
    write(&unpinned_dir, "x", format!("unpinned {salt}").as_bytes());
    let loose = hamt_kubo(&api, &["--no-pin", "import", s(&unpinned_dir), "-q"])
        .ok()
        .line();
    assert_eq!(pin_of(&api, &loose), None, "--no-pin pinned {loose}");
    let loose_put = hamt_kubo(&api, &["--no-pin", "put", &loose, "y", s(&file), "-q"])
        .ok()
        .line();
    assert_eq!(pin_of(&api, &loose_put), None);

    // --no-pin (and --gateway) are for the daemon only: a usage error
    // elsewhere, before or after the subcommand.
    for args in [
        vec!["--no-pin", "import", s(&dir)],
        vec!["import", s(&dir), "--no-pin"],
        vec!["--gateway", "http://127.0.0.1:9", "ls", &imported],
    ] {
        let usage = hamt(&tmp.path().join("s"), &args);
        assert_eq!(usage.code, 2, "{args:?}: {}", usage.stderr);
        assert!(
            usage.stderr.contains("--kubo"),
            "{args:?}: {}",
            usage.stderr
        );
    }
}

/// `--name` works on the daemon: a file under /hamt-roots in its MFS that
/// ROOT arguments resolve, `hamt roots` lists (pinned or not), and moving
/// it pins the new root and unpins the old one no name points at.
#[test]
fn kubo_names_resolve_list_and_move_their_pins() {
    let Some((api, _)) = ipfs() else { return };
    let salt = salt();
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("d");
    write(&dir, "a/b", format!("first {salt}").as_bytes());
    write(&dir, "c", b"shared");
    let name = format!("ds {salt}");

    let first = hamt_kubo(&api, &["import", s(&dir), "--name", &name, "--json"])
        .ok()
        .json();
    let first = first["root"].as_str().unwrap().to_owned();
    assert_eq!(pin_of(&api, &first), Some(PinKind::Recursive));
    let listed = hamt_kubo(&api, &["roots", "--json"]).ok().json();
    assert!(
        listed
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"name": name, "root": first, "pinned": true})),
        "{listed}"
    );
    let text = hamt_kubo(&api, &["roots"]).ok();
    assert!(
        text.stdout.contains(&format!("{name}\t{first}\n")),
        "{}",
        text.stdout
    );
    assert!(text.stderr.contains("/hamt-roots"), "{}", text.stderr);
    let got = hamt_kubo(&api, &["get", &name, "a/b"]).ok();
    assert_eq!(got.stdout, format!("first {salt}"));

    let file = tmp.path().join("v");
    std::fs::write(&file, format!("second {salt}")).unwrap();
    let moved = hamt_kubo(&api, &["put", &name, "a/b", s(&file), "--name", &name]).ok();
    let second = moved.line();
    assert_ne!(second, first);
    assert!(
        moved.stderr.contains(&format!("unpinned {first}")),
        "{}",
        moved.stderr
    );
    assert_eq!(pin_of(&api, &second), Some(PinKind::Recursive));
    assert_eq!(pin_of(&api, &first), None, "no name points at the old root");
    let got = hamt_kubo(&api, &["get", &name, "a/b"]).ok();
    assert_eq!(got.stdout, format!("second {salt}"));

    let missing = hamt_kubo(&api, &["ls", &format!("no such name {salt}")]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("neither a CID nor a named root"),
        "{}",
        missing.stderr
    );
    let bad = hamt_kubo(&api, &["import", s(&dir), "--name", "a/b"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("cannot name a root"), "{}", bad.stderr);
}

/// `hamt --kubo URL gc` runs the daemon's own GC and says what keeps data;
/// `roots` reads the names there. Against a stand-in daemon: a real GC
/// would remove what other tests running on the shared node just wrote.
#[test]
fn kubo_gc_runs_the_daemons_repo_gc_and_roots_reads_its_names() {
    let cid = "bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    let daemon = FakeDaemon::start(vec![
        (
            "/api/v0/repo/gc",
            "{\"Key\":{\"/\":\"bafkreiffhk5brl5eaxgxyp7qp4qkipzqtz7qvaytebua477vqmxx7zvbku\"}}\n\
             {\"Key\":{\"/\":\"bafkreie7y2wjsbsgbp75ldbggxcwqvtxuzl3jsthgoao3ghvm7ymuj2hae\"}}\n"
                .to_owned(),
        ),
        (
            "/api/v0/pin/ls",
            format!("{{\"Keys\":{{\"{cid}\":{{\"Type\":\"recursive\"}}}}}}"),
        ),
        (
            "/api/v0/files/ls",
            r#"{"Entries":[{"Name":"ds","Type":0,"Size":0,"Hash":""}]}"#.to_owned(),
        ),
        ("/api/v0/files/read", format!("{cid}\n")),
    ]);
    let text = hamt_kubo(&daemon.url, &["gc"]).ok().line();
    assert!(
        text.contains("repo/gc")
            && text.contains("removed 2 blocks")
            && text.contains("1 recursive pins"),
        "{text}"
    );
    let json = hamt_kubo(&daemon.url, &["gc", "--json"]).ok().json();
    assert_eq!(json["daemon_gc"], true);
    assert_eq!(json["blocks_removed"], 2);
    assert_eq!(json["recursive_pins"], 1);
    assert!(
        daemon
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.starts_with("POST /api/v0/repo/gc")),
        "the daemon's GC ran"
    );
    let grace = hamt_kubo(&daemon.url, &["gc", "--grace", "10"]);
    assert_eq!(grace.code, 1);
    assert!(grace.stderr.contains("no grace period"), "{}", grace.stderr);

    let roots = hamt_kubo(&daemon.url, &["roots", "--json"]).ok().json();
    assert_eq!(
        roots,
        serde_json::json!([{"name": "ds", "root": cid, "pinned": true}])
    );
}

#[test]
fn value_reads_over_max_value_read_are_refused_before_reading() {
    let w = world();
    dataset(&w.data);
    hamt(&w.store, &["import", s(&w.data), "--name", "ds", "-q"]).ok();
    let file = w.base.join("big-chunk");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, &big).unwrap();
    hamt(
        &w.store,
        &["put", "ds", "big", s(&file), "--name", "ds", "-q"],
    )
    .ok();
    let refused = hamt(
        &w.store,
        &["--max-value-read", "1000000", "get", "ds", "big"],
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("limit is 1000000 bytes"),
        "{}",
        refused.stderr
    );
    let got = hamt(&w.store, &["get", "ds", "big"]).ok();
    assert_eq!(got.stdout.len(), big.len());
}

/// A history: commits on a branch, log, revisions as ROOT arguments
/// (`~N`, `@{TIME}`, tags), branches, a GC that keeps every committed
/// version, and refusals that move nothing.
#[test]
fn commits_log_revisions_and_gc_keep_every_version() {
    let w = world();
    write(&w.data, "a/x", b"one");
    let v1 = hamt(&w.store, &["import", s(&w.data), "-q"]).ok().line();
    let c1 = hamt(&w.store, &["commit", &v1, "-m", "first", "--author", "me"])
        .ok()
        .line();
    write(&w.data, "a/y", b"two");
    let v2 = hamt(&w.store, &["import", s(&w.data), "-q"]).ok().line();
    let c2 = hamt(&w.store, &["commit", &v2, "-m", "second", "--author", "me"])
        .ok()
        .line();
    assert_ne!(c1, c2);

    let log = hamt(&w.store, &["log", "--json"]).ok().json();
    assert_eq!(log[0]["commit"], c2.as_str());
    assert_eq!(log[0]["parents"][0], c1.as_str());
    assert_eq!(log[1]["message"], "first");
    assert_eq!(log[1]["root"], v1.as_str());
    assert_eq!(hamt(&w.store, &["checkout", "main~1"]).ok().line(), v1);
    assert_eq!(
        hamt(&w.store, &["checkout", "main@{2100-01-01}"])
            .ok()
            .line(),
        v2
    );
    let before = hamt(&w.store, &["checkout", "main@{1}"]);
    assert_eq!(before.code, 1);
    assert!(
        before.stderr.contains("does not go back"),
        "{}",
        before.stderr
    );

    // Revisions work wherever a ROOT does.
    let ls = hamt(&w.store, &["ls", "main~1"]).ok();
    assert_eq!(ls.stdout.trim(), "a/x");
    let diff = hamt(&w.store, &["diff", "main~1", "main"]).ok();
    assert!(diff.stdout.contains("+ a/y"), "{}", diff.stdout);

    hamt(&w.store, &["tag", "v1", "main~1"]).ok();
    assert_eq!(hamt(&w.store, &["checkout", "v1"]).ok().line(), v1);
    let again = hamt(&w.store, &["tag", "v1", "main"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("exists"), "{}", again.stderr);
    hamt(&w.store, &["branch", "exp", "v1"]).ok();
    let refs = hamt(&w.store, &["branch", "--json"]).ok().json();
    let names: Vec<&str> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ref"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["refs/heads/exp", "refs/heads/main", "refs/tags/v1"]);
    let bad = hamt(&w.store, &["commit", &v1, "-m", "x", "--branch", "no way"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("bad ref name"), "{}", bad.stderr);

    // A commit's CID stands for its dataset.
    assert_eq!(hamt(&w.store, &["ls", &c1]).ok().stdout.trim(), "a/x");
    // Branches and tags move only through history commands.
    let plain = hamt(
        &w.store,
        &["import", s(&w.data), "--name", "refs/heads/main", "-q"],
    );
    assert_eq!(plain.code, 1);
    assert!(
        plain.stderr.contains("compare-and-swap"),
        "{}",
        plain.stderr
    );
    assert_eq!(hamt(&w.store, &["checkout", "main"]).ok().line(), v2);

    // Only history names the first version: a GC keeps it.
    hamt(&w.store, &["gc", "--grace", "0"]).ok();
    hamt(&w.store, &["verify", "main~1"]).ok();
    hamt(&w.store, &["verify", "main"]).ok();
}

/// `--branch` commits what import, put and rm write; `log` counts keys and
/// changes.
#[test]
fn branches_commit_edits_and_log_counts_changes() {
    let w = world();
    write(&w.data, "a", b"1");
    write(&w.data, "b", b"2");
    hamt(&w.store, &["import", s(&w.data), "--branch", "main", "-q"]).ok();
    let file = w.data.join("a");
    let value = file.to_str().unwrap();
    hamt(
        &w.store,
        &["put", "main", "c", value, "--branch", "main", "-m", "add c"],
    )
    .ok();
    let rm = hamt(&w.store, &["rm", "main", "b", "--branch", "main", "--json"])
        .ok()
        .json();
    let log = hamt(&w.store, &["log", "--json"]).ok().json();
    // The command's JSON says which commit it made.
    assert_eq!(rm["commit"], log[0]["commit"]);
    assert_eq!(rm["root"], log[0]["root"]);
    let summary: Vec<(String, u64, u64, u64, u64)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let n = |k: &str| c[k].as_u64().unwrap();
            (
                c["message"].as_str().unwrap().to_owned(),
                n("keys"),
                n("added"),
                n("removed"),
                n("changed"),
            )
        })
        .collect();
    let import = format!("import {}", w.data.display());
    assert_eq!(
        summary,
        [
            ("rm b".to_owned(), 2, 0, 1, 0),
            ("add c".to_owned(), 3, 1, 0, 0),
            (import, 2, 2, 0, 0),
        ]
    );
    let text = hamt(&w.store, &["log", "-n", "1"]).ok();
    assert!(
        text.stdout.contains("Keys:   2 (+0 -1 ~0)"),
        "{}",
        text.stdout
    );
    assert!(
        !hamt(&w.store, &["log", "--no-stat", "--json"])
            .ok()
            .stdout
            .contains("\"keys\"")
    );
}

/// Writer processes taking turns on one branch, each reading the head,
/// writing a new version from it and committing it with `--parent`: every
/// commit lands, none is lost, and a writer whose head went stale gets
/// exit code 4 (and retries), never a silent overwrite.
#[test]
fn writer_processes_on_one_branch_never_lose_a_commit() {
    const WRITERS: usize = 3;
    const ROUNDS: usize = 3;
    let w = world();
    write(&w.data, "seed", b"0");
    hamt(&w.store, &["import", s(&w.data), "--branch", "main", "-q"]).ok();
    let file = w.data.join("seed");

    // A stale head, deterministically: read v1, let another commit land.
    let v1 = hamt(&w.store, &["checkout", "main", "--json"]).ok().json()["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    let stale = hamt(&w.store, &["put", &v1, "stale", s(&file)]).ok().line();
    let fresh = hamt(&w.store, &["put", &v1, "fresh", s(&file)]).ok().line();
    hamt(
        &w.store,
        &["commit", &fresh, "-m", "fresh", "--parent", &v1],
    )
    .ok();
    let lost = hamt(
        &w.store,
        &["commit", &stale, "-m", "stale", "--parent", &v1],
    );
    assert_eq!(lost.code, 4, "{}", lost.stderr);
    assert!(lost.stderr.contains(&v1), "{}", lost.stderr);

    let conflicts = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (w, file, conflicts) = (&w, &file, &conflicts);
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    let key = format!("w{writer}/r{round}");
                    loop {
                        let head =
                            hamt(&w.store, &["checkout", "main", "--json"]).ok().json()["commit"]
                                .as_str()
                                .unwrap()
                                .to_owned();
                        let root = hamt(&w.store, &["put", &head, &key, s(file)]).ok().line();
                        let commit =
                            hamt(&w.store, &["commit", &root, "-m", &key, "--parent", &head]);
                        match commit.code {
                            0 => break,
                            4 => conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                            _ => panic!("{key}: {}", commit.stderr),
                        };
                    }
                }
            });
        }
    });
    let keys = hamt(&w.store, &["ls", "main"]).ok();
    let keys: Vec<&str> = keys.stdout.split_whitespace().collect();
    assert_eq!(keys.len(), 2 + WRITERS * ROUNDS, "{keys:?}");
    let log = hamt(&w.store, &["log", "-n", "100", "--json", "--no-stat"])
        .ok()
        .json();
    // The import, "fresh", then one commit per round of every writer.
    assert_eq!(log.as_array().unwrap().len(), 2 + WRITERS * ROUNDS);
    eprintln!("{} stale heads retried", conflicts.into_inner());
}

/// A history on the daemon: branches and tags are MFS files under
/// /hamt-refs, each commit pinned recursively; commits, revisions, tags,
/// merges and conflicts work as on the embedded store.
#[test]
fn kubo_histories_live_in_mfs_refs() {
    let Some((api, _)) = ipfs() else { return };
    let w = world();
    let salt = salt();
    let (main, dev) = (format!("main-{salt}"), format!("dev-{salt}"));
    write(&w.data, "a", salt.as_bytes());
    write(&w.data, "b", b"2");
    hamt_kubo(&api, &["import", s(&w.data), "--branch", &main, "-q"]).ok();
    let file = w.data.join("b");
    hamt_kubo(&api, &["put", &main, "c", s(&file), "--branch", &main]).ok();
    let log = hamt_kubo(&api, &["log", &main, "--json"]).ok().json();
    assert_eq!(log.as_array().unwrap().len(), 2);
    assert_eq!(log[0]["keys"], 3);
    let head = log[0]["commit"].as_str().unwrap().to_owned();
    assert_eq!(pin_of(&api, &head), Some(hamt_kubo::PinKind::Recursive));
    let first = hamt_kubo(&api, &["checkout", &format!("{main}~1")])
        .ok()
        .line();
    assert_eq!(first, log[1]["root"].as_str().unwrap());
    hamt_kubo(&api, &["tag", &format!("v1-{salt}"), &main]).ok();
    let refs = hamt_kubo(&api, &["branch", "--json"]).ok().stdout;
    assert!(refs.contains(&format!("refs/tags/v1-{salt}")), "{refs}");

    // A branch, changes on both sides, a merge; then a stale --parent.
    hamt_kubo(&api, &["branch", &dev, &main]).ok();
    hamt_kubo(&api, &["rm", &dev, "a", "--branch", &dev]).ok();
    hamt_kubo(&api, &["put", &main, "d", s(&file), "--branch", &main]).ok();
    let merged = hamt_kubo(&api, &["merge", &dev, "--into", &main, "--json"])
        .ok()
        .json();
    assert_eq!(merged["merge"], "merged");
    let keys = hamt_kubo(&api, &["ls", &main]).ok();
    assert_eq!(
        keys.stdout.split_whitespace().collect::<Vec<_>>(),
        ["b", "c", "d"]
    );
    let root = hamt_kubo(&api, &["checkout", &main]).ok().line();
    let stale = hamt_kubo(
        &api,
        &[
            "commit", &root, "-m", "x", "--branch", &main, "--parent", &head,
        ],
    );
    assert_eq!(stale.code, 4, "{}", stale.stderr);
}

/// `merge` fast-forwards, merges disjoint changes, and stops with exit
/// code 4 on keys both sides changed differently.
#[test]
fn merges_fast_forward_combine_and_conflict() {
    let w = world();
    write(&w.data, "a", b"1");
    write(&w.data, "b", b"2");
    hamt(&w.store, &["import", s(&w.data), "--branch", "main", "-q"]).ok();
    let file = w.data.join("a");
    let value = file.to_str().unwrap();

    // dev splits off; main gains d, dev changes a and adds e.
    hamt(&w.store, &["branch", "dev", "main"]).ok();
    hamt(&w.store, &["put", "main", "d", value, "--branch", "main"]).ok();
    let other = w.data.join("b");
    let changed = other.to_str().unwrap();
    hamt(&w.store, &["put", "dev", "a", changed, "--branch", "dev"]).ok();
    hamt(&w.store, &["put", "dev", "e", changed, "--branch", "dev"]).ok();
    let merged = hamt(&w.store, &["merge", "dev", "--json"]).ok().json();
    assert_eq!(merged["merge"], "merged");
    let keys = hamt(&w.store, &["ls", "main"]).ok();
    assert_eq!(
        keys.stdout.split_whitespace().collect::<Vec<_>>(),
        ["a", "b", "d", "e"]
    );
    assert_eq!(hamt(&w.store, &["get", "main", "a"]).ok().stdout, "2");
    let head = hamt(&w.store, &["log", "-n", "1", "--json"]).ok().json();
    assert_eq!(head[0]["parents"].as_array().unwrap().len(), 2);
    assert_eq!(head[0]["message"], "Merge dev into main");
    // Merging again changes nothing; dev fast-forwards to main.
    assert_eq!(
        hamt(&w.store, &["merge", "dev", "--json"]).ok().json()["merge"],
        "already up to date"
    );
    let ff = hamt(&w.store, &["merge", "main", "--into", "dev", "--json"])
        .ok()
        .json();
    assert_eq!(ff["merge"], "fast-forward");
    assert_eq!(ff["commit"], head[0]["commit"]);

    // Both change a, differently: a conflict, and main does not move.
    hamt(&w.store, &["put", "main", "a", value, "--branch", "main"]).ok();
    hamt(&w.store, &["rm", "dev", "a", "--branch", "dev"]).ok();
    let before = hamt(&w.store, &["checkout", "main"]).ok().line();
    let conflict = hamt(&w.store, &["merge", "dev"]);
    assert_eq!(conflict.code, 4, "{}", conflict.stderr);
    assert!(
        conflict.stderr.contains("1 keys changed differently") && conflict.stderr.contains("  a"),
        "{}",
        conflict.stderr
    );
    assert_eq!(hamt(&w.store, &["checkout", "main"]).ok().line(), before);
    // No common history.
    let alone = hamt(
        &w.store,
        &["commit", &before, "-m", "alone", "--branch", "lone"],
    )
    .ok();
    drop(alone);
    let unrelated = hamt(&w.store, &["merge", "lone"]);
    assert_eq!(unrelated.code, 1);
    assert!(
        unrelated.stderr.contains("share no history"),
        "{}",
        unrelated.stderr
    );
    // --branch needs the embedded store, and fails before any work.
    let memory = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .args(["--memory", "import", s(&w.data), "--branch", "main", "-q"])
        .output()
        .unwrap();
    assert_eq!(memory.status.code(), Some(1));
    assert!(memory.stdout.is_empty(), "imported before failing");
}
