//! `hamt diff ROOT_A ROOT_B`: keys added, removed and changed. `Hamt::diff`
//! skips subtrees with the same CID on both sides, and `ShardedMap::diff`
//! shards with the same CID, so two versions of a large dataset that differ
//! in a few chunks cost only the paths or shards holding them. Roots of two
//! layouts are compared key by key.

use futures::TryStreamExt;
use hamt::diff::Change;
use hamt_zarr::AnyLayout;
use serde_json::json;

use crate::backend::{Backend, DynDataset};
use crate::error::{Context, Result};
use crate::output::{Output, printable};

pub(crate) async fn run(backend: &Backend, out: Output, root_a: &str, root_b: &str) -> Result<()> {
    let old = backend.open_dataset(root_a).await?;
    let new = backend.open_dataset(root_b).await?;
    let changes = changes(backend, (&old, root_a), (&new, root_b)).await?;
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

/// The changes from `old` to `new` (each with the label errors name it
/// by), sorted by key.
pub(crate) async fn changes(
    backend: &Backend,
    (old, old_label): (&DynDataset, &str),
    (new, new_label): (&DynDataset, &str),
) -> Result<Vec<Change>> {
    let what = || format!("compare {old_label} with {new_label}");
    let mut changes: Vec<Change> = match (old, new) {
        (AnyLayout::Hamt(a), AnyLayout::Hamt(b)) => a.diff(b).try_collect().await.context(what)?,
        (AnyLayout::Sharded(a), AnyLayout::Sharded(b)) => a.diff(b).await.context(what)?,
        // One of each (e.g. a HAMT and its conversion): key by key.
        _ => hamt::diff::diff_entries(
            backend.links(old, old_label).await?.into_iter().collect(),
            backend.links(new, new_label).await?.into_iter().collect(),
        ),
    };
    changes.sort_by(|a, b| a.key().cmp(b.key()));
    Ok(changes)
}
