//! Funnel reports, computed from transitions alone.
//!
//! Counters are kept alongside the transitions so dashboards can read them cheaply; a report
//! rebuilt from the transitions must always equal them.
//!
//! Beside entries and conversions a report says how long leads stayed in each stage, why they
//! were disqualified, how many cohorts were recycled (and came back), and how well the SLA
//! clocks were kept ([`outcomes`]). Everything is a pure function of the transitions (and the
//! clock outcomes the SLA timers report), so anyone rebuilding it gets the same numbers.

pub mod merge;
pub mod outcomes;
pub mod roi;

pub use merge::{merge, ReportSamples, Samples};
pub use outcomes::{ClockKind, ClockOutcome, Recycling, SlaCompliance, Spread};
pub use roi::{campaign_returns, maturity_days, CampaignReturn, CohortReturn, Return};

use crate::{
    transition::{Dimensions, Transition},
    Stage,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A grouping of the funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Everything together.
    All,
    /// By acquisition source.
    Source,
    /// By campaign.
    Campaign,
    /// By form or landing page.
    Form,
    /// By owning rep.
    Rep,
    /// By fit grade.
    Grade,
    /// By team (routing pool). Only SLA compliance is grouped by team so far; transitions
    /// carry no team, so their entries and conversions all fall in `"(none)"`.
    Team,
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 7] = [
        Dimension::All,
        Dimension::Source,
        Dimension::Campaign,
        Dimension::Form,
        Dimension::Rep,
        Dimension::Grade,
        Dimension::Team,
    ];

    /// The dimensions daily counters are kept for: those a transition carries a value of
    /// (a team counter would only ever count `"(none)"`).
    pub const COUNTED: [Dimension; 6] = [
        Dimension::All,
        Dimension::Source,
        Dimension::Campaign,
        Dimension::Form,
        Dimension::Rep,
        Dimension::Grade,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::Source => "source",
            Dimension::Campaign => "campaign",
            Dimension::Form => "form",
            Dimension::Rep => "rep",
            Dimension::Grade => "grade",
            Dimension::Team => "team",
        }
    }

    /// The group a transition falls in (`"(none)"` when the value is unknown).
    pub fn value_of(self, t: &Transition) -> String {
        self.value_in(&t.dims)
    }

    /// The group of a dimension snapshot (a transition's or a clock outcome's).
    pub fn value_in(self, dims: &Dimensions) -> String {
        let value = match self {
            Dimension::All => return "all".to_owned(),
            Dimension::Source => dims.source.as_deref(),
            Dimension::Campaign => dims.campaign.as_deref(),
            Dimension::Form => dims.form.as_deref(),
            Dimension::Rep => dims.rep.as_ref().map(|r| r.as_str()),
            Dimension::Grade => dims.grade.as_deref(),
            Dimension::Team => dims.team.as_deref(),
        };
        value.filter(|v| !v.is_empty()).unwrap_or(NONE).to_owned()
    }
}

/// The version of the report definitions below. It changes whenever a figure would come out
/// differently from the same transitions, so a stored snapshot says which definitions made it.
/// 1: entries and conversions; 2: time in stage, reasons, recycling and SLA compliance;
/// 3: a clock belongs to the group of its own dimension snapshot (rep = the owner it ran for,
/// team = its pool), and the team grouping; 4: a report's samples (the durations behind its
/// medians and percentiles) are part of it, so stored days merge into any longer period.
pub const DEFINITION_VERSION: u32 = 4;

/// The group name for a missing dimension value.
pub const NONE: &str = "(none)";

/// A daily counter: how many lead-cycles entered `stage` on `day` (UTC, by `effective_at`) in
/// one group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CounterKey {
    /// The UTC day the transitions took effect.
    pub day: NaiveDate,
    /// The stage entered.
    pub stage: Stage,
    /// The grouping.
    pub dimension: Dimension,
    /// The group.
    pub group: String,
}

