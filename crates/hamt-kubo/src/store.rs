use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use hamt_codec::{BlockCodec, Cid, HashAlgorithm};
use hamt_store::{Block, BlockStore, ByteRange, DagScope, StoreError};
use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE, RANGE};

use crate::breaker::{self, Breaker, BreakerPolicy};
use crate::config::redact;
use crate::transport::{Failure, Transport, classify, context, endpoint};
use crate::{KuboError, KuboStoreBuilder};

/// The media type of a single raw block from a trustless gateway.
const RAW_BLOCK: &str = "application/vnd.ipld.raw";

/// Blocks up to this size need no `allow-big-block` (Kubo's limit).
const SOFT_BLOCK_LIMIT: usize = 1 << 20;

/// A [`BlockStore`] on a Kubo daemon, over HTTP.
///
/// - **Reads** go to the trustless gateways (`GET /ipfs/{cid}` as
///   `application/vnd.ipld.raw`), in order with failover (a gateway that
///   keeps failing is tried last for a while: a circuit breaker), or to the
///   RPC's `block/get` when no gateway is configured. Every block is verified
///   against its CID; a corrupt answer is retried and, if it persists,
///   is [`StoreError::Corrupt`].
/// - **Writes** use the RPC's `block/put` with the block's codec and hash;
///   the daemon's CID must equal the block's. Without an RPC URL the store
///   is read-only ([`StoreError::ReadOnly`]).
/// - Failures are retried with exponential backoff and jitter (timeouts,
///   connection errors, 5xx, 429, corrupt answers); a missing block is
///   [`StoreError::NotFound`] at once.
/// - One HTTP client (connection pool) and one concurrency cap serve all
///   requests. Cloning is cheap and shares both.
///
/// ```no_run
/// use hamt_kubo::KuboStore;
/// use hamt_store::{BlockStore, BlockCodec};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = KuboStore::builder()
///     .rpc_url("http://127.0.0.1:5001")
///     .gateway("http://127.0.0.1:8080")
///     .build()?;
/// let cid = store.put(BlockCodec::Raw, b"hello".to_vec().into()).await?;
/// assert_eq!(&store.get(&cid).await?[..], b"hello");
/// store.pin_add(&cid).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KuboStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) transport: Transport,
    pub(crate) rpc: Option<Url>,
    pub(crate) gateways: Vec<Url>,
    /// One per gateway, same order.
    pub(crate) breakers: Vec<Breaker>,
    pub(crate) breaker: BreakerPolicy,
    pub(crate) timeout: Duration,
    pub(crate) pin_timeout: Duration,
    /// How far RPC block reads search (see `rpc_search_timeout`).
    pub(crate) rpc_search: crate::builder::RpcSearch,
    pub(crate) concurrency: usize,
    pub(crate) pin_on_put: bool,
    pub(crate) hash: HashAlgorithm,
    pub(crate) unverified_ranges: bool,
    pub(crate) allow_big_blocks: bool,
}

impl fmt::Debug for KuboStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let header_names: Vec<_> = inner.transport.headers.keys().collect();
        f.debug_struct("KuboStore")
            .field("rpc", &inner.rpc.as_ref().map(redact))
            .field(
                "gateways",
                &inner.gateways.iter().map(redact).collect::<Vec<_>>(),
            )
            .field("headers", &header_names)
            .field("auth", &inner.transport.auth)
            .field("retry", &inner.transport.retry)
            .field("timeout", &inner.timeout)
            .field("concurrency", &inner.concurrency)
            .field("pin_on_put", &inner.pin_on_put)
            .field("hash", &inner.hash)
            .field("unverified_ranges", &inner.unverified_ranges)
            .finish_non_exhaustive()
    }
}

impl KuboStore {
    /// A builder; set at least an RPC URL or a gateway.
    pub fn builder() -> KuboStoreBuilder {
        KuboStoreBuilder::default()
    }

    /// Whether writes are possible (an RPC URL is configured).
    pub fn is_writable(&self) -> bool {
        self.inner.rpc.is_some()
    }

    pub(crate) fn rpc(&self) -> Result<&Url, StoreError> {
        self.inner.rpc.as_ref().ok_or(StoreError::ReadOnly)
    }

