//! Property tests of the ledger invariants and the MQL trigger, against an oracle written here
//! from the issue's words and nothing in the code under test: its own ordering, de-duplication,
//! cap windows (calendar dates and clock hours from `chrono`, not [`Window::bucket`]) and decay
//! formula.
//!
//! * the ledger, grown one delivery at a time in any order with repeats (and compacted on the
//!   way), folds to the oracle's score;
//! * derivation gives the oracle's points for every activity and rule, so caps hold in every
//!   window;
//! * decay only takes value away, by the half-life formula;
//! * the MQL fires exactly once per crossing, on the effective time the oracle finds, with
//!   arrivals out of order and repeated, recycles in between, and thresholds that scores hit
//!   exactly.
//!
//! [`Window::bucket`]: super::rules::Window::bucket

use super::{
    derive::ActivityKey,
    tests::{activity, at, entered},
    *,
};
use crate::{
    transition::{Actor, Reason},
    Activity, ActivityKind, CauseId, Email, Lead, LeadId, Stage, StageEvent, Timestamp,
};
use chrono::{TimeDelta, Timelike};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

/// The rules under test, with integer points so that thresholds can be hit exactly: caps per
/// UTC day, per clock hour and per lifetime, negative points, and (in [`decaying`]) decay.
const RULES: &str = r#"[
    { "id": "view", "kinds": ["page_viewed"], "points": 1,
      "cap": { "max_points": 3, "window": { "days": 1 } } },
    { "id": "pricing", "kinds": ["pricing_viewed"], "points": 2,
      "cap": { "max_points": 4, "window": { "hours": 1 } } },
    { "id": "form", "kinds": ["form_submitted"], "points": 3 },
    { "id": "careers", "kinds": ["page_viewed"], "when": { "attributes": { "path": "/careers*" } },
      "points": -2, "cap": { "max_points": 4, "window": "lifetime" } },
    { "id": "unsubscribe", "kinds": ["unsubscribed"], "points": -3 }
]"#;

fn plain(min_score: f64) -> RuleSet {
    let mut rules = RuleSet::from_json(&format!(
        r#"{{ "version": 1, "scores": [{{ "name": "mql" }}], "mql_score": "mql", "rules": {RULES},
            "grade": {{ "rules": [], "bands": {{ "a": 0, "b": 0, "c": 0, "d": 0, "e": 0 }} }},
            "mql": {{ "min_grade": "B", "min_score": 1, "hand_raiser_floor": "D" }} }}"#
    ))
    .unwrap();
    rules.mql.min_score = min_score;
    rules
}

/// The same rules, the views halving every 10 days and forms expiring after 2.
fn decaying() -> RuleSet {
    let mut rules = plain(1.0);
    for rule in &mut rules.rules {
        rule.decay = match rule.id.as_str() {
            "view" => Some(Decay::HalfLife { days: 10.0 }),
            "form" => Some(Decay::Expire { days: 2.0 }),
            _ => None,
        };
    }
    rules
}

// ---------------------------------------------------------------------------------------------
// The oracle.

/// One grant of points, as the oracle computes it.
#[derive(Debug, Clone, PartialEq)]
struct Grant {
    activity: String,
    rule: &'static str,
    at: Timestamp,
    points: f64,
}

/// The cap window of a rule as the oracle sees it: the UTC calendar date, the clock hour of
/// that date, or the whole life.
fn window_of(rule: &str, t: Timestamp) -> String {
    match rule {
        "view" => t.date_naive().to_string(),
        "pricing" => format!("{} {:02}h", t.date_naive(), t.hour()),
        _ => "life".to_owned(),
    }
}

/// The grants the rules (as written in [`RULES`]) give a set of activities.
fn oracle_grants(activities: &[Activity]) -> Vec<Grant> {
    let mut clean: Vec<&Activity> = Vec::new();
    let mut ids = HashSet::new();
    let mut sorted: Vec<&Activity> = activities.iter().collect();
    sorted.sort_by_key(|a| (a.occurred_at, a.id.clone()));
    for a in sorted {
        if ids.insert(a.id.clone()) {
            clean.push(a);
        }
    }

    let mut spent: HashMap<(&str, String), f64> = HashMap::new();
    let mut grants = Vec::new();
    for a in clean {
        let careers = a
            .attributes
            .get("path")
            .is_some_and(|p| p.starts_with("/careers"));
        let wanted: Vec<(&'static str, f64, Option<f64>)> = match a.kind {
            ActivityKind::PageViewed if careers => {
                vec![("view", 1.0, Some(3.0)), ("careers", -2.0, Some(4.0))]
            }
            ActivityKind::PageViewed => vec![("view", 1.0, Some(3.0))],
            ActivityKind::PricingViewed => vec![("pricing", 2.0, Some(4.0))],
            ActivityKind::FormSubmitted => vec![("form", 3.0, None)],
            ActivityKind::Unsubscribed => vec![("unsubscribe", -3.0, None)],
            _ => vec![],
        };
        for (rule, points, cap) in wanted {
            let granted = match cap {
                None => points,
                Some(cap) => {
                    let used = spent
                        .entry((rule, window_of(rule, a.occurred_at)))
                        .or_default();
                    let g = points.abs().min(cap - *used);
                    *used += g;
                    g * points.signum()
                }
            };
            grants.push(Grant {
                activity: a.id.clone(),
                rule,
                at: a.occurred_at,
                points: granted,
            });
        }
    }
    grants
}

