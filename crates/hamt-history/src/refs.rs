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

/// Where refs live. Moves and removals are compare-and-swap: two writers
/// that read the same commit cannot both move the ref from it, and a ref
/// is removed only while it still names what its remover read.
pub trait Refs: Send + Sync {
    /// The commit `name` names, if any.
    fn get(&self, name: &RefName) -> Result<Option<Cid>, HistoryError>;

    /// Points `name` at `new` if it names `expected` now (`None`: names
    /// nothing); otherwise changes nothing and returns `Err(current)`.
    fn swap(
        &self,
        name: &RefName,
        expected: Option<&Cid>,
        new: &Cid,
    ) -> Result<Result<(), Option<Cid>>, HistoryError>;

    /// Removes `name` if it names `expected` now; otherwise changes
    /// nothing and returns `Err(current)` (`None`: it names nothing). The
    /// commits it named stay in the block store until a GC finds them
    /// unreachable.
    fn remove(
        &self,
        name: &RefName,
        expected: &Cid,
    ) -> Result<Result<(), Option<Cid>>, HistoryError>;

    /// Every ref, in key order.
    fn list(&self) -> Result<Vec<(RefName, Cid)>, HistoryError>;
}

macro_rules! forward_refs {
    ($ptr:ty) => {
        impl<R: Refs + ?Sized> Refs for $ptr {
            fn get(&self, name: &RefName) -> Result<Option<Cid>, HistoryError> {
                (**self).get(name)
            }
            fn swap(
                &self,
                name: &RefName,
                expected: Option<&Cid>,
                new: &Cid,
            ) -> Result<Result<(), Option<Cid>>, HistoryError> {
                (**self).swap(name, expected, new)
            }
            fn remove(
                &self,
                name: &RefName,
                expected: &Cid,
            ) -> Result<Result<(), Option<Cid>>, HistoryError> {
                (**self).remove(name, expected)
            }
            fn list(&self) -> Result<Vec<(RefName, Cid)>, HistoryError> {
                (**self).list()
            }
        }
    };
}

forward_refs!(&R);
forward_refs!(std::sync::Arc<R>);
forward_refs!(Box<R>);

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
    fn get(&self, name: &RefName) -> Result<Option<Cid>, HistoryError> {
        Ok(self.0.lock().get(name).copied())
    }

    fn swap(
        &self,
        name: &RefName,
        expected: Option<&Cid>,
        new: &Cid,
    ) -> Result<Result<(), Option<Cid>>, HistoryError> {
        let mut refs = self.0.lock();
        let current = refs.get(name).copied();
        if current.as_ref() != expected {
            return Ok(Err(current));
        }
        refs.insert(name.clone(), *new);
        Ok(Ok(()))
    }

    fn remove(
        &self,
        name: &RefName,
        expected: &Cid,
    ) -> Result<Result<(), Option<Cid>>, HistoryError> {
        let mut refs = self.0.lock();
        let current = refs.get(name).copied();
        if current.as_ref() != Some(expected) {
            return Ok(Err(current));
        }
        refs.remove(name);
        Ok(Ok(()))
    }

    fn list(&self) -> Result<Vec<(RefName, Cid)>, HistoryError> {
        let mut refs: Vec<(RefName, Cid)> = self
            .0
            .lock()
            .iter()
            .map(|(name, cid)| (name.clone(), *cid))
            .collect();
        refs.sort_by_key(|(name, _)| name.key());
        Ok(refs)
    }
}

/// Refs as named roots: durable (each move is a synced write), checked
/// (a ref is moved only over a commit whose whole DAG is held), and kept
/// by GC with all they reach.
#[cfg(feature = "rocksdb")]
impl Refs for hamt_rocksdb::RocksDbStore {
    fn get(&self, name: &RefName) -> Result<Option<Cid>, HistoryError> {
        Ok(self.root(&name.key())?)
    }

    fn swap(
        &self,
        name: &RefName,
        expected: Option<&Cid>,
        new: &Cid,
    ) -> Result<Result<(), Option<Cid>>, HistoryError> {
        Ok(self.swap_root(&name.key(), expected, new)?)
    }

    fn remove(
        &self,
        name: &RefName,
        expected: &Cid,
    ) -> Result<Result<(), Option<Cid>>, HistoryError> {
        Ok(self.remove_root_if(&name.key(), expected)?)
    }

    fn list(&self) -> Result<Vec<(RefName, Cid)>, HistoryError> {
        Ok(self
            .roots()?
            .into_iter()
            .filter_map(|(key, cid)| Some((RefName::from_key(&key)?, cid)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compare-and-swap in memory, through each pointer the trait is
    /// forwarded by.
    #[test]
    fn memory_refs_move_only_from_what_they_name() {
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
            assert_eq!(refs.get(&main).unwrap(), None);
            assert_eq!(refs.swap(&main, None, &a).unwrap(), Ok(()));
            assert_eq!(refs.swap(&main, None, &b).unwrap(), Err(Some(a)));
            assert_eq!(refs.swap(&main, Some(&b), &b).unwrap(), Err(Some(a)));
            assert_eq!(refs.swap(&main, Some(&a), &b).unwrap(), Ok(()));
            let tag = RefName::tag("v1").unwrap();
            refs.swap(&tag, None, &a).unwrap().unwrap();
            assert_eq!(refs.list().unwrap(), [(main.clone(), b), (tag.clone(), a)]);
            assert_eq!(refs.remove(&tag, &b).unwrap(), Err(Some(a)));
            assert_eq!(refs.remove(&tag, &a).unwrap(), Ok(()));
            assert_eq!(refs.remove(&tag, &a).unwrap(), Err(None));
            assert_eq!(refs.list().unwrap(), [(main.clone(), b)]);
            assert_eq!(format!("{main}"), "refs/heads/main");
            assert_eq!(main.name(), "main");
        }
        let by_ref = &refs;
        assert_eq!(Refs::get(&by_ref, &main).unwrap(), Some(b));
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
