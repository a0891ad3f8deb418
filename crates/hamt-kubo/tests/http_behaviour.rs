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

#[tokio::test]
async fn a_gateway_size_is_one_head_request() {
    let b = block();
    let server = Scripted::start(vec![(200, b.data().to_vec())]).await;
    let size = gateway_store(&server.url)
        .block_size(b.cid())
        .await
        .unwrap();
    assert_eq!(size, b.data().len() as u64);
    let requests = server.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method(), "HEAD");
    assert!(requests[0].line().contains(&b.cid().to_string()));
}

#[tokio::test]
async fn an_rpc_size_is_block_stat() {
    let b = block();
    let answer = format!(r#"{{"Key":"{}","Size":14}}"#, b.cid());
    let server = Scripted::start(vec![(200, answer.into_bytes())]).await;
    let store = fast(KuboStore::builder().rpc_url(&server.url))
        .build()
        .unwrap();
    assert_eq!(store.block_size(b.cid()).await.unwrap(), 14);
    let requests = server.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].line().contains("/api/v0/block/stat?arg="));
    assert!(
        !requests[0].line().contains("offline"),
        "sizes are online, as reads"
    );
}

#[tokio::test]
async fn a_missing_size_is_not_found() {
    let b = block();
    let server = Scripted::start(vec![(404, vec![])]).await;
    let err = gateway_store(&server.url)
        .block_size(b.cid())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(cid) if cid == *b.cid()));
}

