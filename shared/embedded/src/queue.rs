//! [`Queue`] and [`QueueConsumer`] on SQLite: the local stand-in for SQS.
//!
//! A message is a row of `queue`. It is *visible* once `visible_at` has passed; receiving it
//! counts the receive, gives it a fresh receipt and hides it for the visibility timeout.
//! `ack` deletes it. `fail` shows it again after a back-off that doubles with every receive,
//! or, once it has been received `max_receives` times, moves it to `dead_letters` with the
//! reason. A message left to time out on its last allowed receive is moved there by the next
//! `receive`, as SQS's redrive policy does.
//!
//! The limits are SQS's (256 KiB bodies, delays up to 15 minutes), so that what works locally
//! is not refused in AWS. Sending the same `(topic, id)` again while the first is still queued
//! keeps one copy; consumers must be idempotent anyway, as SQS may deliver twice.

use crate::{codec::time, EmbeddedStore, Error, QueueConfig};
use async_trait::async_trait;
use lifecycle::Timestamp;
use ports::{Delivery, Message, Queue, QueueConsumer, QueueError, Topic};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// SQS's largest message body.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// SQS's longest delivery delay.
pub const MAX_DELAY_SECONDS: u32 = 900;

/// Reasons are error classes; a longer one is cut rather than stored whole.
const MAX_REASON_CHARS: usize = 200;

#[async_trait]
impl Queue for EmbeddedStore {
    async fn send(&self, messages: &[Message]) -> Result<(), QueueError> {
        validate(messages).map_err(QueueError::Invalid)?;
        let messages = messages.to_vec();
        self.run(move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            enqueue(&tx, &messages, now)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
        Ok(())
    }
}

#[async_trait]
impl QueueConsumer for EmbeddedStore {
    async fn receive(
        &self,
        topic: Topic,
        max: usize,
        visibility_seconds: u32,
    ) -> Result<Vec<Delivery>, QueueError> {
        let config = self.queue;
        let deliveries = self
            .run(move |conn, now| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                redrive_timed_out(&tx, topic, config, now)?;
                let deliveries = take_visible(&tx, topic, max, visibility_seconds, now)?;
                tx.commit()?;
                Ok(deliveries)
            })
            .await?;
        Ok(deliveries)
    }

