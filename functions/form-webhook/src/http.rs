//! The HTTP edge, without Lambda: a request (method, provider segment, URL, headers, body) and
//! the injected clock in, a status and a body out. `main.rs` only converts API Gateway events
//! to and from these types, so every answer can be tested without a Lambda runtime.
//!
//! Order of checks: provider (404), method (405), size (413, from `Content-Length` before the
//! body is looked at), content type (415), signature (401), parse (400), store (200, or 503
//! when the store fails so that the provider retries). Bad input is never a 5xx.

use crate::{
    config::{Config, ConfigSource},
    error::WebhookError,
    intake::{Intake, ItemOutcome},
    provider::{self, Headers, Incoming, Item, Provider},
};
use ports::{Clock, DocumentStore};
use std::{io::Read, sync::Arc};
use tracing::Instrument;

/// The largest body accepted: 256 KiB (Webflow's own maximum; no form is larger).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// One HTTP request to `/webhooks/{provider}`.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// The `{provider}` path segment (may be `generic/<name>`).
    pub provider: &'a str,
    /// The full URL as the provider called it (public host, path and query).
    pub url: &'a str,
    /// The headers.
    pub headers: &'a Headers,
    /// The raw body.
    pub body: &'a [u8],
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// The status.
    pub status: u16,
    /// The content type of `body`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl WebhookResponse {
    fn from_error(e: &WebhookError) -> Self {
        Self {
            status: e.status(),
            content_type: "application/problem+json",
            body: e.problem().to_string(),
        }
    }
}

/// The function: configuration, the intake and the clock.
#[derive(Clone)]
pub struct Service {
    config: ConfigSource,
    intake: Intake,
    clock: Arc<dyn Clock>,
}

impl Service {
    /// A service over `intake`, reading time from `clock`.
    pub fn new(config: Config, intake: Intake, clock: Arc<dyn Clock>) -> Self {
        Self {
            config: config.into(),
            intake,
            clock,
        }
    }

    /// The same service, also reading the form settings stored through the API at most once a
    /// minute (see [`ConfigSource::with_stored_forms`]).
    pub fn with_stored_forms(mut self, docs: Arc<dyn DocumentStore>) -> Self {
        self.config = self.config.with_stored_forms(docs);
        self
    }

    /// Answers one request.
    pub async fn handle(&self, req: &WebhookRequest<'_>) -> WebhookResponse {
        // The known provider's name only: the path segment is the sender's text, and an unknown
        // one could be anything, personal data included.
        let provider = Provider::from_slug(req.provider).map_or("unknown", Provider::slug);
        let span = tracing::info_span!(
            "webhook delivery",
            provider,
            delivery_key = tracing::field::Empty
        );
        // Instrumented, not entered across the await: a guard held over an await leaks the
        // span into whatever else the thread polls meanwhile, and concurrent deliveries' lines
        // were logged under each other's delivery keys.
        let outcome = self.deliver(req, &span).instrument(span.clone()).await;
        let _enter = span.enter();
        match outcome {
            Ok(response) => response,
            Err(e) => {
                if e.status() >= 500 {
                    tracing::error!(error = %e, kind = e.kind(), "delivery failed");
                } else {
                    tracing::warn!(kind = e.kind(), status = e.status(), "delivery refused");
                }
                WebhookResponse::from_error(&e)
            }
        }
    }

    async fn deliver(
        &self,
        req: &WebhookRequest<'_>,
        span: &tracing::Span,
    ) -> Result<WebhookResponse, WebhookError> {
        let provider = Provider::from_slug(req.provider).ok_or(WebhookError::UnknownProvider)?;
        if req.method.eq_ignore_ascii_case("GET") && provider == Provider::MetaLeadgen {
            return self.meta_handshake(req);
        }
        if !req.method.eq_ignore_ascii_case("POST") {
            return Err(WebhookError::MethodNotAllowed);
        }
        check_size(req.headers, req.body.len())?;
        let media = req.headers.media_type().unwrap_or_default();
        if !provider.accepts(&media) {
            return Err(WebhookError::UnsupportedMediaType);
        }

        let incoming = Incoming {
            method: req.method,
            url: req.url,
            path_provider: req.provider,
            headers: req.headers,
            body: req.body,
            now: self.clock.now(),
        };
        let secret = self.config.base().secrets.get(&provider).ok_or_else(|| {
            tracing::error!("no secret configured for this provider");
            WebhookError::NotConfigured
        })?;
        provider::verify(provider, &incoming, secret)?;
        let items = provider::parse(provider, &incoming)?;
        if let Some(first) = items.first() {
            span.record("delivery_key", first.delivery_key());
        }
        self.store_all(provider, &items, incoming.now).await
    }

