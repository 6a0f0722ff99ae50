//! The tracking Lambda: `POST /events` from API Gateway (HTTP API) into
//! [`scoring::tracking::Tracker`]. The batch's source is named by its `X-Api-Key` header; the
//! keys come from `TRACKING_API_KEYS`, a JSON object of source name to key.
//!
//! Everything but the event conversion lives in the library, where [`TrackError::status`] maps
//! errors to status codes in one place.

use lambda_http::{service_fn, Body, Error, Request, Response};
use scoring::tracking::{ApiKeys, TrackError, Tracker};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();

    let tracker = tracker_from_env().await?;
    lambda_http::run(service_fn(|event: Request| handle(&tracker, event))).await
}

/// The tracker over the DynamoDB table and SQS queues the environment names.
async fn tracker_from_env() -> Result<Tracker, Error> {
    let keys = std::env::var("TRACKING_API_KEYS").map_err(|_| "TRACKING_API_KEYS is not set")?;
    let keys = ApiKeys::from_json(&keys)?;
    let scorer = scoring::wiring::scorer_from_env().await?;
    Ok(Tracker {
        store: scorer.store,
        keys,
    })
}

async fn handle(tracker: &Tracker, event: Request) -> Result<Response<Body>, Error> {
    let key = event
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok());
    let outcome = tracker
        .track(key, event.body().as_ref(), chrono::Utc::now())
        .await;

    let (status, body) = match outcome {
        Ok(answer) => (200, serde_json::to_value(answer)?),
        Err(e) => (e.status(), problem(&e)),
    };
    let content_type = if status == 200 {
        "application/json"
    } else {
        "application/problem+json"
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::Text(body.to_string()))?)
}

/// An RFC 9457 problem document for a refused batch.
fn problem(e: &TrackError) -> serde_json::Value {
    if e.status() >= 500 {
        tracing::error!(error = %e, "tracking batch failed");
    }
    let kind = match e {
        TrackError::Unauthorized => "unauthorized",
        TrackError::Malformed { .. } => "malformed-body",
        TrackError::TooMany => "too-many-events",
        TrackError::Store(_) => "unavailable",
    };
    serde_json::json!({
        "type": format!("https://lead-journey.dev/problems/{kind}"),
        "title": e.public_message(),
        "status": e.status(),
    })
}
