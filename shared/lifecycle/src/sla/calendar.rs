//! Business calendars: when a team, or a rep, is open for business.
//!
//! A **business calendar** is a time zone (an IANA name such as `Europe/Berlin`), **weekly
//! hours** (zero or more opening intervals per weekday, in local wall-clock time) and
//! **holidays** (local dates on which nothing opens). **Business time** is the time during
//! which the calendar is open; SLA targets are measured in it.
//!
//! Every computation walks the open intervals as UTC instants, converting each local interval
//! with the zone's rules *for that date*, so a day on which the clocks change is exactly as
//! long as it really was. Two wall-clock times need a rule:
//!
//! - a time that never happens (skipped when the clocks spring forward) means the first
//!   instant after the gap: an interval from 02:30 opens at 03:00 on the night the clocks jump
//!   from 02:00 to 03:00;
//! - a time that happens twice (when the clocks fall back) means its first occurrence when it
//!   opens an interval and its second when it closes one, so an interval that covers the
//!   repeated hour counts it twice, as the clock on the wall did.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, fmt, str::FromStr};

use crate::Timestamp;

/// Why a calendar (or one of its parts) is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// Not an IANA time-zone name.
    #[error("unknown time zone {0:?} (expected an IANA name such as Europe/Berlin)")]
    UnknownZone(String),
    /// Not a wall-clock time.
    #[error("{0:?} is not a time of day (expected HH:MM, 00:00 to 24:00)")]
    BadTime(String),
    /// An interval that closes before it opens.
    #[error("{day}: interval {from}-{to} closes before it opens")]
    EmptyInterval {
        /// The weekday.
        day: &'static str,
        /// Opening time.
        from: WallTime,
        /// Closing time.
        to: WallTime,
    },
    /// Two intervals of one day overlap or are out of order.
    #[error("{day}: intervals must be in order and must not overlap ({at} is inside another)")]
    Overlap {
        /// The weekday.
        day: &'static str,
        /// The opening time of the interval that overlaps the one before it.
        at: WallTime,
    },
    /// No weekday has any opening hours: no deadline could ever be met.
    #[error("the calendar is never open (no weekday has opening hours)")]
    NeverOpen,
}

/// A time zone, stored as its IANA name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(Tz);

impl Zone {
    /// The zone named `name` (an IANA name).
    pub fn parse(name: &str) -> Result<Self, CalendarError> {
        Tz::from_str(name.trim())
            .map(Zone)
            .map_err(|_| CalendarError::UnknownZone(name.to_owned()))
    }

    /// The zone's rules.
    pub fn tz(self) -> Tz {
        self.0
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl From<Tz> for Zone {
    fn from(tz: Tz) -> Self {
        Zone(tz)
    }
}

impl TryFrom<String> for Zone {
    type Error = CalendarError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Zone::parse(&value)
    }
}

impl From<Zone> for String {
    fn from(z: Zone) -> Self {
        z.name().to_owned()
    }
}

/// A local wall-clock time of day, to the minute, from `00:00` to `24:00` (the end of the day,
/// so that an interval can run to midnight). Written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WallTime(u16);

impl WallTime {
    /// `00:00`.
    pub const START_OF_DAY: WallTime = WallTime(0);
    /// `24:00`.
    pub const END_OF_DAY: WallTime = WallTime(24 * 60);

    /// `hour:minute`; `None` unless it lies within `00:00..=24:00`.
    pub fn hm(hour: u16, minute: u16) -> Option<Self> {
        let minutes = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && minutes <= 24 * 60).then_some(WallTime(minutes))
    }

    /// Parses `HH:MM`.
    pub fn parse(text: &str) -> Result<Self, CalendarError> {
        let text = text.trim();
        if text == "24:00" {
            return Ok(Self::END_OF_DAY);
        }
        let time = NaiveTime::parse_from_str(text, "%H:%M")
            .map_err(|_| CalendarError::BadTime(text.to_owned()))?;
        // hour < 24 and minute < 60, so the sum fits.
        Ok(WallTime((time.hour() * 60 + time.minute()) as u16))
    }

    /// This time on `date` (`24:00` is the next day's midnight).
    fn on(self, date: NaiveDate) -> NaiveDateTime {
        date.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(self.0))
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl TryFrom<String> for WallTime {
    type Error = CalendarError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        WallTime::parse(&value)
    }
}

