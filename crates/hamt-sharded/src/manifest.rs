//! The root manifest, as py-hamt 3.6.0 writes it (DAG-CBOR maps; the
//! authority is `py_hamt/sharded_zarr_store.py`):
//!
//! ```text
//! v2 { "manifest_version": "sharded_zarr_v2", "store_type": "py_hamt.sharded_zarr",
//!      "zarr_format": 3, "sharding_config": {"chunks_per_shard": N, "order": "C"},
//!      "metadata": {key: CID, ...},
//!      "arrays": {path: {"array_shape": [..], "chunk_shape": [..],
//!                        "sharding_config": {"chunks_per_shard": N, "order": "C"},
//!                        "shard_cids": [CID | null, ...]}, ...} }
//! v1 { "manifest_version": "sharded_zarr_v1", "metadata": {key: CID, ...},
//!      "chunks": {"array_shape": [..], "chunk_shape": [..],
//!                 "sharding_config": {"chunks_per_shard": N},
//!                 "shard_cids": [...], "primary_array_path"?: str} }
//! ```
//!
//! Reading is strict about what the store uses (types, lengths, geometry)
//! and keeps every other root key, so a rewritten root holds them as py-hamt's
//! (which rewrites the dict it read) does.

use std::collections::BTreeMap;

use hamt_codec::Cid;
use ipld_core::ipld::Ipld;

use crate::error::ShardedError;
use crate::geometry::ArrayIndex;
use crate::keys::{ArrayPaths, normalize_path};

/// `manifest_version` of the deprecated single-index layout.
pub const SHARDED_ZARR_V1: &str = "sharded_zarr_v1";
/// `manifest_version` of the layout with one shard index per array path.
pub const SHARDED_ZARR_V2: &str = "sharded_zarr_v2";
/// `store_type` of a v2 manifest.
pub const STORE_TYPE: &str = "py_hamt.sharded_zarr";

/// The layout version of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestVersion {
    /// `sharded_zarr_v1`: one shard index, for the "primary" array; other
    /// arrays' chunks in the metadata map. Read-only here (migrate it).
    V1,
    /// `sharded_zarr_v2`: one shard index per array path.
    V2,
}

/// The arrays of a v2 manifest, in registration order (the first is
/// py-hamt's "primary" array).
#[derive(Debug, Clone, Default)]
pub(crate) struct Arrays {
    order: Vec<String>,
    by_path: BTreeMap<String, ArrayIndex>,
}

impl Arrays {
    pub(crate) fn get(&self, path: &str) -> Option<&ArrayIndex> {
        self.by_path.get(path)
    }

    pub(crate) fn get_mut(&mut self, path: &str) -> Option<&mut ArrayIndex> {
        self.by_path.get_mut(path)
    }

    /// Adds or replaces the array at `path`; a new one goes last.
    pub(crate) fn insert(&mut self, path: String, index: ArrayIndex) {
        if !self.by_path.contains_key(&path) {
            self.order.push(path.clone());
        }
        self.by_path.insert(path, index);
    }

    pub(crate) fn remove(&mut self, path: &str) -> Option<ArrayIndex> {
        self.order.retain(|p| p != path);
        self.by_path.remove(path)
    }

    pub(crate) fn clear(&mut self) {
        self.order.clear();
        self.by_path.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Every array, in registration order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &ArrayIndex)> {
        self.order
            .iter()
            .filter_map(|p| self.by_path.get(p).map(|i| (p.as_str(), i)))
    }

    pub(crate) fn paths(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }
}

impl ArrayPaths for Arrays {
    fn index(&self, path: &str) -> Option<&ArrayIndex> {
        self.get(path)
    }

    fn arrays(&self) -> Vec<(&str, &ArrayIndex)> {
        self.iter().collect()
    }
}

/// A v2 manifest.
#[derive(Debug, Clone)]
pub(crate) struct V2 {
    /// The root's keys besides `metadata` and `arrays`, as read (or as a new
    /// store starts them).
    pub(crate) extra: BTreeMap<String, Ipld>,
    pub(crate) metadata: BTreeMap<String, Cid>,
    pub(crate) arrays: Arrays,
    /// py-hamt's `_primary_array_path`: the first array registered.
    pub(crate) primary: Option<String>,
    /// Shard size for arrays registered from now on.
    pub(crate) default_chunks_per_shard: Option<u64>,
}

