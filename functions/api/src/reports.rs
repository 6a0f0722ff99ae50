//! Reports: the funnel report (JSON or CSV) and the plan.
//!
//! Both are computed by the core from transitions ([`funnel::report_with_clocks`]), so they
//! give the same numbers whoever asks, whenever, for the same `as_of`. The funnel report adds
//! the SLA compliance of the clocks due in the period, read from their stored outcomes one UTC
//! day at a time (a listing by key prefix per day, see [`routing::docs::outcome_writes`]).
//!
//! Known shortcoming: every request reads all transitions recorded up to `as_of` (a page of
//! 1000 at a time). That is fine for the embedded store and a demo; in production the
//! funnel-rollup function's stored snapshots should answer the common periods instead.

use crate::{
    auth::{Principal, Role},
    error::{ApiError, ApiResult},
    http, Deps,
};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use lambda_http::{Body, Request, Response};
use lifecycle::{
    funnel::{
        self, ClockKind, ClockOutcome, Conversion, Dimension, FunnelReport, GroupRow, Period,
    },
    Stage, Timestamp, Transition,
};
use serde::Serialize;
use std::collections::BTreeMap;

const READERS: &[Role] = &[Role::Admin, Role::Marketing, Role::Manager];

/// Every transition recorded up to `as_of`.
pub async fn transitions_until(deps: &Deps, as_of: Timestamp) -> ApiResult<Vec<Transition>> {
    // Real bounds: the embedded store compares times as RFC 3339 text.
    let from = DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default();
    let to = as_of + Duration::nanoseconds(1);
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = deps
            .journey
            .transitions_recorded(from, to, cursor, 1000)
            .await?;
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

/// The SLA clock outcomes due in `period` and stored by `as_of`.
///
/// Outcomes are keyed by their due day, so they are read by key prefix: by day for a short
/// period, by month or by year for longer ones (each listing then holds outcomes outside the
/// period, which are dropped). No outcome stored by `as_of` can be due much later than it (a
/// clock ends when the owner acts or at its first breach), so days after
/// [`OUTCOME_HORIZON_DAYS`] past `as_of` are not read: a period that ends centuries ahead costs
/// no more than one that ends today.
pub async fn clocks_due(
    deps: &Deps,
    period: Period,
    as_of: Timestamp,
) -> ApiResult<Vec<ClockOutcome>> {
    let mut out = Vec::new();
    for prefix in prefixes_for(period, as_of) {
        let found =
            routing::docs::outcomes(deps.documents.as_ref(), routing::docs::SLA_OUTCOME, &prefix)
                .await
                .map_err(|e| match e {
                    routing::RoutingError::Store(e) => ApiError::from(e),
                    other => ApiError::Internal(other.into()),
                })?;
        out.extend(found);
    }
    out.retain(|c| period.contains(c.due_at) && c.recorded_at <= as_of);
    Ok(out)
}

/// How far past `as_of` an outcome stored by then may be due: longer than any SLA window.
pub const OUTCOME_HORIZON_DAYS: i64 = 400;

/// The key prefixes of the outcomes [`clocks_due`] reads.
fn prefixes_for(period: Period, as_of: Timestamp) -> Vec<String> {
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
            m = m + chrono::Months::new(1);
        }
        return months;
    }
    (first.year()..=last.year())
        .map(|y| format!("{y:04}-"))
        .collect()
}

/// The period from `from`/`to` (default: the `default_days` before now) and `as_of` (default
/// now).
fn window(
    q: &BTreeMap<String, String>,
    now: Timestamp,
    default_days: i64,
) -> ApiResult<(Period, Timestamp)> {
    let to = http::time_param(q, "to")?.unwrap_or(now);
    let from = http::time_param(q, "from")?.unwrap_or(to - Duration::days(default_days));
    if from >= to {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    let as_of = http::time_param(q, "as_of")?.unwrap_or(now);
    Ok((Period { from, to }, as_of))
}

fn dimension(q: &BTreeMap<String, String>) -> ApiResult<Dimension> {
    let Some(name) = q.get("group_by").map(|s| s.trim()) else {
        return Ok(Dimension::All);
    };
    Dimension::ALL
        .into_iter()
        .find(|d| d.as_str() == name)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "query parameter `group_by` must be one of all, source, campaign, form, rep, grade, team"
                    .into(),
            )
        })
}

