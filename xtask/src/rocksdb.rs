//! What building RocksDB needs, and the check that it is built once.
//!
//! `librocksdb-sys` compiles RocksDB's C++ in its build script and runs
//! bindgen, which loads the system's libclang. [`ensure_toolchain`] makes
//! sure libclang and a C++ compiler are there before anything compiles
//! (installing them with `apt-get` when it can, else saying exactly what to
//! run). [`check_one_build`] checks that every way of building the
//! workspace resolves RocksDB's build to the same crates and features, so
//! its C++ is compiled once per profile, not once per selection of crates.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::steps::{cargo, root};

/// Debian packages that give bindgen its libclang and the C++ build a compiler.
const PACKAGES: [&str; 3] = ["libclang-dev", "clang", "g++"];

/// Whether a libclang shared library can be found where clang-sys looks.
fn has_libclang() -> bool {
    if let Some(dir) = std::env::var_os("LIBCLANG_PATH") {
        return dir_has_libclang(Path::new(&dir));
    }
    let mut dirs: Vec<std::path::PathBuf> = ["/usr/lib", "/usr/local/lib", "/usr/lib64"]
        .iter()
        .map(Into::into)
        .collect();
    for parent in [
        "/usr/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
    ] {
        if let Ok(entries) = std::fs::read_dir(parent) {
            dirs.push(parent.into());
            dirs.extend(
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("llvm-"))
                    })
                    .map(|p| p.join("lib")),
            );
        }
    }
    dirs.iter().any(|dir| dir_has_libclang(dir))
}

fn dir_has_libclang(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libclang") && name.contains(".so")
        })
    })
}

fn has_command(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Makes sure RocksDB's build can run: libclang for bindgen and a C++
/// compiler. Installs what is missing with `apt-get` when running as root
/// on Debian or Ubuntu; otherwise fails with the exact command to run.
pub(crate) fn ensure_toolchain() -> Result<(), String> {
    let missing_clang = !has_libclang();
    // clang++ (the workspace's CXX, .cargo/config.toml) with libstdc++'s headers (g++).
    let missing_cxx = !has_command("clang++") || !has_command("g++");
    if !missing_clang && !missing_cxx {
        return Ok(());
    }
    let what = match (missing_clang, missing_cxx) {
        (true, true) => "libclang (for RocksDB's bindings) and clang++ with g++'s C++ library",
        (true, false) => "libclang (bindgen needs it to build RocksDB's bindings)",
        _ => "clang++ and g++'s C++ library (to build RocksDB)",
    };
    let install = format!(
        "apt-get update && apt-get install -y {}",
        PACKAGES.join(" ")
    );
    if !has_command("apt-get") {
        return Err(format!(
            "this build needs {what}, which is not installed. Install your system's \
             libclang development package and a C++ compiler (Debian/Ubuntu: `{install}`), \
             or set LIBCLANG_PATH to the directory holding libclang.so"
        ));
    }
    let sudo = if is_root() {
        ""
    } else if has_command("sudo") {
        "sudo "
    } else {
        return Err(format!(
            "this build needs {what}, which is not installed. As root, run:\n  {install}"
        ));
    };
    println!("==> installing {what}: {sudo}{install}");
    let status = Command::new("sh")
        .args([
            "-c",
            &format!(
                "{sudo}apt-get update -qq && DEBIAN_FRONTEND=noninteractive {sudo}apt-get install -y -qq {}",
                PACKAGES.join(" ")
            ),
        ])
        .status()
        .map_err(|e| format!("could not run apt-get: {e}"))?;
    if !status.success() || !has_libclang() || !has_command("clang++") || !has_command("g++") {
        return Err(format!(
            "installing {what} failed ({status}); run it yourself:\n  {sudo}{install}"
        ));
    }
    Ok(())
}

/// `cargo xtask demo [ARGS]`: the README's first command. Checks the build
/// needs first, then builds and runs `hamt demo` in release.
pub(crate) fn demo(args: &[String]) -> Result<(), String> {
    ensure_toolchain()?;
    let mut cmd = cargo();
    cmd.args(["run", "--release", "-p", "hamt-cli", "--", "demo"])
        .args(args);
    crate::steps::run("demo", &mut cmd)
}

/// The ways the workspace gets built: the README's commands, CI's, and
/// each crate that links RocksDB alone; with `dev` edges for test builds.
const SELECTIONS: [&[&str]; 6] = [
    &["-p", "hamt-cli"],
    &["--workspace"],
    &["--workspace", "--all-features"],
    &["-p", "hamt-rocksdb"],
    &["-p", "hamt-zarr"],
    &["-p", "hamt-py"],
];

/// Fails if two ways of building the workspace would build RocksDB's C++
/// twice: the crates and features `librocksdb-sys` and its build
/// dependencies resolve to must be the same for every selection.
pub(crate) fn check_one_build() -> Result<(), String> {
    println!("\n==> one RocksDB build: the features it resolves to, per selection of crates");
    for edges in ["normal,build", "normal,build,dev"] {
        let mut first: Option<(String, BTreeSet<String>)> = None;
        for selection in SELECTIONS {
            let tree = rocksdb_subtree(selection, edges)?;
            let name = format!("cargo tree {} -e {edges}", selection.join(" "));
            if tree.is_empty() && selection == ["-p", "hamt-zarr"] && edges == "normal,build" {
                continue; // RocksDB is only a dev-dependency there
            }
            match &first {
                None => first = Some((name, tree)),
                Some((first_name, first_tree)) if *first_tree != tree => {
                    let only_first: Vec<_> = first_tree.difference(&tree).collect();
                    let only_here: Vec<_> = tree.difference(first_tree).collect();
                    return Err(format!(
                        "RocksDB would be built twice: `{first_name}` resolves {only_first:?} \
                         where `{name}` resolves {only_here:?}. Add the union of these features \
                         to crates/hamt-rocksdb/Cargo.toml's [build-dependencies]."
                    ));
                }
                Some(_) => {}
            }
        }
    }
    println!("==> one RocksDB build: ok");
    Ok(())
}

/// Every `package features` line under `librocksdb-sys` in `cargo tree`.
fn rocksdb_subtree(selection: &[&str], edges: &str) -> Result<BTreeSet<String>, String> {
    let out = cargo()
        .current_dir(root())
        .args([
            "tree",
            "--no-dedupe",
            "--prefix",
            "depth",
            "-f",
            "{p} {f}",
            "-e",
            edges,
        ])
        .args(selection)
        .output()
        .map_err(|e| format!("cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree {}: {}",
            selection.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<(usize, &str)> = text
        .lines()
        .filter_map(|line| {
            let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let depth = line[..digits].parse().ok()?;
            Some((depth, &line[digits..]))
        })
        .collect();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < lines.len() {
        let (depth, entry) = lines[i];
        i += 1;
        if !entry.starts_with("librocksdb-sys ") {
            continue;
        }
        found.insert(entry.to_owned());
        while i < lines.len() && lines[i].0 > depth {
            found.insert(lines[i].1.to_owned());
            i += 1;
        }
    }
    Ok(found)
}
