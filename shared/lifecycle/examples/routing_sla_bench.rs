//! Prints how fast the routing and SLA cores are, and how even the rotation stays.
//!
//! `cargo run --profile bench -p journey-lifecycle --example routing_sla_bench`

use chrono::{DateTime, Duration, Utc};
use lifecycle::{
    routing::{
        route, LeadFacts, Pool, PoolMember, RepAvailability, RepLoad, RepSnapshot, Returning,
        RotationState, RoutingContext, Strategy,
    },
    sla::{BusinessCalendar, CalendarSpec, OpenInterval, WallTime, WeeklyHours, Zone},
    LeadId, RepId,
};
use std::{collections::BTreeMap, time::Instant};

fn main() {
    let now = DateTime::parse_from_rfc3339("2025-03-05T15:00:00Z")
        .unwrap()
        .to_utc();
    let calendar = berlin_nine_to_five();
    bench_routing(now, &calendar);
    bench_calendar(now, &calendar);
}

fn berlin_nine_to_five() -> BusinessCalendar {
    let day = OpenInterval::new(WallTime::hm(9, 0).unwrap(), WallTime::hm(17, 0).unwrap());
    let spec = CalendarSpec {
        time_zone: Zone::parse("Europe/Berlin").unwrap(),
        weekly: WeeklyHours::weekdays(&[day]),
        holidays: Default::default(),
    };
    BusinessCalendar::new(spec).unwrap()
}

fn bench_routing(now: DateTime<Utc>, calendar: &BusinessCalendar) {
    const REPS: usize = 25;
    const LEADS: usize = 100_000;
    let members: Vec<PoolMember> = (0..REPS)
        .map(|i| PoolMember::new(format!("rep-{i:02}").as_str()))
        .collect();
    let pool = Pool {
        id: "bench".into(),
        strategy: Strategy::RoundRobin,
        members,
        account_match: false,
        returning: Returning::RejoinLevel,
        overflow_queue: "bench_overflow".into(),
        manager: None,
        notify: None,
    };
    let reps: BTreeMap<RepId, RepSnapshot> = pool
        .members
        .iter()
        .map(|m| {
            let mut availability = RepAvailability::active(m.rep.clone());
            availability.working_hours = Some(calendar.clone());
            (
                m.rep.clone(),
                RepSnapshot {
                    availability,
                    load: RepLoad::default(),
                },
            )
        })
        .collect();

    let mut rotation = RotationState::new("bench");
    let mut counts: BTreeMap<RepId, u64> = BTreeMap::new();
    let started = Instant::now();
    for i in 0..LEADS {
        let facts = LeadFacts::unknown(LeadId::new(format!("lead-{i}")));
        let routed = route(
            &facts,
            None,
            &pool,
            RoutingContext::new(&reps, &rotation, now),
        );
        *counts
            .entry(routed.decision.assignee().unwrap().clone())
            .or_default() += 1;
        rotation = routed.rotation;
    }
    let elapsed = started.elapsed();
    let spread = counts.values().max().unwrap() - counts.values().min().unwrap();
    println!(
        "routing: {LEADS} decisions over {REPS} reps (working hours checked) in {:.2} s = {:.1} µs/decision; max-min per rep = {spread}",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / LEADS as f64,
    );
}

fn bench_calendar(now: DateTime<Utc>, calendar: &BusinessCalendar) {
    const N: usize = 100_000;
    let started = Instant::now();
    let mut last = now;
    for i in 0..N {
        let start = now + Duration::minutes(i as i64 * 7);
        last = calendar.add_business_duration(start, Duration::hours(40));
    }
    let elapsed = started.elapsed();
    println!(
        "sla: {N} due times of 40 business hours (5 days, Berlin, across DST) in {:.2} s = {:.1} µs each (last due {last})",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / N as f64,
    );
}
