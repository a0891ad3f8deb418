//! Garbage collection keeps exactly what is reachable or young.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{graph, raw};
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{BlockCodec, BlockStore, Bytes, Cid};

fn store_with_grace(dir: &tempfile::TempDir, grace: Duration) -> RocksDbStore {
    let mut options = RocksDbOptions::default();
    options.gc_grace = grace;
    RocksDbStore::open(dir.path(), &options).unwrap()
}

fn held(store: &RocksDbStore) -> BTreeSet<Cid> {
    store.cids().unwrap().into_iter().collect()
}

#[tokio::test]
async fn gc_keeps_exactly_the_reachable_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_grace(&dir, Duration::ZERO);
    let shared = vec![raw("shared by a and b"), raw(vec![7u8; 100_000])];
    let graphs = [
        graph("a", 40, &shared),
        graph("b", 30, &shared),
        graph("c", 300, &[]),
        graph("d", 5, &[]),
    ];
    for g in &graphs {
        store.put_many(g.blocks.clone()).await.unwrap();
    }
    let [a, b, c, d] = &graphs;
    store.set_root("a", &a.root).unwrap();
    store.set_root("c", &c.root).unwrap();

    let keep: BTreeSet<Cid> = a.cids().union(&c.cids()).copied().collect();
    let all: BTreeSet<Cid> = graphs.iter().flat_map(common::Graph::cids).collect();
    assert_eq!(held(&store), all);
    let garbage: BTreeSet<Cid> = all.difference(&keep).copied().collect();
    let garbage_bytes: u64 = b
        .blocks
        .iter()
        .chain(&d.blocks)
        .filter(|block| garbage.contains(block.cid()))
        .map(|block| (*block.cid(), block.data().len() as u64))
        .collect::<std::collections::BTreeMap<_, _>>()
        .values()
        .sum();

    let report = store.gc().unwrap();
    assert_eq!(held(&store), keep);
    assert_eq!(report.roots, 2);
    assert_eq!(report.blocks_reachable, keep.len() as u64);
    assert_eq!(report.blocks_missing, 0);
    assert_eq!(report.blocks_removed, garbage.len() as u64);
    assert_eq!(report.bytes_removed, garbage_bytes);
    assert_eq!(report.blocks_young, 0);
    for block in a.blocks.iter().chain(&c.blocks) {
        assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
    }
    assert!(!store.has(&b.root).await.unwrap());

    // Nothing more to do: a second GC removes nothing.
    assert_eq!(store.gc().unwrap().blocks_removed, 0);

    // Dropping a name frees what only it reached.
    store.remove_root("a").unwrap();
    let report = store.gc().unwrap();
    assert_eq!(held(&store), c.cids());
    assert_eq!(report.blocks_removed, a.cids().len() as u64);
    assert_eq!(
        store.verify_dag(&c.root).unwrap().blocks,
        c.cids().len() as u64
    );
}

#[tokio::test]
async fn blocks_within_the_grace_period_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_grace(&dir, Duration::from_millis(1500));
    let unnamed = graph("unnamed", 20, &[]);
    store.put_many(unnamed.blocks.clone()).await.unwrap();

    let report = store.gc().unwrap();
    assert_eq!(report.blocks_removed, 0);
    assert_eq!(report.blocks_young, unnamed.cids().len() as u64);
    assert_eq!(held(&store), unnamed.cids());

    std::thread::sleep(Duration::from_millis(1600));
    let report = store.gc().unwrap();
    assert_eq!(report.blocks_removed, unnamed.cids().len() as u64);
    assert!(held(&store).is_empty());
}

#[tokio::test]
async fn a_re_put_protects_an_old_unreachable_block_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_grace(&dir, Duration::from_millis(1500));
    let reused = raw("old garbage, about to be reused");
    store.put_block(reused.clone()).await.unwrap();
    std::thread::sleep(Duration::from_secs(1));
    // A writer building a new root puts the block again: that restarts its grace.
    store.put_block(reused.clone()).await.unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let report = store.gc().unwrap();
    assert_eq!((report.blocks_removed, report.blocks_young), (0, 1));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(store.gc().unwrap().blocks_removed, 1);
    store.put_block(reused.clone()).await.unwrap();
    assert!(
        store.has(reused.cid()).await.unwrap(),
        "a put of a removed block writes it again"
    );
}