/// The oracle's score at `t`: each grant decayed by the formula of its rule in `decay`.
fn oracle_score(activities: &[Activity], t: Timestamp, decay: bool) -> f64 {
    oracle_grants(activities)
        .into_iter()
        .filter(|g| g.at <= t)
        .map(|g| {
            let days = (t - g.at).num_seconds() as f64 / 86_400.0;
            let factor = match (decay, g.rule) {
                (true, "view") => 0.5f64.powf(days / 10.0),
                (true, "form") if days >= 2.0 => 0.0,
                _ => 1.0,
            };
            g.points * factor
        })
        .sum()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

// ---------------------------------------------------------------------------------------------
// Inputs.

const KINDS: [ActivityKind; 6] = [
    ActivityKind::PageViewed,
    ActivityKind::PageViewed,
    ActivityKind::PricingViewed,
    ActivityKind::FormSubmitted,
    ActivityKind::Unsubscribed,
    ActivityKind::EmailOpened,
];

const PATHS: [&str; 3] = ["/", "/careers/open", "/product"];

/// Up to 40 activities over ten days at minute resolution (so across many midnights and
/// hours), with unique ids.
fn activities() -> impl Strategy<Value = Vec<Activity>> {
    prop::collection::vec((0..KINDS.len(), 0i64..14_400, 0..PATHS.len()), 0..40).prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, (kind, minute, path))| {
                let mut a = activity(&format!("a{i:02}"), KINDS[kind], at(0));
                a.occurred_at += TimeDelta::minutes(minute);
                a.attributes.insert("path".into(), PATHS[path].into());
                a
            })
            .collect()
    })
}

/// The activities in a shuffled order with some delivered more than once.
fn delivered(clean: Vec<Activity>) -> impl Strategy<Value = (Vec<Activity>, Vec<Activity>)> {
    let n = clean.len();
    (Just(clean), prop::collection::vec(0..n.max(1), 0..10)).prop_flat_map(|(clean, dups)| {
        let mut noisy = clean.clone();
        noisy.extend(dups.iter().filter_map(|&i| clean.get(i).cloned()));
        (Just(clean), Just(noisy).prop_shuffle())
    })
}

fn lead() -> Lead {
    let mut lead = Lead::new(LeadId::new("lead-1"), at(0));
    lead.email = Some(Email::parse("a@corp.example").unwrap());
    lead.journey = entered("lead-1");
    lead
}

/// Small bounds, so that compaction happens within 40 activities.
const SMALL: Bounds = Bounds {
    max_entries: 12,
    keep_entries: 5,
    max_history: 4,
};

