//! Merging the reports of adjacent periods into the report of their union.
//!
//! Counts add up; medians and percentiles do not. A report therefore comes with its
//! [`Samples`] (the sorted durations behind those figures) from
//! [`report_with_samples`](super::report_with_samples), and [`merge`] recomputes them over the
//! union. Every figure belongs to the instant of the transition (or clock) that starts it: an
//! entry to its `effective_at`, a conversion to its cohort's entry into the from-stage, a stay
//! to its start, a reason to the disqualification, a recycling to the cycle's MQL entry, a clock
//! to its due time. So the merged reports of the days of a period, each computed as of the same
//! instant, equal the report of the whole period as of that instant, to the last figure.

use super::{
    conversion,
    outcomes::{ratio, Recycling, SlaCompliance, Spread},
    sort_rows, ClockKind, Dimension, FunnelReport, GroupRow, Period, CONVERSIONS,
};
use crate::{Stage, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The durations behind one row's medians and percentiles, sorted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    /// Days to convert of the converted, one list per pair of [`CONVERSIONS`], in its order.
    pub conversions: Vec<Vec<f64>>,
    /// Stays in each stage, in days.
    pub stays: BTreeMap<Stage, Vec<f64>>,
}

/// The samples of a whole report: the total row's and each group's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportSamples {
    /// The total row's.
    pub total: Samples,
    /// Each group's, by group name.
    pub groups: BTreeMap<String, Samples>,
}

/// The report of `period` grouped by `group_by` as of `as_of`, from reports of the periods
/// that make it up (all grouped by `group_by`, each with its samples). A group missing its
/// samples counts as having no durations.
pub fn merge(
    parts: &[(&FunnelReport, &ReportSamples)],
    period: Period,
    group_by: Dimension,
    as_of: Timestamp,
) -> FunnelReport {
    let mut total = Sum::default();
    let mut groups: BTreeMap<String, Sum> = BTreeMap::new();
    let none = Samples::default();
    for (report, samples) in parts {
        total.add(&report.total, &samples.total);
        for row in &report.groups {
            let sample = samples.groups.get(&row.group).unwrap_or(&none);
            groups
                .entry(row.group.clone())
                .or_default()
                .add(row, sample);
        }
    }
    let mut rows: Vec<GroupRow> = groups.into_iter().map(|(g, sum)| sum.finish(g)).collect();
    sort_rows(&mut rows);
    FunnelReport {
        period,
        group_by,
        as_of,
        total: total.finish("all".to_owned()),
        groups: rows,
    }
}

/// One group's figures added up over the parts.
#[derive(Default)]
struct Sum {
    entered: BTreeMap<Stage, u64>,
    cohorts: BTreeMap<(Stage, Stage), (u64, Vec<f64>)>,
    stays: BTreeMap<Stage, Vec<f64>>,
    reasons: BTreeMap<String, u64>,
    recycling: [u64; 4],
    sla: BTreeMap<ClockKind, (u64, u64)>,
}

impl Sum {
    fn add(&mut self, row: &GroupRow, samples: &Samples) {
        for (stage, n) in &row.entered {
            *self.entered.entry(*stage).or_default() += n;
        }
        for (i, c) in row.conversions.iter().enumerate() {
            let (cohort, days) = self.cohorts.entry((c.from, c.to)).or_default();
            *cohort += c.cohort;
            days.extend(samples.conversions.get(i).into_iter().flatten());
        }
        for (stage, days) in &samples.stays {
            self.stays.entry(*stage).or_default().extend(days);
        }
        for (reason, n) in &row.disqualified_reasons {
            *self.reasons.entry(reason.clone()).or_default() += n;
        }
        let r = &row.recycling;
        for (sum, n) in
            self.recycling
                .iter_mut()
                .zip([r.mql_cohort, r.recycled, r.disqualified, r.requalified])
        {
            *sum += n;
        }
        for (kind, c) in &row.sla {
            let (due, met) = self.sla.entry(*kind).or_default();
            *due += c.due;
            *met += c.met;
        }
    }

    fn finish(mut self, group: String) -> GroupRow {
        let conversions = CONVERSIONS
            .into_iter()
            .map(|(from, to)| {
                let (cohort, mut days) = self.cohorts.remove(&(from, to)).unwrap_or_default();
                days.sort_by(f64::total_cmp);
                conversion(from, to, cohort, &days)
            })
            .collect();
        let time_in_stage = self
            .stays
            .into_iter()
            .map(|(stage, mut days)| {
                days.sort_by(f64::total_cmp);
                (stage, Spread::of_sorted(&days))
            })
            .collect();
        let [mql_cohort, recycled, disqualified, requalified] = self.recycling;
        GroupRow {
            group,
            entered: self.entered,
            conversions,
            time_in_stage,
            disqualified_reasons: self.reasons,
            recycling: Recycling {
                mql_cohort,
                recycled,
                recycled_rate: ratio(recycled, mql_cohort),
                disqualified,
                disqualified_rate: ratio(disqualified, mql_cohort),
                requalified,
                requalified_rate: ratio(requalified, recycled),
            },
            sla: self
                .sla
                .into_iter()
                .map(|(kind, (due, met))| {
                    let rate = ratio(met, due);
                    (kind, SlaCompliance { due, met, rate })
                })
                .collect(),
        }
    }
}
