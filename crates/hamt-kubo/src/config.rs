use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use reqwest::Url;

/// A credential: shown as `<redacted>` by `Debug`, never put in errors.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How requests authenticate (sent to the credentialed origins only).
#[derive(Clone, Debug)]
pub(crate) enum Auth {
    Bearer(Secret),
    Basic { user: String, password: Secret },
}

/// Retries with exponential backoff and jitter, as py-hamt's `KuboCAS`
/// does (defaults: 3 retries, first delay 1 s, factor 2).
///
/// Timeouts, connection errors, 5xx, 429 and blocks that fail verification
/// are retried; other 4xx and "block not found" answers are not. When the
/// server sends `Retry-After` (seconds or an HTTP date) with a retryable
/// answer, the wait is at least that long, capped at `max_delay`.
///
/// ```
/// use std::time::Duration;
/// use hamt_kubo::RetryPolicy;
/// let policy = RetryPolicy::default();
/// assert_eq!(policy.retries, 3);
/// let second = policy.delay(1);
/// assert!(second >= Duration::from_millis(1500) && second <= Duration::from_millis(2500));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Delay before the first retry.
    pub first_delay: Duration,
    /// Each further delay is the previous one times this.
    pub factor: f64,
    /// Upper bound of any one delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            first_delay: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt + 1`: `first_delay * factor^attempt`,
    /// capped, with ±25 % jitter so concurrent clients do not retry in lockstep.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let base = self.first_delay.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        let capped = base.min(self.max_delay.as_secs_f64());
        let jittered = capped * (0.75 + 0.5 * unit_random());
        Duration::try_from_secs_f64(jittered).unwrap_or(self.max_delay)
    }
}

/// A random number in [0, 1), from the standard library's randomly keyed hasher.
fn unit_random() -> f64 {
    let bits = RandomState::new().hash_one(std::time::Instant::now()) >> 11;
    #[allow(clippy::cast_precision_loss)] // 53 bits fit an f64 mantissa exactly
    let unit = bits as f64 / (1u64 << 53) as f64;
    unit
}

/// `url` as it may be shown in a message: without user info (a password)
/// or query (a token), or `<unparsable URL>`.
///
/// ```
/// assert_eq!(
///     hamt_kubo::redact_url("https://alice:s3cret@gw.example.org/?key=s3cret"),
///     "https://gw.example.org"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    Url::parse(url).map_or_else(|_| "<unparsable URL>".to_owned(), |u| redact(&u))
}

/// A base URL shown without user info, for messages and `Debug`.
pub(crate) fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.as_str().trim_end_matches('/').to_owned()
}

/// Parses a daemon or gateway base URL, dropping a trailing `/` and, for
/// the RPC, a trailing `/api/v0`.
pub(crate) fn parse_base(url: &str, strip: &str) -> Result<Url, crate::KuboError> {
    let trimmed = url.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(strip).unwrap_or(trimmed);
    let parsed =
        Url::parse(trimmed).map_err(|e| crate::KuboError::Config(format!("invalid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(crate::KuboError::Config(format!(
            "unsupported URL scheme {:?}",
            parsed.scheme()
        )));
    }
    Ok(parsed)
}
