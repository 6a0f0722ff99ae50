//! The SLA timers Lambda: run every minute by the schedule, one sweep per invocation, the
//! `SlaBreaches` metric printed in embedded metric format. Logging first, the clients once per
//! cold start, then the runtime loop.

use aws_adapters::{Clients, DynamoStore, SqsQueue};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use sla_timers::Sweeper;
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
    let sweeper = Sweeper::new(store.clone(), store, queue);
    let stage = std::env::var("JOURNEY_STAGE").unwrap_or_else(|_| "default".to_owned());

    run(service_fn(|_: LambdaEvent<serde_json::Value>| {
        sweep(&sweeper, &stage)
    }))
    .await
}

async fn sweep(sweeper: &Sweeper, stage: &str) -> Result<(), Error> {
    let now = chrono::Utc::now();
    let report = sweeper.sweep(now).await?;
    // Embedded metric format is read from stdout, apart from the tracing lines.
    println!("{}", report.breaches_metric(stage, now));
    Ok(())
}
