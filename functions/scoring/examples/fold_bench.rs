//! Measures the speed of the scoring core on one thread and prints it:
//!
//! * the fold: `score_at` over a ledger of one entry per activity (half-life decay on every
//!   entry, so each costs an `exp2`), in ledger entries per second;
//! * the derivation: turning activities into ledger entries under the shipped rules (sorting,
//!   de-duplication, caps), in activities per second.
//!
//! ```text
//! cargo run --release -p scoring --example fold_bench
//! ```

use chrono::{TimeDelta, TimeZone, Utc};
use lifecycle::{
    scoring::{default_rules, derive, score_at},
    Activity, ActivityKind, LeadId,
};
use std::{hint::black_box, time::Instant};

const KINDS: [ActivityKind; 6] = [
    ActivityKind::PageViewed,
    ActivityKind::PricingViewed,
    ActivityKind::EmailOpened,
    ActivityKind::EmailClicked,
    ActivityKind::ContentDownloaded,
    ActivityKind::WebinarAttended,
];

fn activities(n: usize) -> Vec<Activity> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..n)
        .map(|i| Activity {
            id: format!("a{i:08}"),
            lead_id: LeadId::new("bench"),
            kind: KINDS[i % KINDS.len()],
            // About one activity every 7 minutes, spread over the weeks.
            occurred_at: start + TimeDelta::seconds(i as i64 * 421),
            hand_raiser: false,
            attributes: Default::default(),
        })
        .collect()
}

fn main() {
    let rules = default_rules();
    let n = 200_000;
    let acts = activities(n);

    let started = Instant::now();
    let ledger = derive(&rules, &acts, None);
    let derive_secs = started.elapsed().as_secs_f64();

    let at = acts[n - 1].occurred_at + TimeDelta::days(1);
    let rounds = 50;
    let started = Instant::now();
    let mut total = 0.0;
    for round in 0..rounds {
        total += score_at(black_box(&ledger), "mql", at + TimeDelta::seconds(round));
    }
    let fold_secs = started.elapsed().as_secs_f64();
    black_box(total);

    let folded = (ledger.len() * rounds as usize) as f64;
    println!("activities: {n}, ledger entries: {}", ledger.len());
    println!(
        "fold (score_at):  {:>8.1} M entries/s",
        folded / fold_secs / 1e6
    );
    println!(
        "derive (ledger):  {:>8.2} M activities/s",
        n as f64 / derive_secs / 1e6
    );
}
