//! `sharded_zarr_v1` manifests: one shard index, for a "primary" array;
//! py-hamt's rules for which keys it holds, the inference of the primary
//! array of legacy roots that do not record it, and the migration to v2.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use hamt_codec::{BlockCodec, Cid};
use hamt_store::BlockStore;

use crate::error::ShardedError;
use crate::geometry::ArrayIndex;
use crate::keys::{
    ChunkKey, KeyError, array_path_of_metadata_key, is_metadata_key, normalize_path,
};
use crate::manifest::{V1, V2};
use crate::pyjson::{self, Json};
use crate::store::{MAX_LOADED_BYTES, encode_save, load};

/// Array names whose chunks a v1 store keeps in the metadata map, never in
/// its shards (py-hamt's `_V1_COORDINATE_ARRAY_PREFIXES`).
const COORDINATE_ARRAYS: [&str; 7] = [
    "time",
    "lat",
    "lon",
    "latitude",
    "longitude",
    "forecast_reference_time",
    "step",
];

/// Metadata blocks read at once while inferring the primary array.
const INFERENCE_CONCURRENCY: usize = 8;

/// py-hamt's `_parse_chunk_key` for a v1 manifest: `None` for keys kept in
/// the metadata map, the chunk of the primary array otherwise.
pub(crate) fn parse_chunk_key(key: &str, m: &V1) -> Result<Option<ChunkKey>, ShardedError> {
    if is_metadata_key(key) {
        return Ok(None);
    }
    let (array_path, coord_part) = if let Some(at) = key.rfind("/c/") {
        (&key[..at], &key[at + 3..])
    } else if let Some(rest) = key.strip_prefix("c/") {
        // Root chunks ("c/...") are shard chunks only where the manifest
        // records the root as the primary array.
        if !m
            .recorded_primary
            .as_deref()
            .is_some_and(|p| normalize_path(p).is_empty())
        {
            return Ok(None);
        }
        ("", rest)
    } else {
        return Ok(None);
    };
    let normalized = normalize_path(array_path);
    let name = normalized.rsplit('/').next().unwrap_or(normalized);
    if COORDINATE_ARRAYS.contains(&name) {
        return Ok(None);
    }
    let (exclusive, effective) = match &m.recorded_primary {
        Some(recorded) => (true, normalize_path(recorded).to_owned()),
        None if m.inferred || !m.primary.is_empty() => (true, m.primary.clone()),
        None => (false, String::new()),
    };
    if exclusive && normalized != effective {
        return Ok(None);
    }
    let mut coords = Vec::new();
    for part in coord_part.split('/') {
        let coord = crate::keys::parse_coordinate(part).ok_or_else(|| KeyError::NotAnInteger {
            key: key.to_owned(),
            part: part.to_owned(),
        })?;
        coords.push(coord);
    }
    let is_primary = exclusive && normalized == effective;
    if !normalized.is_empty()
        && !is_primary
        && coords.len() != m.index.chunks_per_dim().len()
        && (m.metadata.contains_key(&format!("{normalized}/zarr.json"))
            || m.metadata.contains_key(&format!("{normalized}/.zarray")))
    {
        // A named array with its own metadata and another rank than the
        // primary can never be a primary chunk: its chunks are metadata.
        return Ok(None);
    }
    let Ok(coords) = coords.into_iter().collect::<Result<Vec<u64>, ()>>() else {
        // A negative or huge coordinate: outside every grid.
        return Err(KeyError::Coords {
            key: key.to_owned(),
            source: crate::geometry::CoordsError::OutOfBounds {
                dim: 0,
                coord: u64::MAX,
                size: m.index.chunks_per_dim().first().copied().unwrap_or(0),
            },
        }
        .into());
    };
    m.index
        .linear_index(&coords)
        .map_err(|source| KeyError::Coords {
            key: key.to_owned(),
            source,
        })?;
    Ok(Some(ChunkKey {
        array_path: normalized.to_owned(),
        coords,
    }))
}

