//! Measures the scoring core on one thread, on leads of realistic sizes (10, 100 and 1,000
//! activities each: page views with time on site, pricing views, e-mail clicks, downloads, a
//! form, a webinar), under the shipped rules, and prints activities per second for:
//!
//! * **activities → score**: each lead's activities arrive in order and are appended to its
//!   ledger one at a time (the incremental path, compaction included), then the MQL score is
//!   folded once;
//! * **per message**: the same, folding the MQL score after every activity, as the handler
//!   does for every message (the fold is over the lead's whole ledger, so this falls with the
//!   lead's size; compaction caps it);
//! * **fold**: the MQL score of a finished ledger, over and over (activities whose entries are
//!   folded per second, and entries per second);
//! * **late arrival**: one activity from the middle of the lead arrives last, and the ledger is
//!   derived again from its place;
//! * **full derivation**: every activity of the lead derived at once (a rescore).
//!
//! ```text
//! cargo run --profile bench -p scoring --example fold_bench
//! ```

use chrono::{TimeDelta, TimeZone, Utc};
use lifecycle::{
    scoring::{default_rules, derive, ActivityKey, RuleSet, ScoreLedger},
    Activity, ActivityKind, LeadId, Timestamp,
};
use std::{hint::black_box, time::Instant};

/// Activities per measurement, spread over as many leads as the size allows.
const TOTAL: usize = 400_000;
const SIZES: [usize; 3] = [10, 100, 1_000];
const DOMAIN: Option<&str> = Some("corp.example");

fn start() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// One lead's activities: mostly page views (with a path and seconds on the page), now and
/// then a pricing view, an e-mail click, a download, a webinar; a form first. About one every
/// three hours.
fn lead_activities(lead: usize, n: usize) -> Vec<Activity> {
    (0..n)
        .map(|i| {
            let (kind, attributes): (ActivityKind, &[(&str, &str)]) = match (i, i % 20) {
                (0, _) => (ActivityKind::FormSubmitted, &[("form", "newsletter")]),
                (_, 5) => (ActivityKind::PricingViewed, &[("path", "/pricing")]),
                (_, 9) => (ActivityKind::EmailClicked, &[("campaign", "spring")]),
                (_, 13) => (ActivityKind::ContentDownloaded, &[("content_id", "wp-7")]),
                (_, 17) if i % 60 == 17 => (ActivityKind::WebinarAttended, &[]),
                (_, 3) => (
                    ActivityKind::PageViewed,
                    &[("path", "/careers/sre"), ("seconds", "40")],
                ),
                _ => (
                    ActivityKind::PageViewed,
                    &[("path", "/product/tour"), ("seconds", "95")],
                ),
            };
            Activity {
                id: format!("l{lead}-a{i:05}"),
                lead_id: LeadId::new(format!("l{lead}")),
                kind,
                occurred_at: start()
                    + TimeDelta::seconds(i as i64 * 10_800 + (i as i64 * 37) % 600),
                hand_raiser: false,
                attributes: attributes
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            }
        })
        .collect()
}

/// Runs `work` and returns activities per second.
fn rate(activities: usize, work: impl FnOnce() -> f64) -> f64 {
    let started = Instant::now();
    black_box(work());
    activities as f64 / started.elapsed().as_secs_f64()
}

/// Appends a lead's activities in order, compacting as the handler does; folds after each one
/// when `fold_each`, and once at the end.
fn grow(rules: &RuleSet, acts: &[Activity], fold_each: bool) -> (ScoreLedger, f64) {
    let mql = rules.mql_score.as_str();
    let mut ledger = ScoreLedger::new(acts[0].lead_id.clone(), rules.version);
    let mut total = 0.0;
    for a in acts {
        ledger.append(rules, a, DOMAIN);
        ledger.compact(rules, a.occurred_at);
        if fold_each {
            total += ledger.score_at(mql, a.occurred_at);
        }
    }
    total += ledger.score_at(mql, acts[acts.len() - 1].occurred_at);
    (ledger, total)
}

fn main() {
    let rules = default_rules();
    println!(
        "shipped rules v{}, {} activities per measurement, one thread",
        rules.version, TOTAL
    );
    println!(
        "{:>9} {:>8} | {:>12} {:>12} {:>12} {:>12} {:>12} | {:>9} {:>10}",
        "lead size",
        "leads",
        "in order",
        "per message",
        "fold",
        "late arrival",
        "full derive",
        "entries",
        "fold"
    );
    println!(
        "{:>9} {:>8} | {:>12} {:>12} {:>12} {:>12} {:>12} | {:>9} {:>10}",
        "", "", "M act/s", "M act/s", "M act/s", "M act/s", "M act/s", "per lead", "M entr/s"
    );
    for n in SIZES {
        measure(&rules, n);
    }
}

fn measure(rules: &RuleSet, n: usize) {
    let leads: Vec<Vec<Activity>> = (0..(TOTAL / n)).map(|l| lead_activities(l, n)).collect();
    let count = leads.len() * n;
    let mql = rules.mql_score.as_str();

    let in_order = rate(count, || {
        leads.iter().map(|acts| grow(rules, acts, false).1).sum()
    });
    let per_message = rate(count, || {
        leads.iter().map(|acts| grow(rules, acts, true).1).sum()
    });

    let ledgers: Vec<ScoreLedger> = leads
        .iter()
        .map(|acts| grow(rules, acts, false).0)
        .collect();
    let entries: usize = ledgers.iter().map(|l| l.in_force().count()).sum();
    let rounds = 20;
    let started = Instant::now();
    let mut total = 0.0;
    for round in 0..rounds {
        for (ledger, acts) in ledgers.iter().zip(&leads) {
            let at = acts[n - 1].occurred_at + TimeDelta::seconds(round);
            total += ledger.score_at(black_box(mql), at);
        }
    }
    let fold_secs = started.elapsed().as_secs_f64();
    black_box(total);
    let fold = (count * rounds as usize) as f64 / fold_secs;
    let fold_entries = (entries * rounds as usize) as f64 / fold_secs;

    // All but the middle activity in order, then the middle one, late: the handler's call
    // with every stored activity, which derives again from the late one's place.
    let late = rate(count, || {
        leads
            .iter()
            .map(|acts| {
                let mut early: Vec<Activity> = acts.clone();
                let middle = early.remove(n / 2);
                let (mut ledger, _) = grow(rules, &early, false);
                let now = acts[n - 1].occurred_at;
                let key = ActivityKey::of(&middle);
                ledger.record(rules, acts, Some(&key), DOMAIN, now);
                ledger.compact(rules, now);
                ledger.score_at(mql, now)
            })
            .sum()
    });
    let full = rate(count, || {
        leads
            .iter()
            .map(|acts| derive(rules, acts, DOMAIN).len() as f64)
            .sum()
    });

    println!(
        "{:>9} {:>8} | {:>12.2} {:>12.2} {:>12.2} {:>12.2} {:>12.2} | {:>9} {:>10.1}",
        n,
        leads.len(),
        in_order / 1e6,
        per_message / 1e6,
        fold / 1e6,
        late / 1e6,
        full / 1e6,
        entries / leads.len(),
        fold_entries / 1e6
    );
}
