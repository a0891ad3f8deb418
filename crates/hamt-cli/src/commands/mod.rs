//! One module per command group; [`run`] dispatches.

mod car;
mod demo;
mod diff;
mod edit;
pub(crate) mod expire;
mod export;
mod history;
mod import;
mod read;
mod roots;
mod sharded;
mod verify;

use crate::backend::{Access, Backend, RocksTuning};
use crate::cli::{CarCommand, Cli, Command};
use crate::error::{Exit, Result};
use crate::output::Output;

/// Runs the parsed command line; `Ok` carries the exit code of a command
/// that ran to the end (`verify` may report problems).
pub(crate) async fn run(cli: Cli) -> Result<Exit> {
    let out = Output {
        json: cli.json,
        quiet: cli.quiet,
    };
    let access = match &cli.command {
        Command::Import { .. }
        | Command::Convert { .. }
        | Command::Graft { .. }
        | Command::Put { .. }
        | Command::Rm { .. }
        | Command::Gc { .. }
        | Command::Commit { .. }
        | Command::Merge { .. }
        | Command::Tag { .. }
        | Command::Expire { .. }
        | Command::Branch { name: Some(_), .. }
        | Command::Demo { .. }
        | Command::Car {
            command: CarCommand::Import { .. },
        } => Access::Write,
        _ => Access::Read,
    };
    let tuning = RocksTuning {
        gc_grace: match &cli.command {
            Command::Gc { grace } => grace.map(std::time::Duration::from_secs),
            _ => None,
        },
        lock_wait: std::time::Duration::from_secs(cli.store.lock_wait),
    };
    let backend = Backend::open(&cli.store, access, tuning)?;
    match cli.command {
        command @ (Command::Import { .. } | Command::Put { .. } | Command::Rm { .. }) => {
            write_root(&backend, out, command).await?;
        }
        command @ (Command::Convert { .. } | Command::Graft { .. }) => {
            sharded::run(&backend, out, command).await?;
        }
        Command::Export { root, dir } => export::run(&backend, out, &root, &dir).await?,
        Command::Get {
            root,
            key,
            range,
            suffix,
        } => read::get(&backend, &root, &key, range.as_deref(), suffix).await?,
        Command::Ls { root, prefix, dirs } => {
            read::ls(&backend, out, &root, prefix.as_deref().unwrap_or(""), dirs).await?;
        }
        Command::Stat { root } => read::stat(&backend, out, &root).await?,
        Command::Diff { root_a, root_b } => diff::run(&backend, out, &root_a, &root_b).await?,
        Command::Car { command } => match command {
            CarCommand::Export {
                root,
                file,
                depth,
                no_history,
            } => {
                let history = car::History::from_flags(depth, no_history);
                car::export(&backend, out, &root, &file, history).await?;
            }
            CarCommand::Import { file, name, branch } => {
                car::import(&backend, out, &file, name.as_deref(), branch.as_deref()).await?;
            }
        },
        Command::Verify { root } => return verify::run(&backend, out, &root).await,
        Command::Roots => roots::list(&backend, out).await?,
        Command::Gc { grace } => roots::gc(&backend, out, grace.is_some()).await?,
        Command::Demo { days } => demo::run(&backend, out, days).await?,
        Command::Expire {
            older_than,
            keep_tags,
            branches,
        } => expire::run(&backend, out, older_than, keep_tags, branches).await?,
        command @ (Command::Commit { .. }
        | Command::Merge { .. }
        | Command::Log { .. }
        | Command::Checkout { .. }
        | Command::Tag { .. }
        | Command::Branch { .. }) => history::run(&backend, out, command).await?,
    }
    Ok(Exit::Ok)
}

/// `import`, `put` and `rm`: each writes a new root, and with `--branch`
/// commits it after the branch's head as the command began (read before
/// anything else, so a commit landed meanwhile is a conflict).
async fn write_root(backend: &Backend, out: Output, command: Command) -> Result<()> {
    // `--branch`: its head, read before anything else, and the message.
    let commit_to = |branch: Option<String>, head, message: Option<String>, default: String| {
        branch.map(|branch| history::CommitTo {
            branch,
            head,
            message: message.unwrap_or(default),
        })
    };
    let head = match &command {
        Command::Import { branch, .. }
        | Command::Put { branch, .. }
        | Command::Rm { branch, .. } => match branch {
            Some(branch) => history::branch_head(backend, branch).await?,
            None => None,
        },
        _ => None,
    };
    match command {
        Command::Import {
            dir,
            name,
            follow_symlinks,
            jobs,
            sharded,
            chunks_per_shard,
            branch,
            message,
        } => {
            let commit = commit_to(branch, head, message, format!("import {}", dir.display()));
            let source = import::Source {
                dir: &dir,
                follow_symlinks,
                jobs,
            };
            let (name, commit) = (name.as_deref(), commit.as_ref());
            if sharded {
                import::run_sharded(backend, out, &source, name, chunks_per_shard, commit).await?;
            } else {
                import::run(backend, out, &source, name, commit).await?;
            }
        }
        Command::Put {
            root,
            key,
            file,
            name,
            branch,
            message,
        } => {
            let commit = commit_to(branch, head, message, format!("put {key}"));
            edit::put(
                backend,
                out,
                &root,
                &key,
                &file,
                name.as_deref(),
                commit.as_ref(),
            )
            .await?;
        }
        Command::Rm {
            root,
            key,
            name,
            branch,
            message,
        } => {
            let commit = commit_to(branch, head, message, format!("rm {key}"));
            edit::rm(backend, out, &root, &key, name.as_deref(), commit.as_ref()).await?;
        }
        _ => crate::error::fail!("not a command that writes a root"),
    }
    Ok(())
}
