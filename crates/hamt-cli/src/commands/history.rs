//! Versioned datasets on the embedded store: `commit`, `log`, `checkout`,
//! `tag`, `branch` (see `hamt-history`; refs are named roots, so `hamt gc`
//! keeps every version a branch's or tag's history reaches).

use hamt_history::{CommitInfo, RefName, Refs, format_time};
use serde_json::json;

use crate::backend::Backend;
use crate::cli::Command;
use crate::error::{Context, Result};
use crate::output::{Output, printable};

/// Runs one of the history commands.
pub(crate) async fn run(backend: &Backend, out: Output, command: Command) -> Result<()> {
    match command {
        Command::Commit {
            root,
            message,
            branch,
            author,
        } => commit(backend, out, &root, &message, &branch, author).await,
        Command::Log {
            revision,
            max_count,
        } => log(backend, out, &revision, max_count).await,
        Command::Checkout { revision } => checkout(backend, out, &revision).await,
        Command::Tag { name, revision } => tag(backend, out, &name, &revision).await,
        Command::Branch { name, revision } => {
            branch(backend, out, name.as_deref(), &revision).await
        }
        _ => crate::error::fail!("not a history command"),
    }
}

/// `hamt commit ROOT -m MSG [--branch B]`.
async fn commit(
    backend: &Backend,
    out: Output,
    root: &str,
    message: &str,
    branch: &str,
    author: Option<String>,
) -> Result<()> {
    let repo = backend.history("`hamt commit`")?;
    let root = backend.resolve_root(root).await?;
    let author = author
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    let commit = repo
        .commit(branch, root, CommitInfo::new(author, message))
        .await
        .context(|| format!("commit {root} on {branch}"))?;
    out.print(
        || commit.to_string(),
        || json!({"commit": commit.to_string(), "branch": branch, "root": root.to_string()}),
    );
    Ok(())
}

/// `hamt log [REVISION] [-n N]`.
async fn log(backend: &Backend, out: Output, revision: &str, max: usize) -> Result<()> {
    let repo = backend.history("`hamt log`")?;
    let commits = repo
        .log(revision, max)
        .await
        .context(|| format!("log {revision:?}"))?;
    out.print(
        || {
            commits
                .iter()
                .map(|(cid, c)| {
                    format!(
                        "commit {cid}\nDate:   {}\nAuthor: {}\nRoot:   {}\n\n    {}\n",
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
                    .map(|(cid, c)| json!({
                        "commit": cid.to_string(),
                        "time": format_time(c.time_ms),
                        "time_ms": c.time_ms,
                        "author": c.author,
                        "message": c.message,
                        "root": c.root.to_string(),
                        "parents": c.parents.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    }))
                    .collect::<Vec<_>>()
            )
        },
    );
    Ok(())
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
