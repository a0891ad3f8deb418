//! The refs of a versioned dataset's history (branches and tags, see the
//! crate `hamt-history`) on the daemon: one small MFS file each, holding
//! the commit's CID as text, under [`REFS_DIR`] (`heads/NAME`,
//! `tags/NAME`), each commit pinned recursively so the daemon's GC keeps
//! every version a ref's history reaches.
//!
//! **Compare-and-swap.** MFS has no conditional write, so a swap holds a
//! lock: an MFS directory under [`REFS_DIR`]`/.locks`, made with `files/mkdir`
//! without `parents`, which the daemon refuses when it exists (its MFS
//! serializes changes). The new commit is pinned first; read, compare and
//! write happen while the lock is held; then it is removed. Two writers of one ref through one daemon
//! cannot both win. A writer killed while holding it leaves it behind: the
//! next swap waits [`LOCK_WAIT`] and then fails naming the directory to
//! remove once no writer runs (`ipfs files rm -r PATH`). So does a writer
//! whose own `mkdir` succeeded but whose answer was lost (the retry finds
//! the directory): rare on a daemon nearby. Writers of one ref through
//! *different* daemons are not coordinated (each has its own MFS).

use std::time::Duration;

use hamt_codec::Cid;
use hamt_store::StoreError;

use crate::names::{escape, is_already_there, is_no_such_file, parse_name_file};
use crate::{KuboError, KuboStore};

/// The MFS directory holding the refs.
pub const REFS_DIR: &str = "/hamt-refs";

/// Where the locks of ref swaps are made.
const LOCKS_DIR: &str = "/hamt-refs/.locks";

/// How long a swap waits for another writer's lock on the same ref.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// A ref's kind and name, as its path under [`REFS_DIR`]: `heads/NAME` or
/// `tags/NAME`, NAME in `hamt-history`'s ref-name rules (checked there;
/// here only that every segment can be an MFS name).
fn ref_path(reference: &str) -> Result<String, StoreError> {
    let ok = (reference.starts_with("heads/") || reference.starts_with("tags/"))
        && reference
            .split('/')
            .all(|segment| crate::check_name(segment).is_ok());
    if !ok {
        return Err(StoreError::backend(
            "update a ref",
            KuboError::BadResponse(format!(
                "{reference:?} is not heads/NAME or tags/NAME with MFS-safe segments"
            )),
        ));
    }
    Ok(format!("{REFS_DIR}/{reference}"))
}

