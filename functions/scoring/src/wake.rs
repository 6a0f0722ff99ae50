//! Wake-ups: deciding again when the score rises with no activity arriving.
//!
//! A rule may count only after a delay ("returns after an hour"), and negative points may
//! expire; either makes the score rise by itself. The core records the next such time in the
//! ledger (`wake_at`) while the lead could still become an MQL. Every commit that changes it
//! also writes a *wake document* (`score_wake/<lead id>`), indexed by that time in the store's
//! due index, or deletes it; [`sweep_wakes`], run every minute by the scoring sweep
//! ([`crate::scheduled`]), evaluates the leads whose wake-up has come, as if an activity had
//! arrived, and writes the next one.
//!
//! Each wake-up is claimed as `scoring-wake:<lead>:<due>:<ledger version>`, so two sweeps that
//! overlap decide once, and a wake-up due again at the same time after the ledger changed is
//! still decided.

use crate::{documents, error::ScoringError, handler::build_commit};
use chrono::SecondsFormat;
use lifecycle::{
    scoring::{evaluate, RuleSet, Trigger},
    LeadId, Timestamp,
};
use ports::{CommitOutcome, Document, DocumentStore, DocumentWrite, Expect, JourneyStore, Queue};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

/// The collection of wake documents.
pub const WAKES: &str = "score_wake";
/// Wake-ups set aside because deciding them fails in a way retrying cannot fix (a wake or
/// ledger document that does not decode): keyed by lead, indexed by when they were parked.
pub const PARKED_WAKES: &str = "score_wake_parked";
/// Wake documents read per round of a sweep.
const BATCH: usize = 100;
/// Rounds per sweep, so one sweep ends even when many are due.
const MAX_ROUNDS: usize = 10;
/// Tries per wake-up (a concurrent activity moves the ledger) before leaving it to the next
/// sweep.
const MAX_ATTEMPTS: u32 = 3;

/// The body of a wake document: ids and a time only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wake {
    /// The lead.
    pub lead_id: LeadId,
    /// When the decision is due again.
    pub due: Timestamp,
}

/// The index value of a wake due at `at`: sortable text, as the SLA clocks use.
pub fn due_index(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The write that keeps `lead`'s wake document in step with its ledger, when the ledger's
/// `wake_at` changed from `before` to `after`. The ledger write in the same commit is
/// conditional, so the last commit to land wrote the wake document of the ledger that stands.
pub fn wake_write(
    lead: &LeadId,
    before: Option<Timestamp>,
    after: Option<Timestamp>,
) -> Option<DocumentWrite> {
    if before == after {
        return None;
    }
    Some(match after {
        Some(due) => DocumentWrite::Put {
            doc: Document {
                collection: WAKES.to_owned(),
                key: lead.as_str().to_owned(),
                version: 1,
                index: Some(due_index(due)),
                // Ids and a time: serialising cannot fail.
                body: serde_json::to_value(Wake {
                    lead_id: lead.clone(),
                    due,
                })
                .unwrap_or_default(),
                expires_at: None,
            },
            expect: Expect::Any,
        },
        None => DocumentWrite::Delete {
            collection: WAKES.to_owned(),
            key: lead.as_str().to_owned(),
            expect: Expect::Any,
        },
    })
}

/// What a sweep of wake-ups did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WakeReport {
    /// Wake-ups due and looked at.
    pub due: usize,
    /// Leads decided again.
    pub woken: usize,
    /// Of which became MQLs.
    pub mqls: usize,
    /// Wake-ups that failed and may succeed later (left due for the next sweep).
    pub failed: usize,
    /// Wake-ups that failed for good and were parked in [`PARKED_WAKES`], out of the way of
    /// the ones behind them.
    pub parked: usize,
}

