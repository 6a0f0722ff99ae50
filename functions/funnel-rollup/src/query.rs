//! Answering a funnel report request: the one way the API, the funnel page and the local
//! command line read a report.
//!
//! * **From the snapshots**, when they cover the request: a period of whole UTC days, all
//!   closed before the rollup's watermark, with no `as_of` asked for. The days' stored
//!   snapshots (one listing per month of the period) are merged ([`funnel::merge`]) into the
//!   report as of the watermark, and the restatements recorded for those days are listed with
//!   it. Asked again, it gives the same numbers until the next rollup, whoever asks.
//! * **From the transitions** otherwise: the complete histories of the leads with a transition
//!   effective in the period, found day by day over the days the store's transitions span
//!   ([`JourneyStore::extent`]) and never from 1970, with the SLA clock outcomes due in the
//!   period, as of `as_of` (default: now). This reads one listing per day of the period and
//!   one history per lead active in it; a long period on DynamoDB is slow, which is what the
//!   snapshots are for.

use crate::{
    nightly::{self, Restatement, RESTATEMENTS},
    snapshot::{self, Snapshot},
};
use chrono::{Datelike, Duration, Months, NaiveDate};
use lifecycle::{
    funnel::{self, ClockOutcome, Dimension, FunnelReport, Period, DEFINITION_VERSION},
    LeadId, Timestamp, Transition,
};
use ports::{DocumentStore, Extent, JourneyStore, StoreError, MAX_PAGE};
use serde::Serialize;
use std::collections::BTreeMap;

/// What is asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// The period.
    pub period: Period,
    /// The grouping.
    pub group_by: Dimension,
    /// Count only what was recorded by then (the transitions are read; default now).
    pub as_of: Option<Timestamp>,
    /// Where to read from.
    pub prefer: Prefer,
}

/// Where a report may be read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Prefer {
    /// The snapshots where they cover the request, else the transitions.
    #[default]
    Auto,
    /// The snapshots only; a request they do not cover is refused.
    Snapshots,
    /// The transitions, even where snapshots cover the request.
    Transitions,
}

/// Where a report was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Merged from the stored daily snapshots (`as_of` is the rollup's watermark).
    Snapshots,
    /// Computed from the transitions.
    Transitions,
}

