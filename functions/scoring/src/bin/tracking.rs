//! The tracking Lambda: `POST /events` from API Gateway (HTTP API) into
//! [`scoring::tracking::Tracker`]. The batch's source is named by its `X-Api-Key` header; the
//! keys come from `TRACKING_API_KEYS`, a JSON object of source name to key.
//!
//! Everything but the event conversion lives in the library, where [`tracking::answer`] maps
//! outcomes to answers in one place.

use lambda_http::{service_fn, Body, Error, Request, Response};
use scoring::tracking::{self, ApiKeys, Tracker};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_adapters::logging::init();

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
    let content_type = event
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let outcome = match tracking::check_content_type(content_type) {
        Ok(()) => {
            tracker
                .track(key, event.body().as_ref(), chrono::Utc::now())
                .await
        }
        Err(e) => Err(e),
    };

    let (status, content_type, body) = tracking::answer(&outcome);
    Ok(Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::Text(body))?)
}