impl V2 {
    /// A new, empty manifest (py-hamt's `_initialize_new_root_v2`).
    pub(crate) fn new(chunks_per_shard: u64) -> Self {
        let mut extra = BTreeMap::new();
        extra.insert(
            "manifest_version".into(),
            Ipld::String(SHARDED_ZARR_V2.into()),
        );
        extra.insert("store_type".into(), Ipld::String(STORE_TYPE.into()));
        extra.insert("zarr_format".into(), Ipld::Integer(3));
        extra.insert(
            "sharding_config".into(),
            sharding_config(chunks_per_shard, true),
        );
        V2 {
            extra,
            metadata: BTreeMap::new(),
            arrays: Arrays::default(),
            primary: None,
            default_chunks_per_shard: Some(chunks_per_shard),
        }
    }

    /// The root object py-hamt's flush encodes.
    pub(crate) fn to_ipld(&self) -> Ipld {
        let mut root = self.extra.clone();
        root.insert("metadata".into(), metadata_ipld(&self.metadata));
        let arrays = self
            .arrays
            .iter()
            .map(|(path, index)| (path.to_owned(), array_ipld(index, true)))
            .collect();
        root.insert("arrays".into(), Ipld::Map(arrays));
        Ipld::Map(root)
    }
}

/// A v1 manifest.
#[derive(Debug, Clone)]
pub(crate) struct V1 {
    pub(crate) metadata: BTreeMap<String, Cid>,
    /// Metadata keys in the order the manifest holds them.
    pub(crate) metadata_order: Vec<String>,
    /// The single shard index.
    pub(crate) index: ArrayIndex,
    /// `chunks.primary_array_path` when the manifest records one (a string).
    pub(crate) recorded_primary: Option<String>,
    /// Whether `chunks` has a `primary_array_path` field at all.
    pub(crate) has_primary_field: bool,
    /// The primary array's path (recorded, inferred or `""`).
    pub(crate) primary: String,
    /// Whether `primary` was inferred from the metadata (legacy roots).
    pub(crate) inferred: bool,
}

/// A decoded manifest.
#[derive(Debug, Clone)]
pub(crate) enum Manifest {
    V1(Box<V1>),
    V2(V2),
}

fn sharding_config(chunks_per_shard: u64, with_order: bool) -> Ipld {
    let mut config = BTreeMap::new();
    config.insert(
        "chunks_per_shard".into(),
        Ipld::Integer(chunks_per_shard.into()),
    );
    if with_order {
        config.insert("order".into(), Ipld::String("C".into()));
    }
    Ipld::Map(config)
}

fn dims_ipld(dims: &[u64]) -> Ipld {
    Ipld::List(dims.iter().map(|&d| Ipld::Integer(d.into())).collect())
}

/// py-hamt's `ArrayIndex.to_manifest` (v1 omits `order`).
fn array_ipld(index: &ArrayIndex, with_order: bool) -> Ipld {
    let mut map = BTreeMap::new();
    map.insert("array_shape".into(), dims_ipld(index.shape()));
    map.insert("chunk_shape".into(), dims_ipld(index.chunk_shape()));
    map.insert(
        "sharding_config".into(),
        sharding_config(index.chunks_per_shard(), with_order),
    );
    map.insert(
        "shard_cids".into(),
        Ipld::List(
            index
                .shard_cids()
                .iter()
                .map(|c| c.map_or(Ipld::Null, Ipld::Link))
                .collect(),
        ),
    );
    Ipld::Map(map)
}

fn metadata_ipld(metadata: &BTreeMap<String, Cid>) -> Ipld {
    Ipld::Map(
        metadata
            .iter()
            .map(|(k, v)| (k.clone(), Ipld::Link(*v)))
            .collect(),
    )
}

/// Reads a manifest from its DAG-CBOR bytes.
pub(crate) fn decode(cid: &Cid, bytes: &[u8]) -> Result<Manifest, ShardedError> {
    let bad = |reason: String| ShardedError::BadRoot { cid: *cid, reason };
    let root: Ipld = serde_ipld_dagcbor::from_slice(bytes)
        .map_err(|e| bad(format!("Failed to decode root object: {e}")))?;
    let Ipld::Map(root) = root else {
        return Err(bad("Root object is not a valid dictionary.".into()));
    };
    match root.get("manifest_version") {
        Some(Ipld::String(v)) if v == SHARDED_ZARR_V2 => {
            decode_v2(root).map(Manifest::V2).map_err(bad)
        }
        Some(Ipld::String(v)) if v == SHARDED_ZARR_V1 => decode_v1(&root)
            .map(|v1| Manifest::V1(Box::new(v1)))
            .map_err(bad),
        other => Err(bad(format!(
            "Incompatible manifest version: {}. Expected '{SHARDED_ZARR_V1}' or '{SHARDED_ZARR_V2}'.",
            other.map_or_else(|| "None".to_owned(), |v| format!("{v:?}"))
        ))),
    }
}

