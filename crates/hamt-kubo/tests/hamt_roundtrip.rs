//! A HAMT written through the daemon has the same root as one written in
//! memory, reads back from a fresh handle, and survives a flaky network.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Faults, Overrides, Proxy, daemon};
use hamt::{ByteRange, Hamt, HamtConfig};
use hamt_kubo::KuboStore;
use hamt_store::{BlockStore, MemoryStore};

fn value(i: u32) -> Vec<u8> {
    if i == 7 {
        // Over 1 MiB: a UnixFS file, as py-hamt's KuboCAS stores it.
        (0..3_000_000u32).map(|j| (j % 251) as u8).collect()
    } else {
        format!("chunk {i}")
            .repeat(usize::try_from(i % 13).unwrap() + 1)
            .into_bytes()
    }
}

async fn build<S: BlockStore>(store: S) -> Hamt<S> {
    let mut map = Hamt::new(store, HamtConfig::default());
    for i in 0..400u32 {
        map.insert(&format!("t2m/c/{i}/0/0"), value(i))
            .await
            .unwrap();
    }
    for i in (0..400u32).step_by(9) {
        map.remove(&format!("t2m/c/{i}/0/0")).await.unwrap();
    }
    map
}

async fn check_reads<S: BlockStore>(map: &Hamt<S>) {
    assert_eq!(map.len().await.unwrap(), 355);
    for i in (1..400u32).filter(|i| i % 9 != 0) {
        let got = map.get(&format!("t2m/c/{i}/0/0")).await.unwrap().unwrap();
        assert!(got == value(i), "value {i} differs");
    }
    let part = map
        .get_range(
            "t2m/c/7/0/0",
            ByteRange::Slice {
                offset: 2_000_000,
                length: 10,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&part[..], &value(7)[2_000_000..2_000_010]);
}

/// Every block the daemon itself holds under `root`, from its own
/// `dag/export` (not from anything this client computed), each verified.
async fn daemon_export(api: &str, root: &hamt_store::Cid) -> Vec<(hamt_store::Cid, bytes::Bytes)> {
    // Our own client: reqwest needs a rustls provider installed first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let car = reqwest::Client::new()
        .post(format!("{api}/api/v0/dag/export?arg={root}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (mut reader, roots) = hamt_car::CarReader::open(&car[..]).unwrap();
    assert_eq!(
        roots,
        [*root],
        "the daemon exports the root it was asked for"
    );
    let mut blocks = Vec::new();
    while let Some((cid, data)) = reader.next_block().unwrap() {
        hamt_codec::verify_block(&cid, &data).unwrap();
        blocks.push((cid, data));
    }
    blocks
}

#[tokio::test(flavor = "multi_thread")]
async fn hamt_through_the_daemon_matches_memory() {
    let Some(d) = daemon() else { return };
    let memory = Arc::new(MemoryStore::new());
    let expected = build(memory.clone()).await.flush().await.unwrap();

    let store = KuboStore::builder()
        .rpc_url(&d.api)
        .gateway(&d.gateway)
        .build()
        .unwrap();
    let root = build(store).await.flush().await.unwrap();
    assert_eq!(
        root, expected,
        "root through Kubo differs from the in-memory root"
    );
    // The client computed that root itself: check the daemon holds exactly
    // the memory store's blocks under it, byte for byte, by its own export.
    let exported = daemon_export(&d.api, &root).await;
    for (cid, data) in &exported {
        assert_eq!(&memory.get(cid).await.unwrap(), data, "block {cid}");
    }
    let mut walk = hamt_store::dag::DagWalk::new(&*memory, hamt_store::dag::BlockLinks::default());
    walk.add_root(root, ());
    while walk.next_batch().await.is_some() {}
    assert_eq!(
        exported.len(),
        walk.seen().len(),
        "every reachable block, once"
    );

    let reader_store = KuboStore::builder().gateway(&d.gateway).build().unwrap();
    let reader = Hamt::open(Arc::new(reader_store), root, HamtConfig::default())
        .await
        .unwrap();
    check_reads(&reader).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hamt_import_survives_a_flaky_network() {
    let Some(d) = daemon() else { return };
    let faults = Faults {
        drop: 60,
        error_5xx: 60,
        too_many: 40,
        delay: 60,
        stall: 0,
        corrupt: 120,
        lost_answer: 40,
    };
    let api = Proxy::start(&d.api, faults, Overrides::default()).await;
    let gw = Proxy::start(&d.gateway, faults, Overrides::default()).await;
    let flaky = || {
        KuboStore::builder()
            .rpc_url(&api.url)
            .gateway(&gw.url)
            .retries(12)
            .retry_delay(Duration::from_millis(5))
            .build()
            .unwrap()
    };
    let expected = build(MemoryStore::new()).await.flush().await.unwrap();
    let root = build(flaky()).await.flush().await.unwrap();
    assert_eq!(root, expected);
    let reader = Hamt::open(flaky(), root, HamtConfig::default())
        .await
        .unwrap();
    check_reads(&reader).await;
    // The faults did fire: writes and reads went through them.
    let fired = |stats: &common::Stats| {
        [
            &stats.dropped,
            &stats.errors,
            &stats.too_many,
            &stats.corrupted,
        ]
        .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    };
    let (api_faults, gw_faults) = (fired(&api.stats), fired(&gw.stats));
    // Puts the daemon applied whose answers were lost: retried, harmlessly.
    let lost = api
        .stats
        .answers_lost
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(lost > 0, "api: {:?}", api.stats);
    assert!(
        api_faults[..3].iter().all(|&n| n > 0),
        "api: {:?}",
        api.stats
    );
    assert!(gw_faults.iter().all(|&n| n > 0), "gateway: {:?}", gw.stats);
}
