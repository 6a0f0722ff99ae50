//! The score ledger: one entry per activity and rule, and the fold that turns it into a score.
//!
//! A lead's [`ScoreLedger`] holds the entries of the rule-set version in force, in derivation
//! order ([`super::derive`]), with what is needed to grow it without starting over:
//!
//! * **In order**: an activity whose key comes after the last one derived is appended, its caps
//!   starting from the room recorded in [`Derivation::caps`]. Nothing before it is touched.
//! * **Out of order**: an activity that arrives late (or again) re-derives the ledger from its
//!   own key on: entries before it stay, the caps are rebuilt as they stood there, and the
//!   activities from there on are derived again. A repeated activity gives the same entries, so
//!   it changes nothing.
//! * **Bounded**: past [`Bounds::max_entries`] entries the oldest are *carried*
//!   ([`ScoreLedger::compact`]): entries worth nothing for ever (capped to zero, or expired) are
//!   dropped and counted, and the others are merged into one line per named score and decay,
//!   valued at the latest time any of them started to count. For a half-life, or no decay, that
//!   line is worth exactly what its entries are worth together at every later time (up to
//!   rounding); entries that expire after a fixed time cannot be merged and stay as they are
//!   until they expire. The fold of a compacted ledger is exact from
//!   [`Derivation::carried_from`] on; before that it undercounts, which is why the MQL decision
//!   never looks there. Old-version entries and their reversals (which sum to zero) are dropped
//!   in pairs past [`Bounds::max_history`].
//!
//! The fold ([`score_at`]) is a plain sum over the entries and is all that is ever called "the
//! score".

use super::{
    derive::{self, ActivityKey, CapSpend, Deriver},
    grade::{Grade, GradeLetter},
    mql::MqlTrace,
    rules::Decay,
    RuleSet,
};
use crate::{Activity, LeadId, Timestamp};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Older entries of one named score and decay merged into one line when the ledger grew
    /// past its bound: their points as they stood at `effective_at`, decaying on from there.
    Carried {
        /// How many entries the line holds.
        entries: u64,
    },
    /// The lead's fit points, for a score that counts them: the change of the grade's points
    /// since the previous fit entry, from when the lead was graded so.
    Fit {
        /// The grade then.
        grade: GradeLetter,
    },
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The activity that earned the points (empty for a carried line).
    pub activity_id: String,
    /// The rule that gave them (`carried` for a carried line).
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

    /// When the entry stops counting, if its decay is an expiry.
    pub fn expires_at(&self) -> Option<Timestamp> {
        match self.decay {
            Decay::Expire { days } => {
                let seconds = (days * 86_400.0).ceil() as i64;
                Some(self.effective_at + TimeDelta::seconds(seconds))
            }
            Decay::None | Decay::HalfLife { .. } => None,
        }
    }

    /// The moment this entry makes the score rise, if it does: a positive entry when it starts
    /// to count, a negative one when it expires.
    fn rise(&self) -> Option<Timestamp> {
        if self.points > 0.0 {
            Some(self.effective_at)
        } else if self.points < 0.0 {
            self.expires_at()
        } else {
            None
        }
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

/// A change of rule-set version recorded in a lead's ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rescore {
    /// The version before.
    pub from_version: u32,
    /// The version after.
    pub to_version: u32,
    /// When the rescore ran. An MQL the new rules cause takes effect no earlier.
    pub at: Timestamp,
    /// Each named score at `at` before the change.
    pub before: BTreeMap<String, f64>,
    /// Each named score at `at` after the change.
    pub after: BTreeMap<String, f64>,
}

