//! The funnel rollup: nightly (on an EventBridge schedule) and on demand, it brings the stored
//! daily funnel snapshots up to date with what the store learnt since its last run.
//!
//! A **snapshot** is the funnel report of one UTC day for one grouping, stored with the
//! definition version and the input watermark, in a canonical byte form with a hash
//! ([`snapshot`], [`canonical`]). The run reads only the transitions recorded since its
//! watermark and the days they touch ([`nightly`]). A stored day that changes is a
//! **restatement**, and is recorded as one, never silently.
//!
//! The same function generates the **scheduled reports** ([`scheduled`]): every 15 minutes
//! (and after each nightly run) the reports whose schedules fired since the last run are
//! generated once, stored for the API, and delivered through the notification port.

pub mod canonical;
pub mod costs;
pub mod csv_lines;
pub mod nightly;
pub mod page;
pub mod planning;
pub mod query;
pub mod report_csv;
pub mod schedule;
pub mod scheduled;
pub mod snapshot;

pub use nightly::{run, Restatement, RestatementKind, RollupError, RunSummary};
pub use snapshot::Snapshot;

use lifecycle::Timestamp;
use ports::{DocumentStore, JourneyStore, Notifier};
use scheduled::{ScheduleRunError, ScheduleSummary};
use serde::{Deserialize, Serialize};

/// How long after a transition's `recorded_at` the run waits before taking it in. A commit
/// that stamped `recorded_at` just before the run started may land just after the run read the
/// window; waiting this long keeps it from being skipped by both this run and the next.
pub const SETTLE: chrono::Duration = chrono::Duration::minutes(5);

/// What an invocation may ask for. The scheduled event carries none of these fields; an
/// on-demand call may name the `upto` instant (e.g. to replay up to a known time).
#[derive(Debug, Default, Deserialize)]
pub struct Request {
    /// Take in transitions recorded before this instant (default: now minus [`SETTLE`]).
    #[serde(default)]
    pub upto: Option<Timestamp>,
    /// What to do (default: the nightly rollup, then the scheduled reports).
    #[serde(default)]
    pub task: Task,
}

/// What an invocation does.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// The nightly rollup, then the scheduled reports.
    #[default]
    Nightly,
    /// Only the scheduled reports (the frequent schedule, so a report fires on time).
    ScheduledReports,
}

/// What an invocation did.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// The rollup, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollup: Option<RunSummary>,
    /// The scheduled reports.
    pub reports: ScheduleSummary,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The rollup failed.
    #[error(transparent)]
    Rollup(#[from] RollupError),
    /// The scheduled reports failed.
    #[error(transparent)]
    Schedules(#[from] ScheduleRunError),
}

/// Handles one invocation with the scheduled reports: the nightly event runs the rollup and
/// then the schedules; `{"task": "scheduled_reports"}` runs the schedules alone.
pub async fn invoke(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    notifier: &dyn Notifier,
    event: serde_json::Value,
    now: Timestamp,
) -> Result<Summary, InvokeError> {
    let request: Request = serde_json::from_value(event).unwrap_or_default();
    let mut summary = Summary::default();
    if request.task == Task::Nightly {
        let upto = request.upto.unwrap_or(now - SETTLE).min(now);
        summary.rollup = Some(run(journey, docs, upto).await?);
    }
    summary.reports = scheduled::run(journey, docs, notifier, now).await?;
    Ok(summary)
}

/// Handles one invocation of the rollup alone: a scheduled event or an on-demand request.
pub async fn handle(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    event: serde_json::Value,
    now: Timestamp,
) -> Result<RunSummary, RollupError> {
    // An EventBridge event has other fields; only `upto` matters, and a malformed one is
    // ignored in favour of the default rather than failing a schedule forever.
    let request: Request = serde_json::from_value(event).unwrap_or_default();
    let upto = request.upto.unwrap_or(now - SETTLE).min(now);
    run(journey, docs, upto).await
}
