//! The conformance suite every [`BlockStore`] runs against itself.
//!
//! Enable the `conformance` feature in a backend's dev-dependencies and call
//! [`check_all`] from a test with a fresh, empty store. The checks panic with
//! a message naming the broken rule, as test assertions do.
// Every function here is an assertion: failing it panics, like a test.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc
)]

use bytes::Bytes;
use hamt_codec::{BlockCodec, Cid, HashAlgorithm, block_cid};

use crate::{Block, BlockStore, ByteRange, StoreError};

/// Runs every check. `plant_corrupt(cid, bytes)` must store `bytes` under
/// `cid` bypassing verification (a raw handle on the backend), so the suite
/// can check that reads reject a corrupt block.
pub async fn check_all<S: BlockStore>(store: &S, plant_corrupt: impl Fn(Cid, Bytes)) {
    put_then_get(store).await;
    put_is_idempotent(store).await;
    missing_block_is_not_found(store).await;
    byte_ranges_are_clamped_slices(store).await;
    put_many_stores_every_block(store).await;
    empty_and_large_blocks(store).await;
    corrupt_block_is_rejected(store, plant_corrupt).await;
    blocking_calls_match_async_ones(store).await;
    sizes_are_block_lengths(store).await;
    has_many_answers_as_has(store).await;
}

/// `has_many` answers each CID as `has` does, in order, duplicates and
/// missing blocks included.
pub async fn has_many_answers_as_has<S: BlockStore>(store: &S) {
    let held: Vec<Block> = (0..300)
        .map(|i| {
            Block::new(
                BlockCodec::Raw,
                store.hash_algorithm(),
                Bytes::from(format!("has_many {i}")),
            )
        })
        .collect();
    store.put_many(held.clone()).await.unwrap();
    let mut cids = Vec::new();
    for (i, block) in held.iter().enumerate() {
        cids.push(*block.cid());
        if i % 3 == 0 {
            let missing = format!("has_many missing {i}");
            cids.push(block_cid(
                BlockCodec::Raw,
                store.hash_algorithm(),
                missing.as_bytes(),
            ));
        }
        if i % 7 == 0 {
            cids.push(*held[i / 2].cid());
        }
    }
    let answers = store.has_many(&cids).await.unwrap();
    assert_eq!(answers.len(), cids.len(), "has_many gave a wrong count");
    for (cid, answer) in cids.iter().zip(answers) {
        assert_eq!(
            answer,
            store.has(cid).await.unwrap(),
            "has_many and has differ on {cid}"
        );
    }
    assert!(store.has_many(&[]).await.unwrap().is_empty());
}

/// `block_size` is the block's length (and through the direct path too);
/// a missing block is `NotFound`.
pub async fn sizes_are_block_lengths<S: BlockStore>(store: &S) {
    for len in [0usize, 1, 1000, 70_000] {
        let data = Bytes::from(vec![0x5a; len]);
        let cid = store.put(BlockCodec::Raw, data).await.unwrap();
        assert_eq!(store.block_size(&cid).await.unwrap(), len as u64);
        assert_eq!(crate::block_size(store, &cid).await.unwrap(), len as u64);
    }
    let missing = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"never put, sized");
    assert!(matches!(
        store.block_size(&missing).await,
        Err(StoreError::NotFound(cid)) if cid == missing
    ));
    assert!(matches!(
        crate::block_size(store, &missing).await,
        Err(StoreError::NotFound(_))
    ));
}

/// `put` returns the CID of the bytes; `get` and `has` find them.
pub async fn put_then_get<S: BlockStore>(store: &S) {
    for codec in [BlockCodec::Raw, BlockCodec::DagCbor] {
        let data = Bytes::from(format!("conformance put_then_get {codec:?}"));
        let cid = store.put(codec, data.clone()).await.unwrap();
        assert_eq!(
            cid,
            block_cid(codec, store.hash_algorithm(), &data),
            "put returned a wrong CID"
        );
        assert_eq!(cid.codec(), codec.code());
        assert!(
            store.has(&cid).await.unwrap(),
            "has() is false right after put"
        );
        assert_eq!(
            store.get(&cid).await.unwrap(),
            data,
            "get() returned other bytes"
        );
    }
}

/// Putting a block twice is fine and changes nothing.
pub async fn put_is_idempotent<S: BlockStore>(store: &S) {
    let block = Block::new(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        Bytes::from_static(b"twice"),
    );
    store.put_block(block.clone()).await.unwrap();
    store.put_block(block.clone()).await.unwrap();
    assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
}

