//! One HTTP exchange with limits, and the retry loop around exchanges.

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hamt_codec::Cid;
use hamt_store::StoreError;
use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use tokio::sync::Semaphore;

use crate::KuboError;
use crate::config::{Auth, RetryPolicy, redact};

/// How one attempt failed: worth retrying, or final.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Transient: timeout, connection error, 5xx, 429, a corrupt answer.
    Retry(StoreError),
    /// Transient, and the server said when to come back (`Retry-After`).
    RetryAfter(StoreError, Duration),
    /// Final: not found, a client error, a mismatch.
    Stop(StoreError),
}

/// A response read in full.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    /// The `Retry-After` header, in its delta-seconds form.
    pub(crate) retry_after: Option<Duration>,
}

/// The shared HTTP machinery: one client (one connection pool), the
/// concurrency cap, auth, timeouts and the retry policy.
pub(crate) struct Transport {
    pub(crate) client: Client,
    pub(crate) headers: HeaderMap,
    pub(crate) auth: Option<Auth>,
    pub(crate) retry: RetryPolicy,
    pub(crate) permits: Semaphore,
    pub(crate) max_response: usize,
}

impl Transport {
    /// Runs `attempt` until it succeeds, fails for good, or retries run out.
    pub(crate) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut tries = 0;
        loop {
            let (error, asked) = match attempt().await {
                Ok(value) => return Ok(value),
                Err(Failure::Stop(error)) => return Err(error),
                Err(Failure::Retry(error)) => (error, Duration::ZERO),
                Err(Failure::RetryAfter(error, asked)) => (error, asked),
            };
            if tries >= self.retry.retries {
                return Err(error);
            }
            // A server's Retry-After is honoured up to the policy's cap, so a
            // hostile or confused server cannot park a request for hours.
            let wait = self.retry.delay(tries).max(asked.min(self.retry.max_delay));
            // No permit is held while sleeping: the cap counts requests in flight.
            tokio::time::sleep(wait).await;
            tries += 1;
        }
    }

    /// Sends one request under the concurrency cap and reads the whole body,
    /// at most `max_response` bytes. Network failures are retryable.
    pub(crate) async fn exchange(
        &self,
        request: RequestBuilder,
        timeout: Duration,
        context: &str,
    ) -> Result<Answer, Failure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Failure::Stop(StoreError::backend(context, e)))?;
        let request = self.authorize(request).timeout(timeout);
        let retry =
            |e: reqwest::Error| Failure::Retry(StoreError::backend(context, KuboError::request(e)));
        let mut response = request.send().await.map_err(retry)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let too_large = || {
            Failure::Stop(StoreError::backend(
                context,
                KuboError::TooLarge {
                    limit: self.max_response,
                },
            ))
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_response as u64)
        {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(retry)? {
            if body.len() + chunk.len() > self.max_response {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            body: body.freeze(),
            retry_after,
        })
    }

    fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        let request = request.headers(self.headers.clone());
        match &self.auth {
            None => request,
            Some(Auth::Bearer(token)) => request.bearer_auth(&token.0),
            Some(Auth::Basic { user, password }) => request.basic_auth(user, Some(&password.0)),
        }
    }
}

/// `base` joined with `path` (which starts with `/`).
pub(crate) fn endpoint(base: &Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

/// "`what` on `base`", with the base URL redacted.
pub(crate) fn context(what: &str, base: &Url) -> String {
    format!("{what} on {}", redact(base))
}

/// The answer's body if it is a success, else a classified failure.
/// `missing` is the block a "not found" answer refers to.
pub(crate) fn classify(
    answer: Answer,
    missing: Option<&Cid>,
    context: &str,
) -> Result<Bytes, Failure> {
    let status = answer.status;
    if status.is_success() {
        return Ok(answer.body);
    }
    let message = error_message(&answer.body);
    let lower = message.to_lowercase();
    let not_found = status == StatusCode::NOT_FOUND
        || status == StatusCode::GONE
        || (status.is_server_error()
            && (lower.contains("not found") || lower.contains("could not find")));
    if let (true, Some(cid)) = (not_found, missing) {
        return Err(Failure::Stop(StoreError::NotFound(*cid)));
    }
    let error = StoreError::backend(
        context,
        KuboError::Status {
            status: status.as_u16(),
            message,
        },
    );
    let transient = status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || (status.is_server_error() && !not_found && !is_permanent(&lower));
    Err(match (transient, answer.retry_after) {
        (true, Some(wait)) => Failure::RetryAfter(error, wait),
        (true, None) => Failure::Retry(error),
        (false, _) => Failure::Stop(error),
    })
}

/// `Retry-After` in seconds. Its HTTP-date form is not read (Kubo and the
/// gateways in front of it send seconds); the policy's backoff applies then.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Kubo answers every command error with a 500; these say retrying is useless.
fn is_permanent(message: &str) -> bool {
    const PERMANENT: [&str; 6] = [
        "not pinned",
        "over 1mib",
        "invalid",
        "unrecognized",
        "unsupported",
        "failed to parse",
    ];
    PERMANENT.iter().any(|p| message.contains(p))
}

/// Kubo's JSON `Message`, or the body as text, cut to 300 characters.
pub(crate) fn error_message(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("Message").and_then(|m| m.as_str()).map(str::to_owned));
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
