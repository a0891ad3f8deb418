//! Which zarr keys are chunks and which are metadata, and where a chunk key
//! points: py-hamt 3.6.0's `_parse_chunk_key` rules, so the same key lands
//! in the same place on both sides.
//!
//! A chunk key is `<array>/c/<i>/<j>/...` (zarr v3), or in a v2 manifest a
//! classic zarr v2 key: dotted (`<array>/<i>.<j>`) or slash-separated
//! (`<array>/<i>/<j>`) under a registered array. Keys ending in a metadata
//! suffix, and anything else, are metadata (kept in the manifest's
//! `metadata` map). Coordinates follow Python's `int()`: surrounding
//! whitespace, a sign and `_` between digits are accepted (decimal digits
//! outside ASCII are not, unlike Python).

use crate::geometry::{ArrayIndex, CoordsError};

/// Keys with these endings are zarr metadata, never chunks.
pub const METADATA_SUFFIXES: [&str; 4] = ["zarr.json", ".zarray", ".zattrs", ".zgroup"];

/// A parsed chunk key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkKey {
    /// The array's path, without leading or trailing `/`.
    pub array_path: String,
    /// Its coordinates in the chunk grid.
    pub coords: Vec<u64>,
}

/// Why a key that looks like a chunk key is not a valid one (py-hamt raises
/// `ValueError` or `IndexError`; a v2 store then reads nothing and writes nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A coordinate is not an integer.
    #[error("chunk key {key:?}: coordinate {part:?} is not an integer")]
    NotAnInteger {
        /// The key.
        key: String,
        /// The part that is not.
        part: String,
    },
    /// The coordinates are not in the array's grid.
    #[error("chunk key {key:?}: {source}")]
    Coords {
        /// The key.
        key: String,
        /// Why.
        #[source]
        source: CoordsError,
    },
}

/// A coordinate as Python's `int()` reads it: negative and huge values are
/// kept apart, so they fail the bounds check rather than wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coord {
    Valid(u64),
    /// Negative, or beyond `u64`: outside every grid.
    OutOfRange,
}

/// Python's `int(text)` for a decimal string (ASCII digits only).
fn python_int(text: &str) -> Option<Coord> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut value: Option<u64> = Some(0);
    for c in digits.chars() {
        match c {
            '_' => {}
            '0'..='9' => {
                let d = u64::from(c as u8 - b'0');
                value = value
                    .and_then(|v| v.checked_mul(10))
                    .and_then(|v| v.checked_add(d));
            }
            _ => return None,
        }
    }
    Some(match value {
        Some(0) => Coord::Valid(0),
        Some(v) if !negative => Coord::Valid(v),
        _ => Coord::OutOfRange,
    })
}

/// A chunk coordinate as Python's `int()` reads it: `None` if it is not an
/// integer, `Err(())` inside if it is one no grid holds (negative, or past `u64`).
pub(crate) fn parse_coordinate(text: &str) -> Option<Result<u64, ()>> {
    python_int(text).map(|c| match c {
        Coord::Valid(v) => Ok(v),
        Coord::OutOfRange => Err(()),
    })
}

