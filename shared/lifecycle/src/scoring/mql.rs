//! The MQL decision: grade at or above G and score at or above S, or a hand raiser whose grade
//! is not below the floor. An incomplete lead (no e-mail) waits; a disqualified lead must be
//! recycled first. Once per cycle is the journey's rule: [`JourneyState::decide`] answers
//! "already reached" to a second MQL in the same cycle, and a recycled lead that qualifies
//! again starts a new cycle.

use super::{grade::GradeLetter, rules::MqlThresholds};
use crate::{
    transition::{Actor, Dimensions},
    CauseId, JourneyState, LeadId, Stage, StageEvent, StageOutcome, Timestamp, Transition,
};
use serde::{Deserialize, Serialize};

/// The actor id of an MQL made by the hand-raiser rule.
pub const HAND_RAISER_RULE: &str = "mql.hand_raiser";
/// The actor id of an MQL made by the grade and score thresholds.
pub const THRESHOLDS_RULE: &str = "mql.thresholds";

/// What the decision looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct MqlFacts {
    /// The lead's grade now.
    pub grade: GradeLetter,
    /// The MQL score now.
    pub score: f64,
    /// Whether the score crossed the threshold in the current cycle. In a new cycle (after a
    /// recycle) it must rise to the threshold from below after the cycle began; a score that
    /// stayed high does not qualify the lead again.
    pub score_crossed: bool,
    /// Whether the triggering activity asks for sales.
    pub hand_raiser: bool,
    /// The lead has no e-mail yet.
    pub incomplete: bool,
    /// The triggering event (the activity's id): the transition's cause.
    pub cause: CauseId,
    /// When the lead qualified (the score first reached the threshold, or the hand went up):
    /// the transition's `effective_at`.
    pub effective_at: Timestamp,
    /// When the decision is made.
    pub recorded_at: Timestamp,
    /// The rule-set version deciding.
    pub rule_version: u32,
    /// The lead's reporting dimensions now.
    pub dims: Dimensions,
}

/// The verdict of one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The lead became an MQL now.
    Mql,
    /// The conditions hold but the lead is already an MQL (or further) in this cycle.
    AlreadyMql,
    /// The conditions hold but the lead has no e-mail: it waits.
    WaitingForEmail,
    /// Neither the thresholds nor the hand-raiser rule are met.
    NotQualified,
    /// Grade and score are at their thresholds, but the score was there when the current
    /// cycle began and has not crossed the threshold since: a recycled lead qualifies again
    /// only by a new crossing.
    NotCrossedInCycle,
    /// The lead is disqualified; only a recycle lets it qualify again.
    Disqualified,
    /// The lead has not entered the journey yet.
    NotStarted,
}

/// Why a decision came out as it did: the inputs, the thresholds and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MqlTrace {
    /// When the decision was made.
    pub at: Timestamp,
    /// The activity that triggered it.
    pub cause: CauseId,
    /// When the lead qualified, if it did.
    pub effective_at: Timestamp,
    /// The rule-set version.
    pub rule_version: u32,
    /// The lead's grade.
    pub grade: GradeLetter,
    /// The grade needed.
    pub min_grade: GradeLetter,
    /// The MQL score.
    pub score: f64,
    /// The score needed.
    pub min_score: f64,
    /// Whether the trigger was a hand raiser.
    pub hand_raiser: bool,
    /// The grade a hand raiser needs.
    pub hand_raiser_floor: GradeLetter,
    /// Whether grade and score both met their thresholds (the score by crossing its threshold
    /// in the current cycle).
    pub thresholds_met: bool,
    /// Whether the hand-raiser rule was met.
    pub hand_raiser_met: bool,
    /// Whether the lead had no e-mail.
    pub incomplete: bool,
    /// The verdict.
    pub verdict: Verdict,
}

/// The result: the transition to append (when the verdict is [`Verdict::Mql`]) and the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct MqlDecision {
    /// The MQL transition.
    pub transition: Option<Transition>,
    /// Why.
    pub trace: MqlTrace,
}

/// Decides whether the lead becomes an MQL. Pure.
pub fn decide_mql(
    journey: &JourneyState,
    lead: &LeadId,
    facts: &MqlFacts,
    thresholds: &MqlThresholds,
) -> MqlDecision {
    let at_thresholds =
        facts.grade.at_least(thresholds.min_grade) && facts.score >= thresholds.min_score;
    let thresholds_met = at_thresholds && facts.score_crossed;
    let hand_raiser_met = facts.hand_raiser && facts.grade.at_least(thresholds.hand_raiser_floor);
    let mut trace = MqlTrace {
        at: facts.recorded_at,
        cause: facts.cause.clone(),
        effective_at: facts.effective_at,
        rule_version: facts.rule_version,
        grade: facts.grade,
        min_grade: thresholds.min_grade,
        score: facts.score,
        min_score: thresholds.min_score,
        hand_raiser: facts.hand_raiser,
        hand_raiser_floor: thresholds.hand_raiser_floor,
        thresholds_met,
        hand_raiser_met,
        incomplete: facts.incomplete,
        verdict: Verdict::NotQualified,
    };

    let (transition, verdict) = match journey.stage {
        _ if !(at_thresholds || hand_raiser_met) => (None, Verdict::NotQualified),
        None => (None, Verdict::NotStarted),
        Some(Stage::Disqualified) => (None, Verdict::Disqualified),
        _ if !(thresholds_met || hand_raiser_met) => (None, Verdict::NotCrossedInCycle),
        _ if facts.incomplete => (None, Verdict::WaitingForEmail),
        Some(_) => fire(journey, lead, facts, hand_raiser_met && !thresholds_met),
    };
    trace.verdict = verdict;
    MqlDecision { transition, trace }
}

fn fire(
    journey: &JourneyState,
    lead: &LeadId,
    facts: &MqlFacts,
    by_hand_raiser: bool,
) -> (Option<Transition>, Verdict) {
    let rule = if by_hand_raiser {
        HAND_RAISER_RULE
    } else {
        THRESHOLDS_RULE
    };
    let event = StageEvent {
        to: Stage::Mql,
        cause: facts.cause.clone(),
        actor: Actor::Rule {
            id: rule.to_owned(),
            version: facts.rule_version,
        },
        reason: None,
        effective_at: facts.effective_at,
        recorded_at: facts.recorded_at,
        dims: facts.dims.clone(),
    };
    match journey.decide(lead, &event) {
        Ok(StageOutcome::Applied(t)) if !t.late => (Some(t), Verdict::Mql),
        // A late fill-in, a repeat, or a refusal: the cycle has had its MQL.
        Ok(_) | Err(_) => (None, Verdict::AlreadyMql),
    }
}