    async fn ack(&self, topic: Topic, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        self.run(move |conn, _| {
            // An unknown receipt (already acked, or stale after a redelivery) deletes nothing:
            // only the latest receive may delete a message.
            conn.prepare_cached("DELETE FROM queue WHERE topic = ?1 AND receipt = ?2")?
                .execute([topic.as_str(), &receipt])?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn fail(&self, topic: Topic, receipt: &str, reason: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        let config = self.queue;
        self.run(move |conn, now| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            release(&tx, topic, &receipt, &reason, config, now)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn dead_letters(&self, topic: Topic) -> Result<Vec<Delivery>, QueueError> {
        let deliveries = self
            .run(move |conn, _| {
                let mut stmt = conn.prepare_cached(
                    "SELECT seq, id, body, receive_count FROM dead_letters \
                     WHERE topic = ?1 ORDER BY seq",
                )?;
                let rows = stmt.query_map([topic.as_str()], |row| {
                    Ok(Delivery {
                        receipt: format!("dead.{}", row.get::<_, i64>(0)?),
                        id: row.get(1)?,
                        body: row.get(2)?,
                        receive_count: row.get(3)?,
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        Ok(deliveries)
    }
}

/// Refuses messages SQS would refuse.
pub(crate) fn validate(messages: &[Message]) -> Result<(), String> {
    for m in messages {
        if m.body.len() > MAX_BODY_BYTES {
            return Err(format!("message {} is over {MAX_BODY_BYTES} bytes", m.id));
        }
        if m.delay_seconds > MAX_DELAY_SECONDS {
            return Err(format!(
                "message {} is delayed over {MAX_DELAY_SECONDS} s",
                m.id
            ));
        }
        if m.id.is_empty() {
            return Err("a message has an empty id".to_owned());
        }
    }
    Ok(())
}

/// Queues messages inside the caller's transaction (a commit's outbox, or a plain send).
pub(crate) fn enqueue(
    tx: &Connection,
    messages: &[Message],
    now: Timestamp,
) -> rusqlite::Result<()> {
    for m in messages {
        let visible_at = now + chrono::Duration::seconds(i64::from(m.delay_seconds));
        tx.prepare_cached(
            "INSERT INTO queue (topic, id, body, sent_at, visible_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (topic, id) DO NOTHING",
        )?
        .execute(params![
            m.topic.as_str(),
            m.id,
            m.body,
            time(now),
            time(visible_at)
        ])?;
    }
    Ok(())
}

/// Moves visible messages that have used up their receives to the dead letters.
fn redrive_timed_out(
    tx: &Connection,
    topic: Topic,
    config: QueueConfig,
    now: Timestamp,
) -> Result<(), Error> {
    let now = time(now);
    tx.prepare_cached(
        "INSERT INTO dead_letters (topic, id, body, receive_count, reason, failed_at) \
         SELECT topic, id, body, receive_count, 'visibility timeout on the last receive', ?3 \
         FROM queue WHERE topic = ?1 AND visible_at <= ?3 AND receive_count >= ?2 ORDER BY seq",
    )?
    .execute(params![topic.as_str(), config.max_receives, now])?;
    let moved = tx
        .prepare_cached(
            "DELETE FROM queue WHERE topic = ?1 AND visible_at <= ?3 AND receive_count >= ?2",
        )?
        .execute(params![topic.as_str(), config.max_receives, now])?;
    if moved > 0 {
        tracing::warn!(%topic, moved, "messages timed out on their last receive: dead-lettered");
    }
    Ok(())
}

/// Receives up to `max` visible messages, oldest visible first, and hides them.
fn take_visible(
    tx: &Connection,
    topic: Topic,
    max: usize,
    visibility_seconds: u32,
    now: Timestamp,
) -> Result<Vec<Delivery>, Error> {
    let hidden_until = time(now + chrono::Duration::seconds(i64::from(visibility_seconds)));
    let mut stmt = tx.prepare_cached(
        "SELECT seq, id, body, receive_count FROM queue \
         WHERE topic = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3",
    )?;
    // More than a page at once is never useful, and keeps the count a valid SQL integer.
    let max = max.min(ports::MAX_PAGE);
    let rows = stmt.query_map(params![topic.as_str(), time(now), max], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get::<_, u32>(3)?,
        ))
    })?;

    let mut deliveries = Vec::new();
    for row in rows {
        let (seq, id, body, count) = row?;
        let receive_count = count + 1;
        // Unique per receive: the seq is never reused and the count only grows.
        let receipt = format!("{seq}.{receive_count}");
        tx.prepare_cached(
            "UPDATE queue SET receive_count = ?2, receipt = ?3, visible_at = ?4 WHERE seq = ?1",
        )?
        .execute(params![seq, receive_count, receipt, hidden_until])?;
        deliveries.push(Delivery {
            id,
            body,
            receive_count,
            receipt,
        });
    }
    Ok(deliveries)
}

/// Shows a failed message again after its back-off, or dead-letters it.
fn release(
    tx: &Connection,
    topic: Topic,
    receipt: &str,
    reason: &str,
    config: QueueConfig,
    now: Timestamp,
) -> Result<(), Error> {
    let found: Option<(i64, u32)> = tx
        .prepare_cached("SELECT seq, receive_count FROM queue WHERE topic = ?1 AND receipt = ?2")?
        .query_row([topic.as_str(), receipt], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    // A stale receipt: the message was acked, or received again by someone else.
    let Some((seq, count)) = found else {
        return Ok(());
    };

    if count >= config.max_receives {
        tracing::warn!(%topic, seq, count, reason, "message failed its last receive: dead-lettered");
        tx.prepare_cached(
            "INSERT INTO dead_letters (topic, id, body, receive_count, reason, failed_at) \
             SELECT topic, id, body, receive_count, ?2, ?3 FROM queue WHERE seq = ?1",
        )?
        .execute(params![seq, reason, time(now)])?;
        tx.prepare_cached("DELETE FROM queue WHERE seq = ?1")?
            .execute([seq])?;
        return Ok(());
    }

    let visible_at = now + chrono::Duration::seconds(i64::from(backoff_seconds(count, config)));
    tx.prepare_cached("UPDATE queue SET visible_at = ?2, receipt = NULL WHERE seq = ?1")?
        .execute(params![seq, time(visible_at)])?;
    Ok(())
}

/// `first * 2^(receives - 1)`, at most `max`.
fn backoff_seconds(receives: u32, config: QueueConfig) -> u32 {
    let doublings = receives.saturating_sub(1).min(31);
    config
        .first_backoff_seconds
        .saturating_mul(1u32 << doublings)
        .min(config.max_backoff_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = QueueConfig {
            max_receives: 10,
            first_backoff_seconds: 2,
            max_backoff_seconds: 20,
        };
        let waits: Vec<u32> = (1..=6).map(|n| backoff_seconds(n, config)).collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 20, 20]);
        assert_eq!(backoff_seconds(200, config), 20);
    }
}
