//! The queue handler: one activity message in, one atomic commit out.

use crate::{documents, error::ScoringError, wake};
use lifecycle::{
    funnel::counter_deltas,
    routing::RouteRequest,
    scoring::mql::HAND_RAISER_RULE,
    scoring::{evaluate, Evaluation, RuleSet, Trigger},
    sla::LeadKind,
    transition::Actor,
    Lead, LeadId, Timestamp, Transition,
};
use ports::{
    Clock, Commit, CommitOutcome, Delivery, DocumentStore, Expect, JourneyStore, LeadWrite,
    Message, Queue, QueueConsumer, QueueError, Topic,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::{field::Empty, Instrument};

/// How many times a record is re-read and re-decided after a conflicting write before it is
/// handed back to the queue.
const MAX_ATTEMPTS: u32 = 5;

/// The body of a message on the `activities` queue: ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityMessage {
    /// The lead the activity belongs to.
    pub lead_id: LeadId,
    /// The stored activity's id.
    pub activity_id: String,
}

/// What handling one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Scored and committed; `mql` says whether the lead became an MQL.
    Scored {
        /// The lead became an MQL.
        mql: bool,
    },
    /// The activity was scored before: nothing changed (its messages were sent again).
    Duplicate,
}

/// The results of one batch, by message id.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Messages handled (or found already handled).
    pub done: Vec<(String, RecordOutcome)>,
    /// Messages that failed, with why; the queue will deliver them again or dead-letter them.
    pub failed: Vec<(String, ScoringError)>,
}

/// The scoring handler and what it needs.
#[derive(Clone)]
pub struct Scorer {
    /// Leads, activities, commits.
    pub store: Arc<dyn JourneyStore>,
    /// Rules and ledgers.
    pub docs: Arc<dyn DocumentStore>,
    /// For re-sending the messages of a duplicate.
    pub queue: Arc<dyn Queue>,
    /// Now.
    pub clock: Arc<dyn Clock>,
}

impl Scorer {
    /// Handles a batch. Each record stands alone: one failure does not hold up the rest.
    pub async fn handle_batch(&self, deliveries: &[Delivery]) -> BatchReport {
        let mut report = BatchReport::default();
        let rules = match documents::load_rules(self.docs.as_ref()).await {
            Ok(rules) => rules,
            Err(e) => {
                tracing::error!(error.class = e.class(), "cannot load the scoring rules");
                let (class, retryable) = (e.class(), e.is_retryable());
                report.failed = deliveries
                    .iter()
                    .map(|d| {
                        (
                            d.id.clone(),
                            ScoringError::RulesUnavailable { class, retryable },
                        )
                    })
                    .collect();
                return report;
            }
        };

        for delivery in deliveries {
            match self.handle(&rules, delivery).await {
                Ok(outcome) => report.done.push((delivery.id.clone(), outcome)),
                Err(e) => report.failed.push((delivery.id.clone(), e)),
            }
        }
        report
    }

    /// Receives up to `max` messages of the `activities` queue, handles them, acknowledges the
    /// ones done and fails the others with their error class (the queue retries them, and
    /// dead-letters one that keeps failing). This is how the local runner drives the handler;
    /// in AWS, Lambda's event source mapping does the same through [`crate::sqs`].
    pub async fn poll_once(
        &self,
        consumer: &dyn QueueConsumer,
        max: usize,
        visibility_seconds: u32,
    ) -> Result<BatchReport, QueueError> {
        let deliveries = consumer
            .receive(Topic::Activities, max, visibility_seconds)
            .await?;
        let report = self.handle_batch(&deliveries).await;

        let receipt = |id: &str| deliveries.iter().find(|d| d.id == id).map(|d| &d.receipt);
        for (id, _) in &report.done {
            if let Some(r) = receipt(id) {
                consumer.ack(Topic::Activities, r).await?;
            }
        }
        for (id, error) in &report.failed {
            if let Some(r) = receipt(id) {
                consumer.fail(Topic::Activities, r, error.class()).await?;
            }
        }
        Ok(report)
    }

    /// Handles one message in its own span.
    pub async fn handle(
        &self,
        rules: &RuleSet,
        delivery: &Delivery,
    ) -> Result<RecordOutcome, ScoringError> {
        let span = tracing::info_span!(
            "score activity",
            message_id = %delivery.id,
            receive_count = delivery.receive_count,
            lead_id = Empty,
            activity = Empty,
        );
        let result = self.score(rules, delivery).instrument(span.clone()).await;
        let _entered = span.enter();
        match &result {
            Ok(outcome) => tracing::info!(?outcome, "activity scored"),
            Err(e) if e.is_retryable() => {
                tracing::warn!(error.class = e.class(), error = %e, "scoring failed; will retry")
            }
            Err(e) => tracing::error!(
                error.class = e.class(),
                error = %e,
                "poison message: failing it so the queue dead-letters it"
            ),
        }
        result
    }

