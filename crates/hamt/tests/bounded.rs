//! The dirty-node budget and the bulk insert: neither may change a single
//! block of the result, and a store failure while spilling loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::{BinaryHasher, FlakyStore, SharedPrefixHasher, config, reachable_blocks};
use hamt::{Hamt, HamtConfig, KeyHasher};
use hamt_codec::Blake3KeyHasher;
use hamt_store::MemoryStore;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert(u16, u8),
    Remove(u16),
    Flush,
}

fn arb_op(keys: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..keys, any::<u8>()).prop_map(|(k, v)| Op::Insert(k, v)),
        3 => (0..keys).prop_map(Op::Remove),
        1 => Just(Op::Flush),
    ]
}

fn arb_hasher() -> impl Strategy<Value = Arc<dyn KeyHasher>> {
    prop_oneof![
        3 => Just(Arc::new(Blake3KeyHasher) as Arc<dyn KeyHasher>),
        1 => Just(Arc::new(BinaryHasher) as Arc<dyn KeyHasher>),
        1 => (1usize..4)
            .prop_map(|shared| Arc::new(SharedPrefixHasher { shared }) as Arc<dyn KeyHasher>),
    ]
}

/// Budgets from "spill before every write" to "spill now and then".
fn arb_budget() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0usize), 1usize..4096, 4096usize..65536]
}

fn cases() -> u32 {
    std::env::var("HAMT_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(300, |n: u32| (n / 5).max(16))
}

fn key(k: u16) -> String {
    format!("temp/c/{}/{}", k / 16, k % 16)
}

fn value(k: u16, v: u8) -> Vec<u8> {
    vec![v; usize::from(k % 9) * 3]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// A tiny dirty-node budget spills subtrees all the time, yet every
    /// operation answers the same and the flushed roots and reachable
    /// blocks are identical to an unbounded run's.
    #[test]
    fn budget_changes_no_block(
        bucket in 1usize..5,
        hasher in arb_hasher(),
        budget in arb_budget(),
        ops in prop::collection::vec(arb_op(600), 1..300),
    ) {
        runtime().block_on(async {
            let free_store = Arc::new(MemoryStore::new());
            let tight_store = Arc::new(MemoryStore::new());
            let mut free = Hamt::new(free_store.clone(), config(bucket, hasher.clone()));
            let mut tight = Hamt::new(
                tight_store.clone(),
                config(bucket, hasher.clone()).with_dirty_node_bytes(budget),
            );
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let a = free.insert(&key(k), value(k, v)).await.unwrap();
                        let b = tight.insert(&key(k), value(k, v)).await.unwrap();
                        assert_eq!(a, b);
                    }
                    Op::Remove(k) => {
                        let a = free.remove(&key(k)).await.unwrap();
                        let b = tight.remove(&key(k)).await.unwrap();
                        assert_eq!(a, b);
                    }
                    Op::Flush => {
                        assert_eq!(free.flush().await.unwrap(), tight.flush().await.unwrap());
                    }
                }
            }
            for k in (0..600).step_by(37) {
                assert_eq!(free.get(&key(k)).await.unwrap(), tight.get(&key(k)).await.unwrap());
            }
            let root = free.flush().await.unwrap();
            assert_eq!(tight.flush().await.unwrap(), root);
            assert_eq!(
                reachable_blocks(&*free_store, root).await,
                reachable_blocks(&*tight_store, root).await
            );
        });
    }

    /// `insert_many` builds the same tree as inserting one by one, into an
    /// empty map or a flushed one, with repeated keys and any budget.
    #[test]
    fn insert_many_matches_one_by_one(
        bucket in 1usize..5,
        hasher in arb_hasher(),
        budget in prop_oneof![Just(usize::MAX), arb_budget()],
        before in prop::collection::vec((0u16..3000, any::<u8>()), 0..200),
        entries in prop::collection::vec((0u16..3000, any::<u8>()), 0..600),
    ) {
        runtime().block_on(async {
            let cfg = config(bucket, hasher.clone()).with_dirty_node_bytes(budget);
            let (one_store, many_store) = (Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
            let mut one = Hamt::new(one_store.clone(), config(bucket, hasher.clone()));
            let mut many = Hamt::new(many_store.clone(), cfg);
            for &(k, v) in &before {
                one.insert(&key(k), value(k, v)).await.unwrap();
            }
            many.insert_many(before.iter().map(|&(k, v)| (key(k), value(k, v)))).await.unwrap();
            assert_eq!(one.flush().await.unwrap(), many.flush().await.unwrap());

            let mut new_keys = 0;
            for &(k, v) in &entries {
                if one.insert(&key(k), value(k, v)).await.unwrap().is_none() {
                    new_keys += 1;
                }
            }
            let added = many
                .insert_many(entries.iter().map(|&(k, v)| (key(k), value(k, v))))
                .await
                .unwrap();
            assert_eq!(added, new_keys);
            assert_eq!(many.len().await.unwrap(), one.len().await.unwrap());
            let root = one.flush().await.unwrap();
            assert_eq!(many.flush().await.unwrap(), root);
            assert_eq!(
                reachable_blocks(&*one_store, root).await,
                reachable_blocks(&*many_store, root).await
            );
        });
    }
}

