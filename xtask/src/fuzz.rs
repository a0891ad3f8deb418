//! `cargo xtask fuzz`: the cargo-fuzz targets in `fuzz/` (see `fuzz/README.md`).
//!
//! Builds every target once, then runs the chosen ones one after another
//! (never two at once: the machine has two cores). Toolchain: `cargo +nightly
//! fuzz` when a nightly toolchain is installed, else the pinned stable
//! toolchain with `RUSTC_BOOTSTRAP=1`. cargo-fuzz is installed on first use.
//!
//! Builds go to `HAMT_FUZZ_TARGET_DIR` (default `/var/tmp/hamt-fuzz-target`,
//! outside the clone, so CI runs on one machine reuse them). What a run
//! discovers goes to a scratch corpus under that directory; the committed
//! seeds in `fuzz/corpus/<target>/` are only read. Crashes land in
//! `fuzz/artifacts/<target>/` (ignored by git).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::steps::{root, run as run_step};

/// Every fuzz target, in the order they run.
const TARGETS: [&str; 9] = [
    "node_decode",
    "node_roundtrip",
    "cid_decode",
    "unixfs_decode",
    "car_decode",
    "encrypted_value",
    "sharded_decode",
    "hostile_dag",
    "hamt_ops",
];

/// Seconds per target of `cargo xtask fuzz` without `--time`.
const DEFAULT_SECONDS: u64 = 60;
/// Seconds per target of the CI smoke unless `HAMT_FUZZ_SECONDS` says otherwise.
const SMOKE_SECONDS: u64 = 20;

const USAGE: &str = "\
usage: cargo xtask fuzz [--time SECONDS] [--smoke] [--seed] [--no-trace-compares] [TARGET]
                       [-- LIBFUZZER_ARGS...]

  TARGET           one of: node_decode node_roundtrip cid_decode unixfs_decode car_decode
                   encrypted_value hamt_ops
                   (default: all, one after another)
  --time SECONDS   how long each target runs (default 60)
  --smoke          every target for HAMT_FUZZ_SECONDS (default 20) each, as CI does
  --seed           regenerate the committed seed corpora (fuzz/seed_corpus.py) first
  --no-trace-compares
                   build without comparison tracing, into its own target directory
                   (TARGET_DIR-notc): ~2.6x the executions per second on hamt_ops, for
                   long runs of targets whose input has no magic values to guess
  -- ARGS          passed to libFuzzer (e.g. -- -runs=10000000)

env: HAMT_FUZZ_TARGET_DIR (default /var/tmp/hamt-fuzz-target),
     HAMT_FUZZ_SANITIZER (default none; address needs nightly),
     HAMT_FUZZ_SECONDS (smoke seconds per target)
";

/// `cargo xtask fuzz ...`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets: Vec<&str> = Vec::new();
    let mut libfuzzer_args: Vec<String> = Vec::new();
    let mut seed = false;
    let mut trace_compares = true;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--time" => {
                let value = iter.next().ok_or("--time needs a number of seconds")?;
                seconds = parse_seconds(value)?;
            }
            "--smoke" => return smoke(),
            "--seed" => seed = true,
            "--no-trace-compares" => trace_compares = false,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            "--" => {
                libfuzzer_args.extend(iter.by_ref().cloned());
            }
            name => {
                let target = TARGETS
                    .iter()
                    .find(|t| **t == name)
                    .ok_or_else(|| format!("unknown fuzz target or option {name:?}\n{USAGE}"))?;
                targets.push(target);
            }
        }
    }
    if targets.is_empty() {
        targets.extend(TARGETS);
    }
    if seed {
        seed_corpora()?;
    }
    let fuzz = Fuzz::prepare(trace_compares)?;
    fuzz.build()?;
    for target in targets {
        fuzz.run_target(target, seconds, false, &libfuzzer_args)?;
    }
    Ok(())
}

/// The CI smoke: every target for `HAMT_FUZZ_SECONDS` (default 20) seconds,
/// from the committed seeds and a fresh scratch corpus.
pub(crate) fn smoke() -> Result<(), String> {
    let seconds = match std::env::var("HAMT_FUZZ_SECONDS") {
        Ok(value) => parse_seconds(&value)?,
        Err(_) => SMOKE_SECONDS,
    };
    let fuzz = Fuzz::prepare(true)?;
    fuzz.build()?;
    for target in TARGETS {
        fuzz.run_target(target, seconds, true, &[])?;
    }
    Ok(())
}

