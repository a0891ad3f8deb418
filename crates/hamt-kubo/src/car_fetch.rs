//! A whole DAG in one request: a trustless gateway's CAR
//! (`/ipfs/{root}?format=car&dag-scope=all`), every block verified against
//! its CID and only blocks the root reaches accepted.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use bytes::Bytes;
use hamt_car::CarReader;
use hamt_codec::{Cid, block_links};
use hamt_store::{Block, StoreError};
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
    /// Every block `root` reaches, fetched from a gateway as one CAR
    /// (`?format=car&dag-scope=all`) of at most `max_bytes`: each block is
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
    /// Not found on any gateway; a corrupt block (after retries); a CAR
    /// that is malformed, names another root, holds a block outside the
    /// DAG or is over `max_bytes`; the network.
    pub async fn fetch_dag(
        &self,
        root: &Cid,
        max_bytes: usize,
    ) -> Result<Option<Vec<Block>>, StoreError> {
        if self.inner.gateways.is_empty() {
            return Ok(None);
        }
        self.inner
            .transport
            .retrying(|| self.fetch_dag_once(root, max_bytes))
            .await
    }

    async fn fetch_dag_once(
        &self,
        root: &Cid,
        max_bytes: usize,
    ) -> Result<Option<Vec<Block>>, Failure> {
        let inner = &self.inner;
        let mut outcome = Ok(None);
        for i in breaker::order(&inner.breakers, Instant::now()) {
            let got = self.car_from(i, root, max_bytes).await;
            let breaker = &inner.breakers[i];
            match got {
                Ok(Some(blocks)) => {
                    breaker.succeeded();
                    return Ok(Some(blocks));
                }
                Ok(None) => breaker.succeeded(),
                Err(Failure::Stop(StoreError::NotFound(cid))) => {
                    breaker.succeeded();
                    if matches!(outcome, Ok(None)) {
                        outcome = Err(Failure::Stop(StoreError::NotFound(cid)));
                    }
                }
                Err(e @ (Failure::Retry(_) | Failure::RetryAfter(..))) => {
                    breaker.failed(inner.breaker, Instant::now());
                    outcome = Err(e);
                }
                Err(e) => outcome = Err(e),
            }
        }
        outcome
    }

    /// One CAR request to gateway `i`: `None` if it does not serve CARs.
    async fn car_from(
        &self,
        i: usize,
        root: &Cid,
        max_bytes: usize,
    ) -> Result<Option<Vec<Block>>, Failure> {
        let base = &self.inner.gateways[i];
        let transport = &self.inner.transport;
        let url = endpoint(base, &format!("/ipfs/{root}?format=car&dag-scope=all"));
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
        // Bytes can be damaged in transit: a corrupt block is worth another try.
        let block = Block::verified(cid, data).map_err(|e| match e {
            e @ StoreError::Corrupt { .. } => Failure::Retry(e),
            e => Failure::Stop(e),
        })?;
        held.insert(cid, block);
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
        block_links(cid.codec(), block.data(), &mut links)
            .map_err(|e| bad(format!("block {cid}: {e}")))?;
        stack.extend(links.iter().copied());
        reached.push(block);
    }
    if let Some(stray) = held.keys().next() {
        return Err(bad(format!("block {stray} is not in the DAG of {root}")));
    }
    Ok(reached)
}
