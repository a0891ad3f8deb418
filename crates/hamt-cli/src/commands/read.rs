//! Read-only looks at one root: `get`, `ls`, `stat`.

use std::collections::BTreeSet;
use std::io::Write;

use futures::TryStreamExt;
use hamt_store::ByteRange;
use serde_json::json;

use crate::backend::Backend;
use crate::error::{CliError, Context, Result, fail};
use crate::output::{Output, size};
use crate::walk::{BlockKind, HamtWalk};

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
    let map = backend.open_hamt(root).await?;
    let value = map
        .get_range(key, range)
        .await
        .context(|| format!("read key {key:?} of {root}"))?;
    let Some(value) = value else {
        fail!("key {key:?} not found in {root} (list keys with `hamt ls {root}`)");
    };
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
    let map = backend.open_hamt(root).await?;
    let mut names = BTreeSet::new();
    let mut keys = std::pin::pin!(map.keys());
    while let Some(key) = keys
        .try_next()
        .await
        .context(|| format!("list the keys of {root}"))?
    {
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
        || names.iter().cloned().collect::<Vec<_>>().join("\n"),
        || json!(names),
    );
    Ok(())
}

/// Counts from walking every block.
#[derive(Default)]
struct BlockCounts {
    blocks: u64,
    value_blocks: u64,
    value_bytes: u64,
    file_blocks: u64,
    file_bytes: u64,
    problems: u64,
}

/// `hamt stat ROOT`: the tree's shape, then what every reachable block adds up to.
pub(crate) async fn stat(backend: &Backend, out: Output, root: &str) -> Result<()> {
    let map = backend.open_hamt(root).await?;
    let cid = backend.resolve_root(root)?;
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
                "root          {cid}\nkeys          {}\nnodes         {} ({})\nvalues        {} blocks ({})\nunixfs parts  {} blocks ({})\nblocks        {} distinct{}\ndepths\n{}",
                shape.keys,
                shape.nodes,
                size(shape.node_bytes),
                counts.value_blocks,
                size(counts.value_bytes),
                counts.file_blocks,
                size(counts.file_bytes),
                counts.blocks,
                if counts.problems > 0 {
                    format!(" ({} missing or corrupt: run `hamt verify {root}`)", counts.problems)
                } else {
                    String::new()
                },
                histogram.join("\n"),
            )
        },
        || {
            json!({
                "root": cid.to_string(),
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
    let mut walk = HamtWalk::new(backend.blocks.as_ref(), root);
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