impl From<WallTime> for String {
    fn from(t: WallTime) -> Self {
        t.to_string()
    }
}

/// One opening interval of a day, `[from, to)` in local wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenInterval {
    /// When it opens.
    pub from: WallTime,
    /// When it closes (`24:00` for midnight).
    pub to: WallTime,
}

impl OpenInterval {
    /// `[from, to)`.
    pub fn new(from: WallTime, to: WallTime) -> Self {
        Self { from, to }
    }
}

/// Opening intervals per weekday. A day left out is closed; a key that names no weekday
/// (`funday`, `monday`) is refused rather than read as a closed day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    /// Monday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mon: Vec<OpenInterval>,
    /// Tuesday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tue: Vec<OpenInterval>,
    /// Wednesday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wed: Vec<OpenInterval>,
    /// Thursday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thu: Vec<OpenInterval>,
    /// Friday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fri: Vec<OpenInterval>,
    /// Saturday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sat: Vec<OpenInterval>,
    /// Sunday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sun: Vec<OpenInterval>,
}

impl WeeklyHours {
    /// The same intervals on Monday to Friday, weekends closed.
    pub fn weekdays(intervals: &[OpenInterval]) -> Self {
        let day = intervals.to_vec();
        Self {
            mon: day.clone(),
            tue: day.clone(),
            wed: day.clone(),
            thu: day.clone(),
            fri: day,
            ..Self::default()
        }
    }

    /// The same intervals on every day of the week.
    pub fn every_day(intervals: &[OpenInterval]) -> Self {
        Self {
            sat: intervals.to_vec(),
            sun: intervals.to_vec(),
            ..Self::weekdays(intervals)
        }
    }

    /// The intervals of `day`.
    pub fn on(&self, day: Weekday) -> &[OpenInterval] {
        match day {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        }
    }

    /// Checks every day: intervals non-empty, in order, not overlapping; at least one interval.
    pub fn validate(&self) -> Result<(), CalendarError> {
        let days = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ];
        for day in days {
            validate_day(day_name(day), self.on(day))?;
        }

        if days.iter().all(|d| self.on(*d).is_empty()) {
            return Err(CalendarError::NeverOpen);
        }
        Ok(())
    }
}

fn validate_day(day: &'static str, intervals: &[OpenInterval]) -> Result<(), CalendarError> {
    let mut previous_end = WallTime::START_OF_DAY;
    for (i, iv) in intervals.iter().enumerate() {
        if iv.to <= iv.from {
            let (from, to) = (iv.from, iv.to);
            return Err(CalendarError::EmptyInterval { day, from, to });
        }
        if i > 0 && iv.from < previous_end {
            return Err(CalendarError::Overlap { day, at: iv.from });
        }
        previous_end = iv.to;
    }
    Ok(())
}

fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// The editable form of a calendar, as stored and sent through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// The zone whose wall clock the hours and holidays are in.
    pub time_zone: Zone,
    /// Opening hours per weekday.
    pub weekly: WeeklyHours,
    /// Local dates on which the calendar does not open at all.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub holidays: BTreeSet<NaiveDate>,
}

/// A validated business calendar. See the module documentation for the DST rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct BusinessCalendar {
    spec: CalendarSpec,
}

/// Which end of an interval a wall-clock time is, which decides how a repeated time resolves.
#[derive(Clone, Copy)]
enum Edge {
    Opening,
    Closing,
}

impl BusinessCalendar {
    /// Validates `spec`.
    pub fn new(spec: CalendarSpec) -> Result<Self, CalendarError> {
        spec.weekly.validate()?;
        Ok(Self { spec })
    }

    /// Open around the clock, every day, no holidays.
    pub fn always_open(time_zone: Zone) -> Self {
        let day = OpenInterval::new(WallTime::START_OF_DAY, WallTime::END_OF_DAY);
        Self {
            spec: CalendarSpec {
                time_zone,
                weekly: WeeklyHours::every_day(&[day]),
                holidays: BTreeSet::new(),
            },
        }
    }

    /// The calendar as written.
    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// The calendar's zone.
    pub fn zone(&self) -> Zone {
        self.spec.time_zone
    }

    /// The first instant at or after `t` at which the calendar is open (`t` itself when open).
    pub fn next_open(&self, t: Timestamp) -> Timestamp {
        self.open_spans_from(t).next().map_or(t, |(s, _)| s)
    }

