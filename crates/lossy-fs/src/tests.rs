//! What survives a power cut, through a real mount and `std::fs`.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::LossyFs;

/// A mount in a temporary directory (unmounted before the directory goes).
struct Mounted {
    fs: LossyFs,
    _dir: tempfile::TempDir,
}

impl Mounted {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fs = LossyFs::mount(dir.path()).unwrap();
        Mounted { fs, _dir: dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.fs.mountpoint().join(name)
    }

    /// Cuts the power and boots again.
    fn cut(&mut self) {
        self.fs.power_cut();
        self.fs.remount().unwrap();
    }
}

/// `fsync` of a directory.
fn sync_dir(path: &Path) {
    File::open(path).unwrap().sync_all().unwrap();
}

/// Writes `bytes` to a new file and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) {
    let mut file = File::create(path).unwrap();
    file.write_all(bytes).unwrap();
    file.sync_all().unwrap();
}

fn read(path: &Path) -> Option<Vec<u8>> {
    match fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

#[test]
fn unsynced_bytes_are_lost_synced_ones_kept() {
    let mut m = Mounted::new();
    let (unsynced, synced) = (m.path("unsynced"), m.path("synced"));
    fs::write(&unsynced, b"gone").unwrap();
    let mut file = File::create(&synced).unwrap();
    file.write_all(b"kept").unwrap();
    file.sync_data().unwrap(); // fdatasync: bytes and size
    file.write_all(b", not this").unwrap();
    drop(file); // close(2) syncs nothing
    sync_dir(m.fs.mountpoint());
    m.cut();
    assert_eq!(read(&unsynced).unwrap(), b"", "named, never synced: empty");
    assert_eq!(read(&synced).unwrap(), b"kept");
}

#[test]
fn a_synced_file_whose_directory_was_not_is_lost() {
    let mut m = Mounted::new();
    write_synced(&m.path("file"), b"data");
    fs::create_dir(m.path("dir")).unwrap();
    write_synced(&m.path("dir/inner"), b"data");
    sync_dir(&m.path("dir")); // but not the root, which names "dir"
    m.cut();
    assert_eq!(read(&m.path("file")), None);
    assert!(!m.path("dir").exists());

    fs::create_dir(m.path("dir")).unwrap();
    write_synced(&m.path("dir/inner"), b"data");
    sync_dir(&m.path("dir"));
    sync_dir(m.fs.mountpoint());
    m.cut();
    assert_eq!(read(&m.path("dir/inner")).unwrap(), b"data");
}

#[test]
fn renames_and_unlinks_are_durable_with_their_directory() {
    let mut m = Mounted::new();
    let (old, new, other) = (m.path("old"), m.path("new"), m.path("other"));
    write_synced(&old, b"old");
    write_synced(&other, b"other");
    sync_dir(m.fs.mountpoint());

    fs::rename(&old, &new).unwrap();
    fs::remove_file(&other).unwrap();
    m.cut();
    assert_eq!(
        read(&old).unwrap(),
        b"old",
        "rename not synced: old name kept"
    );
    assert_eq!(read(&new), None);
    assert_eq!(read(&other).unwrap(), b"other", "unlink not synced: back");

    fs::rename(&old, &other).unwrap(); // over an existing file
    sync_dir(m.fs.mountpoint());
    m.cut();
    assert_eq!(read(&old), None);
    assert_eq!(read(&other).unwrap(), b"old");
}

#[test]
fn truncation_and_hard_links_follow_the_same_rules() {
    let mut m = Mounted::new();
    let (file, link) = (m.path("file"), m.path("link"));
    write_synced(&file, b"hello");
    sync_dir(m.fs.mountpoint());
    OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(1)
        .unwrap();
    fs::hard_link(&file, &link).unwrap();
    assert_eq!(fs::metadata(&file).unwrap().nlink(), 2);
    m.cut();
    assert_eq!(read(&file).unwrap(), b"hello", "truncation not synced");
    assert_eq!(read(&link), None, "link not synced");

    fs::hard_link(&file, &link).unwrap();
    sync_dir(m.fs.mountpoint());
    fs::remove_file(&file).unwrap();
    m.cut();
    assert_eq!(read(&link).unwrap(), b"hello");
    assert_eq!(fs::metadata(&link).unwrap().nlink(), 2, "both names back");
}

#[test]
fn everything_fails_after_a_cut_until_the_remount() {
    let mut m = Mounted::new();
    let mut file = File::create(m.path("file")).unwrap();
    m.fs.power_cut();
    assert!(m.fs.is_cut());
    let eio = |e: std::io::Error| assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    eio(file
        .write_all(b"x")
        .and_then(|()| file.sync_all())
        .unwrap_err());
    eio(File::create(m.path("other")).unwrap_err());
    eio(fs::read_dir(m.fs.mountpoint())
        .and_then(|mut d| d.next().transpose())
        .unwrap_err());
    drop(file);
    m.fs.remount().unwrap();
    assert!(!m.fs.is_cut());
    assert_eq!(fs::read_dir(m.fs.mountpoint()).unwrap().count(), 0);
}

#[test]
fn a_clean_remount_keeps_everything_and_unlinked_files_are_freed() {
    let mut m = Mounted::new();
    fs::create_dir(m.path("dir")).unwrap();
    fs::write(m.path("dir/file"), b"unsynced").unwrap();
    m.fs.remount().unwrap();
    assert_eq!(read(&m.path("dir/file")).unwrap(), b"unsynced");

    // An unlinked file stays readable while open, and is forgotten once closed.
    let inodes = m.fs.disk.lock().inode_count();
    let mut file = File::open(m.path("dir/file")).unwrap();
    fs::remove_file(m.path("dir/file")).unwrap();
    fs::remove_dir(m.path("dir")).unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, b"unsynced");
    drop(file);
    sync_dir(m.fs.mountpoint()); // drops the durable names too
    // The kernel sends the release after close(2) returns.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while m.fs.disk.lock().inode_count() != inodes - 2 {
        assert!(std::time::Instant::now() < deadline, "unlinked inodes kept");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
