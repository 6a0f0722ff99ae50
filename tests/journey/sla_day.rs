//! A day of generated traffic on the local stack with a simulated clock (see
//! `journey_e2e::sla_day`): every SLA breach, of either clock, is told to its manager within
//! 60 seconds of its due time, each escalation step happens once, and the funnel report counts
//! the same compliance per team and per rep as the clocks themselves.
//!
//! The expected steps and counts are worked out here from the stored clocks' times and the
//! minute schedule alone, not from anything the sweep reports.

use chrono::{Duration, DurationRound};
use journey_e2e::sla_day::{self, Day, Traffic};
use lifecycle::sla::{ClockKind, SlaClock, StepKind};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Friday 2025-06-13: leads arrive at night, in business hours, and late on Friday, when the
/// clocks run over the weekend.
async fn friday(leads: usize, seed: u64, overlapping: bool) -> Day {
    let traffic = Traffic {
        leads,
        seed,
        day: sla_day::midnight("2025-06-13T00:00:00Z"),
        overlapping,
    };
    sla_day::run(traffic).await
}

/// Whether `clock` was still running at its due time.
fn is_breached(clock: &SlaClock) -> bool {
    clock.stopped_at.is_none_or(|stop| stop >= clock.due_at)
}

/// The steps `clock` must have had, from its stored times and the minute schedule alone: the
/// reminder if some whole minute falls at or after the reminder time, before the due time and
/// before the clock stopped; on breach, the manager told and, for a rep's clock, the lead
/// reassigned (first clock) or overflowed (after the one reassignment the policies allow).
fn expected_steps(clock: &SlaClock) -> BTreeSet<StepKind> {
    let mut steps = BTreeSet::new();
    let before_stop = |t| clock.stopped_at.is_none_or(|stop| t < stop);
    if let Some(remind_at) = clock.remind_at {
        let first_tick = remind_at.duration_round_up(Duration::minutes(1)).unwrap();
        if first_tick < clock.due_at && before_stop(first_tick) {
            steps.insert(StepKind::Remind);
        }
    }
    if is_breached(clock) {
        steps.insert(StepKind::NotifyManager);
        if clock.kind == ClockKind::RepResponse {
            steps.insert(if clock.reassignments == 0 {
                StepKind::Reassign
            } else {
                StepKind::Overflow
            });
        }
    }
    steps
}

/// Every breached clock's manager was told once, within a minute of its due time, and no
/// manager was told of a clock that was met.
fn assert_every_breach_told_in_time(day: &Day) {
    let breached: Vec<&SlaClock> = day.clocks.values().filter(|c| is_breached(c)).collect();
    for clock in &breached {
        let told = day.breaches.get(&Day::ref_of(clock));
        let told = told.unwrap_or_else(|| panic!("nobody told of the breach of {}", clock.id));
        assert_eq!(told.len(), 1, "{} told {} times", clock.id, told.len());
        assert_eq!(told[0].due_at, clock.due_at, "{}", clock.id);
        let late = told[0].lateness();
        assert!(
            late >= Duration::zero() && late < Duration::seconds(60),
            "{} told {late} after its due time",
            clock.id
        );
    }
    assert_eq!(
        day.breaches.len(),
        breached.len(),
        "a met clock was reported"
    );
}

/// Every clock's stored steps are the ones its times call for, and its reminder (if any) was
/// sent once.
fn assert_each_clock_had_its_steps(day: &Day) {
    for clock in day.clocks.values() {
        let expected = expected_steps(clock);
        assert_eq!(clock.steps_done, expected, "steps of {}", clock.id);
        let reminded = day.reminders.get(&Day::ref_of(clock)).copied();
        let want = expected.contains(&StepKind::Remind).then_some(1);
        assert_eq!(reminded, want, "reminders of {}", clock.id);
        assert!(
            clock.due_at > clock.started_at,
            "{} started breached",
            clock.id
        );
    }
    assert!(
        day.reminders.keys().all(|k| day.clock_of(k).is_some()),
        "a reminder for no clock"
    );
}

