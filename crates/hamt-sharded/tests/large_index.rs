//! Index blocks over 1 MiB: py-hamt's `KuboCAS` stores any block over its
//! chunker's 1 MiB as a UnixFS file, so a manifest of a large grid or a
//! shard of many chunks becomes a dag-pb DAG whose blocks link only the
//! file's parts. The map must read them back, and a walk of the dataset
//! (CAR export) must learn from it what those files link inside their
//! bytes ([`ShardedMap::links_inside_files`]), or the export is incomplete.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use hamt_codec::BlockCodec;
use hamt_sharded::{ShardedConfig, ShardedMap};
use hamt_store::{BlockStore, Cid, MemoryStore};

fn array_metadata(chunks: u64) -> Bytes {
    format!(
        r#"{{"zarr_format":3,"node_type":"array","shape":[{chunks}],"data_type":"uint8",
"chunk_grid":{{"name":"regular","configuration":{{"chunk_shape":[1]}}}},
"chunk_key_encoding":{{"name":"default","configuration":{{"separator":"/"}}}},
"fill_value":0,"codecs":[{{"name":"bytes","configuration":{{}}}}]}}"#
    )
    .into()
}

/// Copies `root`'s DAG to a fresh store through a CAR, walking also `also`.
async fn through_car(blocks: &MemoryStore, root: Cid, also: &[Cid]) -> MemoryStore {
    let (car, _) = hamt_car::dag::export_dag(blocks, root, also, Vec::new())
        .await
        .unwrap();
    let copy = MemoryStore::new();
    hamt_car::dag::import_car(&copy, &car[..]).await.unwrap();
    copy
}

#[tokio::test]
async fn a_manifest_over_one_mebibyte_is_a_file_and_reads_back() {
    // 1.2M chunks, one per shard: 1.2M nulls in the manifest's shard list.
    let blocks = Arc::new(MemoryStore::new());
    let mut map = ShardedMap::new(Arc::clone(&blocks), 1).unwrap();
    map.set("big/zarr.json", array_metadata(1_200_000))
        .await
        .unwrap();
    for i in [0u64, 654_321, 1_199_999] {
        map.set(&format!("big/c/{i}"), Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    let root = map.flush().await.unwrap();
    assert_eq!(root.codec(), BlockCodec::DagPb.code(), "a UnixFS file");
    let len = hamt_unixfs::file_size(&*blocks, &root).await.unwrap();
    assert!(len > 1 << 20, "{len}");

    let reopened = ShardedMap::open(Arc::clone(&blocks), root, ShardedConfig::default())
        .await
        .unwrap();
    let link = reopened.get_link("big/c/654321").await.unwrap().unwrap();
    let value = reopened
        .read_value(&link, hamt::ByteRange::Full)
        .await
        .unwrap();
    assert_eq!(&value[..], b"654321");

    // What the manifest's file links inside its bytes: the metadata and
    // the three shards; a walk of the file's blocks alone misses them.
    let inside: HashSet<Cid> = reopened
        .links_inside_files()
        .await
        .unwrap()
        .into_iter()
        .collect();
    let metadata: HashSet<Cid> = reopened.metadata().values().copied().collect();
    assert!(metadata.is_subset(&inside));
    assert_eq!(inside.len(), metadata.len() + 3);

    let partial = through_car(&blocks, root, &[]).await;
    let opened = ShardedMap::open(Arc::new(partial), root, ShardedConfig::default())
        .await
        .unwrap();
    let missing = opened.get_link("big/c/654321").await;
    assert!(missing.is_err(), "its shard was not exported: {missing:?}");

    let inside: Vec<Cid> = inside.into_iter().collect();
    let copy = through_car(&blocks, root, &inside).await;
    hamt_car::dag::check_complete(&copy, root, &inside)
        .await
        .unwrap();
    let opened = ShardedMap::open(Arc::new(copy), root, ShardedConfig::default())
        .await
        .unwrap();
    // The array's metadata, the root group written for it, three chunks.
    let keys = opened.keys().await.unwrap();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(keys.contains(&"zarr.json".to_owned()));
    assert_eq!(opened.get_link("big/c/654321").await.unwrap(), Some(link));
}

#[tokio::test]
async fn a_shard_over_one_mebibyte_is_a_file_and_reads_back() {
    // 30,000 links of ~37 bytes in one shard: about 1.1 MB.
    const CHUNKS: u64 = 30_000;
    let blocks = Arc::new(MemoryStore::new());
    let mut map = ShardedMap::new(Arc::clone(&blocks), CHUNKS).unwrap();
    map.set("wide/zarr.json", array_metadata(CHUNKS))
        .await
        .unwrap();
    let mut links = Vec::new();
    for i in 0..CHUNKS {
        let cid = blocks
            .put(BlockCodec::Raw, Bytes::from(i.to_le_bytes().to_vec()))
            .await
            .unwrap();
        map.set_pointer(&format!("wide/c/{i}"), cid).await.unwrap();
        links.push(cid);
    }
    let root = map.flush().await.unwrap();
    assert_eq!(
        root.codec(),
        BlockCodec::DagCbor.code(),
        "the manifest is small"
    );
    let (_, index) = &map.arrays()[0];
    let shard = index.shard_cids()[0].unwrap();
    assert_eq!(
        shard.codec(),
        BlockCodec::DagPb.code(),
        "the shard is a file"
    );

    let reopened = ShardedMap::open(Arc::clone(&blocks), root, ShardedConfig::default())
        .await
        .unwrap();
    assert_eq!(
        reopened.get_link("wide/c/29999").await.unwrap(),
        Some(links[29_999])
    );
    let in_shard = reopened.shard_links("wide", 0).await.unwrap();
    assert_eq!(in_shard.len() as u64, CHUNKS);
    assert_eq!(in_shard[17], ("wide/c/17".to_owned(), links[17]));
    assert!(
        reopened.shard_links("wide", 1).await.unwrap().is_empty(),
        "never written"
    );
    assert!(reopened.shard_links("nope", 0).await.is_err());

    let inside = reopened.links_inside_files().await.unwrap();
    assert_eq!(
        inside, links,
        "the chunks, in order; the manifest is no file"
    );
    let copy = through_car(&blocks, root, &inside).await;
    for cid in [links[0], links[12_345], shard] {
        assert!(copy.has(&cid).await.unwrap(), "{cid}");
    }
}
