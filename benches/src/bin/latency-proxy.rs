//! `latency-proxy UPSTREAM_URL [--delay-ms 50] [--jitter-ms 0]
//! [--drop-per-million 0] [--error-per-million 0]`: puts a loopback proxy
//! that delays every request in front of a loopback HTTP server (the IPFS
//! test node's gateway), prints `LATENCY_PROXY_URL=http://127.0.0.1:PORT`,
//! and runs until stdin closes or the process is killed. See
//! `hamt_benches::latency_proxy`.

use std::net::SocketAddr;
use std::time::Duration;

use hamt_benches::latency_proxy::{LatencyProxy, ProxySettings};
use tokio::io::AsyncReadExt;

fn usage() -> ! {
    eprintln!(
        "usage: latency-proxy UPSTREAM_URL [--delay-ms N] [--jitter-ms N] \
         [--drop-per-million N] [--error-per-million N]"
    );
    std::process::exit(2)
}

fn upstream(url: &str) -> Option<SocketAddr> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    let authority = authority.replace("localhost", "127.0.0.1");
    authority.parse().ok()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(upstream) = args.first().and_then(|u| upstream(u)) else {
        usage()
    };
    let mut settings = ProxySettings::default();
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let Some(value) = rest.next().and_then(|v| v.parse::<u64>().ok()) else {
            usage()
        };
        let per_million = || u32::try_from(value).unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--delay-ms" => settings.delay = Duration::from_millis(value),
            "--jitter-ms" => settings.jitter = Duration::from_millis(value),
            "--drop-per-million" => settings.drop_per_million = per_million(),
            "--error-per-million" => settings.error_per_million = per_million(),
            _ => usage(),
        }
    }
    let proxy = match LatencyProxy::start(upstream, settings).await {
        Ok(proxy) => proxy,
        Err(e) => {
            eprintln!("latency-proxy: {e}");
            std::process::exit(1)
        }
    };
    println!("LATENCY_PROXY_URL={}", proxy.url);
    // Until stdin closes (or a kill): a parent shell holds it open.
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    eprintln!(
        "latency-proxy: {} requests, {} connections",
        proxy.requests(),
        proxy
            .stats
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    );
}
