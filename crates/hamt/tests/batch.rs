//! Reads for a store far away: batches walk the tree level by level, one
//! fetch serves every concurrent reader of a node, and a warm-up loads the
//! top levels in waves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::DistantStore;
use hamt::{ByteRange, Hamt, HamtConfig};
use hamt_store::Bytes;
use proptest::prelude::*;

fn key(i: usize) -> String {
    format!("temp/c/{}/{}", i / 100, i % 100)
}

fn value(i: usize) -> Vec<u8> {
    format!("value {i}").into_bytes()
}

/// A flushed map of `n` keys on a distant store, and its root.
async fn distant_map(n: usize) -> (Arc<DistantStore>, hamt::Cid) {
    let store = Arc::new(DistantStore::default());
    let mut map = Hamt::new(Arc::clone(&store), HamtConfig::default());
    for i in 0..n {
        map.insert(&key(i), value(i)).await.unwrap();
    }
    (store, map.flush().await.unwrap())
}

/// A batch of lookups reads each node it needs once, many at a time, and
/// finds what one-by-one lookups find, absent keys included.
#[tokio::test]
async fn a_batch_reads_each_node_once_and_many_at_a_time() {
    let (store, root) = distant_map(3000).await;
    let config = HamtConfig::default().with_read_concurrency(16);
    let map = Hamt::open(Arc::clone(&store), root, config.clone())
        .await
        .unwrap();
    let keys: Vec<String> = (0..3000)
        .step_by(7)
        .map(key)
        .chain(["absent".into()])
        .collect();
    store.reset();
    let links = map.get_links_many(&keys).await.unwrap();
    let batch_reads = store.reads.load(Ordering::Relaxed);
    let most = store.most_in_flight.load(Ordering::Relaxed);
    assert!(most > 1 && most <= 16, "{most} reads in flight");
    // One by one, on a cold handle: the same answers, and the batch read no
    // node twice (it read at most as many as the one-by-one walk did).
    let cold = Hamt::open(Arc::clone(&store), root, config).await.unwrap();
    store.reset();
    for (key, link) in keys.iter().zip(&links) {
        assert_eq!(&cold.get_link(key).await.unwrap(), link, "{key}");
    }
    assert_eq!(store.most_in_flight.load(Ordering::Relaxed), 1);
    assert!(batch_reads <= store.reads.load(Ordering::Relaxed));
    assert!(links[..links.len() - 1].iter().all(Option::is_some));
    assert_eq!(links.last(), Some(&None));
    // Values and ranges come back in the order asked.
    let values = map.get_many(&keys[..5]).await.unwrap();
    for (i, value) in values.iter().enumerate() {
        assert_eq!(value.as_deref(), Some(&self::value(i * 7)[..]));
    }
    let tails = map
        .get_ranges_many(&[
            (key(14), ByteRange::Suffix(2)),
            ("absent".into(), ByteRange::Full),
        ])
        .await
        .unwrap();
    assert_eq!(tails, [Some(Bytes::from_static(b"14")), None]);
}

/// Readers that miss the same node at once share one read of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_of_one_node_read_it_once() {
    let (store, root) = distant_map(2000).await;
    // The key's depth, from a handle of its own (its cache is not shared).
    let depth = Hamt::open(Arc::clone(&store), root, HamtConfig::default())
        .await
        .unwrap()
        .stats()
        .await
        .unwrap()
        .max_depth();
    let map = Arc::new(
        Hamt::open(Arc::clone(&store), root, HamtConfig::default())
            .await
            .unwrap(),
    );
    store.reset();
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let map = Arc::clone(&map);
            tokio::spawn(async move { map.get_link(&key(42)).await.unwrap() })
        })
        .collect();
    let mut links = Vec::new();
    for reader in readers {
        links.push(reader.await.unwrap());
    }
    assert!(links.iter().all(|l| l.is_some() && *l == links[0]));
    assert!(depth >= 1);
    // The root was read by `open`; each node below it on the key's path
    // once, however many readers waited for it.
    assert!(
        store.reads.load(Ordering::Relaxed) <= depth,
        "{} reads for a path of {depth} nodes below the root",
        store.reads.load(Ordering::Relaxed)
    );
}

/// A warm-up loads the top levels in waves; lookups then read no node of
/// those levels.
#[tokio::test]
async fn a_warm_up_loads_the_top_levels() {
    let (store, root) = distant_map(3000).await;
    let map = Hamt::open(Arc::clone(&store), root, HamtConfig::default())
        .await
        .unwrap();
    let stats = map.stats().await.unwrap();
    let map = Hamt::open(Arc::clone(&store), root, HamtConfig::default())
        .await
        .unwrap();
    store.reset();
    let loaded = map.warm_up(2).await.unwrap();
    assert_eq!(
        loaded as u64,
        stats.nodes_per_depth[0] + stats.nodes_per_depth[1]
    );
    assert!(store.most_in_flight.load(Ordering::Relaxed) > 1);
    // Everything is two levels deep here, or three for a few keys.
    store.reset();
    for i in 0..3000 {
        assert!(map.get_link(&key(i)).await.unwrap().is_some());
    }
    assert!(
        store.reads.load(Ordering::Relaxed) as u64
            <= stats.nodes_per_depth.get(2).copied().unwrap_or(0),
        "only nodes below the warmed levels are read"
    );
    assert_eq!(map.warm_up(0).await.unwrap(), 0);
}