#[tokio::test]
async fn a_root_over_a_missing_block_is_not_named_and_verify_dag_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_grace(&dir, Duration::ZERO);
    let g = graph("partial", 10, &[]);
    let (missing, present): (Vec<_>, Vec<_>) = g
        .blocks
        .iter()
        .cloned()
        .partition(|b| b.data().starts_with(b"partial value 3"));
    store.put_many(present).await.unwrap();
    match store.set_root("partial", &g.root) {
        Err(hamt_store::StoreError::NotFound(cid)) => assert_eq!(&cid, missing[0].cid()),
        other => panic!("named a root over a missing block: {other:?}"),
    }
    assert_eq!(store.root("partial").unwrap(), None);
    match store.verify_dag(&g.root) {
        Err(hamt_store::StoreError::NotFound(cid)) => assert_eq!(&cid, missing[0].cid()),
        other => panic!("{other:?}"),
    }
    // Once the block is there, the name is taken.
    store.put_many(missing).await.unwrap();
    store.set_root("partial", &g.root).unwrap();
    assert_eq!(store.gc().unwrap().blocks_missing, 0);
}

/// `set_root` skips looking up the leaves this handle wrote; a GC must
/// make it forget them, or a name could be written over a leaf the GC
/// swept (put, swept, then linked by a new node).
#[tokio::test]
async fn a_leaf_written_then_swept_is_not_taken_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_grace(&dir, Duration::ZERO);
    let g = graph("swept", 20, &[]);
    let (nodes, leaves): (Vec<_>, Vec<_>) = g
        .blocks
        .iter()
        .cloned()
        .partition(|b| b.cid().codec() != BlockCodec::Raw.code());
    store.put_many(leaves.clone()).await.unwrap();
    // Ingested (so remembered as written), then swept: nothing names them.
    store.sync().unwrap();
    assert_eq!(store.gc().unwrap().blocks_removed, leaves.len() as u64);
    store.put_many(nodes).await.unwrap();
    match store.set_root("swept", &g.root) {
        Err(hamt_store::StoreError::NotFound(cid)) => {
            assert!(leaves.iter().any(|leaf| leaf.cid() == &cid));
        }
        other => panic!("named a root over swept leaves: {other:?}"),
    }
    // Written again, they are taken as written and the name is taken.
    store.put_many(leaves).await.unwrap();
    store.sync().unwrap();
    store.set_root("swept", &g.root).unwrap();
    store.verify_dag(&g.root).unwrap();
}

/// Zero grace: a GC may sweep a writer's blocks between its `put` and its
/// `set_root`. The name must then be refused (and the writer put again),
/// never written over a DAG with holes.
#[tokio::test]
async fn with_zero_grace_a_gc_beside_a_writer_never_leaves_a_name_over_missing_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(store_with_grace(&dir, Duration::ZERO));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let mut refused = 0;
            for i in 0..40 {
                let g = graph(&format!("zero{i}"), 30, &[]);
                let mut attempts = 0;
                loop {
                    runtime.block_on(store.put_many(g.blocks.clone())).unwrap();
                    // Time for a GC to sweep what no name reaches yet
                    // (only once: a retry names at once).
                    if attempts == 0 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    attempts += 1;
                    match store.set_root(&format!("zero{i}"), &g.root) {
                        Ok(()) => break,
                        Err(hamt_store::StoreError::NotFound(_)) => refused += 1,
                        Err(other) => panic!("{other}"),
                    }
                }
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            refused
        })
    };
    let mut gcs = 0;
    let mut removed = 0;
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        removed += store.gc().unwrap().blocks_removed;
        gcs += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    let refused = writer.join().unwrap();
    println!("{gcs} GCs removed {removed} blocks; {refused} names refused and retried");
    assert!(
        refused > 0,
        "no GC swept a writer's blocks before its name: the race was not run"
    );
    for (name, root) in store.roots().unwrap() {
        store
            .verify_dag(&root)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(store.roots().unwrap().len(), 40);
}

