//! Importing many entries in any order: collected, sorted by key hash
//! (spilling sorted runs to temporary files past the memory budget), then
//! applied in hash order.
//!
//! **Why.** Applied in the order they come, the keys of a large import land
//! all over the tree: once the changed nodes pass their budget, subtrees are
//! written out early and read, decoded and changed again by later keys, so
//! most of the work (and most blocks written) is repeated. Applied in
//! key-hash order, every subtree is complete once the import has passed it:
//! it is written once, never read back, and the dirty-node budget only ever
//! holds the path being filled. The tree is a function of its entries, so
//! the root and its blocks are exactly those of inserting one by one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use bytes::Bytes;
use hamt_codec::{BlockCodec, Cid, KeyHash};
use hamt_store::{Block, BlockStore};

use crate::hamt::AfterWrite;
use crate::{Hamt, HamtError};

/// Buffer size of each run file when written and when merged.
const RUN_IO_BUFFER: usize = 64 << 10;

/// Where an entry's record starts in the arena.
type Offset = u32;

/// A sorted import into a [`Hamt`]: add entries in any order with
/// [`insert`](Import::insert) or [`insert_link`](Import::insert_link), then
/// [`finish`](Import::finish) applies them all in key-hash order.
///
/// Values are hashed and buffered for writing as they are added (so their
/// bytes are not held until the end); only each key, its hash and its link
/// wait, in memory up to the map's dirty-node budget
/// ([`HamtConfig::with_dirty_node_bytes`](crate::HamtConfig::with_dirty_node_bytes),
/// unused until `finish`) and in sorted runs in anonymous temporary files
/// past it, so memory stays flat however many keys are imported. A key
/// added twice keeps its last value, as with [`Hamt::insert`]. Nothing is
/// visible in the map before `finish`.
///
/// The temporary files are written with blocking I/O on the calling thread,
/// like the store calls of an embedded database.
///
/// ```
/// # use hamt::{Hamt, HamtConfig}; use hamt_store::MemoryStore;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
/// let mut import = map.import();
/// for i in 0..1000 {
///     import.insert(&format!("temp/c/{i}/0"), vec![i as u8; 64]).await?;
/// }
/// assert_eq!(import.finish().await?, 1000);
/// assert_eq!(map.get("temp/c/7/0").await?.as_deref(), Some(&[7u8; 64][..]));
/// # Ok::<(), hamt::HamtError>(()) }).unwrap();
/// ```
pub struct Import<'m, S> {
    map: &'m mut Hamt<S>,
    /// The entries not yet spilled, one record each (see [`write_record`]),
    /// back to back: no allocation per key.
    arena: Vec<u8>,
    /// Each record's key hash and offset, sorted before use.
    index: Vec<(KeyHash, Offset)>,
    budget_bytes: usize,
    runs: Vec<File>,
    /// Entries written to `runs`.
    spilled: usize,
    /// Where runs are written (`None`: the system's temporary directory).
    spill_dir: Option<PathBuf>,
}

impl<S: BlockStore> Hamt<S> {
    /// Starts a sorted import of many entries (see [`Import`]).
    pub fn import(&mut self) -> Import<'_, S> {
        let budget_bytes = self.config().dirty_node_bytes().max(1 << 20);
        Import {
            map: self,
            arena: Vec::new(),
            index: Vec::new(),
            budget_bytes,
            runs: Vec::new(),
            spilled: 0,
            spill_dir: None,
        }
    }
}

