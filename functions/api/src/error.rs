//! The API's one error enum, and the one place it becomes an HTTP response.
//!
//! Every failure is answered as `application/problem+json` (RFC 9457). The `type` of a problem
//! is a stable URI under [`PROBLEM_BASE`] that clients may switch on; `title` is fixed per
//! type; `detail` says, for a 4xx, exactly what was wrong with the request. A 5xx says nothing
//! about the cause: its body is "Something went wrong" and the request id, and the cause is
//! logged once, by [`crate::handle`], with the same request id.
//!
//! Details never hold personal data: they name fields, ids, stages and versions, never values
//! a person typed.

use lambda_http::{http::StatusCode, Body, Response};
use ports::StoreError;
use serde::Serialize;

/// Where problem type URIs live.
pub const PROBLEM_BASE: &str = "https://lead-journey.dev/problems/";

/// One thing wrong with a request body or parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// A JSON pointer or parameter name (`/rules/0/points`, `limit`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything the API can answer with besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: a bad query parameter, header or JSON body.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No usable identity came with the request; says what was missing or wrong.
    #[error("not authenticated")]
    Unauthenticated(String),
    /// The caller's roles do not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Nothing lives at that path (or the item does not exist).
    #[error("not found: {0}")]
    NotFound(String),
    /// The path exists, the method does not; holds the methods it takes (`GET, PUT`).
    #[error("method not allowed")]
    MethodNotAllowed(String),
    /// The body came as a media type the operation does not read (a form, plain text).
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The `If-Match` version is not the stored one.
    #[error("stale version: expected {expected}, current {current}")]
    StaleVersion {
        /// The version the caller sent.
        expected: u64,
        /// The version stored now.
        current: u64,
    },
    /// The lead cannot make that move from where it is.
    #[error("stage conflict: {0}")]
    StageConflict(String),
    /// A write that needs `If-Match` came without it.
    #[error("precondition required")]
    PreconditionRequired,
    /// The body parsed but does not validate.
    #[error("validation failed ({} errors)", .0.len())]
    Invalid(Vec<FieldError>),
    /// The store is unavailable or throttled; the caller may retry.
    #[error("store unavailable")]
    Unavailable(#[source] StoreError),
    /// Anything else: a bug or a corrupt item. Opaque to the caller.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            ApiError::Unavailable(e)
        } else {
            ApiError::Internal(e.into())
        }
    }
}

impl From<ports::QueueError> for ApiError {
    fn from(e: ports::QueueError) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<sla_timers::SweepError> for ApiError {
    fn from(e: sla_timers::SweepError) -> Self {
        match e {
            sla_timers::SweepError::Store(e) => ApiError::from(e),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<routing::RoutingError> for ApiError {
    fn from(e: routing::RoutingError) -> Self {
        use routing::RoutingError as R;
        match e {
            R::Store(e) => ApiError::from(e),
            // Not the caller's mistake, nor ours: there is nothing to route by yet.
            R::NoConfig => {
                ApiError::NotFound("a routing configuration (PUT /config/routing)".into())
            }
            R::LeadMissing(id) => ApiError::NotFound(format!("lead {id}")),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl ApiError {
    /// A single-field validation error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, message)])
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::StaleVersion { .. } | ApiError::StageConflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem type (the last segment of its URI) and its fixed title.
    pub fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("bad-request", "The request is malformed"),
            ApiError::Unauthenticated(_) => ("unauthenticated", "No valid identity"),
            ApiError::Forbidden(_) => ("forbidden", "Not allowed for your role"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            ApiError::UnsupportedMediaType(_) => (
                "unsupported-media-type",
                "The body's media type is not accepted",
            ),
            ApiError::StaleVersion { .. } => ("stale-version", "The version is stale"),
            ApiError::StageConflict(_) => ("stage-conflict", "The lead cannot make that move"),
            ApiError::PreconditionRequired => ("precondition-required", "If-Match is required"),
            ApiError::Invalid(_) => ("validation-failed", "The request does not validate"),
            ApiError::Unavailable(_) => ("unavailable", "Temporarily unavailable"),
            ApiError::Internal(_) => ("internal", "Something went wrong"),
        }
    }

    /// Whether the cause is ours (5xx): logged once, hidden from the caller.
    pub fn is_server_error(&self) -> bool {
        self.status().is_server_error()
    }

    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(d)
            | ApiError::Forbidden(d)
            | ApiError::StageConflict(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::Unauthenticated(d) => d.clone(),
            ApiError::NotFound(what) => format!("{what} does not exist"),
            ApiError::MethodNotAllowed(_) => "this path does not take that method".to_owned(),
            ApiError::StaleVersion { expected, current } => format!(
                "If-Match names version {expected} but the current version is {current}; \
                 re-read the resource and decide again"
            ),
            ApiError::PreconditionRequired => {
                "send If-Match: \"<version>\" with the version you read (the ETag)".to_owned()
            }
            ApiError::Invalid(errors) => format!("{} field(s) are invalid", errors.len()),
            ApiError::Unavailable(_) | ApiError::Internal(_) => "Something went wrong".to_owned(),
        }
    }

    /// The problem document.
    pub fn to_response(&self, request_id: &str) -> Response<Body> {
        let (kind, title) = self.kind();
        let mut body = serde_json::json!({
            "type": format!("{PROBLEM_BASE}{kind}"),
            "title": title,
            "status": self.status().as_u16(),
            "detail": self.detail(),
            "request_id": request_id,
        });
        match self {
            ApiError::Invalid(errors) => body["errors"] = serde_json::json!(errors),
            ApiError::StaleVersion { current, .. } => {
                body["current_version"] = serde_json::json!(current)
            }
            _ => {}
        }

        let mut builder = Response::builder()
            .status(self.status())
            .header("content-type", "application/problem+json")
            .header("x-request-id", request_id);
        if matches!(self, ApiError::Unavailable(_)) {
            builder = builder.header("retry-after", "1");
        }
        if let ApiError::MethodNotAllowed(allowed) = self {
            builder = builder.header("allow", allowed.as_str());
        }
        if let ApiError::StaleVersion { current, .. } = self {
            builder = builder.header("etag", crate::http::etag(*current));
        }
        builder
            .body(Body::Text(body.to_string()))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_opaque() {
        let e = ApiError::Internal(anyhow::anyhow!("lead 42 body is corrupt: secret detail"));
        let resp = e.to_response("req-1");
        assert_eq!(resp.status(), 500);
        let Body::Text(text) = resp.body() else {
            panic!("text body")
        };
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("req-1"));
        assert!(text.contains("Something went wrong"));
    }

    #[test]
    fn stale_version_says_the_current_version() {
        let resp = ApiError::StaleVersion {
            expected: 3,
            current: 5,
        }
        .to_response("r");
        assert_eq!(resp.status(), 409);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let Body::Text(text) = resp.body() else {
            panic!("text body")
        };
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["type"], "https://lead-journey.dev/problems/stale-version");
        assert_eq!(v["current_version"], 5);
    }
}
