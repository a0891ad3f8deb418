//! Branches and tags: names of commits, moved only by compare-and-swap.
//!
//! A ref is kept under `refs/heads/<branch>` or `refs/tags/<tag>` in a
//! [`Refs`] store. On the embedded store ([`RocksDbStore`](hamt_rocksdb::RocksDbStore),
//! feature `rocksdb`) refs are named roots, so its GC keeps every commit a
//! ref reaches, and with it the history's datasets.
//!
//! Branches move forward with each commit. Tags never move, with one
//! exception: [`Repository::expire`](crate::Repository::expire) without
//! `keep_tags` moves a tag to the rewrite of its commit, or removes a tag
//! whose commit it expired. Nothing else moves or removes a tag.

use std::collections::BTreeMap;

use hamt_codec::Cid;
use parking_lot::Mutex;

use crate::HistoryError;

/// A branch or a tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefName {
    /// A branch: moves forward with each commit on it.
    Branch(String),
    /// A tag: names one commit, never moves (except when
    /// [`Repository::expire`](crate::Repository::expire) rewrites or drops
    /// its commit).
    Tag(String),
}

impl RefName {
    /// A branch, if `name` is a valid ref name (see [`RefName::validate`]).
    pub fn branch(name: &str) -> Result<RefName, HistoryError> {
        Self::validate(name)?;
        Ok(RefName::Branch(name.to_owned()))
    }

    /// A tag, if `name` is a valid ref name.
    pub fn tag(name: &str) -> Result<RefName, HistoryError> {
        Self::validate(name)?;
        Ok(RefName::Tag(name.to_owned()))
    }

    /// A ref name is 1–255 bytes of ASCII letters, digits and `._-/`, with
    /// no empty, `.` or `..` path segment: the characters `~`, `@`, `{`
    /// and `}` are the revision syntax's ([`crate::Revision`]).
    pub fn validate(name: &str) -> Result<(), HistoryError> {
        let bad = |why: &str| {
            Err(HistoryError::BadRefName {
                name: name.to_owned(),
                why: why.to_owned(),
            })
        };
        if name.is_empty() || name.len() > 255 {
            return bad("must be 1 to 255 bytes");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
        {
            return bad("only ASCII letters, digits and ._-/ are allowed");
        }
        if name
            .split('/')
            .any(|segment| matches!(segment, "" | "." | ".."))
        {
            return bad("no empty, . or .. segment");
        }
        Ok(())
    }

    /// The key the ref is stored under.
    pub fn key(&self) -> String {
        match self {
            RefName::Branch(name) => format!("refs/heads/{name}"),
            RefName::Tag(name) => format!("refs/tags/{name}"),
        }
    }

    /// The ref stored under `key`, if it is one.
    pub fn from_key(key: &str) -> Option<RefName> {
        if let Some(name) = key.strip_prefix("refs/heads/") {
            return Self::branch(name).ok();
        }
        key.strip_prefix("refs/tags/")
            .and_then(|name| Self::tag(name).ok())
    }

    /// The name without its kind.
    pub fn name(&self) -> &str {
        match self {
            RefName::Branch(name) | RefName::Tag(name) => name,
        }
    }
}

impl std::fmt::Display for RefName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// A ref store's answer: a boxed future, so [`Refs`] stays usable as
/// `dyn Refs` (a ref operation is rare next to the blocks it names).
pub type RefsFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, HistoryError>> + Send + 'a>>;

/// The outcome of a compare-and-swap: `Err(current)` when the ref named
/// something else (`None`: nothing), and nothing changed.
pub type Swapped = Result<(), Option<Cid>>;

/// Where refs live. Moves and removals are compare-and-swap: two writers
/// that read the same commit cannot both move the ref from it, and a ref
/// is removed only while it still names what its remover read.
pub trait Refs: Send + Sync {
    /// The commit `name` names, if any.
    fn get<'a>(&'a self, name: &'a RefName) -> RefsFuture<'a, Option<Cid>>;

