//! DAGs no HAMT writer makes, as a hostile gateway or CAR could serve them:
//! every walk and removal ends with a typed error after bounded work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use hamt::{Hamt, HamtConfig, HamtError, KeyHasher, NodeDefect};
use hamt_codec::{Blake3KeyHasher, BlockCodec, Bucket, Cid, Node, Slot};
use hamt_store::{BlockStore, Bytes, MemoryStore};

async fn put(store: &MemoryStore, node: &Node) -> Cid {
    store
        .put(BlockCodec::DagCbor, Bytes::from(node.encode()))
        .await
        .unwrap()
}

/// A node linking `child` from all 256 slots.
fn fan_out(child: Cid) -> Node {
    let mut node: Node = Node::new();
    for slot in 0..=255u8 {
        node.set(slot, Slot::Child(child));
    }
    node
}

/// Five blocks: a root and three levels each linking the next from all 256
/// slots, over a node holding one key. Walked as a tree it is 256^4 (4×10^9)
/// visits; read as a DAG it is five blocks.
async fn shared_fan_out(store: &MemoryStore) -> Cid {
    let value = store
        .put(BlockCodec::Raw, Bytes::from_static(b"v"))
        .await
        .unwrap();
    let key = "key";
    let slot = Blake3KeyHasher.hash(key.as_bytes())[4];
    let mut leaf: Node = Node::new();
    leaf.set(slot, Slot::Bucket(Bucket::single(key.into(), value)));
    let mut cid = put(store, &leaf).await;
    for _ in 0..4 {
        cid = put(store, &fan_out(cid)).await;
    }
    cid
}

/// Runs `work` on its own thread and fails the test (instead of hanging
/// it) if it does not end soon: a walk over cached nodes never yields, so
/// a timer on the same runtime would never fire.
fn bounded<T: Send + 'static, F: Future<Output = T> + Send + 'static>(work: F) -> T {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = done.send(runtime.block_on(work));
    });
    result
        .recv_timeout(Duration::from_secs(30))
        .expect("unbounded work on a hostile DAG")
}

fn invalid<T: std::fmt::Debug>(result: Result<T, HamtError>) -> NodeDefect {
    match result {
        Err(HamtError::InvalidTree { defect, .. }) => defect,
        other => panic!("expected InvalidTree, got {other:?}"),
    }
}

#[tokio::test]
async fn a_node_linked_from_every_slot_is_refused_by_every_walk() {
    let store = Arc::new(MemoryStore::new());
    let root = shared_fan_out(&store).await;
    let map = Arc::new(
        Hamt::open(store, root, HamtConfig::default())
            .await
            .unwrap(),
    );
    let misplaced = |defect| {
        assert!(
            matches!(defect, NodeDefect::Misplaced { ref key } if key == "key"),
            "{defect:?}"
        );
    };
    let m = map.clone();
    misplaced(invalid(bounded(async move { m.len().await })));
    let m = map.clone();
    misplaced(invalid(bounded(async move { m.stats().await })));
    let m = map.clone();
    misplaced(invalid(bounded(async move {
        m.keys().try_collect::<Vec<_>>().await
    })));
    let m = map.clone();
    misplaced(invalid(bounded(async move {
        m.links_in_py_hamt_order().try_collect::<Vec<_>>().await
    })));
    let m = map.clone();
    misplaced(invalid(bounded(async move {
        m.entries(4).try_collect::<Vec<_>>().await
    })));
    // A diff against an empty map walks the whole hostile side, either way.
    let m = map.clone();
    misplaced(invalid(bounded(async move {
        let empty = Hamt::new(MemoryStore::new(), HamtConfig::default());
        m.diff(&empty).try_collect::<Vec<_>>().await
    })));
    let m = map.clone();
    misplaced(invalid(bounded(async move {
        let empty = Hamt::new(MemoryStore::new(), HamtConfig::default());
        empty.diff(&*m).try_collect::<Vec<_>>().await
    })));
    // A lookup follows one path, bounded by the hash.
    let m = map.clone();
    bounded(async move { m.get("key").await }).unwrap();
}

#[tokio::test]
async fn empty_nodes_below_the_root_are_refused() {
    let store = Arc::new(MemoryStore::new());
    let empty = put(&store, &Node::new()).await;
    let root = put(&store, &fan_out(empty)).await;
    let map = Hamt::open(store, root, HamtConfig::default())
        .await
        .unwrap();
    assert_eq!(invalid(map.len().await), NodeDefect::Empty);
}

#[tokio::test]
async fn a_removal_over_shared_empty_subtrees_is_refused_after_bounded_work() {
    let store = Arc::new(MemoryStore::new());
    // Under the removed key's first slot: four levels of 256-fold sharing
    // over an empty node. Deciding whether that subtree folds would visit
    // 256^4 nodes holding no entries.
    let key = "key";
    let hash = Blake3KeyHasher.hash(key.as_bytes());
    let mut cid = put(&store, &Node::new()).await;
    for _ in 0..4 {
        cid = put(&store, &fan_out(cid)).await;
    }
    let mut root: Node = Node::new();
    root.set(hash[0], Slot::Child(cid));
    let root = put(&store, &root).await;
    let mut map = Hamt::open(store, root, HamtConfig::default())
        .await
        .unwrap();
    let removal = bounded(async move { map.remove(key).await });
    assert_eq!(invalid(removal), NodeDefect::Empty);
}
