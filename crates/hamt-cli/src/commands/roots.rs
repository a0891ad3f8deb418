//! The embedded store's named roots and garbage collection.

use serde_json::json;

use crate::backend::Backend;
use crate::error::{Context, Result};
use crate::output::{Output, mib};

/// `hamt roots`: every name with its root, sorted by name.
pub(crate) fn list(backend: &Backend, out: Output) -> Result<()> {
    let roots = backend
        .rocks("`hamt roots`")?
        .roots()
        .context(|| format!("list the roots of {}", backend.label))?;
    out.print(
        || {
            roots
                .iter()
                .map(|(name, cid)| format!("{name}\t{cid}"))
                .collect::<Vec<_>>()
                .join("\n")
        },
        || {
            json!(
                roots
                    .iter()
                    .map(|(name, cid)| json!({"name": name, "root": cid.to_string()}))
                    .collect::<Vec<_>>()
            )
        },
    );
    Ok(())
}

/// `hamt gc`: removes blocks unreachable from every named root (and older
/// than the grace period, which protects imports not yet named).
pub(crate) async fn gc(backend: &Backend, out: Output) -> Result<()> {
    let store = backend.rocks("`hamt gc`")?.clone();
    let label = backend.label.clone();
    // The store's GC blocks for the whole mark and sweep.
    let report = tokio::task::spawn_blocking(move || store.gc())
        .await
        .context(|| "the GC task failed".into())?
        .context(|| format!("garbage-collect {label}"))?;
    out.print(
        || {
            format!(
                "removed {} blocks ({:.1} MiB); kept {} reachable from {} named roots and {} written within the grace period{}",
                report.blocks_removed,
                mib(report.bytes_removed),
                report.blocks_reachable,
                report.roots,
                report.blocks_young,
                if report.blocks_missing > 0 {
                    format!("; {} reachable blocks are missing (run `hamt verify` on each root)", report.blocks_missing)
                } else {
                    String::new()
                }
            )
        },
        || {
            json!({
                "roots": report.roots,
                "blocks_reachable": report.blocks_reachable,
                "blocks_missing": report.blocks_missing,
                "blocks_young": report.blocks_young,
                "blocks_removed": report.blocks_removed,
                "bytes_removed": report.bytes_removed,
                "seconds": report.elapsed.as_secs_f64(),
            })
        },
    );
    Ok(())
}
