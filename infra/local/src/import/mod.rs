//! Importing a CRM's CSV export of leads.
//!
//! A mapping file ([`mapping`]) says which column holds what. Every row becomes one lead with its
//! stage history, written through the same [`JourneyStore::commit`] the functions use, so an
//! imported lead is indistinguishable from one that came through the webhooks. Rows that cannot
//! be read are reported with their line number and the reason; the rest are imported. Importing
//! the same batch twice changes nothing: each lead's commit claims `import:<batch>:<lead id>`.

pub mod mapping;
pub mod rows;

use lifecycle::{
    funnel::counter_deltas,
    journey::{StageEvent, StageOutcome},
    transition::Actor,
    CauseId, Lead, LeadId, Reason, RepId, Stage, Timestamp, Transition,
};
use mapping::{Mapping, Mode};
use ports::{commit::Identity, Commit, CommitOutcome, Expect, JourneyStore, LeadWrite, StoreError};
use rows::{Problem, Row, RowError};
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

/// Reads `input` with `mapping` and writes every readable row to `store`.
pub async fn import(
    store: &dyn JourneyStore,
    input: impl Read,
    mapping: &Mapping,
    now: Timestamp,
) -> Result<Summary, ImportError> {
    let parsed = rows::parse(input, mapping)?;
    let mut summary = Summary {
        rows: (parsed.rows.len() + parsed.errors.len()) as u64,
        errors: parsed.errors,
        ..Summary::default()
    };

    for row in &parsed.rows {
        let result = match mapping.mode {
            Mode::Create => create(store, row, mapping, now).await?,
            Mode::Update => update(store, row, mapping, now).await?,
        };
        match result {
            Ok(Written::Created) => summary.created += 1,
            Ok(Written::Updated) => summary.updated += 1,
            Ok(Written::Unchanged) => summary.unchanged += 1,
            Err(problem) => summary.errors.push(RowError {
                line: row.line,
                lead_id: Some(row.lead_id.clone()),
                problem,
            }),
        }
    }
    summary.errors.sort_by_key(|e| e.line);
    Ok(summary)
}

enum Written {
    Created,
    Updated,
    Unchanged,
}

async fn create(
    store: &dyn JourneyStore,
    row: &Row,
    mapping: &Mapping,
    now: Timestamp,
) -> Result<Result<Written, Problem>, StoreError> {
    let Some(created_at) = row
        .created_at
        .or_else(|| row.stages.first().map(|(_, at)| *at))
    else {
        return Ok(Err(Problem::MissingDate("created_at".to_owned())));
    };
    let mut lead = new_lead(row, created_at, now);
    let mut events = vec![(Stage::New, created_at)];
    events.extend(row.stages.iter().copied());

    let transitions = match advance(&mut lead, &events, row, mapping, now) {
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
        CommitOutcome::Committed => Ok(Ok(Written::Created)),
        CommitOutcome::Duplicate { .. } => Ok(Ok(Written::Unchanged)),
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
    now: Timestamp,
) -> Result<Result<Written, Problem>, StoreError> {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let Some(mut lead) = store.lead(&LeadId::new(&row.lead_id)).await? else {
            return Ok(Err(Problem::UnknownLead));
        };
        let expected = lead.version;
        if let Some(owner) = row.field("owner") {
            lead.owner = Some(RepId::new(owner));
        }
        let transitions = match advance(&mut lead, &row.stages, row, mapping, now) {
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
            CommitOutcome::Committed => return Ok(Ok(Written::Updated)),
            CommitOutcome::Duplicate { .. } => return Ok(Ok(Written::Unchanged)),
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

/// Applies the row's stage events to the lead's journey and returns the new transitions.
fn advance(
    lead: &mut Lead,
    events: &[(Stage, Timestamp)],
    row: &Row,
    mapping: &Mapping,
    now: Timestamp,
) -> Result<Vec<Transition>, Problem> {
    let mut out = Vec::new();
    for (stage, at) in events {
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
            effective_at: *at,
            recorded_at: now,
            dims: lead.dimensions(),
        };
        match lead.journey.apply(&lead.id, &event) {
            Ok(StageOutcome::Applied(t)) => out.push(t),
            Ok(_) => {}
            Err(e) => return Err(Problem::Rejected(e.to_string())),
        }
    }
    Ok(out)
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
