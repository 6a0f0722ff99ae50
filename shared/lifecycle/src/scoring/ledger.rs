//! The score ledger: one entry per activity and rule, and the fold that turns it into a score.

use super::{grade::Grade, mql::MqlTrace, rules::Decay, RuleSet};
use crate::{Activity, LeadId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Why an entry is in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryKind {
    /// A rule gave points for an activity.
    Activity,
    /// A rescore took back an earlier version's entry (same points negated, same timing and
    /// decay, so the pair sums to nothing at every time).
    Reversal {
        /// When the rescore ran.
        at: Timestamp,
        /// The version that replaced the reversed entry's.
        to_version: u32,
    },
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The activity that earned the points.
    pub activity_id: String,
    /// The rule that gave them.
    pub rule_id: String,
    /// The rule-set version of that rule.
    pub rule_version: u32,
    /// The named score they count toward.
    pub score_name: String,
    /// The points, after any cap.
    pub points: f64,
    /// When the activity happened.
    pub occurred_at: Timestamp,
    /// When the points start to count (`occurred_at` plus the rule's delay).
    pub effective_at: Timestamp,
    /// How the points lose value after `effective_at`.
    pub decay: Decay,
    /// Why the entry exists.
    pub kind: EntryKind,
    /// The rule's points before a cap cut them, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped_from: Option<f64>,
}

impl LedgerEntry {
    /// What the entry is worth at `t`: nothing before it counts, then its points times its
    /// decay factor.
    #[inline]
    pub fn value_at(&self, t: Timestamp) -> f64 {
        self.value_at_secs(t.timestamp())
    }

    #[inline]
    fn value_at_secs(&self, t: i64) -> f64 {
        let age = t - self.effective_at.timestamp();
        if age < 0 {
            return 0.0;
        }
        self.points * self.decay.factor(age as f64)
    }
}

/// The score named `score` at `t`: the sum of every entry's value at `t`. Pure; allocates
/// nothing.
pub fn score_at(entries: &[LedgerEntry], score: &str, t: Timestamp) -> f64 {
    let t = t.timestamp();
    let mut total = 0.0;
    for entry in entries {
        if entry.score_name == score {
            total += entry.value_at_secs(t);
        }
    }
    total
}

/// The ledger entries the rules give for a set of activities.
///
/// The result depends only on the set: activities are taken in `(occurred_at, id)` order and a
/// repeated id counts once (its earliest copy), so caps are handed out in the order things
/// happened whatever order they arrived in. `email_domain` is the lead's, for rules that look at
/// it (competitors).
pub fn derive(
    rules: &RuleSet,
    activities: &[Activity],
    email_domain: Option<&str>,
) -> Vec<LedgerEntry> {
    let mut ordered: Vec<&Activity> = activities.iter().collect();
    ordered.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    let mut seen = HashSet::with_capacity(activities.len());
    ordered.retain(|a| seen.insert(a.id.as_str()));

    let mut used: HashMap<(usize, i64), f64> = HashMap::new();
    let mut entries = Vec::new();
    for activity in ordered {
        for (index, rule) in rules.rules.iter().enumerate() {
            if !rule.matches(activity, email_domain) {
                continue;
            }
            let wanted = rule.points_for(activity);
            if wanted == 0.0 {
                continue;
            }
            let (points, capped_from) = match rule.cap {
                None => (wanted, None),
                Some(cap) => {
                    let bucket = cap.window.bucket(activity.occurred_at.timestamp());
                    let spent = used.entry((index, bucket)).or_insert(0.0);
                    let room = (cap.max_points - *spent).max(0.0);
                    let granted = wanted.abs().min(room);
                    *spent += granted;
                    let capped = (granted < wanted.abs()).then_some(wanted);
                    (granted.copysign(wanted), capped)
                }
            };
            entries.push(LedgerEntry {
                activity_id: activity.id.clone(),
                rule_id: rule.id.clone(),
                rule_version: rules.version,
                score_name: rules.score_of(rule).to_owned(),
                points,
                occurred_at: activity.occurred_at,
                effective_at: activity.occurred_at
                    + chrono::TimeDelta::seconds(i64::from(rule.delay_seconds)),
                decay: rules.decay_of(rule),
                kind: EntryKind::Activity,
                capped_from,
            });
        }
    }
    entries
}

/// When a negative entry stops taking points away.
fn expiry_of_negative(e: &LedgerEntry) -> Option<Timestamp> {
    match e.decay {
        Decay::Expire { days } if e.points < 0.0 => {
            let seconds = (days * 86_400.0).ceil() as i64;
            Some(e.effective_at + chrono::TimeDelta::seconds(seconds))
        }
        _ => None,
    }
}

/// A change of rule-set version recorded in a lead's ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rescore {
    /// The version before.
    pub from_version: u32,
    /// The version after.
    pub to_version: u32,
    /// When the rescore ran.
    pub at: Timestamp,
    /// Each named score at `at` before the change.
    pub before: BTreeMap<String, f64>,
    /// Each named score at `at` after the change.
    pub after: BTreeMap<String, f64>,
}

