//! Choosing the block store from the flags, resolving ROOT arguments, and
//! naming (and, on the daemon, pinning) roots.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use hamt::{Hamt, HamtConfig, HamtError};
use hamt_codec::Cid;
use hamt_history::Refs;
use hamt_kubo::KuboStore;
use hamt_rocksdb::{RocksDbOptions, RocksDbStore};
use hamt_store::{BlockStore, MemoryStore};
use hamt_zarr::{AnyLayout, ShardedConfig};

use crate::cli::StoreArgs;
use crate::error::{CliError, Context, Result, fail};
use crate::output::Output;

/// The HAMT type every command works with: any store behind one pointer.
pub(crate) type DynHamt = Hamt<Arc<dyn BlockStore>>;

/// A dataset of either layout (a HAMT, or py-hamt's sharded store) on any store.
pub(crate) type DynDataset = AnyLayout<Arc<dyn BlockStore>>;

/// A history over whichever store keeps refs (see [`Backend::history`]).
pub(crate) type HistoryRepo = hamt_history::Repository<Arc<dyn BlockStore>, Arc<dyn Refs>>;

/// Whether a command only reads: the embedded store is then opened
/// read-only, so it runs alongside a writer and never creates a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// The selected store.
pub(crate) struct Backend {
    pub(crate) blocks: Arc<dyn BlockStore>,
    /// Set for the embedded store: named roots and GC live there.
    rocks: Option<Arc<RocksDbStore>>,
    /// Set with `--kubo`: whole DAGs can come from a gateway in one CAR.
    pub(crate) kubo: Option<KuboStore>,
    /// Where the blocks are, for messages.
    pub(crate) label: String,
    /// With `--kubo`: pin each new root (not `--no-pin`).
    pin: bool,
    /// The most bytes one value read returns (`--max-value-read`).
    max_value_read: u64,
}

/// What a ROOT argument names, for commands that treat a history apart
/// from a dataset (`car export`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitOrRoot {
    /// A commit: a revision, or a CID or named root whose block is a commit.
    Commit(Cid),
    /// Anything else: a dataset root.
    Root(Cid),
}

/// Tuning of the embedded store the flags can change.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RocksTuning {
    pub(crate) gc_grace: Option<Duration>,
    /// How long a writer waits for another to close the embedded store.
    pub(crate) lock_wait: Duration,
}

impl Backend {
    pub(crate) fn open(args: &StoreArgs, access: Access, tuning: RocksTuning) -> Result<Self> {
        let mut backend = Self::open_store(args, access, tuning)?;
        backend.max_value_read = args.max_value_read;
        Ok(backend)
    }

    fn open_store(args: &StoreArgs, access: Access, tuning: RocksTuning) -> Result<Self> {
        if args.memory {
            return Ok(Backend {
                blocks: Arc::new(MemoryStore::new()),
                rocks: None,
                kubo: None,
                label: "the in-memory store".into(),
                pin: false,
                max_value_read: hamt_unixfs::DEFAULT_MAX_READ,
            });
        }
        if let Some(rpc) = &args.kubo {
            return open_kubo(rpc, &args.gateway, !args.no_pin);
        }
        let dir = match &args.store {
            Some(dir) => dir.clone(),
            None => default_store_dir()?,
        };
        open_rocks(&dir, access, tuning)
    }

    /// The embedded store, or an error saying `what` needs it.
    pub(crate) fn rocks(&self, what: &str) -> Result<&Arc<RocksDbStore>> {
        self.rocks.as_ref().ok_or_else(|| {
            CliError::new(format!(
                "{what} needs the embedded store (named roots live there); drop --kubo/--memory"
            ))
        })
    }

