//! The `hamt` binary on py-hamt's sharded layout: import a zarr tree as a
//! sharded store; every command that takes a root detects the layout (get,
//! ls, stat, verify, diff, export, car export); convert a HAMT import; graft
//! batches into one store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use hamt_codec::{BlockCodec, HashAlgorithm, block_cid, link_list};
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{hamt, s};

/// Imports the zarr tree `data` into `store` as a sharded store of
/// `per_shard` chunks per shard; its root.
fn import_sharded(store: &Path, data: &Path, per_shard: u64) -> String {
    let per_shard = per_shard.to_string();
    hamt(
        store,
        &[
            "import",
            s(data),
            "--sharded",
            "--chunks-per-shard",
            &per_shard,
            "-q",
        ],
    )
    .ok()
    .line()
}

const GROUP: &str = r#"{"zarr_format": 3, "node_type": "group"}"#;
const GROUP_0: &str = r#"{"zarr_format": 3, "node_type": "group", "attributes": {"title": "t"}}"#;

fn array_meta(shape: [u64; 2], chunks: [u64; 2]) -> String {
    format!(
        r#"{{"zarr_format": 3, "node_type": "array", "shape": [{}, {}], "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": [{}, {}]}}}}}}"#,
        shape[0], shape[1], chunks[0], chunks[1]
    )
}

/// A zarr tree with one 8x6 array in chunks of 2x2 (12 chunks) under group
/// "0", rows `rows` of chunks written (chunk bytes name their coordinates
/// and `tag`), chunk (1, 1) left out.
fn zarr_tree(dir: &Path, rows: std::ops::Range<u64>, tag: &str) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert("zarr.json".to_owned(), GROUP.as_bytes().to_vec());
    files.insert("0/zarr.json".to_owned(), GROUP_0.as_bytes().to_vec());
    let start = rows.start;
    files.insert(
        "0/temp/zarr.json".to_owned(),
        array_meta([(rows.end - start) * 2, 6], [2, 2]).into_bytes(),
    );
    for i in rows {
        for j in 0..3 {
            if (i, j) != (1, 1) {
                let local = i - start;
                files.insert(
                    format!("0/temp/c/{local}/{j}"),
                    format!("chunk {i} {j} {tag}").into_bytes(),
                );
            }
        }
    }
    for (key, value) in &files {
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, value).unwrap();
    }
    files
}

