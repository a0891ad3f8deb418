//! Model check: random chunk writes, deletes, flushes and reopens on a
//! [`ShardedMap`] against a `BTreeMap`, for several shard sizes. A second
//! map gets the same operations with a dirty-shard budget and a value buffer
//! of zero (every change spills its shard, every value is stored at once)
//! and must flush to the same roots.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use hamt::Change;
use hamt_codec::Cid;
use hamt_sharded::{ShardedConfig, ShardedMap};
use hamt_store::{ByteRange, MemoryStore};
use proptest::prelude::*;

type Map = ShardedMap<Arc<MemoryStore>>;

/// (path, zarr.json, chunk grid) of the two arrays under group `0`.
const ARRAYS: [(&str, &str, &[u64]); 2] = [
    (
        "0/temp",
        r#"{"zarr_format": 3, "node_type": "array", "shape": [7, 5], "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2, 2]}}}"#,
        &[4, 3],
    ),
    (
        "0/rain",
        r#"{"zarr_format": 3, "node_type": "array", "shape": [9], "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1]}}}"#,
        &[9],
    ),
];

fn chunk_key(array: usize, linear: u64) -> String {
    let (path, _, grid) = ARRAYS[array];
    let mut coords = vec![0; grid.len()];
    let mut rest = linear % grid.iter().product::<u64>();
    for (d, &n) in grid.iter().enumerate().rev() {
        coords[d] = rest % n;
        rest /= n;
    }
    let coords: Vec<String> = coords.iter().map(u64::to_string).collect();
    format!("{path}/c/{}", coords.join("/"))
}

#[derive(Debug, Clone)]
enum Op {
    Set { array: usize, linear: u64, fill: u8 },
    Delete { array: usize, linear: u64 },
    Flush,
    Reopen { cached: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0..12u64, any::<u8>())
            .prop_map(|(array, linear, fill)| Op::Set { array, linear, fill }),
        3 => (0..2usize, 0..12u64).prop_map(|(array, linear)| Op::Delete { array, linear }),
        1 => Just(Op::Flush),
        1 => any::<bool>().prop_map(|cached| Op::Reopen { cached }),
    ]
}

fn value(key: &str, fill: u8) -> Bytes {
    // Distinct per key, so a value under the wrong key is caught.
    let mut bytes = key.as_bytes().to_vec();
    bytes.push(fill);
    bytes.into()
}

async fn new_map(blocks: &Arc<MemoryStore>, per_shard: u64, dirty_shard_bytes: usize) -> Map {
    // The map spilling every change also stores every value at once, so
    // both early-write paths (shards and buffered values) meet the model.
    let buffered_value_bytes = if dirty_shard_bytes == 0 {
        0
    } else {
        ShardedConfig::default().buffered_value_bytes
    };
    let config = ShardedConfig {
        dirty_shard_bytes,
        buffered_value_bytes,
        ..ShardedConfig::default()
    };
    let mut map = ShardedMap::with_config(blocks.clone(), per_shard, config).unwrap();
    map.set(
        "zarr.json",
        Bytes::from_static(br#"{"zarr_format": 3, "node_type": "group"}"#),
    )
    .await
    .unwrap();
    for (path, meta, _) in ARRAYS {
        map.set(
            &format!("{path}/zarr.json"),
            Bytes::from_static(meta.as_bytes()),
        )
        .await
        .unwrap();
    }
    map
}

async fn check_all(map: &Map, model: &BTreeMap<String, Bytes>) {
    for (array, (_, _, grid)) in ARRAYS.iter().enumerate() {
        for linear in 0..grid.iter().product::<u64>() {
            let key = chunk_key(array, linear);
            let found = match map.get_link(&key).await.unwrap() {
                Some(link) => Some(map.read_value(&link, ByteRange::Full).await.unwrap()),
                None => None,
            };
            assert_eq!(found.as_ref(), model.get(&key), "{key}");
        }
    }
    let listed: BTreeSet<String> = map
        .keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.contains("/c/"))
        .collect();
    let expected: BTreeSet<String> = model.keys().cloned().collect();
    assert_eq!(listed, expected, "listing");
}

