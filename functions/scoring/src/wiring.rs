//! Building the handler's dependencies from the environment.
//!
//! Known shortcoming: the DynamoDB + SQS adapters (`journey-aws`) have not landed yet, so the
//! Lambda binary runs on the embedded store at the path in `JOURNEY_DB` (default
//! `journey.db`). That is right for `cargo lambda watch` and the local stack; in AWS the store
//! must be swapped for the DynamoDB adapter here, the only place that names an adapter.

use crate::handler::Scorer;
use embedded::EmbeddedStore;
use ports::SystemClock;
use std::sync::Arc;

/// The scorer over the store the environment names.
pub async fn scorer_from_env() -> anyhow::Result<Scorer> {
    use anyhow::Context;

    let path = std::env::var("JOURNEY_DB").unwrap_or_else(|_| "journey.db".to_owned());
    let store = EmbeddedStore::open(&path).context("failed to open the embedded store")?;
    let store = Arc::new(store);
    Ok(Scorer {
        store: store.clone(),
        docs: store.clone(),
        queue: store,
        clock: Arc::new(SystemClock),
    })
}
