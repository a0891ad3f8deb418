//! [`ShardedMap`]: a zarr dataset's keys on py-hamt 3.6.0's sharded layout.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use hamt::Change;
use hamt::diff::diff_entries;
use hamt_codec::{BlockCodec, Cid, link_list};
use hamt_store::{Block, BlockStore, ByteRange, telemetry};

use crate::cache::{ShardCache, ShardView};
use crate::error::ShardedError;
use crate::geometry::{ArrayIndex, ShardSlot};
use crate::keys::{
    ChunkKey, array_path_of_metadata_key, format_chunk_key, group_path_of_metadata_key,
    normalize_path, parse_chunk_key_v2,
};
use crate::manifest::{self, Manifest, ManifestVersion, V2};
use crate::pyjson::{self, Json};
use crate::v1;

/// py-hamt's default shard size for new stores and conversions.
pub const DEFAULT_CHUNKS_PER_SHARD: u64 = 6250;

/// Group metadata py-hamt writes for a parent group that has none (zarr v3),
/// byte for byte as Python's `json.dumps` writes it.
const V3_GROUP: &[u8] = br#"{"zarr_format": 3, "node_type": "group", "attributes": {}}"#;
/// The same for zarr v2.
const V2_GROUP: &[u8] = br#"{"zarr_format": 2}"#;

/// Shards loaded at once by listings, grafts and resizes.
const LOAD_CONCURRENCY: usize = 8;

/// How a [`ShardedMap`] uses memory.
#[derive(Debug, Clone)]
pub struct ShardedConfig {
    /// Budget of the cache of clean shards (py-hamt: 100 MB).
    pub cache_bytes: u64,
    /// Past this many bytes of changed shards, they are written out before
    /// the next change (the manifest waits for the flush), so an import of
    /// any size runs in bounded memory with the same blocks.
    pub dirty_shard_bytes: usize,
    /// Values of at most 1 MiB are held after a write and written together
    /// (one `put_many`, which a remote store sends concurrently) past this
    /// many bytes and at every flush; reads see them at once.
    pub buffered_value_bytes: usize,
    /// The most bytes one value read returns (default 1 GiB): a value over
    /// 1 MiB is a UnixFS file whose root declares its size, so a larger
    /// range is refused before anything is allocated (see
    /// [`hamt_unixfs::read_file_limited`]).
    pub max_value_read: u64,
}

impl Default for ShardedConfig {
    fn default() -> Self {
        ShardedConfig {
            cache_bytes: 100 << 20,
            dirty_shard_bytes: 64 << 20,
            buffered_value_bytes: 16 << 20,
            max_value_read: hamt_unixfs::DEFAULT_MAX_READ,
        }
    }
}

/// A zarr dataset's keys and values in py-hamt 3.6.0's sharded layout
/// (`ShardedZarrStore`): a root manifest holding, per zarr array, the CIDs
/// of its *shards*, each a DAG-CBOR list of the CIDs of a fixed run of
/// chunks in C order, and the CIDs of every metadata value. A chunk's CID
/// is found by arithmetic and one shard read.
///
/// The same operations as py-hamt's give the same blocks and root CID
/// (values and shards over 1 MiB become UnixFS files, as py-hamt's
/// `KuboCAS` stores them). Writes change shards in memory (and write values
/// at once); [`flush`](Self::flush) writes changed shards, then the
/// manifest, and returns the root CID. A `sharded_zarr_v1` manifest is read
/// only: [`migrate_v1_to_v2`](Self::migrate_v1_to_v2) rewrites it.
///
/// Shards are read into a bounded cache of undecoded blocks with each
/// entry's offset, so a lookup decodes one CID, never the whole shard
/// (py-hamt's "sparse" read), and readers of one shard share one fetch.
///
/// ```
/// use hamt_sharded::ShardedMap;
/// use hamt_store::MemoryStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut map = ShardedMap::new(MemoryStore::new(), 4)?;
/// map.set("zarr.json", br#"{"zarr_format": 3, "node_type": "group"}"#.to_vec().into()).await?;
/// let meta = br#"{"shape": [6], "chunk_grid": {"configuration": {"chunk_shape": [2]}}}"#;
/// map.set("0/temp/zarr.json", meta.to_vec().into()).await?;
/// map.set("0/temp/c/2", vec![1u8; 8].into()).await?;
/// let root = map.flush().await?;
/// let link = map.get_link("0/temp/c/2").await?.expect("the chunk is there");
/// assert_eq!(map.read_value(&link, hamt_store::ByteRange::Full).await?.len(), 8);
/// # let _ = root;
/// # Ok::<(), hamt_sharded::ShardedError>(())
/// # }).unwrap();
/// ```
pub struct ShardedMap<S> {
    store: S,
    config: ShardedConfig,
    manifest: Manifest,
    /// The root as last written or opened.
    root_cid: Option<Cid>,
    /// The manifest changed since.
    dirty_root: bool,
    /// Changed shards, by array and shard number.
    dirty: BTreeMap<String, BTreeMap<u64, Vec<Option<Cid>>>>,
    dirty_bytes: usize,
    /// Shared by forks (content-addressed: never stale).
    cache: Arc<ShardCache>,
    /// Written values (single blocks) not yet in the store.
    buffered: BufferedBlocks,
    /// py-hamt's `_v2_pending_root_group_write`.
    pending_root_group_write: bool,
}

/// Blocks written but not yet stored, readable by CID.
#[derive(Debug, Clone, Default)]
struct BufferedBlocks {
    blocks: Vec<Block>,
    by_cid: std::collections::HashMap<Cid, Bytes>,
    bytes: usize,
}

