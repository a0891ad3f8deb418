//! Named roots on the daemon, in its MFS (the `files/*` API).
//!
//! A name is a small file, [`ROOTS_DIR`]`/NAME`, holding the root's CID as
//! text; `ipfs files ls /hamt-roots` and `ipfs files read /hamt-roots/NAME`
//! show them. The file only records the name: what keeps the root's blocks
//! through the daemon's GC is a recursive pin, which
//! [`name_root`](KuboStore::name_root) adds when asked.
//!
//! Why not the root itself in MFS (`files/cp /ipfs/ROOT /hamt-roots/NAME`):
//! Kubo's MFS holds only UnixFS (dag-pb) and raw nodes; a HAMT node or a
//! sharded manifest is dag-cbor, so `files/stat` and `files/ls` of such an
//! entry fail. And not Kubo's pin names (`pin/add?name=`): they are labels
//! on pins, not a mapping one name to one root (`pin/update` drops them,
//! several pins may share one), and other daemons (js-ipfs) ignore them.

use futures::{StreamExt, TryStreamExt, stream};
use hamt_codec::Cid;
use hamt_store::StoreError;

use crate::{KuboError, KuboStore};

/// The MFS directory that holds one file per named root.
pub const ROOTS_DIR: &str = "/hamt-roots";

/// Name files read at once when listing every name.
const READ_CONCURRENCY: usize = 8;