impl KuboStore {
    /// The commit the ref `heads/NAME` or `tags/NAME` names, if any.
    pub async fn read_ref(&self, reference: &str) -> Result<Option<Cid>, StoreError> {
        let path = ref_path(reference)?;
        match self.read_mfs_file(&path).await {
            Ok(text) => {
                if let Ok(cid) = parse_name_file(&path, &text) {
                    return Ok(Some(cid));
                }
                // Read while a writer rewrote it (readers take no lock):
                // once more, then the error.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let text = self.read_mfs_file(&path).await?;
                parse_name_file(&path, &text).map(Some)
            }
            Err(e) if is_no_such_file(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every ref (`heads/NAME`, `tags/NAME`) with its commit, sorted.
    pub async fn list_refs(&self) -> Result<Vec<(String, Cid)>, StoreError> {
        let mut refs = Vec::new();
        // Directories still to list, as paths under REFS_DIR. Bounded by
        // what the daemon holds; each level is one request.
        let mut pending = vec!["heads".to_owned(), "tags".to_owned()];
        while let Some(dir) = pending.pop() {
            let path = format!("{REFS_DIR}/{dir}");
            let listing = self
                .rpc_call(
                    &format!("files/ls?arg={}&long=true", escape(&path)),
                    None,
                    self.inner.timeout,
                )
                .await;
            let listing = match listing {
                Ok(listing) => listing,
                Err(e) if is_no_such_file(&e) => continue,
                Err(e) => return Err(e),
            };
            for (name, is_dir) in
                parse_long_ls(&listing).map_err(|e| StoreError::backend("files/ls", e))?
            {
                let child = format!("{dir}/{name}");
                if is_dir {
                    pending.push(child);
                } else if let Some(cid) = self.read_ref(&child).await? {
                    refs.push((child, cid));
                }
            }
        }
        refs.sort();
        Ok(refs)
    }

    /// Moves the ref to `new` (`None`: removes it) only if it names
    /// `expected` now (`None`: only if it does not exist), under the ref's
    /// lock (see the module docs). `Ok(Err(current))` when it named
    /// something else: nothing changed. With `pin`, `new` is pinned
    /// recursively before the ref names it (from `expected` with
    /// `pin/update`, keeping that pin: another ref may need it).
    pub async fn swap_ref(
        &self,
        reference: &str,
        expected: Option<&Cid>,
        new: Option<&Cid>,
        pin: bool,
    ) -> Result<Result<(), Option<Cid>>, StoreError> {
        let path = ref_path(reference)?;
        // Pinned before the lock is taken: a pin can take long (a large
        // dataset, blocks to fetch), and another writer waits only
        // `LOCK_WAIT`. A pin made for a swap that then loses is harmless.
        if let Some(new) = new.filter(|_| pin) {
            let updated = match expected {
                Some(old) if old != new => self.pin_update(old, new, false).await.is_ok(),
                _ => false,
            };
            if !updated {
                self.pin_add(new).await?;
            }
        }
        let lock = format!("{LOCKS_DIR}/{}", reference.replace('/', ":"));
        self.take_lock(&lock).await?;
        let swapped = self.swap_locked(reference, &path, expected, new).await;
        let released = self
            .rpc_call(
                &format!("files/rm?arg={}&recursive=true", escape(&lock)),
                None,
                self.inner.timeout,
            )
            .await;
        match (swapped, released) {
            (Ok(result), Ok(_)) => Ok(result),
            (Err(e), _) => Err(e),
            (Ok(result), Err(e)) => {
                // The swap is done; only the lock is left behind.
                tracing::warn!(lock = %lock, error = %e, "ref lock not removed");
                Ok(result)
            }
        }
    }

    async fn swap_locked(
        &self,
        reference: &str,
        path: &str,
        expected: Option<&Cid>,
        new: Option<&Cid>,
    ) -> Result<Result<(), Option<Cid>>, StoreError> {
        let current = self.read_ref(reference).await?;
        if current.as_ref() != expected {
            return Ok(Err(current));
        }
        let Some(new) = new else {
            if current.is_some() {
                self.rpc_call(
                    &format!("files/rm?arg={}", escape(path)),
                    None,
                    self.inner.timeout,
                )
                .await?;
            }
            return Ok(Ok(()));
        };
        let body = crate::multipart::file_body(format!("{new}\n").as_bytes());
        let query = format!(
            "files/write?arg={}&create=true&parents=true&truncate=true",
            escape(path)
        );
        self.rpc_post(&query, Some(&body), None, self.inner.timeout)
            .await?;
        Ok(Ok(()))
    }

    /// Makes the lock directory, waiting up to [`LOCK_WAIT`] while another
    /// writer holds it.
    async fn take_lock(&self, lock: &str) -> Result<(), StoreError> {
        self.rpc_call(
            &format!("files/mkdir?arg={}&parents=true", escape(LOCKS_DIR)),
            None,
            self.inner.timeout,
        )
        .await?;
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_millis(10);
        loop {
            let made = self
                .rpc_call(
                    &format!("files/mkdir?arg={}", escape(lock)),
                    None,
                    self.inner.timeout,
                )
                .await;
            match made {
                Ok(_) => return Ok(()),
                Err(e) if is_already_there(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                Err(e) if is_already_there(&e) => {
                    return Err(StoreError::backend(
                        "update a ref",
                        KuboError::BadResponse(format!(
                            "locked for {LOCK_WAIT:?} by another writer; if none is running (one died holding it), remove the lock: ipfs files rm -r {lock}"
                        )),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The entries of a `files/ls?long=true` answer, with whether each is a
/// directory (`Type` 1).
fn parse_long_ls(reply: &[u8]) -> Result<Vec<(String, bool)>, KuboError> {
    let bad = |what: &str| KuboError::BadResponse(format!("files/ls: {what}"));
    let json: serde_json::Value = serde_json::from_slice(reply).map_err(|_| bad("not JSON"))?;
    let entries = match json.get("Entries") {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(entries) => entries.as_array().ok_or_else(|| bad("Entries"))?,
    };
    entries
        .iter()
        .map(|entry| {
            let name = entry
                .get("Name")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| bad("an entry without a Name"))?;
            let is_dir = entry.get("Type").and_then(serde_json::Value::as_u64) == Some(1);
            Ok((name.to_owned(), is_dir))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_heads_or_tags_with_mfs_safe_segments() {
        assert_eq!(ref_path("heads/main").unwrap(), "/hamt-refs/heads/main");
        assert_eq!(ref_path("tags/v1/rc").unwrap(), "/hamt-refs/tags/v1/rc");
        for bad in [
            "main",
            "heads/",
            "heads//x",
            "tags/..",
            "other/x",
            "heads/a\tb",
        ] {
            assert!(ref_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn long_listings_tell_files_from_directories() {
        let reply = br#"{"Entries":[{"Name":"main","Type":0},{"Name":"feature","Type":1}]}"#;
        assert_eq!(
            parse_long_ls(reply).unwrap(),
            [("main".to_owned(), false), ("feature".to_owned(), true)]
        );
        assert!(parse_long_ls(br#"{"Entries":null}"#).unwrap().is_empty());
        assert!(parse_long_ls(b"junk").is_err());
    }
}
