//! The funnel-rollup Lambda: logging, the store, then the runtime loop.
//!
//! TODO(aws-adapters): wire the DynamoDB store once `shared/aws` implements the ports; until
//! then the function runs on the embedded store named by `JOURNEY_DB`, as the local stack does.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let path = std::env::var("JOURNEY_DB").unwrap_or_else(|_| "journey.db".to_owned());
    let store = embedded::EmbeddedStore::open(path)?;

    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let store = store.clone();
        async move {
            let summary =
                funnel_rollup::handle(&store, &store, event.payload, chrono::Utc::now()).await?;
            Ok::<_, Error>(serde_json::to_value(summary)?)
        }
    }))
    .await
}
