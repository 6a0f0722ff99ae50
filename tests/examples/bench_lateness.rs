//! How late SLA breaches are acted on over a simulated day of traffic on the local stack (see
//! `journey_e2e::sla_day`): form deliveries through the webhook entry, accepts through the
//! API, the schedules run once per simulated minute as `journey serve` runs them. A breach's
//! lateness is when its manager was told minus the clock's due time.
//!
//! `cargo run --profile bench -p journey-e2e --example bench_lateness [LEADS] [SEED]`

use chrono::Duration;
use journey_e2e::sla_day::{self, nearest_rank, Day, Traffic};
use lifecycle::sla::{ClockKind, SlaClock, StepKind};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let leads = args.next().and_then(|a| a.parse().ok()).unwrap_or(3000);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let traffic = Traffic {
        leads,
        seed,
        day: sla_day::midnight("2025-06-13T00:00:00Z"),
        overlapping: false,
    };
    println!(
        "{leads} form deliveries at seeded random times (seed {seed}) over Fri 2025-06-13 \
         00:00-24:00Z on the local stack; pools emea (Europe/Berlin, offsite 10:00-11:00Z) and \
         amer (America/New_York, {} leads per rep per day), 09:00-17:00 weekdays",
        sla_day::amer_cap(leads)
    );
    print(&sla_day::run(traffic).await);
}

fn breached(clock: &SlaClock) -> bool {
    clock.stopped_at.is_none_or(|stop| stop >= clock.due_at)
}

fn print(day: &Day) {
    println!("webhook answers: {:?}", day.webhooks);
    for (kind, name) in [
        (ClockKind::RoutingLatency, "routing latency"),
        (ClockKind::RepResponse, "rep response"),
        (ClockKind::SalFollowUp, "SAL follow-up"),
    ] {
        let clocks: Vec<&SlaClock> = day.clocks.values().filter(|c| c.kind == kind).collect();
        let broken: Vec<&&SlaClock> = clocks.iter().filter(|c| breached(c)).collect();
        let late: Vec<Duration> = {
            let mut l: Vec<Duration> = broken
                .iter()
                .filter_map(|c| day.breaches.get(&Day::ref_of(c)))
                .filter_map(|d| d.first().map(|d| d.lateness()))
                .collect();
            l.sort();
            l
        };
        println!(
            "{name}: {} clocks, {} met, {} breached; lateness max {}, median {}",
            clocks.len(),
            clocks.len() - broken.len(),
            broken.len(),
            seconds(late.last().copied()),
            seconds(nearest_rank(&late, 0.5)),
        );
    }
    let steps = |step| {
        let clocks = day.clocks.values();
        clocks.filter(|c| c.steps_done.contains(&step)).count()
    };
    println!(
        "steps: {} reminders, {} managers told, {} reassignments, {} overflows",
        steps(StepKind::Remind),
        steps(StepKind::NotifyManager),
        steps(StepKind::Reassign),
        steps(StepKind::Overflow)
    );
    println!("notices posted: {:?}", day.posted);
    println!(
        "accepts through the API: {} accepted, {} refused (the lead had moved on)",
        day.accepted, day.refused
    );
    let told = day.breaches.values().filter(|d| d.len() > 1).count();
    println!(
        "breaches told: {} (told twice: {told}); not told: {}",
        day.breaches.len(),
        day.clocks
            .values()
            .filter(|c| breached(c) && !day.breaches.contains_key(&Day::ref_of(c)))
            .count()
    );
    let late = day.lateness();
    println!(
        "lateness (manager told - due time): max {}, median {}, p99 {}",
        seconds(late.last().copied()),
        seconds(nearest_rank(&late, 0.5)),
        seconds(nearest_rank(&late, 0.99)),
    );
    let latest = day
        .breaches
        .iter()
        .filter_map(|(k, d)| d.first().map(|d| (k, d)))
        .max_by_key(|(_, d)| d.lateness());
    if let Some(((lead, rep), d)) = latest {
        let whose = rep.as_deref().unwrap_or("routing");
        println!(
            "latest: {lead} ({whose}) due {}, told at {}",
            d.due_at, d.told_at
        );
    }
    println!(
        "ticks: {} (one per simulated minute, until {}), slowest {:.1} ms",
        day.ticks,
        day.ended_at.map(|t| t.to_string()).unwrap_or_default(),
        day.slowest_tick.as_secs_f64() * 1000.0
    );
    println!("wall time: {:.2} s", day.wall.as_secs_f64());
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.1} s", d.num_milliseconds() as f64 / 1000.0)
    })
}