/// A report, where it came from, and the restatements of the days it covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The report.
    #[serde(flatten)]
    pub report: FunnelReport,
    /// Where it came from.
    pub source: Source,
    /// Stored days of the period (in this grouping) that changed after they were first
    /// reported, oldest first; empty for a report from the transitions.
    pub restatements: Vec<Restatement>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The store failed.
    #[error("failed to read the store")]
    Store(#[from] StoreError),
    /// A stored document could not be read.
    #[error("stored document {0} is corrupt")]
    Corrupt(String),
    /// Snapshots were asked for and do not cover the request; says why.
    #[error("the stored snapshots do not cover this request: {0}")]
    NotCovered(&'static str),
}

impl From<nightly::RollupError> for QueryError {
    fn from(e: nightly::RollupError) -> Self {
        match e {
            nightly::RollupError::Store(e) => QueryError::Store(e),
            other => QueryError::Corrupt(other.to_string()),
        }
    }
}

/// The report `req` asks for.
pub async fn funnel(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    req: &Request,
    now: Timestamp,
) -> Result<Answer, QueryError> {
    let loaded = load(journey, docs, req, now).await?;
    answer(docs, &loaded, req).await
}

/// The report `req` asks for, and the report of each calendar month in its period (the
/// first and last clipped to the period), read once.
pub async fn by_month(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    req: &Request,
    now: Timestamp,
) -> Result<(Answer, Vec<(NaiveDate, FunnelReport)>), QueryError> {
    let loaded = load(journey, docs, req, now).await?;
    let months = months_of(req.period)
        .into_iter()
        .map(|(month, period)| (month, loaded.report(period, req.group_by)))
        .collect();
    Ok((answer(docs, &loaded, req).await?, months))
}

/// The calendar months a period touches, each clipped to the period, by first day.
pub fn months_of(period: Period) -> Vec<(NaiveDate, Period)> {
    let (first, last) = days_of(period);
    let mut out = Vec::new();
    let mut month = first.with_day(1).unwrap_or(first);
    while month <= last {
        let next = month + Months::new(1);
        out.push((
            month,
            Period {
                from: period.from.max(Extent::midnight(month)),
                to: period.to.min(Extent::midnight(next)),
            },
        ));
        month = next;
    }
    out
}

/// What a request reads its figures from.
enum Loaded {
    /// The stored days of the period, as of the rollup's watermark.
    Snapshots(Vec<Snapshot>, Timestamp),
    /// The active leads' histories and the clocks due, as of a time.
    Transitions(Vec<Transition>, Vec<ClockOutcome>, Timestamp),
}

impl Loaded {
    /// The report of `period` (within the request's), grouped by `group_by`.
    fn report(&self, period: Period, group_by: Dimension) -> FunnelReport {
        match self {
            Loaded::Snapshots(days, watermark) => {
                let (first, last) = days_of(period);
                let parts: Vec<_> = days
                    .iter()
                    .filter(|s| s.day >= first && s.day <= last)
                    .map(|s| (&s.report, &s.samples))
                    .collect();
                funnel::merge(&parts, period, group_by, *watermark)
            }
            Loaded::Transitions(transitions, clocks, as_of) => {
                funnel::report_with_clocks(transitions, clocks, period, group_by, *as_of)
            }
        }
    }
}

async fn answer(
    docs: &dyn DocumentStore,
    loaded: &Loaded,
    req: &Request,
) -> Result<Answer, QueryError> {
    let report = loaded.report(req.period, req.group_by);
    Ok(match loaded {
        Loaded::Snapshots(..) => Answer {
            report,
            source: Source::Snapshots,
            restatements: restatements(docs, req.period, req.group_by).await?,
        },
        Loaded::Transitions(..) => Answer {
            report,
            source: Source::Transitions,
            restatements: Vec::new(),
        },
    })
}

async fn load(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    req: &Request,
    now: Timestamp,
) -> Result<Loaded, QueryError> {
    if req.prefer != Prefer::Transitions {
        match covered(docs, req).await? {
            Ok(watermark) => {
                if let Some(days) = snapshots(docs, req).await? {
                    return Ok(Loaded::Snapshots(days, watermark));
                }
                if req.prefer == Prefer::Snapshots {
                    return Err(QueryError::NotCovered(
                        "a day's snapshot was made with other definitions; the next rollup \
                         remakes it",
                    ));
                }
            }
            Err(why) if req.prefer == Prefer::Snapshots => return Err(QueryError::NotCovered(why)),
            Err(_) => {}
        }
    }
    let as_of = req.as_of.unwrap_or(now);
    let transitions = histories(journey, req.period, as_of).await?;
    let clocks = clocks_due(docs, req.period, as_of).await?;
    Ok(Loaded::Transitions(transitions, clocks, as_of))
}

/// The rollup's watermark if the snapshots cover `req`, else why not.
async fn covered(
    docs: &dyn DocumentStore,
    req: &Request,
) -> Result<Result<Timestamp, &'static str>, QueryError> {
    if req.as_of.is_some() {
        return Ok(Err("an as_of is read from the transitions"));
    }
    let (from, to) = (req.period.from, req.period.to);
    if from != Extent::midnight(from.date_naive()) || to != Extent::midnight(to.date_naive()) {
        return Ok(Err("the period is not whole UTC days"));
    }
    let Some(watermark) = nightly::watermark(docs).await? else {
        return Ok(Err("the rollup has not run yet"));
    };
    if to > Extent::midnight(watermark.date_naive()) {
        return Ok(Err("the period ends after the last day the rollup closed"));
    }
    Ok(Ok(watermark))
}

/// The stored days of the request's period in its grouping (one listing per month), `None`
/// if a day was stored with other definitions (the next rollup remakes it).
async fn snapshots(
    docs: &dyn DocumentStore,
    req: &Request,
) -> Result<Option<Vec<Snapshot>>, QueryError> {
    let (first, last) = days_of(req.period);
    let mut days: Vec<Snapshot> = Vec::new();
    for prefix in month_prefixes(req.group_by.as_str(), first, last) {
        for doc in list(docs, snapshot::COLLECTION, &prefix).await? {
            let s: Snapshot = serde_json::from_value(doc.body).map_err(|_| {
                QueryError::Corrupt(format!("{}/{}", snapshot::COLLECTION, doc.key))
            })?;
            if s.day >= first && s.day <= last {
                days.push(s);
            }
        }
    }
    if days
        .iter()
        .any(|s| s.definition_version != DEFINITION_VERSION)
    {
        return Ok(None);
    }
    Ok(Some(days))
}

