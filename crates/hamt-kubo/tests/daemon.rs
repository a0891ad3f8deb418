//! Against a real daemon (IPFS_API_URL / IPFS_GATEWAY_URL; see common::daemon).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test data generators truncate on purpose; figures are printed as floats.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_lossless,
    clippy::cast_precision_loss,
    clippy::doc_markdown
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Daemon, Faults, Overrides, Proxy, daemon};
use hamt_codec::{BlockCodec, HashAlgorithm};
use hamt_kubo::{KuboStore, KuboStoreBuilder, PinKind};
use hamt_store::{Block, BlockStore, ByteRange};
use hamt_unixfs::{CHUNK_SIZE, build_file, read_file};

fn fast(builder: KuboStoreBuilder) -> KuboStoreBuilder {
    builder
        .retries(3)
        .retry_delay(Duration::from_millis(10))
        .timeout(Duration::from_secs(20))
}

fn direct(d: &Daemon, hash: HashAlgorithm) -> KuboStore {
    fast(KuboStore::builder().rpc_url(&d.api).gateway(&d.gateway))
        .hash_algorithm(hash)
        .build()
        .unwrap()
}

/// The conformance suite, with corrupt blocks planted in proxies in front
/// of the daemon (the daemon hashes what it is given, so a corrupt block
/// cannot be written through its API).
#[tokio::test(flavor = "multi_thread")]
async fn conformance_through_gateway_and_through_rpc() {
    let Some(d) = daemon() else { return };
    let overrides = Overrides::default();
    let api = Proxy::start(&d.api, Faults::default(), overrides.clone()).await;
    let gw = Proxy::start(&d.gateway, Faults::default(), overrides.clone()).await;
    let plant = |cid: hamt_codec::Cid, bytes: Bytes| {
        overrides
            .lock()
            .unwrap()
            .insert(cid.to_string(), bytes.to_vec());
    };
    let with_gateway = fast(KuboStore::builder().rpc_url(&api.url).gateway(&gw.url))
        .build()
        .unwrap();
    hamt_store::conformance::check_all(&with_gateway, plant).await;
    let rpc_only = fast(KuboStore::builder().rpc_url(&api.url))
        .build()
        .unwrap();
    hamt_store::conformance::check_all(&rpc_only, plant).await;
    assert!(gw.stats.overridden.load(Ordering::Relaxed) > 0);
    assert!(api.stats.overridden.load(Ordering::Relaxed) > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn many_puts_and_gets_survive_injected_faults() {
    let Some(d) = daemon() else { return };
    let faults = Faults {
        drop: 80,
        error_5xx: 80,
        too_many: 50,
        delay: 80,
        stall: 10,
        corrupt: 150,
        lost_answer: 40,
    };
    let api = Proxy::start(&d.api, faults, Overrides::default()).await;
    let gw = Proxy::start(&d.gateway, faults, Overrides::default()).await;
    let store = KuboStore::builder()
        .rpc_url(&api.url)
        .gateway(&gw.url)
        .retries(12)
        .retry_delay(Duration::from_millis(5))
        .backoff_factor(1.5)
        .timeout(Duration::from_millis(1500))
        .concurrency(16)
        .build()
        .unwrap();
    let blocks: Vec<Block> = (0..300u32)
        .map(|i| {
            let data: Vec<u8> = (0..=(i * 37 % 5000)).map(|j| (i ^ j) as u8).collect();
            let codec = if i % 2 == 0 {
                BlockCodec::Raw
            } else {
                BlockCodec::DagCbor
            };
            Block::new(codec, HashAlgorithm::Blake3, data.into())
        })
        .collect();
    store.put_many(blocks.clone()).await.unwrap();
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for block in blocks {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            (store.get(block.cid()).await, block)
        }));
    }
    for task in tasks {
        let (got, block) = task.await.unwrap();
        assert_eq!(&got.unwrap(), block.data(), "a block came back wrong");
    }
    for (name, proxy) in [("api", &api), ("gateway", &gw)] {
        eprintln!("{name} proxy: {:?}", proxy.stats);
    }
    let s = &gw.stats;
    for (fault, count) in [
        ("dropped", &s.dropped),
        ("5xx", &s.errors),
        ("429", &s.too_many),
        ("corrupted", &s.corrupted),
    ] {
        assert!(
            count.load(Ordering::Relaxed) > 0,
            "no {fault} fault was injected"
        );
    }
}

