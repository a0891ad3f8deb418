use hamt_codec::Cid;

/// What went wrong talking to Kubo, as the source of a
/// [`hamt_store::StoreError::Backend`] (downcast to inspect it) or from
/// [`crate::KuboStoreBuilder::build`].
///
/// Messages never contain credentials: URLs are shown without user info and
/// request errors without their URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KuboError {
    /// The daemon or gateway answered with an error status.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The error message from the body (Kubo's JSON `Message`, or the text), shortened.
        message: String,
    },
    /// `block/put` answered a different CID than the block's own.
    #[error("the daemon stored the block as {returned}, not {expected}")]
    CidMismatch {
        /// The CID computed locally.
        expected: Box<Cid>,
        /// The CID the daemon answered.
        returned: Box<Cid>,
    },
    /// The answer could not be understood.
    #[error("unexpected response: {0}")]
    BadResponse(String),
    /// The answer is larger than the configured maximum block size.
    #[error("response larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The request failed before an answer (connect, timeout, reset).
    #[error("request failed: {0}")]
    Request(#[source] reqwest::Error),
    /// The operation needs the RPC API and none is configured.
    #[error("no RPC URL configured (gateway-only stores are read-only)")]
    NoRpc,
    /// A root name that cannot be a file name in the daemon's MFS.
    #[error("{name:?} cannot name a root on the daemon: {why}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The builder was given an invalid setting.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl KuboError {
    /// A request error, stripped of its URL (which may carry credentials).
    pub(crate) fn request(e: reqwest::Error) -> Self {
        KuboError::Request(e.without_url())
    }
}