impl<S> std::fmt::Debug for ShardedMap<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedMap")
            .field("version", &self.version())
            .field("root", &self.root_cid())
            .field(
                "dirty_shards",
                &self.dirty.values().map(BTreeMap::len).sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

/// Bytes a decoded shard takes in memory.
fn shard_bytes(entries: usize) -> usize {
    entries * std::mem::size_of::<Option<Cid>>()
}

impl<S> ShardedMap<S> {
    /// The manifest's layout version.
    pub fn version(&self) -> ManifestVersion {
        match self.manifest {
            Manifest::V1(_) => ManifestVersion::V1,
            Manifest::V2(_) => ManifestVersion::V2,
        }
    }

    /// The root CID, if nothing changed since the last flush or open.
    pub fn root_cid(&self) -> Option<Cid> {
        if self.is_dirty() { None } else { self.root_cid }
    }

    /// Whether there are changes not yet flushed.
    pub fn is_dirty(&self) -> bool {
        self.dirty_root || !self.dirty.is_empty()
    }

    /// The block store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Every array with a shard index, in registration order (for a v1
    /// manifest, the one index, under the primary array's path).
    pub fn arrays(&self) -> Vec<(String, ArrayIndex)> {
        match &self.manifest {
            Manifest::V2(m) => m
                .arrays
                .iter()
                .map(|(p, i)| (p.to_owned(), i.clone()))
                .collect(),
            Manifest::V1(m) => vec![(m.primary.clone(), m.index.clone())],
        }
    }

    /// The metadata keys and the CIDs of their values.
    pub fn metadata(&self) -> &BTreeMap<String, Cid> {
        match &self.manifest {
            Manifest::V2(m) => &m.metadata,
            Manifest::V1(m) => &m.metadata,
        }
    }

    fn v2(&self) -> Result<&V2, ShardedError> {
        match &self.manifest {
            Manifest::V2(m) => Ok(m),
            Manifest::V1(_) => Err(ShardedError::ReadOnly(
                "a sharded_zarr_v1 manifest: migrate_v1_to_v2 first",
            )),
        }
    }

    fn v2_mut(&mut self) -> Result<&mut V2, ShardedError> {
        match &mut self.manifest {
            Manifest::V2(m) => Ok(m),
            Manifest::V1(_) => Err(ShardedError::ReadOnly(
                "a sharded_zarr_v1 manifest: migrate_v1_to_v2 first",
            )),
        }
    }

    fn dirty_entries(&self, array: &str, shard: u64) -> Option<&Vec<Option<Cid>>> {
        self.dirty.get(array).and_then(|shards| shards.get(&shard))
    }
}

impl<S: Clone> ShardedMap<S> {
    /// An independent copy of this map, unflushed changes included, on the
    /// same block store and sharing its cache of clean shards, made without
    /// any I/O: e.g. a writable fork of a store opened read-only. Changes to
    /// either are not seen by the other.
    #[must_use]
    pub fn fork(&self) -> Self {
        ShardedMap {
            store: self.store.clone(),
            config: self.config.clone(),
            manifest: self.manifest.clone(),
            root_cid: self.root_cid,
            dirty_root: self.dirty_root,
            dirty: self.dirty.clone(),
            dirty_bytes: self.dirty_bytes,
            cache: Arc::clone(&self.cache),
            buffered: self.buffered.clone(),
            pending_root_group_write: self.pending_root_group_write,
        }
    }
}

impl<S: BlockStore> ShardedMap<S> {
    /// A new, empty v2 store whose arrays get `chunks_per_shard` chunks per
    /// shard (py-hamt's `ShardedZarrStore.open(cas, False, chunks_per_shard=N,
    /// manifest_version="sharded_zarr_v2")`).
    pub fn new(store: S, chunks_per_shard: u64) -> Result<Self, ShardedError> {
        Self::with_config(store, chunks_per_shard, ShardedConfig::default())
    }

    /// [`new`](Self::new) with a memory configuration.
    pub fn with_config(
        store: S,
        chunks_per_shard: u64,
        config: ShardedConfig,
    ) -> Result<Self, ShardedError> {
        crate::geometry::check_chunks_per_shard(chunks_per_shard)?;
        Ok(Self::from_manifest(
            store,
            config,
            Manifest::V2(V2::new(chunks_per_shard)),
            None,
        ))
    }

    fn from_manifest(
        store: S,
        config: ShardedConfig,
        manifest: Manifest,
        root_cid: Option<Cid>,
    ) -> Self {
        ShardedMap {
            store,
            cache: Arc::new(ShardCache::new(config.cache_bytes)),
            config,
            manifest,
            dirty_root: root_cid.is_none(),
            root_cid,
            dirty: BTreeMap::new(),
            dirty_bytes: 0,
            buffered: BufferedBlocks::default(),
            pending_root_group_write: false,
        }
    }

    /// Opens the store whose manifest is `root` (v1 or v2), reading and
    /// checking the manifest now. A legacy v1 manifest without a
    /// `primary_array_path` has it inferred from the metadata as py-hamt does.
    pub async fn open(store: S, root: Cid, config: ShardedConfig) -> Result<Self, ShardedError> {
        let bytes = load(&store, &root, MAX_LOADED_BYTES).await?;
        let mut manifest = manifest::decode(&root, &bytes)?;
        if let Manifest::V1(v1) = &mut manifest
            && !v1.has_primary_field
        {
            v1::infer_primary(&store, v1).await;
        }
        Ok(Self::from_manifest(store, config, manifest, Some(root)))
    }

    // ---------------------------------------------------------------- reads

    /// The link of the value stored for `key`: a metadata value, or a chunk
    /// through its shard (a v2 store reads a malformed chunk key as absent,
    /// as py-hamt does).
    pub async fn get_link(&self, key: &str) -> Result<Option<Cid>, ShardedError> {
        match &self.manifest {
            Manifest::V2(m) => {
                let key = effective_read_key(m, key);
                let Ok(parsed) = parse_chunk_key_v2(&key, &m.arrays) else {
                    return Ok(None);
                };
                let metadata = m.metadata.get(key.as_str()).copied();
                let Some(chunk) = parsed else {
                    return Ok(metadata);
                };
                let Some(index) = m.arrays.get(&chunk.array_path) else {
                    return Ok(metadata);
                };
                let slot = slot_of(index, &chunk)?;
                let entry = self.shard_entry(&chunk.array_path, index, slot).await?;
                Ok(entry.or(metadata))
            }
            Manifest::V1(m) => {
                let metadata = m.metadata.get(key).copied();
                let Some(chunk) = v1::parse_chunk_key(key, m)? else {
                    return Ok(metadata);
                };
                let slot = slot_of(&m.index, &chunk)?;
                let entry = self.shard_entry("", &m.index, slot).await?;
                Ok(entry.or(metadata))
            }
        }
    }

    /// A byte range of the value at `link` (a raw block, or a UnixFS file
    /// for values over 1 MiB), clamped to its end.
    pub async fn read_value(&self, link: &Cid, range: ByteRange) -> Result<Bytes, ShardedError> {
        if let Some(data) = self.buffered.by_cid.get(link) {
            return Ok(data.slice(range.to_index_range(data.len())));
        }
        let max = self.config.max_value_read;
        Ok(hamt_unixfs::read_file_limited(&self.store, link, range, max).await?)
    }

    /// The length of the value at `link`, from a UnixFS root without its
    /// leaves.
    pub async fn value_len(&self, link: &Cid) -> Result<u64, ShardedError> {
        if let Some(data) = self.buffered.by_cid.get(link) {
            return Ok(data.len() as u64);
        }
        Ok(hamt_unixfs::file_size(&self.store, link).await?)
    }

    /// A block read whole (see [`load`]), from the buffer if it is there.
    async fn load(&self, cid: &Cid, limit: u64) -> Result<Bytes, ShardedError> {
        match self.buffered.by_cid.get(cid) {
            Some(data) => Ok(data.clone()),
            None => load(&self.store, cid, limit).await,
        }
    }

    /// Chunk CID at `slot` of an array's index: from a changed shard, else
    /// from the shard block (cached, one entry decoded).
    async fn shard_entry(
        &self,
        array: &str,
        index: &ArrayIndex,
        slot: ShardSlot,
    ) -> Result<Option<Cid>, ShardedError> {
        if let Some(entries) = self.dirty_entries(array, slot.shard) {
            return Ok(entries.get(to_usize(slot.slot)?).copied().flatten());
        }
        let Some(cid) = index.shard_cid(slot.shard) else {
            return Ok(None);
        };
        let view = self
            .shard_view(array, cid, index.chunks_per_shard())
            .await?;
        view.entry(slot.slot)
            .map_err(|source| ShardedError::bad_shard(array, cid, source))
    }

    /// A shard block, from the cache or read once however many ask at once.
    async fn shard_view(
        &self,
        array: &str,
        cid: Cid,
        entries: u64,
    ) -> Result<Arc<ShardView>, ShardedError> {
        let mut loaded = false;
        let view = self
            .cache
            .get_or_load(cid, entries, async {
                loaded = true;
                let started = telemetry::enabled().then(std::time::Instant::now);
                let bytes = load(&self.store, &cid, max_shard_bytes(entries)).await?;
                if let Some(started) = started {
                    telemetry::SHARD_LOAD_DURATION.record_duration(started.elapsed());
                    telemetry::SHARD_ENTRIES.record(entries);
                }
                ShardView::parse(bytes, entries)
                    .map_err(|source| ShardedError::bad_shard(array, cid, source))
            })
            .await;
        telemetry::SHARD_LOADS.add(1, !loaded);
        view
    }

    /// The entries of a shard: changed, stored, or (never written) none.
    async fn shard_entries(
        &self,
        array: &str,
        index: &ArrayIndex,
        shard: u64,
    ) -> Result<Option<Vec<Option<Cid>>>, ShardedError> {
        if let Some(entries) = self.dirty_entries(array, shard) {
            return Ok(Some(entries.clone()));
        }
        let Some(cid) = index.shard_cid(shard) else {
            return Ok(None);
        };
        let view = self
            .shard_view(array, cid, index.chunks_per_shard())
            .await?;
        view.entries()
            .map(Some)
            .map_err(|source| ShardedError::bad_shard(array, cid, source))
    }

    /// Whether `key` is a chunk of an array this store has an index for
    /// (its array and coordinates), or another key (metadata, or a key kept
    /// in the manifest's metadata map). A malformed chunk key is an error.
    pub fn chunk_key_of(&self, key: &str) -> Result<Option<ChunkKey>, ShardedError> {
        match &self.manifest {
            Manifest::V2(m) => Ok(parse_chunk_key_v2(key, &m.arrays)?
                .filter(|chunk| m.arrays.get(&chunk.array_path).is_some())),
            Manifest::V1(m) => v1::parse_chunk_key(key, m),
        }
    }

    /// Every key with the link of its value: metadata, then each array's
    /// chunks in index order (reading every shard), each key once.
    pub async fn links(&self) -> Result<Vec<(String, Cid)>, ShardedError> {
        let mut links: Vec<(String, Cid)> = self
            .metadata()
            .iter()
            .map(|(k, c)| (k.clone(), *c))
            .collect();
        let mut seen: BTreeSet<String> = links.iter().map(|(k, _)| k.clone()).collect();
        for (key, cid) in self.chunk_links(None).await? {
            if seen.insert(key.clone()) {
                links.push((key, cid));
            }
        }
        Ok(links)
    }

    /// The chunk keys and links of shard `shard` of the array at `path`
    /// (reading the shard; a shard never written has none).
    pub async fn shard_links(
        &self,
        path: &str,
        shard: u64,
    ) -> Result<Vec<(String, Cid)>, ShardedError> {
        let (array, listed_as, index, prefix) = match &self.manifest {
            Manifest::V2(m) => {
                let index = m.arrays.get(path).ok_or_else(|| {
                    ShardedError::Invalid(format!("no array {path:?} in this store"))
                })?;
                (path.to_owned(), path.to_owned(), index.clone(), "")
            }
            Manifest::V1(m) => (
                String::new(),
                m.primary.clone(),
                m.index.clone(),
                v1::listing_prefix(m),
            ),
        };
        let Some(entries) = self.shard_entries(&array, &index, shard).await? else {
            return Ok(Vec::new());
        };
        Ok(entries
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| {
                let linear = shard * index.chunks_per_shard() + slot as u64;
                let cid = (*entry)?;
                (linear < index.total_chunks()).then(|| {
                    let key = format_chunk_key(&listed_as, &index.coords_of(linear));
                    (format!("{prefix}{key}"), cid)
                })
            })
            .collect())
    }

    /// The blocks this store's root reaches that a walk following blocks'
    /// links cannot see: those linked from inside a manifest or shards
    /// stored as UnixFS files (over 1 MiB, as py-hamt's `KuboCAS` stores
    /// them), whose dag-pb blocks link only the file's parts. Empty when no
    /// index block is a file. Reads each such shard.
    pub async fn links_inside_files(&self) -> Result<Vec<Cid>, ShardedError> {
        let is_file = |cid: &Cid| cid.codec() == BlockCodec::DagPb.code();
        let mut links = Vec::new();
        let manifest_is_file = self.root_cid.as_ref().is_some_and(is_file);
        if manifest_is_file {
            links.extend(self.metadata().values().copied());
        }
        for (path, index) in self.arrays() {
            for (number, shard) in index.shard_cids().iter().enumerate() {
                let Some(shard) = shard else { continue };
                if manifest_is_file {
                    links.push(*shard);
                }
                if is_file(shard) {
                    let chunks = self.shard_links(&path, number as u64).await?;
                    links.extend(chunks.into_iter().map(|(_, cid)| cid));
                }
            }
        }
        Ok(links)
    }

    /// The keys added, removed and changed from this store to `newer`,
    /// sorted by key. Shards with the same CID on both sides (and
    /// unchanged since) are skipped unread, so two versions of a dataset
    /// that differ in a few chunks cost the shards holding them.
    pub async fn diff(&self, newer: &ShardedMap<S>) -> Result<Vec<Change>, ShardedError> {
        let (Manifest::V2(old), Manifest::V2(new)) = (&self.manifest, &newer.manifest) else {
            return Ok(diff_links(self.links().await?, newer.links().await?));
        };
        let mut changes = diff_entries(old.metadata.clone(), new.metadata.clone());
        let paths: BTreeSet<&str> = old.arrays.paths().chain(new.arrays.paths()).collect();
        for path in paths {
            match (old.arrays.get(path), new.arrays.get(path)) {
                (Some(a), Some(b))
                    if a.shape() == b.shape()
                        && a.chunk_shape() == b.chunk_shape()
                        && a.chunks_per_shard() == b.chunks_per_shard() =>
                {
                    changes.extend(self.diff_shards(newer, path, a, b).await?);
                }
                _ => {
                    let before = self.chunk_links(Some(path)).await?;
                    let after = newer.chunk_links(Some(path)).await?;
                    changes.extend(diff_links(before, after));
                }
            }
        }
        changes.sort_by(|a, b| a.key().cmp(b.key()));
        // A chunk key may also sit in the metadata map of a legacy root.
        changes.dedup_by(|a, b| a.key() == b.key());
        Ok(changes)
    }

    /// Changes between the same array's shards on both sides (same grid).
    async fn diff_shards(
        &self,
        newer: &ShardedMap<S>,
        path: &str,
        old: &ArrayIndex,
        new: &ArrayIndex,
    ) -> Result<Vec<Change>, ShardedError> {
        let mut changes = Vec::new();
        for shard in 0..old.num_shards() {
            let clean = self.dirty_entries(path, shard).is_none()
                && newer.dirty_entries(path, shard).is_none();
            if clean && old.shard_cid(shard) == new.shard_cid(shard) {
                continue;
            }
            let before = self
                .shard_entries(path, old, shard)
                .await?
                .unwrap_or_default();
            let after = newer
                .shard_entries(path, new, shard)
                .await?
                .unwrap_or_default();
            for slot in 0..before.len().max(after.len()) {
                let linear = shard * old.chunks_per_shard() + slot as u64;
                if linear >= old.total_chunks() {
                    break;
                }
                let (a, b) = (
                    before.get(slot).copied().flatten(),
                    after.get(slot).copied().flatten(),
                );
                if a == b {
                    continue;
                }
                let key = format_chunk_key(path, &old.coords_of(linear));
                changes.push(match (a, b) {
                    (None, Some(link)) => Change::Added { key, link },
                    (Some(link), None) => Change::Removed { key, link },
                    (Some(old), Some(new)) => Change::Changed { key, old, new },
                    (None, None) => continue,
                });
            }
        }
        Ok(changes)
    }

    /// Every key: metadata keys, then each array's chunks (reading every
    /// shard), each once (py-hamt's `list`).
    pub async fn keys(&self) -> Result<Vec<String>, ShardedError> {
        let mut keys: Vec<String> = self.metadata().keys().cloned().collect();
        let mut seen: BTreeSet<String> = keys.iter().cloned().collect();
        for chunk in self.chunk_keys(None).await? {
            if seen.insert(chunk.clone()) {
                keys.push(chunk);
            }
        }
        Ok(keys)
    }

    /// The keys of every stored chunk (of one array, or all), in index order.
    async fn chunk_keys(&self, only: Option<&str>) -> Result<Vec<String>, ShardedError> {
        Ok(self
            .chunk_links(only)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    /// The keys and links of every stored chunk (of one array, or all), in
    /// index order.
    async fn chunk_links(&self, only: Option<&str>) -> Result<Vec<(String, Cid)>, ShardedError> {
        let (arrays, v1_prefix) = match &self.manifest {
            Manifest::V2(m) => (
                m.arrays
                    .iter()
                    .filter(|(p, _)| only.is_none_or(|o| o == *p))
                    .map(|(p, i)| (p.to_owned(), p.to_owned(), i.clone()))
                    .collect::<Vec<_>>(),
                "",
            ),
            Manifest::V1(m) => (
                vec![(String::new(), m.primary.clone(), m.index.clone())],
                v1::listing_prefix(m),
            ),
        };
        let mut keys = Vec::new();
        for (array, listed_as, index) in arrays {
            let shards: Vec<(u64, Option<Vec<Option<Cid>>>)> = stream::iter(0..index.num_shards())
                .map(|shard| {
                    let (array, index) = (&array, &index);
                    async move {
                        Ok::<_, ShardedError>((
                            shard,
                            self.shard_entries(array, index, shard).await?,
                        ))
                    }
                })
                .buffered(LOAD_CONCURRENCY)
                .try_collect()
                .await?;
            for (shard, entries) in shards {
                let Some(entries) = entries else { continue };
                for (slot, entry) in entries.iter().enumerate() {
                    let linear = shard * index.chunks_per_shard() + slot as u64;
                    let Some(cid) = entry else { continue };
                    if linear >= index.total_chunks() {
                        continue;
                    }
                    let key = format_chunk_key(&listed_as, &index.coords_of(linear));
                    keys.push((format!("{v1_prefix}{key}"), *cid));
                }
            }
        }
        Ok(keys)
    }

    /// What is directly under `base` (`""` or a prefix ending in `/`), as
    /// py-hamt's `list_dir` finds it: from the manifest alone, except under
    /// an array's `c/`, where the chunks are listed from its shards. `keep`
    /// filters the keys listed.
    pub async fn list_dir(
        &self,
        base: &str,
        keep: &(dyn for<'k> Fn(&'k str) -> bool + Sync),
    ) -> Result<(Vec<String>, Vec<String>), ShardedError> {
        let asked = normalize_path(base);
        let effective = match &self.manifest {
            Manifest::V2(m) => effective_list_dir_prefix(m, asked),
            Manifest::V1(_) => asked.to_owned(),
        };
        let match_prefix = if effective.is_empty() {
            String::new()
        } else {
            format!("{effective}/")
        };
        // Names relative to what was asked, whatever the read redirected to.
        let shown = |name: &str| format!("{base}{name}");
        let mut keys = BTreeSet::new();
        let mut prefixes = BTreeSet::new();
        let mut sort = |full: &str, is_key: bool| {
            let Some(rest) = full.strip_prefix(match_prefix.as_str()) else {
                return;
            };
            match rest.split_once('/') {
                Some((name, _)) if !name.is_empty() => {
                    prefixes.insert(format!("{}/", shown(name)));
                }
                None if !rest.is_empty() && is_key => {
                    keys.insert(shown(rest));
                }
                None if !rest.is_empty() => {
                    prefixes.insert(format!("{}/", shown(rest)));
                }
                _ => {}
            }
        };
        if let Some(array) = self.chunk_listing_array(&effective) {
            for key in self.chunk_keys(Some(&array)).await? {
                sort(key.trim_start_matches('/'), true);
            }
        } else {
            let metadata = self.metadata();
            for key in metadata.keys() {
                sort(key, true);
            }
            // Each array's path, every group above it, and its chunk directory.
            for (path, _) in self.arrays() {
                let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
                for i in 1..=parts.len() {
                    sort(&parts[..i].join("/"), false);
                }
                sort(
                    &if path.is_empty() {
                        "c".to_owned()
                    } else {
                        format!("{path}/c")
                    },
                    false,
                );
            }
        }
        let keys = keys.into_iter().filter(|k| keep(k)).collect();
        Ok((keys, prefixes.into_iter().collect()))
    }

    /// The array whose chunk directory `prefix` is (or is inside), if any.
    fn chunk_listing_array(&self, prefix: &str) -> Option<String> {
        self.arrays().into_iter().find_map(|(path, _)| {
            let chunks = if path.is_empty() {
                "c".to_owned()
            } else {
                format!("{path}/c")
            };
            (prefix == chunks || prefix.starts_with(&format!("{chunks}/"))).then_some(path)
        })
    }

    // --------------------------------------------------------------- writes

    /// Stores `value` for `key` (py-hamt's `set`): metadata updates the
    /// manifest (an array's `zarr.json` registers or resizes its index; a
    /// missing parent group gets py-hamt's group metadata); a chunk goes to
    /// its shard slot. The value is buffered (readable at once) and stored
    /// with the next batch, at the latest by [`flush`](Self::flush).
    ///
    /// # Errors
    /// A malformed chunk key, or a chunk of an array without metadata, is an
    /// error that changes nothing (py-hamt drops the first silently and
    /// fails on the second); so is a top-level array written right after the
    /// root group ([`ShardedError::GroupRequired`], as py-hamt).
    pub async fn set(&mut self, key: &str, value: Bytes) -> Result<(), ShardedError> {
        self.v2()?;
        let raw = self.strip_root_consolidated(key, value);
        self.check_group_required(key, &raw)?;
        self.register_array_metadata(key, &raw).await?;
        self.ensure_parent_groups(key).await?;
        // Parsed after registering, which may have added or resized the array.
        let parsed = parse_chunk_key_v2(key, &self.v2()?.arrays)?;
        if let Some(chunk) = &parsed {
            self.check_known_array(key, chunk)?;
        }
        let cid = self.save(BlockCodec::Raw, raw).await?;
        self.point(key, parsed, cid).await
    }

    /// Points `key` at the existing block `link`, moving no data (py-hamt's
    /// `set_pointer`): metadata is read to register arrays, as `set` does.
    pub async fn set_pointer(&mut self, key: &str, link: Cid) -> Result<(), ShardedError> {
        self.v2()?;
        let parsed = parse_chunk_key_v2(key, &self.v2()?.arrays)?;
        let Some(chunk) = parsed else {
            let mut link = link;
            let raw = self.load(&link, MAX_LOADED_BYTES).await?;
            let stripped = self.strip_root_consolidated(key, raw.clone());
            if stripped != raw {
                link = self.save(BlockCodec::Raw, stripped.clone()).await?;
            }
            if array_path_of_metadata_key(key).is_some() {
                self.register_array_metadata(key, &stripped).await?;
            }
            self.ensure_parent_groups(key).await?;
            return self.point(key, None, link).await;
        };
        self.check_known_array(key, &chunk)?;
        self.point(key, Some(chunk), link).await
    }

    fn check_known_array(&self, key: &str, chunk: &ChunkKey) -> Result<(), ShardedError> {
        if self.v2()?.arrays.get(&chunk.array_path).is_none() {
            return Err(ShardedError::UnknownArray {
                key: key.to_owned(),
                array: chunk.array_path.clone(),
            });
        }
        Ok(())
    }

    /// Records `link` for `key`: in the metadata map, or in its chunk's
    /// shard slot (then any legacy metadata entry of the key goes).
    async fn point(
        &mut self,
        key: &str,
        chunk: Option<ChunkKey>,
        link: Cid,
    ) -> Result<(), ShardedError> {
        let Some(chunk) = chunk else {
            let m = self.v2_mut()?;
            m.metadata.insert(key.to_owned(), link);
            self.dirty_root = true;
            return Ok(());
        };
        self.set_entry(&chunk, Some(link)).await?;
        if self.v2_mut()?.metadata.remove(key).is_some() {
            self.dirty_root = true;
        }
        Ok(())
    }

    /// Sets one shard slot; whether it changed (an unchanged slot leaves the
    /// shard clean, as py-hamt's `update_entry`).
    async fn set_entry(
        &mut self,
        chunk: &ChunkKey,
        value: Option<Cid>,
    ) -> Result<bool, ShardedError> {
        let index = self
            .v2()?
            .arrays
            .get(&chunk.array_path)
            .ok_or_else(|| ShardedError::UnknownArray {
                key: format_chunk_key(&chunk.array_path, &chunk.coords),
                array: chunk.array_path.clone(),
            })?
            .clone();
        let slot = slot_of(&index, chunk)?;
        let at = to_usize(slot.slot)?;
        if let Some(entries) = self
            .dirty
            .get_mut(&chunk.array_path)
            .and_then(|shards| shards.get_mut(&slot.shard))
        {
            let changed = entries[at] != value;
            entries[at] = value;
            return Ok(changed);
        }
        let mut entries = match self
            .shard_entries(&chunk.array_path, &index, slot.shard)
            .await?
        {
            Some(entries) => entries,
            None => vec![None; to_usize(index.chunks_per_shard())?],
        };
        if entries[at] == value {
            return Ok(false);
        }
        entries[at] = value;
        self.dirty_bytes += shard_bytes(entries.len());
        self.dirty
            .entry(chunk.array_path.clone())
            .or_default()
            .insert(slot.shard, entries);
        if self.dirty_bytes > self.config.dirty_shard_bytes {
            self.write_shards().await?;
        }
        Ok(true)
    }

    /// Removes `key` (py-hamt's `delete`); whether anything was removed. A
    /// malformed chunk key removes nothing.
    pub async fn delete(&mut self, key: &str) -> Result<bool, ShardedError> {
        self.v2()?;
        let Ok(parsed) = parse_chunk_key_v2(key, &self.v2()?.arrays) else {
            return Ok(false);
        };
        let known = parsed.as_ref().is_some_and(|c| {
            self.v2()
                .is_ok_and(|m| m.arrays.get(&c.array_path).is_some())
        });
        let mut removed = false;
        if let (Some(chunk), true) = (&parsed, known) {
            removed = self.set_entry(chunk, None).await?;
        }
        if self.v2_mut()?.metadata.remove(key).is_some() {
            self.dirty_root = true;
            removed = true;
        }
        Ok(removed)
    }

    /// Removes everything under `prefix` (py-hamt's `delete_dir`): its
    /// metadata keys, and the whole index of every array at or under it;
    /// `""` clears the store.
    pub async fn delete_dir(&mut self, prefix: &str) -> Result<(), ShardedError> {
        self.v2()?;
        let normalized = normalize_path(prefix).to_owned();
        if normalized.is_empty() {
            self.clear()?;
            return Ok(());
        }
        let under = format!("{normalized}/");
        let metadata_keys: Vec<String> = self
            .v2()?
            .metadata
            .keys()
            .filter(|k| k.starts_with(&under))
            .cloned()
            .collect();
        for key in metadata_keys {
            self.delete(&key).await?;
        }
        let pruned: Vec<String> = self
            .v2()?
            .arrays
            .paths()
            .filter(|p| *p == normalized || p.starts_with(&under))
            .map(str::to_owned)
            .collect();
        if pruned.is_empty() {
            return Ok(());
        }
        for path in &pruned {
            if let Some(shards) = self.dirty.remove(path) {
                self.dirty_bytes = self
                    .dirty_bytes
                    .saturating_sub(shards.values().map(|e| shard_bytes(e.len())).sum());
            }
        }
        let m = self.v2_mut()?;
        for path in &pruned {
            m.arrays.remove(path);
        }
        m.primary = m.arrays.paths().next().map(str::to_owned);
        self.dirty_root = true;
        Ok(())
    }

    /// Removes every key and array (py-hamt's `clear`); the shard size stays.
    pub fn clear(&mut self) -> Result<(), ShardedError> {
        let m = self.v2_mut()?;
        m.metadata.clear();
        m.arrays.clear();
        m.primary = None;
        self.dirty.clear();
        self.dirty_bytes = 0;
        // (py-hamt's clear keeps `_v2_pending_root_group_write` as it is.)
        self.dirty_root = true;
        Ok(())
    }

    /// Writes the changed shards (not the manifest, which records their
    /// CIDs at the next flush). On a store failure nothing changes.
    async fn write_shards(&mut self) -> Result<(), ShardedError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        // The values first: a stored shard never links a value not stored.
        self.write_buffered().await?;
        let hash = self.store.hash_algorithm();
        let mut blocks = Vec::new();
        let mut written = Vec::new();
        for (array, shards) in &self.dirty {
            for (&shard, entries) in shards {
                let bytes = Bytes::from(link_list::encode(entries));
                let (cid, shard_blocks) = encode_save(BlockCodec::DagCbor, hash, bytes.clone());
                blocks.extend(shard_blocks);
                written.push((array.clone(), shard, cid, bytes, entries.len() as u64));
            }
        }
        self.store.put_many(blocks).await?;
        let m = self.v2_mut()?;
        let mut changed = false;
        for (array, shard, cid, _, _) in &written {
            // An array pruned since its shard changed has no slot left for it.
            if let Some(index) = m.arrays.get_mut(array)
                && let Some(slot) = usize::try_from(*shard)
                    .ok()
                    .and_then(|i| index.shard_cids.get_mut(i))
                && *slot != Some(*cid)
            {
                *slot = Some(*cid);
                changed = true;
            }
        }
        self.dirty_root |= changed;
        // The written shards stay at hand, undecoded, as clean shards.
        for (_, _, cid, bytes, entries) in written {
            if let Ok(view) = ShardView::parse(bytes, entries) {
                self.cache.insert(cid, entries, Arc::new(view));
            }
        }
        self.dirty.clear();
        self.dirty_bytes = 0;
        Ok(())
    }

    /// Writes the changed shards, then the manifest, and returns the root
    /// CID (py-hamt's `flush`). With nothing changed, returns the root as it is.
    pub async fn flush(&mut self) -> Result<Cid, ShardedError> {
        // Values before the shards and manifest that link them.
        self.write_buffered().await?;
        self.write_shards().await?;
        if self.dirty_root || self.root_cid.is_none() {
            let root = match &self.manifest {
                Manifest::V2(m) => m.to_ipld(),
                Manifest::V1(_) => {
                    return Err(ShardedError::ReadOnly(
                        "a sharded_zarr_v1 manifest: migrate_v1_to_v2 first",
                    ));
                }
            };
            let bytes = Bytes::from(manifest::encode(&root)?);
            let (cid, blocks) =
                encode_save(BlockCodec::DagCbor, self.store.hash_algorithm(), bytes);
            self.store.put_many(blocks).await?;
            self.root_cid = Some(cid);
            self.dirty_root = false;
        }
        self.root_cid
            .ok_or_else(|| ShardedError::Manifest("no root was written".into()))
    }

    /// Stores `data` as py-hamt's `KuboCAS.save(data, codec)` does: one
    /// block of `codec` up to 1 MiB, else a UnixFS file (its dag-pb root).
    async fn save(&mut self, codec: BlockCodec, data: Bytes) -> Result<Cid, ShardedError> {
        let (cid, blocks) = encode_save(codec, self.store.hash_algorithm(), data.clone());
        if blocks.len() > 1 {
            // A UnixFS file (over 1 MiB): large enough to write at once.
            self.store.put_many(blocks).await?;
            return Ok(cid);
        }
        if self.buffered.by_cid.insert(cid, data.clone()).is_none() {
            self.buffered.bytes += data.len();
            self.buffered.blocks.extend(blocks);
        }
        if self.buffered.bytes > self.config.buffered_value_bytes {
            self.write_buffered().await?;
        }
        Ok(cid)
    }

    /// Stores the buffered values; on a store failure those that may not be
    /// stored stay buffered (and every one stays readable).
    async fn write_buffered(&mut self) -> Result<(), ShardedError> {
        if self.buffered.blocks.is_empty() {
            return Ok(());
        }
        let written = hamt_store::write_blocks(&self.store, &mut self.buffered.blocks).await;
        if written.is_err() {
            // What is still held is what may not be stored: count that.
            self.buffered.bytes = self.buffered.blocks.iter().map(|b| b.data().len()).sum();
        } else {
            self.buffered = BufferedBlocks::default();
        }
        Ok(written?)
    }

    // -------------------------------------------- py-hamt's metadata rules

    /// The root `zarr.json` of a store whose arrays all sit in groups loses
    /// its `consolidated_metadata` (py-hamt's
    /// `_strip_v2_root_consolidated_metadata`), re-encoded as Python does.
    fn strip_root_consolidated(&self, key: &str, raw: Bytes) -> Bytes {
        let Ok(m) = self.v2() else { return raw };
        if key != "zarr.json" || !is_grouped_only(m) {
            return raw;
        }
        let Some(mut json) = pyjson::loads(&raw) else {
            return raw;
        };
        if json.get("node_type") != Some(&Json::Str("group".into()))
            || !json.remove("consolidated_metadata")
        {
            return raw;
        }
        Bytes::from(pyjson::dumps(&json, None))
    }

    /// py-hamt's `_raise_if_v2_write_without_group`.
    fn check_group_required(&mut self, key: &str, raw: &[u8]) -> Result<(), ShardedError> {
        // py-hamt's `_decode_metadata_json`: only a JSON object counts.
        let Some(json @ Json::Object(_)) = pyjson::loads(raw) else {
            return Ok(());
        };
        let group_path = group_path_of_metadata_key(key);
        let metadata_path = array_path_of_metadata_key(key);
        let array = extract_array_metadata(key, &json)?;
        let is_group = group_path.is_some() && array.is_none();
        if is_group {
            self.pending_root_group_write = group_path == Some("");
            return Ok(());
        }
        let (Some(path), Some(_)) = (metadata_path, array) else {
            return Ok(());
        };
        if normalize_path(path).contains('/') {
            self.pending_root_group_write = false;
            return Ok(());
        }
        if self.pending_root_group_write {
            self.pending_root_group_write = false;
            return Err(ShardedError::GroupRequired {
                key: key.to_owned(),
            });
        }
        Ok(())
    }

    /// An array's metadata registers its index, or resizes it (py-hamt's
    /// `_register_array_metadata_from_bytes`).
    async fn register_array_metadata(&mut self, key: &str, raw: &[u8]) -> Result<(), ShardedError> {
        let Some(path) = array_path_of_metadata_key(key) else {
            return Ok(());
        };
        let Some(json) = pyjson::loads(raw) else {
            return Ok(());
        };
        let Some((shape, chunk_shape)) = extract_array_metadata(key, &json)? else {
            return Ok(());
        };
        let path = normalize_path(path).to_owned();
        let m = self.v2_mut()?;
        match m.arrays.get(&path) {
            None => {
                let per_shard = m.default_chunks_per_shard.ok_or_else(|| {
                    ShardedError::Manifest(
                        "Store is missing a default chunks_per_shard value.".into(),
                    )
                })?;
                let index = ArrayIndex::new(shape, chunk_shape, per_shard)?;
                if m.primary.is_none() {
                    m.primary = Some(path.clone());
                }
                m.arrays.insert(path, index);
                self.dirty_root = true;
            }
            Some(existing) if existing.chunk_shape() != chunk_shape.as_slice() => {
                return Err(ShardedError::Metadata {
                    key: key.to_owned(),
                    reason: format!("Cannot change chunk_shape for existing array index '{path}'."),
                });
            }
            Some(existing) if existing.shape() != shape.as_slice() => {
                self.resize_array(&path, shape).await?;
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Parent groups without metadata get py-hamt's group metadata
    /// (`_ensure_v2_parent_group_metadata`).
    async fn ensure_parent_groups(&mut self, key: &str) -> Result<(), ShardedError> {
        let Some(path) = array_path_of_metadata_key(key) else {
            return Ok(());
        };
        let zarr_v2 = key == ".zarray" || key.ends_with("/.zarray");
        let (group_bytes, group_key): (&[u8], fn(&str) -> String) = if zarr_v2 {
            (V2_GROUP, |p| {
                if p.is_empty() {
                    ".zgroup".into()
                } else {
                    format!("{p}/.zgroup")
                }
            })
        } else {
            (V3_GROUP, |p| {
                if p.is_empty() {
                    "zarr.json".into()
                } else {
                    format!("{p}/zarr.json")
                }
            })
        };
        let normalized = normalize_path(path);
        let mut parents = vec![String::new()];
        if !normalized.is_empty() {
            let parts: Vec<&str> = normalized.split('/').collect();
            parents.extend((1..parts.len()).map(|i| parts[..i].join("/")));
        }
        for parent in parents {
            let group = group_key(&parent);
            // The key about to be written replaces its own placeholder:
            // py-hamt writes one then, an orphan block no root reaches.
            if group == key || self.v2()?.metadata.contains_key(&group) {
                continue;
            }
            let cid = self
                .save(BlockCodec::Raw, Bytes::from_static(group_bytes))
                .await?;
            self.v2_mut()?.metadata.insert(group, cid);
            self.dirty_root = true;
        }
        Ok(())
    }

    // ----------------------------------------------------- bulk operations

    /// Links every chunk of another sharded store into this one at
    /// `chunk_offset` (chunk coordinates), moving no data (py-hamt's
    /// `graft_store`). The source array is `source_array` (default: the
    /// source's first array); the target is `target_array` (default: the
    /// same path). Chunks are linked in C order; as in py-hamt, a chunk that
    /// lands outside the target's grid stops the graft with an error, the
    /// chunks before it linked.
    pub async fn graft(
        &mut self,
        source_root: Cid,
        chunk_offset: &[u64],
        source_array: Option<&str>,
        target_array: Option<&str>,
    ) -> Result<(), ShardedError> {
        self.v2()?;
        let bytes = self.load(&source_root, MAX_LOADED_BYTES).await?;
        let mut source = manifest::decode(&source_root, &bytes)?;
        if let Manifest::V1(v1) = &mut source
            && !v1.has_primary_field
        {
            // A legacy v1 source: its primary array inferred, as `open` does.
            v1::infer_primary(&self.store, v1).await;
        }
        let (source_path, source_index) = match &source {
            Manifest::V2(m) => {
                let Some(path) = source_array.map(normalize_path).or(m.primary.as_deref()) else {
                    return Ok(());
                };
                let index = m.arrays.get(path).ok_or_else(|| {
                    ShardedError::Invalid(format!(
                        "No array index registered for chunk path '{path}'."
                    ))
                })?;
                (path.to_owned(), index.clone())
            }
            Manifest::V1(m) => (m.primary.clone(), m.index.clone()),
        };
        let target_path =
            target_array.map_or(source_path.clone(), |p| normalize_path(p).to_owned());
        let target = self
            .v2()?
            .arrays
            .get(&target_path)
            .cloned()
            .ok_or_else(|| {
                ShardedError::Invalid(format!(
                    "No array index registered for chunk path '{target_path}'."
                ))
            })?;
        let rank = source_index.chunks_per_dim().len();
        if chunk_offset.len() != rank || target.chunks_per_dim().len() != rank {
            return Err(ShardedError::Invalid(
                "chunk_offset must have the same number of dimensions as both source and target arrays.".into(),
            ));
        }
        for shard in 0..source_index.num_shards() {
            let Some(cid) = source_index.shard_cid(shard) else {
                continue;
            };
            let view = self
                .shard_view(&source_path, cid, source_index.chunks_per_shard())
                .await?;
            let entries = view
                .entries()
                .map_err(|e| ShardedError::bad_shard(&source_path, cid, e))?;
            for (slot, entry) in entries.into_iter().enumerate() {
                let linear = shard * source_index.chunks_per_shard() + slot as u64;
                let Some(entry) = entry else { continue };
                if linear >= source_index.total_chunks() {
                    continue;
                }
                let coords: Vec<u64> = source_index
                    .coords_of(linear)
                    .iter()
                    .zip(chunk_offset)
                    .map(|(c, o)| c.saturating_add(*o))
                    .collect();
                if target.linear_index(&coords).is_err() {
                    return Err(ShardedError::Invalid(format!(
                        "Graft target chunk coordinates {coords:?} are out of bounds."
                    )));
                }
                let chunk = ChunkKey {
                    array_path: target_path.clone(),
                    coords,
                };
                self.set_entry(&chunk, Some(entry)).await?;
            }
        }
        Ok(())
    }

    /// Resizes an array's index to `shape` (py-hamt's `resize_store`):
    /// `array` defaults to the first array. Growing along the first
    /// dimension only appends shards; any other change moves every chunk to
    /// its new place.
    pub async fn resize(
        &mut self,
        shape: Vec<u64>,
        array: Option<&str>,
    ) -> Result<(), ShardedError> {
        let m = self.v2()?;
        let path = match array {
            Some(p) => normalize_path(p).to_owned(),
            None => m.primary.clone().ok_or_else(|| {
                ShardedError::Invalid("Store is not properly initialized for resizing.".into())
            })?,
        };
        if m.arrays.get(&path).is_none() {
            return Err(ShardedError::Invalid(format!(
                "No array index registered for chunk path '{path}'."
            )));
        }
        self.resize_array(&path, shape).await
    }

    async fn resize_array(&mut self, path: &str, shape: Vec<u64>) -> Result<(), ShardedError> {
        let old = self
            .v2()?
            .arrays
            .get(path)
            .cloned()
            .ok_or_else(|| ShardedError::Invalid(format!("no array {path:?}")))?;
        let mut new = old.clone();
        new.resize(shape.clone())?;
        if old.is_leading_growth(&shape) {
            if let Some(index) = self.v2_mut()?.arrays.get_mut(path) {
                *index = new;
            }
            self.dirty_root = true;
            return Ok(());
        }
        // Every shard as it is now (changed, stored, or never written).
        let was_dirty: BTreeSet<u64> = self
            .dirty
            .get(path)
            .map(|s| s.keys().copied().collect())
            .unwrap_or_default();
        let mut old_shards = BTreeMap::new();
        for shard in 0..old.num_shards() {
            if let Some(entries) = self.shard_entries(path, &old, shard).await? {
                old_shards.insert(shard, entries);
            }
        }
        let per_shard = to_usize(new.chunks_per_shard())?;
        // Only the shards that receive a chunk are built.
        let mut new_shards: BTreeMap<u64, Vec<Option<Cid>>> = BTreeMap::new();
        for (&shard, entries) in &old_shards {
            for (slot, entry) in entries.iter().enumerate() {
                let Some(entry) = entry else { continue };
                let linear = shard * old.chunks_per_shard() + slot as u64;
                if linear >= old.total_chunks() {
                    continue;
                }
                let Ok(new_linear) = new.linear_index(&old.coords_of(linear)) else {
                    continue; // outside the new grid: dropped, as in py-hamt
                };
                let at = new.slot_of(new_linear);
                let target = new_shards
                    .entry(at.shard)
                    .or_insert_with(|| vec![None; per_shard]);
                if let Some(slot) = target.get_mut(to_usize(at.slot)?) {
                    *slot = Some(*entry);
                }
            }
        }
        let mut dirty = self.dirty.remove(path).unwrap_or_default();
        self.dirty_bytes = self
            .dirty_bytes
            .saturating_sub(dirty.values().map(|e| shard_bytes(e.len())).sum());
        for shard in 0..new.num_shards() {
            let i = to_usize(shard)?;
            let old_cid = old.shard_cid(shard);
            match new_shards.remove(&shard) {
                None => {
                    new.shard_cids[i] = None;
                    dirty.remove(&shard);
                }
                Some(entries)
                    if old_shards.get(&shard) == Some(&entries)
                        && (old_cid.is_some() || was_dirty.contains(&shard)) =>
                {
                    new.shard_cids[i] = old_cid;
                }
                Some(entries) => {
                    new.shard_cids[i] = None;
                    dirty.insert(shard, entries);
                }
            }
        }
        dirty.retain(|&shard, _| shard < new.num_shards());
        self.dirty_bytes += dirty.values().map(|e| shard_bytes(e.len())).sum::<usize>();
        if !dirty.is_empty() {
            self.dirty.insert(path.to_owned(), dirty);
        }
        if let Some(index) = self.v2_mut()?.arrays.get_mut(path) {
            *index = new;
        }
        self.dirty_root = true;
        Ok(())
    }

    /// Sets the shape in a variable's `zarr.json` and resizes its index
    /// (py-hamt's `resize_variable`; the metadata is re-encoded as Python's
    /// `json.dumps(..., indent=2)` writes it).
    pub async fn resize_variable(&mut self, name: &str, shape: &[u64]) -> Result<(), ShardedError> {
        self.v2()?;
        let name = normalize_path(name);
        let key = if name.is_empty() {
            "zarr.json".to_owned()
        } else {
            format!("{name}/zarr.json")
        };
        let old = *self
            .v2()?
            .metadata
            .get(&key)
            .ok_or_else(|| ShardedError::Metadata {
                key: key.clone(),
                reason: "Cannot find metadata to resize.".into(),
            })?;
        let raw = self.load(&old, MAX_LOADED_BYTES).await?;
        let mut json = pyjson::loads(&raw).ok_or_else(|| ShardedError::Metadata {
            key: key.clone(),
            reason: "not JSON".into(),
        })?;
        json.set(
            "shape",
            Json::Array(shape.iter().map(|d| Json::Int(d.to_string())).collect()),
        );
        let bytes = Bytes::from(pyjson::dumps(&json, Some(2)));
        let cid = self.save(BlockCodec::Raw, bytes.clone()).await?;
        self.v2_mut()?.metadata.insert(key.clone(), cid);
        self.register_array_metadata(&key, &bytes).await?;
        self.dirty_root = true;
        Ok(())
    }

    /// Rewrites a v1 manifest as v2, reusing its shards under
    /// `primary_array_path` (py-hamt's `migrate_v1_to_v2`), and flushes:
    /// the new root CID. The map is then a writable v2 store.
    pub async fn migrate_v1_to_v2(
        &mut self,
        primary_array_path: &str,
    ) -> Result<Cid, ShardedError> {
        let Manifest::V1(old) = &self.manifest else {
            return Err(ShardedError::Invalid(
                "Only sharded_zarr_v1 stores can be migrated to v2.".into(),
            ));
        };
        let migrated = v1::migrate(&self.store, old, primary_array_path).await?;
        self.manifest = Manifest::V2(migrated);
        self.dirty.clear();
        self.dirty_bytes = 0;
        self.dirty_root = true;
        self.flush().await
    }
}

/// The shard and slot of a parsed chunk key in `index`.
fn slot_of(index: &ArrayIndex, chunk: &ChunkKey) -> Result<ShardSlot, ShardedError> {
    let linear =
        index
            .linear_index(&chunk.coords)
            .map_err(|source| crate::keys::KeyError::Coords {
                key: format_chunk_key(&chunk.array_path, &chunk.coords),
                source,
            })?;
    Ok(index.slot_of(linear))
}

fn to_usize(n: u64) -> Result<usize, ShardedError> {
    usize::try_from(n)
        .map_err(|_| ShardedError::Geometry(format!("{n} does not fit this platform")))
}

/// The changes between two listings of keys and links, sorted by key.
fn diff_links(old: Vec<(String, Cid)>, new: Vec<(String, Cid)>) -> Vec<Change> {
    let mut changes = diff_entries(old.into_iter().collect(), new.into_iter().collect());
    changes.sort_by(|a, b| a.key().cmp(b.key()));
    changes
}

/// The most bytes a manifest or metadata value read whole may hold.
pub(crate) const MAX_LOADED_BYTES: u64 = 256 << 20;

/// The most bytes a shard of `entries` entries can take: each entry is at
/// most a CID link (tag, bytes head, multibase prefix, a CID of a 64-byte
/// digest), plus the list's head.
pub(crate) fn max_shard_bytes(entries: u64) -> u64 {
    entries.saturating_mul(96).saturating_add(16)
}

/// A block's bytes: a UnixFS file read whole (py-hamt's `KuboCAS` stores
/// anything over 1 MiB so), else the block itself. A file whose root says
/// it holds more than `limit` bytes is refused before its leaves are read.
pub(crate) async fn load<S: BlockStore + ?Sized>(
    store: &S,
    cid: &Cid,
    limit: u64,
) -> Result<Bytes, ShardedError> {
    if cid.codec() == BlockCodec::DagPb.code() {
        let size = hamt_unixfs::file_size(store, cid).await?;
        if size > limit {
            return Err(ShardedError::TooLarge {
                cid: *cid,
                size,
                limit,
            });
        }
        return Ok(hamt_unixfs::read_file_limited(store, cid, ByteRange::Full, limit).await?);
    }
    Ok(hamt_store::read_block(store, cid).await?)
}

/// The blocks `KuboCAS.save(data, codec)` leaves behind, and the CID it returns.
pub(crate) fn encode_save(
    codec: BlockCodec,
    hash: hamt_codec::HashAlgorithm,
    data: Bytes,
) -> (Cid, Vec<Block>) {
    if data.len() <= hamt_unixfs::CHUNK_SIZE {
        let block = Block::new(codec, hash, data);
        return (*block.cid(), vec![block]);
    }
    hamt_unixfs::build_file_bytes(&data, hash)
}

/// An array's shape and chunk shape.
pub(crate) type ArrayShape = (Vec<u64>, Vec<u64>);

/// An array's `(shape, chunk shape)` from its zarr metadata (v3's
/// `chunk_grid.configuration.chunk_shape`, or v2's `chunks`), or `None` for
/// group metadata (py-hamt's `_extract_array_metadata`).
pub(crate) fn extract_array_metadata(
    key: &str,
    json: &Json,
) -> Result<Option<ArrayShape>, ShardedError> {
    // As py-hamt's `_extract_array_metadata`: a null field is an absent one.
    let present = |value: &Json| !matches!(value, Json::Null);
    let Some(shape) = json.get("shape").filter(|v| present(v)) else {
        return Ok(None);
    };
    let chunk_shape = json
        .get("chunk_grid")
        .and_then(|g| g.get("configuration"))
        .and_then(|c| c.get("chunk_shape"))
        .filter(|v| present(v))
        .or_else(|| json.get("chunks").filter(|v| present(v)));
    let Some(chunk_shape) = chunk_shape else {
        return Ok(None);
    };
    let dims = |value: &Json, what: &str| {
        value.as_dims().ok_or_else(|| ShardedError::Metadata {
            key: key.to_owned(),
            reason: format!("{what} is not a list of non-negative integers"),
        })
    };
    Ok(Some((
        dims(shape, "shape")?,
        dims(chunk_shape, "the chunk shape")?,
    )))
}

/// Whether every array of a v2 manifest sits in a group (py-hamt's `_v2_is_grouped_only`).
fn is_grouped_only(m: &V2) -> bool {
    !m.arrays.is_empty() && m.arrays.paths().all(|p| p.contains('/'))
}

/// The one top-level group of a grouped-only store, which reads at the
/// root are redirected into (py-hamt's `_v2_default_group_for_root_read`).
fn default_group(m: &V2) -> Option<String> {
    if !is_grouped_only(m) {
        return None;
    }
    let groups: BTreeSet<&str> = m
        .arrays
        .paths()
        .filter_map(|p| p.split_once('/').map(|(g, _)| g))
        .collect();
    let mut groups = groups.into_iter();
    match (groups.next(), groups.next()) {
        (Some(group), None) => Some(group.to_owned()),
        _ => None,
    }
}

/// py-hamt's `_v2_effective_read_key`.
fn effective_read_key(m: &V2, key: &str) -> String {
    let Some(group) = default_group(m) else {
        return key.to_owned();
    };
    let normalized = normalize_path(key);
    if matches!(
        normalized,
        "zarr.json" | ".zgroup" | ".zattrs" | ".zmetadata" | ""
    ) || normalized == group
        || normalized.starts_with(&format!("{group}/"))
    {
        return key.to_owned();
    }
    format!("{group}/{normalized}")
}

/// py-hamt's `_v2_effective_list_dir_prefix`.
fn effective_list_dir_prefix(m: &V2, prefix: &str) -> String {
    let Some(group) = default_group(m) else {
        return prefix.to_owned();
    };
    if prefix.is_empty() {
        return group;
    }
    if prefix == group || prefix.starts_with(&format!("{group}/")) {
        return prefix.to_owned();
    }
    format!("{group}/{prefix}")
}
