//! The sweep: every minute, the clocks whose next wake-up has come climb their ladder.
//!
//! Clocks are found through the store's due-time index (`sla_clock` documents are indexed by
//! [`SlaClock::wake_index`]), never by a scan. Each step is its own commit (see [`crate::step`]):
//! the step's idempotency claim (`sla_step:<clock id>:<step>`), the clock marked with the step
//! (and stopped, when the step takes the lead away), and the step's effects. So a step happens
//! once however many sweeps overlap: the second sweep's commit either finds the claim taken
//! (and re-sends the first one's messages, which their consumers dedupe) or finds the clock's
//! version moved (and re-reads it). A sweep that crashes between two steps leaves the clock
//! due, and the next sweep carries on from the step it had not done. The first breach step's
//! commit also stores the clock's outcome (breached), for the funnel's SLA compliance.
//!
//! A sweep reads the due index a round of [`BATCH`] clocks at a time and escalates the clocks
//! of a round [`SweepLimits::concurrency`] at a time; clocks are independent, and each step is
//! a conditional commit, so running them side by side changes no outcome (two clocks of one
//! lead that touch the same document make one of the commits conflict and re-read). Each
//! round reads past the clocks this sweep has already looked at, so clocks that keep failing
//! never hide the ones behind them; a clock whose document cannot be read at all is parked
//! ([`crate::park`]): taken out of the index, with the reason stored for an operator.
//!
//! A sweep stops after [`SweepLimits::max_clocks`] clocks or once [`SweepLimits::time_budget`]
//! has passed, whichever comes first; what is left is due for the next sweep a minute later.
//! The default limits fit the Lambda's 50 s timeout with room to spare (see the crate README
//! for the measurement behind them).

use crate::{park, step};
use chrono::SecondsFormat;
use lifecycle::{sla::SlaClock, Timestamp};
use ports::{
    CommitOutcome, Document, DocumentStore, JourneyStore, Queue, QueueError, StoreError, MAX_PAGE,
};
use routing::{
    docs::{self, Versioned},
    RoutingError,
};
use std::{collections::HashSet, sync::Arc, time::Duration};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn, Instrument};

/// Clocks read from the due index per round.
pub const BATCH: usize = 200;
/// Clocks escalated at once by default: each waits on its own store round trips, so 16 in
/// flight divide a sweep's time by about 16 on DynamoDB (clocks of different leads seldom write
/// the same item: only overflows, to their rep's load counter, and the loser re-reads).
pub const CONCURRENCY: usize = 16;
/// Due clocks one sweep looks at, at most, by default. Measured against the emulator
/// (`examples/sweep_cost.rs`), a clock that breaches costs 5 requests one after the other (read
/// the lead, then per step one transaction and one SQS batch). At a pessimistic 50 ms a request
/// that is 250 ms a clock, so 16 in flight handle 64 clocks a second and 2,000 clocks fit in
/// [`TIME_BUDGET`]; at DynamoDB's usual 5-25 ms they take some 10 s.
pub const MAX_CLOCKS: usize = 2_000;
/// How long a sweep keeps starting new clocks: well inside the Lambda's 50 s timeout, so a
/// slow sweep ends cleanly and the next one, a minute later, carries on.
pub const TIME_BUDGET: Duration = Duration::from_secs(35);
/// Commits tried per clock (its steps, plus the races lost) before leaving it to the next sweep.
const MAX_TRIES: usize = 8;

/// How much one sweep does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepLimits {
    /// Due clocks looked at, at most.
    pub max_clocks: usize,
    /// Clocks escalated at once.
    pub concurrency: usize,
    /// No clock is started after this much wall time.
    pub time_budget: Duration,
}

impl Default for SweepLimits {
    fn default() -> Self {
        Self {
            max_clocks: MAX_CLOCKS,
            concurrency: CONCURRENCY,
            time_budget: TIME_BUDGET,
        }
    }
}

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
    /// The clock's own document does not decode: no sweep can ever act on it.
    #[error("clock {key} does not decode")]
    BadClock {
        /// The clock's key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Other sweeps kept changing the same clock.
    #[error("too many concurrent updates of one clock")]
    Contended,
}

impl SweepError {
    /// Whether the next sweep may succeed where this one failed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SweepError::Store(e) => e.is_retryable(),
            SweepError::Queue(e) => e.is_retryable(),
            SweepError::Document(e) => e.is_retryable(),
            SweepError::BadClock { .. } => false,
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
    /// Clocks that failed and were left due for the next sweep.
    pub failed: usize,
    /// Clocks that can never be acted on (their document does not decode), taken out of the
    /// due index and recorded in `sla_parked` (the `SlaClocksParked` metric).
    pub parked: usize,
    /// Clocks whose breach this sweep acted on first (the `SlaBreaches` metric). A breach step
    /// whose commit went through but whose answer was lost is not counted by anyone: the
    /// metric may undercount, never double count.
    pub breaches: usize,
}

