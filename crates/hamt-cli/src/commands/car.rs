//! `hamt car export ROOT FILE` and `hamt car import FILE`: a dataset, or a
//! versioned dataset's history (commits and every commit's dataset), in
//! one CAR file.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::num::NonZeroU64;
use std::path::Path;

use clap::CommandFactory;
use hamt::Cid;
use hamt_codec::LinksError;
use hamt_history::{HistoryStep, HistoryWalk, RefName, Refs, WalkedCommit};
use hamt_store::dag::{BlockLinks, DagWalk, Links, Visit, VisitError};
use hamt_store::{Block, BlockStore, Bytes, StoreError};
use serde_json::json;

use crate::backend::{Backend, CommitOrRoot};
use crate::error::{CliError, Context, Result, fail};
use crate::output::{Output, mib};
use crate::walk::DatasetWalk;
use hamt_car::{CarReader, CarWriter};

/// Blocks written to the store together during an import.
const IMPORT_BATCH_BYTES: usize = 16 << 20;

/// How much of a commit's history `car export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum History {
    /// The commit, all its ancestors and all their datasets.
    Whole,
    /// The commits within this many generations of the commit (`--depth`).
    Newest(NonZeroU64),
    /// The commit's dataset only (`--no-history`).
    DatasetOnly,
}

impl History {
    /// From `--depth` and `--no-history` (which clap keeps apart).
    pub(crate) fn from_flags(depth: Option<NonZeroU64>, no_history: bool) -> Self {
        match (depth, no_history) {
            (_, true) => History::DatasetOnly,
            (Some(depth), false) => History::Newest(depth),
            (None, false) => History::Whole,
        }
    }
}

/// What can go wrong moving a history through a CAR, beyond the CAR and
/// the store themselves.
#[derive(Debug, thiserror::Error)]
enum HistoryCarError {
    /// `--branch` given a CAR whose root is no commit.
    #[error(
        "{file}: --branch needs a CAR whose single root is a commit (as `hamt car export REVISION` writes); its root {root} is not one ({why}); nothing was named"
    )]
    NotACommit {
        file: String,
        root: Cid,
        why: String,
    },
    /// A shallow history whose older part is not in the store.
    #[error(
        "history incomplete below commit {child}: its parent {parent} is neither in {file} nor in {store}; import the older history first, or export with more --depth; nothing was named"
    )]
    HistoryIncomplete {
        child: Cid,
        parent: Cid,
        file: String,
        store: String,
    },
    /// Exporting a whole history the store holds only part of.
    #[error(
        "commit {child} links parent {parent}, which is not in {store}: the history here is shallow; export the newest commits with --depth N, or the dataset alone with --no-history"
    )]
    ShallowStore {
        child: Cid,
        parent: Cid,
        store: String,
    },
    /// The branch is not behind the imported commit.
    #[error(
        "branch {branch:?} is at {head}, which is not an ancestor of the imported commit {commit}: not a fast-forward, so {branch:?} is unchanged (the imported history is stored: merge it with `hamt merge {commit} --into {branch}`)"
    )]
    NotFastForward {
        branch: String,
        head: Cid,
        commit: Cid,
    },
    /// The branch moved while the import ran.
    #[error("{0}; the imported history is stored, unnamed")]
    Moved(Box<hamt_history::Conflict>),
}

impl From<HistoryCarError> for CliError {
    fn from(error: HistoryCarError) -> Self {
        match error {
            HistoryCarError::NotFastForward { .. } | HistoryCarError::Moved(_) => {
                CliError::conflict(error.to_string())
            }
            _ => CliError::new(error.to_string()),
        }
    }
}

