//! `list_dir`: the direct children of a prefix, from the keys under it.

use std::collections::BTreeSet;

use zarrs_storage::{StoreKey, StoreKeysPrefixes, StorePrefix, StorePrefixError};

/// Splits `keys` (all starting with `prefix`, sorted) into the keys directly
/// under `prefix` and the child prefixes (`prefix` + first component + `/`)
/// that hold the rest, each once and sorted.
pub(crate) fn split_dir(
    prefix: &StorePrefix,
    keys: Vec<StoreKey>,
) -> Result<StoreKeysPrefixes, StorePrefixError> {
    let mut direct = Vec::new();
    let mut children = BTreeSet::new();
    for key in keys {
        let rest = key
            .as_str()
            .strip_prefix(prefix.as_str())
            .unwrap_or(key.as_str());
        match rest.split_once('/') {
            Some((child, _)) => {
                children.insert(format!("{}{child}/", prefix.as_str()));
            }
            None => direct.push(key),
        }
    }
    let prefixes = children
        .into_iter()
        .map(StorePrefix::new)
        .collect::<Result<_, _>>()?;
    Ok(StoreKeysPrefixes::new(direct, prefixes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_keys_and_child_prefixes() {
        let keys = ["a/b", "a/c", "a/d/e", "a/f/g", "a/f/h/i"]
            .map(|k| StoreKey::new(k).unwrap())
            .to_vec();
        let dir = split_dir(&StorePrefix::new("a/").unwrap(), keys).unwrap();
        let keys: Vec<_> = dir.keys().iter().map(StoreKey::as_str).collect();
        let prefixes: Vec<_> = dir.prefixes().iter().map(StorePrefix::as_str).collect();
        assert_eq!(keys, ["a/b", "a/c"]);
        assert_eq!(prefixes, ["a/d/", "a/f/"]);
    }
}