fn parse_seconds(value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| format!("not a positive number of seconds: {value:?}"))
}

fn seed_corpora() -> Result<(), String> {
    run_step(
        "fuzz seed corpora",
        Command::new("python3").arg(root().join("fuzz/seed_corpus.py")),
    )
}

/// How to invoke cargo-fuzz here: the toolchain, and where builds go.
struct Fuzz {
    /// `Some("+nightly")`, or `None` for the pinned toolchain with `RUSTC_BOOTSTRAP=1`.
    toolchain: Option<&'static str>,
    target_dir: PathBuf,
    sanitizer: String,
    /// cargo-fuzz's default `-sanitizer-coverage-trace-compares`: lets
    /// libFuzzer guess the operands of comparisons, but costs `hamt_ops`
    /// ~60 % of its throughput (measured in `fuzz/README.md`).
    trace_compares: bool,
}

impl Fuzz {
    fn prepare(trace_compares: bool) -> Result<Self, String> {
        let toolchain = if succeeds(Command::new("cargo").args(["+nightly", "--version"])) {
            Some("+nightly")
        } else {
            println!("==> fuzz: no nightly toolchain; using the pinned one with RUSTC_BOOTSTRAP=1");
            None
        };
        let mut target_dir = std::env::var_os("HAMT_FUZZ_TARGET_DIR")
            .unwrap_or_else(|| "/var/tmp/hamt-fuzz-target".into());
        if !trace_compares {
            // Other instrumentation: its own directory, so the two builds
            // don't keep invalidating each other (and their scratch corpora stay apart).
            target_dir.push("-notc");
        }
        let target_dir = PathBuf::from(target_dir);
        let sanitizer = std::env::var("HAMT_FUZZ_SANITIZER").unwrap_or_else(|_| "none".into());
        let fuzz = Fuzz {
            toolchain,
            target_dir,
            sanitizer,
            trace_compares,
        };
        if !succeeds(fuzz.cargo().args(["fuzz", "--version"])) {
            run_step(
                "install cargo-fuzz",
                Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]),
            )?;
        }
        Ok(fuzz)
    }

    /// `cargo [+nightly]` in `fuzz/`, not through the workspace's `CARGO`
    /// (that one is the pinned toolchain's and ignores `+nightly`).
    fn cargo(&self) -> Command {
        let mut cmd = Command::new("cargo");
        // `cargo xtask` runs under the pinned toolchain; its choice must not leak into cargo-fuzz.
        cmd.env_remove("CARGO").env_remove("RUSTUP_TOOLCHAIN");
        if let Some(toolchain) = self.toolchain {
            cmd.arg(toolchain);
        } else {
            cmd.env("RUSTC_BOOTSTRAP", "1");
        }
        cmd.current_dir(root().join("fuzz"));
        cmd
    }

    /// The flags every build and run shares: release with debug assertions
    /// and overflow checks, the sanitizer, the instrumentation, the target directory.
    fn with_build_flags<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.args(["--release", "--debug-assertions", "--sanitizer"])
            .arg(&self.sanitizer);
        if !self.trace_compares {
            cmd.arg("--no-trace-compares");
        }
        cmd.arg("--target-dir").arg(&self.target_dir)
    }

    fn build(&self) -> Result<(), String> {
        let mut cmd = self.cargo();
        cmd.args(["fuzz", "build"]);
        run_step("fuzz build", self.with_build_flags(&mut cmd))
    }

    /// Runs one target for `seconds`; `fresh` starts from an empty scratch corpus.
    fn run_target(
        &self,
        target: &str,
        seconds: u64,
        fresh: bool,
        libfuzzer_args: &[String],
    ) -> Result<(), String> {
        let scratch = self.target_dir.join("corpus").join(target);
        if fresh && scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .map_err(|e| format!("fuzz {target}: clearing {}: {e}", scratch.display()))?;
        }
        std::fs::create_dir_all(&scratch)
            .map_err(|e| format!("fuzz {target}: creating {}: {e}", scratch.display()))?;
        let seeds = root().join("fuzz/corpus").join(target);
        let mut cmd = self.cargo();
        cmd.args(["fuzz", "run"]);
        self.with_build_flags(&mut cmd)
            .arg(target)
            .arg(&scratch)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .args(["-print_final_stats=1", "-timeout=30", "-rss_limit_mb=4096"])
            .args(libfuzzer_args);
        run_step(&format!("fuzz {target} ({seconds}s)"), &mut cmd)
    }
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
