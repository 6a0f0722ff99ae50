//! The one error type of the function, and the one place where it becomes an HTTP answer.
//!
//! Every failure of a delivery ends here: [`WebhookError::status`] picks the status and
//! [`WebhookError::problem`] writes an RFC 9457 `application/problem+json` body. Messages carry
//! reasons, never request content: a body can hold personal data, and these texts are logged.
//! Input problems are 4xx; only a store or queue failure is a 5xx, which the provider retries.

use ports::{QueueError, StoreError};

/// Why a delivery was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum WebhookError {
    /// No provider of that name.
    #[error("unknown provider")]
    UnknownProvider,
    /// Only POST delivers (and GET for Meta's subscription handshake).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is over the limit.
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The content type is not the one the provider sends.
    #[error("content type not accepted for this provider")]
    UnsupportedMediaType,
    /// No secret is configured for the provider, so nothing can be verified.
    #[error("provider not configured")]
    NotConfigured,
    /// The signature or token is missing or wrong.
    #[error("signature missing or invalid")]
    BadSignature,
    /// The signature's timestamp is outside the tolerance.
    #[error("signature timestamp outside tolerance")]
    Stale,
    /// The body cannot be parsed.
    #[error("body cannot be parsed: {0}")]
    Unparseable(ParseProblem),
    /// The store failed; the provider should retry.
    #[error("store unavailable")]
    Store,
    /// The queue failed; the provider should retry.
    #[error("queue unavailable")]
    Queue,
    /// A commit kept conflicting with concurrent writes; the provider should retry.
    #[error("too many concurrent updates")]
    Contended,
}

/// What could not be parsed, with a position when the parser gave one. Never quotes the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseProblem {
    /// What was expected, e.g. "JSON object", "multipart body".
    pub what: &'static str,
    /// 1-based line of a JSON syntax error.
    pub line: Option<usize>,
    /// 1-based column of a JSON syntax error.
    pub column: Option<usize>,
}

impl ParseProblem {
    /// A problem with no position.
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            line: None,
            column: None,
        }
    }

    /// A JSON problem; keeps only the position of `err`, whose message may quote the input.
    pub fn json(what: &'static str, err: &serde_json::Error) -> Self {
        Self {
            what,
            line: Some(err.line()),
            column: Some(err.column()),
        }
    }
}

impl std::fmt::Display for ParseProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "expected {} (line {l}, column {c})", self.what),
            _ => write!(f, "expected {}", self.what),
        }
    }
}

impl From<StoreError> for WebhookError {
    fn from(_: StoreError) -> Self {
        WebhookError::Store
    }
}

impl From<QueueError> for WebhookError {
    fn from(_: QueueError) -> Self {
        WebhookError::Queue
    }
}

impl WebhookError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::UnknownProvider => 404,
            WebhookError::MethodNotAllowed => 405,
            WebhookError::TooLarge { .. } => 413,
            WebhookError::UnsupportedMediaType => 415,
            WebhookError::NotConfigured | WebhookError::BadSignature | WebhookError::Stale => 401,
            WebhookError::Unparseable(_) => 400,
            WebhookError::Store | WebhookError::Queue | WebhookError::Contended => 503,
        }
    }

    /// A stable machine-readable name, used as the problem `type` suffix and in logs.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::UnknownProvider => "unknown-provider",
            WebhookError::MethodNotAllowed => "method-not-allowed",
            WebhookError::TooLarge { .. } => "too-large",
            WebhookError::UnsupportedMediaType => "unsupported-media-type",
            // The caller learns only that it is not authorised, not which setting is missing.
            WebhookError::NotConfigured | WebhookError::BadSignature => "unauthorized",
            WebhookError::Stale => "stale-signature",
            WebhookError::Unparseable(_) => "unparseable-body",
            WebhookError::Store | WebhookError::Queue | WebhookError::Contended => "unavailable",
        }
    }

    /// The RFC 9457 problem document.
    pub fn problem(&self) -> serde_json::Value {
        let status = self.status();
        let detail = match self {
            // Internal failures stay opaque to the caller.
            WebhookError::Store | WebhookError::Queue | WebhookError::Contended => {
                "temporarily unavailable, retry later".to_owned()
            }
            WebhookError::NotConfigured => "signature missing or invalid".to_owned(),
            other => other.to_string(),
        };
        serde_json::json!({
            "type": format!("https://lead-journey.dev/problems/{}", self.kind()),
            "title": title(status),
            "status": status,
            "detail": detail,
        })
    }
}

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        _ => "Service Unavailable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_problems_are_4xx_and_only_infrastructure_is_5xx() {
        assert_eq!(WebhookError::UnknownProvider.status(), 404);
        assert_eq!(WebhookError::TooLarge { limit: 1 }.status(), 413);
        assert_eq!(WebhookError::UnsupportedMediaType.status(), 415);
        assert_eq!(WebhookError::BadSignature.status(), 401);
        assert_eq!(WebhookError::Stale.status(), 401);
        assert_eq!(
            WebhookError::Unparseable(ParseProblem::new("JSON")).status(),
            400
        );
        assert_eq!(WebhookError::Store.status(), 503);
    }

    #[test]
    fn problem_document_has_the_rfc_9457_members() {
        let p = WebhookError::Unparseable(ParseProblem::new("JSON object")).problem();
        assert_eq!(p["status"], 400);
        assert_eq!(p["title"], "Bad Request");
        assert!(p["type"].as_str().unwrap().ends_with("/unparseable-body"));
        assert_eq!(p["detail"], "body cannot be parsed: expected JSON object");
    }
}
