//! `cargo xtask coverage`: line and region coverage of the whole test suite,
//! with `cargo-llvm-cov` and Debian's `llvm-22` (the rustup `llvm-tools`
//! component cannot be fetched on these machines; rustc 1.95 is built on LLVM
//! 22, so Debian's tools read its profiles). Writes a per-crate and per-file
//! summary and an HTML report under `target/coverage/`, and fails when a crate
//! falls under its floor in `coverage-floors.txt`.
//!
//! Regions, not branches: rustc's unstable branch instrumentation
//! (`cargo llvm-cov --branch`, `-Zcoverage-options=branch`) produced
//! mappings that crash `llvm-cov` 22 (a segfault in `report`, `export` and
//! `show` alike) on the binaries that link `hamt` or `hamt-kubo`, checked
//! one object at a time; without it every object reads. A region is each
//! span with its own counter, so every arm of a branch is one: region
//! coverage shows an untaken arm as a branch figure would.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ipfs::IpfsNode;
use crate::steps::{python_env, root, run};

const LLVM_COV: &str = "/usr/bin/llvm-cov-22";
const LLVM_PROFDATA: &str = "/usr/bin/llvm-profdata-22";
/// Tests, examples, benches and tooling are not the code being measured.
const IGNORED_FILES: &str = r"(/tests/|/examples/|/benches/|/xtask/|/fuzz/)";

/// Runs the test suite instrumented, reports, and checks the floors.
pub(crate) fn coverage() -> Result<(), String> {
    crate::rocksdb::ensure_toolchain()?;
    install_tools()?;
    // Profiles and test binaries left by earlier runs (another checkout
    // sharing the target directory builds the same tests under other
    // hashes) would be merged into this report: counts from other binaries
    // skew it, and llvm-cov 22 crashed on them. So the workspace's own
    // instrumented artifacts go (dependencies, RocksDB's C++ among them,
    // stay), at the price of rebuilding the workspace crates.
    run(
        "coverage: remove earlier runs' profiles and workspace binaries",
        llvm_cov().args(["clean", "--workspace"]),
    )?;
    let python = python_env()?;
    let node = IpfsNode::from_env_or_start()?;
    let mut tests = llvm_cov();
    tests.args([
        "nextest",
        "--workspace",
        "--all-features",
        "--no-report",
        "--no-fail-fast",
    ]);
    tests.env("HAMT_PYTHON_BIN", &python);
    node.export_to(&mut tests);
    let tested = run("tests (instrumented)", &mut tests);
    node.stop();
    tested?;
    doctests()?;
    report()
}

/// Doc tests, built with the instrumented test build's settings so they reuse
/// its artifacts instead of building the workspace a second time.
fn doctests() -> Result<(), String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root())
        .args(["test", "--workspace", "--all-features", "--doc"])
        .envs(instrumented_build_env()?);
    run("doctests", &mut cmd)
}

/// The environment of the instrumented build (`cargo llvm-cov show-env`):
/// a command run with it builds into the coverage target directory with the
/// same flags, reusing its artifacts, and writes its profiles there.
pub(crate) fn instrumented_build_env() -> Result<Vec<(String, String)>, String> {
    let out = llvm_cov()
        .args(["show-env", "--sh"])
        .output()
        .map_err(|e| format!("llvm-cov show-env: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "llvm-cov show-env: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut vars = vec![("RUSTC_BOOTSTRAP".to_owned(), "1".to_owned())];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim_start_matches("export ");
        if let Some((key, value)) = line.split_once('=') {
            vars.push((key.to_owned(), unquote(value)));
        }
    }
    Ok(vars)
}

/// A shell-quoted value from `show-env --sh`: `'...'` with `'\''` for quotes.
fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("'\\''", "'"),
        None => value.to_owned(),
    }
}

fn out_dir() -> PathBuf {
    root().join("target/coverage")
}

fn llvm_cov() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root())
        .arg("llvm-cov")
        .env("LLVM_COV", LLVM_COV)
        .env("LLVM_PROFDATA", LLVM_PROFDATA)
        // The doctests' coverage is unstable in rustdoc; the pinned stable
        // toolchain provides it with RUSTC_BOOTSTRAP.
        .env("RUSTC_BOOTSTRAP", "1");
    cmd
}