    /// Points `name` at `new` if it names `expected` now (`None`: names
    /// nothing); otherwise changes nothing and returns `Err(current)`.
    fn swap<'a>(
        &'a self,
        name: &'a RefName,
        expected: Option<&'a Cid>,
        new: &'a Cid,
    ) -> RefsFuture<'a, Swapped>;

    /// Removes `name` if it names `expected` now; otherwise changes
    /// nothing and returns `Err(current)` (`None`: it names nothing). The
    /// commits it named stay in the block store until a GC finds them
    /// unreachable.
    fn remove<'a>(&'a self, name: &'a RefName, expected: &'a Cid) -> RefsFuture<'a, Swapped>;

    /// Every ref, in key order.
    fn list(&self) -> RefsFuture<'_, Vec<(RefName, Cid)>>;
}

macro_rules! forward_refs {
    ($ptr:ty) => {
        impl<R: Refs + ?Sized> Refs for $ptr {
            fn get<'a>(&'a self, name: &'a RefName) -> RefsFuture<'a, Option<Cid>> {
                (**self).get(name)
            }
            fn swap<'a>(
                &'a self,
                name: &'a RefName,
                expected: Option<&'a Cid>,
                new: &'a Cid,
            ) -> RefsFuture<'a, Swapped> {
                (**self).swap(name, expected, new)
            }
            fn remove<'a>(
                &'a self,
                name: &'a RefName,
                expected: &'a Cid,
            ) -> RefsFuture<'a, Swapped> {
                (**self).remove(name, expected)
            }
            fn list(&self) -> RefsFuture<'_, Vec<(RefName, Cid)>> {
                (**self).list()
            }
        }
    };
}

forward_refs!(&R);
forward_refs!(std::sync::Arc<R>);
forward_refs!(Box<R>);

/// An answer already computed (a store that answers on the calling thread).
fn ready<'a, T: Send + 'a>(answer: Result<T, HistoryError>) -> RefsFuture<'a, T> {
    Box::pin(std::future::ready(answer))
}

/// Refs in memory (tests, and histories that travel only by CAR).
#[derive(Debug, Default)]
pub struct MemoryRefs(Mutex<BTreeMap<RefName, Cid>>);

impl MemoryRefs {
    /// No refs.
    pub fn new() -> Self {
        MemoryRefs::default()
    }
}

impl Refs for MemoryRefs {
    fn get<'a>(&'a self, name: &'a RefName) -> RefsFuture<'a, Option<Cid>> {
        ready(Ok(self.0.lock().get(name).copied()))
    }

    fn swap<'a>(
        &'a self,
        name: &'a RefName,
        expected: Option<&'a Cid>,
        new: &'a Cid,
    ) -> RefsFuture<'a, Swapped> {
        let mut refs = self.0.lock();
        let current = refs.get(name).copied();
        if current.as_ref() != expected {
            return ready(Ok(Err(current)));
        }
        refs.insert(name.clone(), *new);
        ready(Ok(Ok(())))
    }

    fn remove<'a>(&'a self, name: &'a RefName, expected: &'a Cid) -> RefsFuture<'a, Swapped> {
        let mut refs = self.0.lock();
        let current = refs.get(name).copied();
        if current.as_ref() != Some(expected) {
            return ready(Ok(Err(current)));
        }
        refs.remove(name);
        ready(Ok(Ok(())))
    }

    fn list(&self) -> RefsFuture<'_, Vec<(RefName, Cid)>> {
        let mut refs: Vec<(RefName, Cid)> = self
            .0
            .lock()
            .iter()
            .map(|(name, cid)| (name.clone(), *cid))
            .collect();
        refs.sort_by_key(|(name, _)| name.key());
        ready(Ok(refs))
    }
}

