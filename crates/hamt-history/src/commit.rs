//! The commit block: one small DAG-CBOR map naming a dataset root and the
//! commits it follows.
//!
//! **Schema** (`hamt-commit/1`), a DAG-CBOR map with exactly these keys:
//!
//! | key | type | meaning |
//! | --- | --- | --- |
//! | `type` | string | always `"hamt-commit/1"` |
//! | `root` | link | the dataset root (a HAMT root or a sharded manifest) |
//! | `parents` | list of links, 0–2 | the commits this one follows (two: a merge) |
//! | `time` | unsigned integer | milliseconds since the Unix epoch, UTC |
//! | `author` | string | who committed |
//! | `message` | string | why |
//! | `meta` | map of string to string | free-form metadata (may be empty) |
//!
//! DAG-CBOR orders map keys canonically, so one commit has one encoding and
//! one CID. A block that is not exactly this (another key, a missing one, a
//! wrong type, more than two parents, over [`MAX_COMMIT_BYTES`]) is refused
//! with [`HistoryError::MalformedCommit`].
//!
//! **Meta keys this crate writes.** `meta` is the writer's; one key has a
//! meaning here: `expired-before` ([`EXPIRED_BEFORE`](crate::EXPIRED_BEFORE)),
//! the cutoff, in milliseconds since the Unix epoch as a decimal string,
//! set by [`Repository::expire`](crate::Repository::expire) on a rewritten
//! commit that lost parents to it: history made before that time was
//! dropped below this commit. Writers should leave that key to it.

use std::collections::BTreeMap;

use hamt_codec::Cid;
use ipld_core::ipld::Ipld;

use crate::HistoryError;

/// The `type` every commit block carries.
pub const COMMIT_TYPE: &str = "hamt-commit/1";

/// The largest commit block read (message and metadata included): a bound
/// on what a hostile history can make a reader decode.
pub const MAX_COMMIT_BYTES: usize = 1 << 20;

/// Most parents a commit has: one, or two for a merge.
pub const MAX_PARENTS: usize = 2;

/// A commit: a dataset root, the commits it follows, when, by whom, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The dataset root.
    pub root: Cid,
    /// The commits this one follows: none for the first, two for a merge.
    pub parents: Vec<Cid>,
    /// Milliseconds since the Unix epoch, UTC.
    pub time_ms: u64,
    /// Who committed.
    pub author: String,
    /// Why.
    pub message: String,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
}

