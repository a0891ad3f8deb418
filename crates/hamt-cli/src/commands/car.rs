//! `hamt car export ROOT FILE` and `hamt car import FILE`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};

use hamt::Cid;
use hamt_store::Block;
use serde_json::json;

use crate::backend::Backend;
use crate::error::{CliError, Context, Result, fail};
use crate::output::{Output, mib};
use crate::walk::DatasetWalk;
use hamt_car::{CarReader, CarWriter};

/// Blocks written to the store together during an import.
const IMPORT_BATCH_BYTES: usize = 16 << 20;

/// Writes ROOT and every block it reaches. The CAR is written under a
/// temporary name, synced to disk and renamed at the end (then the
/// directory is synced), so neither a failed export nor a crash leaves a
/// CAR under FILE that looks complete and is not.
pub(crate) async fn export(backend: &Backend, out: Output, root: &str, file: &Path) -> Result<()> {
    let cid = backend.resolve_root(root).await?;
    let partial = partial_path(file);
    let result = match write_car(backend, out, cid, &partial).await {
        Ok(counts) => publish(&partial, file).map(|()| counts),
        Err(e) => Err(e),
    };
    let (blocks, bytes) = match result {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    out.print(
        || format!("wrote {blocks} blocks ({:.1} MiB) of {cid} to {}", mib(bytes), file.display()),
        || json!({"root": cid.to_string(), "blocks": blocks, "bytes": bytes, "file": file.display().to_string()}),
    );
    Ok(())
}

fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

async fn write_car(backend: &Backend, out: Output, root: Cid, path: &Path) -> Result<(u64, u64)> {
    let file = File::create(path).context(|| format!("create {}", path.display()))?;
    let mut car = CarWriter::new(BufWriter::new(file), &[root])
        .context(|| format!("write {}", path.display()))?;
    let source = backend.for_whole_dag(root, out).await;
    let mut walk = DatasetWalk::open(source.as_ref(), root).await;
    let (mut blocks, mut bytes) = (0u64, 0u64);
    while let Some(batch) = walk.next_batch().await {
        for block in batch {
            let data = block.data.map_err(|problem| {
                CliError::new(format!(
                    "block {} ({}) is {} in {}: cannot export a complete CAR (run `hamt verify`)",
                    block.cid,
                    block.path,
                    problem.label(),
                    backend.label
                ))
            })?;
            car.write_block(&block.cid, &data)
                .context(|| format!("write {}", path.display()))?;
            blocks += 1;
            bytes += data.len() as u64;
        }
    }
    let buffered = car
        .finish()
        .context(|| format!("write {}", path.display()))?;
    sync_file(buffered).context(|| format!("write {} to disk", path.display()))?;
    Ok((blocks, bytes))
}

/// Flushes `out` and syncs its file's data to disk (`fsync`): it must be
/// there before the rename that publishes it, or a crash soon after may
/// leave the final name on an empty or partial file (the rename can reach
/// the disk before the data does).
fn sync_file(out: BufWriter<File>) -> io::Result<()> {
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()
}

/// Renames the complete and synced `partial` to `file`, replacing any file
/// there, then syncs the directory: the rename is durable only once the
/// directory's new entry is on disk.
fn publish(partial: &Path, file: &Path) -> Result<()> {
    std::fs::rename(partial, file)
        .context(|| format!("rename {} to {}", partial.display(), file.display()))?;
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    sync_dir(dir).context(|| format!("sync the directory {} to disk", dir.display()))
}

/// Syncs a directory's entries to disk (`fsync` of the directory).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Elsewhere a directory cannot be opened to sync it; NTFS journals renames.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Reads FILE, verifies every block against its CID, stores them, checks
/// that each root's DAG is complete, then (with `--name`) names the root.
pub(crate) async fn import(
    backend: &Backend,
    out: Output,
    file: &Path,
    name: Option<&str>,
) -> Result<()> {
    let input = File::open(file).context(|| format!("open {}", file.display()))?;
    let (mut reader, roots) =
        CarReader::open(BufReader::new(input)).context(|| format!("read {}", file.display()))?;
    if name.is_some() && roots.len() != 1 {
        fail!(
            "--name needs a CAR with exactly one root; {} has {}",
            file.display(),
            roots.len()
        );
    }
    backend.check_name(name)?;
    let (blocks, bytes) = store_blocks(backend, &mut reader, file).await?;
    for root in &roots {
        check_complete(backend, *root, file).await?;
    }
    // Every root is committed (on Kubo: pinned); a name needs exactly one.
    for root in &roots {
        backend.commit_root(out, root, name).await?;
    }
    let root_names: Vec<String> = roots.iter().map(ToString::to_string).collect();
    out.print(
        || root_names.join("\n"),
        || json!({"roots": root_names, "name": name, "blocks": blocks, "bytes": bytes}),
    );
    out.note(|| {
        format!(
            "imported {blocks} verified blocks ({:.1} MiB) from {}",
            mib(bytes),
            file.display()
        )
    });
    Ok(())
}

async fn store_blocks(
    backend: &Backend,
    reader: &mut CarReader<BufReader<File>>,
    file: &Path,
) -> Result<(u64, u64)> {
    let (mut pending, mut pending_bytes) = (Vec::new(), 0usize);
    let (mut blocks, mut bytes) = (0u64, 0u64);
    while let Some((cid, data)) = reader
        .next_block()
        .context(|| format!("read {}", file.display()))?
    {
        let section = reader.sections();
        let block = Block::verified(cid, data).map_err(|e| {
            CliError::new(format!(
                "{}: block {section} ({cid}) fails verification ({e}); the CAR is corrupt, nothing was named"
            , file.display()))
        })?;
        blocks += 1;
        bytes += block.data().len() as u64;
        pending_bytes += block.data().len();
        pending.push(block);
        if pending_bytes >= IMPORT_BATCH_BYTES {
            put(backend, std::mem::take(&mut pending)).await?;
            pending_bytes = 0;
        }
    }
    put(backend, pending).await?;
    Ok((blocks, bytes))
}

async fn put(backend: &Backend, blocks: Vec<Block>) -> Result<()> {
    backend
        .blocks
        .put_many(blocks)
        .await
        .context(|| format!("write blocks to {}", backend.label))
}

/// A CAR cut at a section boundary still parses; what is missing shows as
/// blocks its root reaches but the store does not hold.
async fn check_complete(backend: &Backend, root: Cid, file: &Path) -> Result<()> {
    let mut walk = DatasetWalk::open(backend.blocks.as_ref(), root).await;
    while let Some(batch) = walk.next_batch().await {
        if let Some(bad) = batch.into_iter().find(|b| b.data.is_err()) {
            let problem = bad.data.err().map_or("bad", |p| p.label());
            fail!(
                "{}: incomplete CAR: block {} ({}) reachable from root {root} is {problem} (a truncated CAR?); nothing was named",
                file.display(),
                bad.cid,
                bad.path
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    /// The file is synced and renamed into place whole, replacing what was
    /// there, and no temporary file is left. (That the data and the
    /// directory reach the disk before and after the rename cannot be
    /// observed from here without a crash; `sync_file` and `publish` are
    /// the two `fsync`s.)
    #[test]
    fn a_synced_file_is_published_whole_and_the_partial_is_gone() {
        let tmp = tempfile::TempDir::new().unwrap();
        let file = tmp.path().join("out.car");
        std::fs::write(&file, b"an older export").unwrap();
        let partial = partial_path(&file);
        let data: Vec<u8> = (0..200_000u32).map(|i| i.to_le_bytes()[0]).collect();
        let mut out = BufWriter::new(File::create(&partial).unwrap());
        out.write_all(&data).unwrap();
        sync_file(out).unwrap();
        publish(&partial, &file).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), data);
        assert!(!partial.exists());
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the CAR is left");

        // A rename into a missing directory fails, naming both paths.
        let error = publish(&partial, &tmp.path().join("no-dir/x.car"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("out.car.partial") && error.contains("x.car"),
            "{error}"
        );
    }
}
