use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hamt_codec::HashAlgorithm;
use reqwest::Client;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Semaphore;

use crate::KuboError;
use crate::breaker::{Breaker, BreakerPolicy};
use crate::config::{Auth, RetryPolicy, Secret, parse_base, redact_url};
use crate::store::{Inner, KuboStore};
use crate::transport::{Transport, origin};

/// Largest answer read by default: Kubo refuses blocks over 1 MiB unless
/// told otherwise, and bitswap stops at 2 MiB, so 4 MiB leaves headroom.
pub const DEFAULT_MAX_BLOCK_SIZE: usize = 4 << 20;

/// Configures a [`KuboStore`]. Everything but one endpoint is optional.
///
/// ```
/// use std::time::Duration;
/// use hamt_kubo::KuboStore;
///
/// let store = KuboStore::builder()
///     .rpc_url("http://127.0.0.1:5001")
///     .gateway("http://127.0.0.1:8080")
///     .bearer_token("s3cret")
///     .retries(5)
///     .timeout(Duration::from_secs(10))
///     .concurrency(16)
///     .pin_on_put(true)
///     .build()?;
/// assert!(!format!("{store:?}").contains("s3cret"));
/// # Ok::<(), hamt_kubo::KuboError>(())
/// ```
#[must_use]
pub struct KuboStoreBuilder {
    rpc_url: Option<String>,
    gateways: Vec<String>,
    headers: Vec<(String, Secret)>,
    auth: Option<Auth>,
    credentials_for: Vec<String>,
    breaker: BreakerPolicy,
    client: Option<Client>,
    retry: RetryPolicy,
    timeout: Duration,
    pin_timeout: Duration,
    rpc_search: RpcSearch,
    concurrency: usize,
    pin_on_put: bool,
    hash: HashAlgorithm,
    unverified_ranges: bool,
    max_block_size: usize,
    allow_big_blocks: bool,
}

impl Default for KuboStoreBuilder {
    fn default() -> Self {
        KuboStoreBuilder {
            rpc_url: None,
            gateways: Vec::new(),
            headers: Vec::new(),
            auth: None,
            credentials_for: Vec::new(),
            breaker: BreakerPolicy::default(),
            client: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_mins(1),
            pin_timeout: Duration::from_mins(10),
            rpc_search: RpcSearch::default(),
            concurrency: 32,
            pin_on_put: false,
            hash: HashAlgorithm::Blake3,
            unverified_ranges: false,
            max_block_size: DEFAULT_MAX_BLOCK_SIZE,
            allow_big_blocks: false,
        }
    }
}

