//! [`Dataset`], the handle under every zarr store of the project, driven
//! directly: the same operations on both layouts (the HAMT and py-hamt's
//! sharded layout, each also through [`AnyLayout`]), with values verbatim
//! and encrypted, must give the same answers, and the access modes (opened
//! read-only, frozen, a read-only view) must refuse exactly the writes they
//! promise to.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)]

use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use hamt::{ByteRange as HamtRange, Hamt, HamtConfig};
use hamt_store::MemoryStore;
use hamt_zarr::{
    AnyLayout, Dataset, EncryptedValues, Layout, LayoutKind, ReadOnlyReason, ShardedConfig,
    ShardedMap, ValueCodec, ZarrHamtError, layout_of,
};
use zarrs_storage::byte_range::ByteRange;

type Blocks = Arc<MemoryStore>;

const GROUP: &str = r#"{"zarr_format":3,"node_type":"group","attributes":{}}"#;

/// A 4×4 array of 2×2 chunks: four chunks, `temp/c/{0,1}/{0,1}`.
const ARRAY: &str = r#"{"zarr_format":3,"node_type":"array","shape":[4,4],
"data_type":"uint8","chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2,2]}},
"chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},
"fill_value":0,"codecs":[{"name":"bytes","configuration":{}}]}"#;

fn chunk(i: u8) -> Bytes {
    Bytes::from(vec![i; 4 + usize::from(i)])
}

/// The layouts every case runs on, each new on its own memory store.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Hamt,
    Sharded,
}

fn new_hamt(blocks: &Blocks) -> Hamt<Blocks> {
    Hamt::new(Arc::clone(blocks), HamtConfig::default())
}

fn new_sharded(blocks: &Blocks) -> ShardedMap<Blocks> {
    // Three chunks per shard: the four chunks span a full and a partial shard.
    ShardedMap::new(Arc::clone(blocks), 3).unwrap()
}

