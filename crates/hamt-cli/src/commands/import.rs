//! `hamt import DIR`: a directory tree as key = relative path, value = file bytes.
//!
//! Streaming with bounded memory: files are read and hashed (into their raw
//! block, or UnixFS blocks past 1 MiB) by a bounded set of blocking tasks,
//! at most `jobs` files in flight; their blocks are written in batches as
//! they come, and only the links go into a sorted `hamt::Import`, which
//! builds the tree in key-hash order at the end (each node written once,
//! memory bounded by the map's budget however many files there are).
//! Blocks are built exactly as `Hamt::insert` builds them, so the root CID
//! is the one py-hamt gives for the same entries.
//!
//! The walk reads regular files, and files that symbolic links inside the
//! directory point to; a link that resolves outside it stops the import
//! ([`WalkError::SymlinkOutside`]) unless `--follow-symlinks`: importing a
//! directory someone else can write to must not publish, say, `~/.ssh`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::stream::{self, StreamExt};
use hamt::Hamt;
use hamt_codec::{BlockCodec, Cid, HashAlgorithm};
use hamt_sharded::ShardedMap;
use hamt_store::{Block, Bytes};
use serde_json::json;

use crate::backend::{Backend, DynHamt};
use crate::commands::history::{CommitTo, commit_result};
use crate::error::{CliError, Context, Result};
use crate::output::{Output, mib, per_second};

/// New blocks held before they are written in one batch.
const WRITE_BATCH_BYTES: usize = 32 << 20;

/// What `hamt import` reads: the directory and how.
pub(crate) struct Source<'a> {
    /// The directory to import.
    pub(crate) dir: &'a Path,
    /// Read files that symbolic links point to outside `dir` too.
    pub(crate) follow_symlinks: bool,
    /// Files read and hashed at once (default: 2 x CPUs).
    pub(crate) jobs: Option<usize>,
}

/// Why the directory walk stopped, naming the path involved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WalkError {
    /// The directory to import is something else.
    #[error("cannot import {}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// A symbolic link resolves outside the directory imported.
    #[error(
        "{} is a symbolic link to {}, outside {}: not imported (pass --follow-symlinks to read it anyway)",
        path.display(), target.display(), root.display()
    )]
    SymlinkOutside {
        /// The link, under the directory imported.
        path: PathBuf,
        /// What it resolves to.
        target: PathBuf,
        /// The directory imported (resolved).
        root: PathBuf,
    },
    /// A file name that cannot be a key.
    #[error("cannot import {}: its name is not valid UTF-8 (keys are UTF-8 strings)", .0.display())]
    NotUtf8(PathBuf),
    /// Listing, resolving or reading the metadata of a path failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done: "list", "stat", …
        what: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}

impl From<WalkError> for CliError {
    fn from(error: WalkError) -> Self {
        CliError::new(error.to_string())
    }
}

/// A file to import.
#[derive(Debug)]
struct SourceFile {
    path: PathBuf,
    key: String,
    len: u64,
}

/// A file read and hashed: its link and the blocks that make its value.
struct HashedFile {
    key: String,
    link: Cid,
    blocks: Vec<Block>,
    len: u64,
}

pub(crate) async fn run(
    backend: &Backend,
    out: Output,
    source: &Source<'_>,
    name: Option<&str>,
    commit: Option<&CommitTo>,
) -> Result<Cid> {
    let started = Instant::now();
    backend.check_name(name)?;
    let files = list_files(source.dir, source.follow_symlinks)?;
    let total_bytes: u64 = files.iter().map(|f| f.len).sum();
    let file_count = files.len() as u64;
    let jobs = source.jobs.unwrap_or_else(default_jobs).max(1);
    let bar = out.bytes_bar(total_bytes, "importing");

    let mut map = Hamt::new(backend.blocks.clone(), backend.hamt_config());
    let mut writer = BlockBatcher::default();
    let mut hashed = read_and_hash_all(files, backend.blocks.hash_algorithm(), jobs);
    let mut done = 0u64;
    let mut import = map.import();
    while let Some(file) = hashed.next().await {
        let file = file?;
        import
            .insert_link(&file.key, file.link)
            .context(|| format!("insert key {:?}", file.key))?;
        writer.add(backend, file.blocks).await?;
        done += 1;
        bar.inc(file.len);
        bar.set_message(format!("{done}/{file_count} files"));
    }
    writer.write(backend).await?;
    bar.set_message(format!("{done}/{file_count} files: building the tree"));
    import
        .finish()
        .await
        .context(|| format!("build the HAMT on {}", backend.label))?;
    let root = flush(&mut map, backend).await?;
    backend.commit_root(out, &root, name).await?;
    let committed = commit_result(backend, out, commit, root).await?;
    bar.finish_and_clear();
    report(
        out,
        root,
        (name, committed),
        file_count,
        total_bytes,
        started,
    );
    Ok(root)
}