/// The model's changes from `old` to `new`, as `ShardedMap::diff` gives them.
fn model_diff(old: &BTreeMap<String, Bytes>, new: &BTreeMap<String, Bytes>) -> Vec<(String, char)> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter_map(|key| match (old.get(key), new.get(key)) {
            (None, Some(_)) => Some((key.clone(), '+')),
            (Some(_), None) => Some((key.clone(), '-')),
            (Some(a), Some(b)) if a != b => Some((key.clone(), '~')),
            _ => None,
        })
        .collect()
}

/// Checks `diff` from the last flushed root to `map` (flushed) against the model's.
async fn check_diff(
    blocks: &Arc<MemoryStore>,
    last: &mut Option<(Cid, BTreeMap<String, Bytes>)>,
    map: &Map,
    model: &BTreeMap<String, Bytes>,
) {
    if let Some((root, old_model)) = last.as_ref() {
        let old = ShardedMap::open(blocks.clone(), *root, ShardedConfig::default())
            .await
            .unwrap();
        let found: Vec<(String, char)> = old
            .diff(map)
            .await
            .unwrap()
            .into_iter()
            .map(|change| {
                let mark = match &change {
                    Change::Added { .. } => '+',
                    Change::Removed { .. } => '-',
                    Change::Changed { .. } => '~',
                };
                (change.key().to_owned(), mark)
            })
            .collect();
        assert_eq!(found, model_diff(old_model, model), "diff");
    }
    *last = Some((map.root_cid().unwrap(), model.clone()));
}

async fn run(per_shard: u64, ops: Vec<Op>) {
    let blocks = Arc::new(MemoryStore::new());
    let mut map = new_map(&blocks, per_shard, 64 << 20).await;
    // Its own store: values it stores at once must not answer the other's reads.
    let mut spilling = new_map(&Arc::new(MemoryStore::new()), per_shard, 0).await;
    let mut model: BTreeMap<String, Bytes> = BTreeMap::new();
    let mut last_flush = None;
    for op in ops {
        match op {
            Op::Set {
                array,
                linear,
                fill,
            } => {
                let key = chunk_key(array, linear);
                let value = value(&key, fill);
                map.set(&key, value.clone()).await.unwrap();
                spilling.set(&key, value.clone()).await.unwrap();
                model.insert(key.clone(), value);
                for m in [&map, &spilling] {
                    let link = m.get_link(&key).await.unwrap().unwrap();
                    assert_eq!(
                        m.read_value(&link, ByteRange::Full).await.unwrap(),
                        model[&key]
                    );
                }
            }
            Op::Delete { array, linear } => {
                let key = chunk_key(array, linear);
                let removed = map.delete(&key).await.unwrap();
                assert_eq!(spilling.delete(&key).await.unwrap(), removed);
                assert_eq!(removed, model.remove(&key).is_some(), "{key}");
                assert_eq!(map.get_link(&key).await.unwrap(), None);
            }
            Op::Flush => {
                let root = map.flush().await.unwrap();
                assert_eq!(
                    spilling.flush().await.unwrap(),
                    root,
                    "spilled shards, same root"
                );
                check_all(&map, &model).await;
                check_diff(&blocks, &mut last_flush, &map, &model).await;
            }
            Op::Reopen { cached } => {
                let root: Cid = map.flush().await.unwrap();
                assert_eq!(spilling.flush().await.unwrap(), root);
                let config = ShardedConfig {
                    cache_bytes: if cached { 1 << 20 } else { 0 },
                    ..ShardedConfig::default()
                };
                map = ShardedMap::open(blocks.clone(), root, config)
                    .await
                    .unwrap();
                check_all(&map, &model).await;
                check_diff(&blocks, &mut last_flush, &map, &model).await;
            }
        }
    }
    let root = map.flush().await.unwrap();
    assert_eq!(spilling.flush().await.unwrap(), root);
    check_all(&map, &model).await;
    check_all(&spilling, &model).await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn sharded_map_matches_a_btreemap(
        per_shard in prop_oneof![Just(1u64), Just(2), Just(5), Just(64)],
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(run(per_shard, ops));
    }
}
