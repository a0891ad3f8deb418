//! A write that runs out of space is a clear error, not a crash or a hang.
//!
//! A full disk cannot be made here without privileges, so the child runs
//! under a 16 MiB file size limit (`ulimit -f`, with SIGXFSZ ignored): the
//! kernel then fails RocksDB's writes past the limit with EFBIG, as it fails
//! them with ENOSPC on a full disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{Block, BlockCodec, BlockStore, Bytes, HashAlgorithm};

const CHILD_DIR_VAR: &str = "HAMT_FULL_DISK_CHILD_DIR";

#[tokio::test]
async fn full_disk_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let result = async {
        let store = RocksDbStore::open(&dir, &RocksDbOptions::default())?;
        for batch in 0..64u64 {
            let blocks = (0..16u64)
                .map(|i| {
                    // Distinct blocks (equal ones would be stored once).
                    let mut data = vec![0x5a_u8; 64 * 1024];
                    data[..8].copy_from_slice(&(batch * 16 + i).to_le_bytes());
                    Block::new(BlockCodec::Raw, HashAlgorithm::Blake3, Bytes::from(data))
                })
                .collect();
            // No sync per batch: the files RocksDB writes at its own flushes
            // (blob files of ~10 MiB) must pass the size limit too.
            store.put_many(blocks).await?;
        }
        store.sync()?;
        Ok::<_, hamt_store::StoreError>(())
    }
    .await;
    match result {
        Ok(()) => println!("NO ERROR"),
        Err(e) => println!("ERROR: {e}"),
    }
}

#[test]
fn running_out_of_space_is_a_clear_error() {
    if std::env::var(CHILD_DIR_VAR).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("bash")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 4096; exec "$0" full_disk_child --exact --nocapture --test-threads=1"#)
        .arg(&exe)
        .env(CHILD_DIR_VAR, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.code().is_some(),
        "the writer died of a signal: {output:?}"
    );
    // libtest may print "test full_disk_child ... " before the child's own line.
    let error = stdout
        .lines()
        .find_map(|line| line.find("ERROR: ").map(|at| &line[at..]))
        .unwrap_or_else(|| panic!("no error: {stdout}"));
    println!("{error}");
    assert!(error.contains(&dir.path().display().to_string()), "{error}");
    assert!(
        error.contains("File too large") || error.contains("No space left"),
        "{error}"
    );
}