/// Writes ROOT and every block it reaches; for a commit, its history and
/// their datasets (as `history` says). The CAR is written under a
/// temporary name, synced to disk and renamed at the end (then the
/// directory is synced), so neither a failed export nor a crash leaves a
/// CAR under FILE that looks complete and is not.
pub(crate) async fn export(
    backend: &Backend,
    out: Output,
    root: &str,
    file: &Path,
    history: History,
) -> Result<()> {
    let (cid, walk_history) = match (backend.resolve_commit_or_root(root).await?, history) {
        (CommitOrRoot::Commit(commit), History::Whole) => (commit, Some(None)),
        (CommitOrRoot::Commit(commit), History::Newest(depth)) => (commit, Some(Some(depth))),
        (CommitOrRoot::Commit(commit), History::DatasetOnly) => {
            (dataset_of(backend, &commit).await?, None)
        }
        (CommitOrRoot::Root(_), History::Newest(_)) => fail!(
            "--depth: {root:?} names a dataset root, not a commit (give a branch, tag or commit)"
        ),
        (CommitOrRoot::Root(cid), _) => (cid, None),
    };
    let partial = hamt_car::partial_path(file);
    let written = match walk_history {
        Some(depth) => write_history_car(backend, out, cid, depth, &partial).await,
        None => write_car(backend, out, cid, &partial).await,
    };
    let result = match written {
        Ok((written, counts)) => hamt_car::publish(written, &partial, file)
            .context(|| {
                format!(
                    "sync {} to disk and rename it to {}",
                    partial.display(),
                    file.display()
                )
            })
            .map(|()| counts),
        Err(e) => Err(e),
    };
    let counts = match result {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let Counts {
        blocks,
        bytes,
        commits,
    } = counts;
    out.print(
        || {
            let what = match commits {
                Some(1) => format!("commit {cid} (a history of one commit)"),
                Some(n) => format!("commit {cid} and its history ({n} commits)"),
                None => cid.to_string(),
            };
            format!(
                "wrote {blocks} blocks ({:.1} MiB) of {what} to {}",
                mib(bytes),
                file.display()
            )
        },
        || {
            let mut summary = json!({"root": cid.to_string(), "blocks": blocks, "bytes": bytes, "file": file.display().to_string()});
            if let Some(n) = commits {
                summary["commits"] = json!(n);
            }
            summary
        },
    );
    Ok(())
}

/// What an export wrote.
struct Counts {
    blocks: u64,
    bytes: u64,
    /// Commits, for a history.
    commits: Option<u64>,
}

/// The dataset root of commit `commit`.
async fn dataset_of(backend: &Backend, commit: &Cid) -> Result<Cid> {
    let bytes = backend
        .blocks
        .get(commit)
        .await
        .context(|| format!("read commit {commit}"))?;
    let commit = hamt_history::Commit::decode(commit, &bytes).context(|| "--no-history".into())?;
    Ok(commit.root)
}

/// Writes the CAR of a dataset to `path`; returns the writer still to
/// publish, and what was written.
async fn write_car(
    backend: &Backend,
    out: Output,
    root: Cid,
    path: &Path,
) -> Result<(BufWriter<File>, Counts)> {
    let file = File::create(path).context(|| format!("create {}", path.display()))?;
    let mut car = CarWriter::new(BufWriter::new(file), &[root])
        .context(|| format!("write {}", path.display()))?;
    let source = backend.for_whole_dag(root, out).await;
    let mut walk = DatasetWalk::open(source.as_ref(), root).await;
    let (mut blocks, mut bytes) = (0u64, 0u64);
    while let Some(batch) = walk.next_batch().await {
        for block in batch {
            let data = block.data.map_err(|problem| {
                CliError::new(format!(
                    "block {} ({}) is {} in {}: cannot export a complete CAR (run `hamt verify`)",
                    block.cid,
                    block.path,
                    problem.label(),
                    backend.label
                ))
            })?;
            car.write_block(&block.cid, &data)
                .context(|| format!("write {}", path.display()))?;
            blocks += 1;
            bytes += data.len() as u64;
        }
    }
    let buffered = car
        .finish()
        .context(|| format!("write {}", path.display()))?;
    Ok((
        buffered,
        Counts {
            blocks,
            bytes,
            commits: None,
        },
    ))
}

/// Writes the CAR of commit `commit` to `path`: the commit, its ancestors
/// (all, or those within `depth` generations), each followed by the blocks
/// of its dataset not written yet. Streams: what it holds is the walks'
/// sets of blocks seen, not the history.
async fn write_history_car(
    backend: &Backend,
    out: Output,
    commit: Cid,
    depth: Option<NonZeroU64>,
    path: &Path,
) -> Result<(BufWriter<File>, Counts)> {
    let file = File::create(path).context(|| format!("create {}", path.display()))?;
    let mut car = CarWriter::new(BufWriter::new(file), &[commit])
        .context(|| format!("write {}", path.display()))?;
    // The gateway's CAR of the commit holds its whole history: worth
    // fetching at once only when all of it is wanted.
    let source = match depth {
        None => backend.for_whole_dag(commit, out).await,
        Some(_) => backend.blocks.clone(),
    };
    let mut walk = HistoryBlocks::new(source.as_ref(), commit, depth, Purpose::Export);
    let (mut blocks, mut bytes, mut commits) = (0u64, 0u64, 0u64);
    while let Some(batch) = walk.next_batch().await? {
        for block in batch {
            let (cid, data) = match block {
                HistoryBlock::Commit(walked) => {
                    commits += 1;
                    (walked.cid, walked.block)
                }
                HistoryBlock::Data(visit) => (visit.cid, exported_data(backend, visit)?),
                HistoryBlock::MissingParent { parent, child } => {
                    return Err(HistoryCarError::ShallowStore {
                        child,
                        parent,
                        store: backend.label.clone(),
                    }
                    .into());
                }
            };
            car.write_block(&cid, &data)
                .context(|| format!("write {}", path.display()))?;
            blocks += 1;
            bytes += data.len() as u64;
        }
    }
    let buffered = car
        .finish()
        .context(|| format!("write {}", path.display()))?;
    Ok((
        buffered,
        Counts {
            blocks,
            bytes,
            commits: Some(commits),
        },
    ))
}

/// A dataset block's bytes for the CAR, or why there are none.
fn exported_data(backend: &Backend, visit: Visit<Cid, LinksError>) -> Result<Bytes> {
    match visit.result {
        Ok(Some(data)) => Ok(data),
        Ok(None) => fail!("block {} was not read (a bug)", visit.cid),
        Err(problem) => fail!(
            "block {} of the dataset of commit {} is {} in {}: cannot export a complete CAR (run `hamt verify {}`)",
            visit.cid,
            visit.tag,
            describe(&problem),
            backend.label,
            visit.tag
        ),
    }
}

/// "missing", "corrupt", or what else is wrong with a block a walk reached.
fn describe(problem: &VisitError<LinksError>) -> String {
    match problem {
        VisitError::Store(StoreError::NotFound(_)) => "missing".into(),
        VisitError::Store(StoreError::Corrupt { .. }) => "corrupt".into(),
        VisitError::Store(other) => format!("unreadable ({other})"),
        VisitError::Links(e) => format!("undecodable ({e})"),
    }
}

/// Why a [`HistoryBlocks`] walk runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Read and verify every block, to write it.
    Export,
    /// Only check that every block is there: leaves are looked up, not
    /// read, and not remembered (a check's memory is the nodes').
    Check,
}