/// `str.isdecimal()` for ASCII.
fn is_decimal(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `key` is a metadata key by its suffix.
pub fn is_metadata_key(key: &str) -> bool {
    METADATA_SUFFIXES.iter().any(|suffix| key.ends_with(suffix))
}

/// `path.strip("/")`.
pub(crate) fn normalize_path(path: &str) -> &str {
    path.trim_matches('/')
}

/// What a v2 manifest knows of its arrays, for parsing keys.
pub trait ArrayPaths {
    /// The index of the array at `path` (normalized), if registered.
    fn index(&self, path: &str) -> Option<&ArrayIndex>;
    /// Every registered array, in registration order.
    fn arrays(&self) -> Vec<(&str, &ArrayIndex)>;
}

/// py-hamt's `_parse_chunk_key` for a v2 manifest: `Ok(None)` for a
/// metadata key, `Ok(Some(chunk))` for a chunk (of a registered array or
/// not), `Err` for a malformed chunk key.
pub fn parse_chunk_key_v2(
    key: &str,
    arrays: &impl ArrayPaths,
) -> Result<Option<ChunkKey>, KeyError> {
    if is_metadata_key(key) {
        return Ok(None);
    }
    let (array_path, coord_part) = if let Some(at) = key.rfind("/c/") {
        (&key[..at], &key[at + 3..])
    } else if let Some(rest) = key.strip_prefix("c/") {
        ("", rest)
    } else {
        return parse_classic(key, arrays);
    };
    let array_path = normalize_path(array_path);
    let mut coords = Vec::new();
    for part in coord_part.split('/') {
        match python_int(part) {
            Some(coord) => coords.push(coord),
            None => {
                return match parse_classic(key, arrays)? {
                    Some(chunk) => Ok(Some(chunk)),
                    None => Err(KeyError::NotAnInteger {
                        key: key.to_owned(),
                        part: part.to_owned(),
                    }),
                };
            }
        }
    }
    let coords = match arrays.index(array_path) {
        Some(index) => validate(key, &coords, index)?,
        // An unregistered array: no grid to check against (py-hamt checks
        // nothing either); the key then resolves through the metadata map.
        None => coords
            .iter()
            .map(|c| match c {
                Coord::Valid(v) => *v,
                Coord::OutOfRange => u64::MAX,
            })
            .collect(),
    };
    Ok(Some(ChunkKey {
        array_path: array_path.to_owned(),
        coords,
    }))
}

fn validate(key: &str, coords: &[Coord], index: &ArrayIndex) -> Result<Vec<u64>, KeyError> {
    let error = |source| KeyError::Coords {
        key: key.to_owned(),
        source,
    };
    let rank = index.chunks_per_dim().len();
    if coords.len() != rank {
        return Err(error(CoordsError::Rank {
            expected: rank,
            found: coords.len(),
        }));
    }
    let mut out = Vec::with_capacity(coords.len());
    for (dim, (coord, &size)) in coords.iter().zip(index.chunks_per_dim()).enumerate() {
        match coord {
            Coord::Valid(c) if *c < size => out.push(*c),
            Coord::Valid(c) => {
                return Err(error(CoordsError::OutOfBounds {
                    dim,
                    coord: *c,
                    size,
                }));
            }
            Coord::OutOfRange => {
                return Err(error(CoordsError::OutOfBounds {
                    dim,
                    coord: u64::MAX,
                    size,
                }));
            }
        }
    }
    Ok(out)
}

/// Classic zarr v2 chunk keys of registered arrays: dotted, then slash-separated.
fn parse_classic(key: &str, arrays: &impl ArrayPaths) -> Result<Option<ChunkKey>, KeyError> {
    let registered = arrays.arrays();
    if registered.is_empty() {
        return Ok(None);
    }
    // Dotted: "<array>/1.2.3".
    let (dotted_path, coord_part) = key.rsplit_once('/').unwrap_or(("", key));
    if coord_part.contains('.') {
        let parts: Vec<&str> = coord_part.split('.').collect();
        if parts.iter().all(|p| is_decimal(p)) {
            let path = normalize_path(dotted_path);
            if let Some(index) = arrays.index(path)
                && parts.len() == index.chunks_per_dim().len()
            {
                let coords: Vec<Coord> = parts.iter().filter_map(|p| python_int(p)).collect();
                let coords = validate(key, &coords, index)?;
                return Ok(Some(ChunkKey {
                    array_path: path.to_owned(),
                    coords,
                }));
            }
        }
    }
    // Slash-separated under the longest registered path that fits.
    let mut by_length = registered;
    by_length.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
    for (path, index) in by_length {
        let coord_part = if path.is_empty() {
            key
        } else {
            match key
                .strip_prefix(path)
                .and_then(|rest| rest.strip_prefix('/'))
            {
                Some(rest) => rest,
                None => continue,
            }
        };
        let parts: Vec<&str> = coord_part.split('/').collect();
        if parts.len() != index.chunks_per_dim().len() || !parts.iter().all(|p| is_decimal(p)) {
            continue;
        }
        let coords: Vec<Coord> = parts.iter().filter_map(|p| python_int(p)).collect();
        let coords = validate(key, &coords, index)?;
        return Ok(Some(ChunkKey {
            array_path: path.to_owned(),
            coords,
        }));
    }
    Ok(None)
}

/// The key of chunk `coords` of the array at `array_path` (zarr v3).
pub fn format_chunk_key(array_path: &str, coords: &[u64]) -> String {
    let coords: Vec<String> = coords.iter().map(u64::to_string).collect();
    if array_path.is_empty() {
        format!("c/{}", coords.join("/"))
    } else {
        format!("{array_path}/c/{}", coords.join("/"))
    }
}

/// The array path a metadata key describes (`zarr.json`/`.zarray` of it).
pub fn array_path_of_metadata_key(key: &str) -> Option<&str> {
    match key {
        "zarr.json" | ".zarray" => Some(""),
        _ => key
            .strip_suffix("/zarr.json")
            .or_else(|| key.strip_suffix("/.zarray")),
    }
}

/// The group path a metadata key describes (`zarr.json`/`.zgroup` of it).
pub fn group_path_of_metadata_key(key: &str) -> Option<&str> {
    match key {
        "zarr.json" | ".zgroup" => Some(""),
        _ => key
            .strip_suffix("/zarr.json")
            .or_else(|| key.strip_suffix("/.zgroup")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Arrays(Vec<(String, ArrayIndex)>);

    impl ArrayPaths for Arrays {
        fn index(&self, path: &str) -> Option<&ArrayIndex> {
            self.0.iter().find(|(p, _)| p == path).map(|(_, i)| i)
        }
        fn arrays(&self) -> Vec<(&str, &ArrayIndex)> {
            self.0.iter().map(|(p, i)| (p.as_str(), i)).collect()
        }
    }

    fn arrays() -> Arrays {
        Arrays(vec![
            (
                "temp".into(),
                ArrayIndex::new(vec![10, 4], vec![5, 2], 3).unwrap(),
            ),
            (
                "g/precip".into(),
                ArrayIndex::new(vec![6], vec![2], 2).unwrap(),
            ),
        ])
    }

    #[allow(clippy::unnecessary_wraps)] // compared with parse results
    fn chunk(path: &str, coords: &[u64]) -> Option<ChunkKey> {
        Some(ChunkKey {
            array_path: path.into(),
            coords: coords.to_vec(),
        })
    }

    #[test]
    fn v3_keys_and_metadata() {
        let a = arrays();
        assert_eq!(
            parse_chunk_key_v2("temp/c/1/1", &a),
            Ok(chunk("temp", &[1, 1]))
        );
        assert_eq!(
            parse_chunk_key_v2("g/precip/c/2", &a),
            Ok(chunk("g/precip", &[2]))
        );
        assert_eq!(parse_chunk_key_v2("temp/zarr.json", &a), Ok(None));
        assert_eq!(parse_chunk_key_v2("attrs.zattrs", &a), Ok(None));
        // Python's int(): whitespace, sign, underscores.
        assert_eq!(
            parse_chunk_key_v2("temp/c/ 1/+0", &a),
            Ok(chunk("temp", &[1, 0]))
        );
        assert!(
            parse_chunk_key_v2("temp/c/2/0", &a).is_err(),
            "out of bounds"
        );
        assert!(parse_chunk_key_v2("temp/c/-1/0", &a).is_err());
        assert!(parse_chunk_key_v2("temp/c/1", &a).is_err(), "rank");
        assert!(matches!(
            parse_chunk_key_v2("temp/c/x/0", &a),
            Err(KeyError::NotAnInteger { .. })
        ));
        // An unregistered array's chunk is a chunk key with no grid to check.
        assert_eq!(
            parse_chunk_key_v2("other/c/9", &a),
            Ok(chunk("other", &[9]))
        );
        assert_eq!(parse_chunk_key_v2("c/0", &a), Ok(chunk("", &[0])));
    }

    #[test]
    fn classic_v2_keys() {
        let a = arrays();
        assert_eq!(
            parse_chunk_key_v2("temp/1.0", &a),
            Ok(chunk("temp", &[1, 0]))
        );
        assert_eq!(
            parse_chunk_key_v2("temp/1/1", &a),
            Ok(chunk("temp", &[1, 1]))
        );
        assert_eq!(
            parse_chunk_key_v2("g/precip/2", &a),
            Ok(chunk("g/precip", &[2]))
        );
        assert_eq!(
            parse_chunk_key_v2("temp/1", &a),
            Ok(None),
            "wrong rank: metadata"
        );
        assert!(parse_chunk_key_v2("temp/9.0", &a).is_err());
        assert_eq!(parse_chunk_key_v2("nothing", &Arrays(vec![])), Ok(None));
    }

    #[test]
    fn python_int_rules() {
        assert_eq!(python_int("1_000"), Some(Coord::Valid(1000)));
        assert_eq!(python_int("-0"), Some(Coord::Valid(0)));
        assert_eq!(
            python_int("99999999999999999999999"),
            Some(Coord::OutOfRange)
        );
        for bad in ["", "_1", "1_", "1__0", "1.0", "0x1", "+", " "] {
            assert_eq!(python_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn key_helpers() {
        assert_eq!(format_chunk_key("", &[1, 2]), "c/1/2");
        assert_eq!(format_chunk_key("a/b", &[3]), "a/b/c/3");
        assert_eq!(array_path_of_metadata_key("zarr.json"), Some(""));
        assert_eq!(array_path_of_metadata_key("a/b/zarr.json"), Some("a/b"));
        assert_eq!(array_path_of_metadata_key("a/.zgroup"), None);
        assert_eq!(group_path_of_metadata_key("a/.zgroup"), Some("a"));
    }
}