/// `GET /reports/funnel?from=&to=&as_of=&group_by=&format=json|csv`
pub async fn funnel(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(READERS, "read reports")?;
    let q = http::query(req);
    let (period, as_of) = window(&q, deps.clock.now(), 30)?;
    let group_by = dimension(&q)?;
    let csv = match q.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "query parameter `format` must be json or csv".into(),
            ))
        }
    };

    let transitions = transitions_until(deps, as_of).await?;
    let clocks = clocks_due(deps, period, as_of).await?;
    let report = funnel::report_with_clocks(&transitions, &clocks, period, group_by, as_of);
    if !csv {
        return http::json(200, &report);
    }
    let text = to_csv(&report).map_err(ApiError::Internal)?;
    Response::builder()
        .status(200)
        .header("content-type", "text/csv; charset=utf-8")
        .body(Body::Text(text))
        .map_err(|e| ApiError::Internal(e.into()))
}

/// One CSV row per group (the total first): entries per stage, then each conversion's cohort,
/// converted, rate, median and p90 days, then each SLA clock's due, met and rate.
pub fn to_csv(report: &FunnelReport) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["group".to_owned()];
    header.extend(Stage::ALL.iter().map(|s| format!("entered_{s}")));
    for (from, to) in funnel::CONVERSIONS {
        for field in ["cohort", "converted", "rate", "median_days", "p90_days"] {
            header.push(format!("{from}_to_{to}_{field}"));
        }
    }
    for kind in SLA_CLOCKS {
        for field in ["due", "met", "rate"] {
            header.push(format!("sla_{}_{field}", clock_name(kind)));
        }
    }
    w.write_record(&header)?;

    let rows = std::iter::once(&report.total).chain(
        report
            .groups
            .iter()
            .filter(|_| report.group_by != Dimension::All),
    );
    for row in rows {
        w.write_record(csv_row(row))?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

fn csv_row(row: &GroupRow) -> Vec<String> {
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
    let mut cells = vec![row.group.clone()];
    cells.extend(
        Stage::ALL
            .iter()
            .map(|s| row.entered.get(s).copied().unwrap_or(0).to_string()),
    );
    for c in &row.conversions {
        cells.push(c.cohort.to_string());
        cells.push(c.converted.to_string());
        cells.push(opt(c.rate));
        cells.push(opt(c.median_days));
        cells.push(opt(c.p90_days));
    }
    for kind in SLA_CLOCKS {
        let sla = row.sla.get(&kind).cloned().unwrap_or_default();
        cells.push(sla.due.to_string());
        cells.push(sla.met.to_string());
        cells.push(opt(sla.rate));
    }
    cells
}

/// The SLA clocks a CSV row reports, in column order.
const SLA_CLOCKS: [ClockKind; 2] = [ClockKind::Routing, ClockKind::Response];

fn clock_name(kind: ClockKind) -> &'static str {
    match kind {
        ClockKind::Routing => "routing",
        ClockKind::Response => "response",
    }
}

/// The plan: the funnel run backwards from a monthly revenue target.
#[derive(Debug, Serialize, PartialEq)]
pub struct Plan {
    /// The period the rates and run rate were measured over.
    pub measured: Period,
    /// Monthly revenue target.
    pub target_revenue: f64,
    /// Average deal size.
    pub deal_size: f64,
    /// Share of SQLs won.
    pub win_rate: f64,
    /// Measured MQL → SAL conversion.
    pub mql_to_sal: Option<f64>,
    /// Measured SAL → SQL conversion.
    pub sal_to_sql: Option<f64>,
    /// Median days MQL → SAL, and SAL → SQL: how far ahead each stage must be filled.
    pub lag_days: BTreeMap<String, Option<f64>>,
    /// Needed per month, by stage (`None` when a rate is unknown or zero).
    pub needed_per_month: BTreeMap<Stage, Option<f64>>,
    /// Entered per month in the measured period, by stage.
    pub run_rate_per_month: BTreeMap<Stage, f64>,
    /// Needed minus run rate (positive: a shortfall).
    pub gap_per_month: BTreeMap<Stage, Option<f64>>,
}

