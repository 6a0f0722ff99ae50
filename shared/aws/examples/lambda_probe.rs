//! A stand-in Lambda that uses the AWS adapters the way an SQS-triggered function does (clients
//! built once, a lead read and a commit per record, partial batch failures), to measure what
//! the adapters cost in a function's arm64 bootstrap before the functions have their mains:
//!
//! ```text
//! infra/scripts/bootstrap-size.sh
//! ```

use aws_adapters::{Clients, DynamoStore, SqsQueue};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use lifecycle::LeadId;
use ports::{Commit, CommitOutcome, JourneyStore};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().init();
    let clients = Clients::from_env().await;
    let queue = Arc::new(SqsQueue::from_env(clients.sqs.clone()));
    let table = std::env::var("JOURNEY_TABLE")?;
    let store = DynamoStore::new(clients.dynamodb, table, queue);

    let store = &store;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let mut failures = Vec::new();
        for record in event.payload.records {
            let id = record.message_id.unwrap_or_default();
            if !handle(store, &id, record.body.as_deref().unwrap_or_default()).await {
                failures.push(BatchItemFailure {
                    item_identifier: id,
                });
            }
        }
        Ok::<_, Error>(SqsBatchResponse {
            batch_item_failures: failures,
        })
    }))
    .await
}

async fn handle(store: &DynamoStore, message_id: &str, lead_id: &str) -> bool {
    match store.lead(&LeadId::new(lead_id)).await {
        Ok(Some(_)) => matches!(
            store.commit(Commit::claiming(message_id, None)).await,
            Ok(CommitOutcome::Committed | CommitOutcome::Duplicate { .. })
        ),
        _ => false,
    }
}