    /// POSTs an RPC command (`path` with query, after `/api/v0`) with retries;
    /// returns the body. `missing` names the block a "not found" answer means.
    pub(crate) async fn rpc_call(
        &self,
        path: &str,
        missing: Option<&Cid>,
        timeout: Duration,
    ) -> Result<Bytes, StoreError> {
        self.rpc_post(path, None, missing, timeout).await
    }

    /// [`rpc_call`](Self::rpc_call) with a `multipart/form-data` body
    /// (from [`crate::multipart::file_body`]) when `body` is given.
    pub(crate) async fn rpc_post(
        &self,
        path: &str,
        body: Option<&(Bytes, String)>,
        missing: Option<&Cid>,
        timeout: Duration,
    ) -> Result<Bytes, StoreError> {
        let base = self.rpc()?;
        let url = endpoint(base, &format!("/api/v0/{path}"));
        let what = context(path.split('?').next().unwrap_or(path), base);
        let transport = &self.inner.transport;
        transport
            .retrying(|| async {
                let mut request = transport.client.post(&url);
                if let Some((bytes, content_type)) = body {
                    request = request
                        .header(CONTENT_TYPE, content_type)
                        .body(bytes.clone());
                }
                let answer = transport.exchange(request, timeout, &what).await?;
                classify(answer, missing, &what)
            })
            .await
    }

    /// One read of block `cid`, from each source in turn until one answers.
    async fn get_once(&self, cid: &Cid) -> Result<Bytes, Failure> {
        self.across_sources(cid, |source| self.get_from(source, cid))
            .await
    }

    /// The length of block `cid`, from each source in turn until one
    /// answers: a gateway's `HEAD` (its `Content-Length`), the RPC's
    /// `block/stat`. A gateway that sends no length is read in full.
    async fn size_once(&self, cid: &Cid) -> Result<u64, Failure> {
        self.across_sources(cid, |source| self.size_from(source, cid))
            .await
    }

