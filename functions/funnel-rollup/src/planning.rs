//! The plan and the campaign return, read the way reports are ([`query`](crate::query)): the
//! API's `/reports/plan` and `/reports/roi` and the local `journey plan` and `journey roi`
//! call these, so both give the same answer.

use crate::{
    costs,
    query::{self, Prefer, QueryError, Request, Source},
};
use chrono::{Datelike, NaiveDate};
use lifecycle::{
    funnel::{self, CampaignReturn, Dimension, Period},
    plan::{self, Estimate, Measured, Plan, PlanError, PlanInput, ThisMonth},
    Stage, Timestamp,
};
use ports::{DocumentStore, Extent, JourneyStore};
use serde::Serialize;

/// What a plan is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    /// Revenue to close over the whole plan.
    pub target_revenue: f64,
    /// Its first month (any day of it).
    pub start: NaiveDate,
    /// How many months.
    pub months: u32,
    /// Average deal size, if given.
    pub deal_size: Option<f64>,
    /// Revenue won in the measured period, to measure the deal size by (when not given).
    pub won_revenue: Option<f64>,
    /// Won / SQL, if given (else measured).
    pub win_rate: Option<f64>,
    /// The period the rates, lags and run rate are measured over.
    pub measured: Period,
}

/// A plan, with where its measurements came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanAnswer {
    /// The measured period.
    pub measured: Period,
    /// The report it was measured from: snapshots or transitions.
    pub source: Source,
    /// The plan.
    #[serde(flatten)]
    pub plan: Plan,
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    /// Reading the funnel failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The inputs cannot make a plan (the caller's mistake).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Neither a deal size nor a revenue to measure it by.
    #[error(
        "give deal_size, or won_revenue (the revenue won in the measured period) to measure it"
    )]
    NoDealSize,
    /// `won_revenue` was given to measure the deal size by, and no deal was won in the
    /// measured period.
    #[error(
        "won_revenue measures the deal size by the deals won in the measured period, and none \
         was won in it: give deal_size, or measure a period with won deals"
    )]
    NoDealsWon,
}

/// The plan `req` asks for, as of `now`.
pub async fn plan(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    req: &PlanRequest,
    now: Timestamp,
) -> Result<PlanAnswer, PlanningError> {
    let measured = query::funnel(journey, docs, &all(req.measured), now).await?;
    let measurements = Measured::from_report(&measured.report);
    let deal_size = match (req.deal_size, req.won_revenue) {
        (Some(value), _) => Estimate::Given { value },
        (None, Some(_)) if measurements.won == 0 => return Err(PlanningError::NoDealsWon),
        (None, Some(part)) => Estimate::Measured {
            part,
            whole: measurements.won as f64,
        },
        (None, None) => return Err(PlanningError::NoDealSize),
    };
    let input = PlanInput {
        target_revenue: req.target_revenue,
        start: req.start,
        months: req.months,
        deal_size,
        win_rate: req.win_rate.map(|value| Estimate::Given { value }),
        measured: measurements,
        this_month: Some(this_month(journey, docs, now).await?),
    };
    Ok(PlanAnswer {
        measured: req.measured,
        source: measured.source,
        plan: plan::plan(&input)?,
    })
}

/// A report request over `period`, grouped by nothing.
fn all(period: Period) -> Request {
    Request {
        period,
        group_by: Dimension::All,
        as_of: None,
        prefer: Prefer::Auto,
    }
}

/// The MQLs of the month so far.
async fn this_month(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    now: Timestamp,
) -> Result<ThisMonth, QueryError> {
    let first = now.date_naive().with_day(1).unwrap_or(now.date_naive());
    let period = Period {
        from: Extent::midnight(first),
        to: now,
    };
    let so_far = query::funnel(journey, docs, &all(period), now).await?;
    let mqls = so_far.report.total.entered.get(&Stage::Mql).copied();
    Ok(ThisMonth {
        as_of: now,
        mqls: mqls.unwrap_or(0),
    })
}

/// A maturity no cohort reaches (a century).
const NEVER_DAYS: f64 = 36_525.0;

/// Campaign return over whole months.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoiAnswer {
    /// The months reported.
    pub period: Period,
    /// Conversions counted up to here.
    pub as_of: Timestamp,
    /// The report it was made from: snapshots or transitions.
    pub source: Source,
    /// Days a cohort must have had since its month ended to be judged.
    pub maturity_days: Option<f64>,
    /// Whether they were given or measured (the p90 days from MQL to SQL, or to won).
    pub maturity: plan::Source,
    /// Each campaign with a cost or an MQL, by name.
    pub campaigns: Vec<CampaignReturn>,
}

/// The return of every campaign over the months `first..last` (first days; `last`
/// excluded), as of `now`, cohorts judged after `maturity_days` (given, or measured).
pub async fn roi(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    (first, last): (NaiveDate, NaiveDate),
    maturity_days: Option<f64>,
    now: Timestamp,
) -> Result<RoiAnswer, QueryError> {
    let period = Period {
        from: Extent::midnight(first),
        to: Extent::midnight(last),
    };
    let req = Request {
        group_by: Dimension::Campaign,
        ..all(period)
    };
    let (whole, months) = query::by_month(journey, docs, &req, now).await?;
    let firsts: Vec<NaiveDate> = months.iter().map(|(m, _)| *m).collect();
    let costs = costs::by_month(docs, &firsts).await?;
    let (maturity, source) = match maturity_days {
        Some(days) => (Some(days), plan::Source::Given),
        None => (funnel::maturity_days(&whole.report), plan::Source::Measured),
    };
    let parts: Vec<_> = months.iter().map(|(m, r)| (*m, r)).collect();
    // No maturity measured (nothing converted yet): every cohort is too young to judge.
    let judge_after = maturity.unwrap_or(NEVER_DAYS);
    Ok(RoiAnswer {
        period,
        as_of: whole.report.as_of,
        source: whole.source,
        maturity_days: maturity,
        maturity: source,
        campaigns: funnel::campaign_returns(&parts, &costs, judge_after, whole.report.as_of),
    })
}