/// Where derivation stands, so that the next activity can be appended instead of deriving the
/// whole ledger again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Derivation {
    /// The key of the last activity derived. `None` before any (and in a ledger stored before
    /// this was recorded, which is derived again in full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<ActivityKey>,
    /// The lead's e-mail domain the entries were derived with (competitor rules look at it); a
    /// change derives the ledger again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_domain: Option<String>,
    /// Cap room spent as of `through`, per capped rule, in its latest bucket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<CapSpend>,
    /// The key of the last activity whose entries were carried. A late activity before it
    /// derives the ledger again from all the activities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_through: Option<ActivityKey>,
    /// Cap room spent as of `carried_through`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carried_caps: Vec<CapSpend>,
    /// The carried lines are exact from this time on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_from: Option<Timestamp>,
    /// Entries dropped when they were carried because they were worth nothing for ever (capped
    /// to zero, or expired).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How large a ledger may grow before it is compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Above this many entries of the version in force, the oldest are carried…
    pub max_entries: usize,
    /// …until this many are left.
    pub keep_entries: usize,
    /// Above this many history entries (old versions and their reversals), the oldest pairs
    /// are dropped.
    pub max_history: usize,
}

impl Bounds {
    /// The bounds stored ledgers are kept within. An entry takes about 280 bytes of JSON, so
    /// 400 entries and 200 history entries stay far below DynamoDB's 400 KB item limit
    /// together with the carried lines, the traces and the rescores.
    pub const DEFAULT: Bounds = Bounds {
        max_entries: 400,
        keep_entries: 200,
        max_history: 200,
    };
}

/// A lead's ledger as stored: the entries of the rule version in force, everything earlier
/// versions gave (with their reversals), the rescores, and the MQL traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreLedger {
    /// The lead.
    pub lead_id: LeadId,
    /// The rule-set version of `entries`.
    pub rule_version: u32,
    /// The entries of the version in force after the carried ones, in derivation order.
    pub entries: Vec<LedgerEntry>,
    /// Older entries of the version in force, carried: merged lines, and entries that expire
    /// and could not be merged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carried: Vec<LedgerEntry>,
    /// Fit points for the scores that count them ([`ScoreLedger::refit`]): one entry per change
    /// of the grade's points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fit: Vec<LedgerEntry>,
    /// The lead's grade when the ledger was last updated, with the rules that gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<Grade>,
    /// Entries of earlier versions, each followed by its reversal. Append-only, except that
    /// the oldest pairs are dropped past [`Bounds::max_history`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<LedgerEntry>,
    /// History pairs (an entry and its reversal) dropped to keep the ledger bounded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub history_dropped: u64,
    /// Rule-version changes, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rescores: Vec<Rescore>,
    /// Why the lead did or did not become an MQL, one trace per decision that fired or
    /// changed its verdict, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mql_traces: Vec<MqlTrace>,
    /// Where derivation stands.
    #[serde(default)]
    pub derivation: Derivation,
    /// When the MQL decision must be taken again although no activity arrives: the next time
    /// delayed points start to count (or negative points expire) while the lead could still
    /// qualify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_at: Option<Timestamp>,
}

impl ScoreLedger {
    /// An empty ledger.
    pub fn new(lead_id: LeadId, rule_version: u32) -> Self {
        Self {
            lead_id,
            rule_version,
            grade: None,
            entries: Vec::new(),
            carried: Vec::new(),
            fit: Vec::new(),
            history: Vec::new(),
            history_dropped: 0,
            rescores: Vec::new(),
            mql_traces: Vec::new(),
            derivation: Derivation::default(),
            wake_at: None,
        }
    }

    /// The score named `score` at `t`: the fold of the whole ledger, history included.
    pub fn score_at(&self, score: &str, t: Timestamp) -> f64 {
        score_at(&self.history, score, t)
            + score_at(&self.fit, score, t)
            + score_at(&self.carried, score, t)
            + score_at(&self.entries, score, t)
    }

    /// Every named score of `rules` at `t`.
    pub fn scores_at(&self, rules: &RuleSet, t: Timestamp) -> BTreeMap<String, f64> {
        rules
            .scores
            .iter()
            .map(|s| (s.name.clone(), self.score_at(&s.name, t)))
            .collect()
    }

    /// The entries that make up the score (all but the history, whose pairs sum to nothing):
    /// fit, carried, then derived.
    pub fn in_force(&self) -> impl Iterator<Item = &LedgerEntry> {
        self.fit.iter().chain(&self.carried).chain(&self.entries)
    }

    /// Whether any entry was derived from activities (carried or not).
    fn has_derived(&self) -> bool {
        !(self.carried.is_empty() && self.entries.is_empty())
    }