/// What a v1 store's chunk keys are listed under: unrecorded roots whose
/// primary is the root list shard chunks as `/c/...`, apart from legacy
/// metadata keys `c/...` (py-hamt's `_iter_chunk_keys`).
pub(crate) fn listing_prefix(m: &V1) -> &'static str {
    let recorded_root = m
        .recorded_primary
        .as_deref()
        .is_some_and(|p| normalize_path(p).is_empty());
    if m.primary.is_empty() && !recorded_root {
        "/"
    } else {
        ""
    }
}

/// Infers the primary array of a legacy v1 root that does not record it
/// (py-hamt's `_infer_v1_legacy_primary_array_path`): the one array whose
/// metadata declares the index's shape and chunk shape. Leaves the default
/// (`""`, not exclusive) when none or several match, or a metadata block
/// cannot be read.
pub(crate) async fn infer_primary<S: BlockStore + ?Sized>(store: &S, m: &mut V1) {
    let candidates: Vec<(String, Cid)> = m
        .metadata_order
        .iter()
        .filter_map(|key| {
            let path = normalize_path(array_path_of_metadata_key(key)?);
            let name = path.rsplit('/').next().unwrap_or(path);
            (!COORDINATE_ARRAYS.contains(&name)).then(|| (path.to_owned(), m.metadata[key]))
        })
        .collect();
    let mut matching = std::collections::BTreeSet::new();
    for batch in candidates.chunks(INFERENCE_CONCURRENCY) {
        // Owned items: a closure over borrowed ones trips rustc's
        // higher-ranked `Send` check where this future must be `Send`.
        let cids: Vec<Cid> = batch.iter().map(|(_, c)| *c).collect();
        let loaded: Vec<Result<Bytes, ShardedError>> = stream::iter(cids)
            .map(|cid| async move { load(store, &cid, MAX_LOADED_BYTES).await })
            .buffered(INFERENCE_CONCURRENCY)
            .collect()
            .await;
        for ((path, _), bytes) in batch.iter().zip(loaded) {
            // An unreadable candidate might have been the primary: guess nothing.
            let Ok(bytes) = bytes else { return };
            let Some(json) = pyjson::loads(&bytes) else {
                continue;
            };
            if json.get("shape").and_then(Json::as_dims).as_deref() != Some(m.index.shape()) {
                continue;
            }
            let declared = json
                .get("chunk_grid")
                .and_then(|g| g.get("configuration"))
                .and_then(|c| c.get("chunk_shape"))
                .or_else(|| json.get("chunks"))
                .and_then(Json::as_dims);
            if declared.as_deref() == Some(m.index.chunk_shape()) {
                matching.insert(path.clone());
            }
        }
        if matching.len() > 1 {
            return;
        }
    }
    if let Some(path) = matching.into_iter().next() {
        m.primary = path;
        m.inferred = true;
    }
}

/// The v2 manifest py-hamt's `migrate_v1_to_v2(primary_array_path)` makes
/// from `old`: the same shards under `primary_array_path`, metadata keys
/// moved to sit under it (and its parent), and group metadata for every
/// group above it (writing the group metadata blocks it needs).
pub(crate) async fn migrate<S: BlockStore + ?Sized>(
    store: &S,
    old: &V1,
    primary_array_path: &str,
) -> Result<V2, ShardedError> {
    let primary = normalize_path(primary_array_path).to_owned();
    if primary.is_empty() {
        return Err(ShardedError::Invalid(
            "primary_array_path must be a non-empty array path.".into(),
        ));
    }
    let source = migration_source(old, &primary);
    let mut metadata = BTreeMap::new();
    for key in &old.metadata_order {
        metadata.insert(rewrite_key(key, &source, &primary), old.metadata[key]);
    }
    add_missing_groups(store, &mut metadata, &primary).await?;
    let index = ArrayIndex::with_shards(
        old.index.shape().to_vec(),
        old.index.chunk_shape().to_vec(),
        old.index.chunks_per_shard(),
        old.index.shard_cids().to_vec(),
    )?;
    let mut v2 = V2::new(index.chunks_per_shard());
    v2.metadata = metadata;
    v2.arrays.insert(primary.clone(), index);
    v2.primary = Some(primary);
    Ok(v2)
}

