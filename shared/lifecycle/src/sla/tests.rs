//! Calendar and clock tests. Expected instants are worked out by hand in the comments, from the
//! published DST dates: US 2025-03-09 02:00 EST -> 03:00 EDT and 2025-11-02 02:00 EDT -> 01:00
//! EST; EU 2025-03-30 01:00 UTC (CET -> CEST) and 2025-10-26 01:00 UTC (CEST -> CET).

use super::*;
use crate::{LeadId, RepId, Stage, Timestamp};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn utc(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn hm(h: u16, m: u16) -> WallTime {
    WallTime::hm(h, m).unwrap()
}

fn iv(from: (u16, u16), to: (u16, u16)) -> OpenInterval {
    OpenInterval::new(hm(from.0, from.1), hm(to.0, to.1))
}

fn calendar(zone: &str, weekly: WeeklyHours, holidays: &[&str]) -> BusinessCalendar {
    let holidays = holidays
        .iter()
        .map(|d| d.parse::<NaiveDate>().unwrap())
        .collect();
    let spec = CalendarSpec {
        time_zone: Zone::parse(zone).unwrap(),
        weekly,
        holidays,
    };
    BusinessCalendar::new(spec).unwrap()
}

fn nine_to_five(zone: &str) -> BusinessCalendar {
    calendar(zone, WeeklyHours::weekdays(&[iv((9, 0), (17, 0))]), &[])
}

fn always(zone: &str) -> BusinessCalendar {
    BusinessCalendar::always_open(Zone::parse(zone).unwrap())
}

fn sundays(intervals: &[OpenInterval]) -> WeeklyHours {
    WeeklyHours {
        sun: intervals.to_vec(),
        ..WeeklyHours::default()
    }
}

#[test]
fn us_spring_forward_over_a_weekend_shifts_the_utc_due_time() {
    // Fri 2025-03-07 16:00 EST = 21:00Z. One business hour left on Friday (to 17:00 EST), then
    // three on Monday from 09:00 EDT = 13:00Z: due 12:00 EDT = 16:00Z (not 17:00Z, as a fixed
    // UTC-5 offset would give).
    let cal = nine_to_five("America/New_York");
    let due = cal.add_business_duration(utc("2025-03-07T21:00:00Z"), Duration::hours(4));
    assert_eq!(due, utc("2025-03-10T16:00:00Z"));
}

#[test]
fn us_fall_back_over_a_weekend() {
    // Fri 2025-10-31 16:00 EDT = 20:00Z; 1 h Friday, then Mon 2025-11-03 09:00 EST = 14:00Z
    // plus 3 h = 17:00Z.
    let cal = nine_to_five("America/New_York");
    let due = cal.add_business_duration(utc("2025-10-31T20:00:00Z"), Duration::hours(4));
    assert_eq!(due, utc("2025-11-03T17:00:00Z"));
}

#[test]
fn eu_spring_forward_inside_a_five_business_day_window() {
    // Wed 2025-03-26 10:00 CET = 09:00Z; 40 business hours: Wed 7, Thu 8, Fri 8, Mon 8,
    // Tue 8 = 39, then 1 h on Wed 2025-04-02: 10:00 CEST = 08:00Z.
    let cal = nine_to_five("Europe/Berlin");
    let start = utc("2025-03-26T09:00:00Z");
    let due = cal.add_business_duration(start, Duration::hours(40));
    assert_eq!(due, utc("2025-04-02T08:00:00Z"));
    assert_eq!(
        cal.business_duration_between(start, due),
        Duration::hours(40)
    );
}

#[test]
fn eu_fall_back_inside_a_five_business_day_window() {
    // Wed 2025-10-22 10:00 CEST = 08:00Z; 40 h later in business time is Wed 2025-10-29
    // 10:00 CET = 09:00Z.
    let cal = nine_to_five("Europe/Berlin");
    let due = cal.add_business_duration(utc("2025-10-22T08:00:00Z"), Duration::hours(40));
    assert_eq!(due, utc("2025-10-29T09:00:00Z"));
}

#[test]
fn round_the_clock_days_are_23_and_25_hours_long_on_dst_days() {
    let ny = always("America/New_York");
    // 2025-03-09 00:00 EST = 05:00Z to 2025-03-10 00:00 EDT = 04:00Z.
    let spring =
        ny.business_duration_between(utc("2025-03-09T05:00:00Z"), utc("2025-03-10T04:00:00Z"));
    assert_eq!(spring, Duration::hours(23));
    // 2025-11-02 00:00 EDT = 04:00Z to 2025-11-03 00:00 EST = 05:00Z.
    let autumn =
        ny.business_duration_between(utc("2025-11-02T04:00:00Z"), utc("2025-11-03T05:00:00Z"));
    assert_eq!(autumn, Duration::hours(25));

    let berlin = always("Europe/Berlin");
    // 2025-03-30 00:00 CET = 03-29 23:00Z to 2025-03-31 00:00 CEST = 03-30 22:00Z.
    let spring =
        berlin.business_duration_between(utc("2025-03-29T23:00:00Z"), utc("2025-03-30T22:00:00Z"));
    assert_eq!(spring, Duration::hours(23));
    // 2025-10-26 00:00 CEST = 10-25 22:00Z to 2025-10-27 00:00 CET = 10-26 23:00Z.
    let autumn =
        berlin.business_duration_between(utc("2025-10-25T22:00:00Z"), utc("2025-10-26T23:00:00Z"));
    assert_eq!(autumn, Duration::hours(25));

    // 24 business hours from Sat 2025-03-29 12:00 CET = 11:00Z is 24 real hours: 11:00Z on
    // Sunday, which the wall clock shows as 13:00 CEST.
    let due = berlin.add_business_duration(utc("2025-03-29T11:00:00Z"), Duration::hours(24));
    assert_eq!(due, utc("2025-03-30T11:00:00Z"));
}

#[test]
fn an_interval_spanning_the_skipped_hour_is_an_hour_shorter() {
    // Sunday 01:00-05:00 New York. On 2025-03-09 it opens at 01:00 EST = 06:00Z and closes at
    // 05:00 EDT = 09:00Z: 3 h. The window below holds only that Sunday.
    let cal = calendar("America/New_York", sundays(&[iv((1, 0), (5, 0))]), &[]);
    let held =
        cal.business_duration_between(utc("2025-03-08T12:00:00Z"), utc("2025-03-10T12:00:00Z"));
    assert_eq!(held, Duration::hours(3));
}

#[test]
fn an_interval_spanning_the_repeated_hour_counts_it_twice() {
    // On 2025-11-02 01:00 happens at 05:00Z (EDT) and again at 06:00Z (EST). The interval opens
    // at the first, 05:00Z, and closes at 05:00 EST = 10:00Z: 5 h.
    let cal = calendar("America/New_York", sundays(&[iv((1, 0), (5, 0))]), &[]);
    let held =
        cal.business_duration_between(utc("2025-11-01T12:00:00Z"), utc("2025-11-03T12:00:00Z"));
    assert_eq!(held, Duration::hours(5));
}

#[test]
fn adjacent_intervals_meeting_in_the_repeated_hour_are_not_counted_twice() {
    // 00:00-01:30 and 01:30-03:00 cover 00:00 EDT (04:00Z) to 03:00 EST (08:00Z): 4 h, however
    // the 01:30 between them resolves.
    let cal = calendar(
        "America/New_York",
        sundays(&[iv((0, 0), (1, 30)), iv((1, 30), (3, 0))]),
        &[],
    );
    let held =
        cal.business_duration_between(utc("2025-11-01T12:00:00Z"), utc("2025-11-03T12:00:00Z"));
    assert_eq!(held, Duration::hours(4));
}

#[test]
fn an_opening_time_inside_the_gap_opens_when_the_gap_ends() {
    // 02:30 does not exist on 2025-03-09 in New York: the interval opens at 03:00 EDT = 07:00Z
    // and closes at 06:00 EDT = 10:00Z.
    let cal = calendar("America/New_York", sundays(&[iv((2, 30), (6, 0))]), &[]);
    assert_eq!(
        cal.next_open(utc("2025-03-09T06:45:00Z")),
        utc("2025-03-09T07:00:00Z")
    );
    let held =
        cal.business_duration_between(utc("2025-03-09T00:00:00Z"), utc("2025-03-10T00:00:00Z"));
    assert_eq!(held, Duration::hours(3));
}

#[test]
fn an_interval_wholly_inside_the_gap_is_closed_that_day_only() {
    // 02:00-02:45 never happens on 2025-03-09; on 2025-03-16 it is 02:00 EDT = 06:00Z for 45 min.
    let cal = calendar("America/New_York", sundays(&[iv((2, 0), (2, 45))]), &[]);
    assert_eq!(
        cal.next_open(utc("2025-03-09T00:00:00Z")),
        utc("2025-03-16T06:00:00Z")
    );
    let held =
        cal.business_duration_between(utc("2025-03-15T00:00:00Z"), utc("2025-03-17T00:00:00Z"));
    assert_eq!(held, Duration::minutes(45));
}

#[test]
fn a_weekend_is_skipped() {
    // Fri 2025-06-13 16:00 CEST = 14:00Z: 1 h Friday, Mon 09:00 CEST = 07:00Z + 3 h = 10:00Z.
    let cal = nine_to_five("Europe/Berlin");
    let due = cal.add_business_duration(utc("2025-06-13T14:00:00Z"), Duration::hours(4));
    assert_eq!(due, utc("2025-06-16T10:00:00Z"));
}

#[test]
fn holidays_are_skipped() {
    // Wed 2025-12-24 16:30 CET = 15:30Z: 30 min Wednesday; Thu 25 and Fri 26 are holidays, then
    // the weekend; Mon 2025-12-29 09:00 CET = 08:00Z + 3 h 30 = 11:30Z.
    let weekly = WeeklyHours::weekdays(&[iv((9, 0), (17, 0))]);
    let cal = calendar("Europe/Berlin", weekly, &["2025-12-25", "2025-12-26"]);
    let due = cal.add_business_duration(utc("2025-12-24T15:30:00Z"), Duration::hours(4));
    assert_eq!(due, utc("2025-12-29T11:30:00Z"));
}

#[test]
fn a_lead_at_23_59_on_friday_is_due_from_monday_opening() {
    // New York, Fri 2025-03-07 23:59 EST = 2025-03-08T04:59Z; the clocks change on Sunday, so
    // Monday opens at 09:00 EDT = 13:00Z and 15 business minutes end at 13:15Z.
    let ny = nine_to_five("America/New_York");
    let friday_night = utc("2025-03-08T04:59:00Z");
    assert!(!ny.is_open(friday_night));
    assert_eq!(ny.next_open(friday_night), utc("2025-03-10T13:00:00Z"));
    assert_eq!(
        ny.add_business_duration(friday_night, Duration::minutes(15)),
        utc("2025-03-10T13:15:00Z")
    );

    // Berlin, Fri 2025-06-13 23:59 CEST = 21:59Z: Mon 09:15 CEST = 07:15Z.
    let berlin = nine_to_five("Europe/Berlin");
    let due = berlin.add_business_duration(utc("2025-06-13T21:59:00Z"), Duration::minutes(15));
    assert_eq!(due, utc("2025-06-16T07:15:00Z"));
}

#[test]
fn a_duration_ending_at_closing_time_is_due_at_closing_time() {
    // Mon 2025-06-16 09:00 CEST = 07:00Z + 8 h = 17:00 CEST = 15:00Z, not Tuesday's opening.
    let cal = nine_to_five("Europe/Berlin");
    let due = cal.add_business_duration(utc("2025-06-16T07:00:00Z"), Duration::hours(8));
    assert_eq!(due, utc("2025-06-16T15:00:00Z"));
}

#[test]
fn a_lunch_break_is_skipped() {
    // 09:00-12:00, 13:00-17:00 Berlin; Mon 2025-06-16 11:30 CEST = 09:30Z + 1 h: 30 min before
    // lunch, 30 min after, 13:30 CEST = 11:30Z.
    let cal = calendar(
        "Europe/Berlin",
        WeeklyHours::weekdays(&[iv((9, 0), (12, 0)), iv((13, 0), (17, 0))]),
        &[],
    );
    let due = cal.add_business_duration(utc("2025-06-16T09:30:00Z"), Duration::hours(1));
    assert_eq!(due, utc("2025-06-16T11:30:00Z"));
}

#[test]
fn calendar_documents_round_trip_and_bad_ones_are_refused_clearly() {
    let json = r#"{"time_zone":"Europe/Berlin","weekly":{"mon":[{"from":"09:00","to":"24:00"}]},"holidays":["2025-12-25"]}"#;
    let cal: BusinessCalendar = serde_json::from_str(json).unwrap();
    assert_eq!(serde_json::to_string(&cal).unwrap(), json);

    let bad_zone =
        r#"{"time_zone":"Mars/Olympus","weekly":{"mon":[{"from":"09:00","to":"17:00"}]}}"#;
    let err = serde_json::from_str::<BusinessCalendar>(bad_zone)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown time zone"), "{err}");
    let bad_time = r#"{"time_zone":"UTC","weekly":{"mon":[{"from":"25:00","to":"26:00"}]}}"#;
    let err = serde_json::from_str::<BusinessCalendar>(bad_time)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a time of day"), "{err}");
    // Regression: a day that is no weekday was dropped, and the calendar stored closed on it.
    let bad_day = r#"{"time_zone":"UTC","weekly":{"funday":[{"from":"09:00","to":"17:00"}]}}"#;
    let err = serde_json::from_str::<BusinessCalendar>(bad_day)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `funday`"), "{err}");

    let spec = |weekly| CalendarSpec {
        time_zone: Zone::parse("UTC").unwrap(),
        weekly,
        holidays: BTreeSet::new(),
    };
    let overlap = WeeklyHours {
        tue: vec![iv((9, 0), (12, 0)), iv((11, 0), (13, 0))],
        ..WeeklyHours::default()
    };
    assert_eq!(
        BusinessCalendar::new(spec(overlap)),
        Err(CalendarError::Overlap {
            day: "tue",
            at: hm(11, 0)
        })
    );
    let backwards = WeeklyHours {
        wed: vec![iv((17, 0), (9, 0))],
        ..WeeklyHours::default()
    };
    assert!(matches!(
        BusinessCalendar::new(spec(backwards)),
        Err(CalendarError::EmptyInterval { day: "wed", .. })
    ));
    assert_eq!(
        BusinessCalendar::new(spec(WeeklyHours::default())),
        Err(CalendarError::NeverOpen)
    );
}

// ---- policies and clocks ----

fn hand_raiser_policy() -> SlaPolicy {
    SlaPolicy {
        id: "hand_raiser_accept".into(),
        clock: ClockKind::RepResponse,
        stage: Stage::Mql,
        lead_kind: Some(LeadKind::HandRaiser),
        target_minutes: 15,
        escalation: Escalation {
            remind_at_percent: Some(50),
            reassign: true,
            max_reassignments: 1,
            notify_manager: true,
        },
    }
}

fn start_at(at: Timestamp, reassignments: u32) -> ClockStart {
    ClockStart {
        lead: LeadId::new("01JLEAD"),
        cycle: 1,
        lead_kind: LeadKind::HandRaiser,
        owner: Some(RepId::new("rep-a")),
        reassignments,
        at,
        pool: Some("emea".into()),
    }
}

fn kinds(steps: &[EscalationStep]) -> Vec<StepKind> {
    steps.iter().map(|s| s.kind).collect()
}

#[test]
fn a_friday_night_clock_is_due_monday_and_climbs_the_ladder_once() {
    let cal = nine_to_five("Europe/Berlin");
    let mut clock = SlaClock::start(
        &hand_raiser_policy(),
        &cal,
        start_at(utc("2025-06-13T21:59:00Z"), 0),
    );
    // Due Mon 09:15 CEST = 07:15Z; reminder at half of 15 min: 09:07:30 CEST.
    assert_eq!(clock.due_at, utc("2025-06-16T07:15:00Z"));
    assert_eq!(clock.remind_at, Some(utc("2025-06-16T07:07:30Z")));
    assert!(!clock.is_breached(clock.started_at));
    assert!(clock.next_steps(utc("2025-06-16T07:07:00Z")).is_empty());
    assert_eq!(
        clock.wake_index().as_deref(),
        Some("2025-06-16T07:07:30.000Z")
    );

    let steps = clock.next_steps(utc("2025-06-16T07:08:00Z"));
    assert_eq!(kinds(&steps), [StepKind::Remind]);
    assert_eq!(steps[0].id, "01JLEAD:1:rep_response:0:remind");
    assert!(clock.mark_done(StepKind::Remind));
    assert!(!clock.mark_done(StepKind::Remind));
    assert!(clock.next_steps(utc("2025-06-16T07:10:00Z")).is_empty());
    assert_eq!(clock.next_wake(), Some(clock.due_at));

    let steps = clock.next_steps(utc("2025-06-16T07:15:00Z"));
    assert_eq!(kinds(&steps), [StepKind::NotifyManager, StepKind::Reassign]);
    assert_eq!(steps[1].id, "01JLEAD:1:rep_response:0:reassign");
    assert!(!SlaClock::ends_with(steps[0].kind) && SlaClock::ends_with(steps[1].kind));
    // A sweep that told the manager and crashed before reassigning reassigns next time.
    clock.mark_done(StepKind::NotifyManager);
    let left = clock.next_steps(utc("2025-06-16T07:16:00Z"));
    assert_eq!(kinds(&left), [StepKind::Reassign]);
    clock.mark_done(StepKind::Reassign);
    assert!(clock.next_steps(utc("2025-06-16T09:00:00Z")).is_empty());
    assert_eq!(clock.next_wake(), None);
}

#[test]
fn reassignment_restarts_the_clock_and_the_last_breach_overflows() {
    let cal = nine_to_five("Europe/Berlin");
    let policy = hand_raiser_policy();
    let mut first = SlaClock::start(&policy, &cal, start_at(utc("2025-06-16T07:00:00Z"), 0));
    let at = utc("2025-06-16T07:15:00Z");

    // The sweep stops the first clock when it reassigns; routing starts the next one.
    assert!(first.stop(at));
    let mut second = SlaClock::start(&policy, &cal, start_at(at, 1));
    assert_eq!(second.id, "01JLEAD:1:rep_response:1");
    assert_eq!(second.due_at, utc("2025-06-16T07:30:00Z"));
    assert!(first.next_steps(utc("2025-06-16T08:00:00Z")).is_empty());

    // One reassignment is allowed; the second breach overflows instead.
    let steps = second.next_steps(utc("2025-06-16T07:30:00Z"));
    assert_eq!(kinds(&steps), [StepKind::NotifyManager, StepKind::Overflow]);
    second.stop(utc("2025-06-16T07:31:00Z"));
    assert!(second.is_breached(utc("2025-06-16T09:00:00Z")));
}

#[test]
fn a_stopped_clock_has_no_steps_and_a_late_sweep_skips_the_reminder() {
    let cal = nine_to_five("Europe/Berlin");
    let mut clock = SlaClock::start(
        &hand_raiser_policy(),
        &cal,
        start_at(utc("2025-06-16T07:00:00Z"), 0),
    );
    // The sweep first looks after the due time: only the breach steps are left.
    assert_eq!(
        kinds(&clock.next_steps(utc("2025-06-16T08:00:00Z"))),
        [StepKind::NotifyManager, StepKind::Reassign]
    );

    assert_eq!(
        clock.status(utc("2025-06-16T07:05:00Z")),
        ClockStatus::Running
    );
    assert_eq!(
        clock.status(utc("2025-06-16T07:15:00Z")),
        ClockStatus::Breached
    );
    assert!(clock.stop(utc("2025-06-16T07:05:00Z")));
    assert_eq!(clock.status(utc("2025-06-16T09:00:00Z")), ClockStatus::Met);
    assert!(!clock.stop(utc("2025-06-16T07:06:00Z")));
    assert!(clock.next_steps(utc("2025-06-16T08:00:00Z")).is_empty());
    assert!(!clock.is_breached(utc("2025-06-16T08:00:00Z")));
    assert_eq!(clock.next_wake(), None);
}

#[test]
fn a_remind_only_clock_wakes_for_its_reminder_and_records_its_breach_at_the_due_time() {
    let cal = nine_to_five("Europe/Berlin");
    let policy = SlaPolicy {
        escalation: Escalation {
            remind_at_percent: Some(50),
            reassign: false,
            max_reassignments: 0,
            notify_manager: false,
        },
        ..hand_raiser_policy()
    };
    policy.validate().unwrap();
    // Started Mon 09:00 CEST = 07:00Z: reminder at 07:07:30Z, due at 07:15Z.
    let mut clock = SlaClock::start(&policy, &cal, start_at(utc("2025-06-16T07:00:00Z"), 0));
    assert_eq!(clock.next_wake(), Some(utc("2025-06-16T07:07:30Z")));

    let steps = clock.next_steps(utc("2025-06-16T07:08:00Z"));
    assert_eq!(kinds(&steps), [StepKind::Remind]);
    clock.mark_done(StepKind::Remind);
    assert_eq!(clock.next_wake(), Some(utc("2025-06-16T07:15:00Z")));
    assert!(!clock.outcome_recorded());

    let steps = clock.next_steps(utc("2025-06-16T07:15:00Z"));
    assert_eq!(kinds(&steps), [StepKind::RecordBreach]);
    assert_eq!(steps[0].id, "01JLEAD:1:rep_response:0:record_breach");
    assert!(!SlaClock::ends_with(StepKind::RecordBreach));
    let before = clock.clone();
    clock.mark_done(StepKind::RecordBreach);
    assert!(
        clock.outcome_recorded_by(Some(&before)),
        "the breach is stored"
    );
    assert_eq!(clock.next_wake(), None);
    assert!(clock.next_steps(utc("2025-06-16T09:00:00Z")).is_empty());
}

#[test]
fn a_routing_latency_clock_that_tells_nobody_still_wakes_at_its_due_time() {
    let cal = nine_to_five("Europe/Berlin");
    let policy = SlaPolicy {
        id: "routing".into(),
        clock: ClockKind::RoutingLatency,
        lead_kind: None,
        target_minutes: 5,
        escalation: Escalation {
            notify_manager: false,
            ..Escalation::default()
        },
        ..hand_raiser_policy()
    };
    policy.validate().unwrap();
    let start = ClockStart {
        owner: None,
        ..start_at(utc("2025-06-16T07:00:00Z"), 0)
    };
    let clock = SlaClock::start(&policy, &cal, start);

    assert_eq!(clock.next_wake(), Some(utc("2025-06-16T07:05:00Z")));
    assert!(clock.next_steps(utc("2025-06-16T07:04:59Z")).is_empty());
    let steps = clock.next_steps(utc("2025-06-16T07:05:00Z"));
    assert_eq!(kinds(&steps), [StepKind::RecordBreach]);
}

#[test]
fn a_clock_reports_its_outcome_once_it_is_known() {
    use crate::funnel::{ClockKind as Reported, ClockOutcome};
    let cal = nine_to_five("Europe/Berlin");
    // Started Mon 2025-06-16 09:00 CEST = 07:00Z: due 09:15 CEST = 07:15Z.
    let start = start_at(utc("2025-06-16T07:00:00Z"), 0);
    let mut clock = SlaClock::start(&hand_raiser_policy(), &cal, start);
    let breached = ClockOutcome {
        clock: "01JLEAD:1:rep_response:0".into(),
        lead: LeadId::new("01JLEAD"),
        kind: Reported::Response,
        due_at: utc("2025-06-16T07:15:00Z"),
        met: false,
        recorded_at: utc("2025-06-16T07:15:00Z"),
        dims: crate::transition::Dimensions {
            rep: Some(RepId::new("rep-a")),
            team: Some("emea".into()),
            ..Default::default()
        },
    };
    assert_eq!(
        clock.outcome(utc("2025-06-16T07:14:59Z")),
        None,
        "not known yet"
    );
    assert_eq!(
        clock.outcome(utc("2025-06-16T07:15:00Z")),
        Some(breached.clone())
    );

    let late = clock.clone();
    clock.stop(utc("2025-06-16T07:10:00Z"));
    let met = ClockOutcome {
        met: true,
        recorded_at: utc("2025-06-16T07:11:00Z"),
        ..breached.clone()
    };
    assert_eq!(clock.outcome(utc("2025-06-16T07:11:00Z")), Some(met));
    let mut late = late;
    late.stop(utc("2025-06-16T07:20:00Z"));
    let stopped_late = ClockOutcome {
        recorded_at: utc("2025-06-16T08:00:00Z"),
        ..breached
    };
    assert_eq!(
        late.outcome(utc("2025-06-16T08:00:00Z")),
        Some(stopped_late)
    );
}

#[test]
fn the_outcome_is_recorded_by_the_stop_or_the_first_breach_step_only() {
    let cal = nine_to_five("Europe/Berlin");
    let fresh = SlaClock::start(
        &hand_raiser_policy(),
        &cal,
        start_at(utc("2025-06-16T07:00:00Z"), 0),
    );
    let mut reminded = fresh.clone();
    reminded.mark_done(StepKind::Remind);
    let mut told = reminded.clone();
    told.mark_done(StepKind::NotifyManager);
    let mut stopped_after = told.clone();
    stopped_after.stop(utc("2025-06-16T07:30:00Z"));
    let mut stopped_before = fresh.clone();
    stopped_before.stop(utc("2025-06-16T07:05:00Z"));

    assert!(!fresh.outcome_recorded_by(None), "a running new clock");
    assert!(!reminded.outcome_recorded_by(Some(&fresh)), "a reminder");
    assert!(told.outcome_recorded_by(Some(&reminded)), "the breach");
    assert!(
        !stopped_after.outcome_recorded_by(Some(&told)),
        "stored at the breach"
    );
    assert!(stopped_before.outcome_recorded_by(Some(&fresh)), "met");
    assert!(
        stopped_before.outcome_recorded_by(None),
        "started and stopped at once"
    );
}

#[test]
fn policies_are_validated_and_the_specific_one_wins() {
    let hand = hand_raiser_policy();
    let any = SlaPolicy {
        id: "mql_accept".into(),
        lead_kind: None,
        target_minutes: 240,
        ..hand.clone()
    };
    let set = SlaPolicies {
        policies: vec![any.clone(), hand.clone()],
    };
    set.validate().unwrap();
    let found = |kind| {
        set.find(ClockKind::RepResponse, Stage::Mql, kind)
            .map(|p| p.id.as_str())
    };
    assert_eq!(found(LeadKind::HandRaiser), Some("hand_raiser_accept"));
    assert_eq!(found(LeadKind::Behavioural), Some("mql_accept"));
    assert!(set
        .find(ClockKind::RepResponse, Stage::Sal, LeadKind::Behavioural)
        .is_none());

    let twin = SlaPolicies {
        policies: vec![
            hand.clone(),
            SlaPolicy {
                id: "other".into(),
                ..hand.clone()
            },
        ],
    };
    assert_eq!(
        twin.validate(),
        Err(PolicyError::Ambiguous(
            "hand_raiser_accept".into(),
            "other".into()
        ))
    );
    let dup = SlaPolicies {
        policies: vec![
            hand.clone(),
            SlaPolicy {
                lead_kind: None,
                ..hand.clone()
            },
        ],
    };
    assert_eq!(
        dup.validate(),
        Err(PolicyError::DuplicateId("hand_raiser_accept".into()))
    );

    let zero = SlaPolicy {
        target_minutes: 0,
        ..hand.clone()
    };
    assert_eq!(
        zero.validate(),
        Err(PolicyError::ZeroTarget("hand_raiser_accept".into()))
    );
    let latency = SlaPolicy {
        clock: ClockKind::RoutingLatency,
        ..hand.clone()
    };
    assert_eq!(
        latency.validate(),
        Err(PolicyError::NoOwner("hand_raiser_accept".into()))
    );
    let won = SlaPolicy {
        stage: Stage::Won,
        ..hand.clone()
    };
    assert!(matches!(
        won.validate(),
        Err(PolicyError::UntimedStage { .. })
    ));
    let share = SlaPolicy {
        escalation: Escalation {
            remind_at_percent: Some(100),
            ..hand.escalation.clone()
        },
        ..hand
    };
    assert!(matches!(
        share.validate(),
        Err(PolicyError::RemindShare { percent: 100, .. })
    ));
}

#[test]
fn policy_documents_parse_from_json() {
    let json = r#"{"policies":[{"id":"behavioural_accept","clock":"rep_response","stage":"mql",
        "target_minutes":240,"escalation":{"remind_at_percent":80,"notify_manager":true}}]}"#;
    let set: SlaPolicies = serde_json::from_str(json).unwrap();
    set.validate().unwrap();
    assert_eq!(set.policies[0].escalation.remind_at_percent, Some(80));
    assert!(!set.policies[0].escalation.reassign);
}