/// (due, met) per group and clock kind, from the stored clocks: by pool, or by owner.
fn compliance(day: &Day, by_team: bool) -> Compliance {
    let mut out = Compliance::new();
    for clock in day.clocks.values() {
        let group = match by_team {
            true => clock.pool.clone(),
            false => clock.owner.as_ref().map(|r| r.as_str().to_owned()),
        };
        let kind = match clock.kind {
            ClockKind::RoutingLatency => "routing",
            ClockKind::RepResponse => "response",
            ClockKind::SalFollowUp => "sal_follow_up",
        };
        let entry = out
            .entry((group.unwrap_or_else(|| "(none)".into()), kind))
            .or_default();
        entry.0 += 1;
        entry.1 += u64::from(!is_breached(clock));
    }
    out
}

/// (due, met) per group and clock kind, as the funnel report states them.
fn reported(report: &Value) -> Compliance {
    let mut out = BTreeMap::new();
    for row in report["groups"].as_array().unwrap() {
        let group = row["group"].as_str().unwrap().to_owned();
        for kind in ["routing", "response"] {
            let sla = &row["sla"][kind];
            if let (Some(due), Some(met)) = (sla["due"].as_u64(), sla["met"].as_u64()) {
                out.insert((group.clone(), kind), (due, met));
            }
        }
    }
    out
}

type Compliance = BTreeMap<(String, &'static str), (u64, u64)>;

/// The rep-response entries alone (a routing clock runs for no rep).
fn response_only(all: Compliance) -> Compliance {
    all.into_iter()
        .filter(|((_, k), _)| *k == "response")
        .collect()
}

#[tokio::test]
async fn every_breach_of_a_day_on_the_local_stack_is_told_within_a_minute_and_each_step_once() {
    let day = friday(300, 7, false).await;
    assert_eq!(day.webhooks.get(&200), Some(&300), "{:?}", day.webhooks);

    assert_every_breach_told_in_time(&day);
    assert_each_clock_had_its_steps(&day);

    // Both promises were broken during the day: routing latency while nobody could take a
    // lead (the offsite, the caps), rep response by the reps who never answer.
    let breached = |kind| {
        let of_kind = day.clocks.values().filter(|c| c.kind == kind);
        of_kind.filter(|c| is_breached(c)).count()
    };
    assert!(breached(ClockKind::RoutingLatency) >= 5);
    assert!(breached(ClockKind::RepResponse) >= 20);
    let steps = |step| {
        let clocks = day.clocks.values();
        clocks.filter(|c| c.steps_done.contains(&step)).count()
    };
    assert!(steps(StepKind::Remind) > 0 && steps(StepKind::Reassign) > 0);
    assert!(steps(StepKind::Overflow) > 0 && day.posted["lead_overflowed"] > 0);
    assert!(day.accepted > 100, "{} accepted", day.accepted);
    let routing = day.clocks.values();
    let routing = routing
        .filter(|c| c.kind == ClockKind::RoutingLatency)
        .count();
    assert_eq!(routing, 300, "every MQL's routing clock stored");

    // The rollups count the same compliance, per team and per rep.
    assert_eq!(reported(&day.reports["team"]), compliance(&day, true));
    let by_rep = reported(&day.reports["rep"]);
    assert_eq!(
        response_only(by_rep),
        response_only(compliance(&day, false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_with_two_sweeps_overlapping_every_minute_still_does_each_step_once() {
    let day = friday(100, 11, true).await;
    assert_every_breach_told_in_time(&day);
    // A sweep that finds a step claimed sends its messages again, which the notifier drops
    // (it records each notice it delivered); a step done twice would show in the clocks'
    // stored steps or as a second notice.
    assert_each_clock_had_its_steps(&day);
    let clocks = day.clocks.values();
    assert!(clocks
        .clone()
        .any(|c| c.steps_done.contains(&StepKind::Reassign)));
    assert!(clocks
        .clone()
        .any(|c| c.steps_done.contains(&StepKind::Overflow)));
}
