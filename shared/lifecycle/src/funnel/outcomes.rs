//! What happened to leads besides moving forward: how long they stayed in each stage, why they
//! were disqualified, whether their cycles were recycled and came back, and whether the SLA
//! clocks were kept.
//!
//! Definitions (fixed, like the ones in [`report`](super::report)):
//!
//! * **time in stage X**: for each transition *into* X whose `effective_at` lies in the period,
//!   the days from it to the lead's next transition (the lead's history ordered by
//!   `effective_at`, then `seq`, so a late fill-in takes its real place). A stay that has not
//!   ended by `as_of` is still open and is not counted. Median as in [`median`](super::median),
//!   p90 by nearest rank. The stay belongs to the group of the transition that began it.
//! * **disqualification reasons**: transitions into `Disqualified` effective in the period, by
//!   reason code (`"(none)"` if a record has none); the group of that transition.
//! * **recycling**: of the lead-cycles that entered MQL in the period (the MQL cohort), how many
//!   were recycled, and how many disqualified, by `as_of` (a cycle disqualified then recycled
//!   counts in both); of the recycled, how many came back as an MQL in a later cycle by `as_of`.
//!   The group of the MQL entry.
//! * **SLA compliance**: clocks whose `due_at` lies in the period and whose outcome was
//!   recorded by `as_of`, per kind (routing, response, SAL follow-up: each counted on its own),
//!   and how many were met. A clock is *met* when it stopped
//!   (the owner acted, or the lead was assigned) before its due time, and *breached* when it
//!   was still running at its due time; it belongs to the UTC day of its due time, whenever it
//!   ended. A clock belongs to the group of its own dimension snapshot: the rep is the owner it
//!   ran for (a routing-latency clock runs for nobody, so `"(none)"`), the team is the pool it
//!   ran in, and source, campaign, form and grade are the lead's when the outcome was recorded.

use super::{median, nearest_rank, Dimension, GroupRow, Period, NONE};
use crate::{transition::Dimensions, LeadId, Stage, Timestamp, Transition};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which SLA clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// From MQL to a rep being assigned.
    Routing,
    /// From assignment to the rep accepting (or first touching) the lead.
    Response,
    /// From the accept to the rep qualifying, disqualifying, rejecting or recycling the SAL.
    SalFollowUp,
}

/// How one SLA clock ended, as the SLA timers record it. The report only counts these; the
/// clocks themselves (business hours, holidays) are computed by the SLA timers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockOutcome {
    /// The clock's id (`<lead>:<cycle>:<kind>:<reassignments>`).
    #[serde(default)]
    pub clock: String,
    /// The lead the clock ran for.
    pub lead: LeadId,
    /// Which clock.
    pub kind: ClockKind,
    /// When it was due.
    pub due_at: Timestamp,
    /// Whether the promise was kept.
    pub met: bool,
    /// When the store learnt the outcome; a report `as_of` an earlier instant leaves it out.
    pub recorded_at: Timestamp,
    /// The groups the clock counts in: `rep` is the owner it ran for, `team` its pool.
    #[serde(default)]
    pub dims: Dimensions,
}

impl ClockOutcome {
    /// The outcome with the lead's source, campaign, form and grade; the rep and team stay the
    /// clock's own (the lead may have changed hands since).
    pub fn with_lead_dims(mut self, lead: &Dimensions) -> Self {
        self.dims = Dimensions {
            rep: self.dims.rep.take(),
            team: self.dims.team.take(),
            ..lead.clone()
        };
        self
    }
}

/// A distribution of durations in days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// How many durations.
    pub count: u64,
    /// Their median.
    pub median_days: Option<f64>,
    /// Their 90th percentile (nearest rank).
    pub p90_days: Option<f64>,
}

impl Spread {
    /// The spread of sorted days.
    pub(crate) fn of_sorted(days: &[f64]) -> Self {
        Self {
            count: days.len() as u64,
            median_days: median(days),
            p90_days: nearest_rank(days, 0.9),
        }
    }
}

/// What became of the MQL cohort's cycles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recycling {
    /// Lead-cycles that entered MQL in the period.
    pub mql_cohort: u64,
    /// Of those, recycled by `as_of`.
    pub recycled: u64,
    /// `recycled / mql_cohort`.
    pub recycled_rate: Option<f64>,
    /// Of those, disqualified by `as_of`.
    pub disqualified: u64,
    /// `disqualified / mql_cohort`.
    pub disqualified_rate: Option<f64>,
    /// Of the recycled, back as an MQL in a later cycle by `as_of`.
    pub requalified: u64,
    /// `requalified / recycled`.
    pub requalified_rate: Option<f64>,
}

/// SLA clocks kept and broken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaCompliance {
    /// Clocks due in the period.
    pub due: u64,
    /// Of those, met.
    pub met: u64,
    /// `met / due`.
    pub rate: Option<f64>,
}

pub(crate) fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// One group's raw outcome figures, before percentiles and rates.
#[derive(Default)]
pub(super) struct Extra {
    stays: BTreeMap<Stage, Vec<f64>>,
    reasons: BTreeMap<String, u64>,
    mql_cohort: u64,
    recycled: u64,
    disqualified: u64,
    requalified: u64,
    clocks: BTreeMap<ClockKind, (u64, u64)>,
}