    /// `one` on each read source in turn (healthy gateways first) until one
    /// answers; each gateway's breaker learns how it went. Not found only if
    /// every source said so; retryable if any source may yet answer.
    async fn across_sources<'a, T, F, Fut>(&'a self, cid: &Cid, mut one: F) -> Result<T, Failure>
    where
        F: FnMut(Source<'a>) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut retryable = None;
        let mut stopped = None;
        for source in self.read_sources() {
            let outcome = one(source).await;
            if let Source::Gateway(i, _) = source {
                self.learn(i, &outcome);
            }
            match outcome {
                Ok(value) => return Ok(value),
                Err(Failure::Stop(StoreError::NotFound(_))) => {}
                Err(Failure::Stop(e)) => stopped = Some(e),
                Err(retry) => retryable = Some(retry),
            }
        }
        match (retryable, stopped) {
            (Some(retry), _) => Err(retry),
            (None, Some(e)) => Err(Failure::Stop(e)),
            (None, None) => Err(Failure::Stop(StoreError::NotFound(*cid))),
        }
    }

    /// Tells gateway `i`'s breaker how a request to it went: an answer
    /// (a block, "not found", "no CARs here") closes it, a transient
    /// failure counts towards opening it, and a refusal of this request
    /// says nothing of the gateway's health.
    pub(crate) fn learn<T>(&self, i: usize, outcome: &Result<T, Failure>) {
        let breaker = &self.inner.breakers[i];
        match outcome {
            Ok(_) | Err(Failure::Stop(StoreError::NotFound(_))) => breaker.succeeded(),
            Err(Failure::Retry(_) | Failure::RetryAfter(..)) => {
                breaker.failed(self.inner.breaker, Instant::now());
            }
            Err(Failure::Stop(_)) => {}
        }
    }

    async fn size_from(&self, source: Source<'_>, cid: &Cid) -> Result<u64, Failure> {
        let transport = &self.inner.transport;
        match source {
            Source::Gateway(_, base) => {
                let url = endpoint(base, &format!("/ipfs/{cid}?format=raw"));
                let what = context(&format!("head {cid}"), base);
                let request = transport.client.head(&url).header(ACCEPT, RAW_BLOCK);
                let answer = transport
                    .exchange(request, self.inner.timeout, &what)
                    .await?;
                let length = answer.content_length;
                classify(answer, Some(cid), &what)?;
                match length {
                    // No block is larger than the largest answer read: a
                    // length past it is a lie (sizes are not verifiable).
                    Some(length) if length > transport.max_response as u64 => {
                        let lie = format!("Content-Length {length} for one block");
                        Err(Failure::Stop(StoreError::backend(
                            what,
                            KuboError::BadResponse(lie),
                        )))
                    }
                    Some(length) => Ok(length),
                    None => Ok(self.get_from(source, cid).await?.len() as u64),
                }
            }
            Source::Rpc(base) => {
                // As `block/get` reads: a block the node can fetch has a size.
                let search = self.inner.rpc_search.query();
                let url = endpoint(base, &format!("/api/v0/block/stat?arg={cid}{search}"));
                let what = context(&format!("block/stat {cid}"), base);
                let answer = transport
                    .exchange(transport.client.post(&url), self.inner.timeout, &what)
                    .await?;
                let reply = classify_rpc_read(answer, cid, &what)?;
                parse_size(&reply).map_err(|e| Failure::Retry(StoreError::backend(&what, e)))
            }
        }
    }

    /// Gateways (healthy ones first), or else the RPC.
    fn read_sources(&self) -> Vec<Source<'_>> {
        let inner = &self.inner;
        if inner.gateways.is_empty() {
            return inner.rpc.iter().map(Source::Rpc).collect();
        }
        breaker::order(&inner.breakers, Instant::now())
            .into_iter()
            .map(|i| Source::Gateway(i, &inner.gateways[i]))
            .collect()
    }

    async fn get_from(&self, source: Source<'_>, cid: &Cid) -> Result<Bytes, Failure> {
        let transport = &self.inner.transport;
        let (request, what) = match source {
            Source::Gateway(_, base) => (
                transport
                    .client
                    .get(endpoint(base, &format!("/ipfs/{cid}?format=raw")))
                    .header(ACCEPT, RAW_BLOCK),
                context(&format!("get {cid}"), base),
            ),
            Source::Rpc(base) => {
                let search = self.inner.rpc_search.query();
                let url = endpoint(base, &format!("/api/v0/block/get?arg={cid}{search}"));
                (
                    transport.client.post(url),
                    context(&format!("block/get {cid}"), base),
                )
            }
        };
        let answer = transport
            .exchange(request, self.inner.timeout, &what)
            .await?;
        let body = match source {
            Source::Rpc(_) => classify_rpc_read(answer, cid, &what)?,
            Source::Gateway(..) => classify(answer, Some(cid), &what)?,
        };
        match Block::verified(*cid, body) {
            Ok(block) => Ok(block.into_parts().1),
            // Bytes can be damaged in transit: a corrupt answer is worth another try.
            Err(e @ StoreError::Corrupt { .. }) => Err(Failure::Retry(e)),
            Err(e) => Err(Failure::Stop(e)),
        }
    }

    /// A range straight from the first gateway, unverified (opt-in).
    async fn get_range_unverified(
        &self,
        base: &Url,
        cid: &Cid,
        range: ByteRange,
    ) -> Result<Bytes, StoreError> {
        let Some(header) = range_header(range) else {
            return Ok(Bytes::new());
        };
        let url = endpoint(base, &format!("/ipfs/{cid}?format=raw"));
        let what = context(&format!("get range of {cid}"), base);
        let transport = &self.inner.transport;
        transport
            .load(
                |data: &Bytes| data.len() as u64,
                || async {
                    let request = transport
                        .client
                        .get(&url)
                        .header(ACCEPT, RAW_BLOCK)
                        .header(RANGE, &header);
                    let answer = transport
                        .exchange(request, self.inner.timeout, &what)
                        .await?;
                    match answer.status.as_u16() {
                        // The server ignored the range and sent the block: verify it and slice.
                        200 => {
                            let block =
                                Block::verified(*cid, answer.body).map_err(Failure::Retry)?;
                            let data = block.data();
                            Ok(data.slice(range.to_index_range(data.len())))
                        }
                        416 => Ok(Bytes::new()),
                        _ => classify(answer, Some(cid), &what),
                    }
                },
            )
            .await
    }

    async fn put_once(&self, block: &Block, body: &(Bytes, String)) -> Result<(), Failure> {
        let base = self.rpc().map_err(Failure::Stop)?;
        let url = endpoint(
            base,
            &format!("/api/v0/block/put?{}", self.put_query(block)?),
        );
        let what = context(&format!("block/put {}", block.cid()), base);
        let transport = &self.inner.transport;
        let request = transport
            .client
            .post(&url)
            .header(CONTENT_TYPE, &body.1)
            .body(body.0.clone());
        let answer = transport
            .exchange(request, self.inner.timeout, &what)
            .await?;
        let reply = classify(answer, None, &what)?;
        // A garbled answer may be a transient fault: worth another try.
        let returned =
            parse_key(&reply).map_err(|e| Failure::Retry(StoreError::backend(&what, e)))?;
        if &returned != block.cid() {
            let mismatch = KuboError::CidMismatch {
                expected: Box::new(*block.cid()),
                returned: Box::new(returned),
            };
            return Err(Failure::Stop(StoreError::backend(what, mismatch)));
        }
        Ok(())
    }

    /// `cid-codec`, `mhtype`, `mhlen` (and `pin`, `allow-big-block`) for a block.
    fn put_query(&self, block: &Block) -> Result<String, Failure> {
        let cid = block.cid();
        let codec =
            codec_name(cid.codec()).ok_or_else(|| unsupported(cid, "codec", cid.codec()))?;
        let hash = HashAlgorithm::from_code(cid.hash().code())
            .ok_or_else(|| unsupported(cid, "multihash", cid.hash().code()))?;
        let mut query = format!("cid-codec={codec}&mhtype={}&mhlen=32", hash.name());
        if self.inner.pin_on_put {
            query.push_str("&pin=true");
        }
        if self.inner.allow_big_blocks && block.data().len() > SOFT_BLOCK_LIMIT {
            query.push_str("&allow-big-block=true");
        }
        Ok(query)
    }
}

