//! Applying a [`Commit`]: one `BEGIN IMMEDIATE` transaction that checks every condition and
//! writes everything, outbox messages included, or rolls back and writes nothing.
//!
//! Releasing an identity deletes its row from `identities` (the lead's own `email` column is
//! cleared by the lead write that goes with it), and rewriting an activity updates its body in
//! place: SQLite keeps no older copy a reader could reach, though freed pages keep the old bytes
//! until they are reused or the file is vacuumed (`sqlite3 journey.db vacuum`).
//!
//! The order matters: claims are checked first, so a redelivered event answers `Duplicate`
//! (with the first commit's outbox) even when the lead has moved on since.

use crate::{
    codec::{from_json, time, to_json},
    documents, queue, Error,
};
use lifecycle::{funnel::CounterDelta, Activity, Timestamp, Transition};
use ports::{
    commit::Identity, Claim, Commit, CommitOutcome, Expect, IdentityRelease, LeadWrite, Message,
    StoreError,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// Why a commit stopped before the end.
pub(crate) enum Stop {
    /// A claim or a condition refused it: roll back and answer this outcome.
    Refused(CommitOutcome),
    /// Something failed: roll back and answer the error.
    Failed(Error),
}

impl From<rusqlite::Error> for Stop {
    fn from(e: rusqlite::Error) -> Self {
        Stop::Failed(Error::Sql(e))
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Failed(Error::Store(e))
    }
}

/// A refusal for a failed condition; `what` names ids only.
pub(crate) fn conflict(what: String) -> Stop {
    Stop::Refused(CommitOutcome::Conflict { what })
}

/// Whether the stored version (`None`: nothing stored) satisfies `expect`.
pub(crate) fn holds(expect: Expect, stored: Option<u64>) -> bool {
    match expect {
        Expect::Absent => stored.is_none(),
        Expect::Version(v) => stored == Some(v),
        Expect::Any => true,
    }
}

/// The version a write under `expect` must carry, when the contract fixes it.
pub(crate) fn next_version(expect: Expect) -> Option<u64> {
    match expect {
        Expect::Absent => Some(1),
        Expect::Version(v) => Some(v + 1),
        Expect::Any => None,
    }
}

/// Refuses commits that break the port's contract, before touching the database.
pub(crate) fn validate(commit: &Commit) -> Result<(), StoreError> {
    if let Some(w) = &commit.lead {
        if next_version(w.expect).is_some_and(|v| v != w.lead.version) {
            return Err(StoreError::Invalid(format!(
                "lead {} has version {}, expected {:?} + 1",
                w.lead.id, w.lead.version, w.expect
            )));
        }
    }
    commit.check_releases_and_rewrites()?;
    documents::validate(&commit.documents)?;
    queue::validate(&commit.outbox).map_err(StoreError::Invalid)
}

/// Applies a validated commit at `now`.
pub(crate) fn apply(
    conn: &mut Connection,
    commit: &Commit,
    now: Timestamp,
) -> Result<CommitOutcome, Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    match write_all(&tx, commit, now) {
        Ok(()) => {
            tx.commit()?;
            Ok(CommitOutcome::Committed)
        }
        // Dropping the transaction rolls it back.
        Err(Stop::Refused(outcome)) => Ok(outcome),
        Err(Stop::Failed(e)) => Err(e),
    }
}

fn write_all(tx: &Connection, commit: &Commit, now: Timestamp) -> Result<(), Stop> {
    claim(tx, &commit.claims, &commit.outbox, now)?;

    if let Some(write) = &commit.lead {
        write_lead(tx, write)?;
        write_identities(tx, write)?;
    }

    release_identities(tx, &commit.released_identities)?;
    append_transitions(tx, &commit.transitions)?;
    insert_activities(tx, &commit.activities)?;
    rewrite_activities(tx, &commit.rewritten_activities)?;
    add_counters(tx, &commit.counters)?;
    documents::write(tx, &commit.documents, now)?;
    queue::enqueue(tx, &commit.outbox, now)?;
    Ok(())
}

/// The outbox of a claim that is held: taken, and not expired by `?2`.
pub(crate) const HELD_CLAIM: &str =
    "SELECT outbox FROM claims WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)";

