//! Changes to one root of either layout: `put` and `rm`. Each prints the
//! new root; the old root is unchanged (content addressing), and `--name`
//! moves a name to the new one once it is durable (on the daemon: pinned);
//! `--branch` commits it (see `commands::history`).

use std::path::Path;

use hamt::Cid;
use serde_json::json;

use hamt_zarr::Layout;

use crate::backend::{Backend, DynDataset};
use crate::commands::history::{CommitTo, commit_result};
use crate::error::{Context, Result, fail};
use crate::output::Output;

/// `hamt put ROOT KEY FILE [--name NAME]`.
pub(crate) async fn put(
    backend: &Backend,
    out: Output,
    root: &str,
    key: &str,
    file: &Path,
    name: Option<&str>,
    commit: Option<&CommitTo>,
) -> Result<Cid> {
    backend.check_name(name)?;
    let value = std::fs::read(file).context(|| format!("read {}", file.display()))?;
    let mut map = backend.open_dataset(root).await?;
    let replaced = map
        .get_link(key)
        .await
        .context(|| format!("read key {key:?}"))?;
    map.insert(key, value.into())
        .await
        .context(|| format!("set key {key:?}"))?;
    let (new_root, committed) = save(&mut map, backend, out, (name, commit)).await?;
    print_root(
        out,
        new_root,
        (name, committed),
        key,
        if replaced.is_some() {
            "replaced"
        } else {
            "added"
        },
    );
    Ok(new_root)
}

/// `hamt rm ROOT KEY [--name NAME]`.
pub(crate) async fn rm(
    backend: &Backend,
    out: Output,
    root: &str,
    key: &str,
    name: Option<&str>,
    commit: Option<&CommitTo>,
) -> Result<Cid> {
    backend.check_name(name)?;
    let mut map = backend.open_dataset(root).await?;
    let removed = map
        .remove(key)
        .await
        .context(|| format!("remove key {key:?}"))?;
    if !removed {
        fail!("key {key:?} not found in {root}; nothing removed (list keys with `hamt ls {root}`)");
    }
    let (new_root, committed) = save(&mut map, backend, out, (name, commit)).await?;
    print_root(out, new_root, (name, committed), key, "removed");
    Ok(new_root)
}

/// Flushes, names (`--name`) and commits (`--branch`) the new root.
async fn save(
    map: &mut DynDataset,
    backend: &Backend,
    out: Output,
    (name, commit): (Option<&str>, Option<&CommitTo>),
) -> Result<(Cid, Option<Cid>)> {
    let root = map
        .flush()
        .await
        .context(|| format!("write the dataset to {}", backend.label))?;
    backend.commit_root(out, &root, name).await?;
    let committed = commit_result(backend, out, commit, root).await?;
    Ok((root, committed))
}

fn print_root(
    out: Output,
    root: Cid,
    (name, commit): (Option<&str>, Option<Cid>),
    key: &str,
    change: &str,
) {
    out.print(
        || root.to_string(),
        || {
            json!({"root": root.to_string(), "name": name, "key": key, "change": change,
                   "commit": commit.map(|c| c.to_string())})
        },
    );
}
