//! Putting a written file in place whole: a CAR is written under a
//! temporary name and published only once complete, so neither a failed
//! export nor a crash leaves a file under the final name that looks whole
//! and is not.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// `path` with `.partial` appended: where a file is written before
/// [`publish`] puts it in place.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Flushes `out` (the complete file written at `partial`), syncs its data
/// to disk, renames it to `path` (replacing any file there) and syncs the
/// directory. Each step is needed: a rename can reach the disk before the
/// data does, leaving the final name on an empty or partial file after a
/// crash, and a rename is durable only once the directory's new entry is.
///
/// ```
/// use std::io::{BufWriter, Write};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data.car");
/// let partial = hamt_car::partial_path(&path);
/// let mut out = BufWriter::new(std::fs::File::create(&partial)?);
/// out.write_all(b"complete")?;
/// hamt_car::publish(out, &partial, &path)?;
/// assert_eq!(std::fs::read(&path)?, b"complete");
/// assert!(!partial.exists());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// Any of the writes, the syncs or the rename failed; the partial file is
/// then left for the caller to remove.
pub fn publish(mut out: BufWriter<File>, partial: &Path, path: &Path) -> io::Result<()> {
    out.flush()?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(partial, path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    sync_dir(dir)
}

/// Syncs a directory's entries to disk (`fsync` of the directory).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Elsewhere a directory cannot be opened to sync it; NTFS journals renames.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The file replaces what was there, whole, and no temporary file is
    /// left. (That the data and the directory reach the disk before and
    /// after the rename cannot be observed without a power cut; the two
    /// `fsync`s are in `publish`.)
    #[test]
    fn a_file_is_published_whole_and_the_partial_is_gone() {
        let tmp = tempfile::TempDir::new().unwrap();
        let file = tmp.path().join("out.car");
        std::fs::write(&file, b"an older export").unwrap();
        let partial = partial_path(&file);
        let data: Vec<u8> = (0..200_000u32).map(|i| i.to_le_bytes()[0]).collect();
        let mut out = BufWriter::new(File::create(&partial).unwrap());
        out.write_all(&data).unwrap();
        publish(out, &partial, &file).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), data);
        assert!(!partial.exists());
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the CAR is left");

        // A rename into a missing directory fails.
        let out = BufWriter::new(File::create(&partial).unwrap());
        assert!(publish(out, &partial, &tmp.path().join("no-dir/x.car")).is_err());
    }
}
