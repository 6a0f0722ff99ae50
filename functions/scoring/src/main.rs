//! The scoring Lambda: SQS `activities` → grade, score ledger, MQL decision.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_adapters::logging::init();
    let scorer = scoring::wiring::scorer_from_env().await?;

    run(service_fn(|event: LambdaEvent<_>| {
        scoring::sqs::handle_event(&scorer, event)
    }))
    .await
}
