//! Test helpers: the daemon from the environment, a fault-injecting proxy
//! and a scripted HTTP server, all plain HTTP/1.1 on loopback, one request
//! per connection (`Connection: close`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]
#![allow(clippy::similar_names, clippy::cast_possible_truncation)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The test daemon's RPC and gateway URLs, from `IPFS_API_URL` and `IPFS_GATEWAY_URL`.
pub struct Daemon {
    pub api: String,
    pub gateway: String,
}

/// The daemon, or `None` (after a loud message) when the variables are
/// unset; with `HAMT_REQUIRE_IPFS=1`, unset variables fail the test.
pub fn daemon() -> Option<Daemon> {
    let api = std::env::var("IPFS_API_URL").ok().filter(|v| !v.is_empty());
    let gateway = std::env::var("IPFS_GATEWAY_URL")
        .ok()
        .filter(|v| !v.is_empty());
    match (api, gateway) {
        (Some(api), Some(gateway)) => Some(Daemon { api, gateway }),
        _ if std::env::var("HAMT_REQUIRE_IPFS").as_deref() == Ok("1") => {
            panic!("HAMT_REQUIRE_IPFS=1 but IPFS_API_URL / IPFS_GATEWAY_URL are not set")
        }
        _ => {
            eprintln!(
                "!!!! SKIPPED: no IPFS daemon (set IPFS_API_URL and IPFS_GATEWAY_URL, see /work/shared/ipfs-node) !!!!"
            );
            None
        }
    }
}

