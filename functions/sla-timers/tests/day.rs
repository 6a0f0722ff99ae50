//! A simulated day on the embedded store (see `support/day.rs`): every breach is acted on
//! within 60 seconds of its due time, and each escalation step happens exactly once per
//! clock, judged from the messages sent and the clocks stored.

#[path = "support/day.rs"]
mod day;

use chrono::{Duration, DurationRound};
use day::{Day, Traffic};
use lifecycle::sla::{ClockKind, SlaClock, StepKind};
use std::collections::BTreeSet;

/// Friday 2025-06-13: leads arrive at night, in business hours, and late on Friday, when the
/// clocks run over the weekend.
async fn friday(leads: usize, seed: u64, overlapping: bool) -> Day {
    let traffic = Traffic {
        leads,
        seed,
        day: day::midnight("2025-06-13T00:00:00Z"),
        overlapping,
    };
    day::run(traffic).await
}

/// The steps `clock` must have had, from its stored times and the minute schedule alone: the
/// reminder if some whole minute falls at or after the reminder time, before the due time and
/// before the clock stopped; on breach, the manager told and the lead reassigned (first
/// clock) or overflowed (after the one reassignment the policies allow).
fn expected_steps(clock: &SlaClock) -> BTreeSet<StepKind> {
    let mut steps = BTreeSet::new();
    let before_stop = |t| clock.stopped_at.is_none_or(|stop| t < stop);
    if let Some(remind_at) = clock.remind_at {
        let first_sweep = remind_at.duration_round_up(Duration::minutes(1)).unwrap();
        if first_sweep < clock.due_at && before_stop(first_sweep) {
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

/// Whether `clock` was still running at its due time (the sweep that acts on a breach stops
/// the clock at the same instant or later).
fn is_breached(clock: &SlaClock) -> bool {
    clock.stopped_at.is_none_or(|stop| stop >= clock.due_at)
}

/// The steps whose messages were sent for `clock`.
fn sent_steps(day: &Day, clock: &SlaClock) -> BTreeSet<StepKind> {
    let mut steps = BTreeSet::new();
    for kind in [
        StepKind::Remind,
        StepKind::NotifyManager,
        StepKind::Reassign,
        StepKind::Overflow,
    ] {
        let step = format!("{}:{kind}", clock.id);
        let message = match kind {
            StepKind::Reassign => step,
            _ => format!("notice:{step}"),
        };
        if day.step_messages.contains_key(&message) {
            steps.insert(kind);
        }
    }
    steps
}

#[tokio::test]
async fn every_breach_of_a_simulated_day_is_acted_on_within_a_minute_and_each_step_once() {
    let day = friday(300, 7, false).await;
    assert_every_breach_acted_on_in_time(&day);
    for (id, deliveries) in &day.step_messages {
        assert_eq!(*deliveries, 1, "{id} sent {deliveries} times");
    }
    assert_each_clock_had_its_steps(&day);

    // The day exercised every rung, and both clocks of every lead are stored.
    assert!(day.steps("remind") > 0 && day.steps("reassign") > 0 && day.steps("overflow") > 0);
    assert!(day.accepted > 100, "{} accepted", day.accepted);
    let of_kind = |kind| day.clocks.values().filter(|c| c.kind == kind).count();
    assert_eq!(of_kind(ClockKind::RoutingLatency), 300);
    assert!(of_kind(ClockKind::RepResponse) >= 300);
    assert!(day.sweeps >= 24 * 60);
    assert!(day.lateness().last() < Some(&Duration::seconds(60)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sweeps_overlapping_every_minute_still_do_each_step_once() {
    let day = friday(150, 11, true).await;
    assert_every_breach_acted_on_in_time(&day);
    // A sweep that finds a step claimed sends its messages again (their consumers dedupe on
    // the id), so deliveries may repeat; a step done twice would show in the clocks' stored
    // steps or as a message id of a step the clock's times do not call for.
    assert_each_clock_had_its_steps(&day);
    assert!(day.steps("reassign") > 0 && day.steps("overflow") > 0);
}

fn assert_every_breach_acted_on_in_time(day: &Day) {
    let breached: Vec<&SlaClock> = day.clocks.values().filter(|c| is_breached(c)).collect();
    assert!(breached.len() >= 10, "{} breaches", breached.len());
    for clock in &breached {
        let seen = day.detections.get(&clock.id);
        let seen = seen.unwrap_or_else(|| panic!("breach of {} not detected", clock.id));
        assert_eq!((&seen.clock, seen.due_at), (&clock.id, clock.due_at));
        let late = seen.lateness();
        assert!(
            late >= Duration::zero() && late < Duration::seconds(60),
            "{} acted on {late} after its due time",
            clock.id
        );
    }
    let detected = day.detections.len();
    assert_eq!(detected, breached.len(), "no breach notice for a met clock");
}

/// Every clock's messages and stored steps are the ones its times call for, no more.
fn assert_each_clock_had_its_steps(day: &Day) {
    let mut ids = 0;
    for clock in day.clocks.values() {
        let expected = expected_steps(clock);
        assert_eq!(sent_steps(day, clock), expected, "messages of {}", clock.id);
        assert_eq!(clock.steps_done, expected, "steps stored on {}", clock.id);
        ids += expected.len();
    }
    assert_eq!(
        day.step_messages.len(),
        ids,
        "no step message for another clock"
    );
}