    async fn store_all(
        &self,
        provider: Provider,
        items: &[Item],
        now: crate::Timestamp,
    ) -> Result<WebhookResponse, WebhookError> {
        let config = self.config.at(now).await;
        let mut outcomes = Vec::with_capacity(items.len());
        for item in items {
            let outcome = self
                .intake
                .process(provider, item, &config, now)
                .await
                .inspect_err(|e| {
                    tracing::error!(
                        delivery_key = item.delivery_key(),
                        kind = e.kind(),
                        "item not stored"
                    );
                })?;
            tracing::info!(
                delivery_key = item.delivery_key(),
                outcome = outcome.as_str(),
                "item stored"
            );
            outcomes.push(outcome);
        }

        let all_duplicate = outcomes.iter().all(|o| *o == ItemOutcome::Duplicate);
        let body = serde_json::json!({
            "status": if all_duplicate { "duplicate" } else { "accepted" },
            "items": outcomes
                .iter()
                .zip(items)
                .map(|(o, i)| serde_json::json!({"key": i.delivery_key(), "outcome": o.as_str()}))
                .collect::<Vec<_>>(),
        });
        Ok(WebhookResponse {
            status: 200,
            content_type: "application/json",
            body: body.to_string(),
        })
    }

    /// Meta's subscription check: `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
    /// echoes the challenge when the token is the configured one.
    fn meta_handshake(&self, req: &WebhookRequest<'_>) -> Result<WebhookResponse, WebhookError> {
        let incoming = Incoming {
            method: req.method,
            url: req.url,
            path_provider: req.provider,
            headers: req.headers,
            body: &[],
            now: self.clock.now(),
        };
        let expected = self
            .config
            .base()
            .meta_verify_token
            .as_ref()
            .ok_or(WebhookError::NotConfigured)?;
        let token = incoming
            .query("hub.verify_token")
            .ok_or(WebhookError::BadSignature)?;
        crate::verify::check_token(expected, &token)?;
        if incoming.query("hub.mode").as_deref() != Some("subscribe") {
            return Err(WebhookError::BadSignature);
        }
        Ok(WebhookResponse {
            status: 200,
            content_type: "text/plain",
            body: incoming.query("hub.challenge").unwrap_or_default(),
        })
    }
}

/// Refuses a body over the limit, from its declared length first.
fn check_size(headers: &Headers, actual: usize) -> Result<(), WebhookError> {
    let declared = headers
        .get("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) || actual > MAX_BODY_BYTES;
    if too_large {
        Err(WebhookError::TooLarge {
            limit: MAX_BODY_BYTES,
        })
    } else {
        Ok(())
    }
}

/// Reads a body from a stream, stopping as soon as it passes the limit, so an oversized body
/// is refused without ever being held whole. For servers that stream (the local runner); on
/// Lambda, API Gateway hands the event over already in memory and `Content-Length` is checked
/// before the body is read.
pub fn read_capped(mut reader: impl Read) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut limited = (&mut reader).take(MAX_BODY_BYTES as u64 + 1);
    limited.read_to_end(&mut body).map_err(|_| ReadError::Io)?;
    if body.len() > MAX_BODY_BYTES {
        return Err(ReadError::TooLarge);
    }
    Ok(body)
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    /// Over [`MAX_BODY_BYTES`].
    #[error("body over the limit")]
    TooLarge,
    /// The stream failed.
    #[error("failed to read the body")]
    Io,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let h = Headers::new(vec![("Content-Length".into(), "262145".into())]);
        assert_eq!(
            check_size(&h, 0),
            Err(WebhookError::TooLarge {
                limit: MAX_BODY_BYTES
            })
        );
        assert!(check_size(&Headers::default(), MAX_BODY_BYTES).is_ok());
    }

    #[test]
    fn read_capped_stops_one_byte_past_the_limit() {
        // An endless stream: read_capped must stop by itself.
        let endless = std::io::repeat(b'x');
        assert_eq!(read_capped(endless), Err(ReadError::TooLarge));
        let exact = vec![b'x'; MAX_BODY_BYTES];
        assert_eq!(read_capped(&exact[..]).unwrap().len(), MAX_BODY_BYTES);
    }
}