impl fmt::Debug for KuboStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KuboStoreBuilder")
            .field("rpc_url", &self.rpc_url.as_deref().map(redact_url))
            .field(
                "gateways",
                &self
                    .gateways
                    .iter()
                    .map(|g| redact_url(g))
                    .collect::<Vec<_>>(),
            )
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("auth", &self.auth)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl KuboStoreBuilder {
    /// The Kubo RPC API, e.g. `http://127.0.0.1:5001` (a trailing `/api/v0`
    /// is accepted). Without it the store is read-only.
    pub fn rpc_url(mut self, url: impl Into<String>) -> Self {
        self.rpc_url = Some(url.into());
        self
    }

    /// Adds a trustless gateway to read from, e.g. `http://127.0.0.1:8080`.
    /// Gateways are tried in the order added, healthy ones first (see
    /// [`circuit_breaker`](Self::circuit_breaker)). Without any, reads use
    /// the RPC.
    pub fn gateway(mut self, url: impl Into<String>) -> Self {
        self.gateways.push(url.into());
        self
    }

    /// Adds several gateways, in order of preference.
    pub fn gateways<I, U>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = U>,
        U: Into<String>,
    {
        self.gateways.extend(urls.into_iter().map(Into::into));
        self
    }

    /// Sends `Authorization: Bearer <token>` with every request to the RPC
    /// API and the first gateway (see [`credentials_for`](Self::credentials_for)).
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(Auth::Bearer(Secret(token.into())));
        self
    }

    /// Sends HTTP basic auth with every request to the RPC API and the first
    /// gateway (see [`credentials_for`](Self::credentials_for)).
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(Auth::Basic {
            user: user.into(),
            password: Secret(password.into()),
        });
        self
    }

    /// Sends a custom header with every request to the RPC API and the first
    /// gateway (see [`credentials_for`](Self::credentials_for)). Its value
    /// is treated as a secret (hidden from `Debug` and marked sensitive).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), Secret(value.into())));
        self
    }

    /// Also sends the headers and auth set here to `url`'s origin (its
    /// scheme, host and port; the path is ignored).
    ///
    /// Credentials are bound to origins: by default those of the RPC URL and
    /// of the first gateway, so a secret meant for one's own node never
    /// reaches a public fallback gateway. A redirect to another origin
    /// (another host or port, or from https to http) drops every
    /// credential, including one given in a URL's user info.
    ///
    /// ```
    /// use hamt_kubo::KuboStore;
    /// let store = KuboStore::builder()
    ///     .gateway("https://gw1.example.org")
    ///     .gateway("https://gw2.example.org")
    ///     .gateway("https://ipfs.io")
    ///     .bearer_token("s3cret")
    ///     .credentials_for("https://gw2.example.org") // not ipfs.io
    ///     .build()?;
    /// # Ok::<(), hamt_kubo::KuboError>(())
    /// ```
    pub fn credentials_for(mut self, url: impl Into<String>) -> Self {
        self.credentials_for.push(url.into());
        self
    }

    /// When a gateway's circuit breaker opens (default: 3 consecutive failed
    /// requests, then 30 s behind the healthy gateways, as py-hamt's
    /// `KuboCAS`). An open gateway is still tried when no healthy one has
    /// answered; after its cooldown one failure opens it again, one success
    /// closes it.
    pub fn circuit_breaker(mut self, policy: BreakerPolicy) -> Self {
        self.breaker = policy;
        self
    }

    /// Uses a caller-built client (its TLS, proxy and pool settings) instead
    /// of building one. Build it with `redirect(reqwest::redirect::Policy::none())`:
    /// the store follows redirects itself, dropping credentials across
    /// origins; a client that follows them would keep custom headers.
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Retries after a first failed attempt (default 3).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retry.retries = retries;
        self
    }

    /// Delay before the first retry (default 1 s).
    pub fn retry_delay(mut self, first: Duration) -> Self {
        self.retry.first_delay = first;
        self
    }

    /// Factor between successive retry delays (default 2).
    pub fn backoff_factor(mut self, factor: f64) -> Self {
        self.retry.factor = factor;
        self
    }

    /// The whole retry policy at once.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Timeout of one request, from connecting to the last body byte (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Timeout of requests that walk whole DAGs: pins and
    /// [`fetch_dag`](KuboStore::fetch_dag) (default 10 min).
    pub fn pin_timeout(mut self, timeout: Duration) -> Self {
        self.pin_timeout = timeout;
        self
    }

    /// How long a block read over the RPC (`block/get`, `block/stat`) lets
    /// the node search the network for a block it does not hold (default
    /// 20 s, sent as the RPC's `timeout`): past it, the block is
    /// [`NotFound`](hamt_store::StoreError::NotFound), not retried. Kubo
    /// otherwise searches until the request's own timeout, and every retry
    /// searches again: minutes for one missing block.
    pub fn rpc_search_timeout(mut self, timeout: Duration) -> Self {
        self.rpc_search = RpcSearch::Online(timeout);
        self
    }

    /// Block reads over the RPC ask only the node's own blockstore (the
    /// RPC's `offline=true`): a block it does not hold is
    /// [`NotFound`](hamt_store::StoreError::NotFound) at once.
    pub fn rpc_offline_reads(mut self) -> Self {
        self.rpc_search = RpcSearch::Offline;
        self
    }

    /// Most requests in flight at once, reads and writes together (default 32).
    pub fn concurrency(mut self, requests: usize) -> Self {
        self.concurrency = requests;
        self
    }

    /// Pins every block put (`block/put?pin=true`; default off).
    pub fn pin_on_put(mut self, pin: bool) -> Self {
        self.pin_on_put = pin;
        self
    }

    /// The hash new blocks are addressed with (default blake3, as py-hamt).
    pub fn hash_algorithm(mut self, hash: HashAlgorithm) -> Self {
        self.hash = hash;
        self
    }

    /// Lets `get_range` ask a gateway for just the range (HTTP `Range`),
    /// returning bytes that are **not verified** against the CID. Off by default.
    pub fn allow_unverified_ranges(mut self, allow: bool) -> Self {
        self.unverified_ranges = allow;
        self
    }

    /// Largest answer accepted, in bytes (default 4 MiB).
    pub fn max_block_size(mut self, bytes: usize) -> Self {
        self.max_block_size = bytes;
        self
    }

    /// Adds `allow-big-block=true` to puts of blocks over 1 MiB (default off:
    /// Kubo refuses them, as they cannot travel over bitswap).
    pub fn allow_big_blocks(mut self, allow: bool) -> Self {
        self.allow_big_blocks = allow;
        self
    }

    /// Checks the settings and builds the store.
    pub fn build(self) -> Result<KuboStore, KuboError> {
        let rpc = self
            .rpc_url
            .as_deref()
            .map(|u| parse_base(u, "/api/v0"))
            .transpose()?;
        let gateways = self
            .gateways
            .iter()
            .map(|u| parse_base(u, ""))
            .collect::<Result<Vec<_>, _>>()?;
        if rpc.is_none() && gateways.is_empty() {
            return Err(KuboError::Config("neither an RPC URL nor a gateway".into()));
        }
        if self.concurrency == 0 {
            return Err(KuboError::Config("concurrency must be at least 1".into()));
        }
        let credentialed = rpc
            .iter()
            .chain(gateways.first())
            .map(origin)
            .chain(
                self.credentials_for
                    .iter()
                    .map(|u| parse_base(u, "").map(|u| origin(&u)))
                    .collect::<Result<Vec<_>, _>>()?,
            )
            .collect();
        let client = match self.client {
            Some(client) => client,
            None => default_client(self.concurrency)?,
        };
        let transport = Transport {
            client,
            headers: header_map(&self.headers)?,
            auth: self.auth,
            credentialed,
            retry: self.retry,
            permits: Semaphore::new(self.concurrency),
            max_response: self.max_block_size,
        };
        Ok(KuboStore {
            inner: Arc::new(Inner {
                transport,
                rpc,
                breakers: gateways.iter().map(|_| Breaker::default()).collect(),
                breaker: self.breaker,
                gateways,
                timeout: self.timeout,
                pin_timeout: self.pin_timeout,
                rpc_search: self.rpc_search,
                concurrency: self.concurrency,
                pin_on_put: self.pin_on_put,
                hash: self.hash,
                unverified_ranges: self.unverified_ranges,
                allow_big_blocks: self.allow_big_blocks,
            }),
        })
    }
}