impl Commit {
    /// The commit's DAG-CBOR bytes.
    ///
    /// # Errors
    /// [`HistoryError::MalformedCommit`] for more than [`MAX_PARENTS`]
    /// parents or an encoding over [`MAX_COMMIT_BYTES`] (what a reader
    /// would refuse is never written).
    pub fn encode(&self) -> Result<Vec<u8>, HistoryError> {
        let malformed = |why: String| HistoryError::MalformedCommit { cid: None, why };
        if self.parents.len() > MAX_PARENTS {
            return Err(malformed(format!(
                "{} parents, at most {MAX_PARENTS}",
                self.parents.len()
            )));
        }
        let map: BTreeMap<String, Ipld> = [
            ("type", Ipld::String(COMMIT_TYPE.into())),
            ("root", Ipld::Link(self.root)),
            (
                "parents",
                Ipld::List(self.parents.iter().copied().map(Ipld::Link).collect()),
            ),
            ("time", Ipld::Integer(i128::from(self.time_ms))),
            ("author", Ipld::String(self.author.clone())),
            ("message", Ipld::String(self.message.clone())),
            (
                "meta",
                Ipld::Map(
                    self.meta
                        .iter()
                        .map(|(k, v)| (k.clone(), Ipld::String(v.clone())))
                        .collect(),
                ),
            ),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        let bytes = serde_ipld_dagcbor::to_vec(&Ipld::Map(map))
            .map_err(|e| malformed(format!("cannot encode: {e}")))?;
        if bytes.len() > MAX_COMMIT_BYTES {
            return Err(malformed(format!(
                "{} bytes, at most {MAX_COMMIT_BYTES}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Reads a commit block (of CID `cid`, for errors).
    ///
    /// # Errors
    /// [`HistoryError::MalformedCommit`] for anything but the schema.
    pub fn decode(cid: &Cid, bytes: &[u8]) -> Result<Commit, HistoryError> {
        let malformed = |why: String| HistoryError::MalformedCommit {
            cid: Some(*cid),
            why,
        };
        if bytes.len() > MAX_COMMIT_BYTES {
            return Err(malformed(format!(
                "{} bytes, at most {MAX_COMMIT_BYTES}",
                bytes.len()
            )));
        }
        let Ipld::Map(mut map) = serde_ipld_dagcbor::from_slice::<Ipld>(bytes)
            .map_err(|e| malformed(format!("not DAG-CBOR: {e}")))?
        else {
            return Err(malformed("not a map".into()));
        };
        let mut take = |key: &str| {
            map.remove(key)
                .ok_or_else(|| malformed(format!("no {key:?}")))
        };
        let string = |key: &str, value: Ipld| match value {
            Ipld::String(s) => Ok(s),
            other => Err(malformed(format!("{key:?} is {other:?}, not a string"))),
        };
        let kind = string("type", take("type")?)?;
        if kind != COMMIT_TYPE {
            return Err(malformed(format!("type {kind:?}, not {COMMIT_TYPE:?}")));
        }
        let Ipld::Link(root) = take("root")? else {
            return Err(malformed("\"root\" is not a link".into()));
        };
        let Ipld::List(parent_list) = take("parents")? else {
            return Err(malformed("\"parents\" is not a list".into()));
        };
        if parent_list.len() > MAX_PARENTS {
            return Err(malformed(format!(
                "{} parents, at most {MAX_PARENTS}",
                parent_list.len()
            )));
        }
        let parents = parent_list
            .into_iter()
            .map(|parent| match parent {
                Ipld::Link(cid) => Ok(cid),
                other => Err(malformed(format!("a parent is {other:?}, not a link"))),
            })
            .collect::<Result<Vec<Cid>, _>>()?;
        let time_ms = match take("time")? {
            Ipld::Integer(ms) => u64::try_from(ms)
                .map_err(|_| malformed(format!("time {ms} is not a u64 of milliseconds")))?,
            other => return Err(malformed(format!("\"time\" is {other:?}, not an integer"))),
        };
        let author = string("author", take("author")?)?;
        let message = string("message", take("message")?)?;
        let Ipld::Map(meta_map) = take("meta")? else {
            return Err(malformed("\"meta\" is not a map".into()));
        };
        let meta = meta_map
            .into_iter()
            .map(|(key, value)| Ok((key.clone(), string(&key, value)?)))
            .collect::<Result<BTreeMap<_, _>, HistoryError>>()?;
        if let Some(key) = map.keys().next() {
            return Err(malformed(format!("unknown key {key:?}")));
        }
        let commit = Commit {
            root,
            parents,
            time_ms,
            author,
            message,
            meta,
        };
        // One commit, one encoding (so one CID): keys out of canonical
        // order, or integers not in their shortest form, are another block.
        if commit.encode()? != bytes {
            return Err(malformed("not in canonical DAG-CBOR form".into()));
        }
        Ok(commit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hamt_codec::{BlockCodec, HashAlgorithm, block_cid};

    fn commit() -> Commit {
        Commit {
            root: block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b"root"),
            parents: vec![block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b"p")],
            time_ms: 1_765_000_000_000,
            author: "era5-loader".into(),
            message: "append 2026-12-06".into(),
            meta: [("source".to_owned(), "ERA5".to_owned())].into(),
        }
    }

    #[test]
    fn a_commit_round_trips_and_encodes_one_way() {
        let c = commit();
        let bytes = c.encode().unwrap();
        let cid = block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, &bytes);
        assert_eq!(Commit::decode(&cid, &bytes).unwrap(), c);
        // Canonical: keys sorted by length, then bytewise.
        let Ipld::Map(map) = serde_ipld_dagcbor::from_slice::<Ipld>(&bytes).unwrap() else {
            panic!("not a map")
        };
        assert_eq!(map.len(), 7);
        assert_eq!(serde_ipld_dagcbor::to_vec(&Ipld::Map(map)).unwrap(), bytes);
    }

    type Change = Box<dyn Fn(&mut BTreeMap<String, Ipld>)>;

    #[test]
    fn anything_but_the_schema_is_refused() {
        let cid = block_cid(BlockCodec::DagCbor, HashAlgorithm::Blake3, b"x");
        let good = serde_ipld_dagcbor::from_slice::<Ipld>(&commit().encode().unwrap()).unwrap();
        let Ipld::Map(good) = good else { panic!() };
        let variants: Vec<(&str, Change)> = vec![
            ("no \"root\"", Box::new(|m| drop(m.remove("root")))),
            (
                "unknown key",
                Box::new(|m| drop(m.insert("extra".into(), Ipld::Null))),
            ),
            (
                "type",
                Box::new(|m| drop(m.insert("type".into(), "git".into()))),
            ),
            (
                "not a link",
                Box::new(|m| drop(m.insert("root".into(), "r".into()))),
            ),
            (
                "at most 2",
                Box::new(|m| {
                    let link = Ipld::Link(commit().root);
                    m.insert(
                        "parents".into(),
                        Ipld::List(vec![link.clone(), link.clone(), link]),
                    );
                }),
            ),
            (
                "not a u64",
                Box::new(|m| drop(m.insert("time".into(), Ipld::Integer(-1)))),
            ),
            (
                "not a string",
                Box::new(|m| drop(m.insert("author".into(), Ipld::Integer(1)))),
            ),
        ];
        for (expected, change) in variants {
            let mut map = good.clone();
            change(&mut map);
            let bytes = serde_ipld_dagcbor::to_vec(&Ipld::Map(map)).unwrap();
            match Commit::decode(&cid, &bytes) {
                Err(HistoryError::MalformedCommit { cid: Some(c), why }) => {
                    assert_eq!(c, cid);
                    assert!(why.contains(expected), "{why:?} does not say {expected:?}");
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
        for junk in [&b"\xff\x00"[..], b"\x80", &[0x61, b'a']] {
            assert!(matches!(
                Commit::decode(&cid, junk),
                Err(HistoryError::MalformedCommit { .. })
            ));
        }
        let mut huge = commit();
        huge.message = "x".repeat(MAX_COMMIT_BYTES);
        assert!(matches!(
            huge.encode(),
            Err(HistoryError::MalformedCommit { .. })
        ));
    }
}