/// Regression: an `sal` policy was accepted and stored, and no clock ever ran under it (only
/// routing starts clocks, for MQLs), so a team believed its SALs were timed. Each kind now runs
/// at one stage: an `sal` policy must be an `sal_follow_up` one, which the accept starts.
#[test]
fn a_policy_for_a_stage_no_clock_runs_at_is_refused() {
    let json = r#"{"policies":[{"id":"sal_qualify","clock":"rep_response","stage":"sal",
        "target_minutes":2400,"escalation":{"remind_at_percent":80,"notify_manager":true}}]}"#;
    let set: SlaPolicies = serde_json::from_str(json).unwrap();
    assert!(matches!(
        set.validate(),
        Err(PolicyError::UntimedStage {
            clock: ClockKind::RepResponse,
            stage: Stage::Sal,
            expected: Stage::Mql,
            ..
        })
    ));

    let follow_up = json.replace("rep_response", "sal_follow_up");
    let set: SlaPolicies = serde_json::from_str(&follow_up).unwrap();
    set.validate().unwrap();
    assert_eq!(set.policies[0].clock, ClockKind::SalFollowUp);

    let at_mql = follow_up.replace(r#""stage":"sal""#, r#""stage":"mql""#);
    let set: SlaPolicies = serde_json::from_str(&at_mql).unwrap();
    assert!(matches!(
        set.validate(),
        Err(PolicyError::UntimedStage {
            clock: ClockKind::SalFollowUp,
            stage: Stage::Mql,
            expected: Stage::Sal,
            ..
        })
    ));
}

