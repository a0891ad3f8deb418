//! `hamt verify ROOT`: read every reachable block (the stores re-hash what
//! they read) and report each missing, corrupt or undecodable one with where
//! it is: the key for values, the slot path for HAMT nodes, the array and
//! number for a sharded store's shards.

use serde_json::json;

use crate::backend::Backend;
use crate::error::{Exit, Result};
use crate::output::{Output, mib};
use crate::walk::{BlockKind, DatasetWalk, Problem};

/// A bad block and where it was found.
struct Finding {
    cid: hamt::Cid,
    kind: BlockKind,
    path: String,
    problem: Problem,
}

pub(crate) async fn run(backend: &Backend, out: Output, root: &str) -> Result<Exit> {
    let cid = backend.resolve_root(root).await?;
    let source = backend.for_whole_dag(cid, out).await;
    let mut walk = DatasetWalk::open(source.as_ref(), cid).await;
    let (mut blocks, mut bytes) = (0u64, 0u64);
    let mut findings = Vec::new();
    let bar = out.block_spinner("verifying");
    while let Some(batch) = walk.next_batch().await {
        for block in batch {
            blocks += 1;
            bar.inc(1);
            match block.data {
                Ok(data) => bytes += data.len() as u64,
                Err(problem) => findings.push(Finding {
                    cid: block.cid,
                    kind: block.kind,
                    path: block.path.to_string(),
                    problem,
                }),
            }
        }
    }
    bar.finish_and_clear();
    print_findings(out, cid, blocks, bytes, &findings);
    Ok(if findings.is_empty() {
        Exit::Ok
    } else {
        Exit::Problems
    })
}

fn print_findings(out: Output, root: hamt::Cid, blocks: u64, bytes: u64, findings: &[Finding]) {
    out.print(
        || {
            let mut lines: Vec<String> = findings.iter().map(describe).collect();
            lines.push(if findings.is_empty() {
                format!("ok: {blocks} blocks ({:.1} MiB) reachable from {root}, all present and verified", mib(bytes))
            } else {
                format!(
                    "{} bad blocks out of {blocks} reachable from {root}; re-import or fetch them (e.g. `hamt car import`)",
                    findings.len()
                )
            });
            lines.join("\n")
        },
        || {
            json!({
                "root": root.to_string(),
                "blocks": blocks,
                "bytes": bytes,
                "ok": findings.is_empty(),
                "problems": findings.iter().map(|f| json!({
                    "cid": f.cid.to_string(),
                    "problem": f.problem.label(),
                    "detail": f.problem.detail(),
                    "block": kind_name(f.kind),
                    "where": f.path,
                })).collect::<Vec<_>>(),
            })
        },
    );
}

fn describe(finding: &Finding) -> String {
    let place = match finding.kind {
        BlockKind::Node | BlockKind::Manifest | BlockKind::Shard => finding.path.clone(),
        BlockKind::Value => format!("value of key {:?}", finding.path),
        BlockKind::FilePart => format!("UnixFS block of key {:?}", finding.path),
    };
    let detail = finding
        .problem
        .detail()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    format!(
        "{} block {} ({place}){detail}",
        finding.problem.label(),
        finding.cid
    )
}

fn kind_name(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::Node => "node",
        BlockKind::Manifest => "manifest",
        BlockKind::Shard => "shard",
        BlockKind::Value => "value",
        BlockKind::FilePart => "unixfs",
    }
}
