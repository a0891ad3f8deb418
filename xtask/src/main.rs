//! Project automation, run as `cargo xtask <command>`.
//!
//! `cargo xtask ci` runs every check CI runs, in order, and stops at the
//! first failure: formatting, clippy, the whole test suite (with the test
//! services it needs) instrumented for coverage with per-crate floors, doc
//! tests, the Python package's tests, a fuzz smoke of every target, docs,
//! and a build of the benchmarks. Each step prints its command and its
//! duration, so a slow or failing step is easy to find.

mod coverage;
mod fuzz;
mod ipfs;
mod python;
mod rocksdb;
mod steps;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo       the README's first command: checks (and installs, with apt-get when it
             can) what RocksDB's build needs, then builds and runs `hamt demo` in
             release; arguments go to `hamt demo` (e.g. --days 10)
  ci         every check CI runs: fmt, clippy, tests with coverage floors (starting
             an IPFS test node and the Python venv they need), doc tests, the
             Python package (crates/hamt-py: maturin develop + pytest), fuzz
             smoke, docs, benchmarks built
  test       the test suite only, Python package included (same services as ci)
  lint       fmt --check, the one-RocksDB-build check, and clippy
  doc        cargo doc with warnings as errors
  coverage   the test suite instrumented: line and region coverage per crate and
             file, an HTML report in target/coverage/, floors in coverage-floors.txt
  fuzz       the cargo-fuzz targets in fuzz/: [--time SECONDS] [--smoke] [TARGET] (see --help)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => rocksdb::demo(&args[1..]),
        Some("ci") => steps::ci(),
        Some("test") => steps::test(),
        Some("lint") => steps::lint(),
        Some("doc") => steps::doc(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("coverage") => coverage::coverage(),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