fn sal_follow_up_policy() -> SlaPolicy {
    SlaPolicy {
        id: "sal_follow_up".into(),
        clock: ClockKind::SalFollowUp,
        stage: Stage::Sal,
        lead_kind: None,
        // Five business days of eight hours.
        target_minutes: 5 * 8 * 60,
        escalation: Escalation {
            remind_at_percent: Some(80),
            reassign: false,
            max_reassignments: 0,
            notify_manager: true,
        },
    }
}

#[test]
fn an_sal_follow_up_policy_may_not_take_the_accepted_lead_away() {
    let reassigning = SlaPolicy {
        escalation: Escalation {
            reassign: true,
            max_reassignments: 1,
            ..sal_follow_up_policy().escalation
        },
        ..sal_follow_up_policy()
    };
    assert_eq!(
        reassigning.validate(),
        Err(PolicyError::AcceptedLead("sal_follow_up".into()))
    );
    let message = PolicyError::AcceptedLead("sal_follow_up".into()).to_string();
    assert!(message.contains("not reassign"), "{message}");
    sal_follow_up_policy().validate().unwrap();
}

#[test]
fn a_friday_afternoon_accept_is_followed_up_by_the_next_friday_afternoon() {
    use crate::funnel::ClockKind as Reported;
    let cal = nine_to_five("Europe/Berlin");
    // Accepted Fri 2025-06-13 15:00 CEST = 13:00Z. 2,400 business minutes: 120 left on Friday
    // (to 17:00), none at the weekend, 4 × 480 = 1,920 Mon 16 to Thu 19, and the last 360 on
    // Fri 20 from 09:00: due 15:00 CEST = 13:00Z. The reminder at 80 % (1,920 minutes): 120 on
    // Friday, 3 × 480 Mon to Wed, 360 on Thu 19: 15:00 CEST = 13:00Z.
    let start = ClockStart {
        lead_kind: LeadKind::Behavioural,
        ..start_at(utc("2025-06-13T13:00:00Z"), 0)
    };
    let mut clock = SlaClock::start(&sal_follow_up_policy(), &cal, start);
    assert_eq!(clock.id, "01JLEAD:1:sal_follow_up:0");
    assert_eq!(clock.due_at, utc("2025-06-20T13:00:00Z"));
    assert_eq!(clock.remind_at, Some(utc("2025-06-19T13:00:00Z")));

    // A ladder stored with a reassignment (as no valid policy has) still only tells the
    // manager: the kind alone forbids taking the lead.
    clock.escalation.reassign = true;
    clock.escalation.max_reassignments = 3;
    let steps = clock.next_steps(utc("2025-06-20T13:00:00Z"));
    assert_eq!(kinds(&steps), [StepKind::NotifyManager]);
    assert_eq!(steps[0].id, "01JLEAD:1:sal_follow_up:0:notify_manager");

    let outcome = clock.outcome(utc("2025-06-20T13:00:00Z")).unwrap();
    assert_eq!(
        outcome.kind,
        Reported::SalFollowUp,
        "not counted as response"
    );
    assert!(!outcome.met);
}

