//! The outbound notification port: POST a JSON body to a URL.
//!
//! Used by the notifier function (rep and team alerts) and the rollup (scheduled reports).
//! The production adapter is HTTPS (`journey-http-notifier`); tests use fakes. An error says
//! whether trying again may help, so a caller can retry a timeout or a 503 and give up at once
//! on a 404. Error sources never include the URL: a webhook URL is a credential.

use async_trait::async_trait;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Worth trying again: a timeout, a connection failure, a 5xx or a 429.
    #[error("delivery failed, retryable")]
    Retryable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Not worth trying again: another 4xx (the URL or the body is wrong), or a URL the
    /// adapter cannot use.
    #[error("delivery refused")]
    Refused(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl NotifyError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, NotifyError::Retryable(_))
    }
}

/// Sends JSON to a URL.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// POSTs `body` to `url`; `Ok` once the receiver answered with a 2xx.
    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), NotifyError>;
}
