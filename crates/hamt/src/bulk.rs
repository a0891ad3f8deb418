//! Inserting many entries at once: values hashed on all cores, entries
//! applied in key-hash order.

use bytes::Bytes;
use hamt_codec::{BlockCodec, HashAlgorithm, KeyHash, KeyHasher};
use hamt_store::{Block, BlockStore};

use crate::hamt::AfterWrite;
use crate::{Hamt, HamtError};

/// Most entries prepared (hashed) and applied as one batch (fits `u32`).
const BATCH_ENTRIES: usize = 1 << 16;
/// Most value bytes in one batch, so a batch of large values stays bounded.
const BATCH_BYTES: usize = 32 << 20;
/// Below this many entries a batch is hashed on the calling thread alone.
const PARALLEL_MIN_ENTRIES: usize = 4096;

/// An entry with its key hash and its value's link (and block, if the value is one raw block).
struct Prepared {
    hash: KeyHash,
    value: PreparedValue,
}

enum PreparedValue {
    Block(Block),
    /// Over one block: built as a UnixFS file afterwards, on the calling thread.
    File,
}

impl<S: BlockStore> Hamt<S> {
    /// Sets many keys at once; the same tree, root and blocks as calling
    /// [`insert`](Self::insert) for each entry in turn (a key given twice
    /// keeps its last value). Returns how many keys were new.
    ///
    /// Entries are taken in batches: the keys and values of a batch are
    /// hashed on all cores, then applied in key-hash order, so nodes are
    /// filled front to back and a subtree, once passed, is complete (the
    /// dirty-node budget writes such subtrees out first). If the store
    /// fails, the entries applied so far (a prefix in that order) stay in
    /// memory, as with a loop of `insert`.
    ///
    /// ```
    /// # use hamt::{Hamt, HamtConfig}; use hamt_store::MemoryStore;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let mut map = Hamt::new(MemoryStore::new(), HamtConfig::default());
    /// let added = map
    ///     .insert_many((0..1000).map(|i| (format!("temp/c/{i}/0"), vec![i as u8; 64])))
    ///     .await?;
    /// assert_eq!(added, 1000);
    /// assert_eq!(map.get("temp/c/7/0").await?.as_deref(), Some(&[7u8; 64][..]));
    /// # Ok::<(), hamt::HamtError>(()) }).unwrap();
    /// ```
    pub async fn insert_many<K, V>(
        &mut self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<u64, HamtError>
    where
        K: AsRef<str> + Sync,
        V: Into<Bytes>,
    {
        let mut entries = entries.into_iter();
        let mut added = 0;
        loop {
            let batch = next_batch(&mut entries);
            if batch.is_empty() {
                return Ok(added);
            }
            added += self.insert_batch(batch).await?;
        }
    }

    async fn insert_batch<K: AsRef<str> + Sync>(
        &mut self,
        batch: Vec<(K, Bytes)>,
    ) -> Result<u64, HamtError> {
        let mut prepared = prepare(
            &batch,
            &*self.config().key_hasher,
            self.store().hash_algorithm(),
        );
        // Sort positions, not the entries (which are large); stable, so a
        // key given twice is applied in the order given.
        let mut order: Vec<u32> = (0..u32::try_from(batch.len()).unwrap_or(u32::MAX)).collect();
        order.sort_by(|&a, &b| prepared[a as usize].hash.cmp(&prepared[b as usize].hash));
        let mut added = 0;
        for i in order {
            let i = i as usize;
            let (key, value) = &batch[i];
            // Each position comes once: leave a placeholder behind.
            let entry = &mut prepared[i];
            let link = match std::mem::replace(&mut entry.value, PreparedValue::File) {
                PreparedValue::Block(block) => {
                    let link = *block.cid();
                    self.buffer_block(block);
                    link
                }
                PreparedValue::File => {
                    let (root, blocks) =
                        hamt_unixfs::build_file_bytes(value, self.store().hash_algorithm());
                    self.buffer_file(root, value.clone(), blocks);
                    root
                }
            };
            let hash = entry.hash;
            if self
                .insert_hashed(key.as_ref(), &hash, link, AfterWrite::Cache)
                .await?
                .is_none()
            {
                added += 1;
            }
        }
        self.write_values_over_budget().await?;
        Ok(added)
    }
}

/// The next batch: up to [`BATCH_ENTRIES`] entries or [`BATCH_BYTES`] of values.
fn next_batch<K, V: Into<Bytes>>(entries: &mut impl Iterator<Item = (K, V)>) -> Vec<(K, Bytes)> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    for (key, value) in entries.by_ref() {
        let value = value.into();
        bytes += value.len();
        batch.push((key, value));
        if batch.len() >= BATCH_ENTRIES || bytes >= BATCH_BYTES {
            break;
        }
    }
    batch
}

/// Hashes every key and every one-block value of a batch, on all cores when it is large.
fn prepare<K: AsRef<str> + Sync>(
    batch: &[(K, Bytes)],
    hasher: &dyn KeyHasher,
    alg: HashAlgorithm,
) -> Vec<Prepared> {
    let prepare_one = |(key, value): &(K, Bytes)| Prepared {
        hash: hasher.hash(key.as_ref().as_bytes()),
        value: if value.len() <= hamt_unixfs::CHUNK_SIZE {
            PreparedValue::Block(Block::new(BlockCodec::Raw, alg, value.clone()))
        } else {
            PreparedValue::File
        },
    };
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if threads < 2 || batch.len() < PARALLEL_MIN_ENTRIES {
        return batch.iter().map(prepare_one).collect();
    }
    let per_thread = batch.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = batch
            .chunks(per_thread)
            .map(|part| scope.spawn(move || part.iter().map(prepare_one).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(batch.len());
        for worker in workers {
            match worker.join() {
                Ok(part) => out.extend(part),
                // A hasher that panicked: pass the panic on.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}
