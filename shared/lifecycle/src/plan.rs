//! The plan: the funnel run backwards.
//!
//! From a revenue target over some months, an average deal size and a win rate (each given, or
//! measured), and the conversion rates and lags measured over a past period
//! ([`Measured::from_report`]), the plan says how many SQLs, SALs and MQLs each month needs, by
//! when its MQLs must come in, and how far the current run rate is from that.
//!
//! Definitions (fixed):
//!
//! * A stage is **tracked** when at least one lead-cycle entered it in the measured period.
//!   Data that skips stages (the Olist export has MQLs and deals only) has no measured rate
//!   into or out of the stages it skips: a rate is only taken between tracked stages, from the
//!   cohort view (of those entering `a`, the share that reached `b` or beyond).
//! * The target is spread evenly over the months. Deals = monthly revenue / deal size.
//!   Needed SQLs = deals / win rate. Needed SALs = the need of the nearest later stage with a
//!   known need / the measured rate from SAL to it; needed MQLs likewise (SAL, else SQL, else
//!   won: with no SAL or SQL in the data, MQLs = deals / the measured MQL→won rate). A stage
//!   that is not tracked, or has no rate to a later need, has no need (`None`), and says so.
//!   Each need is computed exactly and rounded **up** once (rounding every step would compound).
//! * Deal size is given, or measured as the revenue won in the measured period / the deals won
//!   in it. The win rate is given, or measured as the SQL→won rate (SQL and won tracked).
//! * Run rate = entries per month in the measured period (its length / 30.4375 days);
//!   gap = needed − run rate (positive: a shortfall).
//! * MQLs for a month's deals must come in the median MQL→won lag before the month
//!   (`mqls_by`).
//! * Pipeline-gap warning: this month's MQLs so far, projected to the month's end at the pace
//!   so far; if they fall short of the monthly need, the shortfall × the MQL→SQL rate is how
//!   many SQLs will be missing (MQL→won, counted in deals, when SQL is not tracked), and they
//!   will be missing the median MQL→SQL (or MQL→won) lag after the MQLs would have come: from
//!   this month's first day plus the lag to next month's first day plus the lag.

use crate::{
    funnel::{FunnelReport, CONVERSIONS},
    Stage, Timestamp,
};
use chrono::{Datelike, Duration, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// Average month length in days (365.25 / 12).
pub const MONTH_DAYS: f64 = 30.4375;

/// The stages a plan needs, from the top of the funnel down to the deal.
const PLANNED: [Stage; 4] = [Stage::Mql, Stage::Sal, Stage::Sql, Stage::Won];

/// A figure that is either given by the user or measured from the funnel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimate {
    /// Given as it is.
    Given {
        /// The value.
        value: f64,
    },
    /// Measured as `part / whole` (win rate: won / SQLs; deal size: revenue / deals).
    Measured {
        /// The numerator.
        part: f64,
        /// The denominator.
        whole: f64,
    },
}

impl Estimate {
    /// The value, `None` when a measurement has nothing to divide by.
    pub fn value(self) -> Option<f64> {
        match self {
            Estimate::Given { value } => Some(value),
            Estimate::Measured { whole, .. } if whole <= 0.0 => None,
            Estimate::Measured { part, whole } => Some(part / whole),
        }
    }
}

/// A conversion rate measured between two tracked stages, with its median lag.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// From.
    pub from: Stage,
    /// To (or beyond).
    pub to: Stage,
    /// The share of the `from` cohort that reached `to`.
    pub rate: f64,
    /// Median days from `from` to `to`, over those that did.
    pub median_days: Option<f64>,
}

/// What the funnel measured over a past period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The stages entered in the period.
    pub tracked: Vec<Stage>,
    /// Rates between tracked stages.
    pub rates: Vec<Rate>,
    /// Entries per month, per planned stage.
    pub run_rate: Vec<(Stage, f64)>,
    /// Deals won in the period.
    pub won: u64,
}