impl KuboStore {
    /// The root recorded under `name`, or `None` if there is no such name.
    pub async fn named_root(&self, name: &str) -> Result<Option<Cid>, StoreError> {
        let path = name_path(name)?;
        match self.read_mfs_file(&path).await {
            Ok(text) => parse_name_file(&path, &text).map(Some),
            Err(e) if is_no_such_file(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The bytes of the MFS file at `path` (`files/read`); a missing file
    /// is the daemon's error ([`is_no_such_file`]).
    pub(crate) async fn read_mfs_file(&self, path: &str) -> Result<bytes::Bytes, StoreError> {
        self.rpc_call(
            &format!("files/read?arg={}", escape(path)),
            None,
            self.inner.timeout,
        )
        .await
    }

    /// Every name recorded on the daemon with its root, sorted by name.
    pub async fn named_roots(&self) -> Result<Vec<(String, Cid)>, StoreError> {
        let listing = self
            .rpc_call(
                &format!("files/ls?arg={}", escape(ROOTS_DIR)),
                None,
                self.inner.timeout,
            )
            .await;
        let listing = match listing {
            Ok(listing) => listing,
            // Nothing was ever named on this daemon.
            Err(e) if is_no_such_file(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let names = parse_ls(&listing).map_err(|e| StoreError::backend("files/ls", e))?;
        let mut roots: Vec<(String, Cid)> = stream::iter(names)
            .map(|name| async move {
                match self.named_root(&name).await? {
                    Some(cid) => Ok(Some((name, cid))),
                    // Removed since the listing.
                    None => Ok(None),
                }
            })
            .buffer_unordered(READ_CONCURRENCY)
            .try_filter_map(|entry| async move { Ok::<_, StoreError>(entry) })
            .try_collect()
            .await?;
        roots.sort();
        Ok(roots)
    }

    /// Records `root` under `name` (creating [`ROOTS_DIR`] if needed) and
    /// returns the root the name had before, if any.
    ///
    /// With `pin`, `root` is pinned recursively first, so a name never
    /// points at a root the daemon's GC may take: from the old root with
    /// `pin/update` (Kubo then pins only what changed), keeping the old
    /// pin; when that fails (the old root was not pinned), with `pin/add`.
    /// The old root stays pinned: [`release_root`](Self::release_root)
    /// unpins it once no name points at it.
    pub async fn name_root(
        &self,
        name: &str,
        root: &Cid,
        pin: bool,
    ) -> Result<Option<Cid>, StoreError> {
        let path = name_path(name)?;
        let previous = self.named_root(name).await?;
        if pin {
            let updated = match previous {
                Some(old) if old != *root => self.pin_update(&old, root, false).await.is_ok(),
                _ => false,
            };
            if !updated {
                self.pin_add(root).await?;
            }
        }
        let body = crate::multipart::file_body(format!("{root}\n").as_bytes());
        let query = format!(
            "files/write?arg={}&create=true&parents=true&truncate=true",
            escape(&path)
        );
        self.rpc_post(&query, Some(&body), None, self.inner.timeout)
            .await?;
        Ok(previous)
    }

    /// Removes the recursive pin of `root` unless a name still points at it
    /// (a name moved off it, say); returns whether it unpinned. A root that
    /// was not pinned is not an error.
    pub async fn release_root(&self, root: &Cid) -> Result<bool, StoreError> {
        if self.named_roots().await?.iter().any(|(_, cid)| cid == root) {
            return Ok(false);
        }
        match self.pin_rm(root).await {
            Ok(()) => Ok(true),
            Err(e) if crate::pins::is_not_pinned(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Checks that `name` can be an MFS file name: not empty, not `.` or `..`,
/// no `/` and no control characters.
pub fn check_name(name: &str) -> Result<(), KuboError> {
    let problem = if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("it is . or ..")
    } else if name.contains('/') {
        Some("it contains /")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    };
    match problem {
        Some(why) => Err(KuboError::InvalidName {
            name: name.to_owned(),
            why,
        }),
        None => Ok(()),
    }
}

/// `ROOTS_DIR/name`, once `name` is checked.
fn name_path(name: &str) -> Result<String, StoreError> {
    check_name(name).map_err(|e| StoreError::backend("name a root", e))?;
    Ok(format!("{ROOTS_DIR}/{name}"))
}

/// A name file's CID (surrounding whitespace ignored).
pub(crate) fn parse_name_file(path: &str, text: &[u8]) -> Result<Cid, StoreError> {
    let bad = || {
        StoreError::backend(
            format!("files/read {path}"),
            KuboError::BadResponse(format!(
                "{path} does not hold a CID; fix or remove it (ipfs files rm {path})"
            )),
        )
    };
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    Cid::try_from(text.trim()).map_err(|_| bad())
}

/// The entry names of a `files/ls` answer: `{"Entries": [{"Name": …}, …]}`
/// (Kubo sends `null` for an empty directory).
fn parse_ls(reply: &[u8]) -> Result<Vec<String>, KuboError> {
    let bad = |what: &str| KuboError::BadResponse(format!("files/ls: {what}"));
    let json: serde_json::Value = serde_json::from_slice(reply).map_err(|_| bad("not JSON"))?;
    let entries = match json.get("Entries") {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(entries) => entries.as_array().ok_or_else(|| bad("Entries"))?,
    };
    entries
        .iter()
        .map(|entry| {
            entry
                .get("Name")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| bad("an entry without a Name"))
        })
        .collect()
}

/// Whether an error is the daemon saying an MFS path does not exist
/// (Kubo and js-ipfs both answer `file does not exist`).
pub(crate) fn is_no_such_file(error: &StoreError) -> bool {
    let StoreError::Backend { source, .. } = error else {
        return false;
    };
    matches!(source.downcast_ref::<KuboError>(), Some(KuboError::Status { message, .. })
        if message.to_lowercase().contains("does not exist"))
}

/// Whether an error is the daemon saying an MFS path exists already
/// (Kubo and js-ipfs both answer `file already exists`).
pub(crate) fn is_already_there(error: &StoreError) -> bool {
    let StoreError::Backend { source, .. } = error else {
        return false;
    };
    matches!(source.downcast_ref::<KuboError>(), Some(KuboError::Status { message, .. })
        if message.to_lowercase().contains("already exists"))
}

/// `text` percent-encoded for a query value: every byte but the unreserved
/// ones (`A-Z a-z 0-9 - . _ ~`) as `%XX`.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CID: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

    #[test]
    fn names_that_cannot_be_files_are_refused() {
        for bad in ["", ".", "..", "a/b", "/", "tab\there", "nul\0"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["ds", "era5 v2", "données", "a.b", "...", "x?y&z=1"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
        let message = check_name("a/b").unwrap_err().to_string();
        assert!(
            message.contains("\"a/b\"") && message.contains('/'),
            "{message}"
        );
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(
            escape("/hamt-roots/a b&c=d"),
            "%2Fhamt-roots%2Fa%20b%26c%3Dd"
        );
        assert_eq!(escape("é+%"), "%C3%A9%2B%25");
        assert_eq!(escape("Az09-._~"), "Az09-._~");
    }

    #[test]
    fn listings_and_name_files_parse() {
        let kubo = br#"{"Entries":[{"Name":"a","Type":0,"Size":0,"Hash":""},{"Name":"b c","Type":0,"Size":0,"Hash":""}]}"#;
        assert_eq!(parse_ls(kubo).unwrap(), ["a", "b c"]);
        assert!(parse_ls(br#"{"Entries":null}"#).unwrap().is_empty());
        assert!(parse_ls(br#"{"Entries":[{"Type":0}]}"#).is_err());
        assert!(parse_ls(b"nope").is_err());
        let cid = parse_name_file("/hamt-roots/a", format!(" {CID}\n").as_bytes()).unwrap();
        assert_eq!(cid.to_string(), CID);
        let bad = parse_name_file("/hamt-roots/a", b"hello").unwrap_err();
        assert!(bad.to_string().contains("/hamt-roots/a"), "{bad}");
    }
}
