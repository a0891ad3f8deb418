//! Replays py-hamt's golden vectors (see `common/vectors.rs`) in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::vectors::{own_vectors_dir, replay, shared_vectors_dir, vector_files};
use hamt_store::MemoryStore;

#[tokio::test]
async fn shared_pyhamt_vectors_replay_exactly() {
    for path in vector_files(&shared_vectors_dir()) {
        replay(&path, Arc::new(MemoryStore::new())).await;
    }
}

#[tokio::test]
async fn own_pyhamt_vectors_replay_exactly() {
    for path in vector_files(&own_vectors_dir()) {
        replay(&path, Arc::new(MemoryStore::new())).await;
    }
}
