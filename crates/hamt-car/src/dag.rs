//! A whole DAG into or out of a block store as one CAR: what `ipfs dag
//! export` / `ipfs dag import` do, for any layout (a HAMT, a sharded
//! store's manifest and shards, UnixFS files), since the walk follows every
//! link a block's codec defines.

use std::io::{Read, Write};

use bytes::Bytes;
use hamt_codec::{Cid, LinksError};
use hamt_store::dag::{BlockLinks, DagWalk, VisitError};
use hamt_store::{Block, BlockStore, StoreError};

use crate::{CarError, CarReader, CarWriter};

/// Blocks handed to the store together during an import.
const IMPORT_BATCH_BYTES: usize = 16 << 20;

/// How much a transfer moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Blocks written.
    pub blocks: u64,
    /// Their bytes (block data only, no framing).
    pub bytes: u64,
}

/// Why a DAG could not be exported or imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DagCarError {
    /// The CAR being imported is not a valid CAR.
    #[error(transparent)]
    Car(#[from] CarError),
    /// Writing the CAR failed.
    #[error("cannot write the CAR: {0}")]
    Write(#[source] std::io::Error),
    /// A block the root reaches cannot be exported: missing, corrupt,
    /// unreadable, or its links undecodable.
    #[error("block {cid} reachable from root {root} cannot be exported: {source}")]
    Unreadable {
        /// The root exported.
        root: Cid,
        /// The block.
        cid: Cid,
        /// What is wrong with it.
        #[source]
        source: VisitError<LinksError>,
    },
    /// A section of the CAR whose bytes do not hash to its CID.
    #[error("section {section} ({cid}) of the CAR fails verification: {source}")]
    Corrupt {
        /// Its number, from 1.
        section: u64,
        /// The CID it names.
        cid: Cid,
        /// The verification failure.
        #[source]
        source: StoreError,
    },
    /// A block a root of the imported CAR reaches is neither in the CAR nor
    /// in the store (a CAR cut short at a section boundary still parses).
    #[error("incomplete CAR: block {cid} reachable from root {root}: {source}")]
    Incomplete {
        /// The root.
        root: Cid,
        /// The block.
        cid: Cid,
        /// Why it cannot be used.
        #[source]
        source: VisitError<LinksError>,
    },
    /// The store refused the imported blocks.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes `root` and every block it reaches, each once, depth first (the
/// order `ipfs dag export` uses), as a CAR v1 with that one root; returns
/// the writer and what was written. Every block is verified as it is read.
///
/// `also` names blocks the root reaches in ways its blocks' links do not
/// show, walked after it: what a sharded store's manifest or shards stored
/// as UnixFS files link inside their bytes
/// (`hamt_sharded::ShardedMap::links_inside_files`). Empty for a HAMT.
///
/// ```
/// use hamt_car::dag::{export_dag, import_car};
/// use hamt_store::{BlockCodec, BlockStore, MemoryStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let root = store.put(BlockCodec::Raw, b"one block".to_vec().into()).await?;
/// let (car, sent) = export_dag(&store, root, &[], Vec::new()).await?;
/// let other = MemoryStore::new();
/// let (roots, received) = import_car(&other, &car[..]).await?;
/// assert_eq!((roots, sent), (vec![root], received));
/// # Ok::<(), hamt_car::dag::DagCarError>(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// A block the root reaches is missing, corrupt or undecodable, or the
/// writer fails. What was written by then is not a complete CAR: write to
/// a temporary file and rename it when this returns `Ok`.
pub async fn export_dag<S: BlockStore + ?Sized, W: Write>(
    store: &S,
    root: Cid,
    also: &[Cid],
    out: W,
) -> Result<(W, Transfer), DagCarError> {
    let mut car = CarWriter::new(out, &[root]).map_err(DagCarError::Write)?;
    let mut walk = DagWalk::new(store, BlockLinks::default());
    // Last added, first walked: the root first, then what it links unseen.
    for cid in also.iter().rev() {
        walk.add_root(*cid, ());
    }
    walk.add_root(root, ());
    let mut sent = Transfer::default();
    while let Some(batch) = walk.next_batch().await {
        for visit in batch {
            let data =
                block_data(visit.cid, visit.result).map_err(|source| DagCarError::Unreadable {
                    root,
                    cid: visit.cid,
                    source,
                })?;
            car.write_block(&visit.cid, &data)
                .map_err(DagCarError::Write)?;
            sent.blocks += 1;
            sent.bytes += data.len() as u64;
        }
    }
    let out = car.finish().map_err(DagCarError::Write)?;
    Ok((out, sent))
}

/// A visited block's bytes (the walk reads every block when leaves are read).
fn block_data(
    cid: Cid,
    result: Result<Option<Bytes>, VisitError<LinksError>>,
) -> Result<Bytes, VisitError<LinksError>> {
    // `read_leaves` is on, so a present block always comes with its bytes.
    result?.ok_or(VisitError::Store(StoreError::NotFound(cid)))
}

/// Reads a CAR, verifies every block against its CID, writes them to
/// `store` in batches, then checks that every block each root reaches is
/// in the store; returns the CAR's roots and what was written.
///
/// # Errors
/// The CAR is malformed or truncated ([`DagCarError::Car`]), a block fails
/// verification ([`DagCarError::Corrupt`], nothing after it is written), a
/// root's DAG is incomplete ([`DagCarError::Incomplete`]), or the store
/// fails. Blocks written before an error stay (they are verified, and
/// unreachable until something links them).
pub async fn import_car<S: BlockStore + ?Sized, R: Read>(
    store: &S,
    input: R,
) -> Result<(Vec<Cid>, Transfer), DagCarError> {
    let (mut reader, roots) = CarReader::open(input)?;
    let mut received = Transfer::default();
    let (mut pending, mut pending_bytes) = (Vec::new(), 0usize);
    while let Some((cid, data)) = reader.next_block()? {
        let block = Block::verified(cid, data).map_err(|source| DagCarError::Corrupt {
            section: reader.sections(),
            cid,
            source,
        })?;
        received.blocks += 1;
        received.bytes += block.data().len() as u64;
        pending_bytes += block.data().len();
        pending.push(block);
        if pending_bytes >= IMPORT_BATCH_BYTES {
            store.put_many(std::mem::take(&mut pending)).await?;
            pending_bytes = 0;
        }
    }
    store.put_many(pending).await?;
    for &root in &roots {
        check_complete(store, root, &[]).await?;
    }
    Ok((roots, received))
}

/// Checks that every block `root` reaches (and `also` reach, as for
/// [`export_dag`]) is in the store, reading the blocks that hold links.
///
/// # Errors
/// [`DagCarError::Incomplete`] naming a block missing, corrupt or
/// undecodable.
pub async fn check_complete<S: BlockStore + ?Sized>(
    store: &S,
    root: Cid,
    also: &[Cid],
) -> Result<(), DagCarError> {
    let mut walk = DagWalk::new(store, BlockLinks::default())
        .read_leaves(false)
        .remember_leaves(false);
    for cid in also.iter().rev() {
        walk.add_root(*cid, ());
    }
    walk.add_root(root, ());
    while let Some(batch) = walk.next_batch().await {
        for visit in batch {
            visit.result.map_err(|source| DagCarError::Incomplete {
                root,
                cid: visit.cid,
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hamt_codec::{BlockCodec, link_list};
    use hamt_store::MemoryStore;

    /// A two-level DAG: a list of links to two raw blocks, one linked twice.
    async fn dag(store: &MemoryStore) -> (Cid, Cid, Cid) {
        let a = store
            .put(BlockCodec::Raw, b"a".to_vec().into())
            .await
            .unwrap();
        let b = store
            .put(BlockCodec::Raw, b"b".to_vec().into())
            .await
            .unwrap();
        let list = link_list::encode(&[Some(a), None, Some(b), Some(a)]);
        let root = store.put(BlockCodec::DagCbor, list.into()).await.unwrap();
        (root, a, b)
    }

    #[tokio::test]
    async fn a_dag_round_trips_each_block_once() {
        let store = MemoryStore::new();
        let (root, _, _) = dag(&store).await;
        let (car, sent) = export_dag(&store, root, &[], Vec::new()).await.unwrap();
        assert_eq!(sent.blocks, 3);
        let other = MemoryStore::new();
        let (roots, received) = import_car(&other, &car[..]).await.unwrap();
        assert_eq!(roots, [root]);
        assert_eq!(received, sent);
        assert_eq!(other.len(), 3);
    }

    #[tokio::test]
    async fn a_missing_block_stops_the_export_naming_it() {
        let store = MemoryStore::new();
        let (root, _, b) = dag(&store).await;
        store.remove(&b);
        match export_dag(&store, root, &[], Vec::new()).await {
            Err(DagCarError::Unreadable { root: r, cid, .. }) => assert_eq!((r, cid), (root, b)),
            other => panic!("expected Unreadable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn truncated_and_corrupt_cars_are_refused() {
        let store = MemoryStore::new();
        let (root, a, _) = dag(&store).await;
        let (car, _) = export_dag(&store, root, &[], Vec::new()).await.unwrap();
        // Cut after the root's section and the first block's: parses, but
        // the root reaches a block that is not there.
        let mut cut = CarWriter::new(Vec::new(), &[root]).unwrap();
        cut.write_block(&root, &store.get(&root).await.unwrap())
            .unwrap();
        cut.write_block(&a, b"a").unwrap();
        let cut = cut.finish().unwrap();
        assert!(matches!(
            import_car(&MemoryStore::new(), &cut[..]).await,
            Err(DagCarError::Incomplete { root: r, .. }) if r == root
        ));
        // Cut inside a section.
        assert!(matches!(
            import_car(&MemoryStore::new(), &car[..car.len() - 1]).await,
            Err(DagCarError::Car(_))
        ));
        // A flipped byte in the last block's data.
        let mut flipped = car.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            import_car(&MemoryStore::new(), &flipped[..]).await,
            Err(DagCarError::Corrupt { section: 3, .. })
        ));
    }
}
