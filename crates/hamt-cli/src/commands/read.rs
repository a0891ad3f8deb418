//! Read-only looks at one root, of either layout: `get`, `ls`, `stat`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;

use hamt_sharded::{ArrayIndex, ManifestVersion, SHARDED_ZARR_V1, SHARDED_ZARR_V2, ShardedMap};
use hamt_store::{BlockStore, ByteRange};
use hamt_zarr::{AnyLayout, Layout};
use serde_json::json;

use crate::backend::{Backend, DynHamt};
use crate::error::{CliError, Context, Result, fail};
use crate::output::{Output, printable, size};
use crate::walk::{BlockKind, DatasetWalk};

/// `hamt get ROOT KEY`: the value (or a range of it) on stdout, as raw bytes.
pub(crate) async fn get(
    backend: &Backend,
    root: &str,
    key: &str,
    range: Option<&str>,
    suffix: Option<u64>,
) -> Result<()> {
    let range = match (range, suffix) {
        (Some(text), _) => parse_range(text)?,
        (None, Some(n)) => ByteRange::Suffix(n),
        (None, None) => ByteRange::Full,
    };
    let dataset = backend.open_dataset(root).await?;
    let link = dataset
        .get_link(key)
        .await
        .context(|| format!("read key {key:?} of {root}"))?;
    let Some(link) = link else {
        fail!("key {key:?} not found in {root} (list keys with `hamt ls {root}`)");
    };
    let value = dataset
        .read_value(&link, range)
        .await
        .context(|| format!("read key {key:?} of {root} (value {link})"))?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&value)
        .and_then(|()| stdout.flush())
        .context(|| "write to stdout".into())
}

/// `START-END` (END exclusive) or `START-`.
fn parse_range(text: &str) -> Result<ByteRange> {
    let bad = || {
        CliError::new(format!(
            "--range {text:?}: expected START-END (END exclusive) or START-, e.g. 0-1024"
        ))
    };
    let (start, end) = text.split_once('-').ok_or_else(bad)?;
    let start: u64 = start.trim().parse().map_err(|_| bad())?;
    if end.trim().is_empty() {
        return Ok(ByteRange::From(start));
    }
    let end: u64 = end.trim().parse().map_err(|_| bad())?;
    if end < start {
        return Err(bad());
    }
    Ok(ByteRange::Slice {
        offset: start,
        length: end - start,
    })
}

/// `hamt ls ROOT [PREFIX] [--dirs]`: sorted keys, or the next level of names.
pub(crate) async fn ls(
    backend: &Backend,
    out: Output,
    root: &str,
    prefix: &str,
    dirs: bool,
) -> Result<()> {
    let dataset = backend.open_dataset(root).await?;
    let keys = dataset
        .keys_with_prefix(prefix)
        .await
        .context(|| format!("list the keys of {root}"))?;
    let mut names = BTreeSet::new();
    for key in keys {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        if !dirs {
            names.insert(key);
            continue;
        }
        // The next level below PREFIX, which should end with '/' (or be empty).
        names.insert(match rest.split_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => rest.to_owned(),
        });
    }
    out.print(
        || {
            let shown: Vec<_> = names.iter().map(|n| printable(n)).collect();
            shown.join("\n")
        },
        || json!(names),
    );
    Ok(())
}

/// Counts from walking every block.
#[derive(Default)]
struct BlockCounts {
    blocks: u64,
    /// A sharded store's manifest and shards.
    index_blocks: u64,
    index_bytes: u64,
    value_blocks: u64,
    value_bytes: u64,
    file_blocks: u64,
    file_bytes: u64,
    problems: u64,
}

/// `hamt stat ROOT`: the tree's shape (a HAMT) or the arrays' shard indexes
/// (a sharded store), then what every reachable block adds up to.
pub(crate) async fn stat(backend: &Backend, out: Output, root: &str) -> Result<()> {
    let cid = backend.resolve_root(root).await?;
    let dataset = backend.open_cid(cid).await?;
    match &dataset {
        AnyLayout::Hamt(map) => stat_hamt(backend, out, root, cid, map).await,
        AnyLayout::Sharded(map) => stat_sharded(backend, out, root, cid, map).await,
    }
}

/// " (N missing or corrupt: ...)" when the walk found bad blocks.
fn problems_note(counts: &BlockCounts, root: &str) -> String {
    if counts.problems > 0 {
        format!(
            " ({} missing or corrupt: run `hamt verify {root}`)",
            counts.problems
        )
    } else {
        String::new()
    }
}

/// One array of a sharded store, for `stat`.
struct ArrayStat {
    path: String,
    index: ArrayIndex,
    chunks_stored: u64,
}