/// A partial DAG caches what it holds; a changed map warms up below its
/// changed nodes.
#[tokio::test]
async fn partial_dags_and_changed_maps_warm_up_what_there_is() {
    let (store, root) = distant_map(3000).await;
    store.partial_dags.store(true, Ordering::Relaxed);
    let map = Hamt::open(Arc::clone(&store), root, HamtConfig::default())
        .await
        .unwrap();
    assert_eq!(
        map.warm_up_dag(64 << 20).await.unwrap(),
        Some(1),
        "the root only"
    );

    let mut changed = Hamt::open(Arc::clone(&store), root, HamtConfig::default())
        .await
        .unwrap();
    changed.insert(&key(0), b"changed".to_vec()).await.unwrap();
    let level1 = changed.stats().await.unwrap().nodes_per_depth[1];
    // The root is dirty: the stored nodes under the changed ones are warmed.
    let loaded = changed.warm_up(1).await.unwrap() as u64;
    assert!(loaded + 1 >= level1 && loaded > 0, "{loaded} of {level1}");
    assert_eq!(HamtConfig::default().read_concurrency(), 32);
    assert_eq!(
        HamtConfig::default()
            .with_read_concurrency(0)
            .read_concurrency(),
        1
    );
}

/// A batch larger than one slice (4,096 keys) keeps its order across slices.
#[tokio::test]
async fn batches_past_one_slice_keep_their_order() {
    let (store, root) = distant_map(300).await;
    let map = Hamt::open(Arc::clone(&store), root, HamtConfig::default())
        .await
        .unwrap();
    // Present and absent keys interleaved, 9,000 in all.
    let keys: Vec<String> = (0..9000).map(|i| key(i % 600)).collect();
    let links = map.get_links_many(&keys).await.unwrap();
    for (k, link) in keys.iter().zip(&links) {
        assert_eq!(*link, map.get_link(k).await.unwrap(), "{k}");
    }
    assert_eq!(links.iter().filter(|l| l.is_some()).count(), 4500);
}

/// On a store without direct reads, a lookup through cached nodes counts
/// its hits (and reads nothing), as on one with them.
#[tokio::test]
async fn cached_nodes_count_as_hits_on_a_distant_store() {
    let (store, root) = distant_map(3000).await;
    let map = Hamt::open(Arc::clone(&store), root, HamtConfig::default())
        .await
        .unwrap();
    assert!(map.get_link(&key(7)).await.unwrap().is_some());
    let before = map.cache_stats();
    store.reset();
    assert!(map.get_link(&key(7)).await.unwrap().is_some());
    let after = map.cache_stats();
    assert_eq!(store.reads.load(Ordering::Relaxed), 0);
    assert!(after.hits > before.hits, "{before:?} {after:?}");
    assert_eq!(after.misses, before.misses);
}

/// A warm-up from one whole-DAG fetch caches every node: lookups then
/// read none; a map with changes not flushed, or a store that cannot send
/// a DAG, gives `None`.
#[tokio::test]
async fn a_warm_up_from_one_dag_fetch_caches_every_node() {
    let (store, root) = distant_map(3000).await;
    let map = Hamt::open(Arc::clone(&store), root, HamtConfig::default())
        .await
        .unwrap();
    let nodes = map.stats().await.unwrap().nodes;
    let map = Hamt::open(Arc::clone(&store), root, HamtConfig::default())
        .await
        .unwrap();
    store.reset();
    assert_eq!(
        map.warm_up_dag(64 << 20).await.unwrap(),
        Some(usize::try_from(nodes).unwrap())
    );
    assert_eq!(store.reads.load(Ordering::Relaxed), 1, "one trip");
    store.reset();
    let keys: Vec<String> = (0..3000).map(key).collect();
    let links = map.get_links_many(&keys).await.unwrap();
    assert!(links.iter().all(Option::is_some));
    assert_eq!(store.reads.load(Ordering::Relaxed), 0, "no node read");

    let mut dirty = Hamt::open(Arc::clone(&store), root, HamtConfig::default())
        .await
        .unwrap();
    dirty.insert("new", b"v".to_vec()).await.unwrap();
    assert_eq!(dirty.warm_up_dag(64 << 20).await.unwrap(), None);
    let mut memory = Hamt::new(hamt_store::MemoryStore::new(), HamtConfig::default());
    memory.insert("k", b"v".to_vec()).await.unwrap();
    memory.flush().await.unwrap();
    assert_eq!(
        memory.warm_up_dag(64 << 20).await.unwrap(),
        None,
        "no DAG fetch"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A batch gives exactly what one-by-one reads give, on a stored tree,
    /// on a changed one, and on keys repeated or absent.
    #[test]
    fn batches_equal_one_by_one_reads(
        stored in proptest::collection::vec(0usize..400, 0..300),
        changed in proptest::collection::vec(0usize..400, 0..60),
        asked in proptest::collection::vec(0usize..500, 0..120),
    ) {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let store = Arc::new(DistantStore::default());
            let mut map = Hamt::new(Arc::clone(&store), HamtConfig::default().with_max_bucket_size(2));
            for i in &stored {
                map.insert(&key(*i), value(*i)).await.unwrap();
            }
            let root = map.flush().await.unwrap();
            let mut map = Hamt::open(Arc::clone(&store), root, HamtConfig::default().with_max_bucket_size(2))
                .await
                .unwrap();
            for i in &changed {
                map.insert(&key(*i), format!("changed {i}").into_bytes()).await.unwrap();
            }
            let keys: Vec<String> = asked.iter().map(|i| key(*i)).collect();
            let batch = map.get_many(&keys).await.unwrap();
            for (key, got) in keys.iter().zip(batch) {
                prop_assert_eq!(got, map.get(key).await.unwrap(), "{}", key);
            }
            Ok(())
        })?;
    }
}
