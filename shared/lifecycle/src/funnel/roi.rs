//! Campaign return: what each MQL, SAL and SQL of a campaign cost.
//!
//! Definitions (fixed): for a report grouped by campaign, a campaign's **MQLs** are its MQL
//! cohort in the period, and its **SALs** and **SQLs** are the members of that cohort that
//! reached SAL and SQL by `as_of` (the cohort view, so a campaign is credited with what its own
//! leads became). Cost per X = the campaign's cost in the period / X; none when X is 0. A
//! cohort is **too young** to judge while its youngest members have had less than
//! `maturity_days` (typically the measured p90 MQL→SQL days) between the period's end and
//! `as_of`: its SQLs are still coming, and its cost per SQL will still fall.

use super::{Dimension, FunnelReport, GroupRow};
use crate::Stage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One campaign's cost per stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignReturn {
    /// The campaign.
    pub campaign: String,
    /// What it cost in the period.
    pub cost: f64,
    /// Its MQL cohort.
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
    /// The cohort is still converting: judge it later.
    pub too_young: bool,
}

/// The return of each campaign with a cost or an MQL in `report` (which must be grouped by
/// campaign; any other grouping gives no rows). `costs` is each campaign's cost in the period.
pub fn campaign_returns(
    report: &FunnelReport,
    costs: &BTreeMap<String, f64>,
    maturity_days: f64,
) -> Vec<CampaignReturn> {
    if report.group_by != Dimension::Campaign {
        return Vec::new();
    }
    let age_days = (report.as_of - report.period.to).num_seconds() as f64 / 86_400.0;
    let too_young = age_days < maturity_days;
    let mut names: Vec<&String> = costs.keys().collect();
    names.extend(report.groups.iter().map(|g| &g.group));
    names.sort();
    names.dedup();

    names
        .into_iter()
        .map(|name| {
            let row = report.groups.iter().find(|g| &g.group == name);
            let cost = costs.get(name).copied().unwrap_or(0.0);
            let (mqls, sals) = cohort(row, Stage::Sal);
            let (_, sqls) = cohort(row, Stage::Sql);
            let per = |n: u64| (n > 0).then(|| cost / n as f64);
            CampaignReturn {
                campaign: name.clone(),
                cost,
                mqls,
                sals,
                sqls,
                cost_per_mql: per(mqls),
                cost_per_sal: per(sals),
                cost_per_sql: per(sqls),
                too_young,
            }
        })
        .collect()
}

/// (MQL cohort, converted to `to`) of a row.
fn cohort(row: Option<&GroupRow>, to: Stage) -> (u64, u64) {
    row.and_then(|r| {
        r.conversions
            .iter()
            .find(|c| c.from == Stage::Mql && c.to == to)
    })
    .map_or((0, 0), |c| (c.cohort, c.converted))
}
