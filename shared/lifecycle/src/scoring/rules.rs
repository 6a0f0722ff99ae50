//! The rule set: versioned, loaded from JSON, validated on load.
//!
//! One [`RuleSet`] holds everything scoring needs: the named scores and their decay, the score
//! rules (points per activity kind, with conditions, caps, delays), the grade rules and the MQL
//! thresholds. Its `version` is copied onto every ledger entry and grade it produces, so an
//! entry always says which rules gave it; changing any rule means a new version.

use super::{
    grade::{GradeLetter, GradeRules},
    pattern::Glob,
};
use crate::{Activity, ActivityKind};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt};

/// A versioned set of scoring and grading rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// The version, from 1; every change of any rule bumps it.
    pub version: u32,
    /// The named scores (e.g. one per product line).
    pub scores: Vec<ScoreDef>,
    /// The score the MQL decision uses.
    pub mql_score: String,
    /// Points per activity.
    pub rules: Vec<ScoreRule>,
    /// Fit.
    pub grade: GradeRules,
    /// When a lead becomes an MQL.
    pub mql: MqlThresholds,
}

/// One named score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreDef {
    /// The name, e.g. `mql` or `product_analytics`.
    pub name: String,
    /// How its points lose value, unless a rule says otherwise.
    #[serde(default)]
    pub decay: Decay,
    /// The lead's fit points (its grade's points) count toward this score too, as ledger
    /// entries of kind `fit` ([`super::ScoreLedger::refit`]): a strong fit needs less
    /// behaviour to reach the threshold, and a poor one more. The MQL's grade gate applies
    /// either way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fit: bool,
}

/// How points lose value with age (age counted from when they start to count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Decay {
    /// Points keep their value.
    #[default]
    None,
    /// Points halve every `days`.
    HalfLife {
        /// The half-life in days.
        days: f64,
    },
    /// Points count in full for `days`, then not at all.
    Expire {
        /// The lifetime in days.
        days: f64,
    },
}

const SECONDS_PER_DAY: f64 = 86_400.0;

impl Decay {
    /// The share of its points an entry keeps `age_seconds` after it started to count.
    #[inline]
    pub fn factor(self, age_seconds: f64) -> f64 {
        match self {
            Decay::None => 1.0,
            Decay::HalfLife { days } => (-age_seconds / (days * SECONDS_PER_DAY)).exp2(),
            Decay::Expire { days } => {
                if age_seconds < days * SECONDS_PER_DAY {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// Points for activities of some kinds that meet some conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRule {
    /// Stable id, shown in the ledger.
    pub id: String,
    /// The named score it feeds; the MQL score when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
    /// The activity kinds it applies to; empty means every kind.
    #[serde(default)]
    pub kinds: Vec<ActivityKind>,
    /// Further conditions, all of which must hold.
    #[serde(default)]
    pub when: Conditions,
    /// Points per matching activity (or per unit of `per`); negative points take value away.
    pub points: f64,
    /// Gives `points` for each whole unit of a numeric attribute instead of once ("1 point
    /// per minute on the site"); an activity without the attribute gets nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<Per>,
    /// At most this many points (in absolute value) per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Cap>,
    /// The points start to count this many seconds after the activity ("returns after an
    /// hour" gives nothing before the hour).
    #[serde(default)]
    pub delay_seconds: u32,
    /// Overrides the score's decay for this rule's points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay: Option<Decay>,
}

/// Conditions on an activity and its lead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Attribute name → glob its value must match, ignoring case (e.g. `path`: `/careers*`,
    /// `content_id`: `wp-42`, `campaign`: `spring-*`); `*` is any run of characters and `?`
    /// one character. A missing attribute fails.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Glob>,
    /// Attribute name → the least numeric value it must have (e.g. `seconds`: 120).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub at_least: BTreeMap<String, f64>,
    /// The lead's e-mail domain must be one of these (competitors, partners).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_domain_in: Vec<String>,
    /// The activity must (or must not) be a hand raiser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hand_raiser: Option<bool>,
}

/// Points per unit of a numeric attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Per {
    /// The attribute, e.g. `seconds`.
    pub attribute: String,
    /// The size of one unit, e.g. 60 for minutes when the attribute counts seconds.
    pub unit: f64,
}

/// A cap on a rule's points per window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    /// The most points (in absolute value) the rule gives in one window.
    pub max_points: f64,
    /// The window.
    pub window: Window,
}

/// A cap window. Hour and day windows are fixed UTC buckets (a day cap is per calendar day in
/// UTC), so the bucket of an activity depends on nothing but its own time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Window {
    /// Buckets of this many hours.
    Hours(u32),
    /// Buckets of this many days.
    Days(u32),
    /// The lead's whole life.
    Lifetime,
}

