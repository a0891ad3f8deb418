//! `diff` against a model, and that it reads only the paths that changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::{BinaryHasher, FlakyStore, config};
use futures::TryStreamExt;
use hamt::diff::Change;
use hamt::{Hamt, HamtConfig, KeyHasher};
use hamt_codec::Blake3KeyHasher;
use hamt_store::MemoryStore;
use proptest::prelude::*;

fn expected_changes(
    old: &BTreeMap<String, u8>,
    new: &BTreeMap<String, u8>,
) -> BTreeMap<String, &'static str> {
    let mut out = BTreeMap::new();
    for (k, v) in old {
        match new.get(k) {
            None => {
                out.insert(k.clone(), "removed");
            }
            Some(w) if w != v => {
                out.insert(k.clone(), "changed");
            }
            Some(_) => {}
        }
    }
    for k in new.keys().filter(|k| !old.contains_key(*k)) {
        out.insert(k.clone(), "added");
    }
    out
}

fn kind(change: &Change) -> &'static str {
    match change {
        Change::Added { .. } => "added",
        Change::Removed { .. } => "removed",
        Change::Changed { .. } => "changed",
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn diff_matches_the_model(
        bucket in 1usize..5,
        binary in any::<bool>(),
        base in prop::collection::btree_map(0u16..300, any::<u8>(), 0..120),
        edits in prop::collection::vec((0u16..300, prop::option::of(any::<u8>())), 0..40),
        flush_new in any::<bool>(),
    ) {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
            let hasher: Arc<dyn KeyHasher> = if binary { Arc::new(BinaryHasher) } else { Arc::new(Blake3KeyHasher) };
            let store = Arc::new(MemoryStore::new());
            let old_model: BTreeMap<String, u8> = base.iter().map(|(k, v)| (format!("k{k}"), *v)).collect();
            let mut old = Hamt::new(store.clone(), config(bucket, hasher.clone()));
            for (k, v) in &old_model {
                old.insert(k, vec![*v]).await.unwrap();
            }
            let root = old.flush().await.unwrap();
            let mut new = Hamt::open(store.clone(), root, config(bucket, hasher.clone())).await.unwrap();
            let mut new_model = old_model.clone();
            for (k, v) in edits {
                let key = format!("k{k}");
                if let Some(v) = v {
                    new.insert(&key, vec![v]).await.unwrap();
                    new_model.insert(key, v);
                } else {
                    new.remove(&key).await.unwrap();
                    new_model.remove(&key);
                }
            }
            if flush_new {
                new.flush().await.unwrap();
            }
            let changes: Vec<Change> = old.diff(&new).try_collect().await.unwrap();
            let got: BTreeMap<String, &'static str> = changes.iter().map(|c| (c.key().to_owned(), kind(c))).collect();
            assert_eq!(got.len(), changes.len(), "a key was reported twice");
            assert_eq!(got, expected_changes(&old_model, &new_model));
            let back: Vec<Change> = new.diff(&old).try_collect().await.unwrap();
            assert_eq!(back.len(), changes.len());
        });
    }
}

#[tokio::test]
async fn diff_reads_only_the_changed_paths() {
    let store = Arc::new(FlakyStore::default());
    let mut map = Hamt::new(store.clone(), HamtConfig::default());
    for i in 0..20_000 {
        map.insert(&format!("t2m/c/{i}/0"), vec![1]).await.unwrap();
    }
    let old_root = map.flush().await.unwrap();
    for i in [5, 500, 5000] {
        map.insert(&format!("t2m/c/{i}/0"), vec![2]).await.unwrap();
    }
    let new_root = map.flush().await.unwrap();
    let cold = HamtConfig::default().with_cache_bytes(0);
    let old = Hamt::open(store.clone(), old_root, cold.clone())
        .await
        .unwrap();
    let new = Hamt::open(store.clone(), new_root, cold).await.unwrap();
    let stats = new.stats().await.unwrap();
    store.reads.store(0, Ordering::Relaxed);
    let changes: Vec<Change> = old.diff(&new).try_collect().await.unwrap();
    assert_eq!(changes.len(), 3);
    let reads = store.reads.load(Ordering::Relaxed);
    // Two roots plus, per changed key, at most one node per level on each side.
    let bound = 2 + 3 * 2 * stats.max_depth();
    assert!(
        reads <= bound,
        "diff read {reads} blocks (bound {bound}) of {} nodes",
        stats.nodes
    );
}

#[tokio::test]
async fn stats_describe_the_tree() {
    let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
    for i in 0..3000 {
        map.insert(&format!("k{i}"), vec![]).await.unwrap();
    }
    let dirty = map.stats().await.unwrap();
    assert_eq!(dirty.keys, 3000);
    assert_eq!(dirty.dirty_nodes, dirty.nodes);
    map.flush().await.unwrap();
    let stats = map.stats().await.unwrap();
    assert_eq!(stats.keys, 3000);
    assert_eq!(stats.dirty_nodes, 0);
    assert_eq!(stats.nodes_per_depth[0], 1);
    assert_eq!(stats.nodes_per_depth.iter().sum::<u64>(), stats.nodes);
    assert_eq!(stats.keys_per_depth.iter().sum::<u64>(), 3000);
    assert!(stats.node_bytes >= 259 * stats.nodes);
}