/// Decides again every lead whose wake-up is due at `now`.
pub async fn sweep_wakes(
    store: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    queue: &dyn Queue,
    rules: &RuleSet,
    now: Timestamp,
) -> Result<WakeReport, ScoringError> {
    let upper = due_index(now);
    let mut report = WakeReport::default();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..MAX_ROUNDS {
        let due = docs.due(WAKES, &upper, BATCH).await?;
        let fresh: Vec<Document> = due
            .into_iter()
            .filter(|d| seen.insert(d.key.clone()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        for doc in fresh {
            report.due += 1;
            let span = tracing::info_span!("wake lead", lead_id = %doc.key);
            match wake_one(store, docs, queue, rules, &doc, now)
                .instrument(span.clone())
                .await
            {
                Ok(mql) => {
                    report.woken += 1;
                    report.mqls += usize::from(mql);
                }
                Err(e) if cannot_succeed(&e) => {
                    park(store, &doc, e.class(), now)
                        .instrument(span.clone())
                        .await?;
                    report.parked += 1;
                    let _entered = span.enter();
                    tracing::warn!(error.class = e.class(), error = %e, "wake-up parked; it cannot succeed as stored");
                }
                Err(e) => {
                    report.failed += 1;
                    let _entered = span.enter();
                    tracing::warn!(error.class = e.class(), error = %e, "wake-up failed; the next sweep tries again");
                }
            }
        }
    }
    Ok(report)
}

/// Decides one lead again; says whether it became an MQL.
async fn wake_one(
    store: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    queue: &dyn Queue,
    rules: &RuleSet,
    doc: &Document,
    now: Timestamp,
) -> Result<bool, ScoringError> {
    let wake: Wake = serde_json::from_value(doc.body.clone())
        .map_err(|e| ScoringError::CorruptLedger(LeadId::new(doc.key.clone()), e))?;
    for _ in 0..MAX_ATTEMPTS {
        let Some(lead) = store.lead(&wake.lead_id).await? else {
            // The lead is gone (never stored, or a test's leftover): nothing to decide.
            return forget(store, &wake.lead_id).await.map(|()| false);
        };
        let activities = store.activities(&lead.id).await?;
        let (mut ledger, version) = documents::load_ledger(docs, &lead.id, rules.version).await?;
        let trigger = Trigger::wake(&lead.id, wake.due);
        let eval = evaluate(rules, &lead, &activities, &mut ledger, &trigger, now);
        let mql = eval.decision.transition.is_some();
        let claim = format!(
            "scoring-wake:{}:{}:{version}",
            lead.id,
            wake.due.timestamp()
        );
        // The stored document says `wake.due`: write what the ledger says now.
        let write = wake_write(&lead.id, Some(wake.due), eval.wake_at);
        let mut commit = build_commit(
            claim,
            lead,
            eval,
            documents::put_ledger(&ledger, version),
            now,
        );
        commit.documents.extend(write);
        match store.commit(commit).await? {
            CommitOutcome::Committed => return Ok(mql),
            CommitOutcome::Duplicate { outbox, .. } => {
                queue.send(&outbox).await?;
                return Ok(false);
            }
            CommitOutcome::Conflict { what } => {
                tracing::debug!(%what, "conflicting write; deciding again from a fresh read")
            }
        }
    }
    Err(ScoringError::Contention(wake.lead_id, MAX_ATTEMPTS))
}

/// Whether a wake-up's failure is its own and for good: its documents do not decode. Rules that
/// cannot be read fail every wake-up alike and may be fixed by the next `PUT`: those stay due.
fn cannot_succeed(e: &ScoringError) -> bool {
    let about_the_rules = matches!(
        e,
        ScoringError::BadRules(_) | ScoringError::RulesUnavailable { .. }
    );
    !e.is_retryable() && !about_the_rules
}

/// Why and when a wake-up was parked, kept with the document it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedWake {
    /// The error class (`corrupt_ledger`, …): ids and codes only.
    pub reason: String,
    /// When it was parked.
    pub parked_at: Timestamp,
    /// The wake document's body as it was stored.
    pub wake: serde_json::Value,
}

/// Moves a wake-up that cannot succeed out of the due index, in one commit: its parked record,
/// and the wake document deleted if it is still the version that failed (a newer one, written
/// by the lead's next activity, stays due).
///
/// Without this, a hundred such wake-ups at the front of the index would be all that every
/// sweep reads. The next activity of the lead writes a fresh wake document if one is needed.
async fn park(
    store: &dyn JourneyStore,
    doc: &Document,
    reason: &str,
    now: Timestamp,
) -> Result<(), ScoringError> {
    let record = ParkedWake {
        reason: reason.to_owned(),
        parked_at: now,
        wake: doc.body.clone(),
    };
    let mut commit = ports::Commit::default();
    commit.documents.push(DocumentWrite::Put {
        doc: Document {
            collection: PARKED_WAKES.to_owned(),
            key: doc.key.clone(),
            version: 1,
            index: Some(due_index(now)),
            body: serde_json::to_value(record).unwrap_or_default(),
            expires_at: None,
        },
        expect: Expect::Any,
    });
    commit.documents.push(DocumentWrite::Delete {
        collection: WAKES.to_owned(),
        key: doc.key.clone(),
        expect: Expect::Version(doc.version),
    });
    // A conflict: the wake document changed meanwhile, and the new one is left due.
    store.commit(commit).await?;
    Ok(())
}

/// Deletes the wake document of a lead that no longer exists.
async fn forget(store: &dyn JourneyStore, lead: &LeadId) -> Result<(), ScoringError> {
    let mut commit = ports::Commit::default();
    commit
        .documents
        .extend(wake_write(lead, Some(Timestamp::MIN_UTC), None));
    store.commit(commit).await?;
    Ok(())
}