/// An increment of a counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterDelta {
    /// Which counter.
    pub key: CounterKey,
    /// By how much.
    pub delta: i64,
}

/// The counter increments one transition makes: one per [counted](Dimension::COUNTED)
/// dimension.
pub fn counter_deltas(t: &Transition) -> Vec<CounterDelta> {
    let day = t.effective_at.date_naive();
    Dimension::COUNTED
        .into_iter()
        .map(|dimension| CounterDelta {
            key: CounterKey {
                day,
                stage: t.to,
                dimension,
                group: dimension.value_of(t),
            },
            delta: 1,
        })
        .collect()
}

/// A half-open window of time `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// First instant inside.
    pub from: crate::Timestamp,
    /// First instant after.
    pub to: crate::Timestamp,
}

impl Period {
    /// Whether `t` falls inside.
    pub fn contains(&self, t: crate::Timestamp) -> bool {
        t >= self.from && t < self.to
    }
}

/// The stage pairs a report converts between, in display order.
pub const CONVERSIONS: [(Stage, Stage); 6] = [
    (Stage::New, Stage::Mql),
    (Stage::Mql, Stage::Sal),
    (Stage::Sal, Stage::Sql),
    (Stage::Sql, Stage::Won),
    (Stage::Mql, Stage::Sql),
    (Stage::Mql, Stage::Won),
];

/// How one cohort converted from one stage to a later one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversion {
    /// The stage the cohort entered in the period.
    pub from: Stage,
    /// The later stage.
    pub to: Stage,
    /// Lead-cycles that entered `from` in the period.
    pub cohort: u64,
    /// Of those, how many reached `to` (or a later funnel stage, which passes through it) by
    /// the report's `as_of` time.
    pub converted: u64,
    /// `converted / cohort`, `None` for an empty cohort.
    pub rate: Option<f64>,
    /// Median days from entering `from` to reaching `to`, over the converted.
    pub median_days: Option<f64>,
    /// 90th percentile (nearest rank) of the same.
    pub p90_days: Option<f64>,
}

/// One group's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRow {
    /// The group's value (`"all"` for the total, `"(none)"` for an unknown value).
    pub group: String,
    /// Lead-cycles that entered each stage in the period (period view).
    pub entered: BTreeMap<Stage, u64>,
    /// Conversions of the cohorts that entered each from-stage in the period (cohort view).
    pub conversions: Vec<Conversion>,
    /// Time in stage: for stays that began in the period and ended by `as_of`, days from
    /// entering the stage to the lead's next transition.
    #[serde(default)]
    pub time_in_stage: BTreeMap<Stage, Spread>,
    /// Disqualifications that took effect in the period, by reason code.
    #[serde(default)]
    pub disqualified_reasons: BTreeMap<String, u64>,
    /// What became of the MQL cohort's cycles: recycled, disqualified, back again.
    #[serde(default)]
    pub recycling: Recycling,
    /// SLA clocks due in the period, kept or broken, per clock kind.
    #[serde(default)]
    pub sla: BTreeMap<ClockKind, SlaCompliance>,
}

/// A funnel report: the period view (entries per stage) and the cohort view (conversions and
/// time between stages) for one period, grouped by one dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelReport {
    /// The period reported.
    pub period: Period,
    /// The grouping.
    pub group_by: Dimension,
    /// Only transitions recorded at or before this instant count, so a report asked again later
    /// for the same `as_of` gives the same numbers.
    pub as_of: crate::Timestamp,
    /// The total over all groups.
    pub total: GroupRow,
    /// One row per group, largest MQL count first, then by name.
    pub groups: Vec<GroupRow>,
}