/// One thing a [`HistoryBlocks`] walk reached.
enum HistoryBlock {
    /// A commit.
    Commit(WalkedCommit),
    /// A block of a commit's dataset, tagged with the (newest) commit whose
    /// dataset reached it first.
    Data(Visit<Cid, LinksError>),
    /// A parent the store does not hold.
    MissingParent { parent: Cid, child: Cid },
}

/// Every block of a history: its commits breadth first (each commit once,
/// at most `MAX_WALK`: `hamt_history::HistoryWalk`), each followed by the
/// blocks of its dataset that no newer commit's dataset reached (one walk
/// over all the datasets, so a block they share is visited once).
struct HistoryBlocks<'s> {
    store: &'s (dyn BlockStore + 's),
    commits: HistoryWalk<'s, dyn BlockStore + 's>,
    data: DagWalk<'s, dyn BlockStore + 's, OfCommit, Cid>,
}

impl<'s> HistoryBlocks<'s> {
    fn new(
        store: &'s (dyn BlockStore + 's),
        start: Cid,
        depth: Option<NonZeroU64>,
        purpose: Purpose,
    ) -> Self {
        let mut commits = HistoryWalk::new(store, start);
        if let Some(depth) = depth {
            commits = commits.depth(depth);
        }
        let data = DagWalk::new(store, OfCommit::default());
        let data = match purpose {
            Purpose::Export => data,
            Purpose::Check => data.read_leaves(false).remember_leaves(false),
        };
        HistoryBlocks {
            store,
            commits,
            data,
        }
    }

    /// Leaves the history below `commit` (a commit a name holds, so the
    /// store holds all it reaches) unwalked. Before the walk starts.
    fn known_complete(&mut self, commit: Cid) {
        self.commits.stop_at(&commit);
    }

    /// The next blocks: a batch of dataset blocks, else the next commit
    /// (or missing parent); `None` at the end.
    async fn next_batch(&mut self) -> Result<Option<Vec<HistoryBlock>>> {
        if let Some(batch) = self.data.next_batch().await {
            return Ok(Some(batch.into_iter().map(HistoryBlock::Data).collect()));
        }
        let step = self
            .commits
            .next()
            .await
            .map_err(|e| CliError::new(format!("walk the history: {e}")))?;
        Ok(match step {
            None => None,
            Some(HistoryStep::Commit(walked)) => {
                let root = walked.commit.root;
                // What a sharded store's files link inside their bytes,
                // walked after the dataset (last added, first walked).
                let also = hamt_zarr::links_inside_files(self.store, root)
                    .await
                    .context(|| format!("read dataset {root} of commit {}", walked.cid))?;
                for cid in also.iter().rev() {
                    self.data.add_root(*cid, walked.cid);
                }
                self.data.add_root(root, walked.cid);
                Some(vec![HistoryBlock::Commit(walked)])
            }
            Some(HistoryStep::MissingParent { parent, child }) => {
                Some(vec![HistoryBlock::MissingParent { parent, child }])
            }
        })
    }
}