impl<S: BlockStore> Import<'_, S> {
    /// Writes the sorted runs into `dir` instead of the system's temporary
    /// directory (e.g. a larger disk: a run holds ~40 bytes plus the key
    /// and the link, ~100 bytes, per entry). The files are anonymous and go
    /// away with the import.
    #[must_use]
    pub fn spill_to(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }

    /// Adds `key` with `value`: the value's blocks are hashed now and
    /// buffered for writing (as [`Hamt::insert`] does), the key waits.
    ///
    /// # Errors
    /// Writing buffered values or a sorted run failed.
    pub async fn insert(&mut self, key: &str, value: impl Into<Bytes>) -> Result<(), HamtError> {
        let value = value.into();
        let hash = self.map.store().hash_algorithm();
        let link = if value.len() <= hamt_unixfs::CHUNK_SIZE {
            let block = Block::new(BlockCodec::Raw, hash, value);
            let link = *block.cid();
            self.map.buffer_block(block);
            link
        } else {
            let (root, blocks) = hamt_unixfs::build_file_bytes(&value, hash);
            self.map.buffer_file(root, value, blocks);
            root
        };
        self.map.write_values_over_budget().await?;
        self.insert_link(key, link)
    }

    /// Adds `key` with the link of a value that is already in the store.
    ///
    /// # Errors
    /// Writing a sorted run to its temporary file failed.
    // The map's error type, as everywhere in this API; the `Err` is rare.
    #[allow(clippy::result_large_err)]
    pub fn insert_link(&mut self, key: &str, link: Cid) -> Result<(), HamtError> {
        // A record is at most the key, its length, and a CID of under 256
        // bytes with its length.
        let record_max = key.len() + 4 + 256;
        // The budget is split three to two between the records and the
        // index, and neither grows past its share (growing by doubling
        // would hold up to twice the budget); past 4 GiB of records,
        // offsets would not fit.
        let arena_max = (self.budget_bytes / 5 * 3).min(Offset::MAX as usize);
        let index_max = self.budget_bytes / 5 * 2 / std::mem::size_of::<(KeyHash, Offset)>();
        if !grow_within(&mut self.arena, record_max, arena_max)
            || !grow_within(&mut self.index, 1, index_max)
        {
            if !self.index.is_empty() {
                self.spill().map_err(spill_failed)?;
            }
            // An empty arena takes any record, even one past its share
            // (then exactly that much).
            if !grow_within(&mut self.arena, record_max, arena_max) {
                self.arena.reserve_exact(record_max);
            }
            self.index.reserve(1);
        }
        let offset = Offset::try_from(self.arena.len())
            .map_err(|_| spill_failed(malformed("arena offset")))?;
        write_record(&mut self.arena, key, &link).map_err(spill_failed)?;
        self.index.push((self.map.hash_key(key), offset));
        Ok(())
    }

    /// Number of entries added so far.
    pub fn len(&self) -> usize {
        self.index.len() + self.spilled
    }

    /// Sorted runs written to temporary files so far.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// Whether no entry was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sorts the index by key hash, then by offset (so a key added twice
    /// stays in the order added). The first 16 bytes of the hashes compare
    /// as integers: distinct keys almost never share them, and a `memcmp`
    /// call per comparison was most of a million-key sort.
    fn sort_index(&mut self) {
        let prefix = |hash: &KeyHash| {
            let mut word = [0u8; 16];
            word.copy_from_slice(&hash[..16]);
            u128::from_be_bytes(word)
        };
        self.index
            .sort_unstable_by(|a, b| prefix(&a.0).cmp(&prefix(&b.0)).then_with(|| a.cmp(b)));
    }

    /// Writes the entries in memory out as one sorted run: per entry its
    /// key hash, then its record.
    fn spill(&mut self) -> std::io::Result<()> {
        self.sort_index();
        let mut file = match &self.spill_dir {
            Some(dir) => tempfile::tempfile_in(dir)?,
            None => tempfile::tempfile()?,
        };
        {
            let mut out = BufWriter::with_capacity(RUN_IO_BUFFER, &mut file);
            for (hash, offset) in &self.index {
                let record = record_at(&self.arena, *offset)?;
                out.write_all(hash)?;
                out.write_all(record)?;
            }
            out.flush()?;
        }
        file.seek(SeekFrom::Start(0))?;
        self.runs.push(file);
        self.spilled += self.index.len();
        self.index.clear();
        self.arena.clear();
        Ok(())
    }

    /// Applies every entry added, in key-hash order; returns how many keys
    /// were new to the map. On an error the entries applied so far (a
    /// prefix in that order) are in the map, as with a loop of
    /// [`Hamt::insert`].
    ///
    /// # Errors
    /// A node could not be read, a write failed, or a run file could not be read.
    pub async fn finish(mut self) -> Result<u64, HamtError> {
        let added = self.apply_all().await?;
        self.map.write_values_over_budget().await?;
        Ok(added)
    }

    async fn apply_all(&mut self) -> Result<u64, HamtError> {
        let mut added = 0;
        if self.runs.is_empty() {
            self.sort_index();
            let index = std::mem::take(&mut self.index);
            let arena = std::mem::take(&mut self.arena);
            for (hash, offset) in &index {
                let record = record_at(&arena, *offset).map_err(spill_failed)?;
                let (key, link) = parse_record(record).map_err(spill_failed)?;
                added += self.apply(hash, key, link).await?;
            }
        } else {
            // What came after the last spill (never nothing: a spill
            // happens only to make room for one more entry); then the
            // arena and index are no longer needed through the merge.
            self.spill().map_err(spill_failed)?;
            self.arena = Vec::new();
            self.index = Vec::new();
            let mut runs: Vec<Run> = std::mem::take(&mut self.runs)
                .into_iter()
                .map(Run::new)
                .collect();
            // The smallest hash first; on a tie the earlier run, so a key
            // added twice is applied in the order added.
            let mut heads = BinaryHeap::new();
            for (i, run) in runs.iter_mut().enumerate() {
                if run.advance().map_err(spill_failed)? {
                    heads.push(Reverse((run.hash, i)));
                }
            }
            while let Some(Reverse((hash, i))) = heads.pop() {
                let (key, link) = parse_record(&runs[i].record).map_err(spill_failed)?;
                added += self.apply(&hash, key, link).await?;
                if runs[i].advance().map_err(spill_failed)? {
                    heads.push(Reverse((runs[i].hash, i)));
                }
            }
        }
        Ok(added)
    }

    async fn apply(&mut self, hash: &KeyHash, key: &str, link: Cid) -> Result<u64, HamtError> {
        // Applied in hash order, a subtree written out early is never read
        // back during the import: no use converting it for the cache.
        let old = self
            .map
            .insert_hashed(key, hash, link, AfterWrite::Drop)
            .await?;
        Ok(u64::from(old.is_none()))
    }
}

