//! Printing results: human text or `--json`, and progress bars that show only
//! on a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const MIB: f64 = 1_048_576.0;

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
