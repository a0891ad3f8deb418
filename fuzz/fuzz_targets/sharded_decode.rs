//! The sharded layout's decoders on arbitrary bytes (the first byte is the
//! entry count a shard must have, the rest the block):
//!
//! - shard blocks: `link_list::decode`, `offsets`/`entry_at` and `entry`
//!   agree (all accept the same inputs and read the same entries, refusing
//!   with the same error otherwise), and what they accept re-encodes to the
//!   input (shards are canonical: one spelling per list);
//! - manifests: the block as the root of a `ShardedMap` opens or fails with
//!   a typed error; an opened one answers reads of its metadata and of a
//!   chunk of each array, lists its keys, and (v2) flushes to a root that
//!   opens to the same arrays and metadata. Never a panic, and work bounded
//!   by the input (a shard read is of a block the store lacks: an error).
#![no_main]

use bytes::Bytes;
use futures::executor::block_on;
use hamt_codec::{BlockCodec, HashAlgorithm, link_list};
use hamt_sharded::{ManifestVersion, ShardedConfig, ShardedMap, format_chunk_key};
use hamt_store::{Block, BlockStore, MemoryStore};
use libfuzzer_sys::fuzz_target;

fn check_shard(bytes: &[u8], expected: u64) {
    let decoded = link_list::decode(bytes, expected);
    let offsets = link_list::offsets(bytes, expected);
    match (&decoded, &offsets) {
        (Ok(entries), Ok(offsets)) => {
            assert_eq!(entries.len() as u64, expected);
            assert_eq!(offsets.len(), entries.len());
            for (i, entry) in entries.iter().enumerate() {
                let at = link_list::entry_at(bytes, offsets[i]).expect("a located entry decodes");
                assert_eq!(&at, entry, "entry_at {i}");
                let alone = link_list::entry(bytes, expected, i as u64).expect("entry decodes");
                assert_eq!(&alone, entry, "entry {i}");
            }
            assert_eq!(link_list::encode(entries), bytes, "shards are canonical");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "decode and offsets refuse alike"),
        _ => panic!("decode {decoded:?} and offsets {offsets:?} disagree"),
    }
}

fn check_manifest(bytes: Bytes) {
    block_on(async {
        let store = MemoryStore::new();
        let block = Block::new(BlockCodec::DagCbor, HashAlgorithm::Blake3, bytes);
        let root = *block.cid();
        store.put_block(block).await.expect("put");
        let config = ShardedConfig {
            cache_bytes: 1 << 20,
            dirty_shard_bytes: 1 << 20,
            ..ShardedConfig::default()
        };
        let Ok(mut map) = ShardedMap::open(&store, root, config.clone()).await else {
            return;
        };
        let keys: Vec<String> = map.metadata().keys().cloned().collect();
        for key in &keys {
            // No block needed; but a key that is also a malformed chunk key,
            // or redirected into a store's one group, reads as py-hamt reads it.
            let _ = map.get_link(key).await;
        }
        for (path, index) in map.arrays() {
            if index.total_chunks() == 0 {
                continue;
            }
            let key = format_chunk_key(&path, &index.coords_of(index.total_chunks() - 1));
            // The shard is absent from the store (or null): an error or nothing.
            let _ = map.get_link(&key).await;
        }
        let _ = map.keys().await;
        if map.version() == ManifestVersion::V2 && map.arrays().iter().all(|(_, i)| {
            i.shard_cids().iter().all(Option::is_none)
        }) {
            // Every shard null: nothing to read, so it must rewrite and reopen.
            // (It may need a metadata block the store lacks: then no check.)
            if map.set("fuzz/extra.json", Bytes::from_static(b"{}")).await.is_err() {
                return;
            }
            let again = map.flush().await.expect("flush");
            let reopened = ShardedMap::open(&store, again, config)
                .await
                .expect("a flushed root opens");
            let paths = |m: &ShardedMap<&MemoryStore>| {
                m.arrays().into_iter().map(|(p, i)| (p, i.shape().to_vec())).collect::<Vec<_>>()
            };
            assert_eq!(paths(&reopened), paths(&map));
            assert_eq!(reopened.metadata(), map.metadata());
        }
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    check_shard(rest, u64::from(count));
    check_manifest(Bytes::copy_from_slice(rest));
});
