//! The schema and its migrations.
//!
//! The schema version lives in SQLite's `user_version` pragma. Opening a store applies, in one
//! transaction each, every migration above the stored version, so a file written by an older
//! build is brought up to date and a new file is created from scratch by the same path.
//!
//! Bodies are plain JSON text and times are RFC 3339 text with nanoseconds (fixed width, so
//! they sort as text), so that `sqlite3 journey.db 'select body from leads'` shows what is
//! stored without any tool of ours. Columns beside a body exist only to be indexed or checked.

use rusqlite::Connection;

/// The migrations, in order; migration `i` takes the schema from version `i` to `i + 1`.
/// Never edit a migration that has shipped: append a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE leads (
    id          TEXT PRIMARY KEY,
    email       TEXT UNIQUE,
    phone       TEXT,
    version     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX leads_newest ON leads (created_at DESC, id DESC);

-- An e-mail or phone pointing at the lead it identifies.
CREATE TABLE identities (
    kind        TEXT NOT NULL CHECK (kind IN ('email', 'phone')),
    value       TEXT NOT NULL,
    lead_id     TEXT NOT NULL,
    PRIMARY KEY (kind, value)
);

-- Append-only: a (lead_id, seq) is written once.
CREATE TABLE transitions (
    lead_id     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (lead_id, seq)
);
CREATE INDEX transitions_recorded ON transitions (recorded_at, lead_id, seq);

CREATE TABLE activities (
    id          TEXT PRIMARY KEY,
    lead_id     TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX activities_by_lead ON activities (lead_id, occurred_at, id);

CREATE TABLE counters (
    day         TEXT NOT NULL,
    stage       TEXT NOT NULL,
    dimension   TEXT NOT NULL,
    grp         TEXT NOT NULL,
    value       INTEGER NOT NULL,
    PRIMARY KEY (day, stage, dimension, grp)
);

CREATE TABLE documents (
    collection  TEXT NOT NULL,
    key         TEXT NOT NULL,
    version     INTEGER NOT NULL,
    idx         TEXT,
    expires_at  TEXT,
    body        TEXT NOT NULL,
    PRIMARY KEY (collection, key)
);
CREATE INDEX documents_due ON documents (collection, idx) WHERE idx IS NOT NULL;

-- Idempotency claims, with the messages the claiming commit sent.
CREATE TABLE claims (
    key         TEXT PRIMARY KEY,
    claimed_at  TEXT NOT NULL,
    expires_at  TEXT,
    outbox      TEXT NOT NULL
);

-- Pending messages. `seq` keeps sending order among messages visible at the same time;
-- AUTOINCREMENT keeps a deleted message's seq (and so its receipts) from being reused.
CREATE TABLE queue (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    topic         TEXT NOT NULL,
    id            TEXT NOT NULL,
    body          TEXT NOT NULL,
    sent_at       TEXT NOT NULL,
    visible_at    TEXT NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT UNIQUE,
    UNIQUE (topic, id)
);
CREATE INDEX queue_visible ON queue (topic, visible_at, seq);

CREATE TABLE dead_letters (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    topic         TEXT NOT NULL,
    id            TEXT NOT NULL,
    body          TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    failed_at     TEXT NOT NULL
);
CREATE INDEX dead_letters_by_topic ON dead_letters (topic, seq);
"#,
    // The rollup reads a day's transitions by when they took effect. Rows written before this
    // migration get the column from their body in `backfill` below.
    r#"
ALTER TABLE transitions ADD COLUMN effective_at TEXT;
CREATE INDEX transitions_effective ON transitions (effective_at, lead_id, seq);
"#,
    // A rep's open leads (`ports::open_owner`), least recently updated first. Rows written
    // before this migration get the columns from their body in `backfill_open_owner`.
    r#"
ALTER TABLE leads ADD COLUMN open_owner TEXT;
ALTER TABLE leads ADD COLUMN updated_at TEXT;
CREATE INDEX leads_open_by_owner ON leads (open_owner, updated_at, id) WHERE open_owner IS NOT NULL;
"#,
];

/// The schema version this build writes.
pub(crate) const VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the schema up to [`VERSION`]. A file from a newer build is refused rather than
/// guessed at.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), u32>> {
    let current: u32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current > VERSION {
        return Ok(Err(current));
    }

    for (from, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        match from {
            1 => backfill_effective_at(&tx)?,
            2 => backfill_open_owner(&tx)?,
            _ => {}
        }
        tx.pragma_update(None, "user_version", from as u32 + 1)?;
        tx.commit()?;
    }
    Ok(Ok(()))
}

/// Fills `leads.open_owner` and `leads.updated_at` from each body. A body that does not decode
/// is left without them (and so off every rep's open list) rather than failing the migration.
fn backfill_open_owner(tx: &Connection) -> rusqlite::Result<()> {
    let rows: Vec<(String, String)> = tx
        .prepare("SELECT id, body FROM leads")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut update =
        tx.prepare("UPDATE leads SET open_owner = ?2, updated_at = ?3 WHERE id = ?1")?;
    for (id, body) in rows {
        if let Ok(lead) = serde_json::from_str::<lifecycle::Lead>(&body) {
            update.execute(rusqlite::params![
                id,
                ports::open_owner(&lead).map(|r| r.as_str()),
                crate::codec::time(lead.updated_at)
            ])?;
        }
    }
    Ok(())
}

/// Fills `transitions.effective_at` from each body, in the sortable form of
/// [`codec::time`](crate::codec::time). A body that does not decode is left without it (and so
/// out of effective-time listings) rather than failing the whole migration; reading the lead's
/// history still reports it as corrupt.
fn backfill_effective_at(tx: &Connection) -> rusqlite::Result<()> {
    let rows: Vec<(String, u32, String)> = tx
        .prepare("SELECT lead_id, seq, body FROM transitions WHERE effective_at IS NULL")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut update =
        tx.prepare("UPDATE transitions SET effective_at = ?3 WHERE lead_id = ?1 AND seq = ?2")?;
    for (lead, seq, body) in rows {
        if let Ok(t) = serde_json::from_str::<lifecycle::Transition>(&body) {
            update.execute(rusqlite::params![
                lead,
                seq,
                crate::codec::time(t.effective_at)
            ])?;
        }
    }
    Ok(())
}
