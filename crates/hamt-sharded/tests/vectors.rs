//! Replays the golden vectors py-hamt 3.6.0 wrote (`tests/vectors/*.json`,
//! made by `tests/vectors/generate.py`): the same calls on the same stores
//! must give the same root at every flush, read the same values, list the
//! same keys, and leave byte-identical blocks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hamt::{Hamt, HamtConfig};
use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};
use hamt_sharded::{ShardedConfig, ShardedError, ShardedMap, convert};
use hamt_store::dag::{BlockLinks, DagWalk};
use hamt_store::{Block, BlockStore, ByteRange, Bytes, Cid, MemoryStore};
use serde_json::Value;

type Map = ShardedMap<Arc<MemoryStore>>;

fn vectors() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "vectors missing in {}", dir.display());
    files
}

fn cid(value: &Value) -> Cid {
    Cid::try_from(value.as_str().unwrap()).unwrap()
}

fn value_bytes(step: &Value) -> Bytes {
    match &step["value"] {
        Value::String(hex) => hex::decode(hex).unwrap().into(),
        spec => hamt_bench_data::incompressible(
            spec["pattern"].as_u64().unwrap(),
            usize::try_from(spec["len"].as_u64().unwrap()).unwrap(),
        )
        .into(),
    }
}

fn dims(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect()
}

fn opt_str(value: &Value) -> Option<&str> {
    value.as_str()
}

/// What a store reads for `key`: the raw CID of the value's bytes, as the
/// vector records it.
async fn read(map: &Map, key: &str) -> Option<Cid> {
    let link = map.get_link(key).await.unwrap()?;
    let bytes = map.read_value(&link, ByteRange::Full).await.unwrap();
    Some(block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &bytes))
}

async fn check_reads(name: &str, map: &Map, reads: &Value) {
    for (key, expected) in reads.as_object().unwrap() {
        let expected = expected.as_str().map(|c| Cid::try_from(c).unwrap());
        assert_eq!(read(map, key).await, expected, "{name}: read of {key:?}");
    }
}

/// Every block reachable from `root`.
async fn reachable(store: &MemoryStore, root: Cid) -> BTreeMap<Cid, Bytes> {
    let mut walk = DagWalk::new(store, BlockLinks::default());
    walk.add_root(root, ());
    let mut out = BTreeMap::new();
    while let Some(batch) = walk.next_batch().await {
        for visit in batch {
            out.insert(visit.cid, visit.result.unwrap().unwrap());
        }
    }
    out
}

/// Whether a failed step of ours matches what py-hamt did: it raised too,
/// or it silently dropped a chunk key that does not fit (we refuse it).
fn expected_failure(step: &Value, error: &ShardedError) -> bool {
    step["error"].as_bool() == Some(true) || matches!(error, ShardedError::Key(_))
}

/// One call of a step on a store.
async fn run_step(map: &mut Map, step: &Value, at: &str) -> Result<(), ShardedError> {
    let key = || step["key"].as_str().unwrap();
    match step["op"].as_str().unwrap() {
        "set" => map.set(key(), value_bytes(step)).await,
        "set_pointer" => map.set_pointer(key(), cid(&step["cid"])).await,
        "delete" => map.delete(key()).await.map(drop),
        "delete_dir" => map.delete_dir(step["prefix"].as_str().unwrap()).await,
        "graft" => {
            map.graft(
                cid(&step["source_root"]),
                &dims(&step["offset"]),
                opt_str(&step["source_array"]),
                opt_str(&step["target_array"]),
            )
            .await
        }
        "resize" => {
            map.resize(dims(&step["shape"]), opt_str(&step["array"]))
                .await
        }
        "resize_variable" => {
            map.resize_variable(step["name"].as_str().unwrap(), &dims(&step["shape"]))
                .await
        }
        "migrate" => {
            let root = map
                .migrate_v1_to_v2(step["primary_array_path"].as_str().unwrap())
                .await;
            root.map(|root| assert_eq!(root, cid(&step["root"]), "{at}: migrated root"))
        }
        "flush" => {
            let root = map.flush().await;
            root.map(|root| assert_eq!(root, cid(&step["root"]), "{at}: root"))
        }
        other => panic!("{at}: unknown op {other}"),
    }
}

