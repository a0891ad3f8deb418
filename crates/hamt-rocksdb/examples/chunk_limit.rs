//! The machine's limit for an import of large chunks, to compare
//! `import_rocksdb N CHUNK_BYTES` with: the same chunks generated, hashed
//! (blake3, as their CIDs) and written once, sequentially, to one file in
//! DIR (default: the temporary directory, the disk the import uses), with
//! an `fsync` at the end. Prints MB/s.
//!
//! ```text
//! cargo run --release -p hamt-rocksdb --example chunk_limit -- [N=4096] [CHUNK_BYTES=1048576] [DIR]
//! ```
#![allow(clippy::print_stdout, clippy::cast_precision_loss)]

use std::error::Error;
use std::io::Write;
use std::time::Instant;

use hamt_bench_data::incompressible;
use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.first().map_or(Ok(4096), |s| s.parse())?;
    let chunk: usize = args.get(1).map_or(Ok(1 << 20), |s| s.parse())?;
    let dir = args.get(2).map_or_else(std::env::temp_dir, Into::into);
    let mut file = tempfile::tempfile_in(dir)?;
    let start = Instant::now();
    let mut last = None;
    for i in 0..n {
        let data = incompressible(i, chunk);
        last = Some(block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &data));
        file.write_all(&data)?;
    }
    file.sync_all()?;
    let secs = start.elapsed().as_secs_f64();
    let bytes = n as f64 * chunk as f64;
    println!(
        "limit      {n} chunks of {chunk} bytes ({:.1} MB) generated, hashed, written and synced in {secs:.2} s: {:.1} MB/s (last CID {})",
        bytes / 1e6,
        bytes / 1e6 / secs,
        last.map(|c| c.to_string()).unwrap_or_default()
    );
    Ok(())
}
