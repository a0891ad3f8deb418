//! `hamt export ROOT DIR`: every key of a dataset (either layout) written
//! as a file under DIR.

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use futures::stream::StreamExt;
use hamt_store::ByteRange;
use hamt_zarr::Layout;
use serde_json::json;

use crate::backend::Backend;
use crate::error::{CliError, Context, Result, fail};
use crate::output::{Output, mib, per_second};

/// Values read at once.
const READ_CONCURRENCY: usize = 16;

pub(crate) async fn run(backend: &Backend, out: Output, root: &str, dir: &Path) -> Result<()> {
    let started = Instant::now();
    let map = backend.open_dataset(root).await?;
    // Check every key before writing anything, so a hostile key (`../x`)
    // stops the export before it starts.
    let links = backend.links(&map, root).await?;
    let targets: Vec<(String, hamt::Cid, PathBuf)> = links
        .into_iter()
        .map(|(key, link)| safe_path(dir, &key).map(|path| (key, link, path)))
        .collect::<Result<_>>()?;
    std::fs::create_dir_all(dir).context(|| format!("create {}", dir.display()))?;
    let bar = out.count_bar(targets.len() as u64, "exporting");
    let map = &map;
    let mut values = futures::stream::iter(targets)
        .map(|(key, link, path)| async move {
            let value = map
                .read_value(&link, ByteRange::Full)
                .await
                .context(|| format!("read key {key:?} (value {link})"))?;
            Ok::<_, CliError>((path, value))
        })
        .buffered(READ_CONCURRENCY);
    let (mut files, mut bytes) = (0u64, 0u64);
    while let Some(item) = values.next().await {
        let (path, value) = item?;
        write_file(&path, &value)?;
        files += 1;
        bytes += value.len() as u64;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    out.print(
        || format!("exported {files} files ({:.1} MiB) to {}", mib(bytes), dir.display()),
        || json!({"files": files, "bytes": bytes, "dir": dir.display().to_string(), "seconds": elapsed.as_secs_f64()}),
    );
    out.note(|| format!("{:.0} files/s", per_second(files, elapsed)));
    Ok(())
}

fn write_file(path: &Path, value: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).context(|| format!("create {}", parent.display()))?;
    }
    std::fs::write(path, value).context(|| format!("write {}", path.display()))
}

/// Where key `key` goes under `dir`; refuses keys that would escape it or
/// that no file system path can hold.
fn safe_path(dir: &Path, key: &str) -> Result<PathBuf> {
    let relative = Path::new(key);
    let plain = !key.is_empty()
        && !key.contains('\\')
        && !key.contains('\0')
        && key.split('/').all(|part| !part.is_empty())
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        fail!("key {key:?} is not a plain relative path; it cannot be exported as a file");
    }
    Ok(dir.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_keys_that_escape() {
        let dir = Path::new("/tmp/out");
        for key in [
            "../x",
            "/etc/passwd",
            "a//b",
            "a/../b",
            "",
            "a/",
            "./a",
            "a\\b",
        ] {
            assert!(safe_path(dir, key).is_err(), "{key}");
        }
        assert!(safe_path(dir, "temp/c/0/0").is_ok());
    }
}