impl Window {
    /// The bucket an activity at `unix_seconds` falls in.
    pub fn bucket(self, unix_seconds: i64) -> i64 {
        let width = match self {
            Window::Hours(h) => i64::from(h.max(1)) * 3_600,
            Window::Days(d) => i64::from(d.max(1)) * 86_400,
            Window::Lifetime => return 0,
        };
        unix_seconds.div_euclid(width)
    }
}

/// The MQL thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqlThresholds {
    /// The grade must be at or above this…
    pub min_grade: GradeLetter,
    /// …and the MQL score at or above this.
    pub min_score: f64,
    /// A hand raiser becomes an MQL at once if its grade is not below this.
    pub hand_raiser_floor: GradeLetter,
}

/// Why a rule set was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleSetError {
    /// Not JSON of the expected shape.
    #[error("rule set is not valid JSON of the expected shape (line {line}, column {column}): {message}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// Well-formed but inconsistent; every problem found is listed.
    #[error("rule set is invalid: {}", Problems(.0))]
    Invalid(Vec<String>),
}

struct Problems<'a>(&'a [String]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// The largest MQL threshold a rule set may set.
pub const MAX_THRESHOLD: f64 = 1e9;
/// The most points, either way, one rule may give: sums of a ledger stay exact and finite.
pub const MAX_POINTS: f64 = 1e6;