/// Builds the funnel report from transitions alone.
///
/// Definitions (fixed; every number in every view means this and nothing else):
///
/// * **entered X** (period view): lead-cycles with a transition *into* X whose `effective_at`
///   lies in the period. Late fill-ins count with their real time; skipped stages are not
///   entered.
/// * **conversion X→Y** (cohort view): of the lead-cycles that entered X in the period, the share
///   whose cycle reached Y or any later funnel stage by `as_of`. Time to convert is measured from
///   entering X to the first entry of Y or a later funnel stage; it can be negative when the data
///   says so (a deal dated before the first contact), and is reported as it is.
/// * A transition belongs to the group of its own dimension snapshot; a conversion belongs to the
///   group of the transition that entered X.
///
/// The further figures (time in stage, reasons, recycling, SLA) are defined in [`outcomes`].
/// This report has no SLA figures; [`report_with_clocks`] adds them.
pub fn report(
    transitions: &[Transition],
    period: Period,
    group_by: Dimension,
    as_of: crate::Timestamp,
) -> FunnelReport {
    report_with_clocks(transitions, &[], period, group_by, as_of)
}

/// [`report`], with the SLA compliance of `clocks` (the outcomes the SLA timers recorded).
pub fn report_with_clocks(
    transitions: &[Transition],
    clocks: &[ClockOutcome],
    period: Period,
    group_by: Dimension,
    as_of: crate::Timestamp,
) -> FunnelReport {
    report_with_samples(transitions, clocks, period, group_by, as_of).0
}

/// [`report_with_clocks`], with the durations behind its medians and percentiles: what
/// [`merge`] needs to combine reports of adjacent periods into the report of their union.
pub fn report_with_samples(
    transitions: &[Transition],
    clocks: &[ClockOutcome],
    period: Period,
    group_by: Dimension,
    as_of: crate::Timestamp,
) -> (FunnelReport, ReportSamples) {
    let visible: Vec<&Transition> = transitions
        .iter()
        .filter(|t| t.recorded_at <= as_of)
        .collect();
    let mut groups: BTreeMap<String, Accumulator> = BTreeMap::new();
    let mut total = Accumulator::default();

    for t in &visible {
        if period.contains(t.effective_at) {
            *total.entered.entry(t.to).or_default() += 1;
            *groups
                .entry(group_by.value_of(t))
                .or_default()
                .entered
                .entry(t.to)
                .or_default() += 1;
        }
    }

    for cycle in cycles(&visible) {
        for (pair, outcome) in cycle.conversions(period) {
            total.add(pair, outcome);
            groups
                .entry(group_by.value_of(cycle.entry_of(pair.0)))
                .or_default()
                .add(pair, outcome);
        }
    }

    let mut extra = outcomes::Outcomes::build(&visible, clocks, period, group_by, as_of);
    let mut samples = ReportSamples::default();
    let mut rows: Vec<GroupRow> = Vec::new();
    for (g, acc) in groups {
        let more = extra.groups.remove(&g).unwrap_or_default();
        let (row, sample) = finish(acc, more, g.clone());
        samples.groups.insert(g, sample);
        rows.push(row);
    }
    // A group may have only outcomes (a clock due in the period for a lead whose transitions
    // all lie outside it).
    for (g, more) in std::mem::take(&mut extra.groups) {
        let (row, sample) = finish(Accumulator::default(), more, g.clone());
        samples.groups.insert(g, sample);
        rows.push(row);
    }
    sort_rows(&mut rows);
    let (total, total_samples) = finish(total, extra.total, "all".to_owned());
    samples.total = total_samples;
    let report = FunnelReport {
        period,
        group_by,
        as_of,
        total,
        groups: rows,
    };
    (report, samples)
}

/// A row from its entries and conversions and its outcome figures, with its samples.
fn finish(acc: Accumulator, extra: outcomes::Extra, group: String) -> (GroupRow, Samples) {
    let (row, conversions) = acc.finish(group);
    let (row, stays) = extra.finish(row);
    (row, Samples { conversions, stays })
}

/// Largest MQL count first, then by name.
pub(crate) fn sort_rows(rows: &mut [GroupRow]) {
    rows.sort_by(|a, b| {
        let mql = |r: &GroupRow| r.entered.get(&Stage::Mql).copied().unwrap_or(0);
        mql(b).cmp(&mql(a)).then_with(|| a.group.cmp(&b.group))
    });
}

