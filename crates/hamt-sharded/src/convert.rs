//! HAMT to sharded: a dataset's HAMT root rewritten in py-hamt's sharded
//! layout by copying CIDs only (py-hamt 3.6.0's `convert_hamt_to_sharded`),
//! so the same HAMT converts to the same sharded root on either side.

use futures::TryStreamExt;
use hamt::{BlockStore, Cid, Hamt, HamtConfig};

use crate::keys::{ArrayPaths, format_chunk_key};
use crate::{ArrayIndex, ShardedError, ShardedMap};

/// Keys py-hamt's converter copies as metadata (the store's suffixes, and
/// v2's consolidated `.zmetadata`).
const METADATA_SUFFIXES: [&str; 5] = ["zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"];

fn is_metadata(key: &str) -> bool {
    METADATA_SUFFIXES.iter().any(|s| key.ends_with(s))
}

/// What [`hamt_to_sharded`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The sharded store's root.
    pub root: Cid,
    /// HAMT keys that look like chunks but have no place in their array's
    /// grid (outside it, or coordinates that are not integers): py-hamt's
    /// converter drops them silently, and so does this one, to give the
    /// same root; they are listed here.
    pub dropped: Vec<String>,
}

/// Converts the zarr dataset whose HAMT root is `hamt_root` into a new v2
/// sharded store on the same block store with `chunks_per_shard` chunks per
/// shard (py-hamt's CLI default: 6,250), writing only shards, the manifest
/// and any group metadata py-hamt adds; every value keeps its CID. Returns
/// the sharded root.
///
/// As py-hamt: metadata first (so each array registers its index), then
/// every chunk, with zarr v2 chunk keys (`a/0.1`, `a/0/1`) renamed to v3
/// (`a/c/0/1`); keys in py-hamt's HAMT order. A chunk key its array's grid
/// has no place for is dropped, as py-hamt drops it ([`Conversion::dropped`]).
///
/// # Errors
/// The HAMT cannot be read, a key is neither metadata nor a chunk, or a
/// chunk belongs to an array with no metadata (py-hamt fails on both).
pub async fn hamt_to_sharded<S: BlockStore>(
    store: S,
    hamt_root: Cid,
    chunks_per_shard: u64,
) -> Result<Conversion, ShardedError> {
    let hamt = Hamt::open(&store, hamt_root, HamtConfig::default())
        .await
        .map_err(Box::new)?;
    let links: Vec<(String, Cid)> = hamt
        .links_in_py_hamt_order()
        .try_collect()
        .await
        .map_err(Box::new)?;
    let mut sharded = ShardedMap::new(&store, chunks_per_shard)?;
    for (key, link) in &links {
        if is_metadata(key) {
            sharded.set_pointer(key, *link).await?;
        }
    }
    let arrays = Arrays(sharded.arrays());
    let mut dropped = Vec::new();
    for (key, link) in &links {
        let Some(chunk_key) = v3_chunk_key(key, &arrays) else {
            if is_metadata(key) {
                continue;
            }
            return Err(ShardedError::Convert {
                key: key.clone(),
                reason: "Cannot classify Zarr key as metadata or chunk during conversion.",
            });
        };
        match sharded.set_pointer(&chunk_key, *link).await {
            // py-hamt's `_set_pointer_cid` returns on the ValueError.
            Err(ShardedError::Key(_)) => dropped.push(key.clone()),
            result => result?,
        }
    }
    Ok(Conversion {
        root: sharded.flush().await?,
        dropped,
    })
}

/// The registered arrays, for renaming classic chunk keys.
struct Arrays(Vec<(String, ArrayIndex)>);

impl ArrayPaths for Arrays {
    fn index(&self, path: &str) -> Option<&ArrayIndex> {
        self.0.iter().find(|(p, _)| p == path).map(|(_, i)| i)
    }

    fn arrays(&self) -> Vec<(&str, &ArrayIndex)> {
        self.0.iter().map(|(p, i)| (p.as_str(), i)).collect()
    }
}

/// py-hamt's `_normalize_zarr_chunk_key`: a chunk key in zarr v3 form, or
/// `None` for metadata and anything else.
fn v3_chunk_key(key: &str, arrays: &Arrays) -> Option<String> {
    if is_metadata(key) {
        return None;
    }
    // Dotted v2 keys: "<array>/1.2.3".
    let (path, coords) = key.rsplit_once('/').unwrap_or(("", key));
    if coords.contains('.') {
        let parts: Vec<&str> = coords.split('.').collect();
        if parts.iter().all(|p| is_decimal(p)) {
            return Some(format_chunk_key(path, &parse_all(&parts)?));
        }
    }
    // Slash-separated v2 keys under the longest registered array path.
    let mut by_length = arrays.arrays();
    by_length.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    for (path, index) in by_length {
        let coords = if path.is_empty() {
            key
        } else {
            match key.strip_prefix(path).and_then(|r| r.strip_prefix('/')) {
                Some(rest) => rest,
                None => continue,
            }
        };
        let parts: Vec<&str> = coords.split('/').collect();
        if parts.len() == index.chunks_per_dim().len() && parts.iter().all(|p| is_decimal(p)) {
            return Some(format_chunk_key(path, &parse_all(&parts)?));
        }
    }
    (key.starts_with("c/") || key.contains("/c/")).then(|| key.to_owned())
}

fn is_decimal(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
}

fn parse_all(parts: &[&str]) -> Option<Vec<u64>> {
    parts.iter().map(|p| p.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_keys_become_v3_keys() {
        let arrays = Arrays(vec![(
            "temp".into(),
            ArrayIndex::new(vec![4, 4], vec![2, 2], 2).unwrap(),
        )]);
        assert_eq!(
            v3_chunk_key("temp/1.0", &arrays).as_deref(),
            Some("temp/c/1/0")
        );
        assert_eq!(
            v3_chunk_key("temp/1/0", &arrays).as_deref(),
            Some("temp/c/1/0")
        );
        assert_eq!(
            v3_chunk_key("temp/c/1/0", &arrays).as_deref(),
            Some("temp/c/1/0")
        );
        assert_eq!(v3_chunk_key("temp/zarr.json", &arrays), None);
        assert_eq!(v3_chunk_key(".zmetadata", &arrays), None);
        assert_eq!(v3_chunk_key("junk", &arrays), None);
    }
}
