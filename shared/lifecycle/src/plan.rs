//! The plan: the funnel run backwards.
//!
//! From a revenue target over some months, an average deal size and a win rate (each given, or
//! measured), and the measured conversion rates and lags, the plan says how many SQLs, SALs and
//! MQLs each month needs, and how far the current run rate is from that.
//!
//! Definitions (fixed):
//!
//! * The target is spread evenly over the months. Deals needed = monthly revenue / deal size;
//!   SQLs = deals / win rate; SALs = SQLs / SAL→SQL rate; MQLs = SALs / MQL→SAL rate. Each is
//!   computed exactly and then rounded **up** once (rounding every step would compound).
//! * Gap = needed − run rate, per stage (positive: a shortfall).
//! * Pipeline-gap warning: if this month's MQLs fall short of the monthly need, the shortfall
//!   × the MQL→SQL rate is how many SQLs will be missing, and they will be missing
//!   `mql_to_sql_days` after the MQLs would have come: from this month's first day plus the lag
//!   to next month's first day plus the lag.

use chrono::{Datelike, Duration, Months, NaiveDate};
use serde::{Deserialize, Serialize};

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

/// Leads per stage per month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volumes {
    /// MQLs.
    pub mqls: u64,
    /// SALs.
    pub sals: u64,
    /// SQLs.
    pub sqls: u64,
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
    /// Won / SQL.
    pub win_rate: Estimate,
    /// Measured MQL → SAL conversion rate.
    pub mql_to_sal: f64,
    /// Measured SAL → SQL conversion rate.
    pub sal_to_sql: f64,
    /// Measured median days from MQL to SQL.
    pub mql_to_sql_days: f64,
    /// What the funnel produces per month now.
    pub run_rate: Volumes,
    /// This month (any day of it) and its MQLs (so far, or projected to the month's end).
    pub this_month: Option<(NaiveDate, u64)>,
}

/// One month of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMonth {
    /// The month's first day.
    pub month: NaiveDate,
    /// Deals to close.
    pub deals: u64,
    /// What the month needs.
    pub needed: Volumes,
    /// Needed − run rate, per stage (positive: a shortfall).
    pub gap: Gap,
}

/// Needed minus run rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// MQLs.
    pub mqls: i64,
    /// SALs.
    pub sals: i64,
    /// SQLs.
    pub sqls: i64,
}

/// This month's MQL shortfall, and when it will show up as fewer SQLs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineGapWarning {
    /// The month short of MQLs (first day).
    pub month: NaiveDate,
    /// MQLs needed minus MQLs had.
    pub mql_shortfall: u64,
    /// Expected SQLs missing: the shortfall × the MQL→SQL rate (not rounded).
    pub missing_sqls: f64,
    /// The missing SQLs would have arrived from this day…
    pub from: NaiveDate,
    /// …until (excluding) this one.
    pub to: NaiveDate,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The deal size used.
    pub deal_size: f64,
    /// The win rate used.
    pub win_rate: f64,
    /// The MQL → SQL rate used (MQL→SAL × SAL→SQL).
    pub mql_to_sql: f64,
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
}

/// Runs the funnel backwards.
pub fn plan(input: &PlanInput) -> Result<Plan, PlanError> {
    let deal_size = positive("deal_size", input.deal_size.value())?;
    let win_rate = rate("win_rate", input.win_rate.value())?;
    let mql_to_sal = rate("mql_to_sal", Some(input.mql_to_sal))?;
    let sal_to_sql = rate("sal_to_sql", Some(input.sal_to_sql))?;
    positive("target_revenue", Some(input.target_revenue))?;
    if input.months == 0 {
        return Err(PlanError::NoMonths);
    }

    let deals = input.target_revenue / f64::from(input.months) / deal_size;
    let sqls = deals / win_rate;
    let sals = sqls / sal_to_sql;
    let needed = Volumes {
        mqls: up(sals / mql_to_sal),
        sals: up(sals),
        sqls: up(sqls),
    };
    let gap = gap(needed, input.run_rate);
    let first = first_of_month(input.start);
    let months = (0..input.months)
        .map(|i| PlanMonth {
            month: first + Months::new(i),
            deals: up(deals),
            needed,
            gap,
        })
        .collect();

    let mql_to_sql = mql_to_sal * sal_to_sql;
    Ok(Plan {
        deal_size,
        win_rate,
        mql_to_sql,
        months,
        warning: input
            .this_month
            .and_then(|m| warning(m, needed.mqls, mql_to_sql, input.mql_to_sql_days)),
    })
}

fn warning(
    (month, had): (NaiveDate, u64),
    needed: u64,
    mql_to_sql: f64,
    lag_days: f64,
) -> Option<PipelineGapWarning> {
    let shortfall = needed.checked_sub(had).filter(|s| *s > 0)?;
    let first = first_of_month(month);
    let lag = Duration::seconds((lag_days.max(0.0) * 86_400.0).round() as i64);
    let shift = |d: NaiveDate| Some((d.and_hms_opt(0, 0, 0)? + lag).date());
    Some(PipelineGapWarning {
        month: first,
        mql_shortfall: shortfall,
        missing_sqls: shortfall as f64 * mql_to_sql,
        from: shift(first)?,
        to: shift(first + Months::new(1))?,
    })
}