impl Measured {
    /// The measurements of a report's total row (any grouping).
    pub fn from_report(report: &FunnelReport) -> Self {
        let total = &report.total;
        let entered = |s: Stage| total.entered.get(&s).copied().unwrap_or(0);
        let tracked: Vec<Stage> = PLANNED.into_iter().filter(|s| entered(*s) > 0).collect();
        let rates = CONVERSIONS
            .into_iter()
            .filter(|(a, b)| tracked.contains(a) && tracked.contains(b))
            .filter_map(|(from, to)| {
                let c = total
                    .conversions
                    .iter()
                    .find(|c| (c.from, c.to) == (from, to))?;
                Some(Rate {
                    from,
                    to,
                    rate: c.rate?,
                    median_days: c.median_days,
                })
            })
            .collect();
        let days = (report.period.to - report.period.from).num_seconds() as f64 / 86_400.0;
        let months = (days / MONTH_DAYS).max(f64::MIN_POSITIVE);
        Measured {
            run_rate: PLANNED
                .into_iter()
                .map(|s| (s, entered(s) as f64 / months))
                .collect(),
            won: entered(Stage::Won),
            tracked,
            rates,
        }
    }

    fn rate(&self, from: Stage, to: Stage) -> Option<&Rate> {
        self.rates.iter().find(|r| (r.from, r.to) == (from, to))
    }

    fn run_rate_of(&self, stage: Stage) -> Option<f64> {
        self.run_rate
            .iter()
            .find(|(s, _)| *s == stage)
            .map(|(_, r)| *r)
    }
}

/// This month's MQLs so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThisMonth {
    /// Now.
    pub as_of: Timestamp,
    /// MQLs entered since the month's first day.
    pub mqls: u64,
}

/// Everything the plan is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanInput {
    /// Revenue to close over the whole plan.
    pub target_revenue: f64,
    /// The first month of the plan (any day of it).
    pub start: NaiveDate,
    /// How many months.
    pub months: u32,
    /// Average deal size.
    pub deal_size: Estimate,
    /// Won / SQL; `None` to measure it.
    pub win_rate: Option<Estimate>,
    /// What the funnel measured.
    pub measured: Measured,
    /// This month so far, for the pipeline-gap warning.
    pub this_month: Option<ThisMonth>,
}

/// One stage of one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagePlan {
    /// The stage.
    pub stage: Stage,
    /// Lead-cycles that must enter it in the month; `None` when the data cannot say.
    pub needed: Option<u64>,
    /// Entries per month in the measured period.
    pub run_rate: Option<f64>,
    /// Needed − run rate (positive: a shortfall).
    pub gap: Option<f64>,
    /// Why `needed` is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_because: Option<String>,
}

/// One month of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMonth {
    /// The month's first day.
    pub month: NaiveDate,
    /// Deals to close.
    pub deals: u64,
    /// MQL, SAL, SQL and won: what the month needs.
    pub stages: Vec<StagePlan>,
    /// The MQLs for this month's deals must have come in by this day (the median MQL→won lag
    /// earlier).
    pub mqls_by: Option<NaiveDate>,
}

/// This month's MQL shortfall, and when it will show up further down the funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineGapWarning {
    /// The month short of MQLs (first day).
    pub month: NaiveDate,
    /// MQLs so far this month.
    pub mqls_so_far: u64,
    /// Projected to the month's end at the pace so far.
    pub mqls_projected: u64,
    /// MQLs needed minus projected.
    pub mql_shortfall: u64,
    /// The stage the shortfall shows up in: SQL, or won when SQL is not tracked.
    pub shows_as: Stage,
    /// Expected entries missing there: the shortfall × the MQL→`shows_as` rate (not rounded).
    pub missing: f64,
    /// The missing entries would have arrived from this day…
    pub from: NaiveDate,
    /// …until (excluding) this one.
    pub to: NaiveDate,
}