/// Takes every claim, or answers `Duplicate` for the first one already held.
fn claim(
    tx: &Connection,
    claims: &[Claim],
    outbox: &[Message],
    now: Timestamp,
) -> Result<(), Stop> {
    let now = time(now);
    for claim in claims {
        let held: Option<String> = tx
            .prepare_cached(HELD_CLAIM)?
            .query_row(params![claim.key, now], |row| row.get(0))
            .optional()?;
        if let Some(stored) = held {
            let outbox = from_json(&claim.key, &stored)?;
            return Err(Stop::Refused(CommitOutcome::Duplicate {
                key: claim.key.clone(),
                outbox,
            }));
        }
    }

    let outbox = to_json(&outbox)?;
    for claim in claims {
        // REPLACE: an expired claim may still be in the table until it is purged.
        tx.prepare_cached(
            "INSERT OR REPLACE INTO claims (key, claimed_at, expires_at, outbox) \
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![claim.key, now, claim.expires_at.map(time), outbox])?;
    }
    Ok(())
}

fn write_lead(tx: &Connection, write: &LeadWrite) -> Result<(), Stop> {
    let lead = &write.lead;
    let stored: Option<u64> = tx
        .prepare_cached("SELECT version FROM leads WHERE id = ?1")?
        .query_row([lead.id.as_str()], |row| row.get(0))
        .optional()?;
    if !holds(write.expect, stored) {
        return Err(conflict(format!("lead {} version", lead.id)));
    }

    let email = lead.email.as_ref().map(|e| e.as_str());
    if let Some(email) = email {
        let owner: Option<String> = tx
            .prepare_cached("SELECT id FROM leads WHERE email = ?1 AND id <> ?2")?
            .query_row([email, lead.id.as_str()], |row| row.get(0))
            .optional()?;
        if let Some(owner) = owner {
            return Err(conflict(format!(
                "e-mail of lead {} belongs to lead {owner}",
                lead.id
            )));
        }
    }

    tx.prepare_cached(
        "INSERT INTO leads (id, email, phone, version, created_at, body, open_owner, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (id) DO UPDATE SET email = excluded.email, phone = excluded.phone, \
           version = excluded.version, created_at = excluded.created_at, body = excluded.body, \
           open_owner = excluded.open_owner, updated_at = excluded.updated_at",
    )?
    .execute(params![
        lead.id.as_str(),
        email,
        lead.phone.as_ref().map(|p| p.as_str()),
        lead.version,
        time(lead.created_at),
        to_json(lead)?,
        ports::open_owner(lead).map(|r| r.as_str()),
        time(lead.updated_at),
    ])?;
    Ok(())
}

/// Points each new identity at the lead; one that points at another lead refuses the commit.
fn write_identities(tx: &Connection, write: &LeadWrite) -> Result<(), Stop> {
    let lead_id = write.lead.id.as_str();
    for identity in &write.new_identities {
        let (kind, value) = identity_columns(identity);
        let inserted = tx
            .prepare_cached(
                "INSERT INTO identities (kind, value, lead_id) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute([kind, value, lead_id])?;
        if inserted == 0 {
            let owner: String = tx
                .prepare_cached("SELECT lead_id FROM identities WHERE kind = ?1 AND value = ?2")?
                .query_row([kind, value], |row| row.get(0))?;
            if owner != lead_id {
                return Err(conflict(format!(
                    "{kind} of lead {lead_id} belongs to lead {owner}"
                )));
            }
        }
    }
    Ok(())
}

fn identity_columns(identity: &Identity) -> (&'static str, &str) {
    match identity {
        Identity::Email(e) => ("email", e.as_str()),
        Identity::Phone(p) => ("phone", p.as_str()),
    }
}

/// Deletes each released identity that points at its lead; one that points at another lead
/// refuses the commit, one that points nowhere is already released.
fn release_identities(tx: &Connection, releases: &[IdentityRelease]) -> Result<(), Stop> {
    for release in releases {
        let (kind, value) = identity_columns(&release.identity);
        let owner: Option<String> = tx
            .prepare_cached("SELECT lead_id FROM identities WHERE kind = ?1 AND value = ?2")?
            .query_row([kind, value], |row| row.get(0))
            .optional()?;
        match owner {
            None => {}
            Some(owner) if owner == release.lead_id.as_str() => {
                tx.prepare_cached("DELETE FROM identities WHERE kind = ?1 AND value = ?2")?
                    .execute([kind, value])?;
            }
            Some(owner) => {
                return Err(conflict(format!(
                    "{kind} released for lead {} belongs to lead {owner}",
                    release.lead_id
                )))
            }
        }
    }
    Ok(())
}

/// Appends transitions; a `(lead_id, seq)` that exists refuses the commit.
fn append_transitions(tx: &Connection, transitions: &[Transition]) -> Result<(), Stop> {
    for t in transitions {
        let inserted = tx
            .prepare_cached(
                "INSERT INTO transitions (lead_id, seq, recorded_at, effective_at, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                t.lead_id.as_str(),
                t.seq,
                time(t.recorded_at),
                time(t.effective_at),
                to_json(t)?
            ])?;
        if inserted == 0 {
            return Err(conflict(format!(
                "transition {}/{} exists",
                t.lead_id, t.seq
            )));
        }
    }
    Ok(())
}

/// Inserts activities. An activity id is the event's own id, so one that exists is the same
/// activity again and is kept as first stored.
fn insert_activities(tx: &Connection, activities: &[Activity]) -> Result<(), Stop> {
    for a in activities {
        tx.prepare_cached(
            "INSERT INTO activities (id, lead_id, occurred_at, body) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            a.id,
            a.lead_id.as_str(),
            time(a.occurred_at),
            to_json(a)?
        ])?;
    }
    Ok(())
}

/// Replaces stored activities; one that is not stored (same id, lead and time) refuses the
/// commit.
fn rewrite_activities(tx: &Connection, activities: &[Activity]) -> Result<(), Stop> {
    for a in activities {
        let updated = tx
            .prepare_cached(
                "UPDATE activities SET body = ?4 \
                 WHERE id = ?1 AND lead_id = ?2 AND occurred_at = ?3",
            )?
            .execute(params![
                a.id,
                a.lead_id.as_str(),
                time(a.occurred_at),
                to_json(a)?
            ])?;
        if updated == 0 {
            return Err(conflict(format!(
                "activity {} of lead {} to rewrite is not stored",
                a.id, a.lead_id
            )));
        }
    }
    Ok(())
}

fn add_counters(tx: &Connection, deltas: &[CounterDelta]) -> Result<(), Stop> {
    for d in deltas {
        tx.prepare_cached(
            "INSERT INTO counters (day, stage, dimension, grp, value) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (day, stage, dimension, grp) DO UPDATE SET value = value + excluded.value",
        )?
        .execute(params![
            d.key.day.to_string(),
            d.key.stage.as_str(),
            d.key.dimension.as_str(),
            d.key.group,
            d.delta
        ])?;
    }
    Ok(())
}
