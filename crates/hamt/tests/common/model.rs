//! The model check: any sequence of operations on a HAMT over a store
//! behaves like a `BTreeMap`, across flushes and reopens, and ends in the
//! canonical shape. Shared by this crate's tests (in memory) and the
//! backends' (`hamt-rocksdb/tests/hamt_on_rocksdb.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{BinaryHasher, SharedPrefixHasher, config, new_map};
use futures::TryStreamExt;
use hamt::{Hamt, HamtError, KeyHasher};
use hamt_codec::Blake3KeyHasher;
use proptest::prelude::*;

/// One step of a model check.
#[derive(Debug, Clone)]
pub enum Op {
    Insert(u16, u8),
    Remove(u16),
    Get(u16),
    Flush,
    Reopen,
}

pub fn arb_op(keys: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..keys, any::<u8>()).prop_map(|(k, v)| Op::Insert(k, v)),
        4 => (0..keys).prop_map(Op::Remove),
        3 => (0..keys).prop_map(Op::Get),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

pub fn arb_hasher() -> impl Strategy<Value = Arc<dyn KeyHasher>> {
    prop_oneof![
        3 => Just(Arc::new(Blake3KeyHasher) as Arc<dyn KeyHasher>),
        3 => Just(Arc::new(BinaryHasher) as Arc<dyn KeyHasher>),
        3 => (1usize..31)
            .prop_map(|shared| Arc::new(SharedPrefixHasher { shared }) as Arc<dyn KeyHasher>),
        // One byte of hash left: whole hashes collide among a few dozen
        // keys, so the hash runs out (`HashExhausted`) in many cases.
        1 => Just(Arc::new(SharedPrefixHasher { shared: 31 }) as Arc<dyn KeyHasher>),
    ]
}

/// 1,500 cases by default (CI); `HAMT_PROPTEST_CASES` asks for more.
pub fn cases() -> u32 {
    std::env::var("HAMT_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1500)
}

pub fn key(k: u16) -> String {
    format!("var/c/{k}/0")
}

pub fn value(k: u16, v: u8) -> Vec<u8> {
    vec![v; usize::from(k % 7)]
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

async fn assert_matches_model<S: hamt::BlockStore>(
    map: &Hamt<S>,
    model: &BTreeMap<String, Vec<u8>>,
) {
    assert_eq!(map.len().await.unwrap(), model.len() as u64);
    let entries: BTreeMap<String, Vec<u8>> = map
        .entries(8)
        .map_ok(|(k, v)| (k, v.to_vec()))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(&entries, model);
}

/// Whether inserting `new` must fail: it is not in the map yet, and `bucket`
/// keys already have its whole hash, so even the last level's bucket for it is full.
fn hash_is_full(
    hasher: &dyn KeyHasher,
    bucket: usize,
    model: &BTreeMap<String, Vec<u8>>,
    new: &str,
) -> bool {
    let hash = hasher.hash(new.as_bytes());
    !model.contains_key(new)
        && model
            .keys()
            .filter(|k| hasher.hash(k.as_bytes()) == hash)
            .count()
            >= bucket
}

/// Whether some `bucket + 1` of `keys` share one whole hash, so that no
/// HAMT can hold them all.
pub fn overfills_a_hash(
    hasher: &dyn KeyHasher,
    bucket: usize,
    mut keys: impl Iterator<Item = u16>,
) -> bool {
    let mut counts = BTreeMap::new();
    keys.any(|k| {
        let count = counts
            .entry(hasher.hash(key(k).as_bytes()))
            .or_insert(0usize);
        *count += 1;
        *count > bucket
    })
}

/// Runs `ops` on a map over `store` and on a `BTreeMap`, checking they agree.
pub async fn check_against_model<S: hamt::BlockStore>(
    store: Arc<S>,
    bucket: usize,
    hasher: Arc<dyn KeyHasher>,
    ops: Vec<Op>,
) {
    let mut map = Hamt::new(store.clone(), config(bucket, hasher.clone()));
    let mut model = BTreeMap::new();
    for op in ops {
        match op {
            Op::Insert(k, v) if hash_is_full(&*hasher, bucket, &model, &key(k)) => {
                // The narrowed hashers can give `bucket` keys one whole
                // hash: one more has no slot left anywhere, and the map
                // must say so and stay as it was (checked at the next flush).
                match map.insert(&key(k), value(k, v)).await {
                    Err(HamtError::HashExhausted { key: named }) => assert_eq!(named, key(k)),
                    other => panic!("expected HashExhausted for {}, got {other:?}", key(k)),
                }
            }
            Op::Insert(k, v) => {
                let had = model.insert(key(k), value(k, v)).is_some();
                let old = map.insert(&key(k), value(k, v)).await.unwrap();
                assert_eq!(old.is_some(), had);
            }
            Op::Remove(k) => {
                let had = model.remove(&key(k)).is_some();
                assert_eq!(map.remove(&key(k)).await.unwrap().is_some(), had);
            }
            Op::Get(k) => {
                let got = map.get(&key(k)).await.unwrap().map(|b| b.to_vec());
                assert_eq!(got.as_ref(), model.get(&key(k)));
                assert_eq!(map.contains_key(&key(k)).await.unwrap(), got.is_some());
            }
            Op::Flush => {
                map.flush().await.unwrap();
                assert!(!map.is_dirty());
                assert_matches_model(&map, &model).await;
            }
            Op::Reopen => {
                let root = map.flush().await.unwrap();
                map = Hamt::open(store.clone(), root, config(bucket, hasher.clone()))
                    .await
                    .unwrap();
                assert_matches_model(&map, &model).await;
            }
        }
    }
    assert_matches_model(&map, &model).await;
    // The final shape is canonical: a fresh build of the model agrees.
    let root = map.flush().await.unwrap();
    let (_, mut fresh) = new_map(bucket, hasher.clone());
    for (k, v) in &model {
        fresh.insert(k, v.clone()).await.unwrap();
    }
    assert_eq!(fresh.flush().await.unwrap(), root);
}