/// A figure used, and whether it was given or measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Used {
    /// The value.
    pub value: f64,
    /// `given` or `measured`.
    pub source: Source,
}

/// Where a figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The caller gave it.
    Given,
    /// Measured from the funnel.
    Measured,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The deal size used.
    pub deal_size: Used,
    /// The win rate used; `None` when neither given nor measurable.
    pub win_rate: Option<Used>,
    /// The stages the measured period has.
    pub tracked: Vec<Stage>,
    /// The measured rates used.
    pub rates: Vec<Rate>,
    /// Month by month.
    pub months: Vec<PlanMonth>,
    /// Set when this month is short of MQLs.
    pub warning: Option<PipelineGapWarning>,
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// A rate or size the plan divides by is zero, negative, unknown or not a number.
    #[error("{0} must be a positive number")]
    NotPositive(&'static str),
    /// A rate above 1.
    #[error("{0} must be at most 1")]
    AboveOne(&'static str),
    /// The plan covers no month.
    #[error("a plan needs at least one month")]
    NoMonths,
    /// A month would need more of a stage than [`MAX_NEED`]: the inputs are off by orders of
    /// magnitude (a deal size of 1e-300), and the counts would not fit.
    #[error("the plan needs more than a billion leads or deals of a stage in a month: check target_revenue, deal_size and win_rate")]
    TooLarge,
}

/// The most of a stage a plan may need in one month.
pub const MAX_NEED: f64 = 1e9;

/// Runs the funnel backwards.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    let deal_size = positive("deal_size", input.deal_size.value())?;
    let win_rate = match input.win_rate {
        Some(estimate) => Some((rate("win_rate", estimate.value())?, source(estimate))),
        None => measured_win_rate(&input.measured),
    };
    positive("target_revenue", Some(input.target_revenue))?;
    if input.months == 0 {
        return Err(PlanError::NoMonths);
    }

    let deals = input.target_revenue / f64::from(input.months) / deal_size;
    let needs = needs(&input.measured, deals, win_rate.map(|(w, _)| w));
    let too_large = |n: &f64| !n.is_finite() || *n > MAX_NEED;
    if too_large(&deals) || needs.iter().filter_map(|(n, _)| n.as_ref()).any(too_large) {
        return Err(PlanError::TooLarge);
    }
    let first = first_of_month(input.start);
    let lag = lag(&input.measured, Stage::Won);
    let months = (0..input.months)
        .map(|i| {
            let month = first + Months::new(i);
            PlanMonth {
                month,
                deals: up(deals),
                stages: stage_plans(&input.measured, &needs),
                mqls_by: lag.and_then(|days| shift(month, -days)),
            }
        })
        .collect();
    let mql_need = needs[0].0;

    Ok(Plan {
        deal_size: Used {
            value: deal_size,
            source: source(input.deal_size),
        },
        win_rate: win_rate.map(|(value, source)| Used { value, source }),
        tracked: input.measured.tracked.clone(),
        rates: input.measured.rates.clone(),
        months,
        warning: input
            .this_month
            .zip(mql_need)
            .and_then(|(m, need)| warning(&input.measured, m, need)),
    })
}

fn source(e: Estimate) -> Source {
    match e {
        Estimate::Given { .. } => Source::Given,
        Estimate::Measured { .. } => Source::Measured,
    }
}

fn measured_win_rate(m: &Measured) -> Option<(f64, Source)> {
    m.rate(Stage::Sql, Stage::Won)
        .map(|r| r.rate)
        .filter(|r| *r > 0.0)
        .map(|r| (r, Source::Measured))
}

