//! A loopback proxy that puts a distance between a client and a server: each
//! request waits a configurable delay (plus optional jitter) before it is
//! forwarded, and a share of requests can be dropped or answered `503`.
//! In front of the IPFS test node's gateway it stands in for a gateway far
//! away, for the remote-read benchmark (W6) and tests.
//!
//! It works on TCP, not HTTP: a *request* is the first bytes a client sends
//! after the server last answered on that connection (HTTP/1.1 without
//! pipelining, as reqwest and aiohttp/httpx speak it, takes turns so), so one
//! request costs one delay however its bytes arrive. It listens on 127.0.0.1
//! only, forwards only to the one upstream it was given, and holds at most
//! [`ProxySettings::max_connections`] connections (more wait to be accepted).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// How the proxy delays and disturbs requests.
#[derive(Clone, Copy, Debug)]
pub struct ProxySettings {
    /// Added before each request is forwarded (default 50 ms: a distant gateway).
    pub delay: Duration,
    /// Up to this much more, uniformly drawn per request (default none).
    pub jitter: Duration,
    /// Share of requests whose connection is closed unanswered, per million.
    pub drop_per_million: u32,
    /// Share of requests answered `503 Service Unavailable`, per million.
    pub error_per_million: u32,
    /// Connections held at once (default 256).
    pub max_connections: usize,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            delay: Duration::from_millis(50),
            jitter: Duration::ZERO,
            drop_per_million: 0,
            error_per_million: 0,
            max_connections: 256,
        }
    }
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests seen (forwarded, dropped or answered 503).
    pub requests: AtomicU64,
    /// Requests dropped.
    pub dropped: AtomicU64,
    /// Requests answered 503.
    pub errors: AtomicU64,
    /// Bytes from the upstream to clients.
    pub bytes_down: AtomicU64,
}

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct LatencyProxy {
    /// `http://127.0.0.1:PORT`, to use in place of the upstream's URL.
    pub url: String,
    /// Counters, live.
    pub stats: Arc<ProxyStats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LatencyProxy {
    /// Starts a proxy on a free loopback port in front of `upstream`, which
    /// must be a loopback address too.
    ///
    /// # Errors
    /// If `upstream` is not on loopback, or no port can be bound.
    pub async fn start(upstream: SocketAddr, settings: ProxySettings) -> std::io::Result<Self> {
        if !upstream.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the latency proxy forwards to loopback addresses only",
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let stats = Arc::new(ProxyStats::default());
        let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
        let shared = stats.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let stats = shared.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let _ = relay(client, upstream, settings, &stats).await;
                });
            }
        });
        Ok(LatencyProxy { url, stats, task })
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::Relaxed)
    }
}

/// A random number below `bound` (0 if `bound` is 0).
fn below(bound: u64) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    if bound == 0 {
        return 0;
    }
    RandomState::new().hash_one(std::time::Instant::now()) % bound
}

/// Copies one connection both ways, delaying each request.
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    settings: ProxySettings,
    stats: &ProxyStats,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.into_split();
    // Set when the server has answered since the client last sent: the
    // client's next bytes begin a new request.
    let answered = AtomicBool::new(true);
    let up = async {
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = client_read.read(&mut buf).await?;
            if n == 0 {
                return server_write.shutdown().await;
            }
            if answered.swap(false, Ordering::AcqRel) {
                stats.requests.fetch_add(1, Ordering::Relaxed);
                let jitter = below(u64::try_from(settings.jitter.as_micros()).unwrap_or(0));
                tokio::time::sleep(settings.delay + Duration::from_micros(jitter)).await;
                let roll = below(1_000_000);
                let drop_below = u64::from(settings.drop_per_million);
                if roll < drop_below {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    return Err(std::io::ErrorKind::ConnectionAborted.into());
                }
                if roll < drop_below + u64::from(settings.error_per_million) {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
            }
            server_write.write_all(&buf[..n]).await?;
        }
    };
    let down = async {
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = server_read.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            answered.store(true, Ordering::Release);
            stats.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
            client_write.write_all(&buf[..n]).await?;
        }
    };
    // The first side to end ends the connection (an injected fault ends the upstream side).
    let outcome = tokio::select! {
        r = up => r,
        r = down => r,
    };
    if matches!(&outcome, Err(e) if e.kind() == std::io::ErrorKind::Interrupted) {
        let body = "injected by the latency proxy";
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        client_write.write_all(answer.as_bytes()).await?;
    }
    client_write.shutdown().await
}
