//! Reports: the funnel report (JSON, CSV and the funnel page), the plan, campaign costs and
//! their return, and the scheduled reports.
//!
//! Every figure comes from [`funnel_rollup::query`] and [`funnel_rollup::planning`], the same
//! code the local command line reads reports with: from the nightly snapshots when they cover
//! the period (whole UTC days before the rollup's watermark, no `as_of`), else from the
//! histories of the leads active in the period. The answer says which (`source`), and a report
//! from snapshots lists the restatements of its days.

use crate::{
    auth::{Principal, Role},
    error::{ApiError, ApiResult, FieldError},
    http, Deps,
};
use chrono::{Datelike, Duration, Months, NaiveDate};
use funnel_rollup::{
    costs::{self, CampaignCost},
    page,
    planning::{self, PlanRequest, PlanningError},
    query::{self, Prefer, QueryError, Request as ReportRequest},
    report_csv,
};
use lambda_http::{Body, Request, Response};
use lifecycle::{
    funnel::{Dimension, Period},
    Timestamp,
};
use ports::{CommitOutcome, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const READERS: &[Role] = &[Role::Admin, Role::Marketing, Role::Manager];
/// Campaign costs are marketing's figures.
const COST_WRITERS: &[Role] = &[Role::Admin, Role::Marketing];

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Store(e) => ApiError::from(e),
            QueryError::NotCovered(why) => ApiError::invalid("source", why),
            QueryError::Corrupt(_) => ApiError::Internal(e.into()),
        }
    }
}

/// The period from `from`/`to` (default: the `default_days` before now) and `as_of`.
fn window(
    q: &BTreeMap<String, String>,
    now: Timestamp,
    default_days: i64,
) -> ApiResult<(Period, Option<Timestamp>)> {
    let to = http::time_param(q, "to")?.unwrap_or(now);
    let from = http::time_param(q, "from")?.unwrap_or(to - Duration::days(default_days));
    if from >= to {
        return Err(ApiError::invalid("from", "must be before `to`"));
    }
    Ok((Period { from, to }, http::time_param(q, "as_of")?))
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

fn prefer(q: &BTreeMap<String, String>) -> ApiResult<Prefer> {
    match q.get("source").map(|s| s.trim()) {
        None | Some("auto") => Ok(Prefer::Auto),
        Some("snapshots") => Ok(Prefer::Snapshots),
        Some("transitions") => Ok(Prefer::Transitions),
        Some(_) => Err(ApiError::BadRequest(
            "query parameter `source` must be auto, snapshots or transitions".into(),
        )),
    }
}

/// The report request of a query string.
fn report_request(q: &BTreeMap<String, String>, now: Timestamp) -> ApiResult<ReportRequest> {
    let (period, as_of) = window(q, now, 30)?;
    Ok(ReportRequest {
        period,
        group_by: dimension(q)?,
        as_of,
        prefer: prefer(q)?,
    })
}

/// `GET /reports/funnel?from=&to=&as_of=&group_by=&source=&format=json|csv`
pub async fn funnel(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(READERS, "read reports")?;
    let q = http::query(req);
    let request = report_request(&q, deps.clock.now())?;
    let csv = match q.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "query parameter `format` must be json or csv".into(),
            ))
        }
    };

    let answer = query::funnel(
        deps.journey.as_ref(),
        deps.documents.as_ref(),
        &request,
        deps.clock.now(),
    )
    .await?;
    if !csv {
        return http::json(200, &answer);
    }
    text(
        200,
        "text/csv; charset=utf-8",
        report_csv::to_csv(&answer.report),
    )
}

/// `GET /reports/funnel.html`: the funnel page, with the parameters and numbers of
/// `GET /reports/funnel`.
pub async fn funnel_page(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(READERS, "read reports")?;
    let q = http::query(req);
    let request = report_request(&q, deps.clock.now())?;
    // The trend draws one point per month: a period of centuries would draw thousands.
    if query::months_of(request.period).len() > PAGE_MONTHS {
        return Err(ApiError::invalid(
            "from",
            format!("the funnel page covers at most {PAGE_MONTHS} months"),
        ));
    }
    let (answer, months) = query::by_month(
        deps.journey.as_ref(),
        deps.documents.as_ref(),
        &request,
        deps.clock.now(),
    )
    .await?;
    let html = page::render(&answer.report, &page::trend(&months));
    text(200, "text/html; charset=utf-8", html)
}

