//! The `api` Lambda: API Gateway (HTTP API, JWT authorizer) → [`api::handle`].

use api::{auth::AuthMode, Deps};
use lambda_http::{run, service_fn, Error, Request};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();

    // TODO(api): build Deps on the DynamoDB + SQS adapters once `shared/aws` lands; until
    // then the function runs on an embedded store at JOURNEY_DB (default /tmp/journey.db).
    let path = std::env::var("JOURNEY_DB").unwrap_or_else(|_| "/tmp/journey.db".to_owned());
    let store = Arc::new(embedded::EmbeddedStore::open(path)?);
    let deps = Deps::on(store, Arc::new(ports::SystemClock), AuthMode::Jwt);

    run(service_fn(|req: Request| {
        let deps = &deps;
        async move { Ok::<_, Error>(api::handle(req, deps).await) }
    }))
    .await
}
