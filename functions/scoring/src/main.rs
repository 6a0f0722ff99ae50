//! The scoring Lambda: SQS `activities` → grade, score ledger, MQL decision.

use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let scorer = scoring::wiring::scorer_from_env().await?;

    run(service_fn(|event: LambdaEvent<_>| {
        scoring::sqs::handle_event(&scorer, event)
    }))
    .await
}
