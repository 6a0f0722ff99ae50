//! Importing a CRM's CSV export of leads.
//!
//! A mapping file ([`mapping`]) says which column holds what. Every row becomes one lead with its
//! stage history, written through the same [`JourneyStore::commit`] the functions use, so an
//! imported lead is indistinguishable from one that came through the webhooks. Rows that cannot
//! be read are reported with their line number and the reason; the rest are imported. Importing
//! the same batch twice changes nothing: each lead's commit claims `import:<batch>:<lead id>`.
//!
//! Stage dates must not go backwards, within a row and against what the lead already has (in
//! update mode, the "became X at" times of leads imported before): such a row is refused, or,
//! with `dates_out_of_order = "clamp"`, imported with the date moved into order and listed as
//! adjusted ([`order`]).
//!
//! Each lead's transitions are stamped `recorded_at` with the clock's time when its commit is
//! made, not when the import started: an import that runs longer than the rollup's settling
//! time must not write transitions below a watermark the rollup has already passed.

pub mod mapping;
pub mod order;
pub mod rows;

use lifecycle::{
    funnel::counter_deltas,
    journey::{StageEvent, StageOutcome},
    transition::Actor,
    CauseId, Lead, LeadId, Reason, RepId, Stage, Timestamp, Transition,
};
use mapping::{Mapping, Mode, OutOfOrder};
use order::Adjusted;
use ports::{
    commit::Identity, Clock, Commit, CommitOutcome, Expect, JourneyStore, LeadWrite, StoreError,
};
use rows::{Problem, Row, RowError, StageDate};
use std::io::Read;

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Rows read from the file (readable or not).
    pub rows: u64,
    /// Leads created.
    pub created: u64,
    /// Leads updated.
    pub updated: u64,
    /// Rows this batch had imported before (nothing changed).
    pub unchanged: u64,
    /// Rows not imported, with their line numbers.
    pub errors: Vec<RowError>,
    /// Rows imported with a stage date moved into order (`dates_out_of_order = "clamp"`).
    pub adjusted: Vec<Adjusted>,
}

/// The import as a whole failed (the file or the store, not a row).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file's header or the mapping is unusable.
    #[error(transparent)]
    Parse(#[from] rows::ParseError),
    /// The store failed; rows before the failure are imported, and importing again resumes.
    #[error("the store failed")]
    Store(#[from] StoreError),
}

/// Reads `input` with `mapping` and writes every readable row to `store`, stamping each lead's
/// commit with `clock`'s time.
pub async fn import(
    store: &dyn JourneyStore,
    input: impl Read,
    mapping: &Mapping,
    clock: &dyn Clock,
) -> Result<Summary, ImportError> {
    let parsed = rows::parse(input, mapping)?;
    let mut summary = Summary {
        rows: (parsed.rows.len() + parsed.errors.len()) as u64,
        errors: parsed.errors,
        ..Summary::default()
    };

    for row in &parsed.rows {
        if let Some(problem) = future_date(row, mapping, clock.now()) {
            summary.errors.push(RowError {
                line: row.line,
                last_line: row.last_line,
                lead_id: Some(row.lead_id.clone()),
                problem,
            });
            continue;
        }
        let result = match mapping.mode {
            Mode::Create => create(store, row, mapping, clock).await?,
            Mode::Update => update(store, row, mapping, clock).await?,
        };
        match result {
            Ok((written, adjusted)) => {
                match written {
                    Written::Created => summary.created += 1,
                    Written::Updated => summary.updated += 1,
                    Written::Unchanged => summary.unchanged += 1,
                }
                if !matches!(written, Written::Unchanged) {
                    summary.adjusted.extend(adjusted);
                }
            }
            Err(problem) => summary.errors.push(RowError {
                line: row.line,
                last_line: row.last_line,
                lead_id: Some(row.lead_id.clone()),
                problem,
            }),
        }
    }
    summary.errors.sort_by_key(|e| e.line);
    Ok(summary)
}

/// How far ahead of the importer's clock a date may be: a date without a zone is read as UTC,
/// and a CRM east of UTC exports its evening as tomorrow.
const FUTURE_SLACK_HOURS: i64 = 24;

/// The first of the row's dates that has not happened yet: a lead cannot have entered a stage
/// in the future, and one such date would stretch every report's default period to it.
fn future_date(row: &Row, mapping: &Mapping, now: Timestamp) -> Option<Problem> {
    let limit = now + chrono::Duration::hours(FUTURE_SLACK_HOURS);
    let created = row.created_at.map(|at| {
        let column = mapping.columns.created_at.clone().unwrap_or_default();
        (column, at)
    });
    let stages = row.stages.iter().map(|d| (d.column.clone(), d.at));
    created
        .into_iter()
        .chain(stages)
        .find(|(_, at)| *at > limit)
        .map(|(column, at)| Problem::FutureDate { column, at })
}

/// A row written (or found written before), with the dates moved into order.
type Outcome = Result<(Written, Vec<Adjusted>), Problem>;

enum Written {
    Created,
    Updated,
    Unchanged,
}

async fn create(
    store: &dyn JourneyStore,
    row: &Row,
    mapping: &Mapping,
    clock: &dyn Clock,
) -> Result<Outcome, StoreError> {
    let Some(created_at) = row.created_at.or_else(|| row.stages.first().map(|d| d.at)) else {
        return Ok(Err(Problem::MissingDate("created_at".to_owned())));
    };
    let now = clock.now();
    let mut lead = new_lead(row, created_at, now);
    let mut events = vec![StageDate {
        stage: Stage::New,
        at: created_at,
        column: mapping.columns.created_at.clone().unwrap_or_default(),
    }];
    events.extend(row.stages.iter().cloned());

    let (transitions, adjusted) = match advance(&mut lead, &events, row, mapping, now) {
        Ok(t) => t,
        Err(problem) => return Ok(Err(problem)),
    };
    lead.version = 1;
    let identities = lead
        .email
        .clone()
        .map(Identity::Email)
        .into_iter()
        .collect();
    let commit = commit(mapping, row, lead, Expect::Absent, identities, transitions);

    match store.commit(commit).await? {
        CommitOutcome::Committed => Ok(Ok((Written::Created, adjusted))),
        CommitOutcome::Duplicate { .. } => Ok(Ok((Written::Unchanged, adjusted))),
        CommitOutcome::Conflict { .. } => Ok(Err(conflict_reason(store, &row.lead_id).await?)),
    }
}

async fn conflict_reason(store: &dyn JourneyStore, id: &str) -> Result<Problem, StoreError> {
    Ok(match store.lead(&LeadId::new(id)).await? {
        Some(_) => Problem::Rejected("a lead with this id already exists".to_owned()),
        None => Problem::EmailTaken,
    })
}

/// Adds a row's stages to a lead imported before; retried from a fresh read if the lead moved
/// under us.
async fn update(
    store: &dyn JourneyStore,
    row: &Row,
    mapping: &Mapping,
    clock: &dyn Clock,
) -> Result<Outcome, StoreError> {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let Some(mut lead) = store.lead(&LeadId::new(&row.lead_id)).await? else {
            return Ok(Err(Problem::UnknownLead));
        };
        let now = clock.now();
        let expected = lead.version;
        if let Some(owner) = row.field("owner") {
            lead.owner = Some(RepId::new(owner));
        }
        let (transitions, adjusted) = match advance(&mut lead, &row.stages, row, mapping, now) {
            Ok(t) => t,
            Err(problem) => return Ok(Err(problem)),
        };
        lead.version = expected + 1;
        lead.updated_at = now;

        match store
            .commit(commit(
                mapping,
                row,
                lead,
                Expect::Version(expected),
                Vec::new(),
                transitions,
            ))
            .await?
        {
            CommitOutcome::Committed => return Ok(Ok((Written::Updated, adjusted))),
            CommitOutcome::Duplicate { .. } => return Ok(Ok((Written::Unchanged, adjusted))),
            CommitOutcome::Conflict { .. } => continue,
        }
    }
    Ok(Err(Problem::Rejected(
        "the lead kept changing during the import".to_owned(),
    )))
}