#[test]
fn a_sharded_import_reads_back_through_every_command() {
    let tmp = TempDir::new().unwrap();
    let (store, data) = (tmp.path().join("store"), tmp.path().join("data"));
    let files = zarr_tree(&data, 0..4, "a");
    let root = hamt(
        &store,
        &[
            "import",
            s(&data),
            "--sharded",
            "--chunks-per-shard",
            "5",
            "--name",
            "ds",
            "-q",
        ],
    )
    .ok()
    .line();

    // get and ls
    let got = hamt(&store, &["get", "ds", "0/temp/c/2/1"]).ok();
    assert_eq!(got.stdout, "chunk 2 1 a");
    let missing = hamt(&store, &["get", "ds", "0/temp/c/1/1"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    let keys: Vec<String> =
        serde_json::from_value(hamt(&store, &["ls", "ds", "--json"]).ok().json()).unwrap();
    assert_eq!(keys, files.keys().cloned().collect::<Vec<_>>());
    let dirs = hamt(&store, &["ls", "ds", "0/temp/", "--dirs"]).ok();
    assert_eq!(dirs.stdout.lines().collect::<Vec<_>>(), ["c/", "zarr.json"]);

    // stat: the layout and the array's index
    let stat = hamt(&store, &["stat", "ds", "--json"]).ok().json();
    assert_eq!(stat["layout"], "sharded");
    assert_eq!(stat["manifest_version"], "sharded_zarr_v2");
    let array = &stat["arrays"][0];
    assert_eq!(array["path"], "0/temp");
    assert_eq!(array["chunks"], 12);
    assert_eq!(array["chunks_stored"], 11);
    assert_eq!(array["shards"], 3);
    assert_eq!(array["shards_written"], 3);
    assert_eq!(stat["index_blocks"], 4, "the manifest and 3 shards");
    assert_eq!(stat["value_blocks"], 14, "11 chunks, 3 metadata values");
    assert_eq!(stat["unreadable_blocks"], 0);

    // export gives the files back; verify is clean
    let out = tmp.path().join("out");
    hamt(&store, &["export", "ds", s(&out), "-q"]).ok();
    for (key, value) in &files {
        assert_eq!(&std::fs::read(out.join(key)).unwrap(), value, "{key}");
    }
    let report = hamt(&store, &["verify", "ds", "--json"]).ok().json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["blocks"], 18);

    // a CAR of it imports elsewhere complete, with the same root
    let car = tmp.path().join("ds.car");
    hamt(&store, &["car", "export", "ds", s(&car), "-q"]).ok();
    let other = tmp.path().join("other");
    let imported = hamt(&other, &["car", "import", s(&car), "-q"]).ok().line();
    assert_eq!(imported, root);
    hamt(&other, &["verify", &root]).ok();
    let again = hamt(&other, &["get", &root, "0/temp/c/3/2"]).ok();
    assert_eq!(again.stdout, "chunk 3 2 a");
}

#[test]
fn put_rm_and_diff_on_sharded_roots_name_the_chunks_that_changed() {
    let tmp = TempDir::new().unwrap();
    let (store, data) = (tmp.path().join("store"), tmp.path().join("data"));
    zarr_tree(&data, 0..4, "a");
    let root = import_sharded(&store, &data, 5);
    let value = tmp.path().join("value");
    std::fs::write(&value, b"rewritten").unwrap();
    let changed = hamt(&store, &["put", &root, "0/temp/c/3/0", s(&value), "-q"])
        .ok()
        .line();
    let added = hamt(&store, &["put", &changed, "0/temp/c/1/1", s(&value), "-q"])
        .ok()
        .line();
    let removed = hamt(&store, &["rm", &added, "0/temp/c/0/2", "-q"])
        .ok()
        .line();
    let diff = hamt(&store, &["diff", &root, &removed, "--json"])
        .ok()
        .json();
    assert_eq!(diff["added"], serde_json::json!(["0/temp/c/1/1"]));
    assert_eq!(diff["removed"], serde_json::json!(["0/temp/c/0/2"]));
    assert_eq!(diff["changed"], serde_json::json!(["0/temp/c/3/0"]));
    // Putting back what was there returns to the first root.
    std::fs::write(&value, b"chunk 0 2 a").unwrap();
    let back = hamt(&store, &["put", &removed, "0/temp/c/0/2", s(&value), "-q"])
        .ok()
        .line();
    std::fs::write(&value, b"chunk 3 0 a").unwrap();
    let back = hamt(&store, &["put", &back, "0/temp/c/3/0", s(&value), "-q"])
        .ok()
        .line();
    let back = hamt(&store, &["rm", &back, "0/temp/c/1/1", "-q"])
        .ok()
        .line();
    assert_eq!(back, root);
    let none = hamt(&store, &["diff", &root, &back, "--json"]).ok().json();
    assert_eq!(none["changed"].as_array().unwrap().len(), 0);
}

#[test]
fn converting_a_hamt_import_gives_the_sharded_import_and_reads_the_same() {
    let tmp = TempDir::new().unwrap();
    let (store, data) = (tmp.path().join("store"), tmp.path().join("data"));
    zarr_tree(&data, 0..4, "a");
    let hamt_root = hamt(&store, &["import", s(&data), "-q"]).ok().line();
    let sharded = import_sharded(&store, &data, 5);
    let converted = hamt(
        &store,
        &["convert", &hamt_root, "--chunks-per-shard", "5", "-q"],
    )
    .ok()
    .line();
    assert_eq!(
        converted, sharded,
        "the same keys and values: the same sharded root"
    );
    // A HAMT and a sharded root compare key by key: nothing differs.
    let diff = hamt(&store, &["diff", &hamt_root, &converted, "--json"])
        .ok()
        .json();
    for kind in ["added", "removed", "changed"] {
        assert_eq!(diff[kind].as_array().unwrap().len(), 0, "{kind}: {diff}");
    }
    let stat = hamt(&store, &["stat", &hamt_root, "--json"]).ok().json();
    assert_eq!(stat["layout"], "hamt");
}

#[test]
fn graft_assembles_batches_written_apart() {
    let tmp = TempDir::new().unwrap();
    let store = tmp.path().join("store");
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    zarr_tree(&first, 0..2, "first");
    zarr_tree(&second, 2..4, "second");
    let a = import_sharded(&store, &first, 5);
    let b = import_sharded(&store, &second, 5);
    // Without --grow the target's array (4 x 6) cannot hold rows 2..4.
    let refused = hamt(&store, &["graft", &a, &b, "--at", "2,0"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    let all = hamt(
        &store,
        &["graft", &a, &b, "--at", "2,0", "--grow", "--json", "-q"],
    )
    .ok()
    .json();
    assert_eq!(all["arrays"], serde_json::json!(["0/temp"]));
    let all = all["root"].as_str().unwrap().to_owned();
    let stat = hamt(&store, &["stat", &all, "--json"]).ok().json();
    assert_eq!(stat["arrays"][0]["shape"], serde_json::json!([8, 6]));
    assert_eq!(
        stat["arrays"][0]["chunks_stored"], 11,
        "5 + 6: (1, 1) left out"
    );
    assert_eq!(
        hamt(&store, &["get", &all, "0/temp/c/0/0"]).ok().stdout,
        "chunk 0 0 first"
    );
    assert_eq!(
        hamt(&store, &["get", &all, "0/temp/c/3/2"]).ok().stdout,
        "chunk 3 2 second"
    );
    assert_eq!(
        hamt(&store, &["get", &all, "0/temp/c/2/0"]).ok().stdout,
        "chunk 2 0 second"
    );
    let meta: Value =
        serde_json::from_str(&hamt(&store, &["get", &all, "0/temp/zarr.json"]).ok().stdout)
            .unwrap();
    assert_eq!(meta["shape"], serde_json::json!([8, 6]));
    // No chunk was copied: the grafted chunks are the second batch's blocks.
    hamt(&store, &["verify", &all]).ok();
    // A HAMT is no graft source.
    let hamt_root = hamt(&store, &["import", s(&second), "-q"]).ok().line();
    let wrong = hamt(&store, &["graft", &a, &hamt_root, "--at", "2,0"]);
    assert!(
        wrong.stderr.contains("convert it first"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn verify_names_a_missing_shard_and_a_corrupt_chunk_by_key() {
    let tmp = TempDir::new().unwrap();
    let (store, data) = (tmp.path().join("store"), tmp.path().join("data"));
    let files = zarr_tree(&data, 0..4, "a");
    let root = import_sharded(&store, &data, 5);
    let raw = |key: &str| block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &files[key]);
    let victim = raw("0/temp/c/2/2");
    // Shard 2 holds chunks 10 and 11 of the 12 ((3,1) and (3,2)) and three nulls.
    let shard = link_list::encode(&[
        Some(raw("0/temp/c/3/1")),
        Some(raw("0/temp/c/3/2")),
        None,
        None,
        None,
    ]);
    let shard = block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, &shard);
    {
        let rocks = RocksDbStore::open(&store, &RocksDbOptions::default()).unwrap();
        rocks.put_unverified(&victim, b"bit rot").unwrap();
        rocks.put_unverified(&shard, b"bit rot").unwrap();
    }
    let run = hamt(&store, &["verify", &root]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "corrupt block {victim} (value of key \"0/temp/c/2/2\")"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "corrupt block {shard} (shard 2 of array \"0/temp\")"
        )),
        "{}",
        run.stdout
    );
    let report = hamt(&store, &["verify", &root, "--json"]).json();
    let kinds: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["block"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2, "{report}");
    assert!(
        kinds.contains(&"shard") && kinds.contains(&"value"),
        "{report}"
    );
    for key in ["0/temp/c/2/2", "0/temp/c/3/1"] {
        let get = hamt(&store, &["get", &root, key]);
        assert_eq!(get.code, 1, "{key}");
        assert!(get.stderr.contains("corrupt"), "{key}: {}", get.stderr);
    }
    // The rest reads.
    assert_eq!(
        hamt(&store, &["get", &root, "0/temp/c/0/0"]).ok().stdout,
        "chunk 0 0 a"
    );
}

/// A one-dimensional array of `len` one-element chunks, three of them
/// written (first, middle, last), under group "0".
fn long_array_tree(dir: &Path, len: u64) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    files.insert("zarr.json".to_owned(), GROUP.as_bytes().to_vec());
    files.insert("0/zarr.json".to_owned(), GROUP_0.as_bytes().to_vec());
    let meta = format!(
        r#"{{"zarr_format": 3, "node_type": "array", "shape": [{len}], "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": [1]}}}}}}"#
    );
    files.insert("0/long/zarr.json".to_owned(), meta.into_bytes());
    for i in [0, len / 2, len - 1] {
        files.insert(format!("0/long/c/{i}"), format!("chunk {i}").into_bytes());
    }
    for (key, value) in &files {
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, value).unwrap();
    }
    files
}

