//! [`JourneyStore`] on SQLite: reading leads and their history. Writing is [`crate::commit`].

use crate::{
    codec::{cursor, from_json, page_limit, parse_cursor, parse_time, time},
    commit, EmbeddedStore, Error,
};
use async_trait::async_trait;
use lifecycle::{
    funnel::CounterKey, Activity, Email, Lead, LeadId, Phone, RepId, Timestamp, Transition,
};
use ports::{Commit, CommitOutcome, Extent, JourneyStore, Message, Page, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use tracing::Instrument;

#[async_trait]
impl JourneyStore for EmbeddedStore {
    async fn lead(&self, id: &LeadId) -> Result<Option<Lead>, StoreError> {
        let id = id.as_str().to_owned();
        let sql = "SELECT id, body FROM leads WHERE id = ?1";
        Ok(self.run(move |conn, _| one_lead(conn, sql, &id)).await?)
    }

    async fn lead_by_email(&self, email: &Email) -> Result<Option<Lead>, StoreError> {
        let value = email.as_str().to_owned();
        let sql = "SELECT l.id, l.body FROM identities i JOIN leads l ON l.id = i.lead_id \
                   WHERE i.kind = 'email' AND i.value = ?1";
        Ok(self.run(move |conn, _| one_lead(conn, sql, &value)).await?)
    }

    async fn lead_by_phone(&self, phone: &Phone) -> Result<Option<Lead>, StoreError> {
        let value = phone.as_str().to_owned();
        let sql = "SELECT l.id, l.body FROM identities i JOIN leads l ON l.id = i.lead_id \
                   WHERE i.kind = 'phone' AND i.value = ?1";
        Ok(self.run(move |conn, _| one_lead(conn, sql, &value)).await?)
    }

    async fn transitions(&self, id: &LeadId) -> Result<Vec<Transition>, StoreError> {
        let id = id.as_str().to_owned();
        let sql = "SELECT lead_id || '/' || seq, body FROM transitions \
                   WHERE lead_id = ?1 ORDER BY seq";
        Ok(self.run(move |conn, _| bodies(conn, sql, &id)).await?)
    }

    async fn activities(&self, id: &LeadId) -> Result<Vec<Activity>, StoreError> {
        let id = id.as_str().to_owned();
        let sql = "SELECT id, body FROM activities WHERE lead_id = ?1 ORDER BY occurred_at, id";
        Ok(self.run(move |conn, _| bodies(conn, sql, &id)).await?)
    }

    async fn transitions_recorded(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Transition>, StoreError> {
        let limit = page_limit(limit)?;
        let after: Option<(String, String, u32)> =
            cursor.as_deref().map(parse_cursor).transpose()?;
        let window = (time(from), time(to));
        let page = self
            .run(move |conn, _| timed_page(conn, TimeColumn::Recorded, window, after, limit))
            .await?;
        Ok(page)
    }

    async fn transitions_effective(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Transition>, StoreError> {
        let limit = page_limit(limit)?;
        let after: Option<(String, String, u32)> =
            cursor.as_deref().map(parse_cursor).transpose()?;
        let window = (time(from), time(to));
        let page = self
            .run(move |conn, _| timed_page(conn, TimeColumn::Effective, window, after, limit))
            .await?;
        Ok(page)
    }

    /// Three index look-ups: the smallest recorded time, the smallest and largest effective time.
    async fn extent(&self) -> Result<Option<Extent>, StoreError> {
        Ok(self.run(|conn, _| extent(conn)).await?)
    }

    async fn leads(&self, cursor: Option<String>, limit: usize) -> Result<Page<Lead>, StoreError> {
        let limit = page_limit(limit)?;
        let before: Option<(String, String)> = cursor.as_deref().map(parse_cursor).transpose()?;
        Ok(self
            .run(move |conn, _| leads_page(conn, before, limit))
            .await?)
    }

    /// One range read of the partial index `leads_open_by_owner`.
    async fn open_leads_of(
        &self,
        rep: &RepId,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Lead>, StoreError> {
        let limit = page_limit(limit)?;
        let after: Option<(String, String)> = cursor.as_deref().map(parse_cursor).transpose()?;
        let rep = rep.as_str().to_owned();
        Ok(self
            .run(move |conn, _| open_leads_page(conn, &rep, after, limit))
            .await?)
    }

    async fn counter(&self, key: &CounterKey) -> Result<i64, StoreError> {
        let key = key.clone();
        let value = self
            .run(move |conn, _| {
                let value = conn
                    .query_row(
                        "SELECT value FROM counters \
                         WHERE day = ?1 AND stage = ?2 AND dimension = ?3 AND grp = ?4",
                        params![
                            key.day.to_string(),
                            key.stage.as_str(),
                            key.dimension.as_str(),
                            key.group
                        ],
                        |row| row.get(0),
                    )
                    .optional()?;
                Ok(value.unwrap_or(0))
            })
            .await?;
        Ok(value)
    }

    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        let span = tracing::debug_span!(
            "commit to the embedded store",
            lead_id = commit.lead_id().map(|id| id.as_str().to_owned()),
            transitions = commit.transitions.len(),
            outbox = commit.outbox.len(),
        );
        commit::validate(&commit)?;
        let commit = commit.with_journey_events();
        let outcome = self
            .run(move |conn, now| commit::apply(conn, &commit, now))
            .instrument(span)
            .await?;
        Ok(outcome)
    }

    async fn held_claim(&self, key: &str) -> Result<Option<Vec<Message>>, StoreError> {
        let key = key.to_owned();
        let held = self
            .run(move |conn, now| {
                let stored: Option<String> = conn
                    .prepare_cached(commit::HELD_CLAIM)?
                    .query_row(params![key, time(now)], |row| row.get(0))
                    .optional()?;
                Ok(stored.map(|body| from_json(&key, &body)).transpose()?)
            })
            .await?;
        Ok(held)
    }
}

fn extent(conn: &Connection) -> Result<Option<Extent>, Error> {
    let first = |sql: &str| -> Result<Option<String>, Error> {
        Ok(conn.prepare_cached(sql)?.query_row([], |row| row.get(0))?)
    };
    let (Some(rec), Some(first_eff), Some(last_eff)) = (
        first("SELECT min(recorded_at) FROM transitions")?,
        first("SELECT min(effective_at) FROM transitions")?,
        first("SELECT max(effective_at) FROM transitions")?,
    ) else {
        return Ok(None);
    };
    let day = |text: &str| parse_time("transitions extent", text).map(|t| t.date_naive());
    Ok(Some(Extent {
        first_recorded: day(&rec)?,
        first_effective: day(&first_eff)?,
        last_effective: day(&last_eff)?,
    }))
}

/// The lead a query with one text parameter finds, if any.
fn one_lead(conn: &Connection, sql: &str, param: &str) -> Result<Option<Lead>, Error> {
    let row: Option<(String, String)> = conn
        .prepare_cached(sql)?
        .query_row([param], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match row {
        Some((id, body)) => Ok(Some(from_json(&id, &body)?)),
        None => Ok(None),
    }
}

/// Decodes the `(key, body)` rows a query with one text parameter returns.
fn bodies<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    param: &str,
) -> Result<Vec<T>, Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([param], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (key, body): (String, String) = row?;
        out.push(from_json(&key, &body)?);
    }
    Ok(out)
}

/// Which time of a transition a listing walks.
#[derive(Clone, Copy)]
enum TimeColumn {
    Recorded,
    Effective,
}

/// One page of transitions whose `column` time lies in `[from, to)`, after the cursor's key.
fn timed_page(
    conn: &Connection,
    column: TimeColumn,
    (from, to): (String, String),
    after: Option<(String, String, u32)>,
    limit: usize,
) -> Result<Page<Transition>, Error> {
    // With no cursor, start just before the window: ("", "", 0) sorts before any real key.
    let (at, lead, seq) = after.unwrap_or_default();
    let mut stmt = conn.prepare_cached(match column {
        TimeColumn::Recorded => {
            "SELECT recorded_at, lead_id, seq, body FROM transitions \
             WHERE recorded_at >= ?1 AND recorded_at < ?2 \
               AND (recorded_at, lead_id, seq) > (?3, ?4, ?5) \
             ORDER BY recorded_at, lead_id, seq LIMIT ?6"
        }
        TimeColumn::Effective => {
            "SELECT effective_at, lead_id, seq, body FROM transitions \
             WHERE effective_at >= ?1 AND effective_at < ?2 \
               AND (effective_at, lead_id, seq) > (?3, ?4, ?5) \
             ORDER BY effective_at, lead_id, seq LIMIT ?6"
        }
    })?;
    let rows = stmt.query_map(params![from, to, at, lead, seq, limit + 1], |row| {
        Ok((
            (
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, u32>(2)?,
            ),
            row.get::<_, String>(3)?,
        ))
    })?;
    let mut keyed = Vec::new();
    for row in rows {
        let (key, body) = row?;
        let transition: Transition = from_json(&format!("{}/{}", key.1, key.2), &body)?;
        keyed.push((key, transition));
    }
    paginate(keyed, limit)
}

/// One page of leads, newest first, before the cursor's key.
fn leads_page(
    conn: &Connection,
    before: Option<(String, String)>,
    limit: usize,
) -> Result<Page<Lead>, Error> {
    // With no cursor, start after every real key: "~" sorts after any RFC 3339 time.
    let (at, id) = before.unwrap_or_else(|| ("~".to_owned(), String::new()));
    let mut stmt = conn.prepare_cached(
        "SELECT created_at, id, body FROM leads WHERE (created_at, id) < (?1, ?2) \
         ORDER BY created_at DESC, id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![at, id, limit + 1], |row| {
        Ok((
            (row.get::<_, String>(0)?, row.get::<_, String>(1)?),
            row.get::<_, String>(2)?,
        ))
    })?;
    let mut keyed = Vec::new();
    for row in rows {
        let (key, body) = row?;
        let lead: Lead = from_json(&key.1, &body)?;
        keyed.push((key, lead));
    }
    paginate(keyed, limit)
}

/// One page of a rep's open leads, least recently updated first, after the cursor's key.
fn open_leads_page(
    conn: &Connection,
    rep: &str,
    after: Option<(String, String)>,
    limit: usize,
) -> Result<Page<Lead>, Error> {
    // With no cursor, start before every real key: "" sorts first.
    let (at, id) = after.unwrap_or_default();
    let mut stmt = conn.prepare_cached(
        "SELECT updated_at, id, body FROM leads \
         WHERE open_owner = ?1 AND (updated_at, id) > (?2, ?3) \
         ORDER BY updated_at, id LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![rep, at, id, limit + 1], |row| {
        Ok((
            (row.get::<_, String>(0)?, row.get::<_, String>(1)?),
            row.get::<_, String>(2)?,
        ))
    })?;
    let mut keyed = Vec::new();
    for row in rows {
        let (key, body) = row?;
        let lead: Lead = from_json(&key.1, &body)?;
        keyed.push((key, lead));
    }
    paginate(keyed, limit)
}

/// Turns up to `limit + 1` keyed rows into a page: the extra row only says there is more.
pub(crate) fn paginate<K: serde::Serialize, T>(
    mut keyed: Vec<(K, T)>,
    limit: usize,
) -> Result<Page<T>, Error> {
    let more = keyed.len() > limit;
    keyed.truncate(limit);
    let next = match (more, keyed.last()) {
        (true, Some((key, _))) => Some(cursor(key)?),
        _ => None,
    };
    let items = keyed.into_iter().map(|(_, item)| item).collect();
    Ok(Page { items, next })
}
