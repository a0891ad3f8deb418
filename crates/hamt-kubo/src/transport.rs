//! One HTTP exchange with limits, and the retry loop around exchanges.

use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use hamt_codec::Cid;
use hamt_store::{StoreError, telemetry};
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, PROXY_AUTHORIZATION,
};
use reqwest::{Client, Method, Request, RequestBuilder, Response, StatusCode, Url};
use tokio::sync::{Semaphore, SemaphorePermit};

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

impl Failure {
    /// The error, whether or not it was worth another try.
    pub(crate) fn into_error(self) -> StoreError {
        match self {
            Failure::Retry(error) | Failure::RetryAfter(error, _) | Failure::Stop(error) => error,
        }
    }
}

/// A response read in full.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    /// The `Retry-After` header (seconds, or an HTTP date from now).
    pub(crate) retry_after: Option<Duration>,
    /// The `Content-Length` header (for a `HEAD`: the body's length).
    pub(crate) content_length: Option<u64>,
}

/// Redirects followed for one request at most.
const MAX_REDIRECTS: usize = 5;

/// The shared HTTP machinery: one client (one connection pool), the
/// concurrency cap, auth, timeouts and the retry policy.
pub(crate) struct Transport {
    pub(crate) client: Client,
    pub(crate) headers: HeaderMap,
    pub(crate) auth: Option<Auth>,
    /// The origins (`scheme://host:port`) the headers and auth are sent to.
    pub(crate) credentialed: Vec<String>,
    pub(crate) retry: RetryPolicy,
    pub(crate) permits: Semaphore,
    pub(crate) max_response: usize,
}

impl Transport {
    /// Runs `attempt` until it succeeds, fails for good, or retries run out.
    pub(crate) async fn retrying<T, F, Fut>(&self, attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        self.retrying_counted(attempt).await.0
    }

    /// A block read under [`retrying`](Self::retrying), recorded in the
    /// `py_hamt.cas.load.*` telemetry (`len` gives its bytes).
    pub(crate) async fn load<T, F, Fut>(
        &self,
        len: impl Fn(&T) -> u64,
        attempt: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let started = telemetry::enabled().then(std::time::Instant::now);
        let (result, retries) = self.retrying_counted(attempt).await;
        if let Some(started) = started {
            telemetry::CAS_LOADS.add(1, result.is_ok());
            telemetry::CAS_LOAD_RETRIES.add(u64::from(retries), false);
            if let Ok(value) = &result {
                telemetry::CAS_LOAD_BYTES.add(len(value), false);
            }
            telemetry::CAS_LOAD_DURATION.record_duration(started.elapsed());
        }
        result
    }

    /// [`retrying`](Self::retrying), with the number of retries it took.
    async fn retrying_counted<T, F, Fut>(&self, mut attempt: F) -> (Result<T, StoreError>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut tries = 0;
        loop {
            let (error, asked) = match attempt().await {
                Ok(value) => return (Ok(value), tries),
                Err(Failure::Stop(error)) => return (Err(error), tries),
                Err(Failure::Retry(error)) => (error, Duration::ZERO),
                Err(Failure::RetryAfter(error, asked)) => (error, asked),
            };
            if tries >= self.retry.retries {
                return (Err(error), tries);
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
        self.exchange_up_to(request, timeout, context, self.max_response)
            .await
    }

    /// [`exchange`](Self::exchange), reading at most `max_response` bytes.
    #[tracing::instrument(level = "debug", name = "hamt_kubo.http", skip_all, fields(what = context))]
    pub(crate) async fn exchange_up_to(
        &self,
        request: RequestBuilder,
        timeout: Duration,
        context: &str,
        max_response: usize,
    ) -> Result<Answer, Failure> {
        let (_permit, mut response) = self.send(request, timeout, context).await?;
        let retry =
            |e: reqwest::Error| Failure::Retry(StoreError::backend(context, KuboError::request(e)));
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let content_length = response
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.trim().parse().ok());
        let too_large = || {
            Failure::Stop(StoreError::backend(
                context,
                KuboError::TooLarge {
                    limit: max_response,
                },
            ))
        };
        if response
            .content_length()
            .is_some_and(|len| len > max_response as u64)
        {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(retry)? {
            if body.len() + chunk.len() > max_response {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            body: body.freeze(),
            retry_after,
            content_length,
        })
    }

    /// Sends one request under the concurrency cap (with auth, following
    /// redirects): the response, and the permit to hold while its body is read.
    async fn send(
        &self,
        request: RequestBuilder,
        timeout: Duration,
        context: &str,
    ) -> Result<(SemaphorePermit<'_>, Response), Failure> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Failure::Stop(StoreError::backend(context, e)))?;
        let stop =
            |e: reqwest::Error| Failure::Stop(StoreError::backend(context, KuboError::request(e)));
        let request = self.authorize(request.timeout(timeout)).map_err(stop)?;
        let response = self.follow(request, context).await?;
        Ok((permit, response))
    }

    /// Sends one request and hands a successful answer's body to `sink`
    /// chunk by chunk as it arrives, so an answer of any length is never
    /// held (`repo/gc` names every block it removes); an error answer is
    /// read, up to the response limit, and classified. A failure after part
    /// of the body went to `sink` is final: that part cannot be taken back.
    pub(crate) async fn exchange_streamed(
        &self,
        request: RequestBuilder,
        timeout: Duration,
        context: &str,
        sink: &mut (dyn FnMut(&[u8]) -> Result<(), KuboError> + Send),
    ) -> Result<(), Failure> {
        let (_permit, mut response) = self.send(request, timeout, context).await?;
        let stop = |e: KuboError| Failure::Stop(StoreError::backend(context, e));
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            let mut body = BytesMut::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| stop(KuboError::request(e)))?
            {
                if body.len() + chunk.len() > self.max_response {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            let answer = Answer {
                status,
                body: body.freeze(),
                retry_after,
                content_length: None,
            };
            return classify(answer, None, context).map(drop);
        }
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| stop(KuboError::request(e)))?
        {
            sink(&chunk).map_err(stop)?;
        }
        Ok(())
    }

    /// The request, with the configured headers and auth if its origin is
    /// one they are for.
    fn authorize(&self, request: RequestBuilder) -> Result<Request, reqwest::Error> {
        let (client, request) = request.build_split();
        let request = request?;
        if !self.credentialed.contains(&origin(request.url())) {
            return Ok(request);
        }
        let request = RequestBuilder::from_parts(client, request).headers(self.headers.clone());
        match &self.auth {
            None => request,
            Some(Auth::Bearer(token)) => request.bearer_auth(&token.0),
            Some(Auth::Basic { user, password }) => request.basic_auth(user, Some(&password.0)),
        }
        .build()
    }

    /// Sends `request`, following up to [`MAX_REDIRECTS`] redirects by hand:
    /// a hop to another origin (another host or port, or https to http)
    /// carries no credential, neither the configured ones nor those a URL held.
    async fn follow(&self, mut request: Request, context: &str) -> Result<Response, Failure> {
        let retry =
            |e: reqwest::Error| Failure::Retry(StoreError::backend(context, KuboError::request(e)));
        for _ in 0..=MAX_REDIRECTS {
            let next = request.try_clone();
            let response = self.client.execute(request).await.map_err(retry)?;
            let status = response.status();
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| response.url().join(l).ok());
            let (Some(mut next), Some(target), true) = (next, location, status.is_redirection())
            else {
                return Ok(response);
            };
            if origin(&target) != origin(response.url()) {
                self.strip_credentials(next.headers_mut());
            }
            // 303 (and, by long habit, 301/302 after a POST) asks for a
            // GET; a HEAD stays a HEAD (a size must not fetch the body).
            let to_get = next.method() == Method::POST
                && (status == StatusCode::SEE_OTHER || matches!(status.as_u16(), 301 | 302));
            if to_get {
                *next.method_mut() = Method::GET;
                *next.body_mut() = None;
                next.headers_mut().remove(CONTENT_TYPE);
                next.headers_mut().remove(CONTENT_LENGTH);
            }
            *next.url_mut() = target;
            request = next;
        }
        let message = format!("more than {MAX_REDIRECTS} redirects");
        Err(Failure::Stop(StoreError::backend(
            context,
            KuboError::BadResponse(message),
        )))
    }