fn header_map(headers: &[(String, Secret)]) -> Result<HeaderMap, KuboError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| KuboError::Config(format!("invalid header name {name:?}")))?;
        // The value is not echoed: it may be a credential.
        let mut value = HeaderValue::try_from(value.0.as_str())
            .map_err(|_| KuboError::Config(format!("invalid value for header {name}")))?;
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(map)
}

fn default_client(concurrency: usize) -> Result<Client, KuboError> {
    #[cfg(feature = "rustls")]
    install_ring_provider();
    Client::builder()
        .pool_max_idle_per_host(concurrency)
        // Redirects are followed by the transport, which scopes credentials.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            KuboError::Config(format!("cannot build the HTTP client: {}", e.without_url()))
        })
}

/// reqwest's `rustls-no-provider` needs a process-wide crypto provider;
/// install ring unless the application already chose one.
#[cfg(feature = "rustls")]
fn install_ring_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: some provider is then set.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// How far a block read over the RPC looks for a block the node lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RpcSearch {
    /// The network, for at most this long.
    Online(Duration),
    /// The node's own blockstore only.
    Offline,
}

impl Default for RpcSearch {
    fn default() -> Self {
        RpcSearch::Online(Duration::from_secs(20))
    }
}

impl RpcSearch {
    /// The RPC's query parameters that say so (`&`-prefixed).
    pub(crate) fn query(self) -> String {
        match self {
            RpcSearch::Online(limit) => format!("&timeout={}ms", limit.as_millis().max(1)),
            RpcSearch::Offline => "&offline=true".to_owned(),
        }
    }
}
