//! What the CLI's end-to-end tests share: running the real `hamt` binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What one run of the binary gave.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    pub(crate) fn line(&self) -> String {
        self.stdout.trim().to_owned()
    }
}

/// Runs `hamt --store STORE ARGS…` (ignoring any `HAMT_STORE` of the environment).
pub(crate) fn hamt(store: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("HAMT_STORE")
        .output()
        .expect("run hamt");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A path as the argument it is.
pub(crate) fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A stand-in for the daemon's RPC API on loopback: answers each request
/// whose path starts with one of `routes`' prefixes (`/api/v0/repo/gc`)
/// with that body and 200, anything else with a 500; one request per
/// connection. For what must not run on the shared test daemon (its GC).
pub(crate) struct FakeDaemon {
    pub(crate) url: String,
    /// The request lines received.
    pub(crate) requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeDaemon {
    pub(crate) fn start(routes: Vec<(&'static str, String)>) -> FakeDaemon {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                seen.lock().unwrap().push(line.trim().to_owned());
                let (status, body) = routes
                    .iter()
                    .find(|(prefix, _)| path.starts_with(prefix))
                    .map_or(
                        (500, r#"{"Message":"not faked"}"#.to_owned()),
                        |(_, body)| (200, body.clone()),
                    );
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeDaemon { url, requests }
    }
}

/// Runs `hamt --kubo API ARGS…` (ignoring any `HAMT_STORE` of the environment).
pub(crate) fn hamt_kubo(api: &str, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_hamt"))
        .arg("--kubo")
        .arg(api)
        .args(args)
        .env_remove("HAMT_STORE")
        .output()
        .expect("run hamt");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The IPFS test node's RPC and gateway URLs (`IPFS_API_URL`,
/// `IPFS_GATEWAY_URL`), or `None` after a message (a failure with
/// `HAMT_REQUIRE_IPFS` set).
pub(crate) fn ipfs() -> Option<(String, String)> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    if let (Some(api), Some(gateway)) = (var("IPFS_API_URL"), var("IPFS_GATEWAY_URL")) {
        return Some((api, gateway));
    }
    assert!(
        var("HAMT_REQUIRE_IPFS").is_none(),
        "the IPFS test node is required"
    );
    eprintln!("skipped: no IPFS_API_URL / IPFS_GATEWAY_URL");
    None
}

/// How `cid` is pinned on the daemon at `api`, if it is.
pub(crate) fn pin_of(api: &str, cid: &str) -> Option<hamt_kubo::PinKind> {
    let store = hamt_kubo::KuboStore::builder()
        .rpc_url(api)
        .build()
        .unwrap();
    let cid = hamt_codec::Cid::try_from(cid).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(store.pin_status(&cid))
        .unwrap()
}

/// A string no other test run uses (for data and names on the shared daemon).
pub(crate) fn salt() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}
