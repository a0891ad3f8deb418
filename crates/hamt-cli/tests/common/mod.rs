//! What the CLI's end-to-end tests share: running the real `hamt` binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What one run of the binary gave.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    pub(crate) fn line(&self) -> String {
        self.stdout.trim().to_owned()
    }
}

/// Runs `hamt --store STORE ARGS…` (ignoring any `HAMT_STORE` of the environment).
pub(crate) fn hamt(store: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("HAMT_STORE")
        .output()
        .expect("run hamt");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A path as the argument it is.
pub(crate) fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}
