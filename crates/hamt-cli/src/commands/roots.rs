//! Named roots and garbage collection: the embedded store's, or with
//! `--kubo` the daemon's (names as files under `/hamt-roots` in its MFS,
//! data kept by pins, GC by its own `repo/gc`).

use std::collections::HashSet;

use hamt_kubo::{KuboStore, PinKind};
use serde_json::json;

use crate::backend::Backend;
use crate::error::{Context, Result, fail};
use crate::output::{Output, mib};

/// `hamt roots`: every name with its root, sorted by name.
pub(crate) async fn list(backend: &Backend, out: Output) -> Result<()> {
    if let Some(kubo) = &backend.kubo {
        return list_kubo(backend, kubo, out).await;
    }
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

/// `hamt --kubo URL roots`: the names recorded on the daemon (files under
/// `/hamt-roots` in its MFS), each with whether its root is pinned
/// recursively (what keeps it through the daemon's GC).
async fn list_kubo(backend: &Backend, kubo: &KuboStore, out: Output) -> Result<()> {
    let roots = kubo
        .named_roots()
        .await
        .context(|| format!("list the named roots on {}", backend.label))?;
    let pinned: HashSet<_> = kubo
        .pin_ls(Some(PinKind::Recursive))
        .await
        .context(|| format!("list the recursive pins on {}", backend.label))?
        .into_iter()
        .map(|(cid, _)| cid)
        .collect();
    out.print(
        || {
            roots
                .iter()
                .map(|(name, cid)| {
                    let pin = if pinned.contains(cid) {
                        ""
                    } else {
                        "\tnot pinned"
                    };
                    format!("{name}\t{cid}{pin}")
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
        || {
            json!(
                roots
                    .iter()
                    .map(|(name, cid)| json!({"name": name, "root": cid.to_string(), "pinned": pinned.contains(cid)}))
                    .collect::<Vec<_>>()
            )
        },
    );
    out.note(|| {
        format!(
            "{} names on the daemon: files under {dir} in its MFS (ipfs files ls {dir}); what keeps a root through the daemon's GC is its recursive pin",
            roots.len(),
            dir = hamt_kubo::ROOTS_DIR
        )
    });
    Ok(())
}

/// `hamt gc`: removes blocks unreachable from every named root (and older
/// than the grace period, which protects imports not yet named); with
/// `--kubo`, runs the daemon's GC instead.
pub(crate) async fn gc(backend: &Backend, out: Output, grace_given: bool) -> Result<()> {
    if let Some(kubo) = &backend.kubo {
        if grace_given {
            fail!(
                "--grace is for the embedded store: the daemon's GC (repo/gc) has no grace period; it keeps what pins and MFS keep"
            );
        }
        return gc_kubo(backend, kubo, out).await;
    }
    let store = backend.rocks("`hamt gc`")?.clone();
    let label = backend.label.clone();
    // The store's GC blocks for the whole mark and sweep.
    let report = tokio::task::spawn_blocking(move || store.gc())
        .await
        .context(|| "the GC task failed".into())?
        .context(|| format!("garbage-collect {label}"))?;
    for (cid, why) in &report.blocks_unreadable {
        crate::output::warn(&format!(
            "gc: reachable block {cid} cannot be read for its links ({why}); nothing was removed"
        ));
    }
    let unreadable: Vec<String> = report
        .blocks_unreadable
        .iter()
        .map(|(cid, _)| cid.to_string())
        .collect();
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
                "blocks_unreadable": unreadable,
            })
        },
    );
    if !report.blocks_unreadable.is_empty() {
        fail!(
            "{} reachable blocks cannot be read for their links: remove the roots that reach them (`hamt verify ROOT` names the block), then run `hamt gc` again",
            report.blocks_unreadable.len()
        );
    }
    Ok(())
}

/// `hamt --kubo URL gc`: the daemon's own GC (`repo/gc`). It removes every
/// block that no pin and nothing in MFS keeps, for every user of the
/// daemon; the report says so, with how many recursive pins kept data.
async fn gc_kubo(backend: &Backend, kubo: &KuboStore, out: Output) -> Result<()> {
    let report = kubo
        .repo_gc()
        .await
        .context(|| format!("run the daemon's GC (repo/gc) on {}", backend.label))?;
    let pins = kubo
        .pin_ls(Some(PinKind::Recursive))
        .await
        .context(|| format!("list the recursive pins on {}", backend.label))?
        .len();
    out.print(
        || {
            format!(
                "the daemon's GC (repo/gc) removed {} blocks; it keeps what {pins} recursive pins (every root hamt wrote without --no-pin) and the daemon's MFS reach, for every user of the daemon{}",
                report.blocks_removed,
                if report.errors_total > 0 {
                    format!(
                        "; {} blocks could not be removed (first: {})",
                        report.errors_total,
                        report.errors.first().map_or("", String::as_str)
                    )
                } else {
                    String::new()
                }
            )
        },
        || {
            json!({
                "daemon_gc": true,
                "blocks_removed": report.blocks_removed,
                "recursive_pins": pins,
                "errors": report.errors,
                "errors_total": report.errors_total,
                "seconds": report.elapsed.as_secs_f64(),
            })
        },
    );
    Ok(())
}