/// `POST /api/v0/add` with py-hamt's KuboCAS options; returns the root CID.
async fn kubo_add(api: &str, data: &[u8], hash: HashAlgorithm) -> String {
    let boundary = "hamt-kubo-test-boundary-8c1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let url = format!(
        "{api}/api/v0/add?hash={}&chunker=size-1048576&cid-version=1&raw-leaves=true&pin=false",
        hash.name()
    );
    // Our own client for a raw `add`: reqwest needs a rustls provider installed first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let reply = reqwest::Client::new()
        .post(url)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .timeout(Duration::from_mins(10))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "add: {}", reply.status());
    let text = reply.text().await.unwrap();
    let last = text.lines().last().unwrap();
    let json: serde_json::Value = serde_json::from_str(last).unwrap();
    json["Hash"].as_str().unwrap().to_owned()
}

/// Distinct leaves (a counter in each chunk) over a varying pattern.
fn file_data(len: usize) -> Vec<u8> {
    let mut data: Vec<u8> = (0..len as u64).map(|i| ((i * 7 + 3) % 251) as u8).collect();
    for (i, chunk) in data.chunks_mut(CHUNK_SIZE).enumerate() {
        let n = chunk.len().min(4);
        chunk[..n].copy_from_slice(&(i as u32).to_le_bytes()[..n]);
    }
    data
}

