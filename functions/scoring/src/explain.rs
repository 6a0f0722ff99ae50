//! Explain: a lead's ledger as the API shows it. Each entry with its rule, rule version, the
//! decay applied and what it is worth at the time asked about (fit points and carried lines
//! included); the scores that fold to; the grade with the rules that gave it; what compaction
//! dropped; the rescores; and the trace of every MQL decision that changed its verdict.

use crate::{documents, error::ScoringError};
use lifecycle::{
    scoring::{Grade, LedgerEntry, MqlTrace, Rescore, ScoreLedger},
    LeadId, Timestamp,
};
use ports::DocumentStore;
use serde::Serialize;
use std::collections::BTreeMap;

/// One ledger entry, explained at a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainedEntry {
    /// The entry as stored.
    #[serde(flatten)]
    pub entry: LedgerEntry,
    /// The share of its points it keeps at the time asked about (0 before it counts).
    pub decay_factor: f64,
    /// What it is worth then.
    pub value: f64,
}

/// A lead's ledger, explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The lead.
    pub lead_id: LeadId,
    /// The time the values are for.
    pub at: Timestamp,
    /// The rule-set version in force for the lead.
    pub rule_version: u32,
    /// Each named score at `at`: the sum of the entries' values.
    pub scores: BTreeMap<String, f64>,
    /// The grade and the rules that gave it.
    pub grade: Option<Grade>,
    /// Every entry: earlier versions and their reversals, fit points, carried lines, then the
    /// entries of the version in force.
    pub entries: Vec<ExplainedEntry>,
    /// The values are exact from this time on (a compacted ledger's carried lines); `None`:
    /// at every time.
    pub exact_from: Option<Timestamp>,
    /// Entries dropped when they were carried, being worth nothing for ever (capped to zero,
    /// expired).
    pub dropped_entries: u64,
    /// Old-version entries and their reversals dropped in pairs (each pair is worth nothing).
    pub dropped_history_pairs: u64,
    /// Rule-version changes.
    pub rescores: Vec<Rescore>,
    /// Why the lead did (or did not yet) become an MQL.
    pub mql_traces: Vec<MqlTrace>,
}

/// Explains a ledger at `at`.
pub fn explain(ledger: &ScoreLedger, at: Timestamp) -> Explanation {
    let entries: Vec<ExplainedEntry> = ledger
        .history
        .iter()
        .chain(&ledger.fit)
        .chain(&ledger.carried)
        .chain(&ledger.entries)
        .map(|e| {
            let age = (at - e.effective_at).num_seconds();
            ExplainedEntry {
                entry: e.clone(),
                decay_factor: if age < 0 {
                    0.0
                } else {
                    e.decay.factor(age as f64)
                },
                value: e.value_at(at),
            }
        })
        .collect();
    let names: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e.entry.score_name.as_str())
        .collect();

    Explanation {
        lead_id: ledger.lead_id.clone(),
        at,
        rule_version: ledger.rule_version,
        scores: names
            .into_iter()
            .map(|n| (n.to_owned(), ledger.score_at(n, at)))
            .collect(),
        grade: ledger.grade.clone(),
        entries,
        exact_from: ledger.derivation.carried_from,
        dropped_entries: ledger.derivation.dropped,
        dropped_history_pairs: ledger.history_dropped,
        rescores: ledger.rescores.clone(),
        mql_traces: ledger.mql_traces.clone(),
    }
}

/// Explains a stored lead's ledger; `None` when the lead was never scored.
pub async fn explain_lead(
    docs: &dyn DocumentStore,
    lead: &LeadId,
    at: Timestamp,
) -> Result<Option<Explanation>, ScoringError> {
    let (ledger, version) = documents::load_ledger(docs, lead, 0).await?;
    Ok((version > 0).then(|| explain(&ledger, at)))
}