/// The restatements recorded for the days of `period` in `group_by`, oldest day first.
pub async fn restatements(
    docs: &dyn DocumentStore,
    period: Period,
    group_by: Dimension,
) -> Result<Vec<Restatement>, QueryError> {
    let (first, last) = days_of(period);
    let mut out = Vec::new();
    for prefix in month_prefixes(group_by.as_str(), first, last) {
        for doc in list(docs, RESTATEMENTS, &prefix).await? {
            let r: Restatement = serde_json::from_value(doc.body)
                .map_err(|_| QueryError::Corrupt(format!("{RESTATEMENTS}/{}", doc.key)))?;
            if r.day >= first && r.day <= last {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// The first and last UTC day a period touches.
fn days_of(period: Period) -> (NaiveDate, NaiveDate) {
    let last = (period.to - Duration::nanoseconds(1)).date_naive();
    (period.from.date_naive(), last.max(period.from.date_naive()))
}

/// `<name>/<YYYY-MM>-` for each month from `first` to `last`.
fn month_prefixes(name: &str, first: NaiveDate, last: NaiveDate) -> Vec<String> {
    let mut out = Vec::new();
    let mut month = first.with_day(1).unwrap_or(first);
    while month <= last {
        out.push(format!("{name}/{}-", month.format("%Y-%m")));
        month = month + Months::new(1);
    }
    out
}

async fn list(
    docs: &dyn DocumentStore,
    collection: &str,
    prefix: &str,
) -> Result<Vec<ports::Document>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = docs.list(collection, prefix, cursor, MAX_PAGE).await?;
        out.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// The complete histories (recorded by `as_of`) of the leads with a transition effective in
/// `period`. Only the days the store's transitions span are read.
pub async fn histories(
    journey: &dyn JourneyStore,
    period: Period,
    as_of: Timestamp,
) -> Result<Vec<Transition>, StoreError> {
    match journey.extent().await? {
        Some(extent) => active(journey, period, as_of, &extent).await,
        None => Ok(Vec::new()),
    }
}

/// [`histories`], within a known extent.
async fn active(
    journey: &dyn JourneyStore,
    period: Period,
    as_of: Timestamp,
    extent: &Extent,
) -> Result<Vec<Transition>, StoreError> {
    let from = period.from.max(Extent::midnight(extent.first_effective));
    let to = period.to.min(extent.effective_end());
    let mut leads: BTreeMap<String, LeadId> = BTreeMap::new();
    let mut cursor = None;
    // An empty window (the period outside the extent) reads nothing.
    let mut more = from < to;
    while more {
        let page = journey
            .transitions_effective(from, to, cursor, MAX_PAGE)
            .await?;
        for t in page.items {
            leads
                .entry(t.lead_id.as_str().to_owned())
                .or_insert(t.lead_id);
        }
        more = page.next.is_some();
        cursor = page.next;
    }
    let mut all = Vec::new();
    for lead in leads.values() {
        let history = journey.transitions(lead).await?;
        all.extend(history.into_iter().filter(|t| t.recorded_at <= as_of));
    }
    Ok(all)
}

/// How far past `as_of` an outcome stored by then may be due: longer than any SLA window.
pub const OUTCOME_HORIZON_DAYS: i64 = 400;

/// The SLA clock outcomes due in `period` and stored by `as_of`.
///
/// Outcomes are keyed by their due day, so they are read by key prefix: by day for a short
/// period, by month or by year for longer ones (each listing then holds outcomes outside the
/// period, which are dropped). No outcome stored by `as_of` can be due much later than it (a
/// clock ends when the owner acts or at its first breach), so days after
/// [`OUTCOME_HORIZON_DAYS`] past `as_of` are not read: a period that ends centuries ahead costs
/// no more than one that ends today. Nor are days before the first outcome stored (the
/// collection's first key, one listing of one item): a period from 1970 costs no more than one
/// from that day.
pub async fn clocks_due(
    docs: &dyn DocumentStore,
    period: Period,
    as_of: Timestamp,
) -> Result<Vec<ClockOutcome>, QueryError> {
    let collection = routing::docs::SLA_OUTCOME;
    let corrupt = |key: &str| QueryError::Corrupt(format!("{collection}/{key}"));
    let Some(first) = docs.list(collection, "", None, 1).await?.items.pop() else {
        return Ok(Vec::new());
    };
    let earliest: ClockOutcome =
        serde_json::from_value(first.body).map_err(|_| corrupt(&first.key))?;
    let from = period
        .from
        .max(Extent::midnight(earliest.due_at.date_naive()));
    let mut out = Vec::new();
    for prefix in outcome_prefixes_for(Period { from, ..period }, as_of) {
        let found = routing::docs::outcomes(docs, collection, &prefix)
            .await
            .map_err(|e| match e {
                routing::RoutingError::Store(e) => QueryError::Store(e),
                _ => corrupt(&prefix),
            })?;
        out.extend(found);
    }
    out.retain(|c| period.contains(c.due_at) && c.recorded_at <= as_of);
    Ok(out)
}

/// The key prefixes of the outcomes [`clocks_due`] reads.
pub fn outcome_prefixes_for(period: Period, as_of: Timestamp) -> Vec<String> {
    let last = period
        .to
        .min(as_of + Duration::days(OUTCOME_HORIZON_DAYS))
        .date_naive();
    outcome_prefixes(period.from.date_naive(), last)
}

/// The key prefixes that cover the due days `first..=last`: whole days for up to two months,
/// whole months for up to five years, whole years beyond.
fn outcome_prefixes(first: NaiveDate, last: NaiveDate) -> Vec<String> {
    if last < first {
        return Vec::new();
    }
    let span = (last - first).num_days();
    if span <= 62 {
        return first
            .iter_days()
            .take_while(|d| *d <= last)
            .map(routing::docs::day_prefix)
            .collect();
    }
    if span <= 5 * 366 {
        let mut months = Vec::new();
        let mut m = first.with_day(1).unwrap_or(first);
        while m <= last {
            months.push(m.format("%Y-%m-").to_string());
            m = m + Months::new(1);
        }
        return months;
    }
    (first.year()..=last.year())
        .map(|y| format!("{y:04}-"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn utc(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn prefixes(from: &str, to: &str, as_of: &str) -> Vec<String> {
        let period = Period {
            from: utc(from),
            to: utc(to),
        };
        outcome_prefixes_for(period, utc(as_of))
    }

    #[test]
    fn a_short_period_is_read_day_by_day() {
        let got = prefixes(
            "2025-03-01T00:00:00Z",
            "2025-03-03T12:00:00Z",
            "2025-06-01T00:00:00Z",
        );
        assert_eq!(got, ["2025-03-01/", "2025-03-02/", "2025-03-03/"]);
    }

    #[test]
    fn a_quarter_is_read_month_by_month() {
        let got = prefixes(
            "2025-01-15T00:00:00Z",
            "2025-04-02T00:00:00Z",
            "2025-06-01T00:00:00Z",
        );
        assert_eq!(got, ["2025-01-", "2025-02-", "2025-03-", "2025-04-"]);
    }

    /// Regression: `to=2226-01-01` made one listing per day for two centuries, and the
    /// request timed out. Nothing stored by `as_of` is due after the horizon.
    #[test]
    fn a_period_far_in_the_future_stops_at_the_horizon() {
        let got = prefixes(
            "2019-06-01T00:00:00Z",
            "2226-01-01T00:00:00Z",
            "2025-06-01T00:00:00Z",
        );
        let years: Vec<String> = (2019..=2026).map(|y| format!("{y}-")).collect();
        assert_eq!(got, years, "2025-06-01 + 400 days is in 2026");
    }

    #[test]
    fn snapshot_listings_go_month_by_month_in_one_grouping() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();

        assert_eq!(
            month_prefixes("source", d("2025-11-30"), d("2026-01-01")),
            ["source/2025-11-", "source/2025-12-", "source/2026-01-"]
        );
    }
}
