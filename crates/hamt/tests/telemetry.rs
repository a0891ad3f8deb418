//! What the HAMT records when telemetry is on: lookups with their depth,
//! node loads split into cache hits and store reads. (Its own test binary:
//! enabling telemetry is process-wide.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use hamt::{Hamt, HamtConfig};
use hamt_store::MemoryStore;
use hamt_store::telemetry::{self, snapshot};

#[tokio::test]
async fn lookups_and_node_loads_are_recorded() {
    let store = Arc::new(MemoryStore::new());
    let config = HamtConfig::default().with_max_bucket_size(1);
    let mut map = Hamt::new(store.clone(), config.clone());
    let keys: Vec<String> = (0..2000).map(|i| format!("k/{i}")).collect();
    for key in &keys {
        map.insert(key, b"v".to_vec()).await.unwrap();
    }
    let root = map.flush().await.unwrap();
    telemetry::enable();

    // A fresh handle: every node is read from the store once.
    let before = snapshot();
    let map = Hamt::open(store, root, config).await.unwrap();
    let links = map.get_links_many(&keys).await.unwrap();
    assert!(links.iter().all(Option::is_some));
    assert!(map.get_link("absent").await.unwrap().is_none());
    let after = snapshot();
    let stats = map.stats().await.unwrap();
    let delta = |name: &str| after.counter(name) - before.counter(name);
    let delta_true = |name: &str| after.counter_true(name) - before.counter_true(name);

    assert_eq!(delta("py_hamt.hamt.lookup.requests"), 2001);
    assert_eq!(delta_true("py_hamt.hamt.lookup.requests"), 2000);
    let (count, sum, max) = after.histogram("py_hamt.hamt.lookup.depth");
    let (count0, sum0, _) = before.histogram("py_hamt.hamt.lookup.depth");
    assert_eq!(count - count0, 2001);
    let depth = stats.nodes_per_depth.len() as u64;
    assert!(max >= 2 && max <= depth, "{max} {stats:?}");
    assert!(
        sum - sum0 >= 2001 * 2,
        "one key per bucket: none in the root"
    );
    let reads =
        delta("py_hamt.hamt.node_load.requests") - delta_true("py_hamt.hamt.node_load.requests");
    assert_eq!(reads, stats.nodes, "every node read once");
    assert_eq!(delta("py_hamt.hamt.node_load.bytes"), stats.node_bytes);
    let (loads, _, _) = after.histogram("py_hamt.hamt.node_load.duration");
    let (loads0, _, _) = before.histogram("py_hamt.hamt.node_load.duration");
    assert_eq!(loads - loads0, stats.nodes);
}
