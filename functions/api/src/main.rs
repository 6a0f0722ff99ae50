//! The `api` Lambda: API Gateway (HTTP API, JWT authorizer) → [`api::handle`], on DynamoDB
//! (`JOURNEY_TABLE`) and SQS (`JOURNEY_QUEUE_<TOPIC>`).

use api::{auth::AuthMode, config::Registry, Deps};
use aws_adapters::{Clients, DynamoStore, SqsQueue};
use lambda_http::{run, service_fn, Error, Request};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_adapters::logging::init();

    let table = std::env::var("JOURNEY_TABLE").map_err(|_| "JOURNEY_TABLE is not set")?;
    let clients = Clients::from_env().await?;
    let queue = Arc::new(SqsQueue::from_env(clients.sqs));
    let store = Arc::new(DynamoStore::new(clients.dynamodb, table, queue.clone()));
    let deps = Deps {
        journey: store.clone(),
        documents: store,
        queue,
        clock: Arc::new(ports::SystemClock),
        auth: AuthMode::Jwt,
        config: Arc::new(Registry::default()),
    };

    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(api::handle(req, deps).await) }
    }))
    .await
}