/// Rounds up, forgiving the last bits of floating-point error (a need of exactly 200 computed
/// as 200.00000000001 is still 200).
fn up(x: f64) -> u64 {
    (x - 1e-9).ceil().max(0.0) as u64
}

fn gap(needed: Volumes, run: Volumes) -> Gap {
    let diff = |a: u64, b: u64| a as i64 - b as i64;
    Gap {
        mqls: diff(needed.mqls, run.mqls),
        sals: diff(needed.sals, run.sals),
        sqls: diff(needed.sqls, run.sqls),
    }
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
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn input() -> PlanInput {
        PlanInput {
            target_revenue: 1_200_000.0,
            start: date(2025, 3, 15),
            months: 12,
            deal_size: Estimate::Given { value: 10_000.0 },
            win_rate: Estimate::Measured {
                part: 25.0,
                whole: 100.0,
            },
            mql_to_sal: 0.4,
            sal_to_sql: 0.5,
            mql_to_sql_days: 20.0,
            run_rate: Volumes {
                mqls: 150,
                sals: 70,
                sqls: 42,
            },
            this_month: Some((date(2025, 3, 10), 150)),
        }
    }

    #[test]
    fn the_funnel_runs_backwards_from_revenue_to_mqls() {
        let p = plan(&input()).unwrap();

        // 1.2 M / 12 = 100 k a month; / 10 k = 10 deals; / 0.25 = 40 SQLs; / 0.5 = 80 SALs;
        // / 0.4 = 200 MQLs. Run rate 150 / 70 / 42.
        assert_eq!(p.months.len(), 12);
        let m = &p.months[0];
        assert_eq!(m.month, date(2025, 3, 1));
        assert_eq!(p.months[11].month, date(2026, 2, 1));
        assert_eq!(m.deals, 10);
        assert_eq!(
            m.needed,
            Volumes {
                mqls: 200,
                sals: 80,
                sqls: 40
            }
        );
        assert_eq!(
            m.gap,
            Gap {
                mqls: 50,
                sals: 10,
                sqls: -2
            }
        );
        assert_eq!(p.win_rate, 0.25);
    }

    #[test]
    fn figures_are_rounded_up_once_not_at_every_step() {
        let mut i = input();
        i.target_revenue = 100_000.0;
        i.months = 1;
        i.deal_size = Estimate::Given { value: 30_000.0 };
        i.win_rate = Estimate::Given { value: 0.3 };
        i.sal_to_sql = 0.7;
        i.mql_to_sal = 0.35;

        let m = &plan(&i).unwrap().months[0];

        // 3.33… deals → 4; SQLs 3.33…/0.3 = 11.11… → 12; SALs 11.11…/0.7 = 15.87… → 16;
        // MQLs 15.87…/0.35 = 45.35… → 46 (step-wise rounding would give 4/0.3 → 14 SQLs, 20
        // SALs, 58 MQLs).
        assert_eq!(m.deals, 4);
        assert_eq!(
            m.needed,
            Volumes {
                mqls: 46,
                sals: 16,
                sqls: 12
            }
        );
    }

    #[test]
    fn an_mql_shortfall_warns_when_the_sqls_will_be_missing() {
        let w = plan(&input()).unwrap().warning.unwrap();

        // Needed 200, had 150: 50 short × (0.4 × 0.5) = 10 SQLs, 20 days later.
        assert_eq!(w.month, date(2025, 3, 1));
        assert_eq!(w.mql_shortfall, 50);
        assert!((w.missing_sqls - 10.0).abs() < 1e-9);
        assert_eq!((w.from, w.to), (date(2025, 3, 21), date(2025, 4, 21)));
    }

    #[test]
    fn no_warning_when_the_month_has_enough_mqls() {
        let mut i = input();
        i.this_month = Some((date(2025, 3, 10), 200));

        assert_eq!(plan(&i).unwrap().warning, None);
    }

    #[test]
    fn impossible_inputs_are_refused_with_the_field_named() {
        let mut i = input();
        i.win_rate = Estimate::Measured {
            part: 3.0,
            whole: 0.0,
        };
        assert_eq!(plan(&i), Err(PlanError::NotPositive("win_rate")));

        let mut i = input();
        i.mql_to_sal = 1.5;
        assert_eq!(plan(&i), Err(PlanError::AboveOne("mql_to_sal")));

        let mut i = input();
        i.months = 0;
        assert_eq!(plan(&i), Err(PlanError::NoMonths));

        let mut i = input();
        i.deal_size = Estimate::Given { value: f64::NAN };
        assert_eq!(plan(&i), Err(PlanError::NotPositive("deal_size")));
    }
}
