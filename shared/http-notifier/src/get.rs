//! [`JsonGetter`]: `GET` a URL and return the body of a 2xx answer, for reading a record from a
//! provider's API (Meta's Graph API). Same pooled client, TLS stack and timeout rule as the
//! notifier; the classification is the same too, so a caller maps [`GetError::is_retryable`]
//! onto its own queue's retry:
//!
//! | answer | error | retryable |
//! |---|---|---|
//! | 2xx, body within the size cap | none | |
//! | 5xx, 429, 408, no answer (and body) within the timeout, connection or TLS failure | [`GetError::Status`], [`GetError::Timeout`], [`GetError::Transport`] | yes |
//! | any other status, a body over the cap, a URL that is not `http(s)://` | [`GetError::Status`], [`GetError::TooLarge`], [`GetError::BadUrl`] | no |
//!
//! The URL is never part of an error or a log line: a provider API takes its access token in the
//! query string.

use crate::{is_retryable_status, pooled_client};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Bytes, header, Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use std::time::Duration;

/// The largest body read. A Graph API lead is a few KiB; a bigger answer is not one.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a GET failed. Messages name the status or the failure, never the URL.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// The URL does not parse or is not `http(s)://` with a host.
    #[error("the URL is not a valid http(s) URL")]
    BadUrl,
    /// The server answered with a status other than 2xx.
    #[error("the server answered {0}")]
    Status(StatusCode),
    /// No complete answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection, the TLS handshake or reading the body failed.
    #[error("the request failed before a complete answer")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("the answer is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The system's root certificates could not be loaded.
    #[error("the system's root certificates could not be loaded")]
    Roots(#[source] std::io::Error),
}

impl GetError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            GetError::Status(s) => is_retryable_status(*s),
            GetError::Timeout(_) | GetError::Transport(_) => true,
            GetError::BadUrl | GetError::TooLarge | GetError::Roots(_) => false,
        }
    }
}

/// GETs JSON over HTTPS (or plain HTTP, for a test server).
#[derive(Clone, Debug)]
pub struct JsonGetter {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl JsonGetter {
    /// A client whose requests each give up after `timeout`, body included. Fails only when the
    /// system's root certificates cannot be read.
    pub fn new(timeout: Duration) -> Result<Self, GetError> {
        let client = pooled_client().map_err(GetError::Roots)?;
        Ok(Self { client, timeout })
    }

    /// The body of a 2xx answer to `GET url`.
    pub async fn get(&self, url: &str) -> Result<Bytes, GetError> {
        let request = request(url)?;
        tokio::time::timeout(self.timeout, self.send(request))
            .await
            .map_err(|_| GetError::Timeout(self.timeout))?
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Bytes, GetError> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| GetError::Transport(Box::new(e)))?;
        let status = response.status();
        if !status.is_success() {
            // The error body is not read: Graph's error text may echo the request.
            return Err(GetError::Status(status));
        }
        let collected = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await;
        match collected {
            Ok(body) => Ok(body.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(GetError::TooLarge),
            Err(e) => Err(GetError::Transport(e)),
        }
    }
}

fn request(url: &str) -> Result<Request<Full<Bytes>>, GetError> {
    let uri: Uri = url.parse().map_err(|_| GetError::BadUrl)?;
    if !matches!(uri.scheme_str(), Some("https" | "http")) || uri.host().is_none() {
        return Err(GetError::BadUrl);
    }
    Request::builder()
        .method(Method::GET)
        .uri(uri)
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "lead-journey")
        .body(Full::new(Bytes::new()))
        .map_err(|_| GetError::BadUrl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_outages_are_retryable() {
        assert!(GetError::Status(StatusCode::BAD_GATEWAY).is_retryable());
        assert!(GetError::Status(StatusCode::TOO_MANY_REQUESTS).is_retryable());
        assert!(GetError::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(!GetError::Status(StatusCode::NOT_FOUND).is_retryable());
        assert!(!GetError::Status(StatusCode::BAD_REQUEST).is_retryable());
        assert!(!GetError::TooLarge.is_retryable());
    }

    #[test]
    fn a_url_without_http_scheme_or_host_is_refused() {
        for url in ["ftp://example.org/x", "/relative", "not a url"] {
            assert!(matches!(request(url), Err(GetError::BadUrl)), "{url}");
        }
    }
}
