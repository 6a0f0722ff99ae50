//! Building the handler's dependencies from the environment, once per cold start: the
//! DynamoDB table named by `JOURNEY_TABLE` and the SQS queues named by the `JOURNEY_QUEUE_*`
//! variables the template sets (`JOURNEY_AWS_ENDPOINT` points both at a local emulator). This
//! is the only place that names an adapter; the local runner builds a [`Scorer`] over the
//! embedded store instead.

use crate::handler::Scorer;
use anyhow::Context;
use aws_adapters::{Clients, DynamoStore, SqsQueue};
use ports::SystemClock;
use std::sync::Arc;

/// The scorer over the AWS adapters the environment names.
pub async fn scorer_from_env() -> anyhow::Result<Scorer> {
    let clients = Clients::from_env().await?;
    let queue = Arc::new(SqsQueue::from_env(clients.sqs.clone()));
    let table = std::env::var("JOURNEY_TABLE").context("JOURNEY_TABLE is not set")?;
    let store = Arc::new(DynamoStore::new(
        clients.dynamodb.clone(),
        table,
        queue.clone(),
    ));

    Ok(Scorer {
        store: store.clone(),
        docs: store,
        queue,
        clock: Arc::new(SystemClock),
    })
}