#[tokio::test]
async fn a_retry_after_date_is_waited_for() {
    let b = block();
    // Two seconds on, in whole seconds: the wait is more than one second.
    let at = std::time::SystemTime::now() + Duration::from_secs(2);
    let server = Scripted::start_with_retry_after(
        vec![(503, vec![]), (200, b.data().to_vec())],
        &http_date(at),
    )
    .await;
    let start = std::time::Instant::now();
    let got = gateway_store(&server.url).get(b.cid()).await.unwrap();
    assert_eq!(&got, b.data());
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.hits(), 2);
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the weekday left out
/// as the client does not check it.
fn http_date(at: std::time::SystemTime) -> String {
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (mut days, rest) = (secs / 86_400, secs % 86_400);
    let mut year = 1970;
    let leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let names = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut month = 0;
    while days >= lengths[month] {
        days -= lengths[month];
        month += 1;
    }
    format!(
        "Day, {:02} {} {year} {:02}:{:02}:{:02} GMT",
        days + 1,
        names[month],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Three failures open a gateway's breaker: it is then tried after the
/// healthy one; after the cooldown one failure reopens it, and once it
/// answers again it is first again.
#[tokio::test]
async fn a_failing_gateway_is_put_last_then_given_another_chance() {
    let b = block();
    let ok = (200, b.data().to_vec());
    // Fails 4 times (3 to open, 1 on probation), then answers.
    let flaky = Scripted::start(vec![
        (503, vec![]),
        (503, vec![]),
        (503, vec![]),
        (503, vec![]),
        ok.clone(),
    ])
    .await;
    let good = Scripted::start(vec![ok]).await;
    let cooldown = Duration::from_millis(300);
    let store = KuboStore::builder()
        .gateways([&flaky.url, &good.url])
        .retries(0)
        .circuit_breaker(hamt_kubo::BreakerPolicy {
            failures: 3,
            cooldown,
        })
        .build()
        .unwrap();
    for _ in 0..3 {
        store.get(b.cid()).await.unwrap();
    }
    assert_eq!((flaky.hits(), good.hits()), (3, 3));
    // Open: the healthy gateway answers first, the flaky one is not asked.
    for _ in 0..5 {
        store.get(b.cid()).await.unwrap();
    }
    assert_eq!((flaky.hits(), good.hits()), (3, 8));
    // After the cooldown: asked first again, fails once, open again at once.
    tokio::time::sleep(cooldown).await;
    store.get(b.cid()).await.unwrap();
    store.get(b.cid()).await.unwrap();
    assert_eq!((flaky.hits(), good.hits()), (4, 10));
    // After the next cooldown it answers: closed, first again.
    tokio::time::sleep(cooldown).await;
    for _ in 0..3 {
        store.get(b.cid()).await.unwrap();
    }
    assert_eq!((flaky.hits(), good.hits()), (7, 10));
}

/// With every gateway open, reads still go to them (the earliest to reopen first).
#[tokio::test]
async fn open_gateways_are_still_tried_when_no_other_is_left() {
    let b = block();
    let server =
        Scripted::start(vec![(503, vec![]), (503, vec![]), (200, b.data().to_vec())]).await;
    let store = KuboStore::builder()
        .gateway(&server.url)
        .retries(0)
        .circuit_breaker(hamt_kubo::BreakerPolicy {
            failures: 1,
            cooldown: Duration::from_mins(10),
        })
        .build()
        .unwrap();
    assert!(store.get(b.cid()).await.is_err());
    assert!(store.get(b.cid()).await.is_err());
    assert_eq!(&store.get(b.cid()).await.unwrap(), b.data());
    assert_eq!(server.hits(), 3);
}

fn sent_credentials(request: &common::Request) -> Vec<&'static str> {
    let mut sent = Vec::new();
    if request.header("authorization").is_some() {
        sent.push("authorization");
    }
    if request.header("x-api-key").is_some() {
        sent.push("x-api-key");
    }
    sent
}

/// Credentials go to the RPC and the first gateway only (and to origins
/// named with `credentials_for`), never to a fallback gateway.
#[tokio::test]
async fn credentials_reach_only_their_own_origins() {
    let b = block();
    let first = Scripted::start(vec![(503, vec![])]).await;
    let fallback = Scripted::start(vec![(200, b.data().to_vec())]).await;
    let named = Scripted::start(vec![(503, vec![])]).await;
    let answer = format!(r#"{{"Key":"{}","Size":14}}"#, b.cid());
    let rpc = Scripted::start(vec![(200, answer.into_bytes())]).await;
    let store = KuboStore::builder()
        .rpc_url(&rpc.url)
        .gateways([&first.url, &named.url, &fallback.url])
        .bearer_token("tok-SECRET")
        .header("X-Api-Key", "key-SECRET")
        .credentials_for(format!("{}/any/path", named.url))
        .retries(0)
        .build()
        .unwrap();
    assert_eq!(&store.get(b.cid()).await.unwrap(), b.data());
    store.put_block(b.clone()).await.unwrap();
    let first_seen = &first.requests.lock().unwrap()[0];
    assert_eq!(sent_credentials(first_seen), ["authorization", "x-api-key"]);
    let named_seen = &named.requests.lock().unwrap()[0];
    assert_eq!(sent_credentials(named_seen), ["authorization", "x-api-key"]);
    let rpc_seen = &rpc.requests.lock().unwrap()[0];
    assert_eq!(sent_credentials(rpc_seen), ["authorization", "x-api-key"]);
    let fallback_seen = &fallback.requests.lock().unwrap()[0];
    assert!(
        sent_credentials(fallback_seen).is_empty(),
        "{}",
        fallback_seen.head
    );
}

/// A redirect to another origin carries no credential (configured, or
/// from the URL's user info); one within the origin keeps them.
#[tokio::test]
async fn redirects_drop_credentials_across_origins() {
    let b = block();
    let elsewhere = Scripted::start(vec![(200, b.data().to_vec())]).await;
    let location = format!(
        "Location: {}/ipfs/{}?format=raw\r\n",
        elsewhere.url,
        b.cid()
    );
    let redirecting = Scripted::start_with_failure_headers(vec![(302, vec![])], &location).await;
    let with_userinfo = redirecting
        .url
        .replace("http://", "http://alice:pw-SECRET@");
    let store = KuboStore::builder()
        .gateway(&with_userinfo)
        .header("X-Api-Key", "key-SECRET")
        .retries(0)
        .build()
        .unwrap();
    assert_eq!(&store.get(b.cid()).await.unwrap(), b.data());
    let asked = redirecting.requests.lock().unwrap()[0].clone();
    assert_eq!(sent_credentials(&asked), ["authorization", "x-api-key"]);
    let followed = elsewhere.requests.lock().unwrap()[0].clone();
    assert!(sent_credentials(&followed).is_empty(), "{}", followed.head);

    // Within the origin: a relative Location, credentials kept.
    let location = format!("Location: /ipfs/{}?format=raw&again\r\n", b.cid());
    let same = Scripted::start_with_failure_headers(
        vec![(307, vec![]), (200, b.data().to_vec())],
        &location,
    )
    .await;
    let store = KuboStore::builder()
        .gateway(&same.url)
        .bearer_token("tok-SECRET")
        .retries(0)
        .build()
        .unwrap();
    assert_eq!(&store.get(b.cid()).await.unwrap(), b.data());
    let requests = same.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].line().contains("again"));
    assert_eq!(sent_credentials(&requests[1]), ["authorization"]);
}

