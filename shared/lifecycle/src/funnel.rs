//! Funnel reports, computed from transitions alone.
//!
//! Counters are kept alongside the transitions so dashboards can read them cheaply; a report
//! rebuilt from the transitions must always equal them.

use crate::{transition::Transition, Stage};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

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
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 6] = [
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
        }
    }

    /// The group a transition falls in (`"(none)"` when the value is unknown).
    pub fn value_of(self, t: &Transition) -> String {
        let value = match self {
            Dimension::All => return "all".to_owned(),
            Dimension::Source => t.dims.source.as_deref(),
            Dimension::Campaign => t.dims.campaign.as_deref(),
            Dimension::Form => t.dims.form.as_deref(),
            Dimension::Rep => t.dims.rep.as_ref().map(|r| r.as_str()),
            Dimension::Grade => t.dims.grade.as_deref(),
        };
        value.filter(|v| !v.is_empty()).unwrap_or(NONE).to_owned()
    }
}

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

/// The counter increments one transition makes: one per dimension.
pub fn counter_deltas(t: &Transition) -> Vec<CounterDelta> {
    let day = t.effective_at.date_naive();
    Dimension::ALL
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
