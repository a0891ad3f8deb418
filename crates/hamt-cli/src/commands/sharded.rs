//! py-hamt's sharded layout: `hamt convert` (a HAMT dataset rewritten as a
//! sharded store by copying CIDs) and `hamt graft` (another sharded store's
//! chunks linked in at a chunk offset, as the producers of the largest
//! datasets assemble them from batches written apart).

use hamt_sharded::ManifestVersion;
use hamt_zarr::{AnyLayout, ShardedMap, convert};
use serde_json::json;

use crate::backend::Backend;
use crate::cli::Command;
use crate::error::{CliError, Context, Result, fail};
use crate::output::Output;

/// Runs `hamt convert` or `hamt graft`.
pub(crate) async fn run(backend: &Backend, out: Output, command: Command) -> Result<()> {
    match command {
        Command::Convert {
            root,
            chunks_per_shard,
            primary_array,
            name,
        } => {
            convert(
                backend,
                out,
                &root,
                chunks_per_shard,
                primary_array.as_deref(),
                name.as_deref(),
            )
            .await
        }
        Command::Graft {
            target,
            source,
            at,
            array,
            grow,
            name,
        } => {
            let args = Graft {
                target: &target,
                source: &source,
                at: &at,
                array: array.as_deref(),
                grow,
                name: name.as_deref(),
            };
            graft(backend, out, &args).await
        }
        other => fail!("not a sharded-store command: {other:?}"),
    }
}

/// `hamt convert ROOT [--chunks-per-shard N] [--primary-array PATH] [--name NAME]`:
/// a HAMT to the sharded layout, or a `sharded_zarr_v1` store to v2.
async fn convert(
    backend: &Backend,
    out: Output,
    root: &str,
    chunks_per_shard: u64,
    primary_array: Option<&str>,
    name: Option<&str>,
) -> Result<()> {
    backend.check_name(name)?;
    let cid = backend.resolve_root(root).await?;
    if let AnyLayout::Sharded(mut map) = backend.open_cid(cid).await? {
        if map.version() == ManifestVersion::V2 {
            fail!("{root} is already a sharded_zarr_v2 store; nothing to convert");
        }
        let Some(primary) = primary_array else {
            fail!(
                "{root} is a sharded_zarr_v1 store: migrating it to v2 needs --primary-array PATH, where its one index's array goes (e.g. 0/t2m)"
            );
        };
        let migrated = map
            .migrate_v1_to_v2(primary)
            .await
            .context(|| format!("migrate {root} to sharded_zarr_v2"))?;
        backend.commit_root(out, &migrated, name).await?;
        out.print(
            || migrated.to_string(),
            || json!({"root": migrated.to_string(), "from": cid.to_string(), "migrated": true, "primary_array": primary, "name": name}),
        );
        return Ok(());
    }
    let converted = convert::hamt_to_sharded(backend.blocks.clone(), cid, chunks_per_shard)
        .await
        .context(|| format!("convert {root} to the sharded layout"))?;
    let sharded = converted.root;
    backend.commit_root(out, &sharded, name).await?;
    out.print(
        || sharded.to_string(),
        || json!({"root": sharded.to_string(), "from": cid.to_string(), "chunks_per_shard": chunks_per_shard, "name": name, "dropped": converted.dropped}),
    );
    if !converted.dropped.is_empty() {
        out.note(|| {
            format!(
                "dropped {} chunk keys outside their arrays' grids, as py-hamt does (e.g. {:?})",
                converted.dropped.len(),
                converted.dropped[0]
            )
        });
    }
    Ok(())
}

/// What `hamt graft` was asked to do.
struct Graft<'a> {
    target: &'a str,
    source: &'a str,
    /// The chunk offset, e.g. `"4,0,0"`.
    at: &'a str,
    /// Only this array of the source (default: every array of the offset's rank).
    array: Option<&'a str>,
    /// Grow each target array to fit the source at the offset first.
    grow: bool,
    name: Option<&'a str>,
}