/// A redirect loop ends with an error, not a hang.
#[tokio::test]
async fn redirect_loops_end() {
    let b = block();
    let location = format!("Location: /ipfs/{}?format=raw\r\n", b.cid());
    let looping = Scripted::start_with_failure_headers(vec![(302, vec![])], &location).await;
    let err = KuboStore::builder()
        .gateway(&looping.url)
        .retries(0)
        .build()
        .unwrap()
        .get(b.cid())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("redirects"), "{err}");
    assert_eq!(looping.hits(), 6);
}

/// A DAG-CBOR block `{"l": [links...]}` and its CID.
fn node(links: &[hamt_codec::Cid], salt: u8) -> Block {
    // map(2) {"l": [..links], "s": salt}
    let mut data = vec![0xa2, 0x61, b'l', 0x80 | u8::try_from(links.len()).unwrap()];
    for link in links {
        let bytes = link.to_bytes();
        data.extend_from_slice(&[
            0xd8,
            0x2a,
            0x58,
            u8::try_from(bytes.len() + 1).unwrap(),
            0x00,
        ]);
        data.extend_from_slice(&bytes);
    }
    data.extend_from_slice(&[0x61, b's', salt & 0x17]);
    Block::new(
        BlockCodec::DagCbor,
        HashAlgorithm::Blake3,
        Bytes::from(data),
    )
}

fn car(roots: &[hamt_codec::Cid], blocks: &[(hamt_codec::Cid, Vec<u8>)]) -> Vec<u8> {
    let mut writer = hamt_car::CarWriter::new(Vec::new(), roots).unwrap();
    for (cid, data) in blocks {
        writer.write_block(cid, data).unwrap();
    }
    writer.finish().unwrap()
}

/// A root linking a leaf and a child node, which links another leaf.
fn small_dag() -> Vec<Block> {
    let leaf = |s: &'static [u8]| {
        Block::new(
            BlockCodec::Raw,
            HashAlgorithm::Blake3,
            Bytes::from_static(s),
        )
    };
    let (a, b) = (leaf(b"leaf a"), leaf(b"leaf b"));
    let child = node(&[*b.cid()], 1);
    let root = node(&[*a.cid(), *child.cid()], 2);
    vec![root, a, child, b]
}

fn entries(blocks: &[Block]) -> Vec<(hamt_codec::Cid, Vec<u8>)> {
    blocks
        .iter()
        .map(|b| (*b.cid(), b.data().to_vec()))
        .collect()
}

#[tokio::test]
async fn a_dag_comes_in_one_car_request() {
    let dag = small_dag();
    let root = *dag[0].cid();
    let server = Scripted::start(vec![(200, car(&[root], &entries(&dag)))]).await;
    let blocks = gateway_store(&server.url)
        .fetch_dag(&root, hamt_store::DagScope::All, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    let mut got: Vec<_> = blocks.iter().map(|b| *b.cid()).collect();
    let mut want: Vec<_> = dag.iter().map(|b| *b.cid()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let requests = server.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].line().contains("format=car"),
        "{}",
        requests[0].line()
    );
    assert!(
        requests[0]
            .header("accept")
            .unwrap()
            .starts_with("application/vnd.ipld.car")
    );
}

#[tokio::test]
async fn a_car_with_a_block_outside_the_dag_is_refused() {
    let dag = small_dag();
    let root = *dag[0].cid();
    let mut blocks = entries(&dag);
    let stray = Block::new(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        Bytes::from_static(b"not asked for"),
    );
    blocks.push((*stray.cid(), stray.data().to_vec()));
    let server = Scripted::start(vec![(200, car(&[root], &blocks))]).await;
    let err = gateway_store(&server.url)
        .fetch_dag(&root, hamt_store::DagScope::All, 1 << 20)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not in the DAG"), "{err}");
    assert!(err.to_string().contains(&stray.cid().to_string()), "{err}");
}