/// A sorted run being merged: its reader and its current entry.
struct Run {
    reader: BufReader<File>,
    hash: KeyHash,
    /// The current entry's record (reused from entry to entry).
    record: Vec<u8>,
}

impl Run {
    fn new(file: File) -> Self {
        Run {
            reader: BufReader::with_capacity(RUN_IO_BUFFER, file),
            hash: KeyHash::default(),
            record: Vec::new(),
        }
    }

    /// Reads the next entry; `false` at the end of the run.
    fn advance(&mut self) -> std::io::Result<bool> {
        if let Err(e) = self.reader.read_exact(&mut self.hash) {
            // A run ends between entries.
            let at_end = e.kind() == std::io::ErrorKind::UnexpectedEof;
            return if at_end { Ok(false) } else { Err(e) };
        }
        let mut key_len = [0u8; 4];
        self.reader.read_exact(&mut key_len)?;
        let key_len = u32::from_le_bytes(key_len) as usize;
        self.record.clear();
        self.record.extend_from_slice(&key_len.to_le_bytes()[..4]);
        self.record.resize(4 + key_len + 1, 0);
        self.reader.read_exact(&mut self.record[4..])?;
        let link_len = usize::from(self.record[4 + key_len]);
        let start = self.record.len();
        self.record.resize(start + link_len, 0);
        self.reader.read_exact(&mut self.record[start..])?;
        Ok(true)
    }
}

/// Makes room in `vec` for `extra` more items without its capacity passing
/// `max` (doubling up to it); `false` if that cannot be done.
fn grow_within<T>(vec: &mut Vec<T>, extra: usize, max: usize) -> bool {
    let needed = vec.len() + extra;
    if needed <= vec.capacity() {
        return true;
    }
    if needed > max {
        return false;
    }
    let target = (vec.capacity() * 2).clamp(needed, max);
    vec.reserve_exact(target - vec.len());
    true
}

fn spill_failed(source: std::io::Error) -> HamtError {
    HamtError::ImportSpill { source }
}

/// The records are this process's own, so a malformed one is an I/O error
/// of the temporary file (or a bug), not a data error.
fn malformed(what: &str) -> std::io::Error {
    std::io::Error::other(format!("malformed sort record: {what}"))
}

