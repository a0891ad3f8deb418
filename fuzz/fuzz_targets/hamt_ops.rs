//! An arbitrary sequence of insert / remove / get / len / flush / reopen on a
//! `Hamt` over `MemoryStore` (bucket size 1..=4), checked against a `BTreeMap`:
//! every read and every returned old link agrees with the model, and after
//! each flush and reopen the whole map (len, keys, values) does. A flush also
//! checks history independence: a HAMT built fresh from the model's entries
//! flushes to the same root CID.
//!
//! Keys come from a small alphabet, and the key hasher can be narrowed to a
//! few values per hash byte, so buckets overflow into children and fold back
//! at every depth.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use arbitrary::Arbitrary;
use futures::TryStreamExt;
use futures::executor::block_on;
use hamt::{Blake3KeyHasher, Cid, Hamt, HamtConfig, KeyHasher};
use hamt_codec::{BlockCodec, HashAlgorithm, KeyHash, block_cid};
use hamt_store::MemoryStore;
use libfuzzer_sys::fuzz_target;

/// blake3, with each hash byte reduced to `0..width`: many keys share a
/// path, so the tree grows deep with few keys.
#[derive(Debug)]
struct NarrowHasher {
    width: u8,
}

impl KeyHasher for NarrowHasher {
    fn hash(&self, key: &[u8]) -> KeyHash {
        let mut hash = Blake3KeyHasher.hash(key);
        for byte in &mut hash {
            *byte %= self.width;
        }
        hash
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    Insert { key: u8, value: u8, len: u8 },
    Remove { key: u8 },
    Get { key: u8 },
    Contains { key: u8 },
    Len,
    Flush,
    Reopen { no_cache: bool },
}

#[derive(Debug, Arbitrary)]
struct Input {
    bucket: u8,
    /// 0: plain blake3; otherwise hash bytes narrowed to `2 + narrow % 3` values
    /// (no two keys of the alphabet then share a whole hash).
    narrow: u8,
    ops: Vec<Op>,
}

const ALPHABET: [&str; 4] = ["a", "/", "é", "0"];

/// Key `n`: the empty key, or one to three characters over a four-letter alphabet.
fn key(n: u8) -> String {
    let n = usize::from(n % 85);
    if n == 0 {
        return String::new();
    }
    let (len, mut rest) = match n - 1 {
        i @ 0..4 => (1, i),
        i @ 4..20 => (2, i - 4),
        i => (3, i - 20),
    };
    let mut key = String::new();
    for _ in 0..len {
        key.push_str(ALPHABET[rest % 4]);
        rest /= 4;
    }
    key
}

fn value(byte: u8, len: u8) -> Vec<u8> {
    vec![byte; usize::from(len % 40)]
}

fn link(value: &[u8]) -> Cid {
    block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, value)
}

fn config(input: &Input, no_cache: bool) -> HamtConfig {
    let mut config = HamtConfig::default().with_max_bucket_size(usize::from(input.bucket % 4) + 1);
    if input.narrow != 0 {
        let width = 2 + input.narrow % 3;
        config = config.with_key_hasher(Arc::new(NarrowHasher { width }));
    }
    if no_cache {
        config = config.with_cache_bytes(0);
    }
    config
}

/// The whole map equals the model: length, key set, every value.
async fn check_all(map: &Hamt<Arc<MemoryStore>>, model: &BTreeMap<String, Vec<u8>>) {
    assert_eq!(map.len().await.expect("len"), model.len() as u64);
    let mut keys: Vec<String> = map.keys().try_collect().await.expect("keys");
    keys.sort();
    let want: Vec<&String> = model.keys().collect();
    assert_eq!(keys.iter().collect::<Vec<_>>(), want, "key sets differ");
    for (k, v) in model {
        let got = map.get(k).await.expect("get");
        assert_eq!(got.as_deref(), Some(&v[..]), "value of {k:?}");
    }
}

fuzz_target!(|input: Input| {
    if input.ops.len() > 300 {
        return;
    }
    block_on(async {
        let store = Arc::new(MemoryStore::new());
        let mut map = Hamt::new(store.clone(), config(&input, false));
        let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for op in &input.ops {
            match *op {
                Op::Insert {
                    key: k,
                    value: v,
                    len,
                } => {
                    let (k, v) = (key(k), value(v, len));
                    let old = map.insert(&k, v.clone()).await.expect("insert");
                    let want = model.insert(k, v);
                    assert_eq!(old, want.as_deref().map(link), "old link from insert");
                }
                Op::Remove { key: k } => {
                    let k = key(k);
                    let old = map.remove(&k).await.expect("remove");
                    let want = model.remove(&k);
                    assert_eq!(old, want.as_deref().map(link), "link from remove of {k:?}");
                }
                Op::Get { key: k } => {
                    let k = key(k);
                    let got = map.get(&k).await.expect("get");
                    assert_eq!(
                        got.as_deref(),
                        model.get(&k).map(Vec::as_slice),
                        "get {k:?}"
                    );
                }
                Op::Contains { key: k } => {
                    let k = key(k);
                    assert_eq!(
                        map.contains_key(&k).await.expect("contains"),
                        model.contains_key(&k)
                    );
                    assert_eq!(
                        map.get_link(&k).await.expect("link"),
                        model.get(&k).map(|v| link(v))
                    );
                }
                Op::Len => assert_eq!(map.len().await.expect("len"), model.len() as u64),
                Op::Flush => {
                    let root = map.flush().await.expect("flush");
                    assert_eq!(map.root_cid(), Some(root));
                    assert!(!map.is_dirty());
                    assert_eq!(map.flush().await.expect("second flush"), root);
                    check_all(&map, &model).await;
                    // Same entries, built in key order from nothing: same root.
                    let mut fresh = Hamt::new(Arc::new(MemoryStore::new()), config(&input, false));
                    for (k, v) in &model {
                        fresh.insert(k, v.clone()).await.expect("fresh insert");
                    }
                    assert_eq!(
                        fresh.flush().await.expect("fresh flush"),
                        root,
                        "shape depends on history"
                    );
                }
                Op::Reopen { no_cache } => {
                    let root = map.flush().await.expect("flush");
                    map = Hamt::open(store.clone(), root, config(&input, no_cache))
                        .await
                        .expect("open");
                    check_all(&map, &model).await;
                }
            }
        }
        let root = map.flush().await.expect("final flush");
        let reopened = Hamt::open(store.clone(), root, config(&input, true))
            .await
            .expect("open");
        check_all(&reopened, &model).await;
    });
});
