//! The command line, as clap derive types. Doc comments here are the `--help` text.

// The doc comments are `--help` text read in a terminal, where Markdown
// backticks and angle-bracketed URLs would show literally.
#![allow(clippy::doc_markdown, rustdoc::bare_urls)]

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};

/// Very large key-value maps (zarr v3 datasets) as py-hamt-compatible HAMTs
/// in content-addressed storage.
///
/// Blocks live in the embedded RocksDB store by default ($HAMT_STORE, else
/// $XDG_DATA_HOME/hamt or ~/.local/share/hamt); --kubo uses an IPFS daemon.
/// ROOT is a CID or the name of a root recorded with --name: in the embedded
/// store, or with --kubo on the daemon (a file /hamt-roots/NAME in its MFS).
/// With --kubo every command that writes a new root pins it recursively, so
/// the daemon's GC keeps it (--no-pin: don't).
///
/// Exit codes: 0 ok, 1 error, 2 usage, 3 verify found missing or corrupt blocks,
/// 4 conflict (a branch moved meanwhile, or a merge found keys both sides changed).
#[derive(Debug, Parser)]
#[command(name = "hamt", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Print results as JSON (one document on stdout).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// No progress bars or summaries on stderr.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    /// Log store requests, node loads and zarr reads (spans with their
    /// timings) on stderr, and end with a summary of requests, bytes,
    /// retries and cache hits. RUST_LOG picks what is logged (e.g.
    /// hamt_kubo=debug; default: debug for this project's crates).
    #[arg(long, global = true)]
    pub(crate) trace: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

impl Cli {
    /// Parses the command line, exiting with a usage error (2) as clap
    /// does. Also checks what clap misses: a global flag given before the
    /// subcommand escapes its `requires` (checked only after it), so
    /// --gateway and --no-pin are checked to come with --kubo here.
    pub(crate) fn parse_checked() -> Self {
        let cli = Self::parse();
        if cli.store.kubo.is_none() {
            let lonely = if cli.store.no_pin {
                Some("--no-pin")
            } else if cli.store.gateway.is_empty() {
                None
            } else {
                Some("--gateway")
            };
            if let Some(flag) = lonely {
                Self::command()
                    .error(
                        ErrorKind::MissingRequiredArgument,
                        format!("{flag} needs --kubo <RPC_URL>"),
                    )
                    .exit();
            }
        }
        cli
    }
}