/// A lead's ledger as stored: the entries of the rule version in force, everything earlier
/// versions gave (with their reversals), the rescores, and the MQL traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreLedger {
    /// The lead.
    pub lead_id: LeadId,
    /// The rule-set version of `entries`.
    pub rule_version: u32,
    /// The entries of the version in force: [`derive`] of the lead's activities.
    pub entries: Vec<LedgerEntry>,
    /// The lead's grade when the ledger was last updated, with the rules that gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<Grade>,
    /// Entries of earlier versions, each followed by its reversal. Append-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<LedgerEntry>,
    /// Rule-version changes, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rescores: Vec<Rescore>,
    /// Why the lead did or did not become an MQL, one trace per decision that fired or
    /// changed its verdict, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mql_traces: Vec<MqlTrace>,
}

impl ScoreLedger {
    /// An empty ledger.
    pub fn new(lead_id: LeadId, rule_version: u32) -> Self {
        Self {
            lead_id,
            rule_version,
            grade: None,
            entries: Vec::new(),
            history: Vec::new(),
            rescores: Vec::new(),
            mql_traces: Vec::new(),
        }
    }

    /// The score named `score` at `t`: the fold of the whole ledger, history included.
    pub fn score_at(&self, score: &str, t: Timestamp) -> f64 {
        score_at(&self.history, score, t) + score_at(&self.entries, score, t)
    }

    /// The first time in `[since, until]` at which the score named `score` is at least
    /// `threshold`; `None` if it is not at `until` either.
    ///
    /// The moments looked at are `since`, every time an entry starts to count, and every time
    /// a negative entry expires: the moments the score can rise. A negative entry with a
    /// half-life makes the score rise slowly in between; such a crossing is found at the next
    /// of those moments, or at `until`.
    pub fn first_reaching(
        &self,
        score: &str,
        threshold: f64,
        since: Option<Timestamp>,
        until: Timestamp,
    ) -> Option<Timestamp> {
        let mut moments: Vec<Timestamp> = self
            .history
            .iter()
            .chain(&self.entries)
            .filter(|e| e.score_name == score)
            .flat_map(|e| [Some(e.effective_at), expiry_of_negative(e)])
            .flatten()
            .chain(since)
            .filter(|t| since.is_none_or(|s| *t >= s) && *t <= until)
            .collect();
        moments.sort_unstable();
        moments.dedup();
        moments
            .into_iter()
            .chain(std::iter::once(until))
            .find(|t| self.score_at(score, *t) >= threshold)
    }

    /// Every named score of `rules` at `t`.
    pub fn scores_at(&self, rules: &RuleSet, t: Timestamp) -> BTreeMap<String, f64> {
        rules
            .scores
            .iter()
            .map(|s| (s.name.clone(), self.score_at(&s.name, t)))
            .collect()
    }

    /// Brings the ledger up to date with the lead's activities under `rules`. When the rules'
    /// version differs from the ledger's, this is a rescore, recorded as such at `now`.
    pub fn update(
        &mut self,
        rules: &RuleSet,
        activities: &[Activity],
        email_domain: Option<&str>,
        now: Timestamp,
    ) -> Option<Rescore> {
        if rules.version != self.rule_version {
            return Some(self.rescore(rules, activities, email_domain, now));
        }
        self.entries = derive(rules, activities, email_domain);
        None
    }

    /// Re-derives the ledger under new rules without rewriting what the old ones gave: the old
    /// entries move to the history, each followed by its reversal, and the change of every
    /// named score at `at` is recorded.
    pub fn rescore(
        &mut self,
        rules: &RuleSet,
        activities: &[Activity],
        email_domain: Option<&str>,
        at: Timestamp,
    ) -> Rescore {
        let before = self.scores_at(rules, at);
        let reversal = EntryKind::Reversal {
            at,
            to_version: rules.version,
        };
        for entry in std::mem::take(&mut self.entries) {
            let mut undo = entry.clone();
            undo.points = -entry.points;
            undo.kind = reversal;
            self.history.push(entry);
            self.history.push(undo);
        }

        let from_version = self.rule_version;
        self.rule_version = rules.version;
        self.entries = derive(rules, activities, email_domain);
        let rescore = Rescore {
            from_version,
            to_version: rules.version,
            at,
            before,
            after: self.scores_at(rules, at),
        };
        self.rescores.push(rescore.clone());
        rescore
    }
}
