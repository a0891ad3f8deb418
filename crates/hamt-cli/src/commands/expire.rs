//! `hamt expire --older-than DURATION [--keep-tags] [--branch B ...]`: drops
//! history older than a cutoff (see `hamt_history::expire`), so that a
//! following `hamt gc` removes what only the expired history reached.

use std::time::{SystemTime, UNIX_EPOCH};

use hamt_history::{ExpireOptions, ExpireReport, HistoryError, TagChange, format_time, parse_time};
use serde_json::json;

use crate::backend::Backend;
use crate::error::{CliError, Result};
use crate::output::Output;

/// `--older-than`: how long ago, or when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OlderThan {
    /// This many milliseconds before now.
    Ago(u64),
    /// This many milliseconds since the Unix epoch.
    At(u64),
}

impl OlderThan {
    /// The cutoff in milliseconds since the Unix epoch, given now.
    fn cutoff_ms(self, now_ms: u64) -> u64 {
        match self {
            OlderThan::Ago(ms) => now_ms.saturating_sub(ms),
            OlderThan::At(ms) => ms,
        }
    }
}

/// Parses `--older-than`: a count and one unit (`30d`, `12h`, `90m`,
/// `3600s`), or an absolute time as revisions take it (Unix seconds,
/// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ`, UTC). Anything else is refused
/// (clap reports it as a usage error).
pub(crate) fn parse_older_than(text: &str) -> Result<OlderThan, String> {
    let unit_ms = match text.as_bytes().last() {
        Some(b'd') => Some(86_400_000),
        Some(b'h') => Some(3_600_000),
        Some(b'm') => Some(60_000),
        Some(b's') => Some(1000),
        _ => None,
    };
    if let Some(unit_ms) = unit_ms {
        let count = &text[..text.len() - 1];
        if !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit()) {
            return count
                .parse::<u64>()
                .ok()
                .and_then(|count| count.checked_mul(unit_ms))
                .map(OlderThan::Ago)
                .ok_or_else(|| format!("{text:?} is too long a duration"));
        }
    }
    parse_time(text).map(OlderThan::At).ok_or_else(|| {
        format!(
            "{text:?} is neither a duration (a whole number then d, h, m or s: 30d, 12h, 90m, 3600s) \
             nor a time (Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)"
        )
    })
}

/// Runs `hamt expire`.
pub(crate) async fn run(
    backend: &Backend,
    out: Output,
    older_than: OlderThan,
    keep_tags: bool,
    branches: Vec<String>,
) -> Result<()> {
    // On the daemon, expired commits stay pinned: expiry is the embedded
    // store's (whose GC follows its refs).
    backend.rocks("`hamt expire`")?;
    let repo = backend.history("`hamt expire`")?;
    let cutoff = older_than.cutoff_ms(now_ms());
    let mut options = ExpireOptions::new().keep_tags(keep_tags);
    for branch in branches {
        options = options.branch(branch);
    }
    let report = repo.expire(cutoff, options).await.map_err(|error| {
        let message = format!("expire history before {}: {error}", format_time(cutoff));
        if matches!(error, HistoryError::Conflict(_)) {
            CliError::conflict(format!(
                "{message}\n(the other refs were expired; run `hamt expire` again to finish)"
            ))
        } else {
            CliError::new(message)
        }
    })?;
    out.print(|| summary(&report), || report_json(&report));
    out.note(|| "run `hamt gc` to remove what only the expired history reached".to_owned());
    Ok(())
}

/// The report as lines for people.
fn summary(report: &ExpireReport) -> String {
    let mut lines = vec![format!(
        "expired history before {} ({} ms)",
        format_time(report.cutoff_ms),
        report.cutoff_ms
    )];
    for branch in &report.branches {
        let moved = if branch.new_head == branch.old_head {
            format!("unchanged at {}", branch.new_head)
        } else {
            format!("{} -> {}", branch.old_head, branch.new_head)
        };
        lines.push(format!(
            "branch {}: kept {}, dropped {} ({moved})",
            branch.name, branch.kept, branch.dropped
        ));
    }
    for tag in &report.tags {
        lines.push(match tag.change {
            TagChange::Moved { from, to } => format!("tag {}: moved {from} -> {to}", tag.name),
            TagChange::Removed { was } => format!("tag {}: removed (was {was})", tag.name),
        });
    }
    lines.join("\n")
}

/// The report as JSON.
fn report_json(report: &ExpireReport) -> serde_json::Value {
    json!({
        "cutoff": format_time(report.cutoff_ms),
        "cutoff_ms": report.cutoff_ms,
        "branches": report.branches.iter().map(|b| json!({
            "branch": b.name,
            "old_head": b.old_head.to_string(),
            "new_head": b.new_head.to_string(),
            "kept": b.kept,
            "dropped": b.dropped,
        })).collect::<Vec<_>>(),
        "tags": report.tags.iter().map(|t| match t.change {
            TagChange::Moved { from, to } => json!({
                "tag": t.name, "change": "moved", "from": from.to_string(), "to": to.to_string(),
            }),
            TagChange::Removed { was } => json!({
                "tag": t.name, "change": "removed", "was": was.to_string(),
            }),
        }).collect::<Vec<_>>(),
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_than_is_a_duration_or_a_time() {
        assert_eq!(parse_older_than("30d"), Ok(OlderThan::Ago(30 * 86_400_000)));
        assert_eq!(parse_older_than("12h"), Ok(OlderThan::Ago(12 * 3_600_000)));
        assert_eq!(parse_older_than("90m"), Ok(OlderThan::Ago(90 * 60_000)));
        assert_eq!(parse_older_than("3600s"), Ok(OlderThan::Ago(3_600_000)));
        assert_eq!(parse_older_than("0s"), Ok(OlderThan::Ago(0)));
        assert_eq!(
            parse_older_than("2026-12-01"),
            Ok(OlderThan::At(parse_time("2026-12-01").unwrap()))
        );
        assert_eq!(parse_older_than("1000"), Ok(OlderThan::At(1_000_000)));
        for bad in [
            "",
            "d",
            "30x",
            "30 d",
            " 30d",
            "+30d",
            "-1d",
            "1.5h",
            "30dd",
            "3d12h",
            "99999999999999999999d",
            "2026-13-01",
        ] {
            assert!(parse_older_than(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(OlderThan::Ago(1000).cutoff_ms(5000), 4000);
        assert_eq!(OlderThan::Ago(9000).cutoff_ms(5000), 0);
        assert_eq!(OlderThan::At(7).cutoff_ms(5000), 7);
    }
}
