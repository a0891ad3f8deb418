//! The HAMT's own checks, run on a real RocksDB store: py-hamt's golden
//! vectors replay byte for byte, and the model check against a `BTreeMap`
//! holds. The checks live with the HAMT (`crates/hamt/tests/common`), which
//! runs them in memory; here they run over this backend, so the HAMT crate's
//! own tests stay pure Rust.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../hamt/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::model::{arb_hasher, arb_op, check_against_model, runtime};
use common::vectors::{own_vectors_dir, replay, shared_vectors_dir, vector_files};
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use proptest::prelude::*;

#[tokio::test]
async fn every_vector_replays_exactly_on_rocksdb() {
    let files = vector_files(&shared_vectors_dir())
        .into_iter()
        .chain(vector_files(&own_vectors_dir()));
    for path in files {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksDbStore::open(dir.path(), &RocksDbOptions::default()).unwrap();
        replay(&path, Arc::new(store)).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The model check on a real RocksDB store (fewer cases: each opens a database).
    #[test]
    fn behaves_like_a_btreemap_on_rocksdb(
        bucket in 1usize..4,
        hasher in arb_hasher(),
        ops in prop::collection::vec(arb_op(32), 1..60),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksDbStore::open(dir.path(), &RocksDbOptions::default()).unwrap();
        runtime().block_on(check_against_model(Arc::new(store), bucket, hasher, ops));
    }
}
