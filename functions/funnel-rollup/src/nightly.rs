//! The nightly run: bring the stored snapshots up to date with what the store learnt since the
//! last run, reading only what changed.
//!
//! 1. Read the transitions *recorded* since the stored watermark (up to `upto`; on the first run,
//!    from the first day the store recorded one, [`JourneyStore::extent`]), and the SLA clock
//!    outcomes stored since then (listed by the day they were stored, see
//!    [`routing::docs::outcome_writes`]).
//! 2. Load the history of each lead they belong to: its stays and cohorts may begin on any day
//!    it was active, so every such day is *touched*; so is the due day of each new outcome.
//! 3. Only **closed** days are snapshotted: a day whose end is after `upto` (today, for the
//!    nightly run at 02:15) is still filling with on-time transitions, and a snapshot of it would
//!    be restated the next night as if they had come late. A touched day that is still open is
//!    kept in the run state as *pending* and computed by the first run after it closes.
//! 4. For each touched closed day, list the transitions *effective* that day, load the
//!    histories of their leads, list the clock outcomes *due* that day, and compute the day's
//!    snapshots ([`snapshot::compute`]).
//! 5. Store a snapshot whose hash changed. If one was stored before, the change is a
//!    **restatement** and is recorded beside it in the same commit: `late` when a transition
//!    newly recorded took effect that very day (or a clock outcome newly stored was due that
//!    day), so it was recorded after the day closed and was first reported; `matured` when the
//!    day's cohorts moved on (a lead that was an MQL that day became an SQL later);
//!    `redefined` when the report definitions changed ([`DEFINITION_VERSION`]), which makes the
//!    next run recompute every day.
//! 6. Move the watermark to `upto`, conditionally on the version read in step 1, so two runs at
//!    once cannot both advance it.
//!
//! A run that stops midway loses nothing: the watermark moves last, so the next run reads the
//! same changes again, and a day already brought up to date hashes the same and is not written
//! twice.

use crate::snapshot::{self, Snapshot};
use chrono::NaiveDate;
use lifecycle::{
    funnel::{ClockOutcome, Dimension, DEFINITION_VERSION},
    LeadId, Stage, Timestamp, Transition,
};
use ports::{
    Commit, CommitOutcome, Document, DocumentStore, DocumentWrite, Expect, Extent, JourneyStore,
    StoreError, MAX_PAGE,
};
use routing::docs as routing_docs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The collection of the rollup's own state (key [`STATE_KEY`]).
pub const STATE_COLLECTION: &str = "funnel_rollup";
/// The key of the rollup state.
pub const STATE_KEY: &str = "state";
/// The collection of restatement records, keyed `<dimension>/<day>/<watermark>/<hash>`.
pub const RESTATEMENTS: &str = "funnel_restatement";

/// Why a stored day changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestatementKind {
    /// A transition recorded since the last run took effect on the day itself.
    Late,
    /// The day's cohorts or stays moved on (later transitions of that day's leads).
    Matured,
    /// The report definitions changed since the day was stored.
    Redefined,
}

/// The record of a stored day that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restatement {
    /// The day restated.
    pub day: NaiveDate,
    /// The grouping.
    pub dimension: Dimension,
    /// Why.
    pub kind: RestatementKind,
    /// The hash stored before.
    pub old_hash: String,
    /// The hash stored now.
    pub new_hash: String,
    /// The watermark stored before.
    pub old_watermark: Timestamp,
    /// The watermark stored now.
    pub new_watermark: Timestamp,
    /// Per stage, how many more (or fewer) lead-cycles entered it that day, in total.
    pub entered_delta: BTreeMap<Stage, i64>,
}

