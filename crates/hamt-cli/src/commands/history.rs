//! Versioned datasets: `commit`, `log`, `checkout`, `tag`, `branch`,
//! `merge`, and `--branch` on the commands that write a root (see
//! `hamt-history`). Refs are the embedded store's named roots (so `hamt gc`
//! keeps every version a history reaches) or, with `--kubo`, MFS files on
//! the daemon, each commit pinned.

use hamt::{Cid, HamtError};
use hamt_history::{CommitInfo, HistoryError, MergePlan, RefName, Refs, format_time};
use hamt_zarr::{AnyLayout, Layout};
use serde_json::json;

use crate::backend::{Backend, HistoryRepo};
use crate::cli::Command;
use crate::commands::diff;
use crate::error::{CliError, Context, Result, fail};
use crate::output::{Output, printable};

/// Runs one of the history commands.
pub(crate) async fn run(backend: &Backend, out: Output, command: Command) -> Result<()> {
    match command {
        Command::Commit {
            root,
            message,
            branch,
            parent,
            author,
        } => {
            let info = CommitInfo::new(author_or_user(author), message);
            commit(backend, out, &root, &branch, parent.as_deref(), info).await
        }
        Command::Log {
            revision,
            max_count,
            no_stat,
        } => log(backend, out, &revision, max_count, !no_stat).await,
        Command::Merge {
            revision,
            into,
            message,
            author,
        } => merge(backend, out, &revision, &into, message, author).await,
        Command::Checkout { revision } => checkout(backend, out, &revision).await,
        Command::Tag { name, revision } => tag(backend, out, &name, &revision).await,
        Command::Branch { name, revision } => {
            branch(backend, out, name.as_deref(), &revision).await
        }
        _ => crate::error::fail!("not a history command"),
    }
}

/// `hamt commit ROOT -m MSG [--branch B] [--parent REV]`.
async fn commit(
    backend: &Backend,
    out: Output,
    root: &str,
    branch: &str,
    parent: Option<&str>,
    info: CommitInfo,
) -> Result<()> {
    let repo = backend.history("`hamt commit`")?;
    let root = backend.resolve_root(root).await?;
    let what = || format!("commit {root} on {branch}");
    let commit = match parent {
        Some(parent) => {
            let parent = repo
                .resolve(parent)
                .await
                .context(|| format!("resolve --parent {parent:?}"))?;
            repo.commit_after(branch, Some(parent), root, info).await
        }
        None => repo.commit(branch, root, info).await,
    }
    .map_err(failed(what))?;
    out.print(
        || commit.to_string(),
        || json!({"commit": commit.to_string(), "branch": branch, "root": root.to_string()}),
    );
    Ok(())
}

