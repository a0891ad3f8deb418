//! The IPFS node the Kubo tests run against: the one named by
//! `IPFS_API_URL` (and `IPFS_GATEWAY_URL`) when set, so the same tests run
//! against a real Kubo; otherwise the offline test node from
//! `../shared/ipfs-node`, started here and stopped after the tests.

use std::path::PathBuf;
use std::process::Command;

use crate::steps::root;

pub(crate) struct IpfsNode {
    api_url: String,
    gateway_url: String,
    /// The repo of a node we started (to stop it), if we started one.
    started_repo: Option<String>,
    script: PathBuf,
}

fn start_script() -> PathBuf {
    std::env::var_os("HAMT_IPFS_NODE_SCRIPT").map_or_else(
        || root().join("../shared/ipfs-node/start-ipfs-node.sh"),
        PathBuf::from,
    )
}

impl IpfsNode {
    pub(crate) fn from_env_or_start() -> Result<Self, String> {
        let script = start_script();
        if let Ok(api_url) = std::env::var("IPFS_API_URL") {
            let gateway_url = std::env::var("IPFS_GATEWAY_URL").unwrap_or_default();
            println!("\n==> ipfs: using the daemon at {api_url} (gateway {gateway_url:?})");
            return Ok(IpfsNode {
                api_url,
                gateway_url,
                started_repo: None,
                script,
            });
        }
        println!("\n==> ipfs: starting the test node ({})", script.display());
        let out = Command::new("bash")
            .arg(&script)
            .args(["--api-port", "0", "--gw-port", "0"])
            .output()
            .map_err(|e| format!("ipfs test node: could not run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "ipfs test node did not start (set IPFS_API_URL to use a running Kubo):\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let var = |name: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(str::to_owned)
                .ok_or_else(|| format!("ipfs test node printed no {name}:\n{stdout}"))
        };
        let node = IpfsNode {
            api_url: var("IPFS_API_URL")?,
            gateway_url: var("IPFS_GATEWAY_URL")?,
            started_repo: Some(var("IPFS_PATH")?),
            script,
        };
        println!(
            "==> ipfs: RPC {} gateway {}",
            node.api_url, node.gateway_url
        );
        Ok(node)
    }

    /// Points a test command at this node, and makes the Kubo tests fail
    /// (not skip) if they cannot reach it.
    pub(crate) fn export_to(&self, cmd: &mut Command) {
        cmd.env("IPFS_API_URL", &self.api_url)
            .env("IPFS_GATEWAY_URL", &self.gateway_url)
            .env("HAMT_REQUIRE_IPFS", "1");
    }

    pub(crate) fn stop(self) {
        if let Some(repo) = &self.started_repo {
            let _ = Command::new("bash")
                .arg(&self.script)
                .args(["stop", "--repo", repo])
                .status();
        }
    }
}