/// The longest period the funnel page draws, in months.
const PAGE_MONTHS: usize = 120;

fn text(status: u16, content_type: &str, body: String) -> ApiResult<Response<Body>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::Text(body))
        .map_err(|e| ApiError::Internal(e.into()))
}

/// A positive number parameter, if present.
fn positive(q: &BTreeMap<String, String>, name: &str) -> ApiResult<Option<f64>> {
    match http::param::<f64>(q, name)? {
        Some(v) if !v.is_finite() || v <= 0.0 => {
            Err(ApiError::invalid(name, "must be a number > 0"))
        }
        other => Ok(other),
    }
}

/// A `YYYY-MM` (or `YYYY-MM-DD`) parameter as the first day of its month.
fn month_param(q: &BTreeMap<String, String>, name: &str) -> ApiResult<Option<NaiveDate>> {
    let Some(raw) = q.get(name).map(|s| s.trim()) else {
        return Ok(None);
    };
    let parsed = NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%Y-%m-%d"));
    match parsed {
        Ok(d) => Ok(Some(d.with_day(1).unwrap_or(d))),
        // `2030-13` has the shape and names no month: the value is wrong, not the syntax.
        Err(_) if month_shaped(raw) => Err(ApiError::invalid(name, "names no calendar month")),
        Err(_) => Err(ApiError::BadRequest(format!(
            "query parameter `{name}` must be YYYY-MM"
        ))),
    }
}

/// Whether `raw` is `NNNN-NN` or `NNNN-NN-NN`, digits where the pattern has them.
fn month_shaped(raw: &str) -> bool {
    let b = raw.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    match b.len() {
        7 => digits(0..4) && b[4] == b'-' && digits(5..7),
        10 => digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10),
        _ => false,
    }
}

/// `GET /reports/plan?target_revenue=&months=&start=&deal_size=|won_revenue=&win_rate=&from=&to=`
pub async fn plan(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(READERS, "read the plan")?;
    let q = http::query(req);
    let now = deps.clock.now();
    let target_revenue = positive(&q, "target_revenue")?.ok_or_else(|| {
        ApiError::BadRequest("query parameter `target_revenue` is required".into())
    })?;
    let months = http::param::<u32>(&q, "months")?.unwrap_or(12);
    if !(1..=120).contains(&months) {
        return Err(ApiError::invalid("months", "must be between 1 and 120"));
    }
    let start = month_param(&q, "start")?.unwrap_or_else(|| now.date_naive());
    let (measured, _) = window(&q, now, 90)?;
    let request = PlanRequest {
        target_revenue,
        start,
        months,
        deal_size: positive(&q, "deal_size")?,
        won_revenue: positive(&q, "won_revenue")?,
        win_rate: positive(&q, "win_rate")?,
        measured,
    };
    let answer = planning::plan(
        deps.journey.as_ref(),
        deps.documents.as_ref(),
        &request,
        now,
    )
    .await
    .map_err(|e| match e {
        PlanningError::Query(e) => ApiError::from(e),
        PlanningError::NoDealSize => ApiError::invalid("deal_size", e.to_string()),
        PlanningError::NoDealsWon => ApiError::invalid("won_revenue", e.to_string()),
        PlanningError::Plan(p) => ApiError::invalid(field_of(&p), p.to_string()),
    })?;
    http::json(200, &answer)
}

fn field_of(e: &lifecycle::plan::PlanError) -> &'static str {
    use lifecycle::plan::PlanError::*;
    match e {
        NotPositive(f) | AboveOne(f) => f,
        NoMonths => "months",
        TooLarge => "target_revenue",
    }
}

/// The months `from`..`to` (`YYYY-MM`, `to` excluded; default the six months before this
/// one and this one).
fn months(q: &BTreeMap<String, String>, now: Timestamp) -> ApiResult<(NaiveDate, NaiveDate)> {
    let this = now.date_naive().with_day(1).unwrap_or(now.date_naive());
    let to = month_param(q, "to")?.unwrap_or(this + Months::new(1));
    let from = month_param(q, "from")?.unwrap_or(to - Months::new(7));
    if from >= to {
        return Err(ApiError::invalid("from", "must be a month before `to`"));
    }
    if from + Months::new(120) < to {
        return Err(ApiError::invalid("to", "at most 120 months after `from`"));
    }
    Ok((from, to))
}

