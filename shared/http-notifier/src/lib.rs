//! The outbound HTTP adapters: the notification port ([`ports::Notifier`]) and a small GET
//! client for provider APIs ([`JsonGetter`], in [`get`]).
//!
//! [`HttpNotifier`] POSTs a JSON body to a webhook URL with hyper's pooled client over rustls
//! (the same TLS stack, crypto provider and root certificates the AWS SDK uses, so a function
//! carries one TLS stack), and classifies the answer for the caller's retry policy:
//!
//! | answer | error |
//! |---|---|
//! | 2xx | none |
//! | 5xx, 429, 408, no answer within the timeout, connection or TLS failure | [`NotifyError::Retryable`] |
//! | any other status (4xx, a redirect) | [`NotifyError::Refused`] |
//! | a URL that does not parse or is not `http(s)://` | [`NotifyError::Refused`] |
//!
//! Redirects are not followed: a webhook that moved answers 3xx, and the target has to be
//! fixed in configuration. Error messages name the status or the failure, never the URL (its
//! path is the webhook's secret).

use async_trait::async_trait;
use http_body_util::Full;
use hyper::{body::Bytes, header, Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use ports::{Notifier, NotifyError};
use std::time::Duration;

pub mod get;
pub use get::{GetError, JsonGetter};

/// How long a request may take, connecting included, unless told otherwise. Slack answers in
/// well under a second; ten leaves room for a slow receiver without holding a Lambda batch.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a post failed, as the source of a [`NotifyError`].
#[derive(Debug, thiserror::Error)]
enum PostError {
    #[error("the target URL is not a valid http(s) URL")]
    BadUrl,
    #[error("the receiver answered {0}")]
    Status(StatusCode),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the request failed before an answer")]
    Transport(#[source] hyper_util::client::legacy::Error),
    #[error("the request could not be built")]
    Build(#[source] hyper::http::Error),
    #[error("the system's root certificates could not be loaded")]
    Roots(#[source] std::io::Error),
}

/// Posts JSON over HTTPS (or plain HTTP, for a receiver on a private network or a test).
#[derive(Clone, Debug)]
pub struct HttpNotifier {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpNotifier {
    /// A notifier whose requests each give up after `timeout`. Fails only when the system's
    /// root certificates cannot be read.
    pub fn new(timeout: Duration) -> Result<Self, NotifyError> {
        let client =
            pooled_client().map_err(|e| NotifyError::Refused(Box::new(PostError::Roots(e))))?;
        Ok(Self { client, timeout })
    }

    fn request(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<Request<Full<Bytes>>, PostError> {
        let uri: Uri = url.parse().map_err(|_| PostError::BadUrl)?;
        if !matches!(uri.scheme_str(), Some("https" | "http")) || uri.host().is_none() {
            return Err(PostError::BadUrl);
        }
        // A `Value` always encodes.
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "lead-journey-notifier")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(PostError::Build)
    }
}

/// hyper's pooled client over rustls with the system's roots, HTTPS or plain HTTP. Fails only
/// when the root certificates cannot be read.
fn pooled_client() -> Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>, std::io::Error> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Whether a status means "try again later".
fn is_retryable_status(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

#[async_trait]
impl Notifier for HttpNotifier {
    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), NotifyError> {
        let request = self
            .request(url, body)
            .map_err(|e| NotifyError::Refused(Box::new(e)))?;
        let answer = tokio::time::timeout(self.timeout, self.client.request(request)).await;
        let response = match answer {
            Err(_) => {
                return Err(NotifyError::Retryable(Box::new(PostError::Timeout(
                    self.timeout,
                ))))
            }
            Ok(Err(e)) => return Err(NotifyError::Retryable(Box::new(PostError::Transport(e)))),
            Ok(Ok(response)) => response,
        };
        // The body is not read: a receiver's answer text is not needed, and dropping it closes
        // the connection instead of pooling it, which costs one handshake per message.
        let status = response.status();
        match status {
            s if s.is_success() => Ok(()),
            s if is_retryable_status(s) => {
                Err(NotifyError::Retryable(Box::new(PostError::Status(s))))
            }
            s => Err(NotifyError::Refused(Box::new(PostError::Status(s)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_for_retrying() {
        for code in [500, 502, 503, 504, 429, 408] {
            assert!(
                is_retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 410, 413, 301] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }
}