    async fn score(
        &self,
        rules: &RuleSet,
        delivery: &Delivery,
    ) -> Result<RecordOutcome, ScoringError> {
        let message: ActivityMessage =
            serde_json::from_str(&delivery.body).map_err(ScoringError::Malformed)?;
        let span = tracing::Span::current();
        span.record("lead_id", message.lead_id.as_str());
        // Activity ids can be chosen by whoever posts to the tracking endpoint, so only a digest
        // of one reaches the log.
        span.record(
            "activity",
            crate::error::digest(&message.activity_id).as_str(),
        );

        for _ in 0..MAX_ATTEMPTS {
            let (commit, mql) = self.decide(rules, &message, self.clock.now()).await?;
            match self.store.commit(commit).await? {
                CommitOutcome::Committed => return Ok(RecordOutcome::Scored { mql }),
                CommitOutcome::Duplicate { outbox, .. } => {
                    self.queue.send(&outbox).await?;
                    return Ok(RecordOutcome::Duplicate);
                }
                CommitOutcome::Conflict { what } => {
                    tracing::debug!(%what, "conflicting write; deciding again from a fresh read")
                }
            }
        }
        Err(ScoringError::Contention(message.lead_id, MAX_ATTEMPTS))
    }

    /// Reads the lead's state and builds the commit that scores the activity; says whether it
    /// makes the lead an MQL.
    async fn decide(
        &self,
        rules: &RuleSet,
        message: &ActivityMessage,
        now: Timestamp,
    ) -> Result<(Commit, bool), ScoringError> {
        let lead = self
            .store
            .lead(&message.lead_id)
            .await?
            .ok_or_else(|| ScoringError::LeadMissing(message.lead_id.clone()))?;
        let activities = self.store.activities(&lead.id).await?;
        let trigger = activities
            .iter()
            .find(|a| a.id == message.activity_id)
            .ok_or_else(|| ScoringError::ActivityMissing {
                lead: lead.id.clone(),
                activity: message.activity_id.clone(),
            })?
            .clone();
        let (mut ledger, ledger_version) =
            documents::load_ledger(self.docs.as_ref(), &lead.id, rules.version).await?;
        let woke = ledger.wake_at;

        let trigger = Trigger::activity(&trigger);
        let eval = evaluate(rules, &lead, &activities, &mut ledger, &trigger, now);
        let mql = eval.decision.transition.is_some();
        let claim = format!("scoring:{}", message.activity_id);
        let wake = wake::wake_write(&lead.id, woke, eval.wake_at);
        let ledger = documents::put_ledger(&ledger, ledger_version);
        let mut commit = build_commit(claim, lead, eval, ledger, now);
        commit.documents.extend(wake);
        Ok((commit, mql))
    }
}

/// The commit of one evaluation: the claim, the lead's new grade and score as of `now` (and
/// journey), the ledger, and for an MQL the transition, its counters and the message to
/// routing. (The caller adds the wake document when the ledger's `wake_at` moved.)
pub(crate) fn build_commit(
    claim: String,
    mut lead: Lead,
    eval: Evaluation,
    ledger: ports::DocumentWrite,
    now: Timestamp,
) -> Commit {
    tracing::debug!(
        grade = %eval.grade.letter,
        score = eval.mql_score,
        verdict = ?eval.decision.trace.verdict,
        "evaluated"
    );
    let mut commit = Commit::claiming(claim, None);
    let read_version = lead.version;
    lead.grade = Some(eval.grade.letter.to_string());
    lead.score = Some(eval.mql_score);
    lead.score_as_of = Some(now);
    lead.updated_at = now;
    lead.version = read_version + 1;

    if let Some(t) = eval.decision.transition {
        lead.journey.push(&t);
        commit.counters = counter_deltas(&t);
        commit.outbox.push(mql_message(&t));
        commit.transitions.push(t);
    }
    commit.lead = Some(LeadWrite {
        lead,
        expect: Expect::Version(read_version),
        new_identities: Vec::new(),
    });
    commit.documents.push(ledger);
    commit
}

fn mql_message(t: &Transition) -> Message {
    let hand_raiser = matches!(&t.actor, Actor::Rule { id, .. } if id == HAND_RAISER_RULE);
    // Routing is asked for when scoring recorded the MQL, not when the lead qualified (which
    // may be earlier), so that an SLA clock never starts already breached.
    let body = RouteRequest {
        lead: t.lead_id.clone(),
        cycle: t.cycle,
        lead_kind: if hand_raiser {
            LeadKind::HandRaiser
        } else {
            LeadKind::Behavioural
        },
        requested_at: t.recorded_at,
        reassignment: None,
    };
    Message {
        topic: Topic::Mqls,
        id: format!("mql:{}:{}", t.lead_id, t.cycle),
        // Ids and numbers only: serialising cannot fail.
        body: serde_json::to_string(&body).unwrap_or_default(),
        delay_seconds: 0,
    }
}