impl RuleSet {
    /// Parses and validates a rule set.
    pub fn from_json(text: &str) -> Result<Self, RuleSetError> {
        let rules: RuleSet = serde_json::from_str(text).map_err(|e| RuleSetError::Parse {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        rules.validate()?;
        Ok(rules)
    }

    /// Checks what the types cannot: unique ids, known score names, finite positive numbers.
    pub fn validate(&self) -> Result<(), RuleSetError> {
        let mut problems = Vec::new();
        if self.version == 0 {
            problems.push("version must be 1 or more".to_owned());
        }
        self.check_scores(&mut problems);
        for (i, rule) in self.rules.iter().enumerate() {
            self.check_rule(i, rule, &mut problems);
        }
        self.grade.check(&mut problems);
        // Zero or less would make every lead at the grade an MQL, whatever it did; past a
        // billion no lead ever is one. Either is a typo, not a policy.
        let min_score = self.mql.min_score;
        if !(min_score > 0.0 && min_score <= MAX_THRESHOLD) {
            problems.push(format!(
                "mql.min_score must be a number above 0 and at most {MAX_THRESHOLD}"
            ));
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(RuleSetError::Invalid(problems))
        }
    }

    fn check_scores(&self, problems: &mut Vec<String>) {
        let mut seen = std::collections::BTreeSet::new();
        for (i, score) in self.scores.iter().enumerate() {
            if score.name.trim().is_empty() {
                problems.push(format!("scores[{i}].name is empty"));
            }
            if !seen.insert(score.name.as_str()) {
                problems.push(format!("scores[{i}].name {:?} is repeated", score.name));
            }
            check_decay(&format!("scores[{i}].decay"), score.decay, problems);
        }
        if !seen.contains(self.mql_score.as_str()) {
            problems.push(format!(
                "mql_score {:?} is not one of the scores",
                self.mql_score
            ));
        }
    }

    fn check_rule(&self, i: usize, rule: &ScoreRule, problems: &mut Vec<String>) {
        let at = format!("rules[{i}] ({:?})", rule.id);
        if rule.id.trim().is_empty() {
            problems.push(format!("rules[{i}].id is empty"));
        }
        if self.rules[..i].iter().any(|r| r.id == rule.id) {
            problems.push(format!("{at}: id is repeated"));
        }
        if let Some(score) = &rule.score {
            if !self.scores.iter().any(|s| &s.name == score) {
                problems.push(format!("{at}: score {score:?} is not one of the scores"));
            }
        }
        if !(rule.points.is_finite() && rule.points.abs() <= MAX_POINTS) {
            problems.push(format!(
                "{at}: points must be a number from -{MAX_POINTS} to {MAX_POINTS}"
            ));
        }
        if let Some(cap) = rule.cap {
            check_cap(&at, cap, problems);
        }
        if let Some(decay) = rule.decay {
            check_decay(&format!("{at}.decay"), decay, problems);
        }
        if let Some(per) = &rule.per {
            if !(per.unit.is_finite() && per.unit > 0.0) {
                problems.push(format!("{at}: per.unit must be a positive number"));
            }
        }
        if rule.when.at_least.values().any(|v| !v.is_finite()) {
            problems.push(format!("{at}: when.at_least values must be finite numbers"));
        }
    }

    /// The named score a rule feeds.
    pub fn score_of<'a>(&'a self, rule: &'a ScoreRule) -> &'a str {
        rule.score.as_deref().unwrap_or(&self.mql_score)
    }

    /// The decay a rule's points get.
    pub fn decay_of(&self, rule: &ScoreRule) -> Decay {
        let name = self.score_of(rule);
        rule.decay.unwrap_or_else(|| {
            self.scores
                .iter()
                .find(|s| s.name == name)
                .map_or(Decay::None, |s| s.decay)
        })
    }
}

fn check_cap(at: &str, cap: Cap, problems: &mut Vec<String>) {
    if !(cap.max_points.is_finite() && cap.max_points > 0.0) {
        problems.push(format!("{at}: cap.max_points must be a positive number"));
    }
    if matches!(cap.window, Window::Hours(0) | Window::Days(0)) {
        problems.push(format!("{at}: cap.window must be at least 1"));
    }
}

fn check_decay(at: &str, decay: Decay, problems: &mut Vec<String>) {
    let days = match decay {
        Decay::None => return,
        Decay::HalfLife { days } | Decay::Expire { days } => days,
    };
    if !(days.is_finite() && days > 0.0) {
        problems.push(format!("{at}: days must be a positive number"));
    }
}

impl ScoreRule {
    /// Whether the rule gives points for `activity` of a lead whose e-mail domain is
    /// `email_domain`.
    pub fn matches(&self, activity: &Activity, email_domain: Option<&str>) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&activity.kind))
            && self
                .when
                .hand_raiser
                .is_none_or(|h| h == activity.hand_raiser)
            && self.attributes_match(activity)
            && self.domain_matches(email_domain)
    }

    /// The points the rule gives `activity` before any cap (the caller checked it matches).
    pub fn points_for(&self, activity: &Activity) -> f64 {
        let Some(per) = &self.per else {
            return self.points;
        };
        let units = number(activity, &per.attribute).map_or(0.0, |v| (v / per.unit).floor());
        let points = self.points * units.max(0.0);
        // An absurd attribute (1e308 seconds) must not put an infinity in the ledger.
        if points.is_finite() {
            points
        } else {
            0.0
        }
    }

    fn attributes_match(&self, activity: &Activity) -> bool {
        let globs = self.when.attributes.iter().all(|(name, glob)| {
            activity
                .attributes
                .get(name)
                .is_some_and(|value| glob.matches(value))
        });
        globs
            && self
                .when
                .at_least
                .iter()
                .all(|(name, least)| number(activity, name).is_some_and(|v| v >= *least))
    }

    fn domain_matches(&self, email_domain: Option<&str>) -> bool {
        if self.when.email_domain_in.is_empty() {
            return true;
        }
        email_domain.is_some_and(|d| {
            self.when
                .email_domain_in
                .iter()
                .any(|listed| listed.eq_ignore_ascii_case(d))
        })
    }
}

/// A numeric attribute of an activity.
fn number(activity: &Activity, name: &str) -> Option<f64> {
    let value = activity.attributes.get(name)?.trim().parse::<f64>().ok()?;
    value.is_finite().then_some(value)
}