/// Appends an entry's record: the key's length (u32 LE) and bytes, the
/// link's length (u8) and bytes.
fn write_record(out: &mut Vec<u8>, key: &str, link: &Cid) -> std::io::Result<()> {
    let key_len = u32::try_from(key.len()).map_err(std::io::Error::other)?;
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    let len_at = out.len();
    out.push(0);
    link.write_bytes(&mut *out).map_err(std::io::Error::other)?;
    let link_len = out.len() - len_at - 1;
    out[len_at] = u8::try_from(link_len).map_err(std::io::Error::other)?;
    Ok(())
}

/// The record starting at `offset` in the arena.
fn record_at(arena: &[u8], offset: Offset) -> std::io::Result<&[u8]> {
    let start = offset as usize;
    let len_bytes = arena
        .get(start..start + 4)
        .ok_or_else(|| malformed("key length"))?;
    let mut len = [0u8; 4];
    len.copy_from_slice(len_bytes);
    let key_end = start + 4 + u32::from_le_bytes(len) as usize;
    let link_len = usize::from(*arena.get(key_end).ok_or_else(|| malformed("link length"))?);
    arena
        .get(start..key_end + 1 + link_len)
        .ok_or_else(|| malformed("link"))
}

/// The key and link of a record.
fn parse_record(record: &[u8]) -> std::io::Result<(&str, Cid)> {
    let mut len = [0u8; 4];
    len.copy_from_slice(record.get(..4).ok_or_else(|| malformed("key length"))?);
    let key_end = 4 + u32::from_le_bytes(len) as usize;
    let key = record.get(4..key_end).ok_or_else(|| malformed("key"))?;
    let key = std::str::from_utf8(key).map_err(|_| malformed("key is not UTF-8"))?;
    let link = record.get(key_end + 1..).ok_or_else(|| malformed("link"))?;
    let link = Cid::try_from(link).map_err(|_| malformed("link is not a CID"))?;
    Ok((key, link))
}

#[cfg(test)]
mod tests {
    use super::{grow_within, parse_record, record_at, write_record};
    use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};

    /// Records read back as written; cut or damaged ones are I/O errors
    /// (a damaged temporary file), never a panic.
    #[test]
    fn records_round_trip_and_damaged_ones_are_errors() {
        let link = block_cid(BlockCodec::Raw, HashAlgorithm::Blake3, b"v");
        let mut arena = Vec::new();
        write_record(&mut arena, "temp/c/1", &link).unwrap();
        let record = record_at(&arena, 0).unwrap();
        assert_eq!(parse_record(record).unwrap(), ("temp/c/1", link));
        for cut in [0, 2, 6, arena.len() - 1] {
            assert!(record_at(&arena[..cut], 0).is_err(), "cut at {cut}");
        }
        let mut not_utf8 = arena.clone();
        not_utf8[4] = 0xff;
        assert!(parse_record(&not_utf8).is_err());
        let mut not_a_cid = arena.clone();
        let last = not_a_cid.len() - 1;
        not_a_cid.truncate(last);
        assert!(parse_record(&not_a_cid).is_err());
        assert!(parse_record(&[1, 0]).is_err());
    }

    #[test]
    fn growth_doubles_up_to_the_cap_and_never_past_it() {
        let mut vec: Vec<u8> = Vec::new();
        assert!(grow_within(&mut vec, 10, 100));
        assert!(vec.capacity() >= 10 && vec.capacity() <= 100);
        vec.resize(10, 0);
        assert!(grow_within(&mut vec, 30, 100));
        assert!(vec.capacity() >= 40 && vec.capacity() <= 100);
        vec.resize(40, 0);
        assert!(grow_within(&mut vec, 60, 100));
        assert_eq!(vec.capacity(), 100);
        vec.resize(100, 0);
        assert!(!grow_within(&mut vec, 1, 100), "full at the cap");
        assert_eq!(vec.capacity(), 100);
        assert!(grow_within(&mut vec, 0, 100));
        let mut small: Vec<u64> = Vec::with_capacity(4);
        assert!(
            !grow_within(&mut small, 200, 100),
            "more than the cap at once"
        );
        assert_eq!(small.capacity(), 4);
    }
}
