//! A test tool: an in-memory FUSE file system that models a disk behind a
//! volatile page cache, so a test can cut the power as a real power failure
//! does, in the spirit of [LazyFS](https://github.com/dsrhaslab/lazyfs).
//!
//! Killing a process (even with SIGKILL) loses nothing it wrote: unsynced
//! writes wait in the kernel's page cache and reach the disk later. A power
//! cut loses them. Here, [`LossyFs::power_cut`] keeps only what was made
//! durable, and every operation after it fails with `EIO`, until
//! [`LossyFs::remount`] serves the durable state, as a reboot would.
//!
//! # What is modelled
//!
//! Each file has live bytes (what reads see) and durable bytes (what
//! survives a cut); each directory has live and durable entries.
//!
//! * `write`, `truncate`, `fallocate` change live bytes only.
//!   `fsync` and `fdatasync` of a file make its bytes and its size durable
//!   (not its names).
//! * `create`, `mkdir`, `link`, `unlink`, `rmdir`, `rename` change live
//!   entries only. `fsync` of a directory makes all its entries durable.
//!   A new file whose data was synced but whose directory was not is gone
//!   after a cut; a file whose name was synced but whose data was not is
//!   there, as it was last synced (empty if never).
//! * A cut keeps the inodes reachable from the root through durable
//!   entries, each with its durable bytes and entries; a file's link count
//!   is recounted from them.
//! * Without a cut, [`LossyFs::remount`] and [`LossyFs::unmount`] keep
//!   everything, as a clean unmount writes all back.
//!
//! # What is not
//!
//! * Only the worst outcome for unsynced changes: all of them are lost.
//!   A real disk may also keep some (written back early, in any order),
//!   or tear a write; a program that relies on such an order (a rename
//!   reaching the disk before the data it renames) is not caught here.
//! * A rename across directories is durable in each directory separately,
//!   where a journaling file system makes it atomic: after a cut the file
//!   may have both names or neither.
//! * Permissions, owners and times are not versioned (a cut keeps their
//!   latest values); neither are symlinks, special files, extended
//!   attributes (not supported), disk space (`statfs` reports 64 GiB
//!   free) nor `fcntl` locks (the kernel keeps them, per mount).
//!
//! # Mounting
//!
//! [`LossyFs::mount`] mounts with `mount(2)` itself, which needs root (or
//! `CAP_SYS_ADMIN`) and `/dev/fuse`; without them it falls back to the
//! `fusermount3` helper (Debian's `fuse3`), and fails if that is missing.

mod disk;
mod fuse;
#[cfg(test)]
mod tests;

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuser::BackgroundSession;
use parking_lot::Mutex;

use crate::disk::Disk;

/// A mounted lossy file system. Dropping it unmounts it.
pub struct LossyFs {
    disk: Arc<Mutex<Disk>>,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
}

impl LossyFs {
    /// Mounts an empty file system at `mountpoint`, an existing directory,
    /// served by a thread of this process. Its root is owned by the
    /// mountpoint's owner.
    pub fn mount(mountpoint: impl AsRef<Path>) -> io::Result<Self> {
        let mountpoint = mountpoint.as_ref().to_path_buf();
        let meta = std::fs::metadata(&mountpoint).map_err(|e| mount_error(&mountpoint, &e))?;
        let disk = Arc::new(Mutex::new(Disk::new(meta.uid(), meta.gid())));
        let session = mount(&disk, &mountpoint)?;
        Ok(LossyFs {
            disk,
            mountpoint,
            session: Some(session),
        })
    }

    /// Where it is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Cuts the power, at once: every later operation on the mount fails
    /// with `EIO`, and all that was not durable is gone. The operation in
    /// progress, if any, finishes first (operations are atomic). Cutting
    /// twice is cutting once.
    pub fn power_cut(&self) {
        self.disk.lock().power_cut();
    }

    /// Whether the power is cut (until the next [`remount`](Self::remount)).
    pub fn is_cut(&self) -> bool {
        self.disk.lock().is_cut()
    }

    /// Unmounts and mounts again at the same place, power back on: after a
    /// [`power_cut`](Self::power_cut), the mount serves what was durable,
    /// as after a reboot (and the kernel's caches of the old state are
    /// gone with the old mount). Fails if the mount is busy (a process
    /// still has a file open in it or its working directory there).
    pub fn remount(&mut self) -> io::Result<()> {
        self.unmount_session()?;
        self.disk.lock().power_on();
        self.session = Some(mount(&self.disk, &self.mountpoint)?);
        Ok(())
    }

    /// Unmounts it (cleanly, unless the power was cut).
    pub fn unmount(mut self) -> io::Result<()> {
        self.unmount_session()
    }

    fn unmount_session(&mut self) -> io::Result<()> {
        if let Some(session) = self.session.take() {
            session.umount_and_join().map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("unmount {}: {e}", self.mountpoint.display()),
                )
            })?;
        }
        self.disk.lock().unmounted();
        Ok(())
    }
}

impl Drop for LossyFs {
    fn drop(&mut self) {
        let _ = self.unmount_session();
    }
}

/// Mounts `disk`, with an error that says what mounting needs.
fn mount(disk: &Arc<Mutex<Disk>>, mountpoint: &Path) -> io::Result<BackgroundSession> {
    fuse::spawn(disk, mountpoint).map_err(|e| mount_error(mountpoint, &e))
}

fn mount_error(mountpoint: &Path, e: &io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "mount the lossy FUSE file system at {}: {e} (needs /dev/fuse and root, \
             or Debian's fuse3 for fusermount3)",
            mountpoint.display()
        ),
    )
}
