//! The routing Lambda: batches from the MQL queue, handled by [`Router`], failures reported
//! per record. Logging first, the clients once per cold start, then the runtime loop.

use aws_adapters::{Clients, DynamoStore, SqsQueue};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use routing::Router;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_adapters::logging::init();

    let clients = Clients::from_env().await?;
    let queue = Arc::new(SqsQueue::from_env(clients.sqs.clone()));
    let table = std::env::var("JOURNEY_TABLE")?;
    let store = Arc::new(DynamoStore::new(
        clients.dynamodb.clone(),
        table,
        queue.clone(),
    ));
    let router = Router::new(store.clone(), store, queue);

    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        handle(&router, event)
    }))
    .await
}

async fn handle(router: &Router, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let records = event
        .payload
        .records
        .into_iter()
        .map(|r| (r.message_id.unwrap_or_default(), r.body));
    let failed = router.handle_batch(records, chrono::Utc::now()).await;
    let batch_item_failures = failed
        .into_iter()
        .map(|item_identifier| BatchItemFailure { item_identifier })
        .collect();
    Ok(SqsBatchResponse {
        batch_item_failures,
    })
}