    /// Removes every header that may carry a credential.
    fn strip_credentials(&self, headers: &mut HeaderMap) {
        for name in [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE] {
            headers.remove(name);
        }
        for name in self.headers.keys() {
            headers.remove(name);
        }
    }
}

/// A URL's origin, `scheme://host:port`: what credentials are bound to.
pub(crate) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
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

/// `Retry-After` as a wait: delta-seconds, or an HTTP date (a date past is no wait).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = http_date(value)?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// An HTTP date in its preferred form (RFC 9110's IMF-fixdate), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`, the form servers must send.
fn http_date(text: &str) -> Option<SystemTime> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_weekday, rest) = text.split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let number = |s: &str, digits: usize| -> Option<i64> {
        (s.len() == digits && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let day = number(day, 2)?;
    let month = i64::try_from(MONTHS.iter().position(|m| *m == month)?).ok()? + 1;
    let year = number(year, 4)?;
    let clock: Vec<&str> = time.split(':').collect();
    let [h, m, s] = clock[..] else { return None };
    let (h, m, s) = (number(h, 2)?, number(m, 2)?, number(s, 2)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    let seconds = u64::try_from(seconds).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Kubo answers every command error with a 500; these say retrying is useless.
fn is_permanent(message: &str) -> bool {
    const PERMANENT: [&str; 9] = [
        "not pinned",
        // MFS: the path exists (an exclusive mkdir, e.g. a ref's lock).
        "already exists",
        // pin/update from a root that is not pinned recursively.
        "not recursively pinned",
        // MFS (files/*): no such file or directory.
        "does not exist",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let at = |text| {
            http_date(text).map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
        };
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(at("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(at("Tue, 29 Feb 2028 23:59:59 GMT"), Some(1_835_481_599));
        assert_eq!(at("Mon, 07 Dec 2026 16:44:01 GMT"), Some(1_796_661_841));
        for bad in [
            "",
            "06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
        ] {
            assert_eq!(at(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_takes_both_forms() {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO), "a past date");
        let soon = SystemTime::now() + Duration::from_secs(100);
        let text = format_date(soon);
        headers.insert(reqwest::header::RETRY_AFTER, text.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(95) && wait <= Duration::from_secs(100),
            "{wait:?}"
        );
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    /// An IMF-fixdate for `t` (the weekday is not checked by the parser).
    #[allow(
        clippy::cast_possible_wrap,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::items_after_statements
    )]
    fn format_date(t: SystemTime) -> String {
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
        let (days, rest) = (secs / 86_400, secs % 86_400);
        // Inverse of days_from_civil, by search: fine for a test.
        let mut year = 1970;
        while days_from_civil(year + 1, 1, 1) <= days {
            year += 1;
        }
        let mut month = 1;
        while month < 12 && days_from_civil(year, month + 1, 1) <= days {
            month += 1;
        }
        let day = days - days_from_civil(year, month, 1) + 1;
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "Xxx, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
            MONTHS[month as usize - 1],
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    }
}