/// `hamt log [REVISION] [-n N] [--no-stat]`.
async fn log(backend: &Backend, out: Output, revision: &str, max: usize, stat: bool) -> Result<()> {
    let repo = backend.history("`hamt log`")?;
    let commits = repo
        .log(revision, max)
        .await
        .context(|| format!("log {revision:?}"))?;
    let stats = if stat {
        log_stats(backend, &repo, &commits).await?
    } else {
        Vec::new()
    };
    out.print(
        || {
            commits
                .iter()
                .enumerate()
                .map(|(at, (cid, c))| {
                    let keys = stats.get(at).map_or_else(String::new, |s| {
                        format!(
                            "Keys:   {} (+{} -{} ~{})\n",
                            s.keys, s.added, s.removed, s.changed
                        )
                    });
                    format!(
                        "commit {cid}\nDate:   {}\nAuthor: {}\nRoot:   {}\n{keys}\n    {}\n",
                        format_time(c.time_ms),
                        printable(&c.author),
                        c.root,
                        printable(&c.message)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
        || {
            json!(
                commits
                    .iter()
                    .enumerate()
                    .map(|(at, (cid, c))| {
                        let mut entry = json!({
                            "commit": cid.to_string(),
                            "time": format_time(c.time_ms),
                            "time_ms": c.time_ms,
                            "author": c.author,
                            "message": c.message,
                            "root": c.root.to_string(),
                            "parents": c.parents.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        });
                        if let Some(s) = stats.get(at) {
                            entry["keys"] = json!(s.keys);
                            entry["added"] = json!(s.added);
                            entry["removed"] = json!(s.removed);
                            entry["changed"] = json!(s.changed);
                        }
                        entry
                    })
                    .collect::<Vec<_>>()
            )
        },
    );
    Ok(())
}

/// A commit's dataset: its keys, and its changes from its first parent's
/// (from nothing for a first commit).
struct CommitStats {
    keys: u64,
    added: u64,
    removed: u64,
    changed: u64,
}

/// The stats of each commit of a log (newest first, each the first parent
/// of the one before). Only the newest dataset is counted whole: each
/// parent's count follows from its child's and their diff, which skips
/// every subtree (or shard) the two share.
async fn log_stats(
    backend: &Backend,
    repo: &HistoryRepo,
    commits: &[(Cid, hamt_history::Commit)],
) -> Result<Vec<CommitStats>> {
    let Some((_, newest)) = commits.first() else {
        return Ok(Vec::new());
    };
    let mut keys = backend
        .open_cid(newest.root)
        .await?
        .len()
        .await
        .context(|| format!("count the keys of {}", newest.root))?;
    let mut stats = Vec::with_capacity(commits.len());
    for (at, (cid, commit)) in commits.iter().enumerate() {
        let parent_root = match (commits.get(at + 1), commit.parents.first()) {
            (Some((next, parent)), Some(first)) if next == first => Some(parent.root),
            (_, Some(first)) => Some(
                repo.read_commit(first)
                    .await
                    .context(|| format!("read commit {first}, parent of {cid}"))?
                    .root,
            ),
            (_, None) => None,
        };
        let (mut added, mut removed, mut changed) = (0, 0, 0);
        match parent_root {
            Some(parent_root) => {
                let old = backend.open_cid(parent_root).await?;
                let new = backend.open_cid(commit.root).await?;
                let (old_label, new_label) = (parent_root.to_string(), commit.root.to_string());
                for change in diff::changes(backend, (&old, &old_label), (&new, &new_label)).await?
                {
                    match change {
                        hamt::Change::Added { .. } => added += 1,
                        hamt::Change::Removed { .. } => removed += 1,
                        hamt::Change::Changed { .. } => changed += 1,
                    }
                }
            }
            None => added = keys,
        }
        stats.push(CommitStats {
            keys,
            added,
            removed,
            changed,
        });
        // The parent's count: undo this commit's changes.
        keys = (keys + removed).saturating_sub(added);
    }
    Ok(stats)
}

/// `hamt checkout REVISION`: the dataset root it names.
async fn checkout(backend: &Backend, out: Output, revision: &str) -> Result<()> {
    let repo = backend.history("`hamt checkout`")?;
    let commit = repo
        .resolve(revision)
        .await
        .context(|| format!("resolve {revision:?}"))?;
    let root = repo
        .read_commit(&commit)
        .await
        .context(|| format!("read commit {commit}"))?
        .root;
    out.print(
        || root.to_string(),
        || json!({"root": root.to_string(), "commit": commit.to_string()}),
    );
    Ok(())
}

/// `hamt tag NAME [REVISION]`.
async fn tag(backend: &Backend, out: Output, name: &str, revision: &str) -> Result<()> {
    let repo = backend.history("`hamt tag`")?;
    let commit = repo
        .tag(name, revision)
        .await
        .context(|| format!("tag {revision:?} as {name:?}"))?;
    out.print(
        || commit.to_string(),
        || json!({"tag": name, "commit": commit.to_string()}),
    );
    Ok(())
}

/// `hamt branch [NAME [REVISION]]`: create one, or list them all.
async fn branch(backend: &Backend, out: Output, name: Option<&str>, revision: &str) -> Result<()> {
    let repo = backend.history("`hamt branch`")?;
    let Some(name) = name else {
        let refs = repo
            .refs()
            .list()
            .await
            .context(|| "list branches and tags".to_owned())?;
        out.print(
            || {
                refs.iter()
                    .map(|(r, cid)| format!("{r}\t{cid}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            },
            || {
                json!(
                    refs.iter()
                        .map(|(r, cid)| json!({"ref": r.key(), "commit": cid.to_string()}))
                        .collect::<Vec<_>>()
                )
            },
        );
        return Ok(());
    };
    let commit = repo
        .resolve(revision)
        .await
        .context(|| format!("resolve {revision:?}"))?;
    let branch = RefName::branch(name).context(|| "the branch name".to_owned())?;
    match repo
        .refs()
        .swap(&branch, None, &commit)
        .await
        .context(|| format!("create branch {name:?}"))?
    {
        Ok(()) => {}
        Err(existing) => crate::error::fail!(
            "branch {name:?} exists already (at {})",
            existing.map_or_else(|| "nothing".to_owned(), |c| c.to_string())
        ),
    }
    out.print(
        || commit.to_string(),
        || json!({"branch": name, "commit": commit.to_string()}),
    );
    Ok(())
}

/// `--author`, else `$USER`, else nobody.
fn author_or_user(author: Option<String>) -> String {
    author
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default()
}

/// Phrases a history error for the user: a conflict exits with
/// [`Exit::Conflict`](crate::error::Exit::Conflict).
fn failed(what: impl FnOnce() -> String) -> impl FnOnce(HistoryError) -> CliError {
    move |error| {
        let message = format!("{}: {error}", what());
        if matches!(error, HistoryError::Conflict(_)) {
            CliError::conflict(message)
        } else {
            CliError::new(message)
        }
    }
}

/// The head of `--branch BRANCH` as a command that will commit its result
/// there begins (`None`: a new branch), read before the command reads
/// anything: the commit then lands only if no other did meanwhile.
pub(crate) async fn branch_head(backend: &Backend, branch: &str) -> Result<Option<Cid>> {
    let repo = backend.history("--branch")?;
    let name = RefName::branch(branch).context(|| "--branch".to_owned())?;
    repo.refs()
        .get(&name)
        .await
        .context(|| format!("read branch {branch:?}"))
}

/// `--branch B [-m MSG]` of a command that writes a root: the branch, its
/// head as the command began (from [`branch_head`]) and the message.
pub(crate) struct CommitTo {
    pub(crate) branch: String,
    pub(crate) head: Option<Cid>,
    pub(crate) message: String,
}

/// Commits `root` (durable already) as `to` says, if anything; returns
/// the commit, for the command's output.
pub(crate) async fn commit_result(
    backend: &Backend,
    out: Output,
    to: Option<&CommitTo>,
    root: Cid,
) -> Result<Option<Cid>> {
    let Some(to) = to else { return Ok(None) };
    let repo = backend.history("--branch")?;
    let info = CommitInfo::new(author_or_user(None), to.message.clone());
    let commit = repo
        .commit_after(&to.branch, to.head, root, info)
        .await
        .map_err(failed(|| format!("commit {root} on {}", to.branch)))?;
    out.note(|| format!("committed {root} on {} as {commit}", to.branch));
    Ok(Some(commit))
}

/// `hamt merge REVISION [--into BRANCH] [-m MSG]`: a fast-forward when
/// BRANCH is behind, else a three-way merge of the datasets from the merge
/// base and a commit with both as parents.
async fn merge(
    backend: &Backend,
    out: Output,
    revision: &str,
    into: &str,
    message: Option<String>,
    author: Option<String>,
) -> Result<()> {
    let repo = backend.history("`hamt merge`")?;
    let branch = RefName::branch(into).context(|| "--into".to_owned())?;
    let Some(head) = repo
        .refs()
        .get(&branch)
        .await
        .context(|| format!("read branch {into:?}"))?
    else {
        fail!("no branch {into:?} to merge into (create it with `hamt branch {into} {revision}`)");
    };
    let theirs = repo
        .resolve(revision)
        .await
        .context(|| format!("resolve {revision:?}"))?;
    let plan = repo
        .merge_plan(&head, &theirs)
        .await
        .context(|| format!("find how {revision} merges into {into}"))?;
    let (commit, how) = match plan {
        MergePlan::UpToDate => (head, "already up to date"),
        MergePlan::Unrelated => {
            fail!("{revision} and {into} share no history: nothing to merge from")
        }
        MergePlan::FastForward => {
            let swapped = repo
                .refs()
                .swap(&branch, Some(&head), &theirs)
                .await
                .context(|| format!("move {into} to {theirs}"))?;
            if let Err(actual) = swapped {
                let conflict = hamt_history::Conflict {
                    name: branch,
                    expected: Some(head),
                    actual,
                    ours: theirs,
                };
                return Err(CliError::conflict(format!(
                    "fast-forward {into}: {conflict}"
                )));
            }
            (theirs, "fast-forward")
        }
        MergePlan::ThreeWay { base } => {
            let root = merge_datasets(backend, out, &repo, &[base, head, theirs]).await?;
            let message = message.unwrap_or_else(|| format!("Merge {revision} into {into}"));
            let commit = repo
                .commit_with_parents(
                    into,
                    Some(head),
                    root,
                    vec![head, theirs],
                    CommitInfo::new(author_or_user(author), message),
                )
                .await
                .map_err(failed(|| format!("commit the merge on {into}")))?;
            (commit, "merged")
        }
    };
    out.print(
        || commit.to_string(),
        || json!({"commit": commit.to_string(), "branch": into, "merge": how}),
    );
    out.note(|| format!("{into}: {how} ({commit})"));
    Ok(())
}

/// Merges the datasets of commits `[base, ours, theirs]`; returns the
/// merged root, durable.
async fn merge_datasets(
    backend: &Backend,
    out: Output,
    repo: &HistoryRepo,
    commits: &[Cid; 3],
) -> Result<Cid> {
    let mut roots = Vec::with_capacity(3);
    for commit in commits {
        let read = repo
            .read_commit(commit)
            .await
            .context(|| format!("read commit {commit}"))?;
        roots.push(read.root);
    }
    let [base, ours, theirs] = [roots[0], roots[1], roots[2]];
    let (base_map, mut ours_map, theirs_map) = (
        backend.open_cid(base).await?,
        backend.open_cid(ours).await?,
        backend.open_cid(theirs).await?,
    );
    let (AnyLayout::Hamt(base_map), AnyLayout::Hamt(ours_map), AnyLayout::Hamt(theirs_map)) =
        (&base_map, &mut ours_map, &theirs_map)
    else {
        fail!(
            "merging datasets is supported for the HAMT layout; {base}, {ours} or {theirs} is another (sharded) layout"
        );
    };
    match ours_map.merge(base_map, theirs_map).await {
        Ok(_) => {}
        Err(HamtError::MergeConflict { keys }) => {
            // Every key on stderr (one a line past the first line), since
            // resolving the conflict needs them all.
            return Err(CliError::conflict(format!(
                "{} keys changed differently on both sides since {base}; nothing merged:\n{}",
                keys.len(),
                keys.iter()
                    .map(|k| format!("  {}", printable(k)))
                    .collect::<Vec<_>>()
                    .join("\n")
            )));
        }
        Err(other) => fail!("merge {theirs} into {ours} from {base}: {other}"),
    }
    let root = ours_map
        .flush()
        .await
        .context(|| format!("write the merged dataset to {}", backend.label))?;
    backend.commit_root(out, &root, None).await?;
    Ok(root)
}
