//! The sweep: every minute, the clocks whose next wake-up has come climb their ladder.
//!
//! Clocks are found through the store's due-time index (`sla_clock` documents are indexed by
//! [`SlaClock::wake_index`]), never by a scan. Each step is its own commit: the step's
//! idempotency claim (`sla_step:<clock id>:<step>`), the clock marked with the step (and
//! stopped, when the step takes the lead away), and the step's effects: a notice, a route
//! request for the reassignment, or the lead moved to the overflow queue. So a step happens
//! once however many sweeps overlap: the second sweep's commit either finds the claim taken
//! (and re-sends the first one's messages, which their consumers dedupe) or finds the clock's
//! version moved (and re-reads it). A sweep that crashes between two steps leaves the clock
//! due, and the next sweep carries on from the step it had not done. The first breach step's
//! commit also stores the clock's outcome (breached), for the funnel's SLA compliance.

use chrono::SecondsFormat;
use lifecycle::{
    routing::{LeadFacts, LoadCounter, RouteRequest, RoutingConfig},
    sla::{ClockKind, EscalationStep, SlaClock, StepKind},
    Lead, RepId, Timestamp,
};
use ports::{
    Commit, CommitOutcome, DocumentStore, Expect, JourneyStore, LeadWrite, Message, Queue,
    QueueError, StoreError, Topic,
};
use routing::{
    docs::{self, OverflowEntry, Versioned},
    Notice, RoutingError,
};
use std::{collections::BTreeSet, sync::Arc};
use tracing::{debug, error, info, warn};

/// Clocks read per round of a sweep.
const BATCH: usize = 200;
/// Rounds per sweep, so that a burst of due clocks is cleared within the minute without one
/// sweep running forever on clocks that keep failing.
const MAX_ROUNDS: usize = 10;
/// Commits tried per clock (its steps, plus the races lost) before leaving it to the next sweep.
const MAX_TRIES: usize = 8;

/// A sweep failure.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The store failed.
    #[error("store failed")]
    Store(#[from] StoreError),
    /// The queue failed (re-sending a duplicate's messages).
    #[error("queue failed")]
    Queue(#[from] QueueError),
    /// A stored document could not be read or written.
    #[error("document access failed")]
    Document(#[from] RoutingError),
    /// Other sweeps kept changing the same clock.
    #[error("too many concurrent updates of one clock")]
    Contended,
}

impl SweepReport {
    /// The `SlaBreaches` metric as one line of CloudWatch embedded metric format (namespace
    /// `LeadJourney`, dimension `Stage`), for the Lambda to print to its log.
    pub fn breaches_metric(&self, stage: &str, at: Timestamp) -> String {
        serde_json::json!({
            "_aws": {
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": "LeadJourney",
                    "Dimensions": [["Stage"]],
                    "Metrics": [{ "Name": "SlaBreaches", "Unit": "Count" }],
                }],
            },
            "Stage": stage,
            "SlaBreaches": self.breaches,
        })
        .to_string()
    }
}

impl SweepError {
    /// Whether the next sweep may succeed where this one failed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SweepError::Store(e) => e.is_retryable(),
            SweepError::Queue(e) => e.is_retryable(),
            SweepError::Document(e) => e.is_retryable(),
            SweepError::Contended => true,
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Due clocks looked at.
    pub clocks: usize,
    /// Steps carried out by this sweep.
    pub steps: usize,
    /// Steps found already claimed by another sweep.
    pub duplicates: usize,
    /// Clocks that failed (left due for the next sweep).
    pub failed: usize,
    /// Clocks whose breach this sweep acted on first (the `SlaBreaches` metric). A breach step
    /// whose commit went through but whose answer was lost is not counted by anyone: the
    /// metric may undercount, never double count.
    pub breaches: usize,
}

/// The sweep's dependencies.
#[derive(Clone)]
pub struct Sweeper {
    journey: Arc<dyn JourneyStore>,
    docs: Arc<dyn DocumentStore>,
    queue: Arc<dyn Queue>,
}

/// A clock as read, with the index value it is stored under.
struct Stored {
    clock: Versioned<SlaClock>,
    index: Option<String>,
}

impl Sweeper {
    /// A sweeper over these ports.
    pub fn new(
        journey: Arc<dyn JourneyStore>,
        docs: Arc<dyn DocumentStore>,
        queue: Arc<dyn Queue>,
    ) -> Self {
        Self {
            journey,
            docs,
            queue,
        }
    }

    /// Carries out every step due at `now`.
    #[tracing::instrument(name = "sweep due SLA clocks", skip_all, err)]
    pub async fn sweep(&self, now: Timestamp) -> Result<SweepReport, SweepError> {
        let upper = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut report = SweepReport::default();
        let mut seen = BTreeSet::new();

        for _ in 0..MAX_ROUNDS {
            let due = self.docs.due(docs::SLA_CLOCK, &upper, BATCH).await?;
            let fresh: Vec<String> = due
                .iter()
                .map(|d| d.key.clone())
                .filter(|k| seen.insert(k.clone()))
                .collect();
            for key in &fresh {
                report.clocks += 1;
                self.escalate_logged(key, now, &mut report).await;
            }
            if due.len() < BATCH || fresh.is_empty() {
                break;
            }
        }
        info!(
            clocks = report.clocks,
            steps = report.steps,
            failed = report.failed,
            "sweep done"
        );
        Ok(report)
    }