/// Writes a small dataset through `dataset` and checks every read against
/// what was written; returns the root.
async fn write_and_read<L: Layout, V: ValueCodec>(dataset: &Dataset<L, V>) -> hamt::Cid {
    assert!(dataset.is_empty().await.unwrap());
    assert_eq!(dataset.read_only_reason(), None);
    // The array before the root group: py-hamt's sharded store refuses a
    // top-level array written right after the root group.
    dataset.set("temp/zarr.json", ARRAY.into()).await.unwrap();
    dataset.set("zarr.json", GROUP.into()).await.unwrap();
    dataset.set("temp/c/0/0", chunk(1)).await.unwrap();
    dataset
        .set_many(vec![
            ("temp/c/0/1".to_owned(), chunk(2)),
            ("temp/c/1/0".to_owned(), chunk(3)),
            ("temp/c/0/1".to_owned(), chunk(4)),
        ])
        .await
        .unwrap();
    assert!(dataset.try_is_dirty());
    assert_eq!(dataset.try_root_cid(), None);
    assert_eq!(dataset.root_cid().await, None);

    // Whole values, metadata twice (the second from the cache).
    for _ in 0..2 {
        let got = dataset.get("temp/zarr.json").await.unwrap().unwrap();
        assert_eq!(got, Bytes::from(ARRAY));
        assert!(dataset.contains("temp/zarr.json").await.unwrap());
    }
    assert_eq!(dataset.get("temp/c/0/1").await.unwrap(), Some(chunk(4)));
    assert_eq!(dataset.get("temp/c/1/1").await.unwrap(), None);
    assert!(!dataset.contains("temp/c/1/1").await.unwrap());
    assert_eq!(dataset.len().await.unwrap(), 5);

    // Ranges, clamped (py-hamt's semantics) and exact (zarrs').
    let value = chunk(3); // 7 bytes
    let ranges = [
        (HamtRange::Full, &value[..]),
        (HamtRange::From(5), &value[5..]),
        (
            HamtRange::Slice {
                offset: 2,
                length: 3,
            },
            &value[2..5],
        ),
        (
            HamtRange::Slice {
                offset: 5,
                length: 99,
            },
            &value[5..],
        ),
        (HamtRange::Suffix(2), &value[5..]),
    ];
    for (range, want) in ranges {
        let got = dataset.get_range("temp/c/1/0", range).await.unwrap();
        assert_eq!(got.as_deref(), Some(want), "{range:?}");
    }
    let meta = dataset
        .get_range(
            "temp/zarr.json",
            HamtRange::Slice {
                offset: 1,
                length: 4,
            },
        )
        .await
        .unwrap();
    assert_eq!(meta.as_deref(), Some(&ARRAY.as_bytes()[1..5]));
    assert_eq!(
        dataset.get_range("nope", HamtRange::From(1)).await.unwrap(),
        None
    );

    let many = dataset
        .get_many(vec![
            ("temp/c/0/0".to_owned(), HamtRange::Full),
            ("temp/c/1/1".to_owned(), HamtRange::Full),
            ("temp/c/1/0".to_owned(), HamtRange::Suffix(1)),
            (
                "zarr.json".to_owned(),
                HamtRange::Slice {
                    offset: 0,
                    length: 1,
                },
            ),
            ("nope".to_owned(), HamtRange::Full),
        ])
        .await
        .unwrap();
    assert_eq!(
        many,
        [
            Some(chunk(1)),
            None,
            Some(value.slice(6..)),
            Some(Bytes::from_static(b"{")),
            None
        ]
    );

    let exact = dataset
        .get_exact(
            "temp/c/1/0",
            &[ByteRange::FromStart(1, Some(2)), ByteRange::Suffix(3)],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exact, [value.slice(1..3), value.slice(4..)]);
    let whole = dataset
        .get_exact("temp/c/1/0", &[ByteRange::FromStart(0, None)])
        .await
        .unwrap();
    assert_eq!(whole, Some(vec![value.clone()]));
    let past_end = dataset
        .get_exact("temp/c/1/0", &[ByteRange::FromStart(5, Some(10))])
        .await;
    assert!(
        matches!(past_end, Err(ZarrHamtError::ByteRange(_))),
        "{past_end:?}"
    );
    let meta_past_end = dataset
        .get_exact("zarr.json", &[ByteRange::FromStart(0, Some(10_000))])
        .await;
    assert!(matches!(meta_past_end, Err(ZarrHamtError::ByteRange(_))));
    assert_eq!(
        dataset
            .get_exact("nope", &[ByteRange::Suffix(1)])
            .await
            .unwrap(),
        None
    );

    // Sizes and listings.
    assert_eq!(dataset.size("temp/c/1/0").await.unwrap(), Some(7));
    assert_eq!(dataset.size("temp/c/1/1").await.unwrap(), None);
    let keys = [
        "temp/c/0/0".to_owned(),
        "temp/c/1/1".to_owned(),
        "temp/c/1/0".to_owned(),
    ];
    assert_eq!(dataset.total_size(&keys).await.unwrap(), 5 + 7);
    assert_eq!(
        dataset.keys_with_prefix("temp/c/").await.unwrap(),
        ["temp/c/0/0", "temp/c/0/1", "temp/c/1/0"]
    );
    let root = dataset.list_dir("").await.unwrap();
    assert_eq!(root.keys, ["zarr.json"]);
    assert_eq!(root.prefixes, ["temp/"]);
    assert_eq!(
        dataset.list_dir("temp").await.unwrap().names(),
        ["c", "zarr.json"]
    );
    let chunks_only = dataset
        .list_dir_where("temp/c/0/", &|key| key.ends_with('1'))
        .await
        .unwrap();
    assert_eq!(chunks_only.keys, ["temp/c/0/1"]);
    assert_eq!(
        dataset.size_prefix("temp/c/").await.unwrap(),
        5 + 8 + 7,
        "chunks 1, 4 and 3"
    );

    // Partial writes: over an existing value, and a new one zero-filled.
    dataset
        .set_partial(
            "temp/c/0/0",
            vec![
                (1, Bytes::from_static(&[9, 9])),
                (7, Bytes::from_static(&[8])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        dataset.get("temp/c/0/0").await.unwrap().as_deref(),
        Some(&[1, 9, 9, 1, 1, 0, 0, 8][..])
    );
    dataset
        .set_partial("temp/c/1/1", vec![(2, Bytes::from_static(&[5]))])
        .await
        .unwrap();
    assert_eq!(
        dataset.get("temp/c/1/1").await.unwrap().as_deref(),
        Some(&[0, 0, 5][..])
    );

    let root = dataset.flush().await.unwrap();
    assert_eq!(dataset.try_root_cid(), Some(root));
    assert_eq!(dataset.root_cid().await, Some(root));
    assert!(!dataset.try_is_dirty());
    root
}

/// The answers a dataset gives, to compare one layout or codec with another.
async fn snapshot<L: Layout, V: ValueCodec>(dataset: &Dataset<L, V>) -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    for key in dataset.keys_with_prefix("").await.unwrap() {
        let value = dataset.get(&key).await.unwrap().unwrap();
        out.push((key, value));
    }
    out
}

/// Deletes, a prefix delete, an update and a clear, on a dataset holding
/// what [`write_and_read`] wrote.
async fn remove_and_clear<L: Layout, V: ValueCodec>(dataset: &Dataset<L, V>) {
    // Cache the metadata, then delete it: the cache must not answer after.
    assert!(dataset.get("temp/zarr.json").await.unwrap().is_some());
    assert!(dataset.delete("temp/c/1/1").await.unwrap());
    assert!(!dataset.delete("temp/c/1/1").await.unwrap());
    let removed = dataset.delete_prefix("temp/").await.unwrap();
    assert!(removed >= 1, "{removed}");
    assert_eq!(dataset.get("temp/zarr.json").await.unwrap(), None);
    assert!(!dataset.contains("temp/zarr.json").await.unwrap());
    assert_eq!(dataset.keys_with_prefix("").await.unwrap(), ["zarr.json"]);

    let len = dataset
        .update(|layout| async move { layout.len().await }.boxed())
        .await
        .unwrap();
    assert_eq!(len, 1);
    dataset.clear().await.unwrap();
    assert!(dataset.is_empty().await.unwrap());
    assert_eq!(dataset.get("zarr.json").await.unwrap(), None);
}

async fn run_on<L: Layout + StoreForTest>(kind: Kind, new: impl Fn(&Blocks) -> L) {
    // Verbatim values.
    let blocks = Arc::new(MemoryStore::new());
    let plain = Dataset::writable(new(&blocks));
    let root = write_and_read(&plain).await;
    let plain_answers = snapshot(&plain).await;
    let want = match kind {
        Kind::Hamt => LayoutKind::Hamt,
        Kind::Sharded => LayoutKind::Sharded,
    };
    assert_eq!(layout_of(&*blocks, &root).await.unwrap(), want);

    // Reopened through `AnyLayout`, read-only: the same answers; every write refused.
    let any = AnyLayout::open(
        Arc::clone(&blocks),
        root,
        HamtConfig::default(),
        ShardedConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(any.kind(), want);
    let opened = Dataset::read_only(Arc::new(any));
    assert_eq!(opened.read_only_reason(), Some(ReadOnlyReason::Opened));
    assert!(opened.is_opened_read_only());
    assert_eq!(snapshot(&opened).await, plain_answers);
    assert_eq!(opened.flush().await.unwrap(), root);
    assert_eq!(opened.flush_and_freeze().await.unwrap(), root);
    assert_eq!(opened.try_root_cid(), Some(root));
    assert!(!opened.try_is_dirty());
    assert!(matches!(
        opened.set("k", Bytes::new()).await,
        Err(ZarrHamtError::ReadOnly)
    ));
    assert!(matches!(
        opened.delete("zarr.json").await,
        Err(ZarrHamtError::ReadOnly)
    ));
    opened.unfreeze();
    assert!(opened.is_read_only(), "opened read-only stays read-only");

    // Frozen, then a read-only view, on the writable dataset.
    let frozen_root = plain.flush_and_freeze().await.unwrap();
    assert_eq!(frozen_root, root);
    assert_eq!(plain.read_only_reason(), Some(ReadOnlyReason::Frozen));
    assert!(matches!(
        plain.set_many(vec![("k".into(), Bytes::new())]).await,
        Err(ZarrHamtError::ReadOnly)
    ));
    assert!(matches!(
        plain.set_partial("k", Vec::new()).await,
        Err(ZarrHamtError::ReadOnly)
    ));
    assert!(matches!(plain.clear().await, Err(ZarrHamtError::ReadOnly)));
    plain.unfreeze();
    let view = plain.with_read_only(true);
    assert!(view.same_data(&plain));
    assert!(view.is_read_only_view() && !plain.is_read_only_view());
    assert_eq!(view.read_only_reason(), Some(ReadOnlyReason::View));
    assert!(matches!(
        view.delete_prefix("").await,
        Err(ZarrHamtError::ReadOnly)
    ));
    assert!(matches!(
        view.update(|_| async { Ok(()) }.boxed()).await,
        Err(ZarrHamtError::ReadOnly)
    ));
    assert_eq!(view.with_read_only(false).read_only_reason(), None);
    assert!(format!("{plain:?}").contains("Dataset"));

    // Encrypted values on a fresh layout: the same answers, other blocks.
    // (py-hamt encrypts HAMT datasets only: a sharded manifest must read
    // its arrays' geometry from their metadata.)
    if matches!(kind, Kind::Hamt) {
        encrypted(&new, &plain_answers, root).await;
    }
    remove_and_clear(&plain).await;
    // An empty dataset flushes to a root that opens again, empty.
    let empty = plain.flush().await.unwrap();
    let reopened = AnyLayout::open(
        Arc::clone(plain.reader().await.store_for_test()),
        empty,
        HamtConfig::default(),
        ShardedConfig::default(),
    )
    .await
    .unwrap();
    assert!(
        Dataset::read_only(Arc::new(reopened))
            .is_empty()
            .await
            .unwrap()
    );
}

async fn encrypted<L: Layout>(
    new: &impl Fn(&Blocks) -> L,
    plain_answers: &[(String, Bytes)],
    plain_root: hamt::Cid,
) {
    let blocks = Arc::new(MemoryStore::new());
    let sealed = Dataset::writable(new(&blocks)).with_codec(EncryptedValues::new([7; 32], "t"));
    let sealed_root = write_and_read(&sealed).await;
    assert_ne!(sealed_root, plain_root);
    assert_eq!(snapshot(&sealed).await, plain_answers);
    // Seen without the key, the values are the sealed bytes.
    let raw = sealed.with_shared_codec(Arc::new(hamt_zarr::PlainValues));
    let stored = raw.get("temp/c/1/0").await.unwrap().unwrap();
    assert_eq!(stored.len(), 7 + hamt_zarr::ENCRYPTION_OVERHEAD);
    assert_eq!(sealed.size("temp/c/1/0").await.unwrap(), Some(7));
    // With another key, a value does not decrypt.
    let wrong = sealed.with_codec(EncryptedValues::new([8; 32], "t"));
    assert!(wrong.get("temp/c/1/0").await.is_err());

    remove_and_clear(&sealed).await;
}

/// The block store under a layout, to reopen a root it wrote.
trait StoreForTest {
    fn store_for_test(&self) -> &Blocks;
}

impl StoreForTest for Hamt<Blocks> {
    fn store_for_test(&self) -> &Blocks {
        self.store()
    }
}

impl StoreForTest for ShardedMap<Blocks> {
    fn store_for_test(&self) -> &Blocks {
        self.store()
    }
}

impl StoreForTest for AnyLayout<Blocks> {
    fn store_for_test(&self) -> &Blocks {
        self.store()
    }
}

#[tokio::test]
async fn hamt_dataset() {
    run_on(Kind::Hamt, new_hamt).await;
}

#[tokio::test]
async fn sharded_dataset() {
    run_on(Kind::Sharded, new_sharded).await;
}

#[tokio::test]
async fn any_layout_datasets() {
    run_on(Kind::Hamt, |blocks| AnyLayout::Hamt(new_hamt(blocks))).await;
    run_on(Kind::Sharded, |blocks| {
        AnyLayout::Sharded(new_sharded(blocks))
    })
    .await;
}

/// Both layouts answer alike: what zarr sees does not depend on the layout.
#[tokio::test]
async fn layouts_agree() {
    let hamt = Dataset::writable(new_hamt(&Arc::new(MemoryStore::new())));
    let sharded = Dataset::writable(new_sharded(&Arc::new(MemoryStore::new())));
    write_and_read(&hamt).await;
    write_and_read(&sharded).await;
    assert_eq!(snapshot(&hamt).await, snapshot(&sharded).await);
    assert_eq!(
        hamt.list_dir("temp/c").await.unwrap(),
        sharded.list_dir("temp/c").await.unwrap()
    );
}

/// A batch read's error names the key it happened at.
#[tokio::test]
async fn batch_errors_name_their_key() {
    let dataset = Dataset::writable(new_hamt(&Arc::new(MemoryStore::new())))
        .with_codec(EncryptedValues::new([1; 32], "h"));
    dataset.set("a/c/0", chunk(1)).await.unwrap();
    let wrong = dataset.with_codec(EncryptedValues::new([2; 32], "h"));
    let error = wrong
        .get_many(vec![("a/c/0".to_owned(), HamtRange::Full)])
        .await
        .unwrap_err();
    assert_eq!(error.key, "a/c/0");
    assert!(error.to_string().starts_with("\"a/c/0\""), "{error}");
}

/// Counts whole-block reads of raw blocks (values) and size queries.
#[derive(Clone)]
struct CountingValues {
    inner: Blocks,
    value_reads: Arc<std::sync::atomic::AtomicUsize>,
    node_reads: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl hamt::BlockStore for CountingValues {
    async fn get(&self, cid: &hamt::Cid) -> Result<Bytes, hamt_store::StoreError> {
        let counter = if cid.codec() == hamt_store::BlockCodec::Raw.code() {
            &self.value_reads
        } else {
            &self.node_reads
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.get(cid).await
    }
    async fn has(&self, cid: &hamt::Cid) -> Result<bool, hamt_store::StoreError> {
        self.inner.has(cid).await
    }
    async fn put_block(&self, block: hamt_store::Block) -> Result<(), hamt_store::StoreError> {
        self.inner.put_block(block).await
    }
    fn hash_algorithm(&self) -> hamt_store::HashAlgorithm {
        self.inner.hash_algorithm()
    }
    async fn block_size(&self, cid: &hamt::Cid) -> Result<u64, hamt_store::StoreError> {
        self.inner.block_size(cid).await
    }
}

/// Sizes (one key, a batch, a prefix) read no value; a batch read finds
/// every key's link reading each node once.
#[tokio::test]
async fn sizes_read_no_values_and_batches_read_nodes_once() {
    let store = CountingValues {
        inner: Arc::new(MemoryStore::new()),
        value_reads: Arc::default(),
        node_reads: Arc::default(),
    };
    let config = HamtConfig::default().with_max_bucket_size(1);
    let mut map = Hamt::new(store.clone(), config.clone());
    let keys: Vec<String> = (0..300).map(|i| format!("t/c/{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        map.insert(key, vec![1; i % 7 + 1]).await.unwrap();
    }
    let root = map.flush().await.unwrap();
    let total: u64 = (0..300u64).map(|i| i % 7 + 1).sum();

    let open = |config| Hamt::open(store.clone(), root, config);
    let dataset = Dataset::read_only(Arc::new(open(config.clone()).await.unwrap()));
    assert_eq!(dataset.size("t/c/3").await.unwrap(), Some(4));
    assert_eq!(dataset.total_size(&keys).await.unwrap(), total);
    assert_eq!(dataset.size_prefix("t/c/").await.unwrap(), total);
    let values = |s: &CountingValues| s.value_reads.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(values(&store), 0, "a size read a value");

    // A fresh handle (cold cache but for the root, read by `open`): the
    // batch reads every other node once.
    let nodes_before = store.node_reads.load(std::sync::atomic::Ordering::Relaxed);
    let dataset = Dataset::read_only(Arc::new(open(config).await.unwrap()));
    let requests = keys.iter().map(|k| (k.clone(), HamtRange::Full)).collect();
    let got = dataset.get_many(requests).await.unwrap();
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, v)| v.as_ref().map(Bytes::len) == Some(i % 7 + 1))
    );
    let node_reads = store.node_reads.load(std::sync::atomic::Ordering::Relaxed) - nodes_before;
    let stats = dataset.reader().await.stats().await.unwrap();
    assert_eq!(node_reads as u64, stats.nodes, "every node once");
    assert_eq!(values(&store), 300);
}