/// Where a read goes: a gateway (its index, for its breaker), or the RPC.
#[derive(Clone, Copy)]
enum Source<'a> {
    Gateway(usize, &'a Url),
    Rpc(&'a Url),
}

fn unsupported(cid: &Cid, what: &str, code: u64) -> Failure {
    let message = format!("block {cid}: {what} {code:#x} is not supported by block/put");
    Failure::Stop(StoreError::backend("block/put", KuboError::Config(message)))
}

fn codec_name(code: u64) -> Option<&'static str> {
    match BlockCodec::from_code(code)? {
        BlockCodec::Raw => Some("raw"),
        BlockCodec::DagCbor => Some("dag-cbor"),
        BlockCodec::DagPb => Some("dag-pb"),
        _ => None,
    }
}

/// The `Key` of a `block/put` answer.
fn parse_key(reply: &[u8]) -> Result<Cid, KuboError> {
    let json: serde_json::Value = serde_json::from_slice(reply)
        .map_err(|e| KuboError::BadResponse(format!("not JSON: {e}")))?;
    let key = json
        .get("Key")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| KuboError::BadResponse("no Key in block/put answer".into()))?;
    Cid::try_from(key).map_err(|e| KuboError::BadResponse(format!("Key is not a CID: {e}")))
}

/// The `Size` of a `block/stat` answer (a number, or a string as some
/// daemons send it).
fn parse_size(reply: &[u8]) -> Result<u64, KuboError> {
    let json: serde_json::Value = serde_json::from_slice(reply)
        .map_err(|e| KuboError::BadResponse(format!("not JSON: {e}")))?;
    let size = json
        .get("Size")
        .ok_or_else(|| KuboError::BadResponse("no Size in block/stat answer".into()))?;
    size.as_u64()
        .or_else(|| size.as_str()?.parse().ok())
        .ok_or_else(|| KuboError::BadResponse(format!("Size is not a length: {size}")))
}

/// The HTTP `Range` value for a range, or `None` if the range is surely empty.
fn range_header(range: ByteRange) -> Option<String> {
    match range {
        ByteRange::Full => Some("bytes=0-".into()),
        ByteRange::From(offset) => Some(format!("bytes={offset}-")),
        ByteRange::Slice { length: 0, .. } | ByteRange::Suffix(0) => None,
        ByteRange::Slice { offset, length } => Some(format!(
            "bytes={offset}-{}",
            offset.saturating_add(length - 1)
        )),
        ByteRange::Suffix(n) => Some(format!("bytes=-{n}")),
    }
}

#[async_trait]
impl BlockStore for KuboStore {
    #[tracing::instrument(level = "debug", name = "py_hamt.cas.load", skip(self), fields(cid = %cid))]
    async fn get(&self, cid: &Cid) -> Result<Bytes, StoreError> {
        let len = |data: &Bytes| data.len() as u64;
        self.inner.transport.load(len, || self.get_once(cid)).await
    }

