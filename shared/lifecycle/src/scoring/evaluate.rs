//! One lead, one trigger (an activity, a rescore, or a wake-up when delayed points start to
//! count): grade, ledger, scores and the MQL decision together.

use super::{
    decide_mql, derive::ActivityKey, FitFacts, Grade, MqlDecision, MqlFacts, Rescore, RuleSet,
    ScoreLedger, Verdict,
};
use crate::{Activity, ActivityKind, CauseId, JourneyState, Lead, LeadId, Stage, Timestamp};
use std::collections::BTreeMap;

/// What scoring one trigger gives.
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
    /// When the decision must be taken again if nothing else happens (also in the ledger).
    pub wake_at: Option<Timestamp>,
}

/// What asks for an evaluation: an activity, a rescore under new rules, or a wake-up.
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
    /// The activity that arrived, when it is one: the ledger grows from it.
    pub arrived: Option<ActivityKey>,
}

impl Trigger {
    /// An activity (which must be among the activities evaluated).
    pub fn activity(activity: &Activity) -> Self {
        Self {
            cause: cause_of(activity),
            occurred_at: activity.occurred_at,
            hand_raiser: is_hand_raiser(activity),
            arrived: Some(ActivityKey::of(activity)),
        }
    }

    /// The rescore of `lead` to rule-set `version`, run at `at`.
    pub fn rescore(lead: &LeadId, version: u32, at: Timestamp) -> Self {
        Self {
            cause: CauseId::new(format!("rescore:{lead}:v{version}")),
            occurred_at: at,
            hand_raiser: false,
            arrived: None,
        }
    }

    /// The wake-up of `lead` due at `due` (the ledger's [`ScoreLedger::wake_at`]).
    pub fn wake(lead: &LeadId, due: Timestamp) -> Self {
        Self {
            cause: CauseId::new(format!("wake:{lead}:{}", due.timestamp())),
            occurred_at: due,
            hand_raiser: false,
            arrived: None,
        }
    }
}

/// Grades `lead`, brings `ledger` up to date with `activities`, folds the scores at `now` and
/// decides on the MQL.
///
/// The MQL takes effect when the lead qualified, not when a message noticed it: when the score
/// crossed the threshold in the current cycle (no earlier than the rules in force were adopted
/// for the lead, so a rescore never dates an MQL before the rules existed), or when the hand
/// went up. In a new cycle the score must cross from below after the cycle began. The ledger
/// is updated in place: entries, grade, the trace when the verdict changed, the next wake-up,
/// and compaction when it grew past its bound.
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
    let rescore = ledger.record(
        rules,
        activities,
        trigger.arrived.as_ref(),
        facts.email_domain,
        now,
    );
    // The facts graded came with the lead, so its first fit points count from its creation;
    // a later change of grade counts from now.
    let graded_at = if ledger.fit.is_empty() {
        lead.created_at.min(now)
    } else {
        now
    };
    ledger.refit(rules, &grade, graded_at);
    ledger.grade = Some(grade.clone());
    let scores = ledger.scores_at(rules, now);
    let mql_score = scores.get(&rules.mql_score).copied().unwrap_or(0.0);

    let since = cycle_start(lead);
    let open = can_qualify(&lead.journey);
    let at_thresholds =
        grade.letter.at_least(rules.mql.min_grade) && mql_score >= rules.mql.min_score;
    let crossing = (open && at_thresholds)
        .then(|| {
            let threshold = rules.mql.min_score;
            ledger.first_crossing(&rules.mql_score, threshold, since, since.is_some(), now)
        })
        .flatten()
        .map(|t| t.max(ledger.rules_adopted_at().unwrap_or(t)));
    let hand_raised_at = hand_raised_at(activities, since, trigger);
    let effective_at = crossing.unwrap_or(hand_raised_at.unwrap_or(trigger.occurred_at));
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
        score_crossed: crossing.is_some() || !open,
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
    let waits = open && decision.transition.is_none() && !lead.is_incomplete();
    ledger.wake_at = (waits && grade.letter.at_least(rules.mql.min_grade))
        .then(|| ledger.next_rise(&rules.mql_score, now))
        .flatten();
    ledger.compact(rules, now);
    Evaluation {
        grade,
        scores,
        mql_score,
        rescore,
        decision,
        wake_at: ledger.wake_at,
    }
}

/// The first hand raised in the current cycle, or the trigger's own.
fn hand_raised_at(
    activities: &[Activity],
    since: Option<Timestamp>,
    trigger: &Trigger,
) -> Option<Timestamp> {
    activities
        .iter()
        .filter(|a| is_hand_raiser(a) && since.is_none_or(|s| a.occurred_at >= s))
        .map(|a| a.occurred_at)
        .min()
        .or(trigger.hand_raiser.then_some(trigger.occurred_at))
}

/// Whether the lead can become an MQL now: it is new, or its last cycle was closed by a
/// recycle. (A disqualified lead must be recycled first; an MQL or later already has its MQL
/// in this cycle.)
fn can_qualify(journey: &JourneyState) -> bool {
    matches!(journey.stage, Some(Stage::New | Stage::Recycled))
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
