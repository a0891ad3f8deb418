//! `hamt_rs.Repository`: commits, branches, tags and revisions of the
//! datasets in a `RocksDbBackend` (see the crate `hamt-history`), so Python
//! writers commit what they flush and readers open a dataset as of a
//! branch, a tag, `main~3` or `main@{2026-12-01}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use hamt_history::{CommitInfo, Refs, format_time};
use hamt_rocksdb::RocksDbStore;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::backend::{RocksDbBackend, parse_cid};
use crate::errors::history_error;
use crate::ready::runtime;

/// The history of the datasets in a `RocksDbBackend`: its refs are the
/// backend's named roots under `refs/`, so a GC keeps every version a
/// branch or tag reaches.
#[pyclass(frozen, module = "hamt_rs._native")]
pub(crate) struct Repository {
    repo: hamt_history::Repository<Arc<RocksDbStore>, Arc<RocksDbStore>>,
}

/// Runs one history operation with the GIL released (RocksDB reads the
/// disk; a commit syncs it).
fn run<T: Send>(
    py: Python<'_>,
    op: impl FnOnce() -> String + Send,
    work: impl std::future::Future<Output = Result<T, hamt_history::HistoryError>> + Send,
) -> PyResult<T> {
    py.detach(|| {
        runtime()
            .block_on(work)
            .map_err(|e| history_error(&op(), e))
    })
}

#[pymethods]
impl Repository {
    /// The history of the datasets in `backend`.
    #[new]
    fn new(backend: &Bound<'_, RocksDbBackend>) -> Self {
        let store = Arc::clone(&backend.get().store);
        Repository {
            repo: hamt_history::Repository::open(store),
        }
    }

    /// Commits the dataset `root` (flushed, in the backend) on `branch`
    /// after `parent` if given (the head the dataset was read from: a
    /// commit landed meanwhile then raises `ConflictError` instead of
    /// being silently undone), else after the branch's head now. Returns
    /// the commit's CID.
    #[pyo3(signature = (root, message, *, branch = "main", author = "", time_ms = None, parent = None))]
    #[allow(clippy::too_many_arguments)] // keyword-only arguments from Python
    fn commit(
        &self,
        py: Python<'_>,
        root: &str,
        message: &str,
        branch: &str,
        author: &str,
        time_ms: Option<u64>,
        parent: Option<&str>,
    ) -> PyResult<String> {
        let root = parse_cid(root)?;
        let parent = parent.map(parse_cid).transpose()?;
        let mut info = CommitInfo::new(author, message);
        info.time_ms = time_ms;
        let op = || format!("commit {root} on {branch}");
        let commit = match parent {
            Some(parent) => run(
                py,
                op,
                self.repo.commit_after(branch, Some(parent), root, info),
            ),
            None => run(py, op, self.repo.commit(branch, root, info)),
        }?;
        Ok(commit.to_string())
    }

    /// The commit a revision names: a branch, a tag or a commit CID, then
    /// `~N` (N commits back) or `@{TIME}` (the newest at or before TIME:
    /// Unix seconds, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`, UTC).
    fn resolve(&self, py: Python<'_>, revision: &str) -> PyResult<String> {
        let op = || format!("resolve {revision:?}");
        Ok(run(py, op, self.repo.resolve(revision))?.to_string())
    }

    /// The dataset root a revision names (open it with
    /// `ZarrHamtStore.from_root`, or use `ZarrHamtStore.from_ref`).
    fn checkout(&self, py: Python<'_>, revision: &str) -> PyResult<String> {
        let op = || format!("check out {revision:?}");
        let root = run(py, op, async {
            let commit = self.repo.resolve(revision).await?;
            Ok(self.repo.read_commit(&commit).await?.root)
        })?;
        Ok(root.to_string())
    }

    /// Up to `limit` commits from `revision` back along first parents,
    /// newest first, each a dict: `commit`, `root`, `parents`, `time_ms`,
    /// `time` (UTC, ISO 8601), `author`, `message`, `meta`.
    #[pyo3(signature = (revision = "main", limit = 20))]
    fn log<'py>(
        &self,
        py: Python<'py>,
        revision: &str,
        limit: usize,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let op = || format!("log {revision:?}");
        let commits = run(py, op, self.repo.log(revision, limit))?;
        commits
            .into_iter()
            .map(|(cid, commit)| {
                let entry = PyDict::new(py);
                entry.set_item("commit", cid.to_string())?;
                entry.set_item("root", commit.root.to_string())?;
                let parents: Vec<String> = commit.parents.iter().map(ToString::to_string).collect();
                entry.set_item("parents", parents)?;
                entry.set_item("time_ms", commit.time_ms)?;
                entry.set_item("time", format_time(commit.time_ms))?;
                entry.set_item("author", commit.author)?;
                entry.set_item("message", commit.message)?;
                entry.set_item("meta", commit.meta)?;
                Ok(entry)
            })
            .collect()
    }

    /// Tags the commit `revision` names as `name`; returns the commit.
    /// Tags never move: an existing one raises `ConflictError`.
    #[pyo3(signature = (name, revision = "main"))]
    fn tag(&self, py: Python<'_>, name: &str, revision: &str) -> PyResult<String> {
        let op = || format!("tag {revision:?} as {name:?}");
        Ok(run(py, op, self.repo.tag(name, revision))?.to_string())
    }

    /// Every branch and tag, as `refs/heads/NAME` / `refs/tags/NAME` to
    /// the commit's CID.
    fn refs(&self, py: Python<'_>) -> PyResult<BTreeMap<String, String>> {
        let refs = run(py, || "list refs".to_owned(), async {
            self.repo.refs().list().await
        })?;
        Ok(refs
            .into_iter()
            .map(|(name, cid)| (name.key(), cid.to_string()))
            .collect())
    }
}