/// Every link a block's codec defines (what `hamt_car::dag` follows for
/// any layout), each tagged with the commit whose dataset it belongs to.
#[derive(Default)]
struct OfCommit {
    links: BlockLinks,
    scratch: Vec<(Cid, ())>,
}

impl Links<Cid> for OfCommit {
    type Error = LinksError;

    fn links(
        &mut self,
        cid: &Cid,
        commit: &Cid,
        data: &Bytes,
        out: &mut Vec<(Cid, Cid)>,
    ) -> std::result::Result<(), LinksError> {
        self.scratch.clear();
        self.links.links(cid, &(), data, &mut self.scratch)?;
        out.extend(self.scratch.drain(..).map(|(link, ())| (link, *commit)));
        Ok(())
    }
}

/// Reads FILE, verifies every block against its CID, stores them, checks
/// that each root's DAG is complete (for a commit: its history, and every
/// commit's dataset), then names the root (`--name`) or moves a branch to
/// it (`--branch`, a fast-forward or a new branch).
pub(crate) async fn import(
    backend: &Backend,
    out: Output,
    file: &Path,
    name: Option<&str>,
    branch: Option<&str>,
) -> Result<()> {
    if let Some(branch) = branch {
        if backend.kubo.is_some() || backend.rocks("--branch").is_err() {
            crate::cli::Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "car import --branch needs the embedded store, where branches live (not --kubo or --memory); with --kubo, use --name",
                )
                .exit();
        }
        RefName::validate(branch).context(|| "--branch".into())?;
    }
    let input = File::open(file).context(|| format!("open {}", file.display()))?;
    let (mut reader, roots) =
        CarReader::open(BufReader::new(input)).context(|| format!("read {}", file.display()))?;
    let flag = if branch.is_some() {
        "--branch"
    } else {
        "--name"
    };
    if (name.is_some() || branch.is_some()) && roots.len() != 1 {
        fail!(
            "{flag} needs a CAR with exactly one root; {} has {}",
            file.display(),
            roots.len()
        );
    }
    backend.check_name(name)?;
    let (blocks, bytes) = store_blocks(backend, &mut reader, file).await?;
    // Whatever names the root, or pins it (the daemon then fetches what
    // it lacks), needs its whole history here.
    let named = name.is_some() || branch.is_some() || backend.pins_roots();
    let mut commits = Vec::new();
    for root in &roots {
        match check_is_commit(backend, root).await {
            Ok(()) => {
                check_history(backend, out, *root, file, named).await?;
                commits.push(*root);
            }
            Err(why) if branch.is_some() => {
                return Err(HistoryCarError::NotACommit {
                    file: file.display().to_string(),
                    root: *root,
                    why,
                }
                .into());
            }
            Err(_) => check_complete(backend, *root, file).await?,
        }
    }
    // Every root is committed (on Kubo: pinned); a name needs exactly one.
    for root in &roots {
        backend.commit_root(out, root, name).await?;
    }
    let moved = match (branch, roots.first()) {
        (Some(branch), Some(commit)) => Some(move_branch(backend, out, branch, *commit).await?),
        _ => None,
    };
    let root_names: Vec<String> = roots.iter().map(ToString::to_string).collect();
    out.print(
        || root_names.join("\n"),
        || {
            let mut summary =
                json!({"roots": root_names, "name": name, "blocks": blocks, "bytes": bytes});
            summary["commits"] = json!(commits.iter().map(ToString::to_string).collect::<Vec<_>>());
            if let (Some(branch), Some((previous, how))) = (branch, &moved) {
                summary["branch"] = json!(branch);
                summary["previous"] = json!(previous.map(|c| c.to_string()));
                summary["moved"] = json!(how);
            }
            summary
        },
    );
    out.note(|| {
        format!(
            "imported {blocks} verified blocks ({:.1} MiB) from {}",
            mib(bytes),
            file.display()
        )
    });
    Ok(())
}