#[tokio::test]
async fn a_car_with_a_corrupt_block_or_another_root_is_refused() {
    let dag = small_dag();
    let root = *dag[0].cid();
    let mut blocks = entries(&dag);
    blocks[1].1[0] ^= 1;
    let server = Scripted::start(vec![(200, car(&[root], &blocks))]).await;
    let err = gateway_store(&server.url)
        .fetch_dag(&root, hamt_store::DagScope::All, 1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { cid } if cid == *dag[1].cid()),
        "{err:?}"
    );
    assert_eq!(
        server.hits(),
        1,
        "not fetched again: blocks are read one by one then"
    );

    let other = *dag[2].cid();
    let server = Scripted::start(vec![(200, car(&[other], &entries(&dag)))]).await;
    let err = gateway_store(&server.url)
        .fetch_dag(&root, hamt_store::DagScope::All, 1 << 20)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("root"), "{err}");
}

#[tokio::test]
async fn a_gateway_without_cars_or_a_car_too_large_says_so() {
    let dag = small_dag();
    let root = *dag[0].cid();
    let server = Scripted::start(vec![(406, vec![])]).await;
    assert!(
        gateway_store(&server.url)
            .fetch_dag(&root, hamt_store::DagScope::All, 1 << 20)
            .await
            .unwrap()
            .is_none()
    );
    let server = Scripted::start(vec![(200, car(&[root], &entries(&dag)))]).await;
    let err = gateway_store(&server.url)
        .fetch_dag(&root, hamt_store::DagScope::All, 100)
        .await
        .unwrap_err();
    assert!(
        matches!(kubo_error(&err), KuboError::TooLarge { limit: 100 }),
        "{err:?}"
    );
    let rpc_only = fast(KuboStore::builder().rpc_url(&server.url))
        .build()
        .unwrap();
    assert!(
        rpc_only
            .fetch_dag(&root, hamt_store::DagScope::All, 1 << 20)
            .await
            .unwrap()
            .is_none()
    );
}

/// A file of three 1 MiB leaves plus a short one: its root and blocks.
fn big_file() -> (Vec<u8>, hamt_codec::Cid, Vec<Block>) {
    let data: Vec<u8> = (0..(3 << 20) + 1000)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    let (root, blocks) = hamt_unixfs::build_file(&data, HashAlgorithm::Blake3);
    (data, root, blocks)
}

/// A range of a large UnixFS value comes in one `entity-bytes` CAR: the
/// root and the leaf it overlaps, one request.
#[tokio::test]
async fn a_file_range_comes_in_one_request() {
    let (data, root, blocks) = big_file();
    let root_block = blocks.iter().find(|b| *b.cid() == root).unwrap();
    // Bytes 1.5 MiB .. +100 lie in the second leaf.
    let leaf = blocks
        .iter()
        .find(|b| b.data().len() == 1 << 20 && b.data()[..] == data[1 << 20..2 << 20])
        .unwrap();
    let car_bytes = car(&[root], &entries(&[root_block.clone(), leaf.clone()]));
    let server = Scripted::start(vec![(200, car_bytes)]).await;
    let range = hamt_store::ByteRange::Slice {
        offset: 3 << 19,
        length: 100,
    };
    let got = hamt_unixfs::read_file(&gateway_store(&server.url), &root, range)
        .await
        .unwrap();
    assert_eq!(&got[..], &data[3 << 19..(3 << 19) + 100]);
    let requests = server.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0]
            .line()
            .contains("dag-scope=entity&entity-bytes=1572864:1572963"),
        "{}",
        requests[0].line()
    );
}

/// A gateway without CARs: the range is read block by block (root, then leaf).
#[tokio::test]
async fn a_file_range_without_cars_reads_blocks() {
    let (data, root, blocks) = big_file();
    let root_block = blocks.iter().find(|b| *b.cid() == root).unwrap();
    let last = blocks.iter().find(|b| b.data().len() == 1000).unwrap();
    let server = Scripted::start(vec![
        (406, vec![]),
        (200, root_block.data().to_vec()),
        (200, last.data().to_vec()),
    ])
    .await;
    let got = hamt_unixfs::read_file(
        &gateway_store(&server.url),
        &root,
        hamt_store::ByteRange::Suffix(10),
    )
    .await
    .unwrap();
    assert_eq!(&got[..], &data[data.len() - 10..]);
    let lines: Vec<String> = server
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.line().to_owned())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].contains("entity-bytes=-10:*"), "{lines:?}");
}