/// `hamt import DIR --sharded`: the same tree as a sharded store (py-hamt's
/// `ShardedZarrStore`, v2) with `chunks_per_shard` chunks per shard. Files
/// are read and hashed as for a HAMT; metadata goes first (shallowest
/// first), so every array's index exists before its chunks, which are then
/// linked into their shards (`set_pointer`: no data is read back). Changed
/// shards are written out past the map's budget, so memory stays bounded.
pub(crate) async fn run_sharded(
    backend: &Backend,
    out: Output,
    source: &Source<'_>,
    name: Option<&str>,
    chunks_per_shard: u64,
    commit: Option<&CommitTo>,
) -> Result<Cid> {
    let started = Instant::now();
    backend.check_name(name)?;
    let mut files = list_files(source.dir, source.follow_symlinks)?;
    files.sort_by(|a, b| {
        let rank = |f: &SourceFile| {
            (
                !hamt_sharded::is_metadata_key(&f.key),
                f.key.matches('/').count(),
            )
        };
        rank(a).cmp(&rank(b)).then_with(|| a.key.cmp(&b.key))
    });
    let total_bytes: u64 = files.iter().map(|f| f.len).sum();
    let file_count = files.len() as u64;
    let jobs = source.jobs.unwrap_or_else(default_jobs).max(1);
    let bar = out.bytes_bar(total_bytes, "importing");

    let mut map = ShardedMap::new(backend.blocks.clone(), chunks_per_shard)
        .context(|| "--chunks-per-shard".into())?;
    let mut writer = BlockBatcher::default();
    let mut hashed = read_and_hash_all(files, backend.blocks.hash_algorithm(), jobs);
    let mut done = 0u64;
    while let Some(file) = hashed.next().await {
        let file = file?;
        writer.add(backend, file.blocks).await?;
        let is_chunk = map
            .chunk_key_of(&file.key)
            .context(|| format!("import {:?}", file.key))?
            .is_some();
        if !is_chunk {
            // Metadata is read back (to register arrays): its block must be stored.
            writer.write(backend).await?;
        }
        map.set_pointer(&file.key, file.link)
            .await
            .context(|| format!("import {:?}", file.key))?;
        done += 1;
        bar.inc(file.len);
        bar.set_message(format!("{done}/{file_count} files"));
    }
    writer.write(backend).await?;
    let root = map
        .flush()
        .await
        .context(|| format!("write the sharded store to {}", backend.label))?;
    backend.commit_root(out, &root, name).await?;
    let committed = commit_result(backend, out, commit, root).await?;
    bar.finish_and_clear();
    report(
        out,
        root,
        (name, committed),
        file_count,
        total_bytes,
        started,
    );
    Ok(root)
}

fn report(
    out: Output,
    root: Cid,
    (name, commit): (Option<&str>, Option<Cid>),
    files: u64,
    bytes: u64,
    started: Instant,
) {
    let elapsed = started.elapsed();
    out.print(
        || root.to_string(),
        || {
            json!({"root": root.to_string(), "name": name, "files": files, "bytes": bytes,
                   "seconds": elapsed.as_secs_f64(), "commit": commit.map(|c| c.to_string())})
        },
    );
    out.note(|| {
        format!(
            "imported {files} files, {:.1} MiB in {:.2} s: {:.0} keys/s, {:.1} MiB/s{}",
            mib(bytes),
            elapsed.as_secs_f64(),
            per_second(files, elapsed),
            per_second(bytes, elapsed) / 1_048_576.0,
            name.map(|n| format!(", named {n:?}")).unwrap_or_default(),
        )
    });
}

async fn flush(map: &mut DynHamt, backend: &Backend) -> Result<Cid> {
    map.flush()
        .await
        .context(|| format!("write the HAMT to {}", backend.label))
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 2)
}

/// Blocks waiting to be written together.
#[derive(Default)]
struct BlockBatcher {
    blocks: Vec<Block>,
    bytes: usize,
}

impl BlockBatcher {
    async fn add(&mut self, backend: &Backend, blocks: Vec<Block>) -> Result<()> {
        self.bytes += blocks.iter().map(|b| b.data().len()).sum::<usize>();
        self.blocks.extend(blocks);
        if self.bytes >= WRITE_BATCH_BYTES {
            self.write(backend).await?;
        }
        Ok(())
    }

    async fn write(&mut self, backend: &Backend) -> Result<()> {
        if self.blocks.is_empty() {
            return Ok(());
        }
        let blocks = std::mem::take(&mut self.blocks);
        self.bytes = 0;
        backend
            .blocks
            .put_many(blocks)
            .await
            .context(|| format!("write blocks to {}", backend.label))
    }
}

/// The files read and hashed on `jobs` blocking threads, in their order.
fn read_and_hash_all(
    files: Vec<SourceFile>,
    hash: HashAlgorithm,
    jobs: usize,
) -> impl futures::Stream<Item = Result<HashedFile>> {
    stream::iter(files)
        .map(move |file| tokio::task::spawn_blocking(move || read_and_hash(&file, hash)))
        .buffered(jobs)
        .map(|joined| joined.context(|| "a file-reading task failed".into())?)
}