    async fn get_range(&self, cid: &Cid, range: ByteRange) -> Result<Bytes, StoreError> {
        match self.inner.gateways.first() {
            Some(base) if self.inner.unverified_ranges && range != ByteRange::Full => {
                self.get_range_unverified(base, cid, range).await
            }
            _ => {
                let data = self.get(cid).await?;
                Ok(data.slice(range.to_index_range(data.len())))
            }
        }
    }

    async fn block_size(&self, cid: &Cid) -> Result<u64, StoreError> {
        self.inner.transport.retrying(|| self.size_once(cid)).await
    }

    /// A gateway's CAR ([`KuboStore::fetch_dag`]).
    async fn fetch_dag(
        &self,
        root: &Cid,
        scope: DagScope,
        max_bytes: usize,
    ) -> Result<Option<Vec<Block>>, StoreError> {
        KuboStore::fetch_dag(self, root, scope, max_bytes).await
    }

    async fn has(&self, cid: &Cid) -> Result<bool, StoreError> {
        let result = if self.inner.rpc.is_some() {
            // offline: ask about this node's blockstore, not the network.
            let path = format!("block/stat?arg={cid}&offline=true");
            self.rpc_call(&path, Some(cid), self.inner.timeout)
                .await
                .map(drop)
        } else {
            self.block_size(cid).await.map(drop)
        };
        match result {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn put_block(&self, block: Block) -> Result<(), StoreError> {
        self.rpc()?;
        let body = crate::multipart::file_body(block.data());
        self.inner
            .transport
            .retrying(|| self.put_once(&block, &body))
            .await
    }

    async fn put_many(&self, blocks: Vec<Block>) -> Result<(), StoreError> {
        // The semaphore caps requests in flight; this only keeps that many queued.
        stream::iter(blocks.into_iter().map(|block| self.put_block(block)))
            .buffer_unordered(self.inner.concurrency)
            .try_collect()
            .await
    }

    fn hash_algorithm(&self) -> HashAlgorithm {
        self.inner.hash
    }
}

/// [`classify`] for a block read over the RPC: the node giving up its
/// search (the `timeout` sent, "context deadline exceeded") means the
/// block could not be found, which another try would not change.
fn classify_rpc_read(
    answer: crate::transport::Answer,
    cid: &Cid,
    what: &str,
) -> Result<Bytes, Failure> {
    if answer.status.is_server_error()
        && crate::transport::error_message(&answer.body).contains("deadline exceeded")
    {
        return Err(Failure::Stop(StoreError::NotFound(*cid)));
    }
    classify(answer, Some(cid), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers() {
        assert_eq!(
            range_header(ByteRange::Slice {
                offset: 10,
                length: 10
            })
            .unwrap(),
            "bytes=10-19"
        );
        assert_eq!(range_header(ByteRange::Suffix(5)).unwrap(), "bytes=-5");
        assert_eq!(range_header(ByteRange::From(3)).unwrap(), "bytes=3-");
        assert!(
            range_header(ByteRange::Slice {
                offset: 3,
                length: 0
            })
            .is_none()
        );
        assert_eq!(
            range_header(ByteRange::Slice {
                offset: 1,
                length: u64::MAX
            })
            .unwrap(),
            format!("bytes=1-{}", u64::MAX)
        );
    }

    #[test]
    fn put_answers_in_both_shapes_parse() {
        let key = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
        for reply in [
            format!(r#"{{"Key":"{key}","Size":0}}"#),
            format!(r#"{{"Key":"{key}","Size":"0"}}"#),
        ] {
            assert_eq!(parse_key(reply.as_bytes()).unwrap().to_string(), key);
        }
        assert!(parse_key(b"{}").is_err());
        assert!(parse_key(b"<html>").is_err());
    }

    #[test]
    fn stat_answers_in_both_shapes_parse() {
        assert_eq!(parse_size(br#"{"Key":"x","Size":9}"#).unwrap(), 9);
        assert_eq!(parse_size(br#"{"Key":"x","Size":"12"}"#).unwrap(), 12);
        assert!(parse_size(br#"{"Key":"x"}"#).is_err());
        assert!(parse_size(br#"{"Size":-1}"#).is_err());
        assert!(parse_size(b"nope").is_err());
    }
}
