//! One lead, one triggering activity: grade, ledger, scores and the MQL decision together.

use super::{decide_mql, FitFacts, Grade, MqlDecision, MqlFacts, Rescore, RuleSet, ScoreLedger};
use crate::{Activity, ActivityKind, CauseId, Lead, Timestamp};
use std::collections::BTreeMap;

/// What scoring one activity gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The lead's grade.
    pub grade: Grade,
    /// Every named score at `now`, folded from the updated ledger.
    pub scores: BTreeMap<String, f64>,
    /// The MQL score at `now`.
    pub mql_score: f64,
    /// The rescore this update was, when the ledger was under older rules.
    pub rescore: Option<Rescore>,
    /// The MQL decision and its trace.
    pub decision: MqlDecision,
}

/// Grades `lead`, brings `ledger` up to date with `activities` (which include `trigger`),
/// folds the scores at `now` and decides on the MQL. The ledger is updated in place, including
/// the trace when the verdict changed.
pub fn evaluate(
    rules: &RuleSet,
    lead: &Lead,
    activities: &[Activity],
    ledger: &mut ScoreLedger,
    trigger: &Activity,
    now: Timestamp,
) -> Evaluation {
    let facts = FitFacts::of(lead);
    let grade = rules.grade.grade(&facts, rules.version);
    let rescore = ledger.update(rules, activities, facts.email_domain, now);
    let scores = ledger.scores_at(rules, now);
    let mql_score = scores.get(&rules.mql_score).copied().unwrap_or(0.0);

    let mut dims = lead.dimensions();
    dims.grade = Some(grade.letter.to_string());
    let mql_facts = MqlFacts {
        grade: grade.letter,
        score: mql_score,
        hand_raiser: trigger.hand_raiser || trigger.kind == ActivityKind::DemoBooked,
        incomplete: lead.is_incomplete(),
        cause: cause_of(trigger),
        effective_at: trigger.occurred_at,
        recorded_at: now,
        rule_version: rules.version,
        dims,
    };
    let decision = decide_mql(&lead.journey, &lead.id, &mql_facts, &rules.mql);

    let changed = ledger.mql_traces.last().map(|t| t.verdict) != Some(decision.trace.verdict);
    if changed || decision.transition.is_some() {
        ledger.mql_traces.push(decision.trace.clone());
    }
    Evaluation {
        grade,
        scores,
        mql_score,
        rescore,
        decision,
    }
}

/// The cause id of the MQL transition an activity triggers.
pub fn cause_of(activity: &Activity) -> CauseId {
    CauseId::new(format!("scoring:{}", activity.id))
}