fn decode_metadata(value: Option<&Ipld>) -> Result<(BTreeMap<String, Cid>, Vec<String>), String> {
    let Some(Ipld::Map(map)) = value else {
        return Err("'metadata' is not a dictionary.".into());
    };
    let mut metadata = BTreeMap::new();
    let mut order = Vec::with_capacity(map.len());
    // `map` iterates in DAG-CBOR's canonical order, as py-hamt's decoded dict does.
    let mut entries: Vec<(&String, &Ipld)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(b.0)));
    for (key, value) in entries {
        let cid = match value {
            Ipld::Link(cid) => *cid,
            // py-hamt's flush turns CID strings into links.
            Ipld::String(text) => Cid::try_from(text.as_str())
                .map_err(|e| format!("metadata {key:?} holds {text:?}, not a CID: {e}"))?,
            other => return Err(format!("metadata {key:?} holds {other:?}, not a CID")),
        };
        metadata.insert(key.clone(), cid);
        order.push(key.clone());
    }
    Ok((metadata, order))
}

fn dims(map: &BTreeMap<String, Ipld>, field: &str) -> Result<Vec<u64>, String> {
    match map.get(field) {
        Some(Ipld::List(items)) => items
            .iter()
            .map(|item| match item {
                Ipld::Integer(n) => u64::try_from(*n)
                    .map_err(|_| format!("{field} holds {n}: dimensions must be non-negative")),
                other => Err(format!("{field} holds {other:?}, not an integer")),
            })
            .collect(),
        Some(_) => Err(format!("{field} is not a list")),
        None => Err(format!("{field} is missing")),
    }
}

fn shard_cids(map: &BTreeMap<String, Ipld>) -> Result<Vec<Option<Cid>>, String> {
    let Some(Ipld::List(items)) = map.get("shard_cids") else {
        return Err("shard_cids is not a list.".into());
    };
    items
        .iter()
        .map(|item| match item {
            Ipld::Link(cid) => Ok(Some(*cid)),
            Ipld::Null => Ok(None),
            other => Err(format!("shard_cids holds {other:?}, not a CID or null")),
        })
        .collect()
}

fn chunks_per_shard(config: Option<&Ipld>) -> Result<u64, String> {
    let config = match config {
        Some(Ipld::Map(config)) => config,
        None => return Err("sharding_config has no chunks_per_shard".into()),
        Some(_) => return Err("sharding_config is not a dictionary.".into()),
    };
    if let Some(order) = config.get("order")
        && *order != Ipld::String("C".into())
    {
        return Err("Only row-major ('C') shard ordering is supported.".into());
    }
    match config.get("chunks_per_shard") {
        Some(Ipld::Integer(n)) if *n > 0 => {
            u64::try_from(*n).map_err(|_| "chunks_per_shard is too large".into())
        }
        _ => Err("chunks_per_shard must be a positive integer.".into()),
    }
}

fn array_index(map: &BTreeMap<String, Ipld>) -> Result<ArrayIndex, String> {
    let shards = shard_cids(map)?;
    let per_shard = chunks_per_shard(map.get("sharding_config"))?;
    ArrayIndex::with_shards(
        dims(map, "array_shape")?,
        dims(map, "chunk_shape")?,
        per_shard,
        shards,
    )
    .map_err(|e| e.to_string())
}

fn decode_v2(mut root: BTreeMap<String, Ipld>) -> Result<V2, String> {
    let (metadata, _) = decode_metadata(root.get("metadata"))?;
    let Some(Ipld::Map(arrays_ipld)) = root.remove("arrays") else {
        return Err(
            "Root object is not a valid v2 dictionary with 'metadata' and 'arrays' keys.".into(),
        );
    };
    root.remove("metadata");
    let mut default_chunks_per_shard = match root.get("sharding_config") {
        Some(Ipld::Map(config)) => match config.get("chunks_per_shard") {
            Some(Ipld::Integer(n)) => u64::try_from(*n).ok(),
            _ => None,
        },
        _ => None,
    };
    let mut entries: Vec<(String, Ipld)> = arrays_ipld.into_iter().collect();
    entries.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
    let mut arrays = Arrays::default();
    let mut primary = None;
    for (path, manifest) in entries {
        let Ipld::Map(manifest) = manifest else {
            return Err("arrays must map string paths to dictionaries.".into());
        };
        let index = array_index(&manifest).map_err(|e| format!("array {path:?}: {e}"))?;
        let path = normalize_path(&path).to_owned();
        if primary.is_none() {
            primary = Some(path.clone());
        }
        arrays.insert(path, index);
    }
    if let Some(first) = primary.as_deref().and_then(|p| arrays.get(p)) {
        default_chunks_per_shard = Some(first.chunks_per_shard());
    }
    Ok(V2 {
        extra: root,
        metadata,
        arrays,
        primary,
        default_chunks_per_shard,
    })
}