/// Where the primary array's metadata sits in the v1 root (py-hamt's
/// `_infer_v1_migration_source_array_path`).
fn migration_source(old: &V1, primary: &str) -> String {
    let leaf = primary.rsplit('/').next().unwrap_or(primary);
    let mut candidates = vec![primary.to_owned()];
    if leaf != primary {
        candidates.push(leaf.to_owned());
    }
    candidates.push(String::new());
    for candidate in candidates {
        let keys = if candidate.is_empty() {
            ["zarr.json".to_owned(), ".zarray".to_owned()]
        } else {
            [
                format!("{candidate}/zarr.json"),
                format!("{candidate}/.zarray"),
            ]
        };
        if keys.iter().any(|k| old.metadata.contains_key(k)) {
            return candidate;
        }
    }
    leaf.to_owned()
}

/// py-hamt's `_rewrite_v1_metadata_key_for_migration`.
fn rewrite_key(key: &str, source: &str, primary: &str) -> String {
    let parent = primary.rsplit_once('/').map_or("", |(p, _)| p);
    if !source.is_empty() {
        if let Some(rest) = key.strip_prefix(&format!("{source}/")) {
            return format!("{primary}/{rest}");
        }
    } else if key.starts_with("c/") || key == "zarr.json" || key == ".zarray" {
        return format!("{primary}/{key}");
    }
    if !parent.is_empty() && key.contains('/') && !key.starts_with(&format!("{parent}/")) {
        return format!("{parent}/{key}");
    }
    key.to_owned()
}

/// py-hamt's `_add_missing_group_metadata`: every group above the primary
/// array gets group metadata if it has none; a v3 group that has some loses
/// its `consolidated_metadata`.
async fn add_missing_groups<S: BlockStore + ?Sized>(
    store: &S,
    metadata: &mut BTreeMap<String, Cid>,
    primary: &str,
) -> Result<(), ShardedError> {
    let parts: Vec<&str> = primary.split('/').collect();
    let groups: Vec<String> = (0..parts.len()).map(|i| parts[..i].join("/")).collect();
    let zarr_v2 = metadata.contains_key(&format!("{primary}/.zarray"));
    let hash = store.hash_algorithm();
    for group in groups {
        let key = match (zarr_v2, group.is_empty()) {
            (true, true) => ".zgroup".to_owned(),
            (true, false) => format!("{group}/.zgroup"),
            (false, true) => "zarr.json".to_owned(),
            (false, false) => format!("{group}/zarr.json"),
        };
        if let Some(&cid) = metadata.get(&key) {
            if !zarr_v2 {
                let raw = load(store, &cid, MAX_LOADED_BYTES).await?;
                if let Some(mut json) = pyjson::loads(&raw)
                    && json.get("node_type") == Some(&Json::Str("group".into()))
                    && json.remove("consolidated_metadata")
                {
                    let (stripped, blocks) = encode_save(
                        BlockCodec::Raw,
                        hash,
                        Bytes::from(pyjson::dumps(&json, None)),
                    );
                    store.put_many(blocks).await?;
                    metadata.insert(key, stripped);
                }
            }
            continue;
        }
        let bytes: &'static [u8] = if zarr_v2 {
            br#"{"zarr_format": 2}"#
        } else {
            br#"{"zarr_format": 3, "node_type": "group", "attributes": {}}"#
        };
        let (cid, blocks) = encode_save(BlockCodec::Raw, hash, Bytes::from_static(bytes));
        store.put_many(blocks).await?;
        metadata.insert(key, cid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_moves_keys_under_the_primary_array() {
        assert_eq!(rewrite_key("c/0/1", "", "0/temp"), "0/temp/c/0/1");
        assert_eq!(rewrite_key("zarr.json", "", "0/temp"), "0/temp/zarr.json");
        assert_eq!(
            rewrite_key("lat/zarr.json", "", "0/temp"),
            "0/lat/zarr.json"
        );
        assert_eq!(
            rewrite_key("temp/zarr.json", "temp", "0/temp"),
            "0/temp/zarr.json"
        );
        assert_eq!(
            rewrite_key("0/x/zarr.json", "temp", "0/temp"),
            "0/x/zarr.json"
        );
        assert_eq!(rewrite_key(".zattrs", "temp", "0/temp"), ".zattrs");
        assert_eq!(rewrite_key("x", "", "temp"), "x");
    }
}
