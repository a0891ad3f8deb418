//! The Python package `hamt_rs` (`crates/hamt-py`): built into the
//! project's venv with `maturin develop`, then its pytest suite (zarr-python's
//! store conformance suite on every backend, xarray round trips, py-hamt
//! interop, bad input, the README's example) against the IPFS test node.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ipfs::IpfsNode;
use crate::steps::{python_env, root, run};

/// How the extension is compiled.
#[derive(Clone, Copy)]
pub(crate) enum Build {
    /// A plain debug build, sharing the artifacts of `cargo xtask test`.
    Debug,
    /// Inside the environment of `cargo llvm-cov show-env` (as the coverage
    /// step's doc tests are): the doctests' instrumented flags and wrapper.
    /// It shares their artifacts, not the nextest run's (those live in
    /// `llvm-cov-target/`), so a machine's first run compiles the
    /// dependencies once more (RocksDB's C++ mostly from sccache, ~4 min);
    /// later runs reuse them.
    CoverageEnv,
}

/// Builds the extension into the venv and runs the Python tests.
pub(crate) fn test(build: Build) -> Result<(), String> {
    crate::rocksdb::ensure_toolchain()?;
    let python = python_env()?;
    let venv = Path::new(&python)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("python venv: unexpected interpreter path {python}"))?;
    let mut develop = Command::new(&python);
    develop
        .current_dir(root())
        .args([
            "-m",
            "maturin",
            "develop",
            "--manifest-path",
            "crates/hamt-py/Cargo.toml",
        ])
        .env("VIRTUAL_ENV", &venv)
        .env("PYO3_PYTHON", &python);
    // An instrumented extension writes its profiles where `show-env` says
    // (the target directory, never the source tree). The coverage report
    // has been written by then, so they do not count toward it.
    let mut profile_file = None;
    if let Build::CoverageEnv = build {
        for (key, value) in crate::coverage::instrumented_build_env()? {
            if key == "LLVM_PROFILE_FILE" {
                profile_file = Some(value.clone());
            }
            develop.env(key, value);
        }
    }
    run("python package: maturin develop", &mut develop)?;

    let node = IpfsNode::from_env_or_start()?;
    let mut pytest = Command::new(&python);
    pytest
        .current_dir(package_dir())
        .args([
            "-m",
            "pytest",
            "-ra",
            "--timeout=600",
            "-p",
            "no:cacheprovider",
        ])
        // Nothing written into the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let Some(file) = profile_file {
        pytest.env("LLVM_PROFILE_FILE", file);
    }
    node.export_to(&mut pytest);
    let tested = run("python package: tests", &mut pytest);
    node.stop();
    tested
}

fn package_dir() -> PathBuf {
    root().join("crates/hamt-py")
}
