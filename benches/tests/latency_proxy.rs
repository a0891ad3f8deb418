//! The latency proxy: one delay per request (not per packet), faults when
//! asked, loopback only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hamt_benches::latency_proxy::{LatencyProxy, ProxySettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An HTTP/1.1 server answering every request `ok`, keeping connections.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0; 1024];
                loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Sends one request on `stream` (in two writes, as a slow client might)
/// and reads the answer's head and body.
async fn ask(stream: &mut TcpStream) -> String {
    stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    stream.write_all(b"Host: x\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0; 1024];
    while !got.ends_with(b"ok") && !got.ends_with(b"proxy") {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn addr(proxy: &LatencyProxy) -> String {
    proxy.url.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn each_request_waits_the_delay_once() {
    let delay = Duration::from_millis(40);
    let settings = ProxySettings {
        delay,
        ..ProxySettings::default()
    };
    let proxy = LatencyProxy::start(upstream().await, settings)
        .await
        .unwrap();
    let mut stream = TcpStream::connect(addr(&proxy)).await.unwrap();
    for _ in 0..3 {
        let start = Instant::now();
        let answer = ask(&mut stream).await;
        let took = start.elapsed();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(took >= delay, "{took:?}");
        assert!(took < delay * 2, "one delay, not one per write: {took:?}");
    }
    assert_eq!(proxy.requests(), 3);
}

#[tokio::test]
async fn injected_errors_and_drops() {
    let always_503 = ProxySettings {
        delay: Duration::ZERO,
        error_per_million: 1_000_000,
        ..ProxySettings::default()
    };
    let proxy = LatencyProxy::start(upstream().await, always_503)
        .await
        .unwrap();
    let mut stream = TcpStream::connect(addr(&proxy)).await.unwrap();
    let answer = ask(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");

    let always_dropped = ProxySettings {
        delay: Duration::ZERO,
        drop_per_million: 1_000_000,
        ..ProxySettings::default()
    };
    let proxy = LatencyProxy::start(upstream().await, always_dropped)
        .await
        .unwrap();
    let mut stream = TcpStream::connect(addr(&proxy)).await.unwrap();
    let answer = ask(&mut stream).await;
    assert!(answer.is_empty(), "{answer}");
    assert_eq!(
        proxy
            .stats
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn only_loopback_upstreams() {
    let remote: SocketAddr = "192.0.2.1:80".parse().unwrap();
    assert!(
        LatencyProxy::start(remote, ProxySettings::default())
            .await
            .is_err()
    );
}
