//! The disk model: every file and directory as the running system sees it
//! (`live`, the page cache) and as the disk holds it (`durable`).
//!
//! Operations change `live` only. `fsync` of a file copies its live bytes
//! to `durable`; `fsync` of a directory copies its live entries. A power cut
//! keeps what is durably reachable from the root, each inode as its durable
//! self; everything else is gone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::time::{Duration, SystemTime};

use fuser::{Errno, FileAttr, FileType, INodeNo};

pub(crate) type Ino = u64;

/// The root directory's inode number (FUSE's).
pub(crate) const ROOT: Ino = INodeNo::ROOT.0;

/// Both views of what an inode holds.
enum Content {
    File {
        live: Vec<u8>,
        durable: Vec<u8>,
    },
    Dir {
        live: BTreeMap<OsString, Ino>,
        durable: BTreeMap<OsString, Ino>,
    },
}

/// A file or directory. Its attributes other than size and links are not
/// versioned: a power cut keeps their latest values.
struct Inode {
    content: Content,
    perm: u16,
    uid: u32,
    gid: u32,
    /// Live names of a file (directories report 2).
    nlink: u32,
    /// Open handles: an unlinked file stays readable while open.
    open: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
}

impl Inode {
    fn new(content: Content, perm: u16, uid: u32, gid: u32) -> Self {
        let now = SystemTime::now();
        Inode {
            content,
            perm,
            uid,
            gid,
            nlink: 1,
            open: 0,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self.content, Content::Dir { .. })
    }

    fn kind(&self) -> FileType {
        if self.is_dir() {
            FileType::Directory
        } else {
            FileType::RegularFile
        }
    }

    fn touch(&mut self) {
        let now = SystemTime::now();
        self.mtime = now;
        self.ctime = now;
    }
}

/// What a new inode is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
}

/// The whole file system. Every method but [`Disk::power_cut`] and the
/// power switch assumes the power is on (the FUSE layer checks).
pub(crate) struct Disk {
    inodes: HashMap<Ino, Inode>,
    /// Inode numbers are never reused, so the kernel never confuses two.
    next_ino: Ino,
    cut: bool,
}

impl Disk {
    /// An empty disk whose root belongs to `uid`:`gid`.
    pub(crate) fn new(uid: u32, gid: u32) -> Self {
        let root = Inode::new(
            Content::Dir {
                live: BTreeMap::new(),
                durable: BTreeMap::new(),
            },
            0o755,
            uid,
            gid,
        );
        Disk {
            inodes: HashMap::from([(ROOT, root)]),
            next_ino: ROOT + 1,
            cut: false,
        }
    }

    pub(crate) fn is_cut(&self) -> bool {
        self.cut
    }