/// The final store: its root, keys, reads, and every block it reaches.
async fn check_final(vector: &Value, name: &str, blocks: &MemoryStore, map: &mut Map) {
    let last = &vector["final"];
    let root = map.flush().await.unwrap();
    assert_eq!(root, cid(&last["root"]), "{name}: final root");
    let mut keys = map.keys().await.unwrap();
    keys.sort();
    let expected: Vec<String> = last["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, expected, "{name}: keys");
    check_reads(name, map, &last["reads"]).await;
    let ours = reachable(blocks, root).await;
    let recorded: BTreeSet<Cid> = vector["blocks"]
        .as_object()
        .unwrap()
        .keys()
        .map(|c| Cid::try_from(c.as_str()).unwrap())
        .collect();
    for (cid, bytes) in &ours {
        assert!(
            recorded.contains(cid) || recorded.is_empty(),
            "{name}: block {cid} is not py-hamt's"
        );
        if let Some(theirs) = vector["blocks"][cid.to_string()].as_str() {
            assert_eq!(hex::encode(bytes), theirs, "{name}: block {cid} differs");
        }
    }
}

/// Steps that act on blocks alone (no sharded store): build a HAMT, convert one.
async fn run_block_step(blocks: &Arc<MemoryStore>, step: &Value, at: &str) {
    match step["op"].as_str().unwrap() {
        "hamt" => {
            let mut hamt = Hamt::new(blocks.clone(), HamtConfig::default());
            for (key, hex) in step["entries"].as_object().unwrap() {
                hamt.insert(key, hex::decode(hex.as_str().unwrap()).unwrap())
                    .await
                    .unwrap();
            }
            assert_eq!(
                hamt.flush().await.unwrap(),
                cid(&step["root"]),
                "{at}: HAMT root"
            );
        }
        "convert" => {
            let root = convert::hamt_to_sharded(
                blocks.clone(),
                cid(&step["hamt_root"]),
                step["chunks_per_shard"].as_u64().unwrap(),
            )
            .await
            .unwrap()
            .root;
            assert_eq!(root, cid(&step["root"]), "{at}: converted root");
        }
        other => panic!("{at}: not a block step: {other}"),
    }
}

/// Runs a step on an open store and checks it failed exactly when py-hamt's did.
async fn run_checked_step(map: &mut Map, step: &Value, at: &str) {
    let before = map.root_cid();
    match run_step(map, step, at).await {
        Err(error) => {
            assert!(expected_failure(step, &error), "{at}: {error}");
            // py-hamt's graft writes the chunks before the failing one; all else is atomic.
            if step["op"] != "graft" {
                assert_eq!(
                    map.root_cid(),
                    before,
                    "{at}: a failed step changed nothing"
                );
            }
        }
        Ok(()) => assert!(
            step["error"].as_bool() != Some(true),
            "{at}: py-hamt refused it"
        ),
    }
}

async fn replay(path: &Path) {
    let vector: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let name = vector["name"].as_str().unwrap().to_owned();
    let blocks = Arc::new(MemoryStore::new());
    let theirs: Vec<Block> = vector["blocks"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(c, hex)| {
            let bytes = hex::decode(hex.as_str()?).unwrap();
            Some(Block::verified(Cid::try_from(c.as_str()).unwrap(), bytes.into()).unwrap())
        })
        .collect();
    let mut stores: BTreeMap<String, Map> = BTreeMap::new();
    for (i, step) in vector["steps"].as_array().unwrap().iter().enumerate() {
        let op = step["op"].as_str().unwrap();
        let at = format!(
            "{name}: step {i} ({op} {})",
            step.get("key").map_or("", |k| k.as_str().unwrap_or(""))
        );
        let store = step["store"].as_str().unwrap_or_default().to_owned();
        match op {
            // v1 stores are read-only here: their steps are py-hamt's alone.
            "new_v1" => {
                stores.remove(&store);
            }
            "put_root" => {}
            "hamt" | "convert" => run_block_step(&blocks, step, &at).await,
            "new" => {
                let cps = step["chunks_per_shard"].as_u64().unwrap();
                stores.insert(store, ShardedMap::new(blocks.clone(), cps).unwrap());
            }
            "open" => {
                let root = cid(&step["root"]);
                if !blocks.has(&root).await.unwrap() {
                    // A root py-hamt alone could write (v1): its blocks.
                    blocks.put_many(theirs.clone()).await.unwrap();
                }
                let map = ShardedMap::open(blocks.clone(), root, ShardedConfig::default())
                    .await
                    .unwrap();
                stores.insert(store, map);
            }
            // A step on a v1 store py-hamt wrote.
            _ if !stores.contains_key(&store) => {}
            "reads" => check_reads(&at, &stores[&store], &step["reads"]).await,
            _ => run_checked_step(stores.get_mut(&store).unwrap(), step, &at).await,
        }
    }
    let last = vector["final"]["store"].as_str().unwrap();
    check_final(&vector, &name, &blocks, stores.get_mut(last).unwrap()).await;
}

#[tokio::test]
async fn py_hamt_sharded_vectors_replay_exactly() {
    for path in vectors() {
        replay(&path).await;
    }
}
