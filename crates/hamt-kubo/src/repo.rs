//! The daemon's garbage collection (`repo/gc`).

use std::time::{Duration, Instant};

use hamt_store::StoreError;

use crate::transport::{context, endpoint};
use crate::{KuboError, KuboStore};

/// The longest line of a `repo/gc` answer accepted (one CID or one error).
const MAX_LINE: usize = 64 << 10;

/// Error lines of a `repo/gc` answer kept for the report.
const MAX_ERRORS_KEPT: usize = 10;

/// What the daemon's GC did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepoGc {
    /// Blocks removed.
    pub blocks_removed: u64,
    /// Errors the daemon reported (blocks it could not remove), at most
    /// the first few; [`errors_total`](Self::errors_total) counts them all.
    pub errors: Vec<String>,
    /// Every error the daemon reported.
    pub errors_total: u64,
    /// How long it took.
    pub elapsed: Duration,
}

impl KuboStore {
    /// Runs the daemon's garbage collection (`repo/gc`): it removes every
    /// block that no pin (recursive, direct or indirect) and nothing in
    /// MFS keeps, for every user of the daemon, with no grace period for
    /// writes in progress. One attempt, not retried, under the pin timeout;
    /// the answer (one line per block removed) is counted as it streams.
    pub async fn repo_gc(&self) -> Result<RepoGc, StoreError> {
        let base = self.rpc()?;
        let url = endpoint(base, "/api/v0/repo/gc?stream-errors=true");
        let what = context("repo/gc", base);
        let transport = &self.inner.transport;
        let started = Instant::now();
        let mut lines = GcLines::default();
        let mut sink = |chunk: &[u8]| lines.feed(chunk);
        transport
            .exchange_streamed(
                transport.client.post(&url),
                self.inner.pin_timeout,
                &what,
                &mut sink,
            )
            .await
            .map_err(crate::transport::Failure::into_error)?;
        let mut report = lines.finish().map_err(|e| StoreError::backend(&what, e))?;
        report.elapsed = started.elapsed();
        Ok(report)
    }
}

/// A `repo/gc` answer read line by line: `{"Key":{"/":CID}}` per block
/// removed, `{"Error":"…"}` per failure (with `stream-errors`).
#[derive(Default)]
struct GcLines {
    partial: Vec<u8>,
    report: RepoGc,
}

impl GcLines {
    fn feed(&mut self, mut chunk: &[u8]) -> Result<(), KuboError> {
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&chunk[..end]);
            let line = std::mem::take(&mut self.partial);
            self.line(&line)?;
            chunk = &chunk[end + 1..];
        }
        if self.partial.len() + chunk.len() > MAX_LINE {
            return Err(KuboError::BadResponse(format!(
                "repo/gc: a line longer than {MAX_LINE} bytes"
            )));
        }
        self.partial.extend_from_slice(chunk);
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<(), KuboError> {
        if line.trim_ascii().is_empty() {
            return Ok(());
        }
        let json: serde_json::Value = serde_json::from_slice(line)
            .map_err(|_| KuboError::BadResponse("repo/gc: a line is not JSON".into()))?;
        let error = json
            .get("Error")
            .and_then(serde_json::Value::as_str)
            .filter(|e| !e.is_empty());
        if let Some(error) = error {
            self.report.errors_total += 1;
            if self.report.errors.len() < MAX_ERRORS_KEPT {
                self.report.errors.push(error.to_owned());
            }
        } else if json.get("Key").is_some_and(|k| !k.is_null()) {
            self.report.blocks_removed += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<RepoGc, KuboError> {
        let rest = std::mem::take(&mut self.partial);
        self.line(&rest)?;
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_lines_are_counted_across_chunks() {
        let answer = concat!(
            "{\"Key\":{\"/\":\"bafkreiffhk5brl5eaxgxyp7qp4qkipzqtz7qvaytebua477vqmxx7zvbku\"}}\n",
            "{\"Error\":\"could not remove bafy…\"}\n",
            "\n",
            "{\"Key\":{\"/\":\"bafkreie7y2wjsbsgbp75ldbggxcwqvtxuzl3jsthgoao3ghvm7ymuj2hae\"}}"
        )
        .as_bytes();
        for split in [1, 7, 64, answer.len()] {
            let mut lines = GcLines::default();
            for chunk in answer.chunks(split) {
                lines.feed(chunk).unwrap();
            }
            let report = lines.finish().unwrap();
            assert_eq!(report.blocks_removed, 2, "chunks of {split}");
            assert_eq!(report.errors_total, 1);
            assert_eq!(report.errors, ["could not remove bafy…"]);
        }
        let mut garbled = GcLines::default();
        assert!(garbled.feed(b"<html>\n").is_err());
        let mut endless = GcLines::default();
        assert!(endless.feed(&vec![b'x'; MAX_LINE + 1]).is_err());
    }
}