/// One lead-cycle's entries, with the transition that made each.
struct CycleView<'a> {
    entries: BTreeMap<Stage, &'a Transition>,
}

impl<'a> CycleView<'a> {
    fn entry_of(&self, stage: Stage) -> &'a Transition {
        self.entries[&stage]
    }

    /// The first time the cycle reached `stage` or a later funnel stage.
    fn reached_at(&self, stage: Stage) -> Option<crate::Timestamp> {
        let rank = stage.rank()?;
        self.entries
            .iter()
            .filter(|(s, _)| s.rank().is_some_and(|r| r >= rank))
            .map(|(_, t)| t.effective_at)
            .min()
    }

    fn conversions(&self, period: Period) -> Vec<((Stage, Stage), Option<f64>)> {
        CONVERSIONS
            .into_iter()
            .filter_map(|(from, to)| {
                let start = self.entries.get(&from)?.effective_at;
                if !period.contains(start) {
                    return None;
                }
                let days = self
                    .reached_at(to)
                    .map(|end| (end - start).num_seconds() as f64 / 86_400.0);
                Some(((from, to), days))
            })
            .collect()
    }
}

/// Groups transitions into lead-cycles (first entry of each stage wins).
fn cycles<'a>(transitions: &[&'a Transition]) -> Vec<CycleView<'a>> {
    let mut by_cycle: BTreeMap<(&str, u32), CycleView<'a>> = BTreeMap::new();
    let mut sorted: Vec<&&Transition> = transitions.iter().collect();
    sorted.sort_by_key(|t| (t.lead_id.as_str(), t.seq));
    for t in sorted {
        let view = by_cycle
            .entry((t.lead_id.as_str(), t.cycle))
            .or_insert_with(|| CycleView {
                entries: BTreeMap::new(),
            });
        view.entries.entry(t.to).or_insert(t);
    }
    by_cycle.into_values().collect()
}

#[derive(Default)]
struct Accumulator {
    entered: BTreeMap<Stage, u64>,
    cohorts: BTreeMap<(Stage, Stage), (u64, Vec<f64>)>,
}

impl Accumulator {
    fn add(&mut self, pair: (Stage, Stage), outcome: Option<f64>) {
        let (cohort, days) = self.cohorts.entry(pair).or_default();
        *cohort += 1;
        days.extend(outcome);
    }

    /// The row, and each conversion's sorted days (in [`CONVERSIONS`] order).
    fn finish(self, group: String) -> (GroupRow, Vec<Vec<f64>>) {
        let mut cohorts = self.cohorts;
        let mut samples = Vec::new();
        let conversions = CONVERSIONS
            .into_iter()
            .map(|(from, to)| {
                let (cohort, mut days) = cohorts.remove(&(from, to)).unwrap_or_default();
                days.sort_by(f64::total_cmp);
                let c = conversion(from, to, cohort, &days);
                samples.push(days);
                c
            })
            .collect();
        let row = GroupRow {
            group,
            entered: self.entered,
            conversions,
            time_in_stage: BTreeMap::new(),
            disqualified_reasons: BTreeMap::new(),
            recycling: Recycling::default(),
            sla: BTreeMap::new(),
        };
        (row, samples)
    }
}

/// A conversion's figures from its cohort and the sorted days of those that converted.
pub(crate) fn conversion(from: Stage, to: Stage, cohort: u64, days: &[f64]) -> Conversion {
    let converted = days.len() as u64;
    Conversion {
        from,
        to,
        cohort,
        converted,
        rate: (cohort > 0).then(|| converted as f64 / cohort as f64),
        median_days: median(days),
        p90_days: nearest_rank(days, 0.9),
    }
}

/// The median of sorted values (mean of the middle two for an even count).
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The nearest-rank percentile `q` (0 < q ≤ 1) of sorted values.
pub fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

#[cfg(test)]
mod tests;
