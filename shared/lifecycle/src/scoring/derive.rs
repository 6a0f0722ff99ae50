//! Derivation: turning activities into ledger entries under a rule set, with the caps per rule
//! and window handed out in the order things happened.
//!
//! Activities are taken in `(occurred_at, id)` order, the *activity key*. A cap's windows are
//! fixed buckets of time, so, taken in that order, the room a cap has left in a bucket depends
//! only on the activities before it in the same bucket. That is what lets the ledger grow one
//! activity at a time ([`Deriver::push`]): the state carried from one activity to the next is,
//! per capped rule, the bucket last seen and the points spent in it ([`CapSpend`]).

use super::{
    ledger::{EntryKind, LedgerEntry},
    RuleSet,
};
use crate::{Activity, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The order activities are derived in: by time, then by id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActivityKey {
    /// When the activity happened.
    pub occurred_at: Timestamp,
    /// Its id.
    pub id: String,
}

impl ActivityKey {
    /// The key of an activity.
    pub fn of(activity: &Activity) -> Self {
        Self {
            occurred_at: activity.occurred_at,
            id: activity.id.clone(),
        }
    }

    /// The key of the activity a ledger entry was derived from.
    pub fn of_entry(entry: &LedgerEntry) -> Self {
        Self {
            occurred_at: entry.occurred_at,
            id: entry.activity_id.clone(),
        }
    }
}

/// Whether `activity` comes after `key` in derivation order (every activity does when there is
/// no key yet). Compares without allocating.
pub(crate) fn after(activity: &Activity, key: Option<&ActivityKey>) -> bool {
    key.is_none_or(|k| (activity.occurred_at, activity.id.as_str()) > (k.occurred_at, &*k.id))
}

/// The points a capped rule has spent in one bucket of its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapSpend {
    /// The rule.
    pub rule_id: String,
    /// The bucket ([`super::rules::Window::bucket`]).
    pub bucket: i64,
    /// Points spent in it (in absolute value).
    pub spent: f64,
}

/// Derives entries one activity at a time, in activity-key order, keeping the cap state in
/// place: one [`CapSpend`] per capped rule, in rule order.
pub(crate) struct Deriver<'r, 'c> {
    rules: &'r RuleSet,
    email_domain: Option<&'r str>,
    caps: &'c mut Vec<CapSpend>,
}

/// The bucket of a cap that has seen nothing yet.
const NO_BUCKET: i64 = i64::MIN;

impl<'r, 'c> Deriver<'r, 'c> {
    /// A deriver whose caps start from `caps` (by rule id; a rule not listed has spent
    /// nothing), which it brings into rule order first if it is not.
    pub(crate) fn new(
        rules: &'r RuleSet,
        email_domain: Option<&'r str>,
        caps: &'c mut Vec<CapSpend>,
    ) -> Self {
        let capped = || rules.rules.iter().filter(|r| r.cap.is_some());
        let in_rule_order = caps.len() == capped().count()
            && caps
                .iter()
                .zip(capped())
                .all(|(c, rule)| c.rule_id == rule.id);
        if !in_rule_order {
            *caps = capped()
                .map(|rule| {
                    caps.iter()
                        .find(|c| c.rule_id == rule.id)
                        .cloned()
                        .unwrap_or_else(|| CapSpend {
                            rule_id: rule.id.clone(),
                            bucket: NO_BUCKET,
                            spent: 0.0,
                        })
                })
                .collect();
        }
        Self {
            rules,
            email_domain,
            caps,
        }
    }

    /// Appends the entries of `activity`, which must come after every activity pushed before.
    ///
    /// Known shortcoming: this runs at about 2 M activities a second, below the 5 M
    /// (which the fold meets): every activity is checked against every rule (attribute
    /// look-ups, numbers parsed from text) and each entry allocates three strings. Taking the
    /// allocations away alone measured 2-3 M; a rule index by activity kind with attributes
    /// parsed once would be next.
    pub(crate) fn push(&mut self, activity: &Activity, out: &mut Vec<LedgerEntry>) {
        let seconds = activity.occurred_at.timestamp();
        let mut capped = 0;
        for rule in &self.rules.rules {
            let slot = rule.cap.map(|cap| {
                capped += 1;
                (cap, capped - 1)
            });
            if !rule.matches(activity, self.email_domain) {
                continue;
            }
            let wanted = rule.points_for(activity);
            if wanted == 0.0 {
                continue;
            }
            let (points, capped_from) = match slot {
                None => (wanted, None),
                Some((cap, index)) => {
                    let state = &mut self.caps[index];
                    let bucket = cap.window.bucket(seconds);
                    if state.bucket != bucket {
                        state.bucket = bucket;
                        state.spent = 0.0;
                    }
                    let room = (cap.max_points - state.spent).max(0.0);
                    let granted = wanted.abs().min(room);
                    state.spent += granted;
                    let capped = (granted < wanted.abs()).then_some(wanted);
                    (granted.copysign(wanted), capped)
                }
            };
            out.push(LedgerEntry {
                activity_id: activity.id.clone(),
                rule_id: rule.id.clone(),
                rule_version: self.rules.version,
                score_name: self.rules.score_of(rule).to_owned(),
                points,
                occurred_at: activity.occurred_at,
                effective_at: activity.occurred_at
                    + chrono::TimeDelta::seconds(i64::from(rule.delay_seconds)),
                decay: self.rules.decay_of(rule),
                kind: EntryKind::Activity,
                capped_from,
            });
        }
    }
}

/// The activities in derivation order, each id once (its earliest copy).
pub(crate) fn in_order<'a>(
    activities: impl IntoIterator<Item = &'a Activity>,
) -> Vec<&'a Activity> {
    let mut ordered: Vec<&Activity> = activities.into_iter().collect();
    ordered.sort_by(|a, b| (a.occurred_at, &a.id).cmp(&(b.occurred_at, &b.id)));
    let mut seen = HashSet::with_capacity(ordered.len());
    ordered.retain(|a| seen.insert(a.id.as_str()));
    ordered
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
    let mut caps = Vec::new();
    let mut deriver = Deriver::new(rules, email_domain, &mut caps);
    let mut entries = Vec::with_capacity(activities.len());
    for activity in in_order(activities) {
        deriver.push(activity, &mut entries);
    }
    entries
}