async fn stat_sharded(
    backend: &Backend,
    out: Output,
    root: &str,
    cid: hamt::Cid,
    map: &ShardedMap<Arc<dyn BlockStore>>,
) -> Result<()> {
    let mut stored: BTreeMap<String, u64> = BTreeMap::new();
    let links = map
        .links()
        .await
        .context(|| format!("read the shards of {root}"))?;
    for (key, _) in &links {
        if let Ok(Some(chunk)) = map.chunk_key_of(key) {
            *stored.entry(chunk.array_path).or_default() += 1;
        }
    }
    let arrays: Vec<ArrayStat> = map
        .arrays()
        .into_iter()
        .map(|(path, index)| ArrayStat {
            chunks_stored: stored.get(&path).copied().unwrap_or(0),
            path,
            index,
        })
        .collect();
    let version = match map.version() {
        ManifestVersion::V1 => SHARDED_ZARR_V1,
        ManifestVersion::V2 => SHARDED_ZARR_V2,
    };
    let counts = count_blocks(backend, cid).await;
    out.print(
        || {
            let rows: Vec<String> = arrays
                .iter()
                .map(|a| {
                    let written = a.index.shard_cids().iter().filter(|c| c.is_some()).count();
                    format!(
                        "  {:<12} shape {:?}, chunks {:?}: {} of {} chunks stored, {} of {} shards written ({} chunks each)",
                        a.path,
                        a.index.shape(),
                        a.index.chunk_shape(),
                        a.chunks_stored,
                        a.index.total_chunks(),
                        written,
                        a.index.num_shards(),
                        a.index.chunks_per_shard(),
                    )
                })
                .collect();
            format!(
                "root          {cid}\nlayout        sharded ({version})\nkeys          {}\nmetadata      {} keys\nindex         {} blocks ({}): the manifest and shards\nvalues        {} blocks ({})\nunixfs parts  {} blocks ({})\nblocks        {} distinct{}\narrays\n{}",
                links.len(),
                map.metadata().len(),
                counts.index_blocks,
                size(counts.index_bytes),
                counts.value_blocks,
                size(counts.value_bytes),
                counts.file_blocks,
                size(counts.file_bytes),
                counts.blocks,
                problems_note(&counts, root),
                rows.join("\n"),
            )
        },
        || {
            json!({
                "root": cid.to_string(),
                "layout": "sharded",
                "manifest_version": version,
                "keys": links.len(),
                "metadata_keys": map.metadata().len(),
                "arrays": arrays.iter().map(|a| json!({
                    "path": a.path,
                    "shape": a.index.shape(),
                    "chunk_shape": a.index.chunk_shape(),
                    "chunks_per_shard": a.index.chunks_per_shard(),
                    "chunks": a.index.total_chunks(),
                    "chunks_stored": a.chunks_stored,
                    "shards": a.index.num_shards(),
                    "shards_written": a.index.shard_cids().iter().filter(|c| c.is_some()).count(),
                })).collect::<Vec<_>>(),
                "index_blocks": counts.index_blocks,
                "index_bytes": counts.index_bytes,
                "value_blocks": counts.value_blocks,
                "value_bytes": counts.value_bytes,
                "unixfs_blocks": counts.file_blocks,
                "unixfs_bytes": counts.file_bytes,
                "blocks": counts.blocks,
                "unreadable_blocks": counts.problems,
            })
        },
    );
    Ok(())
}

async fn stat_hamt(
    backend: &Backend,
    out: Output,
    root: &str,
    cid: hamt::Cid,
    map: &DynHamt,
) -> Result<()> {
    let shape = map
        .stats()
        .await
        .context(|| format!("walk the nodes of {root}"))?;
    let counts = count_blocks(backend, cid).await;
    out.print(
        || {
            let histogram: Vec<String> = shape
                .nodes_per_depth
                .iter()
                .zip(&shape.keys_per_depth)
                .enumerate()
                .map(|(depth, (nodes, keys))| {
                    format!("  depth {depth}: {nodes} nodes, {keys} keys")
                })
                .collect();
            format!(
                "root          {cid}\nlayout        hamt\nkeys          {}\nnodes         {} ({})\nvalues        {} blocks ({})\nunixfs parts  {} blocks ({})\nblocks        {} distinct{}\ndepths\n{}",
                shape.keys,
                shape.nodes,
                size(shape.node_bytes),
                counts.value_blocks,
                size(counts.value_bytes),
                counts.file_blocks,
                size(counts.file_bytes),
                counts.blocks,
                problems_note(&counts, root),
                histogram.join("\n"),
            )
        },
        || {
            json!({
                "root": cid.to_string(),
                "layout": "hamt",
                "keys": shape.keys,
                "nodes": shape.nodes,
                "node_bytes": shape.node_bytes,
                "nodes_per_depth": shape.nodes_per_depth,
                "keys_per_depth": shape.keys_per_depth,
                "max_depth": shape.max_depth(),
                "value_blocks": counts.value_blocks,
                "value_bytes": counts.value_bytes,
                "unixfs_blocks": counts.file_blocks,
                "unixfs_bytes": counts.file_bytes,
                "blocks": counts.blocks,
                "unreadable_blocks": counts.problems,
            })
        },
    );
    Ok(())
}

/// Walks every block; a value's bytes count its UnixFS blocks under "unixfs parts".
async fn count_blocks(backend: &Backend, root: hamt::Cid) -> BlockCounts {
    let mut counts = BlockCounts::default();
    let mut walk = DatasetWalk::open(backend.blocks.as_ref(), root).await;
    while let Some(batch) = walk.next_batch().await {
        for block in batch {
            counts.blocks += 1;
            let Ok(data) = &block.data else {
                counts.problems += 1;
                continue;
            };
            let len = data.len() as u64;
            match block.kind {
                BlockKind::Node => {}
                BlockKind::Manifest | BlockKind::Shard => {
                    counts.index_blocks += 1;
                    counts.index_bytes += len;
                }
                BlockKind::Value => {
                    counts.value_blocks += 1;
                    counts.value_bytes += len;
                }
                BlockKind::FilePart => {
                    counts.file_blocks += 1;
                    counts.file_bytes += len;
                }
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(
            parse_range("10-15").unwrap(),
            ByteRange::Slice {
                offset: 10,
                length: 5
            }
        );
        assert_eq!(parse_range("7-").unwrap(), ByteRange::From(7));
        for bad in ["", "5", "a-b", "9-3", "-4"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }
}