// ---- properties ----

/// Calendars with DST in their zones and intervals on and around the changes.
fn calendars() -> Vec<BusinessCalendar> {
    let split = WeeklyHours::weekdays(&[iv((8, 0), (12, 0)), iv((13, 0), (18, 0))]);
    let night = WeeklyHours {
        sun: vec![iv((1, 0), (5, 0))],
        sat: vec![iv((22, 0), (24, 0))],
        ..split.clone()
    };
    vec![
        nine_to_five("America/New_York"),
        calendar("Europe/Berlin", split, &["2025-12-25", "2025-04-18"]),
        calendar("America/New_York", night.clone(), &[]),
        calendar("Australia/Sydney", night, &["2025-04-06"]),
        always("Europe/London"),
    ]
}

/// Whether `cal` is open at `t`, read straight off the wall clock: an oracle independent of
/// the interval walk, for calendars whose interval edges do not fall inside a repeated hour.
fn open_on_the_wall(cal: &BusinessCalendar, t: Timestamp) -> bool {
    let spec = cal.spec();
    let local = t.with_timezone(&spec.time_zone.tz());
    if spec.holidays.contains(&local.date_naive()) {
        return false;
    }
    let now = WallTime::hm(local.hour() as u16, local.minute() as u16).unwrap();
    spec.weekly
        .on(local.weekday())
        .iter()
        .any(|i| i.from <= now && now < i.to)
}

