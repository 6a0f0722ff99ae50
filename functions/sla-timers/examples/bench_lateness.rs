//! How late the SLA sweep acts on breaches over a simulated day of traffic (see
//! `tests/support/day.rs`): the sweep runs once per simulated minute on an embedded store,
//! and each breach's lateness is the sweep's minute minus the clock's due time.
//!
//! `cargo run --release -p sla-timers --example bench_lateness [LEADS] [SEED]`

#[path = "../tests/support/day.rs"]
mod day;

use chrono::{DateTime, Duration, Utc};
use day::{Day, Traffic};
use lifecycle::{funnel::ClockKind as Reported, sla::ClockKind};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let leads = args.next().and_then(|a| a.parse().ok()).unwrap_or(3000);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let traffic = Traffic {
        leads,
        seed,
        day: day::midnight("2025-06-13T00:00:00Z"),
        overlapping: false,
    };
    println!(
        "{leads} MQLs at seeded random times (seed {seed}) over Fri 2025-06-13 00:00-24:00Z; \
         pools emea (Europe/Berlin) and amer (America/New_York), 09:00-17:00 weekdays"
    );
    print(&day::run(traffic).await);
}

fn print(day: &Day) {
    let of_kind = |kind| day.clocks.values().filter(|c| c.kind == kind).count();
    println!(
        "clocks: {} ({} routing latency, {} rep response)",
        day.clocks.len(),
        of_kind(ClockKind::RoutingLatency),
        of_kind(ClockKind::RepResponse)
    );
    for (kind, name) in [
        (Reported::Routing, "routing latency"),
        (Reported::Response, "rep response"),
    ] {
        // Nothing is left running at the end of the run, so every outcome is known.
        let outcomes = day
            .clocks
            .values()
            .filter_map(|c| c.outcome(DateTime::<Utc>::MAX_UTC));
        let of_kind: Vec<_> = outcomes.filter(|o| o.kind == kind).collect();
        let met = of_kind.iter().filter(|o| o.met).count();
        println!("{name} compliance: {met} of {} met", of_kind.len());
    }
    println!("accepted in time: {}", day.accepted);
    println!("breaches: {}", day.detections.len());
    println!("reminders: {}", day.steps("remind"));
    println!("reassignments: {}", day.steps("reassign"));
    println!("overflows: {}", day.steps("overflow"));
    let late = day.lateness();
    println!(
        "lateness (sweep minute - due time): max {}, median {}, p99 {}",
        seconds(late.last().copied()),
        seconds(nearest_rank(&late, 0.5)),
        seconds(nearest_rank(&late, 0.99)),
    );
    if let Some(latest) = day.detections.values().max_by_key(|d| d.lateness()) {
        println!(
            "latest: {} due {}, acted on at {}",
            latest.clock, latest.due_at, latest.detected_at
        );
    }
    println!(
        "sweeps: {} (one per simulated minute), slowest {:.1} ms",
        day.sweeps,
        day.slowest_sweep.as_secs_f64() * 1000.0
    );
    println!("wall time: {:.2} s", day.wall.as_secs_f64());
}

/// The nearest-rank percentile `p` of sorted values.
fn nearest_rank(sorted: &[Duration], p: f64) -> Option<Duration> {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.1} s", d.num_milliseconds() as f64 / 1000.0)
    })
}