/// The longest maturity a campaign cohort may be given: ten years. A cohort that needs longer
/// to be judged is never judged; the bound keeps every judging day a date people can read.
const MAX_MATURITY_DAYS: f64 = 3650.0;

/// `GET /reports/roi?from=YYYY-MM&to=YYYY-MM&maturity_days=`
pub async fn roi(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(READERS, "read campaign returns")?;
    let q = http::query(req);
    let now = deps.clock.now();
    let span = months(&q, now)?;
    let maturity = match http::param::<f64>(&q, "maturity_days")? {
        Some(d) if !(0.0..=MAX_MATURITY_DAYS).contains(&d) => {
            return Err(ApiError::invalid(
                "maturity_days",
                format!("must be a number from 0 to {MAX_MATURITY_DAYS}"),
            ))
        }
        other => other,
    };
    let answer = planning::roi(
        deps.journey.as_ref(),
        deps.documents.as_ref(),
        span,
        maturity,
        now,
    )
    .await?;
    http::json(200, &answer)
}

/// Costs as JSON: `{"costs": [{"campaign", "month": "YYYY-MM", "amount"}]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostsBody {
    costs: Vec<CampaignCost>,
}

/// What a costs upload did.
#[derive(Debug, Serialize)]
struct CostsStored {
    /// Costs stored (each replaces what was stored for its campaign and month).
    stored: usize,
    /// CSV rows not taken, by line.
    rejected: Vec<costs::RowError>,
}

/// The most costs one upload takes (a commit holds them all).
const MAX_COSTS: usize = 80;

/// `POST /reports/costs`: campaign costs as JSON or as CSV (`text/csv`: `campaign,month,amount`).
/// A CSV's bad rows are answered by line and the good ones stored; JSON is all or nothing.
pub async fn put_costs(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(COST_WRITERS, "store campaign costs")?;
    let is_csv = http::header(req, "content-type")
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    let (parsed, rejected) = if is_csv {
        let bytes: &[u8] = match req.body() {
            Body::Empty => b"",
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
        };
        let parsed = costs::parse_csv(bytes);
        if parsed.costs.is_empty() {
            return Err(rows_invalid(&parsed.errors));
        }
        (parsed.costs, parsed.errors)
    } else {
        let body: CostsBody = http::json_body(req)?;
        let problems: Vec<FieldError> = costs::check(&body.costs)
            .into_iter()
            .map(|(i, problem)| FieldError::new(format!("/costs/{i}"), problem))
            .collect();
        if !problems.is_empty() {
            return Err(ApiError::Invalid(problems));
        }
        (body.costs, Vec::new())
    };
    if parsed.len() > MAX_COSTS {
        return Err(ApiError::invalid(
            "costs",
            format!("at most {MAX_COSTS} costs per upload"),
        ));
    }
    match costs::store(deps.journey.as_ref(), deps.documents.as_ref(), &parsed).await? {
        CommitOutcome::Committed | CommitOutcome::Duplicate { .. } => {}
        // Only uploads that keep racing others on the same costs get here: the caller may
        // send it again.
        CommitOutcome::Conflict { .. } => {
            return Err(ApiError::Unavailable(StoreError::Throttled(
                "other uploads kept changing the same costs".into(),
            )))
        }
    }
    let stored = parsed.len();
    http::json(200, &CostsStored { stored, rejected })
}

/// A 422 naming every bad CSV row by line.
fn rows_invalid(errors: &[costs::RowError]) -> ApiError {
    if errors.is_empty() {
        return ApiError::invalid(
            "body",
            "the CSV holds no costs (header: campaign,month,amount)",
        );
    }
    ApiError::Invalid(
        errors
            .iter()
            .map(|e| {
                let lines = match e.last_line {
                    last if last > e.line => format!("lines {}–{last}", e.line),
                    _ => format!("line {}", e.line),
                };
                FieldError::new(lines, e.problem.clone())
            })
            .collect(),
    )
}

/// `GET /reports/costs?from=YYYY-MM&to=YYYY-MM`: the stored costs of those months.
pub async fn list_costs(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(READERS, "read campaign costs")?;
    let q = http::query(req);
    let (from, to) = months(&q, deps.clock.now())?;
    let mut out = Vec::new();
    let mut month = from;
    while month < to {
        out.extend(costs::stored(deps.documents.as_ref(), month).await?);
        month = month + Months::new(1);
    }
    http::json(200, &serde_json::json!({ "costs": out }))
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