/// A request as received: its head (request line and headers) and body.
#[derive(Clone, Debug)]
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name`, if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.head, name)
    }
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
    pub fn method(&self) -> &str {
        self.line().split(' ').next().unwrap_or("")
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let (head, mut rest) = read_head(stream).await?;
    let len = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    while rest.len() < len {
        let mut buf = vec![0; 64 * 1024];
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        rest.extend_from_slice(&buf[..n]);
    }
    rest.truncate(len);
    Some(Request { head, body: rest })
}

/// Reads up to the blank line; returns the head and the bytes read past it.
async fn read_head(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut data = Vec::new();
    loop {
        if let Some(end) = find(&data, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            return Some((head, data[end + 4..].to_vec()));
        }
        let mut buf = vec![0; 16 * 1024];
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || data.len() > 1 << 20 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    response_with(status, content_type, "", body)
}

/// A response with `extra` header lines (each ending in `\r\n`).
fn response_with(status: u16, content_type: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

// ---------------------------------------------------------------- scripted server

/// Answers requests from a script of `(status, body)`; the last entry repeats.
pub struct Scripted {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Scripted {
    pub async fn start(script: Vec<(u16, Vec<u8>)>) -> Scripted {
        Self::start_with_delay(script, Duration::ZERO).await
    }

    /// Like `start`, but answers only after `delay` (to provoke timeouts).
    pub async fn start_with_delay(script: Vec<(u16, Vec<u8>)>, delay: Duration) -> Scripted {
        Self::serve(script, delay, String::new()).await
    }

    /// Like `start`, with `Retry-After: {value}` on every answer that is not a success.
    pub async fn start_with_retry_after(script: Vec<(u16, Vec<u8>)>, value: &str) -> Scripted {
        Self::serve(script, Duration::ZERO, format!("Retry-After: {value}\r\n")).await
    }

    /// Like `start`, with `headers` (lines ending in `\r\n`, e.g. a
    /// `Location`) on every answer that is not a success.
    pub async fn start_with_failure_headers(
        script: Vec<(u16, Vec<u8>)>,
        headers: &str,
    ) -> Scripted {
        Self::serve(script, Duration::ZERO, headers.to_owned()).await
    }

    async fn serve(
        script: Vec<(u16, Vec<u8>)>,
        delay: Duration,
        failure_headers: String,
    ) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, script) = (seen.clone(), script.clone());
                let failure_headers = failure_headers.clone();
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    seen.lock().unwrap().push(request);
                    let (status, body) = {
                        let mut script = script.lock().unwrap();
                        if script.len() > 1 {
                            script.pop_front().unwrap()
                        } else {
                            script.front().cloned().unwrap()
                        }
                    };
                    tokio::time::sleep(delay).await;
                    let extra = if (200..300).contains(&status) {
                        ""
                    } else {
                        failure_headers.as_str()
                    };
                    let _ = stream
                        .write_all(&response_with(
                            status,
                            "application/octet-stream",
                            extra,
                            &body,
                        ))
                        .await;
                });
            }
        });
        Scripted { url, requests }
    }

    pub fn hits(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

// ---------------------------------------------------------------- fault proxy

/// Shares of requests (in 1/1000) given each fault.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Close the connection without answering.
    pub drop: u32,
    /// Answer 503.
    pub error_5xx: u32,
    /// Answer 429.
    pub too_many: u32,
    /// Forward after 100 ms.
    pub delay: u32,
    /// Hold the connection for 3 s (longer than the client's timeout).
    pub stall: u32,
    /// Forward, then flip one byte of a block read's body.
    pub corrupt: u32,
    /// Forward (the daemon applies a write), then close the connection
    /// without the answer: the client cannot tell it was applied.
    pub lost_answer: u32,
}

/// Counts of faults injected.
#[derive(Debug, Default)]
pub struct Stats {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    pub errors: AtomicU64,
    pub too_many: AtomicU64,
    pub delayed: AtomicU64,
    pub stalled: AtomicU64,
    pub corrupted: AtomicU64,
    pub answers_lost: AtomicU64,
    pub overridden: AtomicU64,
}

/// Corrupt bytes to serve for CIDs, shared by proxies (the conformance
/// suite's `plant_corrupt`).
pub type Overrides = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// A loopback HTTP/1.1 proxy to one upstream, injecting faults.
pub struct Proxy {
    pub url: String,
    pub stats: Arc<Stats>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

struct ProxyState {
    upstream: SocketAddr,
    faults: Faults,
    overrides: Overrides,
    stats: Arc<Stats>,
    requests: Arc<Mutex<Vec<String>>>,
    rng: AtomicU64,
}

impl Proxy {
    pub async fn start(upstream: &str, faults: Faults, overrides: Overrides) -> Proxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stats = Arc::new(Stats::default());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(ProxyState {
            upstream,
            faults,
            overrides,
            stats: stats.clone(),
            requests: requests.clone(),
            rng: AtomicU64::new(0x9e37_79b9_7f4a_7c15),
        });
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(handle(state.clone(), stream));
            }
        });
        Proxy {
            url,
            stats,
            requests,
        }
    }
}

impl ProxyState {
    /// A pseudo-random number in 0..1000 (splitmix64 on a counter).
    fn roll(&self) -> u32 {
        let mut z = self.rng.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % 1000) as u32
    }
}

enum Fault {
    None,
    Drop,
    Error5xx,
    TooMany,
    Delay,
    Stall,
    Corrupt,
    LoseAnswer,
}

fn pick(state: &ProxyState) -> Fault {
    let f = state.faults;
    let mut roll = state.roll();
    for (share, fault) in [
        (f.drop, Fault::Drop),
        (f.error_5xx, Fault::Error5xx),
        (f.too_many, Fault::TooMany),
        (f.delay, Fault::Delay),
        (f.stall, Fault::Stall),
        (f.corrupt, Fault::Corrupt),
        (f.lost_answer, Fault::LoseAnswer),
    ] {
        if roll < share {
            return fault;
        }
        roll -= share;
    }
    Fault::None
}

fn is_block_read(line: &str) -> bool {
    line.starts_with("GET /ipfs/") || line.contains("/api/v0/block/get")
}

async fn handle(state: Arc<ProxyState>, mut client: TcpStream) {
    let Some(request) = read_request(&mut client).await else {
        return;
    };
    state.requests.lock().unwrap().push(request.head.clone());
    let planted = {
        let overrides = state.overrides.lock().unwrap();
        overrides
            .iter()
            .find(|(cid, _)| request.line().contains(cid.as_str()))
            .map(|(_, b)| b.clone())
    };
    if let Some(body) = planted.filter(|_| is_block_read(request.line())) {
        state.stats.overridden.fetch_add(1, Ordering::Relaxed);
        let _ = client
            .write_all(&response(200, "application/vnd.ipld.raw", &body))
            .await;
        return;
    }
    let stats = &state.stats;
    let mut lose_answer = false;
    let corrupt = match pick(&state) {
        Fault::Drop => {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Fault::Error5xx => {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            let _ = client
                .write_all(&response(503, "text/plain", b"injected"))
                .await;
            return;
        }
        Fault::TooMany => {
            stats.too_many.fetch_add(1, Ordering::Relaxed);
            let _ = client
                .write_all(&response(429, "text/plain", b"slow down"))
                .await;
            return;
        }
        Fault::Stall => {
            stats.stalled.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(3)).await;
            return;
        }
        Fault::Delay => {
            stats.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            false
        }
        Fault::Corrupt => is_block_read(request.line()),
        Fault::LoseAnswer => {
            lose_answer = true;
            false
        }
        Fault::None => false,
    };
    let Some(mut answer) = forward(state.upstream, &request).await else {
        return;
    };
    if lose_answer {
        stats.answers_lost.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if corrupt && answer.0 == 200 && !answer.2.is_empty() {
        stats.corrupted.fetch_add(1, Ordering::Relaxed);
        let middle = answer.2.len() / 2;
        answer.2[middle] ^= 0x01;
    }
    stats.forwarded.fetch_add(1, Ordering::Relaxed);
    let (status, content_type, body) = answer;
    let bytes = if request.method() == "HEAD" {
        // A HEAD answer has no body but the upstream's length: `body`
        // holds that many placeholder bytes, cut off here.
        let mut bytes = response(status, &content_type, &body);
        bytes.truncate(find(&bytes, b"\r\n\r\n").unwrap() + 4);
        bytes
    } else {
        response(status, &content_type, &body)
    };
    let _ = client.write_all(&bytes).await;
}

/// Sends `request` upstream with `Connection: close`; returns status, content type and de-chunked body.
async fn forward(upstream: SocketAddr, request: &Request) -> Option<(u16, String, Vec<u8>)> {
    let mut stream = TcpStream::connect(upstream).await.ok()?;
    let mut head = String::new();
    for line in request
        .head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
    {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.write_all(&request.body).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    let end = find(&raw, b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let content_type = header(&head, "content-type")
        .unwrap_or("application/octet-stream")
        .to_owned();
    let mut body = raw[end + 4..].to_vec();
    if request.method() == "HEAD" {
        // Stands for the length the upstream announced (see `handle`).
        let len = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok());
        body = vec![0; len.unwrap_or(0).min(1 << 26)];
    } else if header(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body)?;
    } else if let Some(len) = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    Some((status, content_type, body))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
