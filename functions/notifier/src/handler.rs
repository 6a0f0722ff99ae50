//! The handler: one notice in, at most one message out.
//!
//! For each delivery: decode the notice; if its `notice_sent/<id>` document exists, it was
//! delivered before and is acknowledged; else look up the lead, the target and the brief,
//! render, and post with a few in-process tries ([`RetryPolicy`]). A successful post is then
//! recorded by writing `notice_sent/<id>` (only where absent), so a redelivery sends nothing.
//!
//! Known limit, the honest one of any outbound webhook: a crash (or a store failure) between
//! the POST and the write of `notice_sent/<id>` leaves the notice unrecorded, SQS delivers it
//! again, and the rep sees it twice. The receiver has no idempotency key to dedupe on (Slack's
//! incoming webhooks take none), so at-least-once is the best this side can promise; the
//! window is one store write wide.
//!
//! An assignment notice whose lead has another owner by now is dropped ([`Outcome::Stale`]).
//! A notice with no target anywhere (no rep channel, no team channel) is acknowledged and
//! counted ([`Outcome::NoTarget`]): retrying would not give it one. A failure is returned for
//! the queue to redeliver, and after `maxReceiveCount` receives it rests in the dead-letter
//! queue, where an operator can look; the assignment it announces is committed already.

use crate::{brief, error::NotifyFailure, render, targets};
use lifecycle::Timestamp;
use ports::{
    Commit, CommitOutcome, Delivery, Document, DocumentStore, DocumentWrite, Expect, JourneyStore,
    Notifier, NotifyError,
};
use routing::Notice;
use std::{sync::Arc, time::Duration};
use tracing::{field::Empty, info, warn, Instrument};

/// The collection recording delivered notices (key: the notice's message id).
pub const SENT: &str = "notice_sent";
/// How long a delivery record is kept: past SQS's longest retention (14 days), after which no
/// redelivery of the notice can arrive.
pub const SENT_TTL: chrono::Duration = chrono::Duration::days(15);

/// In-process tries of one delivery before the record is given back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all (at least 1).
    pub attempts: u32,
    /// The wait after the first failure; doubled after each one.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    /// Three tries, waiting 0.5 s and then 1 s: a blip is ridden out within the invocation,
    /// and an outage is left to the queue's redelivery.
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// What handling one notice did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Posted after this many tries.
    Delivered {
        /// Tries made.
        attempts: u32,
    },
    /// Delivered before; nothing sent.
    Duplicate,
    /// Nobody has a channel for it; acknowledged.
    NoTarget,
    /// The lead was reassigned before the notice was handled: telling the rep who lost it
    /// would send them after a lead that is no longer theirs.
    Stale,
}

/// What a batch did.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// `(delivery id, outcome)` of the notices handled.
    pub done: Vec<(String, Outcome)>,
    /// `(delivery id, failure)` of the notices to redeliver.
    pub failed: Vec<(String, NotifyFailure)>,
}

impl BatchReport {
    /// How many notices had no target.
    pub fn without_target(&self) -> usize {
        self.done
            .iter()
            .filter(|(_, o)| *o == Outcome::NoTarget)
            .count()
    }
}

/// The notifier's dependencies.
#[derive(Clone)]
pub struct Dispatcher {
    journey: Arc<dyn JourneyStore>,
    docs: Arc<dyn DocumentStore>,
    notifier: Arc<dyn Notifier>,
    retry: RetryPolicy,
}

impl Dispatcher {
    /// A dispatcher over these ports, with the default [`RetryPolicy`].
    pub fn new(
        journey: Arc<dyn JourneyStore>,
        docs: Arc<dyn DocumentStore>,
        notifier: Arc<dyn Notifier>,
    ) -> Self {
        Self {
            journey,
            docs,
            notifier,
            retry: RetryPolicy::default(),
        }
    }

    /// The same, with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Handles a batch, one span per delivery; failures are reported per delivery.
    pub async fn handle_batch(&self, deliveries: &[Delivery], now: Timestamp) -> BatchReport {
        let mut report = BatchReport::default();
        for delivery in deliveries {
            match self.handle(delivery, now).await {
                Ok(outcome) => report.done.push((delivery.id.clone(), outcome)),
                Err(e) => report.failed.push((delivery.id.clone(), e)),
            }
        }
        // An empty batch is a poll that found nothing (twice a second under `journey serve`):
        // worth a debug line, not an info line.
        if deliveries.is_empty() {
            tracing::debug!("notification batch empty");
        } else {
            info!(
                records = deliveries.len(),
                failed = report.failed.len(),
                without_target = report.without_target(),
                "notification batch handled"
            );
        }
        report
    }