/// A size follows a 303 as a HEAD (never downloading the body), and a
/// length no block can have is refused.
#[tokio::test]
async fn sizes_stay_heads_and_lying_lengths_are_refused() {
    let b = block();
    let target = Scripted::start(vec![(200, b.data().to_vec())]).await;
    let location = format!("Location: {}/ipfs/{}?format=raw\r\n", target.url, b.cid());
    let redirecting = Scripted::start_with_failure_headers(vec![(303, vec![])], &location).await;
    let size = gateway_store(&redirecting.url)
        .block_size(b.cid())
        .await
        .unwrap();
    assert_eq!(size, b.data().len() as u64);
    assert_eq!(target.requests.lock().unwrap()[0].method(), "HEAD");

    // A 5 MiB "block" from a store that reads at most 4 MiB per block.
    let liar = Scripted::start(vec![(200, vec![0; 5 << 20])]).await;
    let err = gateway_store(&liar.url)
        .block_size(b.cid())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Content-Length"), "{err}");
}

/// `repo/gc` streams one line per block removed; they are counted, errors
/// collected, and the request asks for errors in the stream.
#[tokio::test]
async fn repo_gc_counts_the_blocks_removed() {
    let answer = concat!(
        "{\"Key\":{\"/\":\"bafkreiffhk5brl5eaxgxyp7qp4qkipzqtz7qvaytebua477vqmxx7zvbku\"}}\n",
        "{\"Key\":{\"/\":\"bafkreie7y2wjsbsgbp75ldbggxcwqvtxuzl3jsthgoao3ghvm7ymuj2hae\"}}\n",
        "{\"Error\":\"block in use\"}\n",
    );
    let server = Scripted::start(vec![(200, answer.as_bytes().to_vec())]).await;
    let store = fast(KuboStore::builder().rpc_url(&server.url))
        .build()
        .unwrap();
    let report = store.repo_gc().await.unwrap();
    assert_eq!(report.blocks_removed, 2);
    assert_eq!(report.errors, ["block in use"]);
    assert_eq!(report.errors_total, 1);
    {
        let requests = server.requests.lock().unwrap();
        assert_eq!(requests.len(), 1);
        assert!(
            requests[0]
                .line()
                .starts_with("POST /api/v0/repo/gc?stream-errors=true "),
            "{}",
            requests[0].line()
        );
    }

    // An error answer is an error, with the daemon's message.
    let failing = Scripted::start(vec![(403, b"{\"Message\":\"not allowed\"}".to_vec())]).await;
    let store = fast(KuboStore::builder().rpc_url(&failing.url))
        .build()
        .unwrap();
    let error = store.repo_gc().await.unwrap_err();
    assert!(error.to_string().contains("not allowed"), "{error}");
}

#[tokio::test]
async fn an_rpc_read_bounds_the_nodes_search_and_a_give_up_is_not_found_at_once() {
    // Kubo's answer when the `timeout` sent runs out while it searches.
    let gave_up = br#"{"Message":"context deadline exceeded","Code":0,"Type":"error"}"#;
    let server = Scripted::start(vec![(500, gave_up.to_vec())]).await;
    let store = fast(KuboStore::builder().rpc_url(&server.url))
        .rpc_search_timeout(Duration::from_secs(7))
        .build()
        .unwrap();
    let err = store.get(block().cid()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(c) if &c == block().cid()),
        "{err:?}"
    );
    let size = hamt_store::block_size(&store, block().cid())
        .await
        .unwrap_err();
    assert!(matches!(size, StoreError::NotFound(_)), "{size:?}");
    assert_eq!(server.hits(), 2, "a search given up is not retried");
    let requests = server.requests.lock().unwrap();
    for request in requests.iter() {
        assert!(request.head.contains("timeout=7000ms"), "{}", request.head);
    }
}

#[tokio::test]
async fn offline_rpc_reads_ask_only_the_nodes_blockstore() {
    let b = block();
    let server = Scripted::start(vec![(200, b.data().to_vec())]).await;
    let store = fast(KuboStore::builder().rpc_url(&server.url))
        .rpc_offline_reads()
        .build()
        .unwrap();
    assert_eq!(&store.get(b.cid()).await.unwrap(), b.data());
    let head = server.requests.lock().unwrap()[0].head.clone();
    assert!(
        head.contains("block/get?arg=") && head.contains("&offline=true"),
        "{head}"
    );
}