/// `hamt graft TARGET SOURCE --at I,J,... [--array PATH] [--grow] [--name NAME]`.
async fn graft(backend: &Backend, out: Output, args: &Graft<'_>) -> Result<()> {
    backend.check_name(args.name)?;
    let offset = parse_offset(args.at)?;
    let mut target = open_sharded(backend, args.target).await?;
    let source_cid = backend.resolve_root(args.source).await?;
    let source = open_sharded(backend, &source_cid.to_string()).await?;
    let arrays: Vec<(String, hamt_sharded::ArrayIndex)> = source
        .arrays()
        .into_iter()
        .filter(|(path, index)| match args.array {
            Some(only) => only.trim_matches('/') == path,
            None => index.shape().len() == offset.len(),
        })
        .collect();
    if arrays.is_empty() {
        fail!(
            "{} has no array {}to graft (see `hamt stat {}`)",
            args.source,
            args.array.map_or_else(
                || format!("of rank {} ", offset.len()),
                |a| format!("{a:?} ")
            ),
            args.source
        );
    }
    let mut grafted = Vec::new();
    for (path, index) in &arrays {
        if offset.len() != index.shape().len() {
            fail!(
                "--at {} has {} coordinates; array {path:?} has {} dimensions",
                args.at,
                offset.len(),
                index.shape().len()
            );
        }
        if args.grow {
            grow_to_fit(&mut target, path, index, &offset).await?;
        }
        target
            .graft(source_cid, &offset, Some(path), Some(path))
            .await
            .context(|| format!("graft array {path:?} of {} at [{}]", args.source, args.at))?;
        grafted.push(path.clone());
    }
    let root = target
        .flush()
        .await
        .context(|| format!("write the grafted store to {}", backend.label))?;
    backend.commit_root(out, &root, args.name).await?;
    out.print(
        || root.to_string(),
        || json!({"root": root.to_string(), "arrays": grafted, "at": offset, "name": args.name}),
    );
    out.note(|| format!("grafted {} at [{}]", grafted.join(", "), args.at));
    Ok(())
}

/// Grows the target's array `path` (its zarr.json and index) so the
/// source's array fits at `offset` (in chunks).
async fn grow_to_fit(
    target: &mut ShardedMap<std::sync::Arc<dyn hamt::BlockStore>>,
    path: &str,
    source: &hamt_sharded::ArrayIndex,
    offset: &[u64],
) -> Result<()> {
    let Some((_, index)) = target.arrays().into_iter().find(|(p, _)| p == path) else {
        fail!("the target has no array {path:?} to graft into (write its zarr.json first)");
    };
    let needed: Vec<u64> = index
        .shape()
        .iter()
        .zip(index.chunk_shape())
        .zip(offset.iter().zip(source.shape()))
        .map(|((&have, &chunk), (&at, &extent))| have.max(at * chunk + extent))
        .collect();
    if needed != index.shape() {
        target
            .resize_variable(path, &needed)
            .await
            .context(|| format!("grow array {path:?} to {needed:?}"))?;
    }
    Ok(())
}

async fn open_sharded(
    backend: &Backend,
    root: &str,
) -> Result<ShardedMap<std::sync::Arc<dyn hamt::BlockStore>>> {
    match backend.open_dataset(root).await? {
        AnyLayout::Sharded(map) => Ok(map),
        AnyLayout::Hamt(_) => Err(CliError::new(format!(
            "{root} is a HAMT, not a sharded store; convert it first with `hamt convert {root}`"
        ))),
    }
}

/// `"4,0,0"` → `[4, 0, 0]`.
fn parse_offset(text: &str) -> Result<Vec<u64>> {
    text.split(',')
        .map(|part| {
            part.trim().parse::<u64>().map_err(|_| {
                CliError::new(format!(
                    "--at {text:?}: expected chunk coordinates like 4,0,0"
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("4, 0,0").unwrap(), [4, 0, 0]);
        assert_eq!(parse_offset("7").unwrap(), [7]);
        for bad in ["", "a", "1,,2", "-1"] {
            assert!(parse_offset(bad).is_err(), "{bad}");
        }
    }
}