    /// Brings the fit entries in line with `grade`: for each score of `rules`, the fit entries
    /// must add up to the grade's points when the score counts fit, and to nothing otherwise.
    /// A change is one more entry, worth the difference, counting from `at`; past scores are
    /// not rewritten. (The first entry of a lead may be dated at its creation by the caller:
    /// the facts graded came with it.)
    pub fn refit(&mut self, rules: &RuleSet, grade: &Grade, at: Timestamp) {
        for score in &rules.scores {
            let target = if score.fit { grade.points } else { 0.0 };
            let current: f64 = self
                .fit
                .iter()
                .filter(|e| e.score_name == score.name)
                .map(|e| e.points)
                .sum();
            if (target - current).abs() < 1e-9 {
                continue;
            }
            self.fit.push(LedgerEntry {
                activity_id: String::new(),
                rule_id: "fit".to_owned(),
                rule_version: grade.rule_version,
                score_name: score.name.clone(),
                points: target - current,
                occurred_at: at,
                effective_at: at,
                decay: Decay::None,
                kind: EntryKind::Fit {
                    grade: grade.letter,
                },
                capped_from: None,
            });
        }
    }

    /// When the current rules were adopted for this lead (its last rescore), if they replaced
    /// others.
    pub fn rules_adopted_at(&self) -> Option<Timestamp> {
        self.rescores.last().map(|r| r.at)
    }

    /// The first time in `(since, until]` (or at `since`) at which the score named `score`
    /// reached `threshold`; `None` if it did not.
    ///
    /// With `from_below`, the score must *cross*: it must be below the threshold at some time
    /// at or after `since` first (a recycled lead whose score stayed high does not qualify
    /// again by standing still).
    ///
    /// The times looked at are `since`, the moments the score can rise (an entry starting to
    /// count, a negative one expiring) and `until`; a dip below the threshold is looked for
    /// just before each of those. Between them positive points only decay, so a dip there
    /// shows just before the next rise. (A negative entry decaying with a *different*
    /// half-life than the positive ones can make the score dip and recover between two such
    /// moments; that dip is not seen.) A compacted ledger is looked at only from
    /// [`Derivation::carried_from`] on.
    pub fn first_crossing(
        &self,
        score: &str,
        threshold: f64,
        since: Option<Timestamp>,
        from_below: bool,
        until: Timestamp,
    ) -> Option<Timestamp> {
        let lower = since.max(self.derivation.carried_from);
        let mut moments: Vec<Timestamp> = self
            .in_force()
            .filter(|e| e.score_name == score)
            .flat_map(|e| {
                [
                    Some(e.effective_at),
                    e.expires_at().filter(|_| e.points < 0.0),
                ]
            })
            .flatten()
            .filter(|t| lower.is_none_or(|l| *t > l) && *t <= until)
            .chain(std::iter::once(until))
            .collect();
        moments.sort_unstable();
        moments.dedup();

        let at = |t: Timestamp| self.score_at(score, t);
        let mut below = match lower {
            Some(l) if at(l) >= threshold && !from_below => return Some(l),
            Some(l) => at(l) < threshold,
            None => true,
        };
        let second = TimeDelta::seconds(1);
        for m in moments {
            if !below && lower.is_none_or(|l| m - second >= l) && at(m - second) < threshold {
                below = true;
            }
            if at(m) >= threshold {
                if below || !from_below {
                    return Some(m);
                }
            } else {
                below = true;
            }
        }
        None
    }

    /// The next time after `after` at which the score named `score` rises by itself: delayed
    /// points start to count, or negative points expire.
    pub fn next_rise(&self, score: &str, after: Timestamp) -> Option<Timestamp> {
        self.in_force()
            .filter(|e| e.score_name == score)
            .filter_map(LedgerEntry::rise)
            .filter(|t| *t > after)
            .min()
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
        self.record(rules, activities, None, email_domain, now)
    }

