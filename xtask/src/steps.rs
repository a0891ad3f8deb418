//! The checks, each a command run from the workspace root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::ipfs::IpfsNode;

/// The workspace root (the parent of this crate).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs a command, echoing it and its duration; an error names the step.
pub(crate) fn run(name: &str, cmd: &mut Command) -> Result<(), String> {
    println!("\n==> {name}: {}", describe(cmd));
    let start = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: could not start: {e}"))?;
    let took = start.elapsed().as_secs_f32();
    if status.success() {
        println!("==> {name}: ok in {took:.1}s");
        Ok(())
    } else {
        Err(format!("{name} failed ({status}) after {took:.1}s"))
    }
}

fn describe(cmd: &Command) -> String {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!("{} {}", cmd.get_program().to_string_lossy(), args.join(" "))
}

pub(crate) fn ci() -> Result<(), String> {
    let start = Instant::now();
    lint()?;
    // The instrumented run is the test run: the suite runs once, and its
    // coverage is checked against the floors.
    crate::coverage::coverage()?;
    crate::python::test(crate::python::Build::CoverageEnv)?;
    crate::fuzz::smoke()?;
    doc()?;
    // Only the benches crate: `--workspace` would also build every library
    // (RocksDB's C++ among them) a second time, in release.
    run(
        "benches build",
        cargo().args(["bench", "-p", "hamt-benches", "--no-run"]),
    )?;
    println!(
        "\n==> ci: every check passed in {:.0}s",
        start.elapsed().as_secs_f32()
    );
    Ok(())
}

pub(crate) fn lint() -> Result<(), String> {
    crate::rocksdb::ensure_toolchain()?;
    run("fmt", cargo().args(["fmt", "--all", "--check"]))?;
    crate::rocksdb::check_one_build()?;
    run(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )
}

pub(crate) fn test() -> Result<(), String> {
    crate::rocksdb::ensure_toolchain()?;
    let python = python_env()?;
    let node = IpfsNode::from_env_or_start()?;
    let mut nextest = cargo();
    nextest
        .args([
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ])
        .env("HAMT_PYTHON_BIN", &python);
    node.export_to(&mut nextest);
    let tests = run("tests", &mut nextest);
    let mut doctests = cargo();
    doctests.args(["test", "--workspace", "--all-features", "--doc"]);
    let doctests = tests.and_then(|()| run("doctests", &mut doctests));
    node.stop();
    doctests.and_then(|()| crate::python::test(crate::python::Build::Debug))
}

pub(crate) fn doc() -> Result<(), String> {
    crate::rocksdb::ensure_toolchain()?;
    run(
        "docs",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

/// The project's Python venv (py-hamt 3.6.0 and friends), created on first use.
pub(crate) fn python_env() -> Result<String, String> {
    let script = root().join("scripts/python-env.sh");
    println!("\n==> python venv: {}", script.display());
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| format!("python venv: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python venv: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