/// Refs as named roots: durable (each move is a synced write), checked
/// (a ref is moved only over a commit whose whole DAG is held), and kept
/// by GC with all they reach. Answered on the calling thread (RocksDB's
/// calls block, as the store's own do).
#[cfg(feature = "rocksdb")]
impl Refs for hamt_rocksdb::RocksDbStore {
    fn get<'a>(&'a self, name: &'a RefName) -> RefsFuture<'a, Option<Cid>> {
        ready(self.root(&name.key()).map_err(HistoryError::from))
    }

    fn swap<'a>(
        &'a self,
        name: &'a RefName,
        expected: Option<&'a Cid>,
        new: &'a Cid,
    ) -> RefsFuture<'a, Swapped> {
        ready(
            self.swap_root(&name.key(), expected, new)
                .map_err(HistoryError::from),
        )
    }

    fn remove<'a>(&'a self, name: &'a RefName, expected: &'a Cid) -> RefsFuture<'a, Swapped> {
        ready(
            self.remove_root_if(&name.key(), expected)
                .map_err(HistoryError::from),
        )
    }

    fn list(&self) -> RefsFuture<'_, Vec<(RefName, Cid)>> {
        ready(self.roots().map_err(HistoryError::from).map(|roots| {
            roots
                .into_iter()
                .filter_map(|(key, cid)| Some((RefName::from_key(&key)?, cid)))
                .collect()
        }))
    }
}

/// Refs on an IPFS daemon: MFS files under `/hamt-refs`, each move a
/// compare-and-swap under an MFS lock and each commit pinned recursively,
/// so the daemon's GC keeps every version a ref's history reaches (see
/// `hamt_kubo`'s `refs` module for the lock and its limits: writers through
/// one daemon are serialized, writers through different daemons are not).
#[cfg(feature = "kubo")]
impl Refs for hamt_kubo::KuboStore {
    fn get<'a>(&'a self, name: &'a RefName) -> RefsFuture<'a, Option<Cid>> {
        Box::pin(async move { KuboRefs::pinned(self).get(name).await })
    }

    fn swap<'a>(
        &'a self,
        name: &'a RefName,
        expected: Option<&'a Cid>,
        new: &'a Cid,
    ) -> RefsFuture<'a, Swapped> {
        Box::pin(async move { KuboRefs::pinned(self).swap(name, expected, new).await })
    }

    fn remove<'a>(&'a self, name: &'a RefName, expected: &'a Cid) -> RefsFuture<'a, Swapped> {
        Box::pin(async move { KuboRefs::pinned(self).remove(name, expected).await })
    }

    fn list(&self) -> RefsFuture<'_, Vec<(RefName, Cid)>> {
        Box::pin(async move { KuboRefs::pinned(self).list().await })
    }
}

/// Refs on a daemon ([`KuboStore`](hamt_kubo::KuboStore)'s MFS), choosing
/// whether a commit a ref moves to is pinned recursively (the store itself
/// as [`Refs`] always pins; `pin: false` leaves keeping the blocks to the
/// caller, as the CLI's `--no-pin`).
#[cfg(feature = "kubo")]
#[derive(Debug, Clone)]
pub struct KuboRefs<S> {
    /// The daemon.
    pub store: S,
    /// Whether to pin each commit a ref moves to.
    pub pin: bool,
}

#[cfg(feature = "kubo")]
impl<'s> KuboRefs<&'s hamt_kubo::KuboStore> {
    fn pinned(store: &'s hamt_kubo::KuboStore) -> Self {
        KuboRefs { store, pin: true }
    }
}

#[cfg(feature = "kubo")]
impl<S: std::borrow::Borrow<hamt_kubo::KuboStore> + Send + Sync> Refs for KuboRefs<S> {
    fn get<'a>(&'a self, name: &'a RefName) -> RefsFuture<'a, Option<Cid>> {
        let store = self.store.borrow();
        Box::pin(async move { Ok(store.read_ref(&kubo_path(name)).await?) })
    }