    /// Like [`update`](Self::update), for the arrival of `arrived` (one of `activities`): when
    /// it comes after everything derived so far it is appended; when it comes earlier (late,
    /// or delivered again), the ledger is derived again from its key on.
    ///
    /// Known shortcoming: activity ids are taken to be unique per lead (the store keeps an
    /// activity's first write); a new id is not looked for among the activities already
    /// derived, where a copy with another time would, in a full derivation, have counted
    /// instead.
    pub fn record(
        &mut self,
        rules: &RuleSet,
        activities: &[Activity],
        arrived: Option<&ActivityKey>,
        email_domain: Option<&str>,
        now: Timestamp,
    ) -> Option<Rescore> {
        if rules.version != self.rule_version {
            return Some(self.rescore(rules, activities, email_domain, now));
        }
        let derived = &self.derivation;
        let unrecorded = derived.through.is_none() && self.has_derived();
        let stale = unrecorded || derived.email_domain.as_deref() != email_domain;
        let late = arrived.filter(|k| derived.through.as_ref().is_some_and(|t| *k <= t));
        // Before the carried entries, the caps cannot be rebuilt from what is kept.
        let before_carried =
            late.is_some_and(|k| derived.carried_through.as_ref().is_some_and(|c| k <= c));
        match late {
            _ if stale || before_carried => self.derive_all(rules, activities, email_domain),
            Some(key) => {
                let key = key.clone();
                self.derive_from(rules, activities, &key, email_domain)
            }
            None => self.derive_new(rules, activities, email_domain),
        }
        None
    }

