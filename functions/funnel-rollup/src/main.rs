//! The funnel-rollup Lambda: logging, the DynamoDB store named by `JOURNEY_TABLE` (built once
//! per cold start), then the runtime loop. The local runner calls the same
//! [`funnel_rollup::handle`] over the embedded store.

use aws_adapters::{Clients, DynamoStore, SqsQueue};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();

    let clients = Clients::from_env().await;
    let queue = Arc::new(SqsQueue::from_env(clients.sqs.clone()));
    let table = std::env::var("JOURNEY_TABLE").map_err(|_| "JOURNEY_TABLE is not set")?;
    let store = DynamoStore::new(clients.dynamodb, table, queue);

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
