//! Printing results: human text or `--json`, and progress bars that show only
//! on a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const MIB: f64 = 1_048_576.0;

/// A warning: something went wrong that did not stop the command. On
/// stderr even with `--quiet` or `--json` (stdout stays the result).
pub(crate) fn warn(text: &str) {
    eprintln!("hamt: warning: {text}");
}

/// How the user asked results to be shown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
}

impl Output {
    /// Prints `value` as one line of JSON, or `human` as text.
    pub(crate) fn print(
        self,
        human: impl FnOnce() -> String,
        value: impl FnOnce() -> serde_json::Value,
    ) {
        if self.json {
            println!("{}", value());
        } else {
            println!("{}", human());
        }
    }

    /// A note for people (summaries, timings): on stderr, never with `--quiet` or `--json`.
    pub(crate) fn note(self, text: impl FnOnce() -> String) {
        if !self.quiet && !self.json {
            eprintln!("{}", text());
        }
    }

    /// A progress bar over `total_bytes`, drawn on stderr only when it is a
    /// terminal and not `--quiet`: scripts and logs get no control characters.
    /// Callers set the message to the files done so far ("12/400 files").
    pub(crate) fn bytes_bar(self, total_bytes: u64, verb: &str) -> ProgressBar {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::hidden());
        }
        let bar = ProgressBar::new(total_bytes);
        let template = format!(
            "{verb} {{bar:30}} {{msg}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}}"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

impl Output {
    /// A progress bar over `total` files, like [`bytes_bar`](Self::bytes_bar).
    pub(crate) fn count_bar(self, total: u64, verb: &str) -> ProgressBar {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        }
        let bar = ProgressBar::new(total);
        let template = format!("{verb} {{bar:30}} {{pos}}/{{len}} {{msg}} {{per_sec}} eta {{eta}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

impl Output {
    /// A counter of blocks for walks whose size is unknown in advance.
    pub(crate) fn block_spinner(self, verb: &str) -> ProgressBar {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        let template = format!("{{spinner}} {verb} {{pos}} blocks {{per_sec}} {{elapsed}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// Mebibytes, for summaries.
#[allow(clippy::cast_precision_loss)] // display only
pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// A byte count for people: `512 B`, `3.4 KiB`, `12.0 MiB`, `1.20 GiB`.
#[allow(clippy::cast_precision_loss)] // display only
pub(crate) fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", b / MIB),
        _ => format!("{:.2} GiB", b / MIB / 1024.0),
    }
}

/// Items per second, for summaries.
#[allow(clippy::cast_precision_loss)] // display only
pub(crate) fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// `text` safe to print on a terminal: control characters (escape
/// sequences, newlines, tabs) shown as Rust writes them in strings
/// (`\u{1b}`, `\n`), everything else as it is. Keys come from data: a key
/// must not move the cursor, recolour the terminal or pass for two lines.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    std::borrow::Cow::Owned(shown)
}

/// Commands running at least this long end with a telemetry summary.
const SUMMARY_AFTER: Duration = Duration::from_secs(2);

/// The telemetry summary printed at the end of a command: with `--trace`,
/// or after a long command (not with `--quiet` or `--json`).
pub(crate) struct Summary {
    output: Output,
    trace: bool,
}

impl Summary {
    /// Turns telemetry on and, with `--trace` or `RUST_LOG`, logs spans to stderr.
    pub(crate) fn start(cli: &crate::cli::Cli) -> Self {
        hamt_store::telemetry::enable();
        let filter = std::env::var("RUST_LOG").ok().filter(|f| !f.is_empty());
        if cli.trace || filter.is_some() {
            init_tracing(filter.as_deref());
        }
        Summary {
            output: Output {
                json: cli.json,
                quiet: cli.quiet,
            },
            trace: cli.trace,
        }
    }

    /// Prints the summary if asked for (or the command was long) and there is anything to say.
    pub(crate) fn finish(self, elapsed: Duration) {
        if !self.trace && elapsed < SUMMARY_AFTER {
            return;
        }
        if let Some(text) = summary_text(&hamt_store::telemetry::snapshot()) {
            self.output.note(|| text);
        }
    }
}

/// Spans and events of this project's crates (or as `RUST_LOG` says) on
/// stderr, each span logged when it closes, with its time.
fn init_tracing(filter: Option<&str>) {
    use tracing_subscriber::fmt::format::FmtSpan;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    const OURS: &str =
        "hamt=debug,hamt_kubo=debug,hamt_zarr=debug,hamt_sharded=debug,hamt_store=debug";
    let targets: tracing_subscriber::filter::Targets = filter
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| OURS.parse().unwrap_or_default());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE);
    // Another subscriber already set (never, in this binary) keeps its place.
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(targets)
        .try_init();
}

/// One paragraph on what reads cost, from the telemetry counters (`None`
/// when nothing was recorded).
#[allow(clippy::cast_precision_loss)] // counts and bytes shown to a tenth
pub(crate) fn summary_text(t: &hamt_store::telemetry::Snapshot) -> Option<String> {
    let mut lines = Vec::new();
    let ms = |(count, sum, _): (u64, u64, u64)| {
        if count == 0 {
            0.0
        } else {
            sum as f64 / count as f64 / 1e6
        }
    };
    let loads = t.counter("py_hamt.cas.load.requests");
    if loads > 0 {
        lines.push(format!(
            "  store reads: {loads} ({} failed), {:.1} MiB, {} retries, {:.1} ms mean",
            loads - t.counter_true("py_hamt.cas.load.requests"),
            t.counter("py_hamt.cas.load.response_bytes") as f64 / MIB,
            t.counter("py_hamt.cas.load.retries"),
            ms(t.histogram("py_hamt.cas.load.duration")),
        ));
    }
    let nodes = t.counter("py_hamt.hamt.node_load.requests");
    if nodes > 0 {
        let hits = t.counter_true("py_hamt.hamt.node_load.requests");
        lines.push(format!(
            "  node loads: {nodes}, {hits} cache hits ({:.0} %), {:.1} MiB read, {:.1} ms mean read",
            hits as f64 * 100.0 / nodes as f64,
            t.counter("py_hamt.hamt.node_load.bytes") as f64 / MIB,
            ms(t.histogram("py_hamt.hamt.node_load.duration")),
        ));
    }
    let lookups = t.counter("py_hamt.hamt.lookup.requests");
    if lookups > 0 {
        let (count, sum, max) = t.histogram("py_hamt.hamt.lookup.depth");
        lines.push(format!(
            "  key lookups: {lookups} ({} found), depth {:.2} mean, {max} max",
            t.counter_true("py_hamt.hamt.lookup.requests"),
            if count == 0 {
                0.0
            } else {
                sum as f64 / count as f64
            },
        ));
    }
    let gets = t.counter("py_hamt.zarr.get.requests");
    if gets > 0 {
        lines.push(format!(
            "  zarr gets: {gets} ({} found)",
            t.counter_true("py_hamt.zarr.get.requests"),
        ));
    }
    let shards = t.counter("py_hamt.sharded_store.shard_load.requests");
    if shards > 0 {
        lines.push(format!(
            "  shard loads: {shards}, {} cache hits",
            t.counter_true("py_hamt.sharded_store.shard_load.requests"),
        ));
    }
    (!lines.is_empty()).then(|| format!("telemetry:\n{}", lines.join("\n")))
}