    /// Appends the entries of one activity that comes after every activity derived so far (the
    /// in-order path of [`record`](Self::record), for a caller that knows the activity is
    /// new). Returns `false`, changing nothing, when it does not come after them or the ledger
    /// is not at the rules' version or derived with this e-mail domain.
    pub fn append(
        &mut self,
        rules: &RuleSet,
        activity: &Activity,
        email_domain: Option<&str>,
    ) -> bool {
        let d = &self.derivation;
        let fresh = d.through.is_none() && !self.has_derived();
        let fits = rules.version == self.rule_version
            && (fresh || (d.through.is_some() && d.email_domain.as_deref() == email_domain))
            && derive::after(activity, d.through.as_ref());
        if fits {
            if fresh {
                self.derivation.email_domain = email_domain.map(str::to_owned);
            }
            self.derive_new(rules, std::slice::from_ref(activity), email_domain);
        }
        fits
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
        let old = std::mem::take(&mut self.carried)
            .into_iter()
            .chain(std::mem::take(&mut self.entries));
        for entry in old {
            let mut undo = entry.clone();
            undo.points = -entry.points;
            undo.kind = reversal;
            self.history.push(entry);
            self.history.push(undo);
        }

        let from_version = self.rule_version;
        self.rule_version = rules.version;
        self.derive_all(rules, activities, email_domain);
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

    /// Derives every entry again from all the activities.
    fn derive_all(&mut self, rules: &RuleSet, activities: &[Activity], email_domain: Option<&str>) {
        self.carried.clear();
        self.entries.clear();
        self.derivation = Derivation {
            email_domain: email_domain.map(str::to_owned),
            ..Derivation::default()
        };
        self.derive_new(rules, activities, email_domain);
    }

    /// Appends the entries of the activities after the last one derived.
    fn derive_new(&mut self, rules: &RuleSet, activities: &[Activity], email_domain: Option<&str>) {
        let through = self.derivation.through.as_ref();
        let fresh = match activities {
            // One activity (the common case, and `append`): nothing to sort or de-duplicate.
            [one] if derive::after(one, through) => vec![one],
            [_] => return,
            _ => derive::in_order(activities.iter().filter(|a| derive::after(a, through))),
        };
        let Some(last) = fresh.last().copied() else {
            return;
        };
        let mut deriver = Deriver::new(rules, email_domain, &mut self.derivation.caps);
        for activity in fresh {
            deriver.push(activity, &mut self.entries);
        }
        self.set_through(last);
    }

    /// Records `activity` as the last one derived, reusing the key's buffer.
    fn set_through(&mut self, activity: &Activity) {
        match &mut self.derivation.through {
            Some(key) => {
                key.occurred_at = activity.occurred_at;
                key.id.clear();
                key.id.push_str(&activity.id);
            }
            None => self.derivation.through = Some(ActivityKey::of(activity)),
        }
    }

    /// Derives the entries again from `from` on (which is after the carried entries).
    fn derive_from(
        &mut self,
        rules: &RuleSet,
        activities: &[Activity],
        from: &ActivityKey,
        email_domain: Option<&str>,
    ) {
        let start = (from.occurred_at, from.id.as_str());
        let redo = derive::in_order(
            activities
                .iter()
                .filter(|a| (a.occurred_at, a.id.as_str()) >= start),
        );
        let Some(last) = redo.last().copied() else {
            return;
        };
        let cut = self
            .entries
            .partition_point(|e| (e.occurred_at, e.activity_id.as_str()) < start);
        self.entries.truncate(cut);

        self.derivation.caps = self.caps_at(rules, from);
        let mut deriver = Deriver::new(rules, email_domain, &mut self.derivation.caps);
        for activity in redo {
            deriver.push(activity, &mut self.entries);
        }
        self.set_through(last);
    }

    /// The cap room spent just before `key`: what the carried entries spent in the bucket
    /// `key` falls in, plus the entries kept before it.
    fn caps_at(&self, rules: &RuleSet, key: &ActivityKey) -> Vec<CapSpend> {
        rules
            .rules
            .iter()
            .filter_map(|rule| {
                let window = rule.cap?.window;
                let bucket = window.bucket(key.occurred_at.timestamp());
                let mut spent = self
                    .derivation
                    .carried_caps
                    .iter()
                    .find(|c| c.rule_id == rule.id && c.bucket == bucket)
                    .map_or(0.0, |c| c.spent);
                for e in &self.entries {
                    if e.rule_id == rule.id && window.bucket(e.occurred_at.timestamp()) == bucket {
                        spent += e.points.abs();
                    }
                }
                Some(CapSpend {
                    rule_id: rule.id.clone(),
                    bucket,
                    spent,
                })
            })
            .collect()
    }

    /// Keeps the ledger within [`Bounds::DEFAULT`] (see the module documentation). `rules` must
    /// be the version in force; `now` decides what has expired.
    pub fn compact(&mut self, rules: &RuleSet, now: Timestamp) {
        self.compact_within(rules, now, Bounds::DEFAULT);
    }

    /// Keeps the ledger within `bounds`.
    pub fn compact_within(&mut self, rules: &RuleSet, now: Timestamp, bounds: Bounds) {
        self.trim_history(bounds.max_history);
        self.trim_fit();
        if rules.version != self.rule_version || self.entries.len() <= bounds.max_entries {
            return;
        }
        let split = self.carry_point(now, bounds.keep_entries);
        if split == 0 {
            return;
        }
        let drained: Vec<LedgerEntry> = self.entries.drain(..split).collect();
        self.carry(rules, drained, now);
    }

    /// Drops the oldest history pairs beyond `max` entries. A pair sums to exactly zero at
    /// every time, so the fold does not change.
    fn trim_history(&mut self, max: usize) {
        if self.history.len() <= max {
            return;
        }
        let excess = self.history.len() - max;
        let pairs = excess.div_ceil(2).min(self.history.len() / 2);
        self.history.drain(..pairs * 2);
        self.history_dropped += pairs as u64;
    }

    /// Merges the older fit entries of each score into one when a lead's grade changed many
    /// times. They never decay, so the merged entry is worth exactly their sum from the time of
    /// the last of them on.
    fn trim_fit(&mut self) {
        const MAX_FIT: usize = 16;
        if self.fit.len() <= MAX_FIT {
            return;
        }
        let older: Vec<LedgerEntry> = self.fit.drain(..self.fit.len() - MAX_FIT / 2).collect();
        let mut merged: Vec<LedgerEntry> = Vec::new();
        for entry in older {
            match merged.iter_mut().find(|m| m.score_name == entry.score_name) {
                Some(m) => {
                    m.points += entry.points;
                    m.occurred_at = entry.occurred_at;
                    m.effective_at = entry.effective_at;
                    m.kind = entry.kind;
                }
                None => merged.push(entry),
            }
        }
        merged.append(&mut self.fit);
        self.fit = merged;
    }

    /// How many of the oldest entries to carry: all but `keep`, but none that does not count
    /// yet at `now`, and never splitting one activity's entries.
    fn carry_point(&self, now: Timestamp, keep: usize) -> usize {
        let mut split = self.entries.len().saturating_sub(keep);
        if let Some(pending) = self.entries[..split]
            .iter()
            .position(|e| e.effective_at > now)
        {
            split = pending;
        }
        let same_activity = |a: &LedgerEntry, b: &LedgerEntry| {
            a.activity_id == b.activity_id && a.occurred_at == b.occurred_at
        };
        while split > 0
            && split < self.entries.len()
            && same_activity(&self.entries[split - 1], &self.entries[split])
        {
            split -= 1;
        }
        split
    }

    /// Merges `drained` (the oldest entries, all counting by `now`) into the carried lines.
    fn carry(&mut self, rules: &RuleSet, drained: Vec<LedgerEntry>, now: Timestamp) {
        let Some(last) = drained.last() else {
            return;
        };
        let through = ActivityKey::of_entry(last);
        self.derivation.carried_caps = self.carried_caps(rules, &drained, &through);
        self.derivation.carried_through = Some(through);

        let anchor = drained
            .iter()
            .map(|e| e.effective_at)
            .chain(self.derivation.carried_from)
            .max()
            .unwrap_or(now);
        let mut kept: Vec<LedgerEntry> = Vec::new();
        let mut lines: Vec<LedgerEntry> = Vec::new();
        for entry in std::mem::take(&mut self.carried).into_iter().chain(drained) {
            let worthless = entry.points == 0.0 || entry.expires_at().is_some_and(|t| t <= now);
            if worthless {
                self.derivation.dropped += 1;
            } else if entry.expires_at().is_some() {
                kept.push(entry);
            } else {
                merge(&mut lines, &entry, anchor);
            }
        }
        lines.extend(kept);
        self.carried = lines;
        self.derivation.carried_from = Some(anchor);
    }

    /// The cap room spent as of `through`, the last carried activity: the earlier carried spend
    /// in the same bucket plus what the newly carried entries spent there.
    fn carried_caps(
        &self,
        rules: &RuleSet,
        drained: &[LedgerEntry],
        through: &ActivityKey,
    ) -> Vec<CapSpend> {
        rules
            .rules
            .iter()
            .filter_map(|rule| {
                let window = rule.cap?.window;
                let bucket = window.bucket(through.occurred_at.timestamp());
                let mut spent = self
                    .derivation
                    .carried_caps
                    .iter()
                    .find(|c| c.rule_id == rule.id && c.bucket == bucket)
                    .map_or(0.0, |c| c.spent);
                for e in drained {
                    if e.rule_id == rule.id && window.bucket(e.occurred_at.timestamp()) == bucket {
                        spent += e.points.abs();
                    }
                }
                Some(CapSpend {
                    rule_id: rule.id.clone(),
                    bucket,
                    spent,
                })
            })
            .collect()
    }
}

/// Adds `entry`, valued at `anchor`, into the carried line of its score and decay.
fn merge(lines: &mut Vec<LedgerEntry>, entry: &LedgerEntry, anchor: Timestamp) {
    let count = match entry.kind {
        EntryKind::Carried { entries } => entries,
        _ => 1,
    };
    let value = entry.value_at(anchor);
    let line = lines
        .iter_mut()
        .find(|l| l.score_name == entry.score_name && l.decay == entry.decay);
    match line {
        Some(line) => {
            line.points += value;
            if let EntryKind::Carried { entries } = &mut line.kind {
                *entries += count;
            }
        }
        None => lines.push(LedgerEntry {
            activity_id: String::new(),
            rule_id: "carried".to_owned(),
            rule_version: entry.rule_version,
            score_name: entry.score_name.clone(),
            points: value,
            occurred_at: anchor,
            effective_at: anchor,
            decay: entry.decay,
            kind: EntryKind::Carried { entries: count },
            capped_from: None,
        }),
    }
}