fn new_lead(row: &Row, created_at: Timestamp, now: Timestamp) -> Lead {
    let mut lead = Lead::new(LeadId::new(&row.lead_id), created_at);
    lead.updated_at = now;
    lead.email = row.email.clone();
    lead.owner = row.field("owner").map(RepId::new);
    lead.attribution.source = row.field("source");
    lead.attribution.campaign = row.field("campaign");
    lead.attribution.medium = row.field("medium");
    lead.attribution.form = row.field("form");
    lead.profile.company = row.field("company");
    lead.profile.title = row.field("title");
    lead.profile.country = row.field("country");
    lead
}

/// Applies the row's stage events to the lead's journey and returns the new transitions, with
/// the dates that were moved into order. Each date is checked against the lead's "became X
/// at" times first ([`order::check`]).
fn advance(
    lead: &mut Lead,
    events: &[StageDate],
    row: &Row,
    mapping: &Mapping,
    now: Timestamp,
) -> Result<(Vec<Transition>, Vec<Adjusted>), Problem> {
    let mut out = Vec::new();
    let mut adjusted = Vec::new();
    for date in events {
        let (stage, at) = (
            &date.stage,
            match order::check(&lead.journey, date.stage, date.at) {
                Ok(()) => date.at,
                Err(conflict) if mapping.dates_out_of_order == OutOfOrder::Clamp => {
                    let into = conflict
                        .clamp(date.at)
                        .ok_or_else(|| conflict.problem(date))?;
                    adjusted.push(Adjusted::new(row, date, &conflict, into));
                    into
                }
                Err(conflict) => return Err(conflict.problem(date)),
            },
        );
        let event = StageEvent {
            to: *stage,
            cause: CauseId::new(format!(
                "import:{}:{}:{}",
                mapping.batch, row.lead_id, stage
            )),
            actor: Actor::Import {
                batch: mapping.batch.clone(),
            },
            reason: stage.closes_cycle().then(|| {
                Reason::code(
                    row.field("reason")
                        .unwrap_or_else(|| "imported_without_reason".to_owned()),
                )
            }),
            effective_at: at,
            recorded_at: now,
            dims: lead.dimensions(),
        };
        match lead.journey.apply(&lead.id, &event) {
            Ok(StageOutcome::Applied(t)) => out.push(t),
            Ok(_) => {}
            Err(e) => return Err(Problem::Rejected(e.to_string())),
        }
    }
    Ok((out, adjusted))
}

fn commit(
    mapping: &Mapping,
    row: &Row,
    lead: Lead,
    expect: Expect,
    new_identities: Vec<Identity>,
    transitions: Vec<Transition>,
) -> Commit {
    let mut commit = Commit::claiming(format!("import:{}:{}", mapping.batch, row.lead_id), None);
    commit.counters = transitions.iter().flat_map(counter_deltas).collect();
    commit.transitions = transitions;
    commit.lead = Some(LeadWrite {
        lead,
        expect,
        new_identities,
    });
    commit
}
