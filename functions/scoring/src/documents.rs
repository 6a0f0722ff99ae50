//! The documents scoring owns: the rule set in force (`config/scoring_rules`), every version
//! ever saved (`scoring_rules_history/v000002`, …), and one score ledger per lead
//! (`score_ledger/<lead id>`).
//!
//! Rule changes are versioned: [`save_rules`] accepts only the next version after the one in
//! force and keeps each version, so an entry's `rule_version` always names rules that can be
//! read back. Applying new rules to every lead is the rescore job ([`crate::rescore`]).

use crate::error::ScoringError;
use lifecycle::{
    scoring::{default_rules, RuleSet, RuleSetError, ScoreLedger},
    LeadId,
};
use ports::{
    Commit, CommitOutcome, Document, DocumentStore, DocumentWrite, Expect, JourneyStore, StoreError,
};

/// The collection of score ledgers.
pub const LEDGERS: &str = "score_ledger";
/// The configuration collection.
pub const CONFIG: &str = "config";
/// The key of the rule set in force.
pub const RULES_KEY: &str = "scoring_rules";
/// The collection that keeps every saved version of the rules.
pub const RULES_HISTORY: &str = "scoring_rules_history";

/// The rule set in force: the stored one, or the shipped defaults when none is stored.
pub async fn load_rules(docs: &dyn DocumentStore) -> Result<RuleSet, ScoringError> {
    let Some(doc) = docs.get(CONFIG, RULES_KEY).await? else {
        return Ok(default_rules());
    };
    let rules: RuleSet = serde_json::from_value(doc.body).map_err(|e| {
        ScoringError::BadRules(lifecycle::scoring::RuleSetError::Parse {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    })?;
    rules.validate().map_err(ScoringError::BadRules)?;
    Ok(rules)
}

/// A lead's ledger and the version it was stored at (0 when none is stored yet).
pub async fn load_ledger(
    docs: &dyn DocumentStore,
    lead: &LeadId,
    rule_version: u32,
) -> Result<(ScoreLedger, u64), ScoringError> {
    match docs.get(LEDGERS, lead.as_str()).await? {
        None => Ok((ScoreLedger::new(lead.clone(), rule_version), 0)),
        Some(doc) => {
            let ledger = serde_json::from_value(doc.body)
                .map_err(|e| ScoringError::CorruptLedger(lead.clone(), e))?;
            Ok((ledger, doc.version))
        }
    }
}

/// The write that stores `ledger` over the version read.
pub fn put_ledger(ledger: &ScoreLedger, read_version: u64) -> DocumentWrite {
    let expect = if read_version == 0 {
        Expect::Absent
    } else {
        Expect::Version(read_version)
    };
    DocumentWrite::Put {
        doc: Document {
            collection: LEDGERS.to_owned(),
            key: ledger.lead_id.as_str().to_owned(),
            version: read_version + 1,
            index: None,
            // A ledger is plain data (strings, numbers, timestamps): it always serialises.
            body: serde_json::to_value(ledger).unwrap_or_default(),
            expires_at: None,
        },
        expect,
    }
}

/// Why a rule set was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveRulesError {
    /// The rule set is invalid (every problem is listed).
    #[error(transparent)]
    Invalid(#[from] RuleSetError),
    /// Versions go up one at a time.
    #[error("rule set version must be {expected}, the next after the one in force")]
    WrongVersion {
        /// The version that would be accepted.
        expected: u32,
        /// The version given.
        got: u32,
    },
    /// Someone else saved rules meanwhile; read them again.
    #[error("the rules changed meanwhile; read them again")]
    Conflict,
    /// The rules in force could not be read.
    #[error("the rules in force could not be read")]
    Load(#[source] ScoringError),
    /// The store failed.
    #[error("store failed")]
    Store(#[from] StoreError),
}

/// Saves `rules` as the rule set in force, and in the history, if it is valid and its version
/// is the next one.
pub async fn save_rules(
    store: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    rules: &RuleSet,
) -> Result<(), SaveRulesError> {
    rules.validate()?;
    let current = load_rules(docs).await.map_err(SaveRulesError::Load)?;
    let expected = current.version + 1;
    if rules.version != expected {
        return Err(SaveRulesError::WrongVersion {
            expected,
            got: rules.version,
        });
    }

    let stored = docs.get(CONFIG, RULES_KEY).await?;
    let (version, expect) = match &stored {
        Some(doc) => (doc.version + 1, Expect::Version(doc.version)),
        None => (1, Expect::Absent),
    };
    let mut commit = Commit::default();
    commit
        .documents
        .push(rules_doc(CONFIG, RULES_KEY, rules, version, expect));
    commit.documents.push(history_write(rules));
    tracing::info!(version = rules.version, "saving scoring rules");
    match store.commit(commit).await? {
        CommitOutcome::Committed => Ok(()),
        CommitOutcome::Duplicate { .. } | CommitOutcome::Conflict { .. } => {
            Err(SaveRulesError::Conflict)
        }
    }
}

/// The write that keeps `rules` in the history under its own version; it fails the commit if
/// that version was kept already, so two saves of one version cannot both land.
pub fn history_write(rules: &RuleSet) -> DocumentWrite {
    let key = format!("v{:06}", rules.version);
    rules_doc(RULES_HISTORY, &key, rules, 1, Expect::Absent)
}

fn rules_doc(
    collection: &str,
    key: &str,
    rules: &RuleSet,
    version: u64,
    expect: Expect,
) -> DocumentWrite {
    DocumentWrite::Put {
        doc: Document {
            collection: collection.to_owned(),
            key: key.to_owned(),
            version,
            index: None,
            // Plain data with finite numbers (validated): it always serialises.
            body: serde_json::to_value(rules).unwrap_or_default(),
            expires_at: None,
        },
        expect,
    }
}