/// Each planned stage's exact need (MQL, SAL, SQL, won), or why it has none.
fn needs(m: &Measured, deals: f64, win_rate: Option<f64>) -> [(Option<f64>, Option<String>); 4] {
    let mut out: [(Option<f64>, Option<String>); 4] = Default::default();
    out[3] = (Some(deals), None);
    out[2] = match win_rate {
        Some(w) => (Some(deals / w), None),
        None => (
            None,
            Some("no win rate: give one, or measure a period with SQLs".into()),
        ),
    };
    for i in [1, 0] {
        let stage = PLANNED[i];
        out[i] = if !m.tracked.contains(&stage) {
            (
                None,
                Some(format!("no lead entered {stage} in the measured period")),
            )
        } else {
            let later = (i + 1..4).find_map(|j| {
                let need = out[j].0?;
                let r = m.rate(stage, PLANNED[j]).filter(|r| r.rate > 0.0)?;
                Some(need / r.rate)
            });
            match later {
                Some(n) => (Some(n), None),
                None => (
                    None,
                    Some(format!("no measured rate from {stage} to a later stage")),
                ),
            }
        };
    }
    out
}

fn stage_plans(m: &Measured, needs: &[(Option<f64>, Option<String>); 4]) -> Vec<StagePlan> {
    PLANNED
        .into_iter()
        .zip(needs)
        .map(|(stage, (need, why))| {
            let needed = need.map(up);
            let run_rate = m.run_rate_of(stage);
            StagePlan {
                stage,
                needed,
                run_rate,
                gap: needed.zip(run_rate).map(|(n, r)| n as f64 - r),
                unknown_because: why.clone(),
            }
        })
        .collect()
}

/// The median MQL→`to` lag, in days.
fn lag(m: &Measured, to: Stage) -> Option<f64> {
    m.rate(Stage::Mql, to).and_then(|r| r.median_days)
}

fn warning(m: &Measured, now: ThisMonth, needed: f64) -> Option<PipelineGapWarning> {
    let month = first_of_month(now.as_of.date_naive());
    let start = month.and_hms_opt(0, 0, 0)?.and_utc();
    let elapsed = ((now.as_of - start).num_seconds() as f64 / 86_400.0).max(1.0);
    let length = ((month + Months::new(1)) - month).num_days() as f64;
    let projected = (now.mqls as f64 * length / elapsed).floor() as u64;
    let shortfall = up(needed).checked_sub(projected).filter(|s| *s > 0)?;
    let shows_as = [Stage::Sql, Stage::Won]
        .into_iter()
        .find(|s| m.rate(Stage::Mql, *s).is_some())?;
    let rate = m.rate(Stage::Mql, shows_as)?;
    let days = rate.median_days.unwrap_or(0.0).max(0.0);
    Some(PipelineGapWarning {
        month,
        mqls_so_far: now.mqls,
        mqls_projected: projected,
        mql_shortfall: shortfall,
        shows_as,
        missing: shortfall as f64 * rate.rate,
        from: shift(month, days)?,
        to: shift(month + Months::new(1), days)?,
    })
}

/// `day` moved by `days` (fractions of a day round to the second).
fn shift(day: NaiveDate, days: f64) -> Option<NaiveDate> {
    let moved = Duration::try_seconds((days * 86_400.0).round() as i64)?;
    Some(day.and_hms_opt(0, 0, 0)?.checked_add_signed(moved)?.date())
}

/// Rounds up, forgiving the last bits of floating-point error (a need of exactly 200 computed
/// as 200.00000000001 is still 200).
fn up(x: f64) -> u64 {
    (x - 1e-9).ceil().max(0.0) as u64
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("every month has a first day")
}

fn positive(what: &'static str, v: Option<f64>) -> Result<f64, PlanError> {
    v.filter(|v| v.is_finite() && *v > 0.0)
        .ok_or(PlanError::NotPositive(what))
}

fn rate(what: &'static str, v: Option<f64>) -> Result<f64, PlanError> {
    let v = positive(what, v)?;
    if v > 1.0 {
        return Err(PlanError::AboveOne(what));
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
