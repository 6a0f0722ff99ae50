//! Meta Lead Ads, second half: the webhook only queued a [`FetchRequest`] on
//! [`ports::Topic::LeadFetch`]; this handler reads the lead from the Graph API through the
//! [`LeadFetcher`] port and stores it like any submission.
//!
//! A failed fetch is returned as an error that says whether to retry: the queue then delivers
//! the message again (and, after its receive limit, moves it to the dead-letter queue), so a
//! Graph API outage loses no lead. The commit claims `meta-lead:<leadgen_id>`, so a duplicate
//! queue message changes nothing.

use crate::{
    config::{Config, ConfigSource},
    intake::{Intake, ItemOutcome},
    normalise::normalise,
    provider::{meta, FetchRequest, Provider},
    Timestamp,
};
use async_trait::async_trait;

/// Reads one lead from the provider's API.
#[async_trait]
pub trait LeadFetcher: Send + Sync {
    /// The raw JSON of `GET /{leadgen_id}`.
    async fn fetch(&self, leadgen_id: &str) -> Result<Vec<u8>, FetchError>;
}

/// Why a fetch or its storing failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The API could not be reached, throttled us, or answered 5xx: retry.
    #[error("lead source unavailable")]
    Unavailable,
    /// The lead does not exist or we may not read it: retrying will not help.
    #[error("lead not available: {0}")]
    Gone(&'static str),
    /// The queue message is not a fetch request: a bug, not retried.
    #[error("malformed lead-fetch message")]
    BadMessage,
    /// Storing failed.
    #[error("storing the fetched lead failed: {0}")]
    Store(#[from] crate::WebhookError),
}

impl FetchError {
    /// Whether the queue should deliver the message again.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Unavailable => true,
            FetchError::Store(e) => e.status() >= 500,
            FetchError::Gone(_) | FetchError::BadMessage => false,
        }
    }
}

/// Handles one `lead_fetch` message body.
pub async fn handle(
    intake: &Intake,
    fetcher: &dyn LeadFetcher,
    config: &Config,
    message_body: &str,
    now: Timestamp,
) -> Result<ItemOutcome, FetchError> {
    let request: FetchRequest =
        serde_json::from_str(message_body).map_err(|_| FetchError::BadMessage)?;
    let span = tracing::info_span!("lead fetch", provider = "meta-leadgen", delivery_key = %request.delivery_key);
    tracing::Instrument::instrument(
        fetch_and_store(intake, fetcher, config, &request, now),
        span,
    )
    .await
}

async fn fetch_and_store(
    intake: &Intake,
    fetcher: &dyn LeadFetcher,
    config: &Config,
    request: &FetchRequest,
    now: Timestamp,
) -> Result<ItemOutcome, FetchError> {
    let raw = fetcher.fetch(&request.leadgen_id).await?;
    let extracted =
        meta::parse_lead(&raw, request).map_err(|_| FetchError::Gone("unreadable lead"))?;
    let form = config.form(Provider::MetaLeadgen, extracted.form_id.as_deref());
    let submission = normalise(Provider::MetaLeadgen, &extracted, form, now);
    let claim = format!("meta-lead:{}", request.leadgen_id);
    let outcome = intake.store_submission(&submission, &claim, now).await?;
    tracing::info!(outcome = outcome.as_str(), "lead fetched");
    Ok(outcome)
}

/// Handles one batch of `lead_fetch` queue records, `(message id, body)`, one after the other,
/// and returns the ids of the records that failed: the queue delivers those again (partial batch
/// failure) and leaves the others done.
///
/// Every failure goes back, retryable or not: SQS has no call to move one message to its
/// dead-letter queue at once, and deleting a message whose lead could not be read (an expired
/// token, a lead we may not see) would lose the lead without a trace. A failure that retrying
/// cannot fix so costs `MaxReceives` receives before it reaches the dead-letter queue and its
/// alarm; `retryable` in the log line tells the two apart.
///
/// The batch is mapped with one configuration, `config`'s at `now`: the stored form settings
/// are read at most once a minute, as for the webhook.
pub async fn handle_batch(
    intake: &Intake,
    fetcher: &dyn LeadFetcher,
    config: &ConfigSource,
    records: impl IntoIterator<Item = (String, Option<String>)>,
    now: Timestamp,
) -> Vec<String> {
    let config = config.at(now).await;
    let mut failed = Vec::new();
    for (id, body) in records {
        let span = tracing::info_span!("lead fetch record", record = %id);
        let result = handle(
            intake,
            fetcher,
            &config,
            body.as_deref().unwrap_or_default(),
            now,
        );
        if let Err(e) = tracing::Instrument::instrument(result, span.clone()).await {
            let _entered = span.enter();
            tracing::warn!(error = %e, retryable = e.is_retryable(), "record failed");
            failed.push(id);
        }
    }
    failed
}
