//! The scoring sweep Lambda: every minute (a schedule), wake-ups of leads whose delayed points
//! started to count, and a few pages of a pending rescore ([`scoring::scheduled`]).

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    aws_adapters::logging::init();
    let scorer = scoring::wiring::scorer_from_env().await?;

    run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        let report = scoring::scheduled::sweep(&scorer, scorer.clock.now()).await?;
        Ok::<_, Error>(serde_json::json!({
            "wakes_due": report.wakes.due,
            "woken": report.wakes.woken,
            "rescore": report.rescore,
        }))
    }))
    .await
}
