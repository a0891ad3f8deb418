use std::fmt::Display;
use std::path::Path;

use hamt_store::StoreError;

/// Wraps a RocksDB error with the operation, the store's path and, for the
/// failures people hit when opening or writing, what it most likely means.
pub(crate) fn db_error(operation: impl Display, path: &Path, err: rocksdb::Error) -> StoreError {
    let hint = hint_for(err.as_ref());
    StoreError::backend(
        format!("{operation} (RocksDB store {}){hint}", path.display()),
        err,
    )
}

/// An error of this crate's own, e.g. a malformed record, as a backend error.
pub(crate) fn store_error(
    operation: impl Display,
    path: &Path,
    message: impl Display,
) -> StoreError {
    StoreError::backend(
        format!("{operation} (RocksDB store {})", path.display()),
        message.to_string(),
    )
}

/// Whether RocksDB failed because another writer holds the store's lock.
pub(crate) fn is_locked(error: &rocksdb::Error) -> bool {
    is_lock_message(error.as_ref())
}

/// Whether RocksDB failed to delete or rename an old info log another
/// opener of the same store removed first.
pub(crate) fn is_old_log_race(error: &rocksdb::Error) -> bool {
    let message = error.to_string();
    message.contains("No such file or directory") && message.contains("LOG.old")
}

/// Whether RocksDB failed to open a table or manifest file the store had
/// when it looked (a concurrent writer's compaction removed it).
pub(crate) fn is_file_gone(error: &rocksdb::Error) -> bool {
    let message = error.to_string();
    message.contains("No such file or directory")
        && (message.contains(".sst") || message.contains("MANIFEST") || message.contains(".blob"))
}

fn is_lock_message(message: &str) -> bool {
    message.contains("While lock file") || message.contains("lock hold by current process")
}

fn hint_for(message: &str) -> &'static str {
    if message.contains("No space left on device") {
        ": the disk is full"
    } else if message.contains("File too large") {
        ": a file size limit was reached (or the disk is full)"
    } else if is_lock_message(message) {
        ": the store is locked by another process or another open handle \
         (RocksDB allows one writer; open it read-only to share it)"
    } else if message.contains("Permission denied")
        || message.contains("Operation not permitted")
        || message.contains("Read-only file system")
    {
        ": no permission to write there (open the store read-only to read it)"
    } else if message.contains("Column family not found") {
        ": not a hamt-rocksdb store"
    } else if message.contains("does not exist") || message.contains("No such file or directory") {
        ": there is no store there"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_likely_cause() {
        assert!(
            hint_for("IO error: While appending to file: x: No space left on device")
                .contains("full")
        );
        assert!(
            hint_for("IO error: While lock file: /x/LOCK: Resource temporarily unavailable")
                .contains("locked")
        );
        assert!(
            hint_for("IO error: While mkdir if missing: /x: Permission denied")
                .contains("permission")
        );
        assert_eq!(hint_for("Corruption: bad block"), "");
    }
}
