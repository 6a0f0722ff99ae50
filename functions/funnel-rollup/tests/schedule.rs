//! Report schedules: local wall-clock firings across daylight-saving changes, the week they
//! report, the payloads, and delivery with retries.

use async_trait::async_trait;
use chrono::{NaiveTime, TimeZone, Utc, Weekday};
use funnel_rollup::schedule::{
    deliver, payload, Notifier, NotifyError, ReportSchedule, ScheduleError, Target,
};
use lifecycle::{
    funnel::{report, Dimension, Period},
    Timestamp,
};
use std::sync::Mutex;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> Timestamp {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn schedule(weekday: Weekday, h: u32, m: u32, target: Target) -> ReportSchedule {
    ReportSchedule {
        id: "weekly-by-source".into(),
        weekday,
        at: NaiveTime::from_hms_opt(h, m, 0).unwrap(),
        zone: "Europe/Berlin".into(),
        group_by: Dimension::Source,
        target,
    }
}

fn slack() -> Target {
    Target::Slack {
        url: "https://hooks.example.com/T0/B0/x".into(),
    }
}

#[test]
fn monday_eight_oclock_keeps_its_local_hour_across_the_spring_change() {
    let s = schedule(Weekday::Mon, 8, 0, slack());

    let fired = s
        .firings(utc(2025, 3, 20, 0, 0), utc(2025, 4, 7, 6, 0))
        .unwrap();

    // Berlin moves from UTC+1 to UTC+2 on Sunday 30 March 2025.
    assert_eq!(
        fired,
        [
            utc(2025, 3, 24, 7, 0),
            utc(2025, 3, 31, 6, 0),
            utc(2025, 4, 7, 6, 0)
        ]
    );
}

#[test]
fn a_missing_local_time_moves_past_the_gap_and_a_repeated_one_fires_once() {
    let gap = schedule(Weekday::Sun, 2, 30, slack());
    let fired = gap
        .firings(utc(2025, 3, 29, 0, 0), utc(2025, 3, 31, 0, 0))
        .unwrap();
    // 02:30 does not exist on 30 March: 03:00 CEST, 01:00 UTC.
    assert_eq!(fired, [utc(2025, 3, 30, 1, 0)]);

    let fired = gap
        .firings(utc(2025, 10, 25, 0, 0), utc(2025, 10, 27, 0, 0))
        .unwrap();
    // 02:30 happens twice on 26 October (CEST then CET): the first, 00:30 UTC.
    assert_eq!(fired, [utc(2025, 10, 26, 0, 30)]);
}

#[test]
fn last_week_is_the_local_calendar_week_before_the_firing() {
    let s = schedule(Weekday::Mon, 8, 0, slack());

    let week = s.last_week(utc(2025, 3, 31, 6, 0)).unwrap();

    // Monday 24 March 00:00 CET to Monday 31 March 00:00 CEST.
    assert_eq!(
        week,
        Period {
            from: utc(2025, 3, 23, 23, 0),
            to: utc(2025, 3, 30, 22, 0)
        }
    );
}

#[test]
fn an_unknown_zone_is_refused() {
    let mut s = schedule(Weekday::Mon, 8, 0, slack());
    s.zone = "Mars/Olympus".into();

    assert_eq!(
        s.firings(utc(2025, 1, 1, 0, 0), utc(2025, 2, 1, 0, 0)),
        Err(ScheduleError::UnknownZone("Mars/Olympus".into()))
    );
}

/// Fails the first `failures` posts (retryably, or not), then accepts; keeps what it got.
struct FlakyNotifier {
    failures: u32,
    retryable: bool,
    got: Mutex<Vec<(String, serde_json::Value)>>,
}

#[async_trait]
impl Notifier for FlakyNotifier {
    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), NotifyError> {
        let mut got = self.got.lock().unwrap();
        got.push((url.to_owned(), body.clone()));
        if got.len() as u32 > self.failures {
            return Ok(());
        }
        let e = Box::new(std::io::Error::other("503"));
        Err(if self.retryable {
            NotifyError::Retryable(e)
        } else {
            NotifyError::Refused(e)
        })
    }
}

fn empty_week() -> lifecycle::funnel::FunnelReport {
    let week = Period {
        from: utc(2025, 3, 23, 23, 0),
        to: utc(2025, 3, 30, 22, 0),
    };
    report(&[], week, Dimension::Source, utc(2025, 3, 31, 6, 0))
}

#[tokio::test]
async fn delivery_retries_retryable_failures_then_succeeds() {
    let notifier = FlakyNotifier {
        failures: 2,
        retryable: true,
        got: Mutex::default(),
    };
    let s = schedule(Weekday::Mon, 8, 0, slack());

    let attempts = deliver(&notifier, &s, &empty_week(), 5, std::time::Duration::ZERO)
        .await
        .unwrap();

    assert_eq!(attempts, 3);
    let got = notifier.got.lock().unwrap();
    assert_eq!(got[2].0, "https://hooks.example.com/T0/B0/x");
    assert_eq!(
        got[2].1["text"],
        "Funnel 2025-03-23 to 2025-03-30 by source: 0 MQLs, 0 SALs, 0 SQLs, 0 won."
    );
}

#[tokio::test]
async fn a_refused_delivery_is_not_retried_and_retries_end() {
    let refused = FlakyNotifier {
        failures: 9,
        retryable: false,
        got: Mutex::default(),
    };
    let flaky = FlakyNotifier {
        failures: 9,
        retryable: true,
        got: Mutex::default(),
    };
    let s = schedule(Weekday::Mon, 8, 0, slack());
    let zero = std::time::Duration::ZERO;

    let a = deliver(&refused, &s, &empty_week(), 5, zero).await;
    let b = deliver(&flaky, &s, &empty_week(), 3, zero).await;

    assert!(matches!(a, Err(NotifyError::Refused(_))));
    assert_eq!(refused.got.lock().unwrap().len(), 1);
    assert!(matches!(b, Err(NotifyError::Retryable(_))));
    assert_eq!(flaky.got.lock().unwrap().len(), 3);
}

#[test]
fn a_json_target_gets_the_report_itself() {
    let s = schedule(
        Weekday::Mon,
        8,
        0,
        Target::Json {
            url: "https://example.com/hook".into(),
        },
    );
    let r = empty_week();

    let body = payload(&s, &r);

    assert_eq!(body["schedule"], "weekly-by-source");
    assert_eq!(body["report"], serde_json::to_value(&r).unwrap());
}
