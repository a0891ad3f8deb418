//! Listing a directory: the direct children of a prefix, from the keys under it.

use std::collections::BTreeSet;

/// What is directly under a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirListing {
    /// The prefix listed, ending in `/` (or empty for the root).
    pub base: String,
    /// The keys directly under the prefix, sorted.
    pub keys: Vec<String>,
    /// The child prefixes holding the other keys (`prefix` + first
    /// component + `/`), each once, sorted.
    pub prefixes: Vec<String>,
}

impl DirListing {
    /// The names of the entries (keys and child prefixes) relative to the
    /// prefix, each once, sorted: zarr-python's `list_dir`.
    pub fn names(&self) -> Vec<String> {
        let names: BTreeSet<&str> = self
            .keys
            .iter()
            .chain(&self.prefixes)
            .filter_map(|entry| entry.strip_prefix(self.base.as_str()))
            .map(|rest| rest.trim_end_matches('/'))
            .filter(|name| !name.is_empty())
            .collect();
        names.into_iter().map(str::to_owned).collect()
    }
}

/// The base a directory listing of `prefix` lists: `prefix` with one
/// trailing `/` (a trailing `/` is implied), or empty for the root.
pub(crate) fn dir_base(prefix: &str) -> String {
    let base = prefix.trim_end_matches('/');
    if base.is_empty() {
        String::new()
    } else {
        format!("{base}/")
    }
}

/// Splits `keys` (all starting with `prefix`, sorted) into the keys directly
/// under `prefix` and the child prefixes that hold the rest.
pub(crate) fn split_dir(prefix: &str, keys: Vec<String>) -> DirListing {
    let mut listing = DirListing {
        base: prefix.to_owned(),
        ..DirListing::default()
    };
    let mut children = BTreeSet::new();
    for key in keys {
        let rest = key.strip_prefix(prefix).unwrap_or(&key);
        match rest.split_once('/') {
            Some((child, _)) => {
                children.insert(format!("{prefix}{child}/"));
            }
            None => listing.keys.push(key),
        }
    }
    listing.prefixes = children.into_iter().collect();
    listing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_keys_and_child_prefixes() {
        let keys = ["a/b", "a/c", "a/d/e", "a/f/g", "a/f/h/i"]
            .map(str::to_owned)
            .to_vec();
        let dir = split_dir("a/", keys);
        assert_eq!(dir.keys, ["a/b", "a/c"]);
        assert_eq!(dir.prefixes, ["a/d/", "a/f/"]);
        assert_eq!(dir.names(), ["b", "c", "d", "f"]);
        assert_eq!(dir_base("a"), "a/");
        assert_eq!(dir_base("a//"), "a/");
        assert_eq!(dir_base("/"), "");
    }
}
