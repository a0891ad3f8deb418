//! `hamt car export ROOT FILE` and `hamt car import FILE`.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

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
    let partial = hamt_car::partial_path(file);
    let result = match write_car(backend, out, cid, &partial).await {
        Ok((written, counts)) => hamt_car::publish(written, &partial, file)
            .context(|| {
                format!(
                    "sync {} to disk and rename it to {}",
                    partial.display(),
                    file.display()
                )
            })
            .map(|()| counts),
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

/// Writes the CAR to `path`; returns the writer still to publish, and the
/// blocks and bytes written.
async fn write_car(
    backend: &Backend,
    out: Output,
    root: Cid,
    path: &Path,
) -> Result<(BufWriter<File>, (u64, u64))> {
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
    Ok((buffered, (blocks, bytes)))
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
