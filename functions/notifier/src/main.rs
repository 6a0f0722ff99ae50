//! The notifier Lambda: notices from the notifications queue, posted to the reps' and teams'
//! channels. Logging first, the store and the HTTPS client once per cold start, then the
//! runtime loop.

use aws_adapters::{Clients, DynamoStore, SqsQueue};
use http_notifier::HttpNotifier;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use notifier::Dispatcher;
use std::{sync::Arc, time::Duration};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_adapters::logging::init();

    let clients = Clients::from_env().await?;
    let queue = Arc::new(SqsQueue::from_env(clients.sqs.clone()));
    let table = std::env::var("JOURNEY_TABLE").map_err(|_| "JOURNEY_TABLE is not set")?;
    let store = Arc::new(DynamoStore::new(clients.dynamodb.clone(), table, queue));
    let timeout = std::env::var("NOTIFY_TIMEOUT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(http_notifier::DEFAULT_TIMEOUT, Duration::from_secs);
    let http = Arc::new(HttpNotifier::new(timeout)?);
    let dispatcher = Dispatcher::new(store.clone(), store, http);

    run(service_fn(|event: LambdaEvent<_>| {
        notifier::sqs::handle_event(&dispatcher, event)
    }))
    .await
}
