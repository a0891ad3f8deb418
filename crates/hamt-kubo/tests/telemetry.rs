//! What a gateway read records when telemetry is on (its own test binary:
//! enabling telemetry is process-wide).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::Scripted;
use hamt_codec::{BlockCodec, HashAlgorithm};
use hamt_kubo::KuboStore;
use hamt_store::telemetry::{self, snapshot};
use hamt_store::{Block, BlockStore};

#[tokio::test]
async fn a_load_records_requests_bytes_retries_and_time() {
    telemetry::enable();
    let block = Block::new(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        Bytes::from_static(b"twelve bytes"),
    );
    let server = Scripted::start(vec![
        (503, vec![]),
        (503, vec![]),
        (200, block.data().to_vec()),
    ])
    .await;
    let store = KuboStore::builder()
        .gateway(&server.url)
        .retry_delay(Duration::from_millis(1))
        .build()
        .unwrap();
    store.get(block.cid()).await.unwrap();
    let missing = Scripted::start(vec![(404, vec![])]).await;
    let other = KuboStore::builder().gateway(&missing.url).build().unwrap();
    assert!(other.get(block.cid()).await.is_err());

    let seen = snapshot();
    assert_eq!(seen.counter("py_hamt.cas.load.requests"), 2);
    assert_eq!(
        seen.counter_true("py_hamt.cas.load.requests"),
        1,
        "one succeeded"
    );
    assert_eq!(seen.counter("py_hamt.cas.load.response_bytes"), 12);
    assert_eq!(seen.counter("py_hamt.cas.load.retries"), 2);
    let (count, sum, _) = seen.histogram("py_hamt.cas.load.duration");
    assert_eq!(count, 2);
    assert!(
        sum >= 2_000_000,
        "two retry waits of at least ~1 ms: {sum} ns"
    );
}