#[tokio::test]
async fn a_corrupt_reachable_node_is_reported_and_nothing_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_grace(&dir, Duration::ZERO);
    let g = graph("corrupt", 10, &[]);
    store.put_many(g.blocks.clone()).await.unwrap();
    store.set_root("corrupt", &g.root).unwrap();
    let other = graph("other", 10, &[]);
    store.put_many(other.blocks.clone()).await.unwrap();
    store.set_root("other", &other.root).unwrap();
    store.put_unverified(&g.root, b"\x80").unwrap();
    let garbage = raw("garbage");
    store.put_block(garbage.clone()).await.unwrap();
    let report = store.gc().unwrap();
    assert_eq!(report.blocks_unreadable.len(), 1, "{report:?}");
    assert_eq!(report.blocks_unreadable[0].0, g.root);
    assert_eq!(report.blocks_removed, 0);
    // The mark went on past it: the other root's blocks were all reached.
    assert!(report.blocks_reachable > other.blocks.len() as u64);
    assert!(
        store.has(garbage.cid()).await.unwrap(),
        "nothing swept when a reachable block's links are unknown"
    );
    assert!(matches!(
        store.verify_dag(&g.root),
        Err(hamt_store::StoreError::Corrupt { .. })
    ));
}

#[tokio::test]
async fn a_reachable_block_of_an_unknown_codec_is_reported_and_nothing_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_grace(&dir, Duration::ZERO);
    // A dag-json block (codec 0x0129): held and verified, but this crate
    // cannot read its links.
    let data = b"{}";
    let raw_cid = hamt_codec::block_cid(BlockCodec::Raw, hamt_store::HashAlgorithm::Blake3, data);
    let json = Cid::new_v1(0x0129, *raw_cid.hash());
    store.put_unverified(&json, data).unwrap();
    let mut node: hamt_codec::Node = hamt_codec::Node::new();
    node.set(3, hamt_codec::Slot::Child(json));
    let root = store
        .put(BlockCodec::DagCbor, Bytes::from(node.encode()))
        .await
        .unwrap();
    // set_root refuses it: the DAG cannot be shown complete.
    match store.set_root("json", &root) {
        Err(hamt_store::StoreError::Backend { .. }) => {}
        other => panic!("named a root whose links cannot be read: {other:?}"),
    }
    let garbage = raw("garbage");
    store.put_block(garbage.clone()).await.unwrap();
    store.sync().unwrap();
    drop(store);
    // An older version named roots without that check: write the name
    // directly, as it would have.
    {
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path(),
            ["blocks", "block_meta", "roots"],
        )
        .unwrap();
        let roots = db.cf_handle("roots").unwrap();
        db.put_cf(roots, b"json", root.to_bytes()).unwrap();
    }
    let store = store_with_grace(&dir, Duration::ZERO);
    let report = store.gc().unwrap();
    assert_eq!(report.blocks_unreadable.len(), 1, "{report:?}");
    assert_eq!(report.blocks_unreadable[0].0, json);
    assert_eq!(report.blocks_removed, 0);
    assert!(store.has(garbage.cid()).await.unwrap());
}

#[tokio::test]
async fn writes_and_names_during_gc_stay_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(store_with_grace(&dir, Duration::from_secs(30)));
    // Unnamed blocks for the GCs to scan (young, so kept) while a writer names roots.
    for i in 0..20 {
        store
            .put_many(graph(&format!("garbage{i}"), 50, &[]).blocks)
            .await
            .unwrap();
    }
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            for i in 0..30 {
                let g = graph(&format!("live{i}"), 20, &[]);
                runtime.block_on(store.put_many(g.blocks.clone())).unwrap();
                store.set_root(&format!("live{i}"), &g.root).unwrap();
            }
        })
    };
    for _ in 0..5 {
        store.gc().unwrap();
    }
    writer.join().unwrap();
    store.gc().unwrap();
    for (name, root) in store.roots().unwrap() {
        store
            .verify_dag(&root)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(store.roots().unwrap().len(), 30);
}