    /// Whether the calendar is open at `t`.
    pub fn is_open(&self, t: Timestamp) -> bool {
        self.next_open(t) == t
    }

    /// The instant at which `duration` of business time has passed since `start`. Business time
    /// starts counting at the next opening, so a zero duration gives [`Self::next_open`], and a
    /// negative one counts as zero. When the duration runs out exactly at a closing time, that
    /// closing time is the answer (not the next opening).
    pub fn add_business_duration(&self, start: Timestamp, duration: Duration) -> Timestamp {
        let mut left = duration.max(Duration::zero());
        for (open, close) in self.open_spans_from(start) {
            let span = close - open;
            if left <= span {
                return open + left;
            }
            left -= span;
        }

        // Only reached past the end of chrono's calendar.
        DateTime::<Utc>::MAX_UTC
    }

    /// How much business time lies in `[from, to)`; zero when `to` is not after `from`.
    pub fn business_duration_between(&self, from: Timestamp, to: Timestamp) -> Duration {
        let mut total = Duration::zero();
        for (open, close) in self.open_spans_from(from) {
            if open >= to {
                break;
            }
            total += close.min(to) - open;
        }
        total
    }

    /// The open spans as UTC instants, in order, starting with the one that contains `t` (cut to
    /// start at `t`). Each span starts no earlier than the previous one ended, so an hour that
    /// the wall clock repeats is never counted twice by two neighbouring intervals.
    fn open_spans_from(&self, t: Timestamp) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        let tz = self.spec.time_zone.tz();
        // Start a day early: the local date of `t` may already be a day ahead of an interval
        // that a repeated hour stretched past midnight.
        let first_day = t.with_timezone(&tz).date_naive();
        let first_day = first_day.pred_opt().unwrap_or(first_day);
        let mut cursor = t;

        first_day
            .iter_days()
            .flat_map(move |day| self.day_spans(day))
            .filter_map(move |(open, close)| {
                let open = open.max(cursor);
                if close <= open {
                    return None;
                }
                cursor = close;
                Some((open, close))
            })
    }

    /// The open spans of one local date, as UTC instants (none on a holiday).
    fn day_spans(&self, day: NaiveDate) -> Vec<(Timestamp, Timestamp)> {
        if self.spec.holidays.contains(&day) {
            return Vec::new();
        }

        let tz = self.spec.time_zone.tz();
        self.spec
            .weekly
            .on(day.weekday())
            .iter()
            .map(|iv| {
                let open = resolve_local(tz, iv.from.on(day), Edge::Opening);
                let close = resolve_local(tz, iv.to.on(day), Edge::Closing);
                (open, close)
            })
            .collect()
    }
}

impl TryFrom<CalendarSpec> for BusinessCalendar {
    type Error = CalendarError;

    fn try_from(spec: CalendarSpec) -> Result<Self, Self::Error> {
        BusinessCalendar::new(spec)
    }
}

impl From<BusinessCalendar> for CalendarSpec {
    fn from(c: BusinessCalendar) -> Self {
        c.spec
    }
}

/// The UTC instant a local wall-clock time stands for (see the module documentation).
fn resolve_local(tz: Tz, local: NaiveDateTime, edge: Edge) -> Timestamp {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => match edge {
            Edge::Opening => a.min(b).with_timezone(&Utc),
            Edge::Closing => a.max(b).with_timezone(&Utc),
        },
        LocalResult::None => end_of_gap(tz, local),
    }
}

/// The first instant whose local time is at or after `local`, for a `local` that the zone
/// skips. Found by bisection over instants: local time only moves forward around a gap.
///
/// Known limit: the search window is ±15 hours around `local` read as UTC; a zone that both
/// skipped and repeated time within that window (none does in the tz database's current rules)
/// could resolve to the wrong side.
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> Timestamp {
    let as_utc = local.and_utc();
    // Offsets lie within -12h..=+14h, so `lo` reads earlier than `local` and `hi` later.
    let mut lo = (as_utc - Duration::hours(15)).timestamp();
    let mut hi = (as_utc + Duration::hours(13)).timestamp();
    let local_at =
        |secs: i64| DateTime::from_timestamp(secs, 0).map(|t| t.with_timezone(&tz).naive_local());

    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local_at(mid).is_some_and(|l| l >= local) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0).unwrap_or(as_utc)
}