    async fn escalate_logged(&self, key: &str, now: Timestamp, report: &mut SweepReport) {
        match self.escalate(key, now, report).await {
            Ok(()) => {}
            Err(e) if e.is_retryable() => {
                report.failed += 1;
                warn!(clock = %key, error = %e, "clock left for the next sweep");
            }
            Err(e) => {
                report.failed += 1;
                error!(clock = %key, error = %e, "clock cannot be escalated");
            }
        }
    }

    /// Climbs one clock's ladder as far as `now` allows, counting in `report` the steps done
    /// here and the ones found done by another sweep (as they happen, so a failure midway
    /// still reports the steps before it).
    async fn escalate(
        &self,
        key: &str,
        now: Timestamp,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        for _ in 0..MAX_TRIES {
            let Some(stored) = self.read(key).await? else {
                return Ok(());
            };
            let Some(step) = stored.clock.value.next_steps(now).into_iter().next() else {
                return self.fix_index(key, &stored).await;
            };

            let commit = self.step_commit(&stored.clock, &step, now).await?;
            match self.journey.commit(commit).await? {
                CommitOutcome::Committed => {
                    info!(clock = %key, step = %step.kind, "escalation step done");
                    report.steps += 1;
                    report.breaches +=
                        usize::from(first_breach_step(&stored.clock.value, step.kind));
                }
                CommitOutcome::Duplicate { outbox, .. } => {
                    self.queue.send(&outbox).await?;
                    report.duplicates += 1;
                }
                CommitOutcome::Conflict { what } => {
                    debug!(clock = %key, %what, "clock moved, re-reading")
                }
            }
        }
        Err(SweepError::Contended)
    }

    async fn read(&self, key: &str) -> Result<Option<Stored>, SweepError> {
        let Some(doc) = self.docs.get(docs::SLA_CLOCK, key).await? else {
            return Ok(None);
        };
        let index = doc.index.clone();
        let clock =
            serde_json::from_value(doc.body).map_err(|source| RoutingError::BadDocument {
                collection: docs::SLA_CLOCK.to_owned(),
                key: key.to_owned(),
                source,
            })?;
        Ok(Some(Stored {
            clock: Versioned {
                value: clock,
                version: doc.version,
            },
            index,
        }))
    }

    /// A clock with nothing left to do but still in the due index (stopped by a writer that
    /// kept its old index) is re-indexed, so the next sweeps stop finding it.
    async fn fix_index(&self, key: &str, stored: &Stored) -> Result<(), SweepError> {
        let wake = stored.clock.value.wake_index();
        if wake == stored.index {
            return Ok(());
        }
        let mut commit = Commit::default();
        commit
            .documents
            .push(stored.clock.write(docs::SLA_CLOCK, key, wake)?);
        // A conflict means someone else just wrote the clock, with an index of their own.
        self.journey.commit(commit).await?;
        Ok(())
    }

    /// The commit that carries out `step`: its claim, the clock marked, and its effects.
    async fn step_commit(
        &self,
        clock: &Versioned<SlaClock>,
        step: &EscalationStep,
        now: Timestamp,
    ) -> Result<Commit, SweepError> {
        let mut commit = Commit::claiming(format!("sla_step:{}", step.id), None);
        let mut next = clock.clone();
        next.value.mark_done(step.kind);
        if SlaClock::ends_with(step.kind) {
            next.value.stop(now);
        }
        let index = next.value.wake_index();
        commit
            .documents
            .push(next.write(docs::SLA_CLOCK, &clock.value.id, index)?);
        if next.value.outcome_recorded_by(Some(&clock.value)) {
            // The first breach step makes the outcome final: store it, grouped by the lead's
            // dimensions now (an erased or missing lead keeps only the rep and team).
            let lead = self.journey.lead(&clock.value.lead).await?;
            let dims = lead.map(|l| l.dimensions()).unwrap_or_default();
            commit.documents.extend(docs::outcome_writes(
                Some(&clock.value),
                &next.value,
                &dims,
                now,
            )?);
        }

        let c = &clock.value;
        match step.kind {
            StepKind::Remind => {
                if let Some(rep) = c.owner.clone() {
                    let notice = Notice::SlaReminder {
                        lead: c.lead.clone(),
                        clock: c.id.clone(),
                        rep,
                        due_at: c.due_at,
                    };
                    commit
                        .outbox
                        .push(notice.message(format!("notice:{}", step.id)));
                }
            }
            StepKind::NotifyManager => {
                let notice = Notice::SlaBreached {
                    lead: c.lead.clone(),
                    clock: c.id.clone(),
                    owner: c.owner.clone(),
                    due_at: c.due_at,
                };
                commit
                    .outbox
                    .push(notice.message(format!("notice:{}", step.id)));
            }
            StepKind::Reassign => commit.outbox.push(self.reassignment(c, step, now).await?),
            StepKind::Overflow => self.overflow(&mut commit, c, step, now).await?,
        }
        Ok(commit)
    }