    /// The history of the datasets here: refs are the embedded store's
    /// named roots, or on the daemon MFS files under `/hamt-refs` (see
    /// `hamt_kubo`'s refs). The in-memory store keeps none.
    pub(crate) fn history(&self, what: &str) -> Result<HistoryRepo> {
        let refs: Arc<dyn Refs> = match (&self.rocks, &self.kubo) {
            (Some(rocks), _) => Arc::clone(rocks) as Arc<dyn Refs>,
            (None, Some(kubo)) => Arc::new(hamt_history::KuboRefs {
                store: kubo.clone(),
                pin: self.pin,
            }),
            (None, None) => fail!(
                "{what} needs a store that keeps branches and tags: the embedded store or --kubo (not --memory)"
            ),
        };
        Ok(hamt_history::Repository::new(
            Arc::clone(&self.blocks),
            refs,
        ))
    }

    /// Whether branches and tags live here (see [`history`](Self::history)).
    pub(crate) fn keeps_refs(&self) -> bool {
        self.rocks.is_some() || self.kubo.is_some()
    }

    /// Whether roots can be named here: in the embedded store, or on the
    /// daemon (not in the in-memory store).
    pub(crate) fn can_name(&self) -> bool {
        self.rocks.is_some() || self.kubo.is_some()
    }

    /// Fails early, before any work, if `--name NAME` cannot be recorded:
    /// the in-memory store keeps no names, and a name on the daemon must be
    /// a valid MFS file name.
    pub(crate) fn check_name(&self, name: Option<&str>) -> Result<()> {
        let Some(name) = name else { return Ok(()) };
        if name.starts_with(hamt_rocksdb::SWAP_ONLY_PREFIX) {
            fail!(
                "--name {name:?}: names under {} are branches and tags, moved only by compare-and-swap (hamt commit, tag, branch)",
                hamt_rocksdb::SWAP_ONLY_PREFIX
            );
        }
        if !self.can_name() {
            fail!(
                "--name needs a store that keeps names (the embedded store or --kubo); drop --memory"
            );
        }
        if self.kubo.is_some() {
            hamt_kubo::check_name(name).map_err(|e| CliError::new(format!("--name: {e}")))?;
        }
        Ok(())
    }

    /// A ROOT argument: a CID, else the name of a root recorded in the
    /// embedded store or on the daemon.
    pub(crate) async fn resolve_root(&self, root: &str) -> Result<Cid> {
        if let Ok(cid) = Cid::try_from(root) {
            // A commit's CID stands for its dataset.
            if self.keeps_refs() && cid.codec() == hamt_codec::BlockCodec::DagCbor.code() {
                let repo = self.history("a commit")?;
                if let Ok(commit) = repo.read_commit(&cid).await {
                    return Ok(commit.root);
                }
            }
            return Ok(cid);
        }
        let found = if let Some(rocks) = &self.rocks {
            rocks.root(root).context(|| format!("read root {root:?}"))?
        } else if let Some(kubo) = &self.kubo {
            // A name with a `/` cannot be a name file: perhaps a branch.
            if hamt_kubo::check_name(root).is_err() {
                None
            } else {
                kubo.named_root(root)
                    .await
                    .context(|| format!("read the name {root:?} on {}", self.label))?
            }
        } else {
            fail!("{root:?} is not a CID (the in-memory store keeps no names)");
        };
        match found {
            Some(cid) => Ok(cid),
            // A revision of a history: its commit's dataset root.
            None if self.keeps_refs() && root.parse::<hamt_history::Revision>().is_ok() => {
                let repo = self.history("a revision")?;
                let commit = match repo.resolve(root).await {
                    Ok(commit) => commit,
                    Err(hamt_history::HistoryError::UnknownRevision(_)) => fail!(
                        "{root:?} is neither a CID nor a named root (nor a branch or tag) in {} (see `hamt roots`)",
                        self.label
                    ),
                    Err(e) => fail!("resolve {root:?}: {e}"),
                };
                let commit = repo
                    .read_commit(&commit)
                    .await
                    .context(|| format!("read commit {commit}"))?;
                Ok(commit.root)
            }
            None => fail!(
                "{root:?} is neither a CID nor a named root in {} (see `hamt roots`)",
                self.label
            ),
        }
    }

