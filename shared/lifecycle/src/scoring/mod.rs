//! Scoring: who the lead is (the **grade**), what the lead did (the **score**), and whether the
//! two together make an **MQL**.
//!
//! The score is a ledger, not a counter. Every activity that a rule gives points for becomes a
//! [`LedgerEntry`] naming the activity, the rule, the rule-set version, the named score it feeds,
//! the points, when they start to count and how they decay. The score at time `t` is
//! [`score_at`]: a pure fold of the ledger. Nothing else is ever stored as "the score" without
//! being that fold and saying the time it is for.
//!
//! The ledger of one rule-set version is a function of the *set* of a lead's activities:
//! [`derive`] takes them in `(occurred_at, id)` order and drops repeated ids before applying the
//! rules, so caps per window are handed out in the order things happened, not the order the
//! queue delivered them. An activity delivered twice, or late, gives the same ledger as the
//! clean sequence. The stored ledger grows with each activity instead of being derived again
//! ([`ScoreLedger::record`]): one that arrives in order is appended, a late one re-derives only
//! from its own place on, and a ledger past its bound carries its oldest entries in merged
//! lines (see [`ledger`]). A change of rules never rewrites an earlier version's entries: a
//! rescore ([`ScoreLedger::rescore`]) moves them to the ledger's history together with entries
//! that reverse them, and derives the entries of the new version.
//!
//! The MQL decision ([`decide_mql`]) is a pure function of the journey, the grade, the score and
//! the trigger; it returns the transition to append, if any, and a trace that says why. Firing
//! once per cycle is the journey's job ([`crate::JourneyState::decide`]); in a new cycle the
//! score must cross the threshold again ([`ScoreLedger::first_crossing`]).

pub mod derive;
mod evaluate;
pub mod grade;
pub mod ledger;
pub mod mql;
pub mod pattern;
pub mod rules;

pub use derive::{derive, ActivityKey};
pub use evaluate::{cause_of, evaluate, Evaluation, Trigger};
pub use grade::{FitFacts, Grade, GradeLetter, GradeRules};
pub use ledger::{score_at, Bounds, EntryKind, LedgerEntry, Rescore, ScoreLedger};
pub use mql::{decide_mql, MqlDecision, MqlFacts, MqlTrace, Verdict};
pub use rules::{Decay, RuleSet, RuleSetError, ScoreRule};

/// The rule set shipped with the product: a B2B points model and fit grade that a team edits
/// to taste. Parsed and validated by the tests, so it always loads.
pub const DEFAULT_RULES_JSON: &str = include_str!("default_rules.json");

/// The shipped rule set, parsed.
pub fn default_rules() -> RuleSet {
    // The file is part of the crate and a test loads it, so failing here is a build defect.
    RuleSet::from_json(DEFAULT_RULES_JSON).expect("the shipped default rules are valid")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