/// Memory stays near the budget however many keys go in.
#[tokio::test]
async fn dirty_nodes_stay_within_the_budget() {
    const BUDGET: usize = 256 << 10;
    let store = Arc::new(MemoryStore::new());
    let mut bounded = Hamt::new(
        store.clone(),
        HamtConfig::default().with_dirty_node_bytes(BUDGET),
    );
    let mut peak = 0;
    for i in 0..15_000u32 {
        bounded
            .insert(&format!("temp/c/{i}/0"), i.to_le_bytes().to_vec())
            .await
            .unwrap();
        peak = peak.max(bounded.dirty_node_bytes());
    }
    // One write past the budget at most: a node made dirty plus an entry.
    assert!(peak < BUDGET + (128 << 10), "peak {peak}");
    let root = bounded.flush().await.unwrap();
    assert_eq!(bounded.dirty_node_bytes(), 0);

    let mut free = Hamt::new(MemoryStore::new(), HamtConfig::default());
    for i in 0..15_000u32 {
        free.insert(&format!("temp/c/{i}/0"), i.to_le_bytes().to_vec())
            .await
            .unwrap();
    }
    assert!(free.dirty_node_bytes() > 4 * BUDGET);
    assert_eq!(free.flush().await.unwrap(), root);
    let reopened = Hamt::open(store, root, HamtConfig::default())
        .await
        .unwrap();
    assert_eq!(reopened.len().await.unwrap(), 15_000);
}

/// A store that fails while the budget forces a spill: the write fails,
/// nothing is lost, and retrying gives the same root as never failing.
#[tokio::test]
async fn failed_spill_loses_nothing() {
    let store = Arc::new(FlakyStore::default());
    let mut map = Hamt::new(
        store.clone(),
        HamtConfig::default().with_dirty_node_bytes(16 << 10),
    );
    let mut expected = Hamt::new(MemoryStore::new(), HamtConfig::default());
    let mut failures = 0;
    for i in 0..3000u32 {
        let (k, v) = (format!("k{i}"), i.to_le_bytes().to_vec());
        expected.insert(&k, v.clone()).await.unwrap();
        store.fail_writes.store(i % 7 == 0, Ordering::Relaxed);
        if map.insert(&k, v.clone()).await.is_err() {
            failures += 1;
            store.fail_writes.store(false, Ordering::Relaxed);
            map.insert(&k, v).await.unwrap();
        }
    }
    store.fail_writes.store(false, Ordering::Relaxed);
    assert!(failures > 0);
    assert_eq!(map.len().await.unwrap(), 3000);
    for i in (0..3000u32).step_by(97) {
        assert_eq!(
            map.get(&format!("k{i}")).await.unwrap().as_deref(),
            Some(&i.to_le_bytes()[..])
        );
    }
    assert_eq!(map.flush().await.unwrap(), expected.flush().await.unwrap());
}
