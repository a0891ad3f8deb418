//! Retries, auth and error handling against a scripted local server (no daemon needed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test data generators truncate on purpose; figures are printed as floats.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_lossless,
    clippy::cast_precision_loss,
    clippy::doc_markdown
)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::Scripted;
use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};
use hamt_kubo::{KuboError, KuboStore, KuboStoreBuilder};
use hamt_store::{Block, BlockStore, StoreError};

fn fast(builder: KuboStoreBuilder) -> KuboStoreBuilder {
    builder
        .retries(3)
        .retry_delay(Duration::from_millis(5))
        .timeout(Duration::from_secs(2))
}

fn gateway_store(url: &str) -> KuboStore {
    fast(KuboStore::builder().gateway(url)).build().unwrap()
}

fn block() -> Block {
    Block::new(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        Bytes::from_static(b"scripted block"),
    )
}

fn kubo_error(err: &StoreError) -> &KuboError {
    let StoreError::Backend { source, .. } = err else {
        panic!("not a backend error: {err:?}")
    };
    source.downcast_ref::<KuboError>().expect("a KuboError")
}

#[tokio::test]
async fn two_503s_then_200_succeeds() {
    let b = block();
    let server =
        Scripted::start(vec![(503, vec![]), (503, vec![]), (200, b.data().to_vec())]).await;
    let got = gateway_store(&server.url).get(b.cid()).await.unwrap();
    assert_eq!(&got, b.data());
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn a_429_is_retried() {
    let b = block();
    let server = Scripted::start(vec![(429, vec![]), (200, b.data().to_vec())]).await;
    assert_eq!(
        &gateway_store(&server.url).get(b.cid()).await.unwrap(),
        b.data()
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_404_is_not_found_at_once() {
    let server = Scripted::start(vec![(404, b"no".to_vec())]).await;
    let err = gateway_store(&server.url)
        .get(block().cid())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(c) if &c == block().cid()));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let server = Scripted::start(vec![(400, b"bad request".to_vec())]).await;
    let err = gateway_store(&server.url)
        .get(block().cid())
        .await
        .unwrap_err();
    assert!(
        matches!(kubo_error(&err), KuboError::Status { status: 400, .. }),
        "{err}"
    );
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn rpc_not_found_500_is_not_found_at_once() {
    let body = br#"{"Message":"block was not found locally (offline): ipld: could not find x","Code":0,"Type":"error"}"#;
    let server = Scripted::start(vec![(500, body.to_vec())]).await;
    let store = fast(KuboStore::builder().rpc_url(&server.url))
        .build()
        .unwrap();
    assert!(matches!(
        store.get(block().cid()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.has(block().cid()).await.unwrap());
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_retry_after_header_is_waited_for() {
    let b = block();
    let server =
        Scripted::start_with_retry_after(vec![(429, vec![]), (200, b.data().to_vec())], "1").await;
    let start = std::time::Instant::now();
    let got = gateway_store(&server.url).get(b.cid()).await.unwrap();
    assert_eq!(&got, b.data());
    // The policy alone would wait ~5 ms; the server asked for a second.
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cap_waits_only_the_cap() {
    let b = block();
    let server =
        Scripted::start_with_retry_after(vec![(503, vec![]), (200, b.data().to_vec())], "86400")
            .await;
    let store = fast(KuboStore::builder().gateway(&server.url))
        .retry_policy(hamt_kubo::RetryPolicy {
            retries: 3,
            first_delay: Duration::from_millis(5),
            factor: 2.0,
            max_delay: Duration::from_millis(300),
        })
        .build()
        .unwrap();
    let start = std::time::Instant::now();
    assert_eq!(&store.get(b.cid()).await.unwrap(), b.data());
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn retries_run_out() {
    let server = Scripted::start(vec![(503, b"down".to_vec())]).await;
    let err = gateway_store(&server.url)
        .get(block().cid())
        .await
        .unwrap_err();
    assert!(matches!(
        kubo_error(&err),
        KuboError::Status { status: 503, .. }
    ));
    assert_eq!(server.hits(), 4, "one attempt and three retries");
}

#[tokio::test]
async fn timeouts_are_retried() {
    let server = Scripted::start_with_delay(vec![(200, vec![])], Duration::from_millis(400)).await;
    let store = KuboStore::builder()
        .gateway(&server.url)
        .retries(1)
        .retry_delay(Duration::from_millis(5))
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = store.get(block().cid()).await.unwrap_err();
    assert!(
        matches!(kubo_error(&err), KuboError::Request(e) if e.is_timeout()),
        "{err}"
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_wrong_block_is_corrupt_after_retries() {
    let server = Scripted::start(vec![(200, b"other bytes".to_vec())]).await;
    let err = gateway_store(&server.url)
        .get(block().cid())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }));
    assert_eq!(server.hits(), 4);
}

#[tokio::test]
async fn gateways_fail_over() {
    let b = block();
    let down = Scripted::start(vec![(502, vec![])]).await;
    let missing = Scripted::start(vec![(404, vec![])]).await;
    let good = Scripted::start(vec![(200, b.data().to_vec())]).await;
    let store = fast(KuboStore::builder().gateways([&down.url, &missing.url, &good.url]))
        .build()
        .unwrap();
    assert_eq!(&store.get(b.cid()).await.unwrap(), b.data());
    assert_eq!((down.hits(), missing.hits(), good.hits()), (1, 1, 1));
}

#[tokio::test]
async fn put_checks_the_daemons_cid() {
    let b = block();
    let other = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"something else");
    let server = Scripted::start(vec![(
        200,
        format!(r#"{{"Key":"{other}","Size":3}}"#).into_bytes(),
    )])
    .await;
    let store = fast(KuboStore::builder().rpc_url(&server.url))
        .build()
        .unwrap();
    let err = store.put_block(b.clone()).await.unwrap_err();
    assert!(
        matches!(kubo_error(&err), KuboError::CidMismatch { returned, .. } if **returned == other)
    );
    let request = server.requests.lock().unwrap()[0].clone();
    assert!(
        request
            .line()
            .contains("/api/v0/block/put?cid-codec=raw&mhtype=blake3&mhlen=32"),
        "{}",
        request.line()
    );
    assert!(
        String::from_utf8_lossy(&request.body).contains("Content-Type: application/octet-stream")
    );
}

#[tokio::test]
async fn a_gateway_only_store_is_read_only() {
    let store = gateway_store("http://127.0.0.1:9");
    assert!(!store.is_writable());
    assert!(matches!(
        store.put_block(block()).await,
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(
        store.pin_add(block().cid()).await,
        Err(StoreError::ReadOnly)
    ));
}

#[tokio::test]
async fn bearer_token_and_headers_are_sent_but_never_shown() {
    let server = Scripted::start(vec![(403, b"forbidden".to_vec())]).await;
    let store = fast(KuboStore::builder().gateway(&server.url))
        .bearer_token("tok-SECRET-1")
        .header("X-Api-Key", "key-SECRET-2")
        .build()
        .unwrap();
    let err = store.get(block().cid()).await.unwrap_err();
    let head = server.requests.lock().unwrap()[0].head.to_lowercase();
    assert!(
        head.contains("authorization: bearer tok-secret-1"),
        "{head}"
    );
    assert!(head.contains("x-api-key: key-secret-2"), "{head}");
    assert!(head.contains("accept: application/vnd.ipld.raw"), "{head}");
    let shown = format!(
        "{store:?} {err} {err:?} {:?}",
        std::error::Error::source(&err)
    );
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(
        shown.contains("x-api-key"),
        "header names may show: {shown}"
    );
}

#[tokio::test]
async fn basic_auth_and_url_credentials_are_never_shown() {
    let server = Scripted::start(vec![(401, b"who are you".to_vec())]).await;
    let with_userinfo = server.url.replace("http://", "http://alice:pw-SECRET-3@");
    let store = fast(
        KuboStore::builder()
            .rpc_url(&with_userinfo)
            .gateway(&with_userinfo),
    )
    .basic_auth("bob", "pw-SECRET-4")
    .build()
    .unwrap();
    let err = store.get(block().cid()).await.unwrap_err();
    let head = server.requests.lock().unwrap()[0].head.to_lowercase();
    assert!(head.contains("authorization: basic "), "{head}");
    // A connection failure's message must not leak the URL either.
    let dead = fast(KuboStore::builder().gateway("http://carol:pw-SECRET-5@127.0.0.1:9"))
        .retries(0)
        .build()
        .unwrap();
    let dead_err = dead.get(block().cid()).await.unwrap_err();
    let shown = format!("{store:?} {err} {err:?} {dead:?} {dead_err} {dead_err:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
}

#[tokio::test]
async fn unverified_ranges_send_a_range_header() {
    let server = Scripted::start(vec![(206, b"ipt".to_vec())]).await;
    let store = fast(KuboStore::builder().gateway(&server.url))
        .allow_unverified_ranges(true)
        .build()
        .unwrap();
    let range = hamt_store::ByteRange::Slice {
        offset: 4,
        length: 3,
    };
    assert_eq!(
        &store.get_range(block().cid(), range).await.unwrap()[..],
        b"ipt"
    );
    let head = server.requests.lock().unwrap()[0].head.to_lowercase();
    assert!(head.contains("range: bytes=4-6"), "{head}");
}

#[test]
fn builder_rejects_bad_settings() {
    assert!(matches!(
        KuboStore::builder().build(),
        Err(KuboError::Config(_))
    ));
    assert!(KuboStore::builder().gateway("ftp://x").build().is_err());
    assert!(
        KuboStore::builder()
            .gateway("http://x")
            .concurrency(0)
            .build()
            .is_err()
    );
    let err = KuboStore::builder()
        .gateway("http://x")
        .header("X-K", "bad\nSECRET")
        .build()
        .unwrap_err();
    assert!(!err.to_string().contains("SECRET"));
}