    /// The route request that takes the lead from the clock's owner. Everyone who let a clock
    /// of this cycle lapse before is listed, so none of them gets the lead back.
    async fn reassignment(
        &self,
        clock: &SlaClock,
        step: &EscalationStep,
        now: Timestamp,
    ) -> Result<Message, SweepError> {
        let mut previous_owners = Vec::new();
        for earlier in 0..clock.reassignments {
            let key = format!(
                "{}:{}:{}:{earlier}",
                clock.lead,
                clock.cycle,
                ClockKind::RepResponse
            );
            if let Some(old) =
                docs::load::<SlaClock>(self.docs.as_ref(), docs::SLA_CLOCK, &key).await?
            {
                previous_owners.extend(old.value.owner);
            }
        }
        previous_owners.extend(clock.owner.clone());
        previous_owners.dedup();

        let request = RouteRequest {
            lead: clock.lead.clone(),
            cycle: clock.cycle,
            lead_kind: clock.lead_kind,
            requested_at: now,
            reassignment: Some(lifecycle::routing::Reassignment {
                attempt: clock.reassignments + 1,
                previous_owners,
                clock: clock.id.clone(),
            }),
        };
        let body = serde_json::to_string(&request).map_err(RoutingError::Encode)?;
        Ok(Message {
            topic: Topic::Mqls,
            id: step.id.clone(),
            body,
            delay_seconds: 0,
        })
    }

    /// Takes the lead from the clock's owner into the pool's overflow queue, if the owner still
    /// has it (otherwise the step only marks the clock).
    async fn overflow(
        &self,
        commit: &mut Commit,
        clock: &SlaClock,
        step: &EscalationStep,
        now: Timestamp,
    ) -> Result<(), SweepError> {
        let Some(lead) = self.journey.lead(&clock.lead).await? else {
            return Ok(());
        };
        if lead.owner != clock.owner || lead.journey.cycle() != clock.cycle {
            return Ok(());
        }
        let Some(config) =
            docs::load::<RoutingConfig>(self.docs.as_ref(), docs::CONFIG, docs::ROUTING_CONFIG)
                .await?
        else {
            return Err(RoutingError::NoConfig.into());
        };
        let Some(choice) = config.value.select_pool(&LeadFacts::from_lead(&lead)) else {
            return Err(RoutingError::NoConfig.into());
        };
        let pool = choice.pool;

        let entry = OverflowEntry {
            queue: pool.overflow_queue.clone(),
            pool: pool.id.clone(),
            lead: lead.id.clone(),
            cycle: clock.cycle,
            queued_at: now,
        };
        let index = Some(now.to_rfc3339_opts(SecondsFormat::Millis, true));
        let key = format!("{}:{}", entry.queue, lead.id);
        commit.documents.push(any_version(docs::put(
            docs::OVERFLOW,
            &key,
            &entry,
            0,
            index,
        )?));
        if let Some(owner) = &clock.owner {
            commit.documents.extend(self.closed_load(owner).await?);
        }
        commit.lead = Some(unowned(&lead, now));

        let notice = Notice::LeadOverflowed {
            lead: lead.id.clone(),
            cycle: clock.cycle,
            pool: pool.id.clone(),
            queue: entry.queue.clone(),
            manager: pool.manager.clone(),
        };
        commit
            .outbox
            .push(notice.message(format!("notice:{}", step.id)));
        Ok(())
    }

    async fn closed_load(&self, rep: &RepId) -> Result<Option<ports::DocumentWrite>, SweepError> {
        let found =
            docs::load::<LoadCounter>(self.docs.as_ref(), docs::REP_LOAD, rep.as_str()).await?;
        let Some(mut counter) = found else {
            return Ok(None);
        };
        counter.value.closed();
        Ok(Some(counter.write(docs::REP_LOAD, rep.as_str(), None)?))
    }
}

/// Whether `step` is the first step of `clock`'s breach (none of its breach steps done yet).
fn first_breach_step(clock: &SlaClock, step: StepKind) -> bool {
    let breach = |k: &StepKind| *k != StepKind::Remind;
    breach(&step) && !clock.steps_done.iter().any(breach)
}

/// An unconditional put: a lead may overflow again in a later cycle, replacing its old entry.
fn any_version(mut write: ports::DocumentWrite) -> ports::DocumentWrite {
    if let ports::DocumentWrite::Put { expect, .. } = &mut write {
        *expect = Expect::Any;
    }
    write
}

fn unowned(lead: &Lead, now: Timestamp) -> LeadWrite {
    let mut updated = lead.clone();
    updated.owner = None;
    updated.updated_at = now;
    updated.version = lead.version + 1;
    LeadWrite {
        lead: updated,
        expect: Expect::Version(lead.version),
        new_identities: Vec::new(),
    }
}