    fn swap<'a>(
        &'a self,
        name: &'a RefName,
        expected: Option<&'a Cid>,
        new: &'a Cid,
    ) -> RefsFuture<'a, Swapped> {
        let (store, pin) = (self.store.borrow(), self.pin);
        Box::pin(async move {
            Ok(store
                .swap_ref(&kubo_path(name), expected, Some(new), pin)
                .await?)
        })
    }

    fn remove<'a>(&'a self, name: &'a RefName, expected: &'a Cid) -> RefsFuture<'a, Swapped> {
        let store = self.store.borrow();
        Box::pin(async move {
            Ok(store
                .swap_ref(&kubo_path(name), Some(expected), None, false)
                .await?)
        })
    }

    fn list(&self) -> RefsFuture<'_, Vec<(RefName, Cid)>> {
        let store = self.store.borrow();
        Box::pin(async move {
            Ok(store
                .list_refs()
                .await?
                .into_iter()
                .filter_map(|(path, cid)| Some((RefName::from_key(&format!("refs/{path}"))?, cid)))
                .collect())
        })
    }
}

/// A ref's path under the daemon's refs directory: `heads/NAME`, `tags/NAME`.
#[cfg(feature = "kubo")]
fn kubo_path(name: &RefName) -> String {
    name.key().trim_start_matches("refs/").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compare-and-swap in memory, through each pointer the trait is
    /// forwarded by.
    #[tokio::test]
    async fn memory_refs_move_only_from_what_they_name() {
        use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};
        let (a, b) = (
            block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b"a"),
            block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b"b"),
        );
        let main = RefName::branch("main").unwrap();
        let refs = MemoryRefs::new();
        let boxed: Box<dyn Refs> = Box::new(MemoryRefs::new());
        let shared = std::sync::Arc::new(MemoryRefs::new());
        for refs in [&refs as &dyn Refs, &*boxed, &shared] {
            assert_eq!(refs.get(&main).await.unwrap(), None);
            assert_eq!(refs.swap(&main, None, &a).await.unwrap(), Ok(()));
            assert_eq!(refs.swap(&main, None, &b).await.unwrap(), Err(Some(a)));
            assert_eq!(refs.swap(&main, Some(&b), &b).await.unwrap(), Err(Some(a)));
            assert_eq!(refs.swap(&main, Some(&a), &b).await.unwrap(), Ok(()));
            let tag = RefName::tag("v1").unwrap();
            refs.swap(&tag, None, &a).await.unwrap().unwrap();
            assert_eq!(
                refs.list().await.unwrap(),
                [(main.clone(), b), (tag.clone(), a)]
            );
            assert_eq!(refs.remove(&tag, &b).await.unwrap(), Err(Some(a)));
            assert_eq!(refs.remove(&tag, &a).await.unwrap(), Ok(()));
            assert_eq!(refs.remove(&tag, &a).await.unwrap(), Err(None));
            assert_eq!(refs.list().await.unwrap(), [(main.clone(), b)]);
            assert_eq!(format!("{main}"), "refs/heads/main");
            assert_eq!(main.name(), "main");
        }
        let by_ref = &refs;
        assert_eq!(Refs::get(&by_ref, &main).await.unwrap(), Some(b));
    }

    #[test]
    fn ref_names_are_checked() {
        for good in ["main", "release/2026-12", "v1.0", "a_b-c"] {
            assert!(RefName::branch(good).is_ok(), "{good}");
        }
        for bad in [
            "", "main~1", "main@{1}", "a//b", "../x", "a/./b", "sp ace", "é",
        ] {
            assert!(
                matches!(RefName::branch(bad), Err(HistoryError::BadRefName { .. })),
                "{bad}"
            );
        }
        let tag = RefName::tag("v1").unwrap();
        assert_eq!(tag.key(), "refs/tags/v1");
        assert_eq!(RefName::from_key("refs/tags/v1"), Some(tag));
        assert_eq!(RefName::from_key("import"), None);
    }
}
