//! Campaign return: what each MQL, SAL and SQL of a campaign cost, month by month.
//!
//! Definitions (fixed):
//!
//! * A campaign's **cohort** of a month is its MQL cohort that month: the lead-cycles that
//!   entered MQL in the month (clipped to the report period) with the campaign on their MQL
//!   transition. Its **SALs** and **SQLs** are the members that reached SAL and SQL (or passed
//!   them) by `as_of`: the cohort view, so a campaign is credited with what its own leads became,
//!   whenever they became it.
//! * A cohort's **cost** is what the campaign cost that month; cost per X = cost / X, none when
//!   X is 0 or no cost is stored for the month. A campaign's row adds up its cohorts (its cost
//!   per X divides the costs stored over all its cohorts' X).
//! * A cohort is **too young** to judge while fewer than `maturity_days` have passed from the
//!   end of its month (or of the period, if earlier) to `as_of`: its members are still becoming
//!   SQLs, so its cost per SQL will still fall. `maturity_days` is given, or measured
//!   ([`maturity_days`]): the 90th percentile of days from MQL to SQL over the report period (to
//!   won when the data has no SQLs), the time by which nine in ten of a cohort's SQLs have come.
//!   A campaign is too young while any of its cohorts is.

use super::{FunnelReport, GroupRow, NONE};
use crate::{Stage, Timestamp};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Cost and conversions of one cohort (or a campaign's cohorts together).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Return {
    /// What it cost (0 when no cost is stored; the costs per stage are then `None`).
    pub cost: f64,
    /// MQLs.
    pub mqls: u64,
    /// Of those, reached SAL.
    pub sals: u64,
    /// Of those, reached SQL.
    pub sqls: u64,
    /// `cost / mqls`.
    pub cost_per_mql: Option<f64>,
    /// `cost / sals`.
    pub cost_per_sal: Option<f64>,
    /// `cost / sqls`.
    pub cost_per_sql: Option<f64>,
    /// Still converting: judge it later.
    pub too_young: bool,
}

impl Return {
    /// `cost` is `None` when no cost is known: the costs per stage are then unknown too.
    fn new(cost: Option<f64>, (mqls, sals, sqls): (u64, u64, u64), too_young: bool) -> Self {
        let per = |n: u64| cost.filter(|_| n > 0).map(|c| c / n as f64);
        Self {
            cost: cost.unwrap_or(0.0),
            mqls,
            sals,
            sqls,
            cost_per_mql: per(mqls),
            cost_per_sal: per(sals),
            cost_per_sql: per(sqls),
            too_young,
        }
    }
}

/// One month's cohort of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohortReturn {
    /// The month (first day).
    pub month: NaiveDate,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Return,
    /// From when it is old enough to judge.
    pub judge_from: Timestamp,
}

/// A campaign's cohorts and their sum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignReturn {
    /// The campaign.
    pub campaign: String,
    /// All its cohorts together.
    #[serde(flatten)]
    pub total: Return,
    /// Month by month.
    pub cohorts: Vec<CohortReturn>,
}

/// The maturity the period's data measures: the p90 MQL→SQL days of its total row, or MQL→won
/// when no lead entered SQL in it.
pub fn maturity_days(report: &FunnelReport) -> Option<f64> {
    let p90 = |to: Stage| {
        report
            .total
            .conversions
            .iter()
            .find(|c| (c.from, c.to) == (Stage::Mql, to))
            .and_then(|c| c.p90_days)
    };
    let has_sqls = report
        .total
        .entered
        .get(&Stage::Sql)
        .is_some_and(|n| *n > 0);
    if has_sqls {
        p90(Stage::Sql)
    } else {
        p90(Stage::Won)
    }
}

/// The return of each campaign with a cost or an MQL in `months` (each month's report grouped
/// by campaign, keyed by the month's first day). `costs` is each (campaign, month)'s cost.
pub fn campaign_returns(
    months: &[(NaiveDate, &FunnelReport)],
    costs: &BTreeMap<(String, NaiveDate), f64>,
    maturity_days: f64,
    as_of: Timestamp,
) -> Vec<CampaignReturn> {
    let mut names: BTreeSet<&str> = costs.keys().map(|(c, _)| c.as_str()).collect();
    for (_, report) in months {
        names.extend(report.groups.iter().map(|g| g.group.as_str()));
    }
    names.remove(NONE);
    // Any f64 is taken: one beyond chrono's range (`maturity_days=1e11`) saturates at the
    // longest duration, and a judging day past the calendar's end never comes.
    let maturity =
        chrono::Duration::try_seconds((maturity_days.max(0.0) * 86_400.0).round() as i64)
            .unwrap_or(chrono::Duration::MAX);

    names
        .into_iter()
        .map(|name| {
            let cohorts: Vec<CohortReturn> = months
                .iter()
                .filter_map(|(month, report)| {
                    let row = report.groups.iter().find(|g| g.group == name);
                    let cost = costs.get(&(name.to_owned(), *month)).copied();
                    let counts = counts(row);
                    if cost.is_none() && counts.0 == 0 {
                        return None;
                    }
                    let judge_from = report
                        .period
                        .to
                        .checked_add_signed(maturity)
                        .unwrap_or(Timestamp::MAX_UTC);
                    Some(CohortReturn {
                        month: *month,
                        figures: Return::new(cost, counts, as_of < judge_from),
                        judge_from,
                    })
                })
                .collect();
            let known: Vec<f64> = months
                .iter()
                .filter_map(|(month, _)| costs.get(&(name.to_owned(), *month)).copied())
                .collect();
            let cost = (!known.is_empty()).then(|| known.iter().sum());
            CampaignReturn {
                campaign: name.to_owned(),
                total: sum(&cohorts, cost),
                cohorts,
            }
        })
        .collect()
}

fn sum(cohorts: &[CohortReturn], costs: Option<f64>) -> Return {
    let add = |f: fn(&Return) -> u64| cohorts.iter().map(|c| f(&c.figures)).sum::<u64>();
    Return::new(
        costs,
        (add(|r| r.mqls), add(|r| r.sals), add(|r| r.sqls)),
        cohorts.iter().any(|c| c.figures.too_young),
    )
}

/// (MQL cohort, reached SAL, reached SQL) of a row.
fn counts(row: Option<&GroupRow>) -> (u64, u64, u64) {
    let find = |to: Stage| {
        row.and_then(|r| {
            r.conversions
                .iter()
                .find(|c| c.from == Stage::Mql && c.to == to)
        })
        .map_or((0, 0), |c| (c.cohort, c.converted))
    };
    let ((mqls, sals), (_, sqls)) = (find(Stage::Sal), find(Stage::Sql));
    (mqls, sals, sqls)
}
