//! One error type for the whole command: a message that names the key, CID or
//! path involved and what to do, and the exit code it maps to.

use std::fmt;
use std::process::ExitCode;

/// The process exit codes (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Success.
    Ok = 0,
    /// Any failure: bad input, missing key or block, I/O, store.
    Error = 1,
    // 2 is clap's: a usage error (unknown flag, missing argument).
    /// `verify` ran to the end and found missing or corrupt blocks.
    Problems = 3,
    /// A branch moved under a commit (or an expiry, or a fast-forward),
    /// a CAR's commit is not a fast-forward of the branch, or a merge found
    /// keys both sides changed: nothing was written to the branch; retry or
    /// resolve.
    Conflict = 4,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A failure, already phrased for the user, and its exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    message: String,
    exit: Exit,
}

impl CliError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit: Exit::Error,
        }
    }

    /// A conflict ([`Exit::Conflict`]): a caller may retry or resolve it.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            exit: Exit::Conflict,
        }
    }

    /// The exit code this failure maps to.
    pub(crate) fn exit(&self) -> Exit {
        self.exit
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

/// Prefixes any error with what was being done, as `"{what}: {cause}"`.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| CliError::new(format!("{}: {e}", what())))
    }
}

/// Shorthand for an early `Err(CliError)`.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::error::CliError::new(format!($($arg)*)))
    };
}
pub(crate) use fail;