    /// A ROOT argument as `car export` takes it: a revision (a branch or
    /// tag, with ~N or @{TIME}) names its commit rather than the commit's
    /// dataset, and a CID or named root whose block is a commit names that
    /// commit; anything else is a dataset root, resolved as
    /// [`resolve_root`](Self::resolve_root) resolves it (with its errors).
    pub(crate) async fn resolve_commit_or_root(&self, root: &str) -> Result<CommitOrRoot> {
        let named = if let Ok(cid) = Cid::try_from(root) {
            Some(cid)
        } else if let Some(rocks) = &self.rocks {
            rocks.root(root).context(|| format!("read root {root:?}"))?
        } else if let Some(kubo) = &self.kubo
            && hamt_kubo::check_name(root).is_ok()
        {
            kubo.named_root(root)
                .await
                .context(|| format!("read the name {root:?} on {}", self.label))?
        } else {
            None
        };
        if let Some(cid) = named {
            return Ok(if self.is_commit(&cid).await {
                CommitOrRoot::Commit(cid)
            } else {
                CommitOrRoot::Root(cid)
            });
        }
        if self.keeps_refs() && root.parse::<hamt_history::Revision>().is_ok() {
            let repo = self.history("a revision")?;
            if let Ok(commit) = repo.resolve(root).await {
                return Ok(CommitOrRoot::Commit(commit));
            }
        }
        // Not a revision either: resolve_root says why, as everywhere else.
        self.resolve_root(root).await.map(CommitOrRoot::Root)
    }

    /// Whether block `cid` is here and is a commit (`hamt_history::Commit`).
    pub(crate) async fn is_commit(&self, cid: &Cid) -> bool {
        if cid.codec() != hamt_codec::BlockCodec::DagCbor.code() {
            return false;
        }
        match self.blocks.get(cid).await {
            Ok(bytes) => hamt_history::Commit::decode(cid, &bytes).is_ok(),
            Err(_) => false,
        }
    }

    /// Whether a root this command commits is pinned recursively (on the
    /// daemon, without --no-pin): the daemon then needs every block it
    /// reaches, and looks for those it lacks on the network.
    pub(crate) fn pins_roots(&self) -> bool {
        self.kubo.is_some() && self.pin
    }

    /// Opens the dataset at a ROOT argument, whichever layout it is.
    pub(crate) async fn open_dataset(&self, root: &str) -> Result<DynDataset> {
        let cid = self.resolve_root(root).await?;
        self.open_cid(cid).await
    }

    /// Opens the dataset at `cid` (a ROOT argument already resolved, so a
    /// name moved meanwhile cannot give two roots), whichever layout it is.
    pub(crate) async fn open_cid(&self, cid: Cid) -> Result<DynDataset> {
        AnyLayout::open(
            self.blocks.clone(),
            cid,
            self.hamt_config(),
            ShardedConfig {
                max_value_read: self.max_value_read,
                ..ShardedConfig::default()
            },
        )
        .await
        .context(|| format!("open root {cid} in {}", self.label))
    }

    /// The HAMT settings every command reads and writes with.
    pub(crate) fn hamt_config(&self) -> HamtConfig {
        HamtConfig::default().with_max_value_read(self.max_value_read)
    }

    /// Every key of a dataset with the link of its value (a HAMT's in its
    /// order, a sharded store's metadata then chunks in index order).
    pub(crate) async fn links(
        &self,
        dataset: &DynDataset,
        root: &str,
    ) -> Result<Vec<(String, Cid)>> {
        let links = match dataset {
            AnyLayout::Hamt(map) => map
                .links()
                .try_collect()
                .await
                .map_err(|e: HamtError| e.to_string()),
            AnyLayout::Sharded(map) => map.links().await.map_err(|e| e.to_string()),
        };
        links.context(|| format!("list the keys of {root}"))
    }

