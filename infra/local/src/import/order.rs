//! Whether a stage date keeps a lead's history in order.
//!
//! Within one cycle, a funnel stage (`new` … `won`) must not be dated before a stage the lead
//! entered earlier along the funnel, nor after one it entered later; `disqualified` and
//! `recycled` must not be dated before the cycle began. A funnel stage dated at or after the
//! close of a closed cycle opens the next cycle and cannot go backwards. The check reads the
//! lead's "became X at" times ([`CycleState::entered`]), so an update-mode import is held to the
//! same rule as a create-mode row: a date that went backwards would put the stay in each stage
//! out of order and drop a stay from the time-in-stage figures.

use super::rows::{Problem, Row, StageDate};
use lifecycle::{journey::CycleState, JourneyState, Stage, Timestamp};
use std::fmt;

/// A date that contradicts the lead's history, and the dates that would not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The stage whose "became X at" time it contradicts.
    pub stage: Stage,
    /// That time.
    pub entered_at: Timestamp,
    /// The earliest date in order, if bounded below.
    pub floor: Option<Timestamp>,
    /// The latest date in order, if bounded above.
    pub ceiling: Option<Timestamp>,
}

impl Conflict {
    /// The nearest date in order (`None` when the history leaves no room: it is out of order
    /// itself).
    pub fn clamp(&self, at: Timestamp) -> Option<Timestamp> {
        match (self.floor, self.ceiling) {
            (Some(f), Some(c)) if f > c => None,
            (floor, ceiling) => {
                let raised = floor.map_or(at, |f| at.max(f));
                Some(ceiling.map_or(raised, |c| raised.min(c)))
            }
        }
    }

    /// The row's problem, naming the column the date came from.
    pub fn problem(&self, date: &StageDate) -> Problem {
        Problem::OutOfOrderWithLead {
            column: date.column.clone(),
            stage: self.stage,
            entered_at: self.entered_at,
        }
    }
}

/// Checks `stage` dated `at` against `journey`'s current cycle.
pub fn check(journey: &JourneyState, stage: Stage, at: Timestamp) -> Result<(), Conflict> {
    let Some(cycle) = journey.current() else {
        return Ok(());
    };
    let closed_at = cycle.closed_by.and_then(|s| cycle.entered_at(s));
    let opens_next = stage.rank().is_some() && closed_at.is_some_and(|c| at >= c);
    if opens_next || cycle.entered.contains_key(&stage) {
        return Ok(());
    }
    let (floor, ceiling) = bounds(cycle, stage);
    let conflict = |(s, entered_at): (Stage, Timestamp)| Conflict {
        stage: s,
        entered_at,
        floor: floor.map(|(_, t)| t),
        ceiling: ceiling.map(|(_, t)| t),
    };
    match (floor, ceiling) {
        (Some(f), _) if at < f.1 => Err(conflict(f)),
        (_, Some(c)) if at > c.1 => Err(conflict(c)),
        _ => Ok(()),
    }
}

/// The latest entry before `stage` and the earliest after it, along the funnel.
type Bounds = (Option<(Stage, Timestamp)>, Option<(Stage, Timestamp)>);

fn bounds(cycle: &CycleState, stage: Stage) -> Bounds {
    let entries = cycle.entered.iter().map(|(s, t)| (*s, *t));
    let Some(rank) = stage.rank() else {
        // Off the funnel: only the cycle's beginning bounds it.
        return (entries.min_by_key(|(_, t)| *t), None);
    };
    let funnel: Vec<(Stage, Timestamp, u8)> = entries
        .filter_map(|(s, t)| s.rank().map(|r| (s, t, r)))
        .collect();
    let floor = funnel
        .iter()
        .filter(|(_, _, r)| *r < rank)
        .max_by_key(|(_, t, _)| *t)
        .map(|(s, t, _)| (*s, *t));
    let ceiling = funnel
        .iter()
        .filter(|(_, _, r)| *r > rank)
        .min_by_key(|(_, t, _)| *t)
        .map(|(s, t, _)| (*s, *t));
    (floor, ceiling)
}

/// A row imported with a stage date moved into order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjusted {
    /// The row's first line.
    pub line: u64,
    /// The lead.
    pub lead_id: String,
    /// The column of the date.
    pub column: String,
    /// The date as the file has it.
    pub from: Timestamp,
    /// The date imported.
    pub to: Timestamp,
    /// The stage it contradicted.
    pub stage: Stage,
}

impl Adjusted {
    /// The adjustment of `date` on `row`.
    pub fn new(row: &Row, date: &StageDate, conflict: &Conflict, to: Timestamp) -> Self {
        Self {
            line: row.line,
            lead_id: row.lead_id.clone(),
            column: date.column.clone(),
            from: date.at,
            to,
            stage: conflict.stage,
        }
    }
}

impl fmt::Display for Adjusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = |t: &Timestamp| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        write!(
            f,
            "line {} (lead {}): the date in column {:?} ({}) contradicts the lead's {} date; \
             imported as {}",
            self.line,
            self.lead_id,
            self.column,
            when(&self.from),
            self.stage,
            when(&self.to)
        )
    }
}