/// Where blocks are read and written.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The embedded store's directory (default: $HAMT_STORE, else the platform data dir).
    #[arg(long, global = true, value_name = "DIR", conflicts_with_all = ["kubo", "memory"])]
    pub(crate) store: Option<PathBuf>,
    /// Use the IPFS (Kubo) daemon with this RPC URL instead, e.g. http://127.0.0.1:5001.
    #[arg(long, global = true, value_name = "RPC_URL", conflicts_with = "memory")]
    pub(crate) kubo: Option<String>,
    /// With --kubo: read blocks from this trustless gateway (repeatable).
    #[arg(long, global = true, value_name = "URL", requires = "kubo")]
    pub(crate) gateway: Vec<String>,
    /// With --kubo: do not pin the new roots written (import, convert, graft,
    /// put, rm, car import, demo), and leave pins alone when a --name moves.
    /// By default each is pinned recursively, so the daemon's GC keeps it, and
    /// the root a name moved off is unpinned unless another name points at it.
    #[arg(long, global = true, requires = "kubo")]
    pub(crate) no_pin: bool,
    /// How long a command that writes the embedded store waits for another
    /// writer (one process at a time) to finish before it fails.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30)]
    pub(crate) lock_wait: u64,
    /// Use a throwaway in-memory store: computes root CIDs and checks CARs, keeps nothing.
    #[arg(long, global = true)]
    pub(crate) memory: bool,
    /// The most bytes one value read (get, export) returns. A value over
    /// 1 MiB is a UnixFS file whose root declares its size, and a hostile
    /// one can declare petabytes: larger reads are refused before anything
    /// is allocated. Default 1 GiB.
    #[arg(long, global = true, value_name = "BYTES", default_value_t = hamt_unixfs::DEFAULT_MAX_READ)]
    pub(crate) max_value_read: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Import a directory tree (e.g. a zarr v3 directory store): key = relative path, value = file bytes.
    Import {
        /// The directory to import.
        dir: PathBuf,
        /// Record the root under this name once it is durable (and pinned, with --kubo).
        #[arg(long)]
        name: Option<String>,
        /// Read files that symbolic links point to outside DIR too (by default
        /// such a link stops the import; links to files inside DIR are
        /// followed, links to directories never).
        #[arg(long)]
        follow_symlinks: bool,
        /// Files read and hashed at once (default: 2 x CPUs).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
        /// Write py-hamt's sharded layout (ShardedZarrStore, v2) instead of a HAMT:
        /// each array's chunk CIDs in shards, found by arithmetic and one read.
        #[arg(long)]
        sharded: bool,
        /// With --sharded: chunks per shard.
        #[arg(long, value_name = "N", requires = "sharded", default_value_t = hamt_zarr::DEFAULT_CHUNKS_PER_SHARD)]
        chunks_per_shard: u64,
        /// Commit the new root on this branch: only if the
        /// branch has not moved since the command began, else exit 4.
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
        /// With --branch: the commit message (default: the command).
        #[arg(short, long, requires = "branch")]
        message: Option<String>,
    },
    /// Rewrite a HAMT dataset in py-hamt's sharded layout by copying CIDs (no chunk is read), or migrate a sharded_zarr_v1 store to v2; prints the new root.
    Convert {
        /// Root CID or name of the HAMT dataset (or v1 sharded store).
        root: String,
        /// Chunks per shard.
        #[arg(long, value_name = "N", default_value_t = hamt_zarr::DEFAULT_CHUNKS_PER_SHARD)]
        chunks_per_shard: u64,
        /// For a v1 sharded store: the array path its one index belongs to in v2 (e.g. 0/t2m).
        #[arg(long, value_name = "PATH")]
        primary_array: Option<String>,
        /// Record the new root under this name (moving it from the root it named).
        #[arg(long)]
        name: Option<String>,
    },
    /// Link every chunk of SOURCE's arrays into TARGET at a chunk offset (sharded stores; no data is copied); prints the new root.
    ///
    /// By default every array of SOURCE with as many dimensions as --at has
    /// coordinates is grafted into the array of the same path in TARGET.
    Graft {
        /// The sharded store to graft into (root CID or name).
        target: String,
        /// The sharded store whose chunks are linked in (root CID or name).
        source: String,
        /// Where SOURCE's first chunk lands, in chunk coordinates, e.g. 4,0,0.
        #[arg(long, value_name = "I,J,...")]
        at: String,
        /// Only this array (its path, e.g. 0/temp).
        #[arg(long, value_name = "PATH")]
        array: Option<String>,
        /// First grow each target array (its zarr.json shape and index) to fit SOURCE at --at.
        #[arg(long)]
        grow: bool,
        /// Record the new root under this name (moving it from the root it named).
        #[arg(long)]
        name: Option<String>,
    },
    /// Write every key of ROOT as a file under DIR.
    Export {
        /// Root CID or name.
        root: String,
        /// Target directory (created if needed; existing files are overwritten).
        dir: PathBuf,
    },
    /// Write the value of KEY to stdout.
    Get {
        /// Root CID or name.
        root: String,
        /// The key.
        key: String,
        /// Only bytes START up to END (END exclusive, as `value[START:END]`); `START-` reads to the end.
        #[arg(long, value_name = "START-END", conflicts_with = "suffix")]
        range: Option<String>,
        /// Only the last N bytes.
        #[arg(long, value_name = "N")]
        suffix: Option<u64>,
    },
    /// Set KEY to the contents of FILE; prints the new root.
    Put {
        /// Root CID or name.
        root: String,
        /// The key.
        key: String,
        /// The file whose bytes become the value.
        file: PathBuf,
        /// Record the new root under this name (moving it from the root it named).
        #[arg(long)]
        name: Option<String>,
        /// Commit the new root on this branch: only if the
        /// branch has not moved since the command began, else exit 4.
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
        /// With --branch: the commit message (default: the command).
        #[arg(short, long, requires = "branch")]
        message: Option<String>,
    },
    /// Remove KEY; prints the new root.
    Rm {
        /// Root CID or name.
        root: String,
        /// The key.
        key: String,
        /// Record the new root under this name (moving it from the root it named).
        #[arg(long)]
        name: Option<String>,
        /// Commit the new root on this branch: only if the
        /// branch has not moved since the command began, else exit 4.
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
        /// With --branch: the commit message (default: the command).
        #[arg(short, long, requires = "branch")]
        message: Option<String>,
    },
    /// List keys (sorted), optionally only those starting with PREFIX.
    Ls {
        /// Root CID or name.
        root: String,
        /// Only keys starting with this.
        prefix: Option<String>,
        /// List the next path level under PREFIX instead: `name` for a key, `name/` for a directory.
        #[arg(long)]
        dirs: bool,
    },
    /// Keys, nodes and depth histogram (a HAMT) or arrays and shards (a sharded store); bytes and blocks.
    Stat {
        /// Root CID or name.
        root: String,
    },
    /// Keys added, removed and changed from ROOT_A to ROOT_B.
    Diff {
        /// The old root (CID or name).
        root_a: String,
        /// The new root (CID or name).
        root_b: String,
    },
    /// CAR (v1) files: export a root with every block it reaches, or import one.
    Car {
        #[command(subcommand)]
        command: CarCommand,
    },
    /// Read and re-hash every block reachable from ROOT; report missing and corrupt ones (exit 3).
    Verify {
        /// Root CID or name.
        root: String,
    },
    /// List the named roots: the embedded store's, or with --kubo the daemon's
    /// (the files under /hamt-roots in its MFS, and whether each root is pinned).
    Roots,
    /// Remove blocks of the embedded store unreachable from any named root.
    ///
    /// With --kubo: run the daemon's own GC (repo/gc), which removes every
    /// block not kept by a pin or by MFS, for every user of the daemon and with
    /// no grace period (a write in progress may lose blocks). hamt pins the
    /// roots it writes unless --no-pin, so those are kept.
    Gc {
        /// Keep unreachable blocks written less than this many seconds ago
        /// (default: 3600). Embedded store only: the daemon's GC has none.
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
    },
    /// Record ROOT as a new commit on a branch (created if new); prints the commit's CID.
    ///
    /// The branch moves only from the commit it named when this started: if
    /// another writer committed meanwhile, nothing moves and the command
    /// fails naming both commits. Anywhere a ROOT is asked for, a revision
    /// works too: BRANCH, TAG, a commit CID, then ~N (N commits back) or
    /// @{TIME} (the newest commit at or before TIME: Unix seconds,
    /// YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC).
    Commit {
        /// Root CID, name or revision of the dataset to commit.
        root: String,
        /// Why.
        #[arg(short, long)]
        message: String,
        /// The branch.
        #[arg(long, default_value = "main")]
        branch: String,
        /// Commit only after this commit (a revision): the branch head the
        /// dataset was made from. If the branch has moved on since, nothing
        /// moves and the exit code is 4 (default: the head now).
        #[arg(long, value_name = "REVISION")]
        parent: Option<String>,
        /// Who (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// Commits from REVISION back along first parents: CID, time (UTC), author, message, dataset root.
    Log {
        /// Where to start (a branch, tag or commit, with ~N or @{TIME}).
        #[arg(default_value = "main")]
        revision: String,
        /// At most this many commits.
        #[arg(short = 'n', long, default_value_t = 20)]
        max_count: usize,
        /// Leave out each commit's key count and changes from its parent
        /// (they cost a count of the newest dataset's keys and a diff per
        /// commit, which reads only what changed).
        #[arg(long)]
        no_stat: bool,
    },
    /// Merge a revision into a branch: a fast-forward when the branch is behind it, else a
    /// three-way merge of the datasets (HAMT layout) from their nearest common ancestor,
    /// committed with both as parents; prints the branch's new commit.
    ///
    /// Keys changed on one side only are taken from it; a key both sides
    /// changed the same way is no conflict. Keys both changed differently
    /// are a conflict: nothing is written, they are listed, and the exit
    /// code is 4.
    Merge {
        /// What to merge (a branch, tag or commit, with ~N or @{TIME}).
        revision: String,
        /// The branch to merge into.
        #[arg(long, default_value = "main")]
        into: String,
        /// The merge commit's message (default: "Merge REVISION into BRANCH").
        #[arg(short, long)]
        message: Option<String>,
        /// Who (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// Print the dataset root a revision names (e.g. main@{2026-12-01}, main~2, a tag).
    Checkout {
        /// The revision.
        revision: String,
    },
    /// Name a revision's commit as a tag; tags never move.
    Tag {
        /// The tag.
        name: String,
        /// The revision to tag.
        #[arg(default_value = "main")]
        revision: String,
    },
    /// Create a branch at a revision; without arguments, list branches and tags.
    Branch {
        /// The new branch.
        name: Option<String>,
        /// Where it starts.
        #[arg(default_value = "main", requires = "name")]
        revision: String,
    },
    /// Drop history older than a cutoff (embedded store): each branch moves to a rewrite of
    /// its commits made at or after it; then `hamt gc` removes what only the old history reached.
    ///
    /// For each branch, its head (always) and every commit reached from it
    /// through commits made at or after the cutoff are kept and written
    /// again with the same dataset, time, author, message and metadata; the
    /// oldest kept becomes the first commit (recording the cutoff in its
    /// metadata as expired-before). Tags on kept commits move to their
    /// rewrites; tags on expired commits are removed (--keep-tags: tags stay
    /// as they are, and keep their whole history). Each ref moves by
    /// compare-and-swap: a branch another writer moved meanwhile is left as
    /// it is and the command exits 4 after expiring the others; run it again
    /// to finish.
    Expire {
        /// The cutoff: a duration before now (30d, 12h, 90m, 3600s) or a
        /// time (Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC).
        #[arg(long, value_name = "DURATION", value_parser = crate::commands::expire::parse_older_than)]
        older_than: crate::commands::expire::OlderThan,
        /// Leave tags as they are (a GC then keeps each tag's whole history).
        #[arg(long)]
        keep_tags: bool,
        /// Expire only this branch (repeat for more; default: every branch).
        #[arg(long = "branch", value_name = "BRANCH")]
        branches: Vec<String>,
    },
    /// Write a synthetic climate dataset through zarrs, name it demo, reopen it from its CID, check it, time it.
    Demo {
        /// Days of 720 x 360 float32 temperature, one ~1 MiB chunk each.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
        days: u64,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CarCommand {
    /// Write ROOT and every block it reaches (nodes, values, UnixFS blocks) to FILE.
    ///
    /// When ROOT is a revision (a branch, tag or commit CID, with ~N or
    /// @{TIME}) the CAR's root is the commit, and the file holds its whole
    /// history: the commit, every ancestor through every parent, and each
    /// commit's dataset, every block once. `hamt car import FILE --branch B`
    /// brings it back as a branch.
    Export {
        /// Root CID or name, or a revision (branch, tag, commit CID; ~N, @{TIME}).
        root: String,
        /// The CAR file to write.
        file: PathBuf,
        /// Only the N newest commits of the history (N generations back
        /// from ROOT, through every parent) with their datasets: a shallow
        /// history, whose oldest commits link parents not in the file. It
        /// imports into a store that holds those parents already.
        #[arg(long, value_name = "N", conflicts_with = "no_history")]
        depth: Option<std::num::NonZeroU64>,
        /// Only the dataset of ROOT's commit (its root in the CAR's header), no commits.
        #[arg(long)]
        no_history: bool,
    },
    /// Read FILE, verify every block against its CID, store them, print the roots.
    Import {
        /// The CAR file to read.
        file: PathBuf,
        /// Record the CAR's (single) root under this name once it is durable and complete (and pinned, with --kubo).
        #[arg(long, conflicts_with = "branch")]
        name: Option<String>,
        /// Move this branch (embedded store) to the CAR's root, which must
        /// be a commit (a CAR of `hamt car export REVISION`), once its
        /// blocks are durable and its whole history is held: created if
        /// new, else only as a fast-forward (the branch's head an ancestor
        /// of the commit). Otherwise nothing moves and the exit code is 4.
        /// A shallow CAR (--depth) needs the older history in the store
        /// already.
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
    },
}