fn install_tools() -> Result<(), String> {
    if !Path::new(LLVM_COV).exists() {
        run(
            "install llvm-22",
            Command::new("bash").args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq llvm-22",
            ]),
        )?;
    }
    let have_llvm_cov = Command::new("cargo")
        .args(["llvm-cov", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_llvm_cov {
        run(
            "install cargo-llvm-cov",
            Command::new("cargo").args(["install", "--locked", "cargo-llvm-cov"]),
        )?;
    }
    Ok(())
}

/// Writes the HTML and JSON reports, prints the summary, checks the floors.
fn report() -> Result<(), String> {
    let dir = out_dir();
    let json = dir.join("coverage.json");
    std::fs::create_dir_all(&dir).map_err(|e| format!("coverage: {e}"))?;
    let common = ["report", "--ignore-filename-regex", IGNORED_FILES];
    // The HTML is for people; the floors are checked from the JSON. A crash
    // of llvm-cov's HTML writer (seen once with llvm-cov 22) is reported
    // but does not hide the figures.
    let html = run(
        "coverage html",
        llvm_cov()
            .args(common)
            .arg("--html")
            .arg("--output-dir")
            .arg(&dir),
    );
    if let Err(e) = &html {
        eprintln!("coverage: no HTML report this time: {e}");
    }
    run(
        "coverage json",
        llvm_cov()
            .args(common)
            .args(["--json", "--summary-only", "--output-path"])
            .arg(&json),
    )?;
    let text =
        std::fs::read_to_string(&json).map_err(|e| format!("coverage: {}: {e}", json.display()))?;
    let files = parse_files(&text)?;
    let by_crate = per_crate(&files);
    let summary = summary_markdown(&by_crate, &files);
    let summary_path = dir.join("summary.md");
    std::fs::write(&summary_path, &summary).map_err(|e| format!("coverage: {e}"))?;
    println!("\n{summary}\nreport: {}/html/index.html", dir.display());
    check_floors(&by_crate)
}

/// Line and region counts of one file or crate.
#[derive(Default, Clone, Copy)]
struct Counts {
    lines: u64,
    lines_covered: u64,
    regions: u64,
    regions_covered: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.lines += other.lines;
        self.lines_covered += other.lines_covered;
        self.regions += other.regions;
        self.regions_covered += other.regions_covered;
    }

    fn line_percent(self) -> f64 {
        percent(self.lines_covered, self.lines)
    }

    fn region_percent(self) -> f64 {
        percent(self.regions_covered, self.regions)
    }
}

#[allow(clippy::cast_precision_loss)]
fn percent(covered: u64, total: u64) -> f64 {
    if total == 0 {
        100.0
    } else {
        covered as f64 * 100.0 / total as f64
    }
}

/// Per-file counts from llvm-cov's JSON export (`data[0].files[].summary`).
fn parse_files(text: &str) -> Result<BTreeMap<String, Counts>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("coverage json: {e}"))?;
    let files = value["data"][0]["files"]
        .as_array()
        .ok_or("coverage json: no data[0].files")?;
    let root = format!("{}/", root().display());
    let mut out = BTreeMap::new();
    for file in files {
        let name = file["filename"].as_str().unwrap_or_default();
        let summary = &file["summary"];
        let count = |kind: &str, field: &str| summary[kind][field].as_u64().unwrap_or(0);
        out.insert(
            name.strip_prefix(&root).unwrap_or(name).to_owned(),
            Counts {
                lines: count("lines", "count"),
                lines_covered: count("lines", "covered"),
                regions: count("regions", "count"),
                regions_covered: count("regions", "covered"),
            },
        );
    }
    Ok(out)
}

/// The crate a file belongs to: `crates/<name>/...`.
fn crate_of(file: &str) -> Option<&str> {
    file.strip_prefix("crates/")?.split('/').next()
}

fn per_crate(files: &BTreeMap<String, Counts>) -> BTreeMap<String, Counts> {
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    for (file, counts) in files {
        if let Some(name) = crate_of(file) {
            out.entry(name.to_owned()).or_default().add(*counts);
        }
    }
    out
}

fn summary_markdown(crates: &BTreeMap<String, Counts>, files: &BTreeMap<String, Counts>) -> String {
    let mut md = String::from("| crate | lines | line % | region % |\n| --- | --- | --- | --- |\n");
    for (name, c) in crates {
        let _ = writeln!(
            md,
            "| {name} | {}/{} | {:.1} | {:.1} |",
            c.lines_covered,
            c.lines,
            c.line_percent(),
            c.region_percent()
        );
    }
    md.push_str("\n| file | lines | line % | region % |\n| --- | --- | --- | --- |\n");
    for (file, c) in files {
        let _ = writeln!(
            md,
            "| {file} | {}/{} | {:.1} | {:.1} |",
            c.lines_covered,
            c.lines,
            c.line_percent(),
            c.region_percent()
        );
    }
    md
}

fn check_floors(crates: &BTreeMap<String, Counts>) -> Result<(), String> {
    let path = root().join("coverage-floors.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut failures = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(floor)) = (
            parts.next(),
            parts.next().and_then(|f| f.parse::<f64>().ok()),
        ) else {
            return Err(format!("{}: bad line {line:?}", path.display()));
        };
        let got = crates.get(name).map_or(0.0, |c| c.line_percent());
        let verdict = if got + 1e-9 >= floor {
            "ok"
        } else {
            "BELOW FLOOR"
        };
        println!("coverage floor: {name} {got:.1}% (floor {floor}%) {verdict}");
        if got + 1e-9 < floor {
            failures.push(format!("{name} {got:.1}% < {floor}%"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "line coverage under the floor: {}",
            failures.join(", ")
        ))
    }
}