impl Extra {
    /// Fills `row`'s outcome figures; also returns each stage's sorted stays.
    pub(super) fn finish(self, mut row: GroupRow) -> (GroupRow, BTreeMap<Stage, Vec<f64>>) {
        let mut stays = self.stays;
        for days in stays.values_mut() {
            days.sort_by(f64::total_cmp);
        }
        row.time_in_stage = stays
            .iter()
            .map(|(stage, days)| (*stage, Spread::of_sorted(days)))
            .collect();
        row.disqualified_reasons = self.reasons;
        row.recycling = Recycling {
            mql_cohort: self.mql_cohort,
            recycled: self.recycled,
            recycled_rate: ratio(self.recycled, self.mql_cohort),
            disqualified: self.disqualified,
            disqualified_rate: ratio(self.disqualified, self.mql_cohort),
            requalified: self.requalified,
            requalified_rate: ratio(self.requalified, self.recycled),
        };
        row.sla = self
            .clocks
            .into_iter()
            .map(|(kind, (due, met))| {
                let rate = ratio(met, due);
                (kind, SlaCompliance { due, met, rate })
            })
            .collect();
        (row, stays)
    }
}

/// The outcome figures of a whole report: the total and each group.
pub(super) struct Outcomes {
    pub(super) total: Extra,
    pub(super) groups: BTreeMap<String, Extra>,
    period: Period,
    group_by: Dimension,
}

impl Outcomes {
    /// Computes every outcome figure from the visible transitions and the clocks recorded by
    /// `as_of`.
    pub(super) fn build(
        visible: &[&Transition],
        clocks: &[ClockOutcome],
        period: Period,
        group_by: Dimension,
        as_of: Timestamp,
    ) -> Self {
        let mut out = Outcomes {
            total: Extra::default(),
            groups: BTreeMap::new(),
            period,
            group_by,
        };
        let histories = histories(visible);

        for history in histories.values() {
            out.stays(history);
            out.reasons(history);
            out.recycling(history);
        }
        let counted = clocks
            .iter()
            .filter(|c| period.contains(c.due_at) && c.recorded_at <= as_of);
        for clock in counted {
            for extra in out.both(group_by.value_in(&clock.dims)) {
                let (due, met) = extra.clocks.entry(clock.kind).or_default();
                *due += 1;
                *met += u64::from(clock.met);
            }
        }
        out
    }

    /// The total and the group's figures, to add the same thing to both.
    fn both(&mut self, group: String) -> [&mut Extra; 2] {
        [&mut self.total, self.groups.entry(group).or_default()]
    }

    fn stays(&mut self, history: &[&Transition]) {
        for pair in history.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            if !self.period.contains(start.effective_at) {
                continue;
            }
            let days = (end.effective_at - start.effective_at).num_seconds() as f64 / 86_400.0;
            for extra in self.both(self.group_by.value_of(start)) {
                extra.stays.entry(start.to).or_default().push(days);
            }
        }
    }

    fn reasons(&mut self, history: &[&Transition]) {
        let period = self.period;
        let disqualified = history
            .iter()
            .filter(|t| t.to == Stage::Disqualified && period.contains(t.effective_at));
        for t in disqualified {
            let code = t
                .reason
                .as_ref()
                .map_or(NONE, |r| r.code.as_str())
                .to_owned();
            for extra in self.both(self.group_by.value_of(t)) {
                *extra.reasons.entry(code.clone()).or_default() += 1;
            }
        }
    }

    fn recycling(&mut self, history: &[&Transition]) {
        let mut cycles: BTreeMap<u32, Vec<&Transition>> = BTreeMap::new();
        for t in history {
            cycles.entry(t.cycle).or_default().push(t);
        }
        for (&cycle, members) in &cycles {
            // The cycle's MQL entry: the earliest, as in the cohort view.
            let Some(mql) = members.iter().find(|t| t.to == Stage::Mql) else {
                continue;
            };
            if !self.period.contains(mql.effective_at) {
                continue;
            }
            let closed_by = |stage: Stage| members.iter().any(|t| t.to == stage);
            let recycled = closed_by(Stage::Recycled);
            let disqualified = closed_by(Stage::Disqualified);
            let back = recycled
                && cycles
                    .range(cycle + 1..)
                    .any(|(_, later)| later.iter().any(|t| t.to == Stage::Mql));
            for extra in self.both(self.group_by.value_of(mql)) {
                extra.mql_cohort += 1;
                extra.recycled += u64::from(recycled);
                extra.disqualified += u64::from(disqualified);
                extra.requalified += u64::from(back);
            }
        }
    }
}

/// Each lead's visible transitions, ordered by `effective_at`, then `seq`.
fn histories<'a>(visible: &[&'a Transition]) -> BTreeMap<&'a str, Vec<&'a Transition>> {
    let mut by_lead: BTreeMap<&str, Vec<&Transition>> = BTreeMap::new();
    for t in visible {
        by_lead.entry(t.lead_id.as_str()).or_default().push(t);
    }
    for history in by_lead.values_mut() {
        history.sort_by_key(|t| (t.effective_at, t.seq));
    }
    by_lead
}
