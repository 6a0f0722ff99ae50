//! The documents scoring owns: the rule set in force (`config/scoring_rules`) and one score
//! ledger per lead (`score_ledger/<lead id>`).

use crate::error::ScoringError;
use lifecycle::{
    scoring::{default_rules, RuleSet, ScoreLedger},
    LeadId,
};
use ports::{Document, DocumentStore, DocumentWrite, Expect};

/// The collection of score ledgers.
pub const LEDGERS: &str = "score_ledger";
/// The configuration collection.
pub const CONFIG: &str = "config";
/// The key of the rule set in force.
pub const RULES_KEY: &str = "scoring_rules";

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
