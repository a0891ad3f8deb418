//! A sorted `Import` builds exactly the map (root and blocks) that inserting
//! one by one does: in memory and through spilled runs, with repeated keys,
//! over an existing map, and with values of one block and of many.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use hamt::{Hamt, HamtConfig};
use hamt_store::MemoryStore;
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// The root and the stored blocks after inserting `entries` one by one
/// into a map already holding `base`.
async fn one_by_one(
    base: &[(String, Vec<u8>)],
    entries: &[(String, Vec<u8>)],
) -> (hamt::Cid, usize) {
    let store = Arc::new(MemoryStore::new());
    let mut map = Hamt::new(store.clone(), HamtConfig::default());
    for (key, value) in base {
        map.insert(key, value.clone()).await.unwrap();
    }
    map.flush().await.unwrap();
    for (key, value) in entries {
        map.insert(key, value.clone()).await.unwrap();
    }
    (map.flush().await.unwrap(), store.len())
}

/// The same through an `Import` with a dirty-node budget of `budget`
/// bytes (the import's memory before it spills a run); returns the root,
/// the keys it counted as new and the map's length.
async fn imported(
    base: &[(String, Vec<u8>)],
    entries: &[(String, Vec<u8>)],
    budget: usize,
) -> (hamt::Cid, u64, u64, usize) {
    let store = Arc::new(MemoryStore::new());
    let config = HamtConfig::default().with_dirty_node_bytes(budget);
    let mut map = Hamt::new(store, config);
    for (key, value) in base {
        map.insert(key, value.clone()).await.unwrap();
    }
    map.flush().await.unwrap();
    let mut import = map.import();
    for (key, value) in entries {
        import.insert(key, value.clone()).await.unwrap();
    }
    assert_eq!(import.len(), entries.len());
    let runs = import.spilled_runs();
    let added = import.finish().await.unwrap();
    let root = map.flush().await.unwrap();
    let last: BTreeMap<_, _> = entries.iter().map(|(k, v)| (k, v)).collect();
    for (key, value) in last {
        assert_eq!(map.get(key).await.unwrap().as_deref(), Some(&value[..]));
    }
    (root, added, map.len().await.unwrap(), runs)
}

fn entries(n: usize, tag: &str) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("temp/c/{i}/{tag}"),
                format!("{tag}{i}").into_bytes(),
            )
        })
        .collect()
}

#[test]
fn spilled_runs_give_the_root_of_inserting_one_by_one() {
    runtime().block_on(async {
        let entries = entries(20_000, "v");
        let (root, _) = one_by_one(&[], &entries).await;
        // 1 MiB (the smallest budget) holds ~14,000 entries of ~75 bytes,
        // so 20,000 make two runs to merge; 64 MiB sorts them in memory.
        for budget in [1 << 20, 64 << 20] {
            let (imported_root, added, len, runs) = imported(&[], &entries, budget).await;
            assert_eq!(imported_root, root, "budget {budget}");
            assert_eq!((added, len), (20_000, 20_000));
            assert_eq!(runs > 0, budget == 1 << 20, "{runs} runs");
        }
    });
}

#[test]
fn a_key_given_twice_keeps_its_last_value_across_runs() {
    runtime().block_on(async {
        // The same keys again with other values, far apart: in another run.
        let mut all = entries(30_000, "first");
        let again: Vec<_> = entries(30_000, "second")
            .into_iter()
            .map(|(key, value)| (key.replace("/second", "/first"), value))
            .step_by(3)
            .collect();
        all.extend(again);
        let (root, _) = one_by_one(&[], &all).await;
        let (imported_root, added, len, runs) = imported(&[], &all, 1 << 20).await;
        assert!(runs >= 2, "{runs} runs");
        assert_eq!(imported_root, root);
        assert_eq!((added, len), (30_000, 30_000));
    });
}

/// A key longer than the import's share of memory for records (600 KiB of
/// a 1 MiB budget) still goes in, alone in its run, between runs of
/// ordinary keys; the root is that of inserting one by one.
#[test]
fn a_key_past_the_record_budget_gets_a_run_of_its_own() {
    runtime().block_on(async {
        let mut all = entries(12_000, "before");
        all.push(("k".repeat(700 << 10), b"a huge key".to_vec()));
        all.extend(entries(12_000, "after"));
        let (root, _) = one_by_one(&[], &all).await;
        let (imported_root, added, len, runs) = imported(&[], &all, 1 << 20).await;
        assert!(runs >= 3, "{runs} runs");
        assert_eq!(imported_root, root);
        assert_eq!((added, len), (24_001, 24_001));
        // The same when the huge key comes first.
        all.rotate_right(12_001);
        let (imported_root, ..) = imported(&[], &all, 1 << 20).await;
        assert_eq!(imported_root, root);
    });
}

#[test]
fn importing_into_an_existing_map_and_large_values() {
    runtime().block_on(async {
        let base = entries(3_000, "base");
        let mut new = entries(2_000, "base"); // replaces 2,000 of them
        new.extend(entries(1_000, "new"));
        new.push(("big".to_owned(), vec![7u8; (1 << 20) * 2 + 5])); // a UnixFS file
        let (root, _) = one_by_one(&base, &new).await;
        let (imported_root, added, len, _) = imported(&base, &new, 1 << 20).await;
        assert_eq!(imported_root, root);
        assert_eq!((added, len), (1_001, 4_001));
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any entries, in any order, with repeats: the root of one-by-one inserts.
    #[test]
    fn any_entries_import_to_the_same_root(
        entries in prop::collection::vec(("[a-e]{1,3}/[0-9]{1,2}", prop::collection::vec(any::<u8>(), 0..8)), 0..300),
    ) {
        runtime().block_on(async {
            let (root, _) = one_by_one(&[], &entries).await;
            let (imported_root, _, len, _) = imported(&[], &entries, 1 << 20).await;
            let distinct = entries.iter().map(|(k, _)| k).collect::<std::collections::BTreeSet<_>>().len();
            prop_assert_eq!(imported_root, root);
            prop_assert_eq!(len, distinct as u64);
            Ok(())
        })?;
    }
}

#[test]
fn runs_go_to_the_chosen_directory_and_a_failing_one_is_a_typed_error() {
    runtime().block_on(async {
        let entries = entries(20_000, "v");
        let (root, _) = one_by_one(&[], &entries).await;
        let dir = tempfile::tempdir().unwrap();
        let config = HamtConfig::default().with_dirty_node_bytes(1 << 20);
        let mut map = Hamt::new(MemoryStore::new(), config.clone());
        let mut import = map.import().spill_to(dir.path());
        assert!(import.is_empty());
        for (key, value) in &entries {
            import.insert(key, value.clone()).await.unwrap();
        }
        assert!(import.spilled_runs() > 0 && !import.is_empty());
        import.finish().await.unwrap();
        assert_eq!(map.flush().await.unwrap(), root);

        let mut map = Hamt::new(MemoryStore::new(), config);
        let mut import = map.import().spill_to(dir.path().join("missing"));
        let mut failed = None;
        for (key, value) in &entries {
            if let Err(error) = import.insert(key, value.clone()).await {
                failed = Some(error);
                break;
            }
        }
        match failed {
            Some(hamt::HamtError::ImportSpill { source }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected ImportSpill, got {other:?}"),
        }
    });
}
