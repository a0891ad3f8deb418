//! Three-way `merge` against a model: disjoint changes give the map of both
//! change sets (the same root as building it from scratch); overlapping
//! ones a conflict listing exactly the keys changed differently.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::{BinaryHasher, config};
use hamt::{Hamt, HamtError, KeyHasher};
use hamt_codec::Blake3KeyHasher;
use hamt_store::MemoryStore;
use proptest::prelude::*;

type Model = BTreeMap<String, u8>;
/// A change: the key, its new value (`None`: removed).
type Edits = Vec<(u16, Option<u8>)>;

fn edited(base: &Model, edits: &Edits) -> Model {
    let mut model = base.clone();
    for (k, v) in edits {
        match v {
            Some(v) => model.insert(format!("k{k}"), *v),
            None => model.remove(&format!("k{k}")),
        };
    }
    model
}

/// Keys whose value differs between the two maps.
fn changed(from: &Model, to: &Model) -> BTreeSet<String> {
    from.keys()
        .chain(to.keys())
        .filter(|k| from.get(*k) != to.get(*k))
        .cloned()
        .collect()
}

async fn build(
    store: &Arc<MemoryStore>,
    model: &Model,
    hasher: &Arc<dyn KeyHasher>,
    bucket: usize,
) -> Hamt<Arc<MemoryStore>> {
    let mut map = Hamt::new(store.clone(), config(bucket, hasher.clone()));
    for (k, v) in model {
        map.insert(k, vec![*v]).await.unwrap();
    }
    map.flush().await.unwrap();
    map
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn merge_equals_applying_both_change_sets(
        bucket in 1usize..5,
        binary in any::<bool>(),
        base in prop::collection::btree_map(0u16..120, any::<u8>(), 0..80),
        ours_edits in prop::collection::vec((0u16..120, prop::option::of(0u8..4)), 0..25),
        theirs_edits in prop::collection::vec((0u16..120, prop::option::of(0u8..4)), 0..25),
        flush_ours in any::<bool>(),
    ) {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
            let hasher: Arc<dyn KeyHasher> = if binary { Arc::new(BinaryHasher) } else { Arc::new(Blake3KeyHasher) };
            let store = Arc::new(MemoryStore::new());
            let base_model: Model = base.iter().map(|(k, v)| (format!("k{k}"), *v)).collect();
            let base_map = build(&store, &base_model, &hasher, bucket).await;
            let (ours_model, theirs_model) = (edited(&base_model, &ours_edits), edited(&base_model, &theirs_edits));
            let mut ours = build(&store, &ours_model, &hasher, bucket).await;
            let theirs = build(&store, &theirs_model, &hasher, bucket).await;
            if !flush_ours {
                // Unflushed changes merge too.
                ours.insert("zz-ours-only", vec![9]).await.unwrap();
            }
            let mut ours_model = ours_model;
            if !flush_ours {
                ours_model.insert("zz-ours-only".into(), 9);
            }
            let (ours_changed, theirs_changed) = (changed(&base_model, &ours_model), changed(&base_model, &theirs_model));
            let conflicts: Vec<String> = ours_changed
                .intersection(&theirs_changed)
                .filter(|k| ours_model.get(*k) != theirs_model.get(*k))
                .cloned()
                .collect();
            let before = ours.flush().await.unwrap();
            match ours.merge(&base_map, &theirs).await {
                Ok(applied) => {
                    assert!(conflicts.is_empty(), "merged over conflicts {conflicts:?}");
                    let mut expected = ours_model.clone();
                    for k in &theirs_changed {
                        match theirs_model.get(k) {
                            Some(v) => expected.insert(k.clone(), *v),
                            None => expected.remove(k),
                        };
                    }
                    let fresh = build(&store, &expected, &hasher, bucket).await;
                    assert_eq!(ours.flush().await.unwrap(), fresh.root_cid().unwrap());
                    assert_eq!(applied, theirs_changed.difference(&ours_changed).count() as u64);
                }
                Err(HamtError::MergeConflict { keys }) => {
                    assert_eq!(keys, conflicts);
                    assert_eq!(ours.flush().await.unwrap(), before, "a conflict applied changes");
                }
                Err(other) => panic!("{other}"),
            }
        });
    }
}

/// Merging with itself as base is a no-op; merging a descendant's changes
/// is a fast-forward by value.
#[tokio::test]
async fn merging_from_the_base_or_a_descendant() {
    let store = Arc::new(MemoryStore::new());
    let hasher: Arc<dyn KeyHasher> = Arc::new(Blake3KeyHasher);
    let base_model: Model = (0..50).map(|i| (format!("k{i}"), 1)).collect();
    let base = build(&store, &base_model, &hasher, 3).await;
    let mut ours = build(&store, &base_model, &hasher, 3).await;
    assert_eq!(ours.merge(&base, &base).await.unwrap(), 0);
    let later = build(
        &store,
        &edited(&base_model, &vec![(3, None), (70, Some(2))]),
        &hasher,
        3,
    )
    .await;
    assert_eq!(ours.merge(&base, &later).await.unwrap(), 2);
    assert_eq!(ours.flush().await.unwrap(), later.root_cid().unwrap());
}