impl SweepReport {
    /// Adds `other`'s counts to these.
    fn add(&mut self, other: &SweepReport) {
        self.clocks += other.clocks;
        self.steps += other.steps;
        self.duplicates += other.duplicates;
        self.failed += other.failed;
        self.parked += other.parked;
        self.breaches += other.breaches;
    }

    /// The `SlaBreaches` and `SlaClocksParked` metrics as one line of CloudWatch embedded
    /// metric format (namespace `LeadJourney`, dimension `Stage`), for the Lambda to print to
    /// its log.
    pub fn breaches_metric(&self, stage: &str, at: Timestamp) -> String {
        serde_json::json!({
            "_aws": {
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": "LeadJourney",
                    "Dimensions": [["Stage"]],
                    "Metrics": [
                        { "Name": "SlaBreaches", "Unit": "Count" },
                        { "Name": "SlaClocksParked", "Unit": "Count" },
                    ],
                }],
            },
            "Stage": stage,
            "SlaBreaches": self.breaches,
            "SlaClocksParked": self.parked,
        })
        .to_string()
    }
}

/// The sweep's dependencies.
#[derive(Clone)]
pub struct Sweeper {
    pub(crate) journey: Arc<dyn JourneyStore>,
    pub(crate) docs: Arc<dyn DocumentStore>,
    pub(crate) queue: Arc<dyn Queue>,
    limits: SweepLimits,
}

/// A clock as read, with the index value it is stored under.
pub(crate) struct Stored {
    pub(crate) clock: Versioned<SlaClock>,
    pub(crate) index: Option<String>,
}

impl Stored {
    /// Decodes a stored clock document.
    pub(crate) fn decode(doc: Document) -> Result<Self, SweepError> {
        let clock = serde_json::from_value(doc.body).map_err(|source| SweepError::BadClock {
            key: doc.key.clone(),
            source,
        })?;
        Ok(Stored {
            clock: Versioned {
                value: clock,
                version: doc.version,
            },
            index: doc.index,
        })
    }
}

impl Sweeper {
    /// A sweeper over these ports, with the default [`SweepLimits`].
    pub fn new(
        journey: Arc<dyn JourneyStore>,
        docs: Arc<dyn DocumentStore>,
        queue: Arc<dyn Queue>,
    ) -> Self {
        Self {
            journey,
            docs,
            queue,
            limits: SweepLimits::default(),
        }
    }