/// What a run did, for the log and the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The watermark the run started from.
    pub from: Option<Timestamp>,
    /// The watermark it moved to.
    pub upto: Option<Timestamp>,
    /// Transitions recorded in `[from, upto)`.
    pub changed: usize,
    /// Days recomputed.
    pub days: usize,
    /// Snapshots written (new or changed).
    pub written: usize,
    /// Of those, restatements recorded.
    pub restated: usize,
    /// Touched days still open at `upto`, left for the run after they close.
    pub pending: usize,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RollupError {
    /// The store failed.
    #[error("failed to read or write the store")]
    Store(#[from] StoreError),
    /// Another run wrote the same documents meanwhile; run again.
    #[error("another run moved {0} meanwhile")]
    Raced(String),
    /// A stored document could not be read.
    #[error("stored document {0} is corrupt")]
    Corrupt(String),
    /// `upto` is before the stored watermark: the run would go backwards.
    #[error("upto is before the stored watermark")]
    Backwards,
}

impl RollupError {
    /// Whether running again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RollupError::Store(e) => e.is_retryable(),
            RollupError::Raced(_) => true,
            RollupError::Corrupt(_) | RollupError::Backwards => false,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RunState {
    watermark: Timestamp,
    /// Days touched while still open, to compute once closed.
    #[serde(default)]
    pending: BTreeSet<NaiveDate>,
    /// The definitions the stored snapshots were made with (0: before this was recorded).
    #[serde(default)]
    definition_version: u32,
}

/// Brings the snapshots up to date with every transition recorded before `upto`.
#[tracing::instrument(name = "funnel rollup", skip_all, fields(upto = %upto), err)]
pub async fn run(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    upto: Timestamp,
) -> Result<RunSummary, RollupError> {
    let (state_version, state) = load_state(docs).await?;
    let redefined = state
        .as_ref()
        .is_some_and(|s| s.definition_version != DEFINITION_VERSION);
    // New definitions: every day is recomputed, as on a first run.
    let from = state.as_ref().filter(|_| !redefined).map(|s| s.watermark);
    if state.as_ref().is_some_and(|s| upto < s.watermark) {
        return Err(RollupError::Backwards);
    }
    let start = match from {
        Some(from) => from,
        None => first_recorded(journey).await?,
    };
    let changed = recorded(journey, start, upto.max(start)).await?;
    let new_clocks = outcomes_recorded(docs, from, upto).await?;
    // Late: learnt since the last run (a run that remakes every day reads older ones too).
    let since = state.as_ref().map(|s| s.watermark);
    let late_days: BTreeSet<NaiveDate> = changed
        .iter()
        .filter(|t| since.is_none_or(|w| t.recorded_at >= w))
        .map(|t| t.effective_at.date_naive())
        .chain(
            new_clocks
                .iter()
                .filter(|c| since.is_none_or(|w| c.recorded_at >= w))
                .map(|c| c.due_at.date_naive()),
        )
        .collect();

    let mut histories = Histories::new(upto);
    let leads: BTreeSet<&LeadId> = changed.iter().map(|t| &t.lead_id).collect();
    let mut touched = state.map(|s| s.pending).unwrap_or_default();
    for lead in leads {
        let history = histories.load(journey, lead).await?;
        touched.extend(history.iter().map(|t| t.effective_at.date_naive()));
    }
    touched.extend(new_clocks.iter().map(|c| c.due_at.date_naive()));
    let open_from = upto.date_naive();
    let pending = touched.split_off(&open_from);

    let mut summary = RunSummary {
        from,
        upto: Some(upto),
        changed: changed.len(),
        days: touched.len(),
        pending: pending.len(),
        ..RunSummary::default()
    };
    for day in touched {
        let why = if late_days.contains(&day) {
            RestatementKind::Late
        } else if redefined {
            RestatementKind::Redefined
        } else {
            RestatementKind::Matured
        };
        let (written, restated) = recompute_day(journey, docs, &mut histories, day, why).await?;
        summary.written += written;
        summary.restated += restated;
    }

    let state = RunState {
        watermark: upto,
        pending,
        definition_version: DEFINITION_VERSION,
    };
    save_state(journey, state_version, &state).await?;
    tracing::info!(
        changed = summary.changed,
        days = summary.days,
        written = summary.written,
        restated = summary.restated,
        pending = summary.pending,
        "funnel rollup done"
    );
    Ok(summary)
}

/// Where a first run starts reading: the first day a transition was recorded (the epoch on a
/// store without any, which then reads nothing).
async fn first_recorded(journey: &dyn JourneyStore) -> Result<Timestamp, StoreError> {
    Ok(journey
        .extent()
        .await?
        .map_or(chrono::DateTime::UNIX_EPOCH, |e| {
            Extent::midnight(e.first_recorded)
        }))
}

/// Recomputes one day's snapshots and stores those that changed. Returns (written, restated).
async fn recompute_day(
    journey: &dyn JourneyStore,
    docs: &dyn DocumentStore,
    histories: &mut Histories,
    day: NaiveDate,
    why: RestatementKind,
) -> Result<(usize, usize), RollupError> {
    let period = snapshot::day_period(day);
    let mut subset = BTreeMap::new();
    for t in effective(journey, period.from, period.to).await? {
        if t.recorded_at < histories.upto && !subset.contains_key(t.lead_id.as_str()) {
            let history = histories.load(journey, &t.lead_id).await?.to_vec();
            subset.insert(t.lead_id.as_str().to_owned(), history);
        }
    }

    let clocks = outcomes_due(docs, day, histories.upto).await?;

    let mut commit = Commit::default();
    let mut written = 0;
    let mut restated = 0;
    for dimension in Dimension::ALL {
        let Some(fresh) = snapshot::compute(&subset, &clocks, day, dimension) else {
            continue;
        };
        let stored = docs.get(snapshot::COLLECTION, &fresh.key()).await?;
        let Some(writes) = writes_for(fresh, stored, why)? else {
            continue;
        };
        written += 1;
        restated += writes.len() - 1;
        commit.documents.extend(writes);
    }

    if !commit.documents.is_empty() {
        match journey.commit(commit).await? {
            CommitOutcome::Committed => {}
            _ => return Err(RollupError::Raced(format!("snapshots of {day}"))),
        }
    }
    Ok((written, restated))
}

/// The writes that store `fresh` over `stored`: none if nothing changed, the snapshot alone if
/// it is new, the snapshot and a restatement record if it replaces a different one.
fn writes_for(
    fresh: Snapshot,
    stored: Option<Document>,
    why: RestatementKind,
) -> Result<Option<Vec<DocumentWrite>>, RollupError> {
    let new_hash = fresh.hash();
    let mut body = fresh.to_value();
    body["hash"] = new_hash.clone().into();
    let key = fresh.key();
    let Some(stored) = stored else {
        return Ok(Some(vec![put(snapshot::COLLECTION, &key, body, None)]));
    };

    let old: Snapshot = serde_json::from_value(stored.body.clone())
        .map_err(|_| RollupError::Corrupt(format!("{}/{key}", snapshot::COLLECTION)))?;
    let old_hash = old.hash();
    if old_hash == new_hash {
        return Ok(None);
    }
    let restatement = Restatement {
        day: fresh.day,
        dimension: fresh.dimension,
        kind: why,
        entered_delta: entered_delta(&old, &fresh),
        old_hash,
        new_hash: new_hash.clone(),
        old_watermark: old.watermark,
        new_watermark: fresh.watermark,
    };
    let record_key = format!(
        "{key}/{}/{}",
        fresh
            .watermark
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        &new_hash[..16]
    );
    let record = serde_json::to_value(&restatement).expect("a restatement always serialises");
    Ok(Some(vec![
        put(snapshot::COLLECTION, &key, body, Some(stored.version)),
        put(RESTATEMENTS, &record_key, record, None),
    ]))
}

fn entered_delta(old: &Snapshot, new: &Snapshot) -> BTreeMap<Stage, i64> {
    let (a, b) = (&old.report.total.entered, &new.report.total.entered);
    a.keys()
        .chain(b.keys())
        .map(|stage| {
            let count = |m: &BTreeMap<Stage, u64>| m.get(stage).copied().unwrap_or(0) as i64;
            (*stage, count(b) - count(a))
        })
        .filter(|(_, delta)| *delta != 0)
        .collect()
}

/// A conditional put: on `version` if given, else only where nothing is stored.
fn put(
    collection: &str,
    key: &str,
    body: serde_json::Value,
    version: Option<u64>,
) -> DocumentWrite {
    DocumentWrite::Put {
        doc: Document {
            collection: collection.to_owned(),
            key: key.to_owned(),
            version: version.map_or(1, |v| v + 1),
            index: None,
            body,
            expires_at: None,
        },
        expect: version.map_or(Expect::Absent, Expect::Version),
    }
}

/// Lead histories loaded so far, cut at `upto` (a transition recorded later is the next run's).
struct Histories {
    upto: Timestamp,
    loaded: BTreeMap<String, Vec<Transition>>,
}

impl Histories {
    fn new(upto: Timestamp) -> Self {
        Self {
            upto,
            loaded: BTreeMap::new(),
        }
    }

    async fn load(
        &mut self,
        journey: &dyn JourneyStore,
        lead: &LeadId,
    ) -> Result<&[Transition], StoreError> {
        if !self.loaded.contains_key(lead.as_str()) {
            let mut history = journey.transitions(lead).await?;
            history.retain(|t| t.recorded_at < self.upto);
            self.loaded.insert(lead.as_str().to_owned(), history);
        }
        Ok(&self.loaded[lead.as_str()])
    }
}

/// The clock outcomes due on `day` and stored before `upto` (one listing by key prefix).
async fn outcomes_due(
    docs: &dyn DocumentStore,
    day: NaiveDate,
    upto: Timestamp,
) -> Result<Vec<ClockOutcome>, RollupError> {
    let mut found = outcomes(
        docs,
        routing_docs::SLA_OUTCOME,
        &routing_docs::day_prefix(day),
    )
    .await?;
    found.retain(|c| c.recorded_at < upto);
    Ok(found)
}

/// The clock outcomes stored in `[from, upto)`: one listing per day stored, or the whole
/// collection on the first run (which reads every transition too).
async fn outcomes_recorded(
    docs: &dyn DocumentStore,
    from: Option<Timestamp>,
    upto: Timestamp,
) -> Result<Vec<ClockOutcome>, RollupError> {
    let collection = routing_docs::SLA_OUTCOME_RECORDED;
    let Some(from) = from else {
        let mut all = outcomes(docs, collection, "").await?;
        all.retain(|c| c.recorded_at < upto);
        return Ok(all);
    };
    let mut found = Vec::new();
    let mut day = from.date_naive();
    while day <= upto.date_naive() {
        found.extend(outcomes(docs, collection, &routing_docs::day_prefix(day)).await?);
        day = day.succ_opt().ok_or(RollupError::Backwards)?;
    }
    found.retain(|c| c.recorded_at >= from && c.recorded_at < upto);
    Ok(found)
}

async fn outcomes(
    docs: &dyn DocumentStore,
    collection: &str,
    prefix: &str,
) -> Result<Vec<ClockOutcome>, RollupError> {
    routing_docs::outcomes(docs, collection, prefix)
        .await
        .map_err(|e| match e {
            routing::RoutingError::Store(e) => RollupError::Store(e),
            _ => RollupError::Corrupt(format!("{collection}/{prefix}")),
        })
}

/// Every transition recorded in `[from, to)`.
async fn recorded(
    journey: &dyn JourneyStore,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Transition>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = journey
            .transitions_recorded(from, to, cursor, MAX_PAGE)
            .await?;
        out.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Every transition effective in `[from, to)`.
async fn effective(
    journey: &dyn JourneyStore,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Transition>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = journey
            .transitions_effective(from, to, cursor, MAX_PAGE)
            .await?;
        out.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

async fn load_state(
    docs: &dyn DocumentStore,
) -> Result<(Option<u64>, Option<RunState>), RollupError> {
    let Some(doc) = docs.get(STATE_COLLECTION, STATE_KEY).await? else {
        return Ok((None, None));
    };
    let state: RunState = serde_json::from_value(doc.body)
        .map_err(|_| RollupError::Corrupt(format!("{STATE_COLLECTION}/{STATE_KEY}")))?;
    Ok((Some(doc.version), Some(state)))
}

/// The rollup's watermark: every closed day before it is stored as a snapshot made with the
/// current definitions (`None` before the first run, or when the stored snapshots were made
/// with other definitions and the next run will remake them).
pub async fn watermark(docs: &dyn DocumentStore) -> Result<Option<Timestamp>, RollupError> {
    let (_, state) = load_state(docs).await?;
    Ok(state
        .filter(|s| s.definition_version == DEFINITION_VERSION)
        .map(|s| s.watermark))
}

async fn save_state(
    journey: &dyn JourneyStore,
    version: Option<u64>,
    state: &RunState,
) -> Result<(), RollupError> {
    let body = serde_json::to_value(state).expect("state serialises");
    let commit = Commit {
        documents: vec![put(STATE_COLLECTION, STATE_KEY, body, version)],
        ..Commit::default()
    };
    match journey.commit(commit).await? {
        CommitOutcome::Committed => Ok(()),
        _ => Err(RollupError::Raced(format!(
            "{STATE_COLLECTION}/{STATE_KEY}"
        ))),
    }
}