/// Whether block `cid` (in the CAR, or the store) is a commit, or why not.
async fn check_is_commit(backend: &Backend, cid: &Cid) -> std::result::Result<(), String> {
    if cid.codec() != hamt_codec::BlockCodec::DagCbor.code() {
        return Err(format!("codec {:#x}, not DAG-CBOR", cid.codec()));
    }
    let bytes = backend
        .blocks
        .get(cid)
        .await
        .map_err(|e| format!("not in the CAR nor the store: {e}"))?;
    hamt_history::Commit::decode(cid, &bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Checks that commit `root`'s history is held, each commit's dataset
/// whole. Below a commit a name of the embedded store holds, all is held
/// already (names are set only over whole DAGs), so the walk stops there:
/// an incremental import checks what it brought. A parent missing is an
/// error when the root is to be named (`must_be_whole`), else a note: the
/// blocks are stored, unnamed, until the older history joins them.
async fn check_history(
    backend: &Backend,
    out: Output,
    root: Cid,
    file: &Path,
    must_be_whole: bool,
) -> Result<()> {
    let mut walk = HistoryBlocks::new(backend.blocks.as_ref(), root, None, Purpose::Check);
    if let Ok(rocks) = backend.rocks("car import") {
        for (_, named) in rocks.roots().context(|| "list the named roots".into())? {
            walk.known_complete(named);
        }
    }
    let mut shallow = None;
    while let Some(batch) = walk.next_batch().await? {
        for block in batch {
            match block {
                HistoryBlock::Commit(_) => {}
                HistoryBlock::Data(visit) => {
                    if let Err(problem) = visit.result {
                        fail!(
                            "{}: incomplete CAR: block {} of the dataset of commit {} is {} (a truncated CAR?); nothing was named",
                            file.display(),
                            visit.cid,
                            visit.tag,
                            describe(&problem)
                        );
                    }
                }
                HistoryBlock::MissingParent { parent, child } if must_be_whole => {
                    return Err(HistoryCarError::HistoryIncomplete {
                        child,
                        parent,
                        file: file.display().to_string(),
                        store: backend.label.clone(),
                    }
                    .into());
                }
                HistoryBlock::MissingParent { parent, child } => {
                    shallow.get_or_insert((parent, child));
                }
            }
        }
    }
    if let Some((parent, child)) = shallow {
        out.note(|| {
            format!(
                "a shallow history: commit {child} links parent {parent}, which is not here; {root} cannot be named until the older history is imported"
            )
        });
    }
    Ok(())
}

/// Moves `branch` to the imported `commit` by compare-and-swap: creates
/// it, or fast-forwards it from a head that is an ancestor of `commit`.
/// Returns the head it moved from and how.
async fn move_branch(
    backend: &Backend,
    out: Output,
    branch: &str,
    commit: Cid,
) -> Result<(Option<Cid>, &'static str)> {
    let repo = backend.history("--branch")?;
    let name = RefName::branch(branch).context(|| "--branch".into())?;
    let head = Refs::get(repo.refs(), &name)
        .await
        .context(|| format!("read branch {branch:?}"))?;
    let how = match head {
        None => "created",
        Some(head) if head == commit => {
            out.note(|| format!("{branch} is at {commit} already"));
            return Ok((Some(head), "up to date"));
        }
        Some(head) => {
            let ancestor = repo
                .is_ancestor(&head, &commit)
                .await
                .context(|| format!("find whether {branch} ({head}) is behind {commit}"))?;
            if !ancestor {
                // Behind it already (as `merge` says: up to date), or diverged.
                if repo.is_ancestor(&commit, &head).await.unwrap_or(false) {
                    out.note(|| format!("{branch} at {head} already has {commit}"));
                    return Ok((Some(head), "up to date"));
                }
                return Err(HistoryCarError::NotFastForward {
                    branch: branch.to_owned(),
                    head,
                    commit,
                }
                .into());
            }
            "fast-forward"
        }
    };
    match repo.refs().swap(&name, head.as_ref(), &commit).await {
        Ok(Ok(())) => {}
        Ok(Err(actual)) => {
            return Err(HistoryCarError::Moved(Box::new(hamt_history::Conflict {
                name,
                expected: head,
                actual,
                ours: commit,
            }))
            .into());
        }
        Err(e) => return Err(CliError::new(format!("move {branch} to {commit}: {e}"))),
    }
    out.note(|| match head {
        None => format!("created branch {branch} at {commit}"),
        Some(head) => format!("{branch}: {how} from {head} to {commit}"),
    });
    Ok((head, how))
}

async fn store_blocks(
    backend: &Backend,
    reader: &mut CarReader<BufReader<File>>,
    file: &Path,
) -> Result<(u64, u64)> {
    let (mut pending, mut pending_bytes) = (Vec::new(), 0usize);
    let (mut blocks, mut bytes) = (0u64, 0u64);
    while let Some((cid, data)) = reader
        .next_block()
        .context(|| format!("read {}", file.display()))?
    {
        let section = reader.sections();
        let block = Block::verified(cid, data).map_err(|e| {
            CliError::new(format!(
                "{}: block {section} ({cid}) fails verification ({e}); the CAR is corrupt, nothing was named"
            , file.display()))
        })?;
        blocks += 1;
        bytes += block.data().len() as u64;
        pending_bytes += block.data().len();
        pending.push(block);
        if pending_bytes >= IMPORT_BATCH_BYTES {
            put(backend, std::mem::take(&mut pending)).await?;
            pending_bytes = 0;
        }
    }
    put(backend, pending).await?;
    Ok((blocks, bytes))
}

async fn put(backend: &Backend, blocks: Vec<Block>) -> Result<()> {
    backend
        .blocks
        .put_many(blocks)
        .await
        .context(|| format!("write blocks to {}", backend.label))
}

/// A CAR cut at a section boundary still parses; what is missing shows as
/// blocks its root reaches but the store does not hold.
async fn check_complete(backend: &Backend, root: Cid, file: &Path) -> Result<()> {
    let mut walk = DatasetWalk::open(backend.blocks.as_ref(), root).await;
    while let Some(batch) = walk.next_batch().await {
        if let Some(bad) = batch.into_iter().find(|b| b.data.is_err()) {
            let problem = bad.data.err().map_or("bad", |p| p.label());
            fail!(
                "{}: incomplete CAR: block {} ({}) reachable from root {root} is {problem} (a truncated CAR?); nothing was named",
                file.display(),
                bad.cid,
                bad.path
            );
        }
    }
    Ok(())
}