/// Average month length in days (365.25 / 12).
const MONTH_DAYS: f64 = 30.4375;

/// Runs the funnel backwards.
pub fn build_plan(
    report: &FunnelReport,
    target_revenue: f64,
    deal_size: f64,
    win_rate: f64,
) -> Plan {
    let rate = |from: Stage, to: Stage| -> Option<&Conversion> {
        report
            .total
            .conversions
            .iter()
            .find(|c| c.from == from && c.to == to)
    };
    let mql_to_sal = rate(Stage::Mql, Stage::Sal).and_then(|c| c.rate);
    let sal_to_sql = rate(Stage::Sal, Stage::Sql).and_then(|c| c.rate);
    let divide = |n: Option<f64>, r: Option<f64>| n.zip(r.filter(|r| *r > 0.0)).map(|(n, r)| n / r);

    let sql = Some(target_revenue / (deal_size * win_rate));
    let sal = divide(sql, sal_to_sql);
    let mql = divide(sal, mql_to_sal);
    let needed = BTreeMap::from([(Stage::Sql, sql), (Stage::Sal, sal), (Stage::Mql, mql)]);

    let months =
        (report.period.to - report.period.from).num_seconds() as f64 / 86_400.0 / MONTH_DAYS;
    let run_rate: BTreeMap<Stage, f64> = [Stage::Mql, Stage::Sal, Stage::Sql]
        .into_iter()
        .map(|s| {
            (
                s,
                report.total.entered.get(&s).copied().unwrap_or(0) as f64 / months,
            )
        })
        .collect();
    let gap = needed
        .iter()
        .map(|(s, n)| (*s, n.map(|n| n - run_rate[s])))
        .collect();
    let lag = |from, to| rate(from, to).and_then(|c| c.median_days);

    Plan {
        measured: report.period,
        target_revenue,
        deal_size,
        win_rate,
        mql_to_sal,
        sal_to_sql,
        lag_days: BTreeMap::from([
            ("mql_to_sal".to_owned(), lag(Stage::Mql, Stage::Sal)),
            ("sal_to_sql".to_owned(), lag(Stage::Sal, Stage::Sql)),
        ]),
        needed_per_month: needed,
        run_rate_per_month: run_rate,
        gap_per_month: gap,
    }
}

/// `GET /reports/plan?target_revenue=&deal_size=&win_rate=&from=&to=`
pub async fn plan(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(READERS, "read the plan")?;
    let q = http::query(req);
    let need = |name: &str| -> ApiResult<f64> {
        let v: f64 = http::param(&q, name)?
            .ok_or_else(|| ApiError::BadRequest(format!("query parameter `{name}` is required")))?;
        if !v.is_finite() || v <= 0.0 {
            return Err(ApiError::invalid(name, "must be a number > 0"));
        }
        Ok(v)
    };
    let (target, deal, win) = (
        need("target_revenue")?,
        need("deal_size")?,
        need("win_rate")?,
    );
    if win > 1.0 {
        return Err(ApiError::invalid("win_rate", "must be at most 1"));
    }
    let (period, as_of) = window(&q, deps.clock.now(), 90)?;

    let transitions = transitions_until(deps, as_of).await?;
    let report = funnel::report(&transitions, period, Dimension::All, as_of);
    http::json(200, &build_plan(&report, target, deal, win))
}

/// `GET /reports/scheduled/{id}`: the latest report a schedule generated, with its delivery
/// status. The schedule's target is left out: a webhook URL is a credential.
pub async fn scheduled(deps: &Deps, who: &Principal, id: &str) -> ApiResult<Response<Body>> {
    who.require(READERS, "read scheduled reports")?;
    let doc = deps
        .documents
        .get(funnel_rollup::scheduled::LATEST, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("scheduled report {id}")))?;
    let mut body = doc.body;
    if let Some(schedule) = body.get_mut("schedule").and_then(|s| s.as_object_mut()) {
        schedule.remove("target");
    }
    http::json_tagged(200, &body, doc.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn prefixes(from: &str, to: &str, as_of: &str) -> Vec<String> {
        let period = Period {
            from: utc(from),
            to: utc(to),
        };
        prefixes_for(period, utc(as_of))
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
}