fn decode_v1(root: &BTreeMap<String, Ipld>) -> Result<V1, String> {
    let Some(Ipld::Map(chunks)) = root.get("chunks") else {
        return Err("Root object is not a valid dictionary with 'chunks' key.".into());
    };
    let (metadata, metadata_order) = decode_metadata(root.get("metadata"))?;
    let index = array_index(chunks)?;
    let has_primary_field = chunks.contains_key("primary_array_path");
    let recorded_primary = match chunks.get("primary_array_path") {
        Some(Ipld::String(path)) => Some(path.clone()),
        _ => None,
    };
    let primary = recorded_primary
        .as_deref()
        .map(|p| normalize_path(p).to_owned())
        .unwrap_or_default();
    Ok(V1 {
        metadata,
        metadata_order,
        index,
        recorded_primary,
        has_primary_field,
        primary,
        inferred: false,
    })
}

/// The DAG-CBOR bytes of a root object.
pub(crate) fn encode(root: &Ipld) -> Result<Vec<u8>, ShardedError> {
    serde_ipld_dagcbor::to_vec(root)
        .map_err(|e| ShardedError::Manifest(format!("cannot encode the root: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};

    fn cid(n: u8) -> Cid {
        block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, &[n])
    }

    #[test]
    fn a_v2_manifest_round_trips() {
        let mut v2 = V2::new(4);
        v2.metadata.insert("zarr.json".into(), cid(1));
        let mut index = ArrayIndex::new(vec![10], vec![2], 4).unwrap();
        index.shard_cids[1] = Some(cid(2));
        v2.arrays.insert("0/temp".into(), index.clone());
        let bytes = encode(&v2.to_ipld()).unwrap();
        let root = block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, &bytes);
        let Manifest::V2(back) = decode(&root, &bytes).unwrap() else {
            panic!("not v2")
        };
        assert_eq!(back.metadata, v2.metadata);
        assert_eq!(back.arrays.get("0/temp"), Some(&index));
        assert_eq!(back.primary.as_deref(), Some("0/temp"));
        assert_eq!(back.default_chunks_per_shard, Some(4));
        assert_eq!(encode(&back.to_ipld()).unwrap(), bytes);
    }

    #[test]
    fn bad_manifests_are_typed_errors() {
        let root = cid(0);
        let cases: Vec<Ipld> = vec![
            Ipld::List(vec![]),
            Ipld::Map(
                [(
                    "manifest_version".into(),
                    Ipld::String("sharded_zarr_v9".into()),
                )]
                .into(),
            ),
            Ipld::Map(
                [(
                    "manifest_version".into(),
                    Ipld::String(SHARDED_ZARR_V2.into()),
                )]
                .into(),
            ),
            Ipld::Map(
                [(
                    "manifest_version".into(),
                    Ipld::String(SHARDED_ZARR_V1.into()),
                )]
                .into(),
            ),
        ];
        for case in cases {
            let bytes = serde_ipld_dagcbor::to_vec(&case).unwrap();
            assert!(
                matches!(decode(&root, &bytes), Err(ShardedError::BadRoot { .. })),
                "{case:?}"
            );
        }
        assert!(decode(&root, &[0xff]).is_err());
        // Wrong shard count for the geometry.
        let mut v2 = V2::new(2);
        v2.arrays
            .insert("a".into(), ArrayIndex::new(vec![4], vec![1], 2).unwrap());
        let Ipld::Map(mut map) = v2.to_ipld() else {
            unreachable!()
        };
        if let Some(Ipld::Map(arrays)) = map.get_mut("arrays")
            && let Some(Ipld::Map(a)) = arrays.get_mut("a")
        {
            a.insert("shard_cids".into(), Ipld::List(vec![Ipld::Null]));
        }
        let bytes = serde_ipld_dagcbor::to_vec(&Ipld::Map(map)).unwrap();
        let err = decode(&root, &bytes).unwrap_err().to_string();
        assert!(err.contains("Inconsistent number of shards"), "{err}");
    }
}
