//! W6's Rust side (see `benches/compare_remote.sh`):
//!
//! - `remote_reads build STEPS POINTS OUT.car`: writes the W6 array
//!   ([`hamt_benches::w6`]) to a memory store and exports its DAG as a CAR
//!   (for `dag/import` into the IPFS node); prints `{"root": ...}`.
//! - `remote_reads read GATEWAY_URL ROOT COUNT IN_FLIGHT`: reads it cold
//!   through the gateway (in the benchmark, the latency proxy in front of
//!   it), as `hamt-zarr` + zarrs over a gateway-only `KuboStore` with
//!   `IN_FLIGHT` requests at once; prints one JSON line of timings and the
//!   requests each part made.

use std::io::BufWriter;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use hamt::{BlockStore, Cid};
use hamt_benches::w6;
use hamt_kubo::KuboStore;
use hamt_store::{Block, ByteRange, HashAlgorithm, MemoryStore, StoreError};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Counts the requests a reader makes (reads and size queries).
#[derive(Clone)]
struct Counted {
    inner: KuboStore,
    requests: Arc<AtomicU64>,
}

#[async_trait]
impl BlockStore for Counted {
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.get(cid).await
    }
    async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.get_range(cid, range).await
    }
    async fn block_size(&self, cid: &Cid) -> Result<u64, StoreError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.block_size(cid).await
    }
    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.inner.has(cid).await
    }
    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.inner.put_block(block).await
    }
    fn hash_algorithm(&self) -> HashAlgorithm {
        self.inner.hash_algorithm()
    }
}

async fn build(steps: u64, points: u64, out: &str) -> Result<(), Error> {
    let blocks = Arc::new(MemoryStore::new());
    let root = w6::write(blocks.clone(), steps, points).await?;
    let file = std::fs::File::create(out)?;
    let (writer, blocks_written) =
        hamt_car::dag::export_dag(&*blocks, root, &[], BufWriter::new(file)).await?;
    writer
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?
        .sync_all()?;
    println!(
        r#"{{"root": "{root}", "blocks": {}}}"#,
        blocks_written.blocks
    );
    Ok(())
}

#[allow(clippy::cast_precision_loss)] // a count of reads
async fn read(gateway: &str, root: &str, count: u64, in_flight: usize) -> Result<(), Error> {
    let root = Cid::try_from(root)?;
    let store = Counted {
        inner: KuboStore::builder()
            .gateway(gateway)
            .concurrency(in_flight)
            .build()?,
        requests: Arc::default(),
    };
    let m = w6::read(&store, root, count, in_flight).await?;
    let secs = |d: std::time::Duration| d.as_secs_f64();
    println!(
        r#"{{"open_s": {}, "one_chunk_s": {}, "random_s": {}, "random_per_s": {}, "warm_per_s": {}, "series_s": {}, "requests": {}}}"#,
        secs(m.open),
        secs(m.one_chunk),
        secs(m.random),
        count as f64 / secs(m.random),
        count as f64 / secs(m.random_warm),
        secs(m.series),
        store.requests.load(Ordering::Relaxed)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize| -> Result<u64, Error> { Ok(args.get(i).ok_or("missing argument")?.parse()?) };
    match args.first().map(String::as_str) {
        Some("build") => build(number(1)?, number(2)?, args.get(3).ok_or("missing OUT.car")?).await,
        Some("read") => {
            let gateway = args.get(1).ok_or("missing GATEWAY_URL")?;
            let root = args.get(2).ok_or("missing ROOT")?;
            read(gateway, root, number(3)?, usize::try_from(number(4)?)?).await
        }
        _ => Err("usage: remote_reads build STEPS POINTS OUT.car | read GATEWAY_URL ROOT COUNT IN_FLIGHT".into()),
    }
}