/// Any minute of 2025 (the year holds both DST changes of every zone above).
fn minute_of_2025() -> impl Strategy<Value = Timestamp> {
    (0i64..365 * 24 * 60).prop_map(|m| utc("2025-01-01T00:00:00Z") + Duration::minutes(m))
}

proptest! {
    #[test]
    fn due_is_never_before_start_and_measuring_round_trips(
        cal in prop::sample::select(calendars()),
        start in minute_of_2025(),
        minutes in 0i64..(10 * 24 * 60),
    ) {
        let duration = Duration::minutes(minutes);
        let due = cal.add_business_duration(start, duration);
        prop_assert!(due >= start);
        prop_assert_eq!(cal.business_duration_between(start, due), duration);
    }

    #[test]
    fn a_new_clock_is_never_already_breached(
        cal in prop::sample::select(calendars()),
        start in minute_of_2025(),
        target_minutes in 1u32..5000,
    ) {
        let policy = SlaPolicy { target_minutes, ..hand_raiser_policy() };
        let clock = SlaClock::start(&policy, &cal, start_at(start, 0));
        prop_assert!(clock.due_at > start);
        prop_assert!(!clock.is_breached(start));
        prop_assert!(clock.remind_at.is_some_and(|r| r >= start && r < clock.due_at));
    }

    #[test]
    fn business_time_agrees_with_the_wall_clock_minute_by_minute(
        cal in prop::sample::select(calendars()),
        start in minute_of_2025(),
        hours in 1i64..72,
    ) {
        let end = start + Duration::hours(hours);
        let by_minute = (0..hours * 60)
            .filter(|m| open_on_the_wall(&cal, start + Duration::minutes(*m)))
            .count() as i64;
        prop_assert_eq!(cal.business_duration_between(start, end), Duration::minutes(by_minute));
    }
}
