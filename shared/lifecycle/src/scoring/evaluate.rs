//! One lead, one triggering activity: grade, ledger, scores and the MQL decision together.

use super::{
    decide_mql, FitFacts, Grade, MqlDecision, MqlFacts, Rescore, RuleSet, ScoreLedger, Verdict,
};
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

/// What asks for an evaluation: an activity, or a rescore under new rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// The cause of an MQL transition it leads to.
    pub cause: CauseId,
    /// When it happened: the MQL transition's `effective_at` when it is a hand raiser.
    pub occurred_at: Timestamp,
    /// Whether it asks for sales. (Any hand raiser among the lead's activities in the current
    /// cycle counts too, so a hand raised while the lead had no e-mail still counts once it
    /// has one.)
    pub hand_raiser: bool,
}

impl Trigger {
    /// An activity (which must be among the activities evaluated).
    pub fn activity(activity: &Activity) -> Self {
        Self {
            cause: cause_of(activity),
            occurred_at: activity.occurred_at,
            hand_raiser: is_hand_raiser(activity),
        }
    }

    /// The rescore of `lead` to rule-set `version`, run at `at`.
    pub fn rescore(lead: &crate::LeadId, version: u32, at: Timestamp) -> Self {
        Self {
            cause: CauseId::new(format!("rescore:{lead}:v{version}")),
            occurred_at: at,
            hand_raiser: false,
        }
    }
}

/// Grades `lead`, brings `ledger` up to date with `activities`, folds the scores at `now` and
/// decides on the MQL.
///
/// The MQL takes effect when the lead qualified, not when a message noticed it: when the score
/// first reached the threshold in the current cycle, or when the hand went up. The ledger is updated in place: entries, grade, and the trace when the
/// verdict changed.
pub fn evaluate(
    rules: &RuleSet,
    lead: &Lead,
    activities: &[Activity],
    ledger: &mut ScoreLedger,
    trigger: &Trigger,
    now: Timestamp,
) -> Evaluation {
    let facts = FitFacts::of(lead);
    let grade = rules.grade.grade(&facts, rules.version);
    let rescore = ledger.update(rules, activities, facts.email_domain, now);
    ledger.grade = Some(grade.clone());
    let scores = ledger.scores_at(rules, now);
    let mql_score = scores.get(&rules.mql_score).copied().unwrap_or(0.0);

    let since = cycle_start(lead);
    let hand_raised_at = activities
        .iter()
        .filter(|a| is_hand_raiser(a) && since.is_none_or(|s| a.occurred_at >= s))
        .map(|a| a.occurred_at)
        .min()
        .or(trigger.hand_raiser.then_some(trigger.occurred_at));
    let thresholds_met =
        grade.letter.at_least(rules.mql.min_grade) && mql_score >= rules.mql.min_score;
    let effective_at = if thresholds_met {
        ledger
            .first_reaching(&rules.mql_score, rules.mql.min_score, since, now)
            .unwrap_or(now)
    } else {
        hand_raised_at.unwrap_or(trigger.occurred_at)
    };
    // A lead that waited for its e-mail qualified when it became complete, which is no earlier
    // than the activity that finds it complete.
    let was_waiting = ledger
        .mql_traces
        .last()
        .is_some_and(|t| t.verdict == Verdict::WaitingForEmail);
    let effective_at = if was_waiting {
        effective_at.max(trigger.occurred_at)
    } else {
        effective_at
    };

    let mut dims = lead.dimensions();
    dims.grade = Some(grade.letter.to_string());
    let mql_facts = MqlFacts {
        grade: grade.letter,
        score: mql_score,
        hand_raiser: hand_raised_at.is_some(),
        incomplete: lead.is_incomplete(),
        cause: trigger.cause.clone(),
        effective_at,
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

/// When the lead's current cycle started, if an earlier one closed (a recycled lead): the MQL
/// of this cycle counts from then, and hand raisers before it do not count.
fn cycle_start(lead: &Lead) -> Option<Timestamp> {
    let cycle = lead.journey.current()?;
    cycle.entered_at(cycle.closed_by?)
}

/// Whether an activity asks for sales.
fn is_hand_raiser(activity: &Activity) -> bool {
    activity.hand_raiser || activity.kind == ActivityKind::DemoBooked
}

/// The cause id of the MQL transition an activity triggers.
pub fn cause_of(activity: &Activity) -> CauseId {
    CauseId::new(format!("scoring:{}", activity.id))
}
