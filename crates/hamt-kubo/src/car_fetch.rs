//! A DAG in one request: a trustless gateway's CAR
//! (`/ipfs/{root}?format=car&dag-scope=all`, or the blocks of a byte range
//! of a UnixFS file: `dag-scope=entity&entity-bytes=from:to`), every block
//! verified against its CID and only blocks the root reaches accepted.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use bytes::Bytes;
use hamt_car::CarReader;
use hamt_codec::{Cid, LinksError, block_links};
use hamt_store::{Block, ByteRange, DagScope, StoreError};
use reqwest::header::ACCEPT;

use crate::KuboError;
use crate::breaker;
use crate::store::KuboStore;
use crate::transport::{Failure, classify, context, endpoint};

/// What is asked for: CAR v1, blocks in depth-first order, no duplicates
/// (the trustless gateway spec's parameters; a gateway may ignore them).
const CAR: &str = "application/vnd.ipld.car;version=1;order=dfs;dups=n";

/// The multihash code of identity CIDs (data inline, no block).
const IDENTITY: u64 = 0x00;

impl KuboStore {
    /// The blocks of `root`'s DAG that `scope` selects (every block, or
    /// those of a byte range of a UnixFS file), fetched from a gateway as
    /// one CAR of at most `max_bytes`: each block is
    /// verified against its CID, the CAR must name `root` as its root, and a
    /// block `root` does not reach is refused (a gateway cannot slip other
    /// data in). Blocks the CAR leaves out are simply not returned: read
    /// them one by one.
    ///
    /// `Ok(None)` when there is no gateway or none serves CARs (it answers
    /// 400, 406, 415 or 501). Gateways are tried healthy ones first, as
    /// for single blocks; an error is what the last one tried gave.
    ///
    /// # Errors
    /// Not found on any gateway; a CAR that is malformed, names another
    /// root, holds a corrupt block or one outside the DAG (none retried:
    /// read block by block then), or is over `max_bytes` (not asked of
    /// another gateway); the network, after retries.
    pub async fn fetch_dag(
        &self,
        root: &Cid,
        scope: DagScope,
        max_bytes: usize,
    ) -> Result<Option<Vec<Block>>, StoreError> {
        if self.inner.gateways.is_empty() {
            return Ok(None);
        }
        let Some(query) = scope_query(scope) else {
            return Ok(Some(Vec::new()));
        };
        self.inner
            .transport
            .retrying(|| self.fetch_dag_once(root, &query, max_bytes))
            .await
    }

    async fn fetch_dag_once(
        &self,
        root: &Cid,
        query: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<Block>>, Failure> {
        let inner = &self.inner;
        let mut outcome = Ok(None);
        for i in breaker::order(&inner.breakers, Instant::now()) {
            let got = self.car_from(i, root, query, max_bytes).await;
            self.learn(i, &got);
            match got {
                Ok(Some(blocks)) => return Ok(Some(blocks)),
                Ok(None) => {}
                Err(Failure::Stop(StoreError::NotFound(cid))) => {
                    if matches!(outcome, Ok(None)) {
                        outcome = Err(Failure::Stop(StoreError::NotFound(cid)));
                    }
                }
                // Too large here is too large anywhere: not worth another download.
                Err(Failure::Stop(e)) if is_too_large(&e) => return Err(Failure::Stop(e)),
                Err(e) => outcome = Err(e),
            }
        }
        outcome
    }

    /// One CAR request to gateway `i` (`query`: the scope's parameters):
    /// `None` if it does not serve CARs.
    async fn car_from(
        &self,
        i: usize,
        root: &Cid,
        query: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<Block>>, Failure> {
        let base = &self.inner.gateways[i];
        let transport = &self.inner.transport;
        let url = endpoint(base, &format!("/ipfs/{root}?format=car&{query}"));
        let what = context(&format!("car {root}"), base);
        let request = transport.client.get(&url).header(ACCEPT, CAR);
        // A whole DAG: the long timeout, as for pins.
        let answer = transport
            .exchange_up_to(request, self.inner.pin_timeout, &what, max_bytes)
            .await?;
        if matches!(answer.status.as_u16(), 400 | 406 | 415 | 501) {
            return Ok(None);
        }
        let body = classify(answer, Some(root), &what)?;
        blocks_of_dag(root, &body, &what).map(Some)
    }
}

/// Whether `e` says an answer was over the size limit.
fn is_too_large(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend { source, .. }
        if matches!(source.downcast_ref::<KuboError>(), Some(KuboError::TooLarge { .. })))
}

/// The query selecting `scope`; `None` for a range surely empty.
fn scope_query(scope: DagScope) -> Option<String> {
    Some(match scope {
        DagScope::All => "dag-scope=all".to_owned(),
        DagScope::FileRange(range) => {
            let bytes = match range {
                ByteRange::Full => "0:*".to_owned(),
                ByteRange::From(from) => format!("{from}:*"),
                ByteRange::Slice { length: 0, .. } | ByteRange::Suffix(0) => return None,
                ByteRange::Slice { offset, length } => {
                    format!("{offset}:{}", offset.saturating_add(length - 1))
                }
                ByteRange::Suffix(n) => format!("-{n}:*"),
            };
            format!("dag-scope=entity&entity-bytes={bytes}")
        }
    })
}

/// The blocks of a CAR answering for `root`: each verified, each reached
/// from `root`; none other allowed.
pub(crate) fn blocks_of_dag(root: &Cid, car: &Bytes, what: &str) -> Result<Vec<Block>, Failure> {
    let bad =
        |message: String| Failure::Stop(StoreError::backend(what, KuboError::BadResponse(message)));
    let (mut reader, roots) =
        CarReader::open(&car[..]).map_err(|e| bad(format!("not a CAR: {e}")))?;
    if roots.first() != Some(root) {
        return Err(bad(format!("the CAR's root is not {root}")));
    }
    let mut held: HashMap<Cid, Block> = HashMap::new();
    while let Some((cid, data)) = reader
        .next_block()
        .map_err(|e| bad(format!("bad CAR: {e}")))?
    {
        // Not retried: a whole DAG again is a high price, and the caller
        // reads block by block (each retried) after a failed fetch.
        let block = Block::verified(cid, data).map_err(Failure::Stop)?;
        // Identity CIDs carry their data inline: nothing to hold.
        if cid.hash().code() != IDENTITY {
            held.insert(cid, block);
        }
    }
    // Depth first from the root over what the CAR held, each block once.
    let mut reached = Vec::with_capacity(held.len());
    let mut seen = HashSet::new();
    let mut stack = vec![*root];
    let mut links = Vec::new();
    while let Some(cid) = stack.pop() {
        if cid.hash().code() == IDENTITY || !seen.insert(cid) {
            continue;
        }
        let Some(block) = held.remove(&cid) else {
            continue;
        };
        links.clear();
        match block_links(cid.codec(), block.data(), &mut links) {
            Ok(()) => {}
            // A codec with no known links (a value in another format) is a leaf.
            Err(LinksError::UnknownCodec(_)) => links.clear(),
            Err(e) => return Err(bad(format!("block {cid}: {e}"))),
        }
        stack.extend(links.iter().copied());
        reached.push(block);
    }
    if let Some(stray) = held.keys().next() {
        return Err(bad(format!("block {stray} is not in the DAG of {root}")));
    }
    Ok(reached)
}
