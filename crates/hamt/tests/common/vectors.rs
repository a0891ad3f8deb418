//! Replaying py-hamt's golden vectors: the same operations must give the
//! same root CID and byte-identical blocks, and every entry must read back
//! from py-hamt's own blocks. Shared by this crate's tests (in memory) and
//! the backends' (`hamt-rocksdb/tests/hamt_on_rocksdb.rs`).
//!
//! Vector folders: `$HAMT_INTEROP_VECTORS` if set, else
//! `../shared/interop/pyhamt-vectors` beside the project; plus this crate's
//! own `tests/vectors/` (made by `tests/vectors/generate.py` with py-hamt 3.6.0).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use hamt::{Hamt, HamtConfig};
use hamt_codec::Cid;
use hamt_store::{Block, BlockStore, Bytes, MemoryStore};
use serde_json::Value;

pub fn shared_vectors_dir() -> PathBuf {
    match std::env::var_os("HAMT_INTEROP_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            // Every crate sits two levels below the project root.
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop/pyhamt-vectors")
        }
    }
}

pub fn own_vectors_dir() -> PathBuf {
    // This file's own crate, whichever crate's tests include it.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hamt/tests/vectors")
}

pub fn vector_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("vector folder {} unreadable: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.json vectors in {}", dir.display());
    files
}

fn cid(s: &str) -> Cid {
    Cid::try_from(s).unwrap_or_else(|e| panic!("bad CID {s}: {e}"))
}

fn config_for(vector: &Value) -> HamtConfig {
    let params = &vector["params"];
    let hash_fn = params["hash_fn"].as_str().unwrap_or("blake3");
    assert!(
        hash_fn.starts_with("blake3"),
        "unsupported hash_fn {hash_fn}"
    );
    let bucket = params["max_bucket_size"].as_u64().unwrap_or(4);
    HamtConfig::default().with_max_bucket_size(usize::try_from(bucket).unwrap())
}

pub async fn replay<S: BlockStore>(path: &Path, store: Arc<S>) {
    let name = path.display();
    let vector: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let blocks: BTreeMap<Cid, Vec<u8>> = vector["blocks"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(c, hex)| (cid(c), hex::decode(hex.as_str().unwrap()).unwrap()))
        .collect();

    // 1. Same operations, same root, same blocks.
    let mut map = Hamt::new(store.clone(), config_for(&vector));
    for (i, op) in vector["operations"].as_array().unwrap().iter().enumerate() {
        let key = op["key"].as_str().unwrap_or_default();
        match op["op"].as_str().unwrap() {
            "set" => {
                let value = hex::decode(op["value"].as_str().unwrap()).unwrap();
                map.insert(key, value).await.unwrap();
            }
            "delete" => {
                let removed = map.remove(key).await.unwrap();
                assert!(
                    removed.is_some(),
                    "{name}: op {i} deletes missing key {key:?}"
                );
            }
            "flush" => {
                let root = map.flush().await.unwrap();
                if let Some(expected) = op["root_cid"].as_str() {
                    assert_eq!(root, cid(expected), "{name}: root after flush op {i}");
                }
            }
            other => panic!("{name}: unknown op {other:?}"),
        }
    }
    let root = map.flush().await.unwrap();
    let expected_root = cid(vector["root_cid"].as_str().unwrap());
    assert_eq!(root, expected_root, "{name}: root CID");

    let expected_reachable: BTreeSet<Cid> = vector["reachable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| cid(c.as_str().unwrap()))
        .collect();
    assert_eq!(
        super::reachable_blocks(&*store, root)
            .await
            .into_keys()
            .collect::<BTreeSet<Cid>>(),
        expected_reachable,
        "{name}: reachable set"
    );
    for c in &expected_reachable {
        let ours = store.get(c).await.unwrap();
        assert_eq!(&ours[..], &blocks[c][..], "{name}: block {c} differs");
    }

    // 2. py-hamt's own blocks read back here.
    let theirs = Arc::new(MemoryStore::new());
    for (c, bytes) in &blocks {
        theirs
            .put_block(Block::verified(*c, Bytes::from(bytes.clone())).unwrap())
            .await
            .unwrap();
    }
    let reader = Hamt::open(theirs, expected_root, HamtConfig::default())
        .await
        .unwrap();
    let entries = vector["entries"].as_object().unwrap();
    assert_eq!(
        reader.len().await.unwrap(),
        entries.len() as u64,
        "{name}: len"
    );
    for (key, value_cid) in entries {
        let link = cid(value_cid.as_str().unwrap());
        assert_eq!(
            reader.get_link(key).await.unwrap(),
            Some(link),
            "{name}: link of {key}"
        );
        let value = reader.get(key).await.unwrap().unwrap();
        assert_eq!(&value[..], &blocks[&link][..], "{name}: value of {key}");
    }
    let mut keys: Vec<String> = reader.keys().try_collect().await.unwrap();
    keys.sort();
    let mut expected_keys: Vec<String> = entries.keys().cloned().collect();
    expected_keys.sort();
    assert_eq!(keys, expected_keys, "{name}: keys");
}
