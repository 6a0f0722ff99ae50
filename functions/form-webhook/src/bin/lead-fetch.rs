//! The `lead-fetch` Lambda: batches of the `lead_fetch` queue (Meta leads the webhook claimed
//! by id), each lead read from the Graph API and stored by
//! [`form_webhook::lead_fetch::handle_batch`], failures reported per record.
//!
//! Configuration: `PROVIDER_TOKENS` (a JSON object holding the `meta-leadgen` page access
//! token), `WEBHOOK_FORMS` (the per-form settings, as for the webhook; those stored through
//! `PUT /config/form_mappings` are laid over them, re-read at most once a minute),
//! `GRAPH_TIMEOUT_SECONDS` (optional, default 5), and the table and queues every function gets.

use aws_adapters::{lambda::SqsBatch, Clients, DynamoStore, SqsQueue};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use form_webhook::{
    graph::{self, GraphLeadFetcher},
    lead_fetch, Config, ConfigSource, Intake,
};
use http_notifier::JsonGetter;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use std::{sync::Arc, time::Duration};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_adapters::logging::init();

    let fetcher = graph_fetcher()?;
    let (intake, docs) = intake().await?;
    let config = ConfigSource::from(Config::from_env()?).with_stored_forms(docs);
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        handle(&intake, &fetcher, &config, event)
    }))
    .await
}

async fn handle(
    intake: &Intake,
    fetcher: &GraphLeadFetcher,
    config: &ConfigSource,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let batch = SqsBatch::from_event(event.payload);
    let records: Vec<(String, Option<String>)> = batch
        .deliveries
        .iter()
        .map(|d| (d.id.clone(), Some(d.body.clone())))
        .collect();
    let failed =
        lead_fetch::handle_batch(intake, fetcher, config, records, chrono::Utc::now()).await;
    Ok(batch.response(failed.iter().map(String::as_str)))
}

fn graph_fetcher() -> Result<GraphLeadFetcher, Error> {
    let tokens = std::env::var("PROVIDER_TOKENS").map_err(|_| "PROVIDER_TOKENS is not set")?;
    let token = graph::meta_token(&tokens)?;
    let timeout = std::env::var("GRAPH_TIMEOUT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(graph::DEFAULT_TIMEOUT, Duration::from_secs);
    Ok(GraphLeadFetcher::new(
        JsonGetter::new(timeout)?,
        graph::GRAPH_BASE,
        token,
    ))
}

/// The DynamoDB + SQS intake, as the webhook builds it: the fetched lead is committed the same
/// way, and its activity queued for scoring. Also the table as the document store the form
/// settings stored through the API are read from.
async fn intake() -> Result<(Intake, Arc<dyn ports::DocumentStore>), Error> {
    let clients = Clients::from_env().await?;
    let queue = Arc::new(SqsQueue::from_env(clients.sqs.clone()));
    let table = std::env::var("JOURNEY_TABLE").map_err(|_| "JOURNEY_TABLE is not set")?;
    let store = Arc::new(DynamoStore::new(clients.dynamodb, table, queue.clone()));
    Ok((Intake::new(store.clone(), queue), store))
}