    /// The same sweeper with other limits.
    pub fn with_limits(mut self, limits: SweepLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Carries out every step due at `now`, within the sweep's limits.
    #[tracing::instrument(name = "sweep due SLA clocks", skip_all, err)]
    pub async fn sweep(&self, now: Timestamp) -> Result<SweepReport, SweepError> {
        let started = std::time::Instant::now();
        let report = self.sweep_clocks(now, started).await?;
        info!(
            clocks = report.clocks,
            steps = report.steps,
            failed = report.failed,
            parked = report.parked,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sweep done"
        );
        Ok(report)
    }

    /// The clocks due at `now`, a round at a time, until none is left or a limit is reached.
    async fn sweep_clocks(
        &self,
        now: Timestamp,
        started: std::time::Instant,
    ) -> Result<SweepReport, SweepError> {
        let upper = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut report = SweepReport::default();
        let mut seen = HashSet::new();
        while report.clocks < self.limits.max_clocks && started.elapsed() < self.limits.time_budget
        {
            // Clocks looked at this sweep may still be in the index (failed, or an index that
            // lags its writes), so ask for that many more than a round: the first `BATCH` not
            // yet seen are always among them.
            let want = (seen.len() + BATCH).min(MAX_PAGE);
            let due = self.docs.due(docs::SLA_CLOCK, &upper, want).await?;
            let exhausted = due.len() < want;
            let room = self.limits.max_clocks - report.clocks;
            let fresh: Vec<Document> = due
                .into_iter()
                .filter(|d| seen.insert(d.key.clone()))
                .take(room)
                .collect();
            if fresh.is_empty() {
                break;
            }
            report.add(&self.escalate_all(fresh, now).await);
            if exhausted {
                break;
            }
        }
        Ok(report)
    }

    /// Escalates `due` clocks, [`SweepLimits::concurrency`] at a time, each in its own task
    /// and span.
    async fn escalate_all(&self, due: Vec<Document>, now: Timestamp) -> SweepReport {
        let mut report = SweepReport::default();
        let mut tasks = JoinSet::new();
        let mut due = due.into_iter();
        loop {
            while tasks.len() < self.limits.concurrency.max(1) {
                let Some(doc) = due.next() else { break };
                let span = tracing::info_span!("escalate an SLA clock", clock = %doc.key);
                let this = self.clone();
                tasks.spawn(async move { this.escalate_logged(doc, now).await }.instrument(span));
            }
            match tasks.join_next().await {
                Some(Ok(one)) => report.add(&one),
                Some(Err(e)) => {
                    // A panic in one clock's task: the clock stays due; the others go on.
                    report.clocks += 1;
                    report.failed += 1;
                    error!(error = %e, "clock task failed");
                }
                None => return report,
            }
        }
    }

    /// One clock: its steps, or the reason it failed, counted in a report of its own.
    async fn escalate_logged(&self, doc: Document, now: Timestamp) -> SweepReport {
        let mut report = SweepReport {
            clocks: 1,
            ..SweepReport::default()
        };
        let key = doc.key.clone();
        let kept = doc.clone();
        match self.escalate(doc, now, &mut report).await {
            Ok(()) => {}
            Err(e @ SweepError::BadClock { .. }) => {
                self.park_logged(&kept, &e, now, &mut report).await;
            }
            Err(e) if e.is_retryable() => {
                report.failed += 1;
                warn!(clock = %key, error = %chain(&e), "clock left for the next sweep");
            }
            Err(e) => {
                report.failed += 1;
                error!(clock = %key, error = %chain(&e), "clock cannot be escalated");
            }
        }
        report
    }

    async fn park_logged(
        &self,
        doc: &Document,
        why: &SweepError,
        now: Timestamp,
        report: &mut SweepReport,
    ) {
        match park::park(self, doc, why, now).await {
            Ok(true) => {
                report.parked += 1;
                error!(clock = %doc.key, reason = %park::reason(why), "clock parked");
            }
            Ok(false) => debug!(clock = %doc.key, "clock changed meanwhile; not parked"),
            Err(e) => {
                report.failed += 1;
                warn!(clock = %doc.key, error = %chain(&e), "clock could not be parked");
            }
        }
    }

    /// Climbs one clock's ladder as far as `now` allows, starting from `first` (the document
    /// as the due index gave it), counting in `report` the steps done here and the ones found
    /// done by another sweep (as they happen, so a failure midway still reports the steps
    /// before it). After a step it goes on from the clock it wrote; after a lost race it reads
    /// the clock again.
    async fn escalate(
        &self,
        first: Document,
        now: Timestamp,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        let key = first.key.clone();
        let mut current = Some(Stored::decode(first)?);
        for _ in 0..MAX_TRIES {
            let stored = match current.take() {
                Some(stored) => stored,
                None => match self.read(&key).await? {
                    Some(stored) => stored,
                    None => return Ok(()),
                },
            };
            let Some(step) = stored.clock.value.next_steps(now).into_iter().next() else {
                return self.fix_index(&key, &stored).await;
            };

            let planned = step::plan(self, &stored.clock, &step, now).await?;
            match self.journey.commit(planned.commit).await? {
                CommitOutcome::Committed => {
                    info!(clock = %key, step = %step.kind, "escalation step done");
                    report.steps += 1;
                    report.breaches +=
                        usize::from(step::first_breach_step(&stored.clock.value, step.kind));
                    current = Some(planned.after);
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

    pub(crate) async fn read(&self, key: &str) -> Result<Option<Stored>, SweepError> {
        match self.docs.get(docs::SLA_CLOCK, key).await? {
            Some(doc) => Stored::decode(doc).map(Some),
            None => Ok(None),
        }
    }

    /// A clock with nothing left to do but still in the due index (stopped by a writer that
    /// kept its old index) is re-indexed, so the next sweeps stop finding it.
    async fn fix_index(&self, key: &str, stored: &Stored) -> Result<(), SweepError> {
        let wake = stored.clock.value.wake_index();
        if wake == stored.index {
            return Ok(());
        }
        let mut commit = ports::Commit::default();
        commit
            .documents
            .push(stored.clock.write(docs::SLA_CLOCK, key, wake)?);
        // A conflict means someone else just wrote the clock, with an index of their own.
        self.journey.commit(commit).await?;
        Ok(())
    }
}

/// `error` and its sources, so a log line says why the store failed, not only that it did.
/// Store and queue errors name operations and ids, never a lead's personal data.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