/// Index blocks over 1 MiB are UnixFS files (as py-hamt's `KuboCAS` stores
/// them), whose dag-pb blocks do not link what the index links: a shard of
/// 2^20 entries (nulls are a byte each), and a manifest listing 1.2M
/// shards. Every command still reads them, and verify and CAR export walk
/// what they link.
#[test]
fn index_blocks_stored_as_files_are_read_verified_and_exported_whole() {
    for (len, per_shard, file) in [(1 << 20, 1 << 20, "shard"), (1_200_000, 1, "manifest")] {
        let tmp = TempDir::new().unwrap();
        let (store, data) = (tmp.path().join("store"), tmp.path().join("data"));
        let files = long_array_tree(&data, len);
        let root = import_sharded(&store, &data, per_shard);
        // dag-pb (a UnixFS file) or dag-cbor, both blake3: `bafyb4i…`, `bafyr4i…`.
        assert_eq!(
            root.starts_with("bafyb4i"),
            file == "manifest",
            "{file}: {root}"
        );

        let middle = format!("0/long/c/{}", len / 2);
        assert_eq!(
            hamt(&store, &["get", &root, &middle]).ok().stdout,
            format!("chunk {}", len / 2)
        );
        let keys: Vec<String> =
            serde_json::from_value(hamt(&store, &["ls", &root, "--json"]).ok().json()).unwrap();
        assert_eq!(keys, files.keys().cloned().collect::<Vec<_>>(), "{file}");
        let report = hamt(&store, &["verify", &root, "--json"]).ok().json();
        assert_eq!(report["ok"], true, "{file}: {report}");

        let car = tmp.path().join("ds.car");
        hamt(&store, &["car", "export", &root, s(&car), "-q"]).ok();
        let other = tmp.path().join("other");
        let imported = hamt(&other, &["car", "import", s(&car), "-q"]).ok().line();
        assert_eq!(imported, root);
        hamt(&other, &["verify", &root]).ok();
        let out = tmp.path().join("out");
        hamt(&other, &["export", &root, s(&out), "-q"]).ok();
        for (key, value) in &files {
            assert_eq!(
                &std::fs::read(out.join(key)).unwrap(),
                value,
                "{file}: {key}"
            );
        }
    }
}