    /// Makes everything written so far durable, and names `root` if asked.
    /// The embedded store syncs its log before it writes a name, so a named
    /// root never outlives its blocks. On the daemon, `root` is pinned
    /// recursively first (unless `--no-pin`), then named; a name moved off
    /// another root unpins that root if no other name points at it (a
    /// failure there is only a warning: the command did what it was asked).
    pub(crate) async fn commit_root(
        &self,
        out: Output,
        root: &Cid,
        name: Option<&str>,
    ) -> Result<()> {
        if let Some(rocks) = &self.rocks {
            return match name {
                Some(name) => rocks
                    .set_root(name, root)
                    .context(|| format!("name root {root} {name:?}")),
                None => rocks.sync().context(|| "sync the store".into()),
            };
        }
        let Some(kubo) = &self.kubo else {
            return self.check_name(name);
        };
        let Some(name) = name else {
            if self.pin {
                kubo.pin_add(root)
                    .await
                    .context(|| format!("pin root {root} on {}", self.label))?;
                out.note(|| format!("pinned {root} (recursively)"));
            }
            return Ok(());
        };
        let previous = kubo
            .name_root(name, root, self.pin)
            .await
            .context(|| format!("name root {root} {name:?} on {}", self.label))?;
        out.note(|| {
            let pinned = if self.pin { "pinned and " } else { "" };
            format!(
                "{pinned}named {root} {name:?} ({}/{name} in the daemon's MFS)",
                hamt_kubo::ROOTS_DIR
            )
        });
        let Some(old) = previous.filter(|old| old != root && self.pin) else {
            return Ok(());
        };
        match kubo.release_root(&old).await {
            Ok(true) => out.note(|| format!("unpinned {old}, which no name points at any more")),
            Ok(false) => {}
            Err(e) => crate::output::warn(&format!(
                "{name:?} moved, but its previous root {old} could not be unpinned: {e}"
            )),
        }
        Ok(())
    }
}

fn open_kubo(rpc: &str, gateways: &[String], pin: bool) -> Result<Backend> {
    let mut builder = KuboStore::builder().rpc_url(rpc);
    for gateway in gateways {
        builder = builder.gateway(gateway.clone());
    }
    // A URL may hold credentials: messages show it without them.
    let shown = hamt_kubo::redact_url(rpc);
    let store = builder
        .build()
        .context(|| format!("connect to the IPFS daemon at {shown}"))?;
    Ok(Backend {
        blocks: Arc::new(store.clone()),
        rocks: None,
        kubo: Some(store),
        label: format!("the IPFS daemon at {shown}"),
        pin,
        max_value_read: hamt_unixfs::DEFAULT_MAX_READ,
    })
}

fn open_rocks(dir: &Path, access: Access, tuning: RocksTuning) -> Result<Backend> {
    let label = format!("the store {}", dir.display());
    if access == Access::Read && !dir.exists() {
        fail!(
            "no store at {} (import something first, or pass --store DIR)",
            dir.display()
        );
    }
    let mut options = match access {
        Access::Read => RocksDbOptions::read_only(),
        Access::Write => RocksDbOptions::default(),
    };
    if let Some(grace) = tuning.gc_grace {
        options.gc_grace = grace;
    }
    options.lock_wait = tuning.lock_wait;
    let store = Arc::new(RocksDbStore::open(dir, &options).context(|| format!("open {label}"))?);
    Ok(Backend {
        blocks: store.clone(),
        rocks: Some(store),
        kubo: None,
        label,
        pin: false,
        max_value_read: hamt_unixfs::DEFAULT_MAX_READ,
    })
}

/// `$HAMT_STORE`, else `$XDG_DATA_HOME/hamt`, else `~/.local/share/hamt`.
fn default_store_dir() -> Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("HAMT_STORE") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(data) = var("XDG_DATA_HOME") {
        return Ok(PathBuf::from(data).join("hamt"));
    }
    match var("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/hamt")),
        None => fail!("no store directory: set HAMT_STORE or pass --store DIR"),
    }
}
