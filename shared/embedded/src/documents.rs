//! [`DocumentStore`] on SQLite, and the document writes of a commit.
//!
//! A document whose `expires_at` has passed is treated as gone everywhere (reads skip it, a
//! conditional write sees nothing stored), whether or not [`EmbeddedStore::purge_expired`]
//! has deleted the row yet — the same answer DynamoDB gives with a TTL filter.

use crate::{
    codec::{from_json, page_limit, parse_cursor, parse_time, time, to_json},
    commit::{conflict, holds, next_version, Stop},
    journey::paginate,
    EmbeddedStore, Error,
};
use async_trait::async_trait;
use lifecycle::Timestamp;
use ports::{Document, DocumentStore, DocumentWrite, Page, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// The columns every document query selects, in [`document`]'s order.
const COLUMNS: &str = "collection, key, version, idx, expires_at, body";

#[async_trait]
impl DocumentStore for EmbeddedStore {
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Document>, StoreError> {
        let (collection, key) = (collection.to_owned(), key.to_owned());
        let doc = self
            .run(move |conn, now| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM documents WHERE collection = ?1 AND key = ?2 \
                     AND (expires_at IS NULL OR expires_at > ?3)"
                );
                let row = conn
                    .prepare_cached(&sql)?
                    .query_row(params![collection, key, time(now)], raw)
                    .optional()?;
                row.map(document).transpose()
            })
            .await?;
        Ok(doc)
    }

    async fn list(
        &self,
        collection: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Document>, StoreError> {
        let limit = page_limit(limit)?;
        let after: Option<String> = cursor.as_deref().map(parse_cursor).transpose()?;
        let (collection, prefix) = (collection.to_owned(), prefix.to_owned());
        let page = self
            .run(move |conn, now| list_page(conn, &collection, &prefix, after, limit, now))
            .await?;
        Ok(page)
    }

    async fn due(
        &self,
        collection: &str,
        upper: &str,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        let limit = page_limit(limit)?;
        let (collection, upper) = (collection.to_owned(), upper.to_owned());
        let docs = self
            .run(move |conn, now| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM documents \
                     WHERE collection = ?1 AND idx IS NOT NULL AND idx <= ?2 \
                       AND (expires_at IS NULL OR expires_at > ?3) \
                     ORDER BY idx, key LIMIT ?4"
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params![collection, upper, time(now), limit], raw)?;
                rows.map(|row| document(row?)).collect()
            })
            .await?;
        Ok(docs)
    }
}

/// One page of a collection's documents whose key starts with `prefix`, after `after`.
fn list_page(
    conn: &Connection,
    collection: &str,
    prefix: &str,
    after: Option<String>,
    limit: usize,
    now: Timestamp,
) -> Result<Page<Document>, Error> {
    // `key >= prefix` lets the primary key index seek to the first match; `substr` (not LIKE,
    // whose wildcards a key may contain) keeps only real matches.
    let sql = format!(
        "SELECT {COLUMNS} FROM documents \
         WHERE collection = ?1 AND key >= ?2 AND substr(key, 1, length(?2)) = ?2 AND key > ?3 \
           AND (expires_at IS NULL OR expires_at > ?4) \
         ORDER BY key LIMIT ?5"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let after = after.unwrap_or_default();
    let rows = stmt.query_map(
        params![collection, prefix, after, time(now), limit + 1],
        raw,
    )?;
    let mut keyed = Vec::new();
    for row in rows {
        let doc = document(row?)?;
        keyed.push((doc.key.clone(), doc));
    }
    paginate(keyed, limit)
}

/// A document row as read, before its body is decoded.
type RawRow = (String, String, u64, Option<String>, Option<String>, String);

fn raw(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn document(
    (collection, key, version, index, expires_at, body): RawRow,
) -> Result<Document, Error> {
    let name = format!("{collection}/{key}");
    let expires_at = match expires_at {
        Some(text) => Some(parse_time(&name, &text)?),
        None => None,
    };
    Ok(Document {
        body: from_json(&name, &body)?,
        collection,
        key,
        version,
        index,
        expires_at,
    })
}

/// Refuses document writes whose version breaks the contract (1 for a new document, the
/// stored version + 1 for an update).
pub(crate) fn validate(writes: &[DocumentWrite]) -> Result<(), StoreError> {
    for write in writes {
        if let DocumentWrite::Put { doc, expect } = write {
            if next_version(*expect).is_some_and(|v| v != doc.version) {
                return Err(StoreError::Invalid(format!(
                    "document {}/{} has version {}, expected {expect:?} + 1",
                    doc.collection, doc.key, doc.version
                )));
            }
        }
    }
    Ok(())
}

/// Applies a commit's document writes inside its transaction.
pub(crate) fn write(tx: &Connection, writes: &[DocumentWrite], now: Timestamp) -> Result<(), Stop> {
    let now = time(now);
    for write in writes {
        let (collection, key) = write.target();
        let stored: Option<u64> = tx
            .prepare_cached(
                "SELECT version FROM documents WHERE collection = ?1 AND key = ?2 \
                 AND (expires_at IS NULL OR expires_at > ?3)",
            )?
            .query_row(params![collection, key, now], |row| row.get(0))
            .optional()?;
        let expect = match write {
            DocumentWrite::Put { expect, .. } | DocumentWrite::Delete { expect, .. } => *expect,
        };
        if !holds(expect, stored) {
            return Err(conflict(format!("document {collection}/{key} version")));
        }

        match write {
            DocumentWrite::Put { doc, .. } => put(tx, doc)?,
            DocumentWrite::Delete { .. } => {
                tx.prepare_cached("DELETE FROM documents WHERE collection = ?1 AND key = ?2")?
                    .execute([collection, key])?;
            }
        }
    }
    Ok(())
}

fn put(tx: &Connection, doc: &Document) -> Result<(), Stop> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO documents (collection, key, version, idx, expires_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        doc.collection,
        doc.key,
        doc.version,
        doc.index,
        doc.expires_at.map(time),
        to_json(&doc.body)?
    ])?;
    Ok(())
}