fn read_and_hash(file: &SourceFile, hash: HashAlgorithm) -> Result<HashedFile> {
    let data =
        Bytes::from(std::fs::read(&file.path).context(|| format!("read {}", file.path.display()))?);
    let len = data.len() as u64;
    let (link, blocks) = if data.len() <= hamt_unixfs::CHUNK_SIZE {
        let block = Block::new(BlockCodec::Raw, hash, data);
        (*block.cid(), vec![block])
    } else {
        hamt_unixfs::build_file_bytes(&data, hash)
    };
    Ok(HashedFile {
        key: file.key.clone(),
        link,
        blocks,
        len,
    })
}

/// Every regular file under `root`, sorted by key. Symbolic links to files
/// inside `root` are followed; a link that resolves outside `root` (to a
/// file or a directory) is an error unless `follow_symlinks`, and then a
/// link to a file is followed. Links to directories are never followed
/// (they can loop).
fn list_files(root: &Path, follow_symlinks: bool) -> Result<Vec<SourceFile>, WalkError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| WalkError::Io { what, path, source }
    };
    let meta = std::fs::metadata(root).map_err(io("cannot import", root))?;
    if !meta.is_dir() {
        return Err(WalkError::NotADirectory(root.to_path_buf()));
    }
    let resolved_root = std::fs::canonicalize(root).map_err(io("resolve", root))?;
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(io("list", &dir))?;
        for entry in entries {
            let entry = entry.map_err(io("list", &dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io("stat", &path))?;
            if kind.is_dir() {
                dirs.push(path);
                continue;
            }
            if kind.is_symlink() {
                let target =
                    std::fs::canonicalize(&path).map_err(io("resolve the symbolic link", &path))?;
                if !follow_symlinks && !target.starts_with(&resolved_root) {
                    return Err(WalkError::SymlinkOutside {
                        path,
                        target,
                        root: resolved_root,
                    });
                }
            }
            let meta = std::fs::metadata(&path).map_err(io("stat", &path))?;
            if meta.is_file() {
                let key = key_for(root, &path)?;
                files.push(SourceFile {
                    path,
                    key,
                    len: meta.len(),
                });
            }
        }
    }
    files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(files)
}

/// The key of a file: its path relative to `root`, components joined by `/`.
fn key_for(root: &Path, path: &Path) -> Result<String, WalkError> {
    let relative = path.strip_prefix(root).map_err(|_| WalkError::Io {
        what: "find the key of",
        path: path.to_path_buf(),
        source: io::Error::other(format!("not under {}", root.display())),
    })?;
    let parts: Option<Vec<&str>> = relative.iter().map(|part| part.to_str()).collect();
    match parts {
        Some(parts) => Ok(parts.join("/")),
        None => Err(WalkError::NotUtf8(path.to_path_buf())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn keys_use_forward_slashes() {
        let root = Path::new("/data/ds");
        let key = key_for(root, &root.join("temp").join("c").join("0")).unwrap();
        assert_eq!(key, "temp/c/0");
    }

    /// A link to a file outside the directory stops the walk, naming the
    /// link; `follow_symlinks` reads it. Links inside are followed either way.
    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_directory_are_refused_unless_followed() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::TempDir::new().unwrap();
        let root = tmp.path().join("ds");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a"), b"inside").unwrap();
        std::fs::write(tmp.path().join("secret"), b"outside").unwrap();
        symlink(root.join("sub/a"), root.join("inner-link")).unwrap();
        let keys = |files: Vec<SourceFile>| files.into_iter().map(|f| f.key).collect::<Vec<_>>();
        assert_eq!(
            keys(list_files(&root, false).unwrap()),
            ["inner-link", "sub/a"]
        );

        symlink(tmp.path().join("secret"), root.join("sub/leak")).unwrap();
        match list_files(&root, false) {
            Err(WalkError::SymlinkOutside { path, target, .. }) => {
                assert_eq!(path, root.join("sub/leak"));
                assert_eq!(target, tmp.path().join("secret").canonicalize().unwrap());
            }
            other => panic!("expected SymlinkOutside, got {:?}", other.map(keys)),
        }
        let message = list_files(&root, false).unwrap_err().to_string();
        assert!(
            message.contains("sub/leak") && message.contains("--follow-symlinks"),
            "{message}"
        );
        assert_eq!(
            keys(list_files(&root, true).unwrap()),
            ["inner-link", "sub/a", "sub/leak"]
        );

        // A link to a directory outside is refused too; followed, it is skipped (as links to directories are).
        std::fs::remove_file(root.join("sub/leak")).unwrap();
        symlink(tmp.path(), root.join("up")).unwrap();
        assert!(matches!(
            list_files(&root, false),
            Err(WalkError::SymlinkOutside { .. })
        ));
        assert_eq!(
            keys(list_files(&root, true).unwrap()),
            ["inner-link", "sub/a"]
        );
    }
}
