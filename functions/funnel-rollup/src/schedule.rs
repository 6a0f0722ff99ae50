//! Scheduled reports: "every Monday at 08:00 in the team's time zone, last week's funnel by
//! source", delivered to a URL as Slack-compatible or generic JSON, with retries.
//!
//! A schedule fires on a weekday at a local wall-clock time in an IANA zone. Times are worked
//! out in that zone, so a schedule keeps its local hour across daylight-saving changes (08:00
//! in Berlin is 07:00 UTC in winter and 06:00 UTC in summer). On a spring-forward day a local
//! time that does not exist moves to the first instant after the gap; on a fall-back day the
//! earlier of the two instants is used, so a schedule fires once.
//!
//! The schedules are configuration (`config/report_schedules`, a [`ReportSchedules`]
//! document); [`crate::scheduled`] generates and delivers the reports that fall due.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;
use lifecycle::{
    funnel::{Dimension, FunnelReport, Period},
    Stage, Timestamp,
};
use serde::{Deserialize, Serialize};

/// One configured report schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportSchedule {
    /// A stable id (also the key the generated reports are stored under).
    pub id: String,
    /// The day it fires.
    pub weekday: Weekday,
    /// The local time it fires.
    pub at: NaiveTime,
    /// The team's IANA time zone, e.g. `Europe/Berlin`.
    pub zone: String,
    /// The grouping of the report.
    pub group_by: Dimension,
    /// Where and how to deliver.
    pub target: Target,
}

/// A delivery target (the same shape as a rep's or a pool's).
pub use lifecycle::notify::NotifyTarget as Target;

/// The configuration document of every schedule (`config/report_schedules`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportSchedules {
    /// The schedules.
    #[serde(default)]
    pub schedules: Vec<ReportSchedule>,
}

/// The longest schedule id (it is part of document keys).
pub const MAX_ID_LEN: usize = 64;

impl ReportSchedules {
    /// What is wrong, as `(JSON pointer, message)` pairs; empty when every schedule is usable.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            let at = |field: &str| format!("/schedules/{i}/{field}");
            let slug = !s.id.is_empty()
                && s.id.len() <= MAX_ID_LEN
                && s.id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !slug {
                out.push((
                    at("id"),
                    "must be 1 to 64 letters, digits, '-' or '_'".into(),
                ));
            } else if !seen.insert(s.id.as_str()) {
                out.push((at("id"), "is a duplicate".into()));
            }
            if s.tz().is_err() {
                out.push((
                    at("zone"),
                    "must be an IANA time zone, e.g. Europe/Berlin".into(),
                ));
            }
            if let Err(e) = s.target.validate() {
                out.push((at("target/url"), e.to_string()));
            }
        }
        out
    }
}

/// A schedule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The zone is not an IANA zone name.
    #[error("unknown time zone {0:?}")]
    UnknownZone(String),
}

impl ReportSchedule {
    fn tz(&self) -> Result<Tz, ScheduleError> {
        self.zone
            .parse()
            .map_err(|_| ScheduleError::UnknownZone(self.zone.clone()))
    }

    /// The instants the schedule fires in `(after, until]`, oldest first.
    pub fn firings(
        &self,
        after: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Timestamp>, ScheduleError> {
        let tz = self.tz()?;
        let first = after.with_timezone(&tz).date_naive();
        let last = until.with_timezone(&tz).date_naive();
        Ok(first
            .iter_days()
            .take_while(|d| *d <= last)
            .filter(|d| d.weekday() == self.weekday)
            .map(|d| local_instant(tz, d, self.at))
            .filter(|t| *t > after && *t <= until)
            .collect())
    }

    /// The week reported by a firing at `fired_at`: the local calendar week (Monday 00:00 to
    /// Monday 00:00, in the team's zone) before the one it fires in.
    pub fn last_week(&self, fired_at: Timestamp) -> Result<Period, ScheduleError> {
        let tz = self.tz()?;
        let local = fired_at.with_timezone(&tz).date_naive();
        let this_monday = local - Duration::days(i64::from(local.weekday().num_days_from_monday()));
        let midnight = NaiveTime::MIN;
        Ok(Period {
            from: local_instant(tz, this_monday - Duration::days(7), midnight),
            to: local_instant(tz, this_monday, midnight),
        })
    }
}

/// The UTC instant of a local date and time in `tz`, DST-safe (see the module docs).
fn local_instant(tz: Tz, date: NaiveDate, at: NaiveTime) -> Timestamp {
    let mut local = date.and_time(at);
    // A gap is at most a few hours: step forward a minute at a time to its end.
    for _ in 0..24 * 60 {
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.to_utc();
        }
        local += Duration::minutes(1);
    }
    unreachable!("no time zone has a gap of a day")
}

/// The body to send for `report` to `target`.
pub fn payload(schedule: &ReportSchedule, report: &FunnelReport) -> serde_json::Value {
    match &schedule.target {
        Target::Json { .. } => serde_json::json!({
            "schedule": schedule.id,
            "report": report,
        }),
        Target::Slack { .. } => serde_json::json!({ "text": slack_text(report) }),
    }
}

fn slack_text(report: &FunnelReport) -> String {
    let count = |s: Stage| report.total.entered.get(&s).copied().unwrap_or(0);
    let mut text = format!(
        "Funnel {} to {} by {}: {} MQLs, {} SALs, {} SQLs, {} won.",
        report.period.from.format("%Y-%m-%d"),
        report.period.to.format("%Y-%m-%d"),
        report.group_by.as_str(),
        count(Stage::Mql),
        count(Stage::Sal),
        count(Stage::Sql),
        count(Stage::Won),
    );
    for g in report.groups.iter().take(10) {
        let mqls = g.entered.get(&Stage::Mql).copied().unwrap_or(0);
        let sqls = g.entered.get(&Stage::Sql).copied().unwrap_or(0);
        text.push_str(&format!("\n• {}: {mqls} MQLs, {sqls} SQLs", g.group));
    }
    text
}

pub use ports::{Notifier, NotifyError};

/// Sends the report for `schedule`, trying up to `attempts` times while failures are
/// retryable, waiting `backoff`, then twice that, and so on between tries. Returns the number
/// of attempts made.
pub async fn deliver(
    notifier: &dyn Notifier,
    schedule: &ReportSchedule,
    report: &FunnelReport,
    attempts: u32,
    backoff: std::time::Duration,
) -> Result<u32, NotifyError> {
    let url = schedule.target.url();
    let body = payload(schedule, report);
    let mut wait = backoff;
    let mut tried = 0;
    loop {
        tried += 1;
        match notifier.post(url, &body).await {
            Ok(()) => return Ok(tried),
            Err(NotifyError::Retryable(e)) if tried < attempts => {
                tracing::warn!(schedule = %schedule.id, attempt = tried, error = %e, "report delivery failed, retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}