    fn node(&self, ino: Ino) -> Result<&Inode, Errno> {
        self.inodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, ino: Ino) -> Result<&mut Inode, Errno> {
        self.inodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn entries(&self, dir: Ino) -> Result<&BTreeMap<OsString, Ino>, Errno> {
        match &self.node(dir)?.content {
            Content::Dir { live, .. } => Ok(live),
            Content::File { .. } => Err(Errno::ENOTDIR),
        }
    }

    fn entries_mut(&mut self, dir: Ino) -> Result<&mut BTreeMap<OsString, Ino>, Errno> {
        let node = self.node_mut(dir)?;
        node.touch();
        match &mut node.content {
            Content::Dir { live, .. } => Ok(live),
            Content::File { .. } => Err(Errno::ENOTDIR),
        }
    }

    fn data(&self, ino: Ino) -> Result<&Vec<u8>, Errno> {
        match &self.node(ino)?.content {
            Content::File { live, .. } => Ok(live),
            Content::Dir { .. } => Err(Errno::EISDIR),
        }
    }

    fn data_mut(&mut self, ino: Ino) -> Result<&mut Vec<u8>, Errno> {
        let node = self.node_mut(ino)?;
        node.touch();
        match &mut node.content {
            Content::File { live, .. } => Ok(live),
            Content::Dir { .. } => Err(Errno::EISDIR),
        }
    }

    /// The attributes the kernel is told.
    pub(crate) fn attr(&self, ino: Ino) -> Result<FileAttr, Errno> {
        let node = self.node(ino)?;
        let (size, nlink) = match &node.content {
            Content::File { live, .. } => (live.len() as u64, node.nlink),
            Content::Dir { live, .. } => (live.len() as u64, 2),
        };
        Ok(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: node.atime,
            mtime: node.mtime,
            ctime: node.ctime,
            crtime: SystemTime::UNIX_EPOCH,
            kind: node.kind(),
            perm: node.perm,
            nlink,
            uid: node.uid,
            gid: node.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    pub(crate) fn lookup(&self, dir: Ino, name: &OsStr) -> Result<Ino, Errno> {
        self.entries(dir)?.get(name).copied().ok_or(Errno::ENOENT)
    }

    /// Creates a file or directory named `name` in `dir`.
    pub(crate) fn create(
        &mut self,
        dir: Ino,
        name: &OsStr,
        kind: Kind,
        perm: u16,
        owner: (u32, u32),
    ) -> Result<Ino, Errno> {
        if self.entries(dir)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let content = match kind {
            Kind::File => Content::File {
                live: Vec::new(),
                durable: Vec::new(),
            },
            Kind::Dir => Content::Dir {
                live: BTreeMap::new(),
                durable: BTreeMap::new(),
            },
        };
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes
            .insert(ino, Inode::new(content, perm, owner.0, owner.1));
        self.entries_mut(dir)?.insert(name.to_owned(), ino);
        Ok(ino)
    }

    /// A new name for the file `ino`.
    pub(crate) fn link(&mut self, ino: Ino, dir: Ino, name: &OsStr) -> Result<(), Errno> {
        if self.node(ino)?.is_dir() {
            return Err(Errno::EPERM);
        }
        if self.entries(dir)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        self.entries_mut(dir)?.insert(name.to_owned(), ino);
        let node = self.node_mut(ino)?;
        node.nlink += 1;
        node.ctime = SystemTime::now();
        Ok(())
    }

    /// Removes the name `name` from `dir`: a file's (`unlink`) or an empty
    /// directory's (`rmdir`).
    pub(crate) fn remove(&mut self, dir: Ino, name: &OsStr, kind: Kind) -> Result<(), Errno> {
        let ino = self.lookup(dir, name)?;
        self.check_replaceable(ino, kind)?;
        self.entries_mut(dir)?.remove(name);
        self.unname(ino);
        self.collect();
        Ok(())
    }

    /// Fails unless `ino` is of `kind` and, for a directory, empty.
    fn check_replaceable(&self, ino: Ino, kind: Kind) -> Result<(), Errno> {
        let node = self.node(ino)?;
        match (kind, &node.content) {
            (Kind::File, Content::Dir { .. }) => Err(Errno::EISDIR),
            (Kind::Dir, Content::File { .. }) => Err(Errno::ENOTDIR),
            (Kind::Dir, Content::Dir { live, .. }) if !live.is_empty() => Err(Errno::ENOTEMPTY),
            _ => Ok(()),
        }
    }

    /// One live name of `ino` is gone.
    fn unname(&mut self, ino: Ino) {
        if let Some(node) = self.inodes.get_mut(&ino) {
            node.nlink = node.nlink.saturating_sub(1);
            node.ctime = SystemTime::now();
        }
    }

    /// `rename(2)`, replacing `to_name` if it exists (unless `no_replace`).
    pub(crate) fn rename(
        &mut self,
        from: (Ino, &OsStr),
        to: (Ino, &OsStr),
        no_replace: bool,
    ) -> Result<(), Errno> {
        let ino = self.lookup(from.0, from.1)?;
        let kind = if self.node(ino)?.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        match self.entries(to.0)?.get(to.1).copied() {
            Some(existing) if existing == ino => return Ok(()),
            Some(_) if no_replace => return Err(Errno::EEXIST),
            Some(existing) => {
                self.check_replaceable(existing, kind)?;
                self.entries_mut(to.0)?.remove(to.1);
                self.unname(existing);
            }
            None => {}
        }
        self.entries_mut(from.0)?.remove(from.1);
        self.entries_mut(to.0)?.insert(to.1.to_owned(), ino);
        self.collect();
        Ok(())
    }

    /// The live entries of `dir`, with `.` and `..` (whose inode number the
    /// kernel ignores).
    pub(crate) fn read_dir(&self, dir: Ino) -> Result<Vec<(Ino, FileType, OsString)>, Errno> {
        let mut list = vec![
            (dir, FileType::Directory, ".".into()),
            (dir, FileType::Directory, "..".into()),
        ];
        for (name, &ino) in self.entries(dir)? {
            list.push((ino, self.node(ino)?.kind(), name.clone()));
        }
        Ok(list)
    }

    pub(crate) fn read(&self, ino: Ino, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let data = self.data(ino)?;
        let start = usize::try_from(offset).map_or(data.len(), |o| o.min(data.len()));
        let end = start.saturating_add(size as usize).min(data.len());
        Ok(data[start..end].to_vec())
    }

    pub(crate) fn write(&mut self, ino: Ino, offset: u64, bytes: &[u8]) -> Result<u32, Errno> {
        let written = u32::try_from(bytes.len()).map_err(|_| Errno::EFBIG)?;
        let start = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
        let end = start.checked_add(bytes.len()).ok_or(Errno::EFBIG)?;
        let data = self.data_mut(ino)?;
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(bytes);
        Ok(written)
    }

    /// `truncate(2)`: cuts or zero-extends the live bytes.
    pub(crate) fn set_size(&mut self, ino: Ino, size: u64) -> Result<(), Errno> {
        let size = usize::try_from(size).map_err(|_| Errno::EFBIG)?;
        self.data_mut(ino)?.resize(size, 0);
        Ok(())
    }

    /// `fallocate(2)`. Space is not modelled, so keeping the size is a
    /// no-op; punching a hole zeroes the range; mode 0 may extend the size.
    pub(crate) fn fallocate(
        &mut self,
        ino: Ino,
        offset: u64,
        length: u64,
        mode: i32,
    ) -> Result<(), Errno> {
        let start = usize::try_from(offset).map_err(|_| Errno::EFBIG)?;
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| start.checked_add(length))
            .ok_or(Errno::EFBIG)?;
        let data = self.data_mut(ino)?;
        let keep_size = libc::FALLOC_FL_KEEP_SIZE;
        match mode {
            0 if data.len() < end => data.resize(end, 0),
            0 => {}
            m if m == keep_size => {}
            m if m == keep_size | libc::FALLOC_FL_PUNCH_HOLE => {
                let end = end.min(data.len());
                if start < end {
                    data[start..end].fill(0);
                }
            }
            _ => return Err(Errno::EOPNOTSUPP),
        }
        Ok(())
    }

    pub(crate) fn set_perm(&mut self, ino: Ino, perm: u16) -> Result<(), Errno> {
        let node = self.node_mut(ino)?;
        node.perm = perm;
        node.ctime = SystemTime::now();
        Ok(())
    }

    pub(crate) fn set_owner(
        &mut self,
        ino: Ino,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<(), Errno> {
        let node = self.node_mut(ino)?;
        node.uid = uid.unwrap_or(node.uid);
        node.gid = gid.unwrap_or(node.gid);
        node.ctime = SystemTime::now();
        Ok(())
    }

    pub(crate) fn set_times(
        &mut self,
        ino: Ino,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> Result<(), Errno> {
        let node = self.node_mut(ino)?;
        node.atime = atime.unwrap_or(node.atime);
        node.mtime = mtime.unwrap_or(node.mtime);
        Ok(())
    }

    pub(crate) fn open(&mut self, ino: Ino) -> Result<(), Errno> {
        self.node_mut(ino)?.open += 1;
        Ok(())
    }

    pub(crate) fn release(&mut self, ino: Ino) {
        if let Some(node) = self.inodes.get_mut(&ino) {
            node.open = node.open.saturating_sub(1);
        }
        self.collect();
    }

    /// `fsync(2)` or `fdatasync(2)` of a file (its bytes and size become
    /// durable), or of a directory (its entries do).
    pub(crate) fn fsync(&mut self, ino: Ino) -> Result<(), Errno> {
        match &mut self.node_mut(ino)?.content {
            Content::File { live, durable } => durable.clone_from(live),
            Content::Dir { live, durable } => durable.clone_from(live),
        }
        // Names the directory dropped durably may free their inodes.
        self.collect();
        Ok(())
    }

    /// The mount is gone: no file is open any more (the kernel may not have
    /// sent every release), and a clean unmount made everything durable.
    pub(crate) fn unmounted(&mut self) {
        for node in self.inodes.values_mut() {
            node.open = 0;
            if !self.cut {
                match &mut node.content {
                    Content::File { live, durable } => durable.clone_from(live),
                    Content::Dir { live, durable } => durable.clone_from(live),
                }
            }
        }
        self.collect();
    }

    /// Cuts the power: from now on the FUSE layer fails every operation, and
    /// the disk holds only what was durable.
    pub(crate) fn power_cut(&mut self) {
        if self.cut {
            return;
        }
        self.cut = true;
        // After a reboot a file has one link per durable name reaching it.
        let mut names: HashMap<Ino, u32> = HashMap::new();
        let mut reached = HashSet::from([ROOT]);
        let mut stack = vec![ROOT];
        while let Some(ino) = stack.pop() {
            if let Some(Content::Dir { durable, .. }) = self.inodes.get(&ino).map(|n| &n.content) {
                for &child in durable.values() {
                    *names.entry(child).or_default() += 1;
                    if reached.insert(child) {
                        stack.push(child);
                    }
                }
            }
        }
        self.inodes.retain(|ino, _| reached.contains(ino));
        for (ino, node) in &mut self.inodes {
            node.open = 0;
            node.nlink = names.get(ino).copied().unwrap_or(1);
            match &mut node.content {
                Content::File { live, durable } => live.clone_from(durable),
                Content::Dir { live, durable } => live.clone_from(durable),
            }
        }
    }

    /// Turns the power back on (after a cut, the durable state is what is served).
    pub(crate) fn power_on(&mut self) {
        self.cut = false;
    }

    /// Forgets inodes nothing can reach any more: no live or durable name
    /// (through directories themselves reachable) and no open handle.
    fn collect(&mut self) {
        let mut stack: Vec<Ino> = vec![ROOT];
        stack.extend(
            self.inodes
                .iter()
                .filter(|(_, node)| node.open > 0)
                .map(|(&ino, _)| ino),
        );
        let mut keep = HashSet::new();
        while let Some(ino) = stack.pop() {
            if !keep.insert(ino) {
                continue;
            }
            if let Some(Content::Dir { live, durable }) = self.inodes.get(&ino).map(|n| &n.content)
            {
                stack.extend(live.values().chain(durable.values()).copied());
            }
        }
        self.inodes.retain(|ino, _| keep.contains(ino));
    }

    /// Inodes held in memory (for tests).
    #[cfg(test)]
    pub(crate) fn inode_count(&self) -> usize {
        self.inodes.len()
    }
}

/// How long the kernel may cache names and attributes. Only this mount
/// changes the disk, and a power cut is followed by a fresh mount, so the
/// kernel's caches stay right.
pub(crate) const TTL: Duration = Duration::from_secs(1);