proptest! {
    #[test]
    fn derivation_gives_the_oracle_points_whatever_the_order_and_repeats(
        (clean, noisy) in activities().prop_flat_map(delivered),
    ) {
        let rules = plain(1.0);
        let expected = oracle_grants(&clean);
        let got: Vec<Grant> = derive(&rules, &noisy, None)
            .into_iter()
            .map(|e| Grant {
                activity: e.activity_id,
                rule: ["view", "pricing", "form", "careers", "unsubscribe"]
                    .into_iter()
                    .find(|r| *r == e.rule_id)
                    .unwrap(),
                at: e.occurred_at,
                points: e.points,
            })
            .collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn caps_hold_in_every_window(clean in activities()) {
        let rules = plain(1.0);
        let mut spent: HashMap<(String, String), f64> = HashMap::new();
        for e in derive(&rules, &clean, None) {
            let cap = match e.rule_id.as_str() { "view" => 3.0, "pricing" => 4.0, "careers" => 4.0, _ => continue };
            let used = spent.entry((e.rule_id.clone(), window_of(&e.rule_id, e.occurred_at))).or_default();
            *used += e.points.abs();
            prop_assert!(*used <= cap, "{} spent {} in {:?}", e.rule_id, used, window_of(&e.rule_id, e.occurred_at));
        }
    }

    #[test]
    fn the_ledger_grown_one_delivery_at_a_time_folds_to_the_oracle(
        (clean, noisy) in activities().prop_flat_map(delivered),
        later in 0i64..(24 * 30),
    ) {
        // As the handler does: each delivery sees the activities stored so far, the ledger
        // grows from it (appended, or re-derived from its place when late), and is compacted.
        let rules = decaying();
        let mut ledger = ScoreLedger::new(LeadId::new("lead-1"), rules.version);
        let mut stored: Vec<Activity> = Vec::new();
        let mut now = at(0);
        for a in &noisy {
            if !stored.iter().any(|s| s.id == a.id) {
                stored.push(a.clone());
            }
            now = now.max(a.occurred_at) + TimeDelta::minutes(1);
            ledger.record(&rules, &stored, Some(&ActivityKey::of(a)), None, now);
            ledger.compact_within(&rules, now, SMALL);
            let expected = oracle_score(&stored, now, true);
            prop_assert!(close(ledger.score_at("mql", now), expected), "at {now}: {} vs {expected}", ledger.score_at("mql", now));
        }
        let t = now + TimeDelta::hours(later);
        prop_assert!(close(ledger.score_at("mql", t), oracle_score(&clean, t, true)));
        prop_assert!(ledger.entries.len() <= SMALL.max_entries);
    }

    #[test]
    fn decay_only_takes_value_away_by_the_half_life(clean in activities(), a in 0i64..5_000, b in 0i64..5_000) {
        let rules = decaying();
        let (early, late) = (at(a.min(b)), at(a.max(b)));
        for e in derive(&rules, &clean, None) {
            let (v1, v2) = (e.value_at(early), e.value_at(late));
            if early < e.effective_at {
                prop_assert_eq!(v1, 0.0);
                continue;
            }
            prop_assert!(v2.abs() <= v1.abs() && v1.abs() <= e.points.abs());
            if e.rule_id == "view" {
                let days = (early - e.effective_at).num_seconds() as f64 / 86_400.0;
                prop_assert!(close(v1, e.points * 0.5f64.powf(days / 10.0)));
            }
        }
    }

    #[test]
    fn the_mql_fires_exactly_once_per_crossing(
        (clean, noisy) in activities().prop_flat_map(delivered),
        threshold in 1u8..8,
        recycles in prop::collection::vec(0usize..50, 0..3),
    ) {
        let rules = plain(f64::from(threshold));
        let mut lead = lead();
        let mut ledger = ScoreLedger::new(lead.id.clone(), rules.version);
        let mut oracle = Oracle::new(f64::from(threshold));
        let mut stored: Vec<Activity> = Vec::new();
        let mut now = at(0);
        let mut fired = Vec::new();
        for (i, a) in noisy.iter().enumerate() {
            now = now.max(a.occurred_at) + TimeDelta::minutes(1);
            if recycles.contains(&i) && lead.journey.stage != Some(Stage::Recycled) {
                recycle(&mut lead, now, i);
                oracle.recycle(now);
                now += TimeDelta::minutes(1);
            }
            if !stored.iter().any(|s| s.id == a.id) {
                stored.push(a.clone());
            }
            let eval = evaluate(&rules, &lead, &stored, &mut ledger, &Trigger::activity(a), now);
            oracle.step(&stored, now);
            if let Some(t) = eval.decision.transition {
                fired.push((t.cycle, t.effective_at));
                lead.journey.push(&t);
            }
        }
        let _ = clean;
        prop_assert_eq!(fired, oracle.mqls);
    }
}

/// What the MQL rule says should happen, step by step: in the first cycle the lead becomes an
/// MQL when its score is at the threshold, dated the first time it reached it; after a recycle
/// only when the score is at the threshold and was below it at some time since the recycle,
/// dated the first time it rose to the threshold from below; once per cycle.
struct Oracle {
    threshold: f64,
    /// `None`: waiting in the first cycle; `Some(t)`: recycled at `t`.
    recycled_at: Option<Timestamp>,
    open: bool,
    cycle: u32,
    mqls: Vec<(u32, Timestamp)>,
}

impl Oracle {
    fn new(threshold: f64) -> Self {
        Self {
            threshold,
            recycled_at: None,
            open: true,
            cycle: 1,
            mqls: Vec::new(),
        }
    }

    fn recycle(&mut self, at: Timestamp) {
        self.recycled_at = Some(at);
        self.open = true;
    }

    fn step(&mut self, stored: &[Activity], now: Timestamp) {
        let score = |t: Timestamp| oracle_score(stored, t, false);
        if !self.open || score(now) < self.threshold {
            return;
        }
        let mut times: Vec<Timestamp> = stored.iter().map(|a| a.occurred_at).collect();
        times.sort();
        let crossing = match self.recycled_at {
            None => times.into_iter().find(|t| score(*t) >= self.threshold),
            Some(since) => {
                let mut below = score(since) < self.threshold;
                times.into_iter().filter(|t| *t > since).find(|t| {
                    let above = score(*t) >= self.threshold;
                    below |= !above;
                    above && below
                })
            }
        };
        if let Some(t) = crossing {
            let cycle = self.cycle + u32::from(self.recycled_at.is_some());
            self.mqls.push((cycle, t));
            self.cycle = cycle;
            self.open = false;
        }
    }
}

fn recycle(lead: &mut Lead, at: Timestamp, n: usize) {
    let event = StageEvent {
        to: Stage::Recycled,
        cause: CauseId::new(format!("recycle-{n}")),
        actor: Actor::System {
            component: "test".to_owned(),
        },
        reason: Some(Reason::code("nurture")),
        effective_at: at,
        recorded_at: at,
        dims: Default::default(),
    };
    lead.journey.apply(&lead.id.clone(), &event).unwrap();
}
