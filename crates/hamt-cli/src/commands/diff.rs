//! `hamt diff ROOT_A ROOT_B`: keys added, removed and changed. `Hamt::diff`
//! skips subtrees with the same CID on both sides, and `ShardedMap::diff`
//! shards with the same CID, so two versions of a large dataset that differ
//! in a few chunks cost only the paths or shards holding them. Roots of two
//! layouts are compared key by key.

use futures::TryStreamExt;
use hamt::diff::Change;
use hamt_zarr::AnyLayout;
use serde_json::json;

use crate::backend::Backend;
use crate::error::{Context, Result};
use crate::output::{Output, printable};

pub(crate) async fn run(backend: &Backend, out: Output, root_a: &str, root_b: &str) -> Result<()> {
    let old = backend.open_dataset(root_a).await?;
    let new = backend.open_dataset(root_b).await?;
    let what = || format!("compare {root_a} with {root_b}");
    let mut changes: Vec<Change> = match (&old, &new) {
        (AnyLayout::Hamt(a), AnyLayout::Hamt(b)) => a.diff(b).try_collect().await.context(what)?,
        (AnyLayout::Sharded(a), AnyLayout::Sharded(b)) => a.diff(b).await.context(what)?,
        // One of each (e.g. a HAMT and its conversion): key by key.
        _ => hamt::diff::diff_entries(
            backend.links(&old, root_a).await?.into_iter().collect(),
            backend.links(&new, root_b).await?.into_iter().collect(),
        ),
    };
    changes.sort_by(|a, b| a.key().cmp(b.key()));
    let keys_where = |wanted: fn(&Change) -> bool| -> Vec<&str> {
        changes
            .iter()
            .filter(|c| wanted(c))
            .map(Change::key)
            .collect()
    };
    let added = keys_where(|c| matches!(c, Change::Added { .. }));
    let removed = keys_where(|c| matches!(c, Change::Removed { .. }));
    let modified = keys_where(|c| matches!(c, Change::Changed { .. }));
    out.print(
        || {
            changes
                .iter()
                .map(|change| {
                    let mark = match change {
                        Change::Added { .. } => '+',
                        Change::Removed { .. } => '-',
                        Change::Changed { .. } => '~',
                    };
                    format!("{mark} {}", printable(change.key()))
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
        || json!({"added": added, "removed": removed, "changed": modified}),
    );
    out.note(|| {
        format!(
            "{} added, {} removed, {} changed",
            added.len(),
            removed.len(),
            modified.len()
        )
    });
    Ok(())
}
