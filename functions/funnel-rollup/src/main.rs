//! The funnel-rollup Lambda: logging, the DynamoDB store named by `JOURNEY_TABLE` (built once
//! per cold start) and the HTTPS notifier for scheduled reports, then the runtime loop. The
//! local runner calls the same library functions over the embedded store.

use aws_adapters::{Clients, DynamoStore, SqsQueue};
use http_notifier::HttpNotifier;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_adapters::logging::init();

    let clients = Clients::from_env().await?;
    let queue = Arc::new(SqsQueue::from_env(clients.sqs.clone()));
    let table = std::env::var("JOURNEY_TABLE").map_err(|_| "JOURNEY_TABLE is not set")?;
    let store = DynamoStore::new(clients.dynamodb, table, queue);
    let notifier = HttpNotifier::new(http_notifier::DEFAULT_TIMEOUT)?;

    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let store = store.clone();
        let notifier = notifier.clone();
        async move {
            let now = chrono::Utc::now();
            let summary =
                funnel_rollup::invoke(&store, &store, &notifier, event.payload, now).await?;
            Ok::<_, Error>(serde_json::to_value(summary)?)
        }
    }))
    .await
}