async fn check_sizes_against_add(sizes: &[usize]) {
    let Some(d) = daemon() else { return };
    for &len in sizes {
        let data = file_data(len);
        for hash in [HashAlgorithm::Blake3, HashAlgorithm::Sha2_256] {
            let (root, _) = build_file(&data, hash);
            let added = kubo_add(&d.api, &data, hash).await;
            eprintln!("size {len} {}: local {root} node {added}", hash.name());
            assert_eq!(root.to_string(), added, "size {len}, {}", hash.name());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn build_file_matches_add_for_small_sizes() {
    let m = CHUNK_SIZE;
    check_sizes_against_add(&[1, m - 1, m, m + 1, 3 * m]).await;
}

/// The 174-link boundary and a ~200 MiB file (slow: run with --ignored).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "adds 174-200 MiB files to the daemon; a minute or more"]
async fn build_file_matches_add_for_large_sizes() {
    let m = CHUNK_SIZE;
    check_sizes_against_add(&[174 * m, 175 * m, 200 * m + 12_345]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unixfs_values_round_trip() {
    let Some(d) = daemon() else { return };
    let m = CHUNK_SIZE;
    for hash in [HashAlgorithm::Blake3, HashAlgorithm::Sha2_256] {
        let store = direct(&d, hash);
        for len in [0, 100, m, m + 1, 3 * m + 7] {
            let data = file_data(len);
            let root = hamt_unixfs::put_file(&store, data.clone().into())
                .await
                .unwrap();
            assert_eq!(
                &read_file(&store, &root, ByteRange::Full).await.unwrap()[..],
                &data[..]
            );
            let range = ByteRange::Slice {
                offset: (m as u64).saturating_sub(3),
                length: 7,
            };
            let got = read_file(&store, &root, range).await.unwrap();
            assert_eq!(&got[..], &data[range.to_index_range(len)], "len {len}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pins_add_list_update_remove() {
    let Some(d) = daemon() else { return };
    let store = direct(&d, HashAlgorithm::Blake3);
    let first = hamt_unixfs::put_file(&store, file_data(2 * CHUNK_SIZE + 1).into())
        .await
        .unwrap();
    let second = store
        .put(
            BlockCodec::DagCbor,
            Bytes::from_static(&[0xa1, 0x61, 0x70, 0x01]),
        )
        .await
        .unwrap();
    store.pin_add(&first).await.unwrap();
    let recursive = store.pin_ls(Some(PinKind::Recursive)).await.unwrap();
    assert!(recursive.contains(&(first, PinKind::Recursive)));
    assert_eq!(
        store.pin_status(&first).await.unwrap(),
        Some(PinKind::Recursive)
    );
    store.pin_update(&first, &second, true).await.unwrap();
    assert_eq!(
        store.pin_status(&second).await.unwrap(),
        Some(PinKind::Recursive)
    );
    assert_eq!(store.pin_status(&first).await.unwrap(), None);
    store.pin_rm(&second).await.unwrap();
    assert_eq!(store.pin_status(&second).await.unwrap(), None);
    assert!(
        store.pin_rm(&second).await.is_err(),
        "removing a missing pin is an error"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pin_on_put_pins() {
    let Some(d) = daemon() else { return };
    let store = fast(KuboStore::builder().rpc_url(&d.api))
        .pin_on_put(true)
        .build()
        .unwrap();
    let cid = store
        .put(BlockCodec::Raw, Bytes::from_static(b"pinned on put"))
        .await
        .unwrap();
    let status = store.pin_status(&cid).await.unwrap();
    assert!(status.is_some(), "block/put?pin=true left {cid} unpinned");
    store.pin_rm(&cid).await.unwrap();
    assert_eq!(store.pin_status(&cid).await.unwrap(), None);
    // Without the option, a put pins nothing.
    let plain = fast(KuboStore::builder().rpc_url(&d.api)).build().unwrap();
    let unpinned = plain
        .put(BlockCodec::Raw, Bytes::from_static(b"not pinned on put"))
        .await
        .unwrap();
    assert_eq!(plain.pin_status(&unpinned).await.unwrap(), None);
}

/// Names are files under /hamt-roots in the daemon's MFS; pins follow
/// them: naming pins the root, moving a name keeps the old pin until
/// `release_root` finds no name left on it.
#[tokio::test(flavor = "multi_thread")]
async fn named_roots_live_in_mfs_and_pins_follow_them() {
    let Some(d) = daemon() else { return };
    let store = direct(&d, HashAlgorithm::Blake3);
    let salt = format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    // Two dag-cbor roots, each linking a raw block (a map {"v": link}).
    let root = |text: String| {
        let store = store.clone();
        async move {
            let leaf = store
                .put(BlockCodec::Raw, Bytes::from(text.into_bytes()))
                .await
                .unwrap();
            let link = leaf.to_bytes();
            let mut node = vec![
                0xa1,
                0x61,
                b'v',
                0xd8,
                0x2a,
                0x58,
                (link.len() + 1) as u8,
                0x00,
            ];
            node.extend(&link);
            store.put(BlockCodec::DagCbor, node.into()).await.unwrap()
        }
    };
    let (first, second) = (
        root(format!("one {salt}")).await,
        root(format!("two {salt}")).await,
    );
    // Names with characters a query must escape.
    let (a, b) = (format!("a {salt}&x=1"), format!("b+{salt}?é"));

    assert_eq!(store.named_root(&a).await.unwrap(), None);
    assert_eq!(store.name_root(&a, &first, true).await.unwrap(), None);
    assert_eq!(store.named_root(&a).await.unwrap(), Some(first));
    assert_eq!(
        store.pin_status(&first).await.unwrap(),
        Some(PinKind::Recursive)
    );
    store.name_root(&b, &first, true).await.unwrap();
    let all = store.named_roots().await.unwrap();
    assert!(
        all.contains(&(a.clone(), first)) && all.contains(&(b.clone(), first)),
        "{all:?}"
    );
    assert!(all.windows(2).all(|w| w[0].0 <= w[1].0), "sorted: {all:?}");

    // Moving `a` pins the new root; the old one stays while `b` names it.
    assert_eq!(
        store.name_root(&a, &second, true).await.unwrap(),
        Some(first)
    );
    assert_eq!(
        store.pin_status(&second).await.unwrap(),
        Some(PinKind::Recursive)
    );
    assert!(
        !store.release_root(&first).await.unwrap(),
        "b still names it"
    );
    assert_eq!(
        store.pin_status(&first).await.unwrap(),
        Some(PinKind::Recursive)
    );
    store.name_root(&b, &second, true).await.unwrap();
    assert!(store.release_root(&first).await.unwrap());
    assert_eq!(store.pin_status(&first).await.unwrap(), None);
    assert!(
        !store.release_root(&first).await.unwrap(),
        "unpinned already"
    );

    // Without pinning, a name only records the root.
    let third = root(format!("three {salt}")).await;
    store.name_root(&a, &third, false).await.unwrap();
    assert_eq!(store.named_root(&a).await.unwrap(), Some(third));
    assert_eq!(store.pin_status(&third).await.unwrap(), None);

    for bad in ["", "..", "x/y"] {
        let error = store.name_root(bad, &first, true).await.unwrap_err();
        assert!(error.to_string().contains("cannot name a root"), "{error}");
    }
    store.pin_rm(&second).await.unwrap();
}

/// Put/get throughput with 1 and 32 requests in flight (run with --ignored --nocapture).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark"]
async fn throughput() {
    let Some(d) = daemon() else { return };
    for concurrency in [1, 32] {
        for size in [200usize, 64 * 1024] {
            let store = fast(KuboStore::builder().rpc_url(&d.api).gateway(&d.gateway))
                .concurrency(concurrency)
                .build()
                .unwrap();
            let count = if size < 1024 { 2000 } else { 300 };
            // A fresh salt per case: no case may find its blocks already stored.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let salt = format!("{now}-{}-{concurrency}-{size}", std::process::id());
            let blocks: Vec<Block> = (0..count)
                .map(|i| {
                    Block::new(
                        BlockCodec::Raw,
                        HashAlgorithm::Blake3,
                        format!("{salt}-{i}-{}", "x".repeat(size)).into(),
                    )
                })
                .collect();
            let start = Instant::now();
            store.put_many(blocks.clone()).await.unwrap();
            let put = start.elapsed();
            let start = Instant::now();
            futures::future::try_join_all(blocks.iter().map(|b| {
                let store = store.clone();
                async move { store.get(b.cid()).await }
            }))
            .await
            .unwrap();
            let get = start.elapsed();
            let rate = |t: Duration| count as f64 / t.as_secs_f64();
            println!(
                "concurrency {concurrency:>2}, {count} blocks of ~{size} B: put {:>7.0}/s ({:.2}s), get {:>7.0}/s ({:.2}s)",
                rate(put),
                put.as_secs_f64(),
                rate(get),
                get.as_secs_f64()
            );
        }
    }
}

/// A HAMT written to the daemon comes back whole in one CAR from its
/// gateway: exactly the blocks a memory store holds for the same map.
#[tokio::test(flavor = "multi_thread")]
async fn a_hamt_comes_back_in_one_car() {
    let Some(d) = daemon() else { return };
    let store = direct(&d, HashAlgorithm::Blake3);
    let memory = Arc::new(hamt_store::MemoryStore::new());
    let config = hamt::HamtConfig::default().with_max_bucket_size(2);
    let mut on_daemon = hamt::Hamt::new(store.clone(), config.clone());
    let mut in_memory = hamt::Hamt::new(memory.clone(), config);
    let salt = format!("{:?}", Instant::now());
    for i in 0..400u32 {
        let key = format!("car/{salt}/{i}");
        on_daemon.insert(&key, vec![i as u8; 20]).await.unwrap();
        in_memory.insert(&key, vec![i as u8; 20]).await.unwrap();
    }
    let root = on_daemon.flush().await.unwrap();
    assert_eq!(in_memory.flush().await.unwrap(), root);

    let blocks = store
        .fetch_dag(&root, hamt_store::DagScope::All, 64 << 20)
        .await
        .unwrap()
        .expect("the gateway serves CARs");
    assert_eq!(blocks.len(), memory.len(), "every block, once");
    for block in &blocks {
        assert_eq!(&memory.get(block.cid()).await.unwrap(), block.data());
    }
}

/// Refs in MFS move only by compare-and-swap: writers racing on one branch
/// (each retrying from what it read) all land, each exactly once; a swap
/// from a stale commit changes nothing and says what the ref names; a
/// lock left by a dead writer is reported, naming it.
#[tokio::test(flavor = "multi_thread")]
async fn refs_swap_under_a_lock_in_mfs() {
    let Some(d) = daemon() else { return };
    let store = direct(&d, HashAlgorithm::Blake3);
    let salt = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let branch = format!("heads/race-{salt}");
    let mut cids = Vec::new();
    for i in 0..24 {
        let data = Bytes::from(format!("{salt} {i}").into_bytes());
        cids.push(store.put(BlockCodec::Raw, data).await.unwrap());
    }
    assert_eq!(store.read_ref(&branch).await.unwrap(), None);
    // 4 writers x 6 swaps, each from the ref as it read it.
    let mut writers = Vec::new();
    for writer in 0..4 {
        let (store, branch) = (store.clone(), branch.clone());
        let mine: Vec<_> = cids[writer * 6..writer * 6 + 6].to_vec();
        writers.push(tokio::spawn(async move {
            let mut lost = 0;
            for cid in mine {
                loop {
                    let seen = store.read_ref(&branch).await.unwrap();
                    match store
                        .swap_ref(&branch, seen.as_ref(), Some(&cid), false)
                        .await
                        .unwrap()
                    {
                        Ok(()) => break,
                        Err(_) => lost += 1,
                    }
                }
            }
            lost
        }));
    }
    let mut lost = 0;
    for writer in writers {
        lost += writer.await.unwrap();
    }
    let head = store.read_ref(&branch).await.unwrap().unwrap();
    assert!(cids.contains(&head));
    let stale = cids.iter().find(|c| **c != head).unwrap();
    assert_eq!(
        store
            .swap_ref(&branch, Some(stale), Some(&cids[0]), false)
            .await
            .unwrap(),
        Err(Some(head))
    );
    let tag = format!("tags/v1-{salt}");
    assert_eq!(
        store.swap_ref(&tag, None, Some(&head), true).await.unwrap(),
        Ok(())
    );
    assert_eq!(
        store
            .swap_ref(&tag, None, Some(&cids[1]), true)
            .await
            .unwrap(),
        Err(Some(head))
    );
    assert_eq!(
        store.pin_status(&head).await.unwrap(),
        Some(PinKind::Recursive)
    );
    let refs = store.list_refs().await.unwrap();
    assert!(refs.contains(&(branch.clone(), head)) && refs.contains(&(tag.clone(), head)));
    assert_eq!(
        store
            .swap_ref(&tag, Some(&head), None, false)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(store.read_ref(&tag).await.unwrap(), None);
    println!("{lost} swaps lost a race and retried");
}

/// A writer that died holding a ref's lock: the next swap waits, then fails
/// naming the lock to remove, and the ref is unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn a_dead_writers_ref_lock_is_reported() {
    let Some(d) = daemon() else { return };
    let store = direct(&d, HashAlgorithm::Blake3);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let branch = format!("heads/locked-{}-{nanos}", std::process::id());
    let data = Bytes::from(format!("{branch} data").into_bytes());
    let head = store.put(BlockCodec::Raw, data).await.unwrap();
    let other = store
        .put(BlockCodec::Raw, Bytes::from_static(b"other"))
        .await
        .unwrap();
    store
        .swap_ref(&branch, None, Some(&head), false)
        .await
        .unwrap()
        .unwrap();
    let lock = format!(
        "{}/.locks/{}",
        hamt_kubo::REFS_DIR,
        branch.replace('/', ":")
    );
    let client = reqwest::Client::new();
    let mkdir = format!("{}/api/v0/files/mkdir?arg={lock}&parents=true", d.api);
    assert!(
        client
            .post(&mkdir)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let started = Instant::now();
    let error = store
        .swap_ref(&branch, Some(&head), Some(&other), false)
        .await
        .unwrap_err();
    assert!(started.elapsed() >= hamt_kubo::LOCK_WAIT);
    assert!(error.to_string().contains(&lock), "{error}");
    assert_eq!(store.read_ref(&branch).await.unwrap(), Some(head));
}