    /// Handles one delivery in its own span.
    pub async fn handle(
        &self,
        delivery: &Delivery,
        now: Timestamp,
    ) -> Result<Outcome, NotifyFailure> {
        let span = tracing::info_span!(
            "deliver a notice",
            notice = %delivery.id,
            receive_count = delivery.receive_count,
            kind = Empty,
            lead = Empty,
        );
        let result = self.notify(delivery, now).instrument(span.clone()).await;
        let _entered = span.enter();
        match &result {
            Ok(outcome) => info!(?outcome, "notice handled"),
            Err(e) if e.is_retryable() => {
                warn!(error.class = e.class(), error = %e, "notice not delivered; the queue will retry")
            }
            Err(e) => tracing::error!(
                error.class = e.class(),
                error = %e,
                "notice cannot be delivered as it is; failing it towards the dead-letter queue"
            ),
        }
        result
    }

    async fn notify(&self, delivery: &Delivery, now: Timestamp) -> Result<Outcome, NotifyFailure> {
        let notice: Notice =
            serde_json::from_str(&delivery.body).map_err(NotifyFailure::BadMessage)?;
        let span = tracing::Span::current();
        span.record("kind", kind(&notice));
        span.record("lead", brief::lead_of(&notice).as_str());

        if self.docs.get(SENT, &delivery.id).await?.is_some() {
            return Ok(Outcome::Duplicate);
        }
        let lead_id = brief::lead_of(&notice);
        let lead = self
            .journey
            .lead(lead_id)
            .await?
            .ok_or_else(|| NotifyFailure::LeadMissing(lead_id.to_string()))?;
        if let Notice::LeadAssigned { rep, .. } = &notice {
            if lead.owner.as_ref() != Some(rep) {
                return Ok(Outcome::Stale);
            }
        }
        let Some(target) = targets::resolve(self.docs.as_ref(), &notice, &lead).await? else {
            return Ok(Outcome::NoTarget);
        };
        let brief =
            brief::gather(self.journey.as_ref(), self.docs.as_ref(), &notice, &lead).await?;
        let body = render::body(&target, &brief);

        let attempts = self.post(target.url(), &body).await?;
        self.record(delivery, &notice, now).await?;
        Ok(Outcome::Delivered { attempts })
    }

    /// Posts with the retry policy; the tries made.
    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<u32, NotifyFailure> {
        let mut wait = self.retry.backoff;
        let mut tried = 0;
        loop {
            tried += 1;
            match self.notifier.post(url, body).await {
                Ok(()) => return Ok(tried),
                Err(NotifyError::Refused(e)) => {
                    return Err(NotifyFailure::Refused(NotifyError::Refused(e)))
                }
                Err(e) if tried >= self.retry.attempts.max(1) => {
                    return Err(NotifyFailure::Undelivered {
                        attempts: tried,
                        source: e,
                    })
                }
                Err(e) => {
                    warn!(attempt = tried, error = %e, "post failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }

    /// Records the notice as delivered. A concurrent consumer that delivered it too loses the
    /// write (the document exists): the duplicate has happened, and there is nothing to undo.
    async fn record(
        &self,
        delivery: &Delivery,
        notice: &Notice,
        now: Timestamp,
    ) -> Result<(), NotifyFailure> {
        let doc = Document {
            collection: SENT.to_owned(),
            key: delivery.id.clone(),
            version: 1,
            index: None,
            body: serde_json::json!({ "kind": kind(notice), "sent_at": now }),
            expires_at: Some(now + SENT_TTL),
        };
        let commit = Commit {
            documents: vec![DocumentWrite::Put {
                doc,
                expect: Expect::Absent,
            }],
            ..Commit::default()
        };
        if let CommitOutcome::Conflict { .. } = self.journey.commit(commit).await? {
            warn!("notice was recorded as delivered by another consumer meanwhile");
        }
        Ok(())
    }
}

fn kind(notice: &Notice) -> &'static str {
    match notice {
        Notice::LeadAssigned { .. } => "lead_assigned",
        Notice::LeadOverflowed { .. } => "lead_overflowed",
        Notice::SlaReminder { .. } => "sla_reminder",
        Notice::SlaBreached { .. } => "sla_breached",
    }
}