/// A block never stored is `NotFound`, naming the CID.
pub async fn missing_block_is_not_found<S: BlockStore>(store: &S) {
    let cid = block_cid(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        b"conformance: never stored",
    );
    assert!(!store.has(&cid).await.unwrap());
    match store.get(&cid).await {
        Err(StoreError::NotFound(missing)) => assert_eq!(missing, cid),
        other => panic!("get of a missing block gave {other:?}, not NotFound"),
    }
    assert!(matches!(
        store.get_range(&cid, ByteRange::From(1)).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Byte ranges select the same bytes as slicing, clamped to the block.
pub async fn byte_ranges_are_clamped_slices<S: BlockStore>(store: &S) {
    let data: Bytes = (0u8..100).collect::<Vec<_>>().into();
    let cid = store.put(BlockCodec::Raw, data.clone()).await.unwrap();
    let cases = [
        (ByteRange::Full, 0..100),
        (ByteRange::From(10), 10..100),
        (ByteRange::From(100), 100..100),
        (ByteRange::From(1000), 100..100),
        (
            ByteRange::Slice {
                offset: 5,
                length: 10,
            },
            5..15,
        ),
        (
            ByteRange::Slice {
                offset: 95,
                length: 10,
            },
            95..100,
        ),
        (
            ByteRange::Slice {
                offset: 200,
                length: 10,
            },
            100..100,
        ),
        (
            ByteRange::Slice {
                offset: 3,
                length: 0,
            },
            3..3,
        ),
        (
            ByteRange::Slice {
                offset: 1,
                length: u64::MAX,
            },
            1..100,
        ),
        (ByteRange::Suffix(7), 93..100),
        (ByteRange::Suffix(0), 100..100),
        (ByteRange::Suffix(500), 0..100),
    ];
    for (range, expected) in cases {
        let got = store.get_range(&cid, range).await.unwrap();
        assert_eq!(got, data.slice(expected), "range {range:?}");
    }
}

/// `put_many` stores every block it is given.
pub async fn put_many_stores_every_block<S: BlockStore>(store: &S) {
    let blocks: Vec<Block> = (0..50)
        .map(|i| {
            Block::new(
                BlockCodec::DagCbor,
                HashAlgorithm::Blake3,
                Bytes::from(format!("many {i}")),
            )
        })
        .collect();
    store.put_many(blocks.clone()).await.unwrap();
    store.put_many(blocks[..10].to_vec()).await.unwrap();
    store.put_many(Vec::new()).await.unwrap();
    for block in &blocks {
        assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
    }
}

/// Empty blocks and 1 MiB blocks round-trip.
pub async fn empty_and_large_blocks<S: BlockStore>(store: &S) {
    for data in [Bytes::new(), Bytes::from(vec![0xab; 1 << 20])] {
        let cid = store.put(BlockCodec::Raw, data.clone()).await.unwrap();
        assert_eq!(store.get(&cid).await.unwrap(), data);
    }
}

/// A block whose stored bytes do not match its CID is `Corrupt`, never data.
pub async fn corrupt_block_is_rejected<S: BlockStore>(
    store: &S,
    plant_corrupt: impl Fn(Cid, Bytes),
) {
    let cid = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"the real bytes");
    plant_corrupt(cid, Bytes::from_static(b"the fake bytes"));
    match store.get(&cid).await {
        Err(StoreError::Corrupt { cid: bad }) => assert_eq!(bad, cid),
        other => panic!("a corrupt block gave {other:?}, not Corrupt"),
    }
    assert!(matches!(
        store.get_range(&cid, ByteRange::Suffix(2)).await,
        Err(StoreError::Corrupt { .. })
    ));
    if let Some(direct) = store.blocking() {
        assert!(matches!(
            direct.get_blocking(&cid),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            direct.get_range_blocking(&cid, ByteRange::Full),
            Err(StoreError::Corrupt { .. })
        ));
    }
}

/// A store that answers directly ([`BlockStore::blocking`]) answers as its
/// async calls do: what one path writes the other reads, ranges clamp
/// alike, a missing block is `NotFound` on both.
pub async fn blocking_calls_match_async_ones<S: BlockStore>(store: &S) {
    let Some(direct) = store.blocking() else {
        return;
    };
    let blocks: Vec<Block> = (0..20)
        .map(|i| {
            Block::new(
                BlockCodec::Raw,
                store.hash_algorithm(),
                Bytes::from(format!("conformance blocking {i}")),
            )
        })
        .collect();
    for _ in 0..2 {
        let mut first = blocks[..10].to_vec();
        direct.put_many_blocking(&mut first).unwrap();
        assert!(
            first.is_empty(),
            "put_many_blocking left stored blocks behind"
        );
    }
    direct.put_many_blocking(&mut Vec::new()).unwrap();
    store.put_many(blocks[10..].to_vec()).await.unwrap();
    for block in &blocks {
        assert!(store.has(block.cid()).await.unwrap());
        assert_eq!(&store.get(block.cid()).await.unwrap(), block.data());
        assert_eq!(&direct.get_blocking(block.cid()).unwrap(), block.data());
        for range in [ByteRange::Suffix(3), ByteRange::From(100), ByteRange::Full] {
            assert_eq!(
                direct.get_range_blocking(block.cid(), range).unwrap(),
                store.get_range(block.cid(), range).await.unwrap(),
                "range {range:?}"
            );
        }
    }
    let missing = block_cid(
        BlockCodec::Raw,
        HashAlgorithm::Blake3,
        b"never put, blocking",
    );
    assert!(matches!(
        direct.get_blocking(&missing),
        Err(StoreError::NotFound(cid)) if cid == missing
    ));
    assert!(matches!(
        direct.get_range_blocking(&missing, ByteRange::Suffix(1)),
        Err(StoreError::NotFound(_))
    ));
}
