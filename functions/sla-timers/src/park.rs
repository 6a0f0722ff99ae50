//! Parked clocks: clocks no sweep can act on, taken out of the due index so that they stop
//! coming back at its head every minute, and kept where an operator finds them.
//!
//! A clock is parked when its own document does not decode (a hand edit, a bug in a writer, a
//! document of a newer format): trying it again next minute would fail the same way, and while
//! it stays in the index it takes a place in every sweep's read. Parking is one commit,
//! conditional on the version read: the clock document as it is, without its index value, and
//! a record in `sla_parked` under the clock's key with the reason, the time, and the index value
//! and version it had. The record is indexed by when it was parked, so
//! `DocumentStore::due("sla_parked", …)` lists them oldest first; each sweep counts the clocks
//! it parked (the `SlaClocksParked` metric) and logs the clock's key and reason.
//!
//! Once the document is repaired, [`Sweeper::unpark`] puts the clock back in the due index
//! at its next wake-up and removes the record; the next sweep acts on whatever is due.
//!
//! Other failures (the store unavailable, a configuration missing) do not park: they may pass,
//! and they concern every clock alike. Those clocks stay due, and each sweep reads past them.

use crate::sweep::{SweepError, Sweeper};
use chrono::SecondsFormat;
use lifecycle::Timestamp;
use ports::{Commit, CommitOutcome, Document, DocumentWrite, Expect};
use routing::docs;
use serde::{Deserialize, Serialize};

/// Collection of parked clocks, keyed by clock id and indexed by when they were parked.
pub const SLA_PARKED: &str = "sla_parked";

/// Why and when a clock was parked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedClock {
    /// The clock's key in `sla_clock`.
    pub clock: String,
    /// Why no sweep can act on it (no document content: field names and positions only).
    pub reason: String,
    /// When it was parked.
    pub parked_at: Timestamp,
    /// The due-index value it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// The version of the clock document that was parked.
    pub version: u64,
}

/// What [`Sweeper::unpark`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unparked {
    /// The clock is back in the due index at this value (`None`: nothing is left to do).
    Restored(Option<String>),
    /// No clock is stored under the key.
    Missing,
    /// The clock changed while we wrote; read it again.
    Moved,
}

/// The reason recorded for `why`: what kind of failure, without quoting the document (a
/// value in a broken document may be anything).
pub fn reason(why: &SweepError) -> String {
    match why {
        SweepError::BadClock { source, .. } => {
            format!("the clock document does not decode: {}", unquoted(source))
        }
        other => other.to_string(),
    }
}

/// `error`'s message with every quoted value (`"…"`, or in backticks) replaced, so no value of
/// the broken document leaves the store; only field names (`missing field `due_at``) stay.
fn unquoted(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let mut out = String::new();
    let mut rest = message.as_str();
    while let Some(open) = rest.find(['"', '`']) {
        let quote = &rest[open..=open];
        let Some(len) = rest[open + 1..].find(quote) else {
            break;
        };
        let (before, quoted) = (&rest[..open], &rest[open..open + len + 2]);
        out.push_str(before);
        let a_field = quote == "`" && before.ends_with("field ");
        out.push_str(if a_field { quoted } else { "…" });
        rest = &rest[open + len + 2..];
    }
    out.push_str(rest);
    out
}

/// Parks the clock read as `doc`, failed with `why`; `false` if it changed since it was read
/// (the next sweep reads the new one).
pub(crate) async fn park(
    sweeper: &Sweeper,
    doc: &Document,
    why: &SweepError,
    now: Timestamp,
) -> Result<bool, SweepError> {
    let record = ParkedClock {
        clock: doc.key.clone(),
        reason: reason(why),
        parked_at: now,
        index: doc.index.clone(),
        version: doc.version,
    };
    let unindexed = Document {
        version: doc.version + 1,
        index: None,
        ..doc.clone()
    };
    let mut commit = Commit::default();
    commit.documents.push(DocumentWrite::Put {
        doc: unindexed,
        expect: Expect::Version(doc.version),
    });
    let at = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut write = docs::put(SLA_PARKED, &doc.key, &record, 0, Some(at))?;
    if let DocumentWrite::Put { expect, .. } = &mut write {
        // Parked again after an earlier unpark: the new record replaces the old.
        *expect = Expect::Any;
    }
    commit.documents.push(write);
    Ok(sweeper.journey.commit(commit).await? == CommitOutcome::Committed)
}

impl Sweeper {
    /// Puts a parked clock back in the due index once its document decodes again, and removes
    /// its `sla_parked` record. Fails with [`SweepError::BadClock`] while it still does not.
    pub async fn unpark(&self, key: &str) -> Result<Unparked, SweepError> {
        let Some(stored) = self.read(key).await? else {
            return Ok(Unparked::Missing);
        };
        let wake = stored.clock.value.wake_index();
        let mut commit = Commit::default();
        commit
            .documents
            .push(stored.clock.write(docs::SLA_CLOCK, key, wake.clone())?);
        if self.docs.get(SLA_PARKED, key).await?.is_some() {
            commit.documents.push(DocumentWrite::Delete {
                collection: SLA_PARKED.to_owned(),
                key: key.to_owned(),
                expect: Expect::Any,
            });
        }
        Ok(match self.journey.commit(commit).await? {
            CommitOutcome::Committed => Unparked::Restored(wake),
            _ => Unparked::Moved,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifecycle::sla::SlaClock;

    fn reason_for(body: serde_json::Value) -> String {
        let source = serde_json::from_value::<SlaClock>(body).unwrap_err();
        reason(&SweepError::BadClock {
            key: "k".into(),
            source,
        })
    }

    #[test]
    fn a_parking_reason_names_fields_but_quotes_no_value() {
        let missing = reason_for(serde_json::json!({ "id": "dana@example.com" }));
        assert!(missing.contains("missing field `"), "{missing}");
        assert!(!missing.contains("dana"), "{missing}");

        let body = serde_json::json!({ "id": "x", "lead": "l", "cycle": 1,
            "lead_kind": "dana@example.com", "kind": "rep_response" });
        let variant = reason_for(body);
        assert!(variant.contains("unknown variant …"), "{variant}");
        assert!(!variant.contains("dana"), "{variant}");

        let typed =
            reason_for(serde_json::json!({ "id": "x", "lead": "+4930555", "cycle": "+4930" }));
        assert!(!typed.contains("4930"), "{typed}");
    }
}
