//! Daily snapshots: the funnel report of one UTC day, for one grouping, frozen with the
//! definitions that made it and the input it saw.
//!
//! A day's report depends only on the leads that did something that day: the entries are
//! theirs, and so are the cohorts and stays that begin that day (which follow those leads
//! beyond the day). A snapshot is therefore computed from the whole history of those leads,
//! plus the SLA clock outcomes due that day, and its **watermark** is the latest
//! `recorded_at` among them all. The same transitions and outcomes give the same snapshot,
//! byte for byte ([`canonical`](crate::canonical)), whoever computes it: the nightly run from
//! the store, or a rebuild from every transition and outcome.
//!
//! Known limits: a clock's outcome is stored when it stops or when the sweep first acts on its
//! breach; a clock whose policy has no breach step (no manager notice, no reassignment) and
//! that is never stopped has no outcome, and is missing from the SLA figures. The team
//! grouping only groups SLA compliance: transitions carry no team, so its entries and
//! conversions all fall in `"(none)"`.

use crate::canonical;
use chrono::{NaiveDate, TimeZone, Utc};
use lifecycle::{
    funnel::{
        self, ClockOutcome, Dimension, FunnelReport, Period, ReportSamples, DEFINITION_VERSION,
    },
    Timestamp, Transition,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The document collection holding snapshots, keyed `<dimension>/<day>` (so one grouping's
/// days of a month or a year are one listing by key prefix).
pub const COLLECTION: &str = "funnel_snapshot";

/// One day's report for one grouping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The UTC day.
    pub day: NaiveDate,
    /// The grouping.
    pub dimension: Dimension,
    /// [`DEFINITION_VERSION`] when it was made.
    pub definition_version: u32,
    /// The latest `recorded_at` of the transitions it was computed from.
    pub watermark: Timestamp,
    /// The report of the day (its `as_of` is the watermark).
    pub report: FunnelReport,
    /// The durations behind the report's medians and percentiles, so that days merge into
    /// longer periods ([`funnel::merge`]).
    #[serde(default)]
    pub samples: ReportSamples,
}

impl Snapshot {
    /// The document key: `<dimension>/<day>`.
    pub fn key(&self) -> String {
        key(self.day, self.dimension)
    }

    /// The snapshot as a JSON value (canonicalise it for bytes).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a snapshot always serialises")
    }

    /// The canonical bytes.
    pub fn canonical(&self) -> String {
        canonical::to_string(&self.to_value())
    }

    /// The hash of the canonical bytes.
    pub fn hash(&self) -> String {
        canonical::hash(&self.to_value())
    }
}

/// The document key of a day and grouping.
pub fn key(day: NaiveDate, dimension: Dimension) -> String {
    format!("{}/{day}", dimension.as_str())
}

/// The UTC day `[day 00:00, next day 00:00)`.
pub fn day_period(day: NaiveDate) -> Period {
    let start = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"));
    Period {
        from: start,
        to: start + chrono::Duration::days(1),
    }
}

/// The snapshot of `day` for `dimension`, from `histories`: the complete histories of (at
/// least) every lead with a transition effective that day, and `clocks`: (at least) every
/// clock outcome due that day. Other leads' histories and other days' outcomes may be
/// included; they change nothing. `None` if nothing took effect or fell due that day.
pub fn compute(
    histories: &BTreeMap<String, Vec<Transition>>,
    clocks: &[ClockOutcome],
    day: NaiveDate,
    dimension: Dimension,
) -> Option<Snapshot> {
    let period = day_period(day);
    let active: Vec<&Transition> = histories
        .values()
        .filter(|h| h.iter().any(|t| period.contains(t.effective_at)))
        .flatten()
        .collect();
    let due: Vec<ClockOutcome> = clocks
        .iter()
        .filter(|c| period.contains(c.due_at))
        .cloned()
        .collect();
    let watermark = active
        .iter()
        .map(|t| t.recorded_at)
        .chain(due.iter().map(|c| c.recorded_at))
        .max()?;
    let transitions: Vec<Transition> = active.into_iter().cloned().collect();
    let (report, samples) =
        funnel::report_with_samples(&transitions, &due, period, dimension, watermark);

    Some(Snapshot {
        day,
        dimension,
        definition_version: DEFINITION_VERSION,
        watermark,
        report,
        samples,
    })
}

/// Groups transitions by lead.
pub fn by_lead(
    transitions: impl IntoIterator<Item = Transition>,
) -> BTreeMap<String, Vec<Transition>> {
    let mut out: BTreeMap<String, Vec<Transition>> = BTreeMap::new();
    for t in transitions {
        out.entry(t.lead_id.as_str().to_owned())
            .or_default()
            .push(t);
    }
    out
}

/// Every snapshot of a closed day (one that ended by `upto`), rebuilt from every transition
/// and clock outcome recorded before `upto`: the reference the nightly run must always equal.
pub fn rebuild(
    transitions: &[Transition],
    clocks: &[ClockOutcome],
    upto: Timestamp,
) -> Vec<Snapshot> {
    let visible = transitions.iter().filter(|t| t.recorded_at < upto).cloned();
    let histories = by_lead(visible);
    let clocks: Vec<ClockOutcome> = clocks
        .iter()
        .filter(|c| c.recorded_at < upto)
        .cloned()
        .collect();
    let mut leads_by_day: BTreeMap<NaiveDate, BTreeSet<&str>> = BTreeMap::new();
    for (lead, history) in &histories {
        for t in history {
            leads_by_day
                .entry(t.effective_at.date_naive())
                .or_default()
                .insert(lead);
        }
    }
    for c in &clocks {
        leads_by_day.entry(c.due_at.date_naive()).or_default();
    }

    let mut out = Vec::new();
    let open = upto.date_naive();
    for (day, leads) in leads_by_day.into_iter().filter(|(day, _)| *day < open) {
        let subset: BTreeMap<String, Vec<Transition>> = leads
            .into_iter()
            .map(|l| (l.to_owned(), histories[l].clone()))
            .collect();
        out.extend(
            Dimension::ALL
                .into_iter()
                .filter_map(|d| compute(&subset, &clocks, day, d)),
        );
    }
    out
}
