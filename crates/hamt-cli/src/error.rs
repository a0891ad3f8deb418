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
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A failure, already phrased for the user.
#[derive(Debug)]
pub(crate) struct CliError(String);

impl CliError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CliError(message.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

/// Prefixes any error with what was being done, as `"{what}: {cause}"`.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| CliError(format!("{}: {e}", what())))
    }
}

/// Shorthand for an early `Err(CliError)`.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::error::CliError::new(format!($($arg)*)))
    };
}
pub(crate) use fail;
