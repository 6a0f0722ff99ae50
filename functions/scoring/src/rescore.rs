//! The rescore job: every lead under a new rule-set version, a page of leads at a time.
//!
//! Nothing is rewritten: each lead's ledger records the change ([`ScoreLedger::rescore`] moves
//! the old entries to the history with their reversals and notes the score before and after).
//! A lead whose ledger is already at the version is left alone, and each lead's rescore is
//! claimed as `rescore:<lead>:v<version>`, so running the job again, or after a crash, changes
//! nothing twice. A lead the new rules push over the thresholds becomes an MQL, with the
//! rescore as its cause, effective when the rescore ran: the rules did not exist before, so
//! periods that closed before then keep their counts.
//!
//! Three ways start it: `journey rescore` runs all pages at once on the local store; the
//! scoring sweep ([`crate::scheduled`]) runs a few pages every minute after the rules in force
//! change (`PUT /config/scoring_rules`), keeping its place in a progress document so that it
//! resumes where it stopped; and any lead's next activity rescores that lead on the spot.
//!
//! [`ScoreLedger::rescore`]: lifecycle::scoring::ScoreLedger::rescore

use crate::{documents, error::ScoringError, handler::build_commit, wake};
use lifecycle::{
    scoring::{evaluate, RuleSet, Trigger},
    Lead, LeadId, Timestamp,
};
use ports::{CommitOutcome, DocumentStore, JourneyStore, Queue};

/// What a rescore run did.
#[derive(Debug, Default)]
pub struct RescoreReport {
    /// Leads looked at.
    pub leads: usize,
    /// Leads rescored now.
    pub rescored: usize,
    /// Leads already at the version (or rescored by an earlier run).
    pub unchanged: usize,
    /// Leads that became MQLs through the rescore.
    pub new_mqls: usize,
    /// Leads that failed, by id, with why; a later pass (or their next activity) picks them up.
    pub failed: Vec<(LeadId, ScoringError)>,
}

/// Rescores every lead under `rules`, `page_size` leads at a time.
#[tracing::instrument(name = "rescore all leads", skip_all, fields(version = rules.version))]
pub async fn rescore_all(
    store: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    queue: &dyn Queue,
    rules: &RuleSet,
    now: Timestamp,
    page_size: usize,
) -> Result<RescoreReport, ScoringError> {
    let mut report = RescoreReport::default();
    let mut cursor = None;
    loop {
        let next = rescore_page(
            store,
            docs,
            queue,
            rules,
            cursor,
            page_size,
            now,
            &mut report,
        )
        .await?;
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    tracing::info!(
        leads = report.leads,
        rescored = report.rescored,
        failed = report.failed.len(),
        "rescore done"
    );
    Ok(report)
}

/// Rescores one page of leads (from `cursor`, the store's listing cursor) into `report`, and
/// returns the cursor of the next page, `None` after the last.
#[allow(clippy::too_many_arguments)]
pub async fn rescore_page(
    store: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    queue: &dyn Queue,
    rules: &RuleSet,
    cursor: Option<String>,
    page_size: usize,
    now: Timestamp,
    report: &mut RescoreReport,
) -> Result<Option<String>, ScoringError> {
    let page = store.leads(cursor, page_size).await?;
    for lead in page.items {
        report.leads += 1;
        let id = lead.id.clone();
        match rescore_lead(store, docs, queue, rules, lead, now).await {
            Ok(Some(mql)) => {
                report.rescored += 1;
                report.new_mqls += usize::from(mql);
            }
            Ok(None) => report.unchanged += 1,
            Err(e) => {
                tracing::warn!(lead_id = %id, error.class = e.class(), "rescore failed");
                report.failed.push((id, e));
            }
        }
    }
    Ok(page.next)
}

/// Rescores one lead: `Some(became_mql)` when it was rescored now, `None` when there was
/// nothing to do.
async fn rescore_lead(
    store: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    queue: &dyn Queue,
    rules: &RuleSet,
    lead: Lead,
    now: Timestamp,
) -> Result<Option<bool>, ScoringError> {
    let (mut ledger, ledger_version) =
        documents::load_ledger(docs, &lead.id, rules.version).await?;
    if ledger_version > 0 && ledger.rule_version == rules.version {
        return Ok(None);
    }
    let activities = store.activities(&lead.id).await?;
    let woke = ledger.wake_at;

    let trigger = Trigger::rescore(&lead.id, rules.version, now);
    let eval = evaluate(rules, &lead, &activities, &mut ledger, &trigger, now);
    let mql = eval.decision.transition.is_some();
    let claim = format!("rescore:{}:v{}", lead.id, rules.version);
    let wake = wake::wake_write(&lead.id, woke, eval.wake_at);
    let write = documents::put_ledger(&ledger, ledger_version);
    let mut commit = build_commit(claim, lead, eval, write, now);
    commit.documents.extend(wake);
    match store.commit(commit).await? {
        CommitOutcome::Committed => Ok(Some(mql)),
        CommitOutcome::Duplicate { outbox, .. } => {
            queue.send(&outbox).await?;
            Ok(None)
        }
        // The lead changed meanwhile; its next activity brings it to the new version, or the
        // next pass does.
        CommitOutcome::Conflict { .. } => Err(ScoringError::Contention(ledger.lead_id.clone(), 1)),
    }
}
