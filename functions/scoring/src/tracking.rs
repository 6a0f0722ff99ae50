//! The tracking endpoint (`POST /events`): activities beyond forms.
//!
//! A website snippet, an e-mail platform or a webinar tool posts a batch of events (page views,
//! pricing-page views, content downloads, e-mail opens and clicks, webinar attendance,
//! unsubscribes, bounces), each with its own id and the time it happened. Each source has its
//! own API key from configuration. Every valid event becomes an [`Activity`] stored with an
//! idempotency claim and a message on the `activities` queue, in one commit, so a batch posted
//! twice changes nothing. Bad items are reported by index and the valid ones are kept.
//!
//! The handler knows nothing of HTTP: [`Tracker::track`] takes the key, the body bytes and the
//! time, [`TrackError::status`] is the one place errors become status codes, and [`answer`]
//! turns an outcome into the status, content type and body that the Lambda binary and the
//! local runner both send.

use crate::handler::ActivityMessage;
use lifecycle::{Activity, ActivityKind, LeadId, Timestamp};
use ports::{Commit, CommitOutcome, JourneyStore, Message, StoreError, Topic};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{collections::BTreeMap, fmt, sync::Arc};
use subtle::ConstantTimeEq;

/// The most events one request may carry.
pub const MAX_EVENTS: usize = 500;
/// How far in the future an event's time may be (clock skew of the sender).
const MAX_SKEW_SECONDS: i64 = 300;
/// How old an event may be. Tracking is for what people do now; a three-year-old page view is
/// a backfill (import it) or a sender's bug (`0001-01-01`), and either would be scored as news.
const MAX_AGE_DAYS: i64 = 3 * 365;
const MAX_ATTRIBUTES: usize = 20;
const MAX_ID_LEN: usize = 128;
const MAX_VALUE_LEN: usize = 512;

/// The API keys, one per source. Keys are kept only as SHA-256 digests and compared in
/// constant time; `Debug` shows the sources, never the keys.
#[derive(Clone, Default)]
pub struct ApiKeys {
    sources: Vec<(String, [u8; 32])>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.sources.iter().map(|(s, _)| s.as_str()).collect();
        f.debug_struct("ApiKeys").field("sources", &names).finish()
    }
}

/// The key configuration was not a JSON object of source name → key.
#[derive(Debug, thiserror::Error)]
#[error("tracking keys must be a JSON object of source name to non-empty key")]
pub struct ApiKeysError;

impl ApiKeys {
    /// Keys from a JSON object such as `{"website": "k1", "webinars": "k2"}`.
    pub fn from_json(text: &str) -> Result<Self, ApiKeysError> {
        let map: BTreeMap<String, String> = serde_json::from_str(text).map_err(|_| ApiKeysError)?;
        if map.iter().any(|(s, k)| s.trim().is_empty() || k.is_empty()) {
            return Err(ApiKeysError);
        }
        Ok(Self {
            sources: map
                .into_iter()
                .map(|(source, key)| (source, Sha256::digest(key.as_bytes()).into()))
                .collect(),
        })
    }

    /// The source a key belongs to.
    pub fn source_of(&self, key: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        // Look at every source, so the time taken does not say which one matched.
        for (source, known) in &self.sources {
            if bool::from(known.ct_eq(&digest)) {
                found = Some(source.as_str());
            }
        }
        found
    }
}

/// One tracked event as posted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackedEvent {
    id: String,
    lead_id: String,
    #[serde(rename = "type")]
    kind: ActivityKind,
    occurred_at: Timestamp,
    #[serde(default)]
    hand_raiser: bool,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    events: Vec<serde_json::Value>,
}

/// An event that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Its position in the batch, from 0.
    pub index: usize,
    /// Why. For the caller; never logged (it may quote what was sent).
    pub reason: String,
}

/// The answer to a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrackResponse {
    /// How many events were stored now.
    pub accepted: usize,
    /// How many had been stored before (a repeated post): nothing changed for them.
    pub duplicates: usize,
    /// The events refused, by index.
    pub rejected: Vec<Rejected>,
}

/// Why a whole request was refused.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// No key, or a key of no source.
    #[error("missing or unknown API key")]
    Unauthorized,
    /// The body is not `{"events": [...]}`.
    #[error("body must be a JSON object {{\"events\": [...]}} (line {line}, column {column})")]
    Malformed {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Too many events in one request.
    #[error("at most {MAX_EVENTS} events per request")]
    TooMany,
    /// A body that says it is something other than JSON.
    #[error("the body must be application/json")]
    NotJson,
    /// The store failed; events before the failure were stored and a retry of the whole
    /// batch is safe.
    #[error("store failed")]
    Store(#[from] StoreError),
}

impl TrackError {
    /// The HTTP status for this error: the caller's mistakes are 4xx, ours 503/500.
    pub fn status(&self) -> u16 {
        match self {
            TrackError::Unauthorized => 401,
            TrackError::Malformed { .. } => 400,
            TrackError::TooMany => 413,
            TrackError::NotJson => 415,
            TrackError::Store(e) if e.is_retryable() => 503,
            TrackError::Store(_) => 500,
        }
    }

    /// The message safe to send back (opaque for our own failures).
    pub fn public_message(&self) -> String {
        match self {
            TrackError::Store(_) => "something went wrong; retry the batch".to_owned(),
            other => other.to_string(),
        }
    }
}

/// The tracking endpoint's handler.
#[derive(Clone)]
pub struct Tracker {
    /// Where activities go.
    pub store: Arc<dyn JourneyStore>,
    /// Which key belongs to which source.
    pub keys: ApiKeys,
}

impl Tracker {
    /// Validates a batch and stores every valid event as an activity with its message.
    #[tracing::instrument(name = "track events", skip_all, fields(source = tracing::field::Empty))]
    pub async fn track(
        &self,
        api_key: Option<&str>,
        body: &[u8],
        now: Timestamp,
    ) -> Result<TrackResponse, TrackError> {
        let source = api_key
            .and_then(|k| self.keys.source_of(k))
            .ok_or(TrackError::Unauthorized)?
            .to_owned();
        tracing::Span::current().record("source", source.as_str());
        let batch: Batch = serde_json::from_slice(body).map_err(|e| TrackError::Malformed {
            line: e.line(),
            column: e.column(),
        })?;
        if batch.events.len() > MAX_EVENTS {
            return Err(TrackError::TooMany);
        }

        let mut response = TrackResponse::default();
        for (index, raw) in batch.events.into_iter().enumerate() {
            match self.store_event(&source, raw, now).await? {
                Ok(true) => response.accepted += 1,
                Ok(false) => response.duplicates += 1,
                Err(reason) => response.rejected.push(Rejected { index, reason }),
            }
        }
        tracing::info!(
            accepted = response.accepted,
            duplicates = response.duplicates,
            rejected = response.rejected.len(),
            "tracking batch handled"
        );
        Ok(response)
    }

    /// Stores one event: `Ok(Ok(true))` stored, `Ok(Ok(false))` seen before, `Ok(Err(why))`
    /// refused, `Err` the store failed.
    async fn store_event(
        &self,
        source: &str,
        raw: serde_json::Value,
        now: Timestamp,
    ) -> Result<Result<bool, String>, StoreError> {
        let event = match parse_event(raw, now) {
            Ok(event) => event,
            Err(reason) => return Ok(Err(reason)),
        };
        let lead_id = LeadId::new(event.lead_id.clone());
        if self.store.lead(&lead_id).await?.is_none() {
            return Ok(Err("unknown lead_id".to_owned()));
        }

        let activity = to_activity(source, event, lead_id);
        match self.store.commit(activity_commit(activity)).await? {
            CommitOutcome::Committed => Ok(Ok(true)),
            CommitOutcome::Duplicate { .. } => Ok(Ok(false)),
            CommitOutcome::Conflict { .. } => Ok(Err("conflicting write; send it again".into())),
        }
    }
}

/// Checks a request's `Content-Type` before its batch is read: JSON (`application/json`, or
/// any `+json` type), or none at all; anything else, a form (what `curl -d` sends unless told
/// otherwise) or plain text, is refused with a 415 that says what to send.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), TrackError> {
    let Some(raw) = content_type else {
        return Ok(());
    };
    let essence = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(TrackError::NotJson)
    }
}

/// An outcome as an HTTP answer: status, content type and body (the response, or an RFC 9457
/// problem document). A server error is logged here, once, without the batch.
pub fn answer(outcome: &Result<TrackResponse, TrackError>) -> (u16, &'static str, String) {
    match outcome {
        Ok(response) => (
            200,
            "application/json",
            // Numbers and strings only: serialising cannot fail.
            serde_json::to_string(response).unwrap_or_default(),
        ),
        Err(e) => (
            e.status(),
            "application/problem+json",
            problem(e).to_string(),
        ),
    }
}

fn problem(e: &TrackError) -> serde_json::Value {
    if e.status() >= 500 {
        tracing::error!(error = %e, "tracking batch failed");
    }
    let (kind, title) = match e {
        TrackError::Unauthorized => ("unauthorized", "No valid API key"),
        TrackError::Malformed { .. } => ("malformed-body", "The batch cannot be read"),
        TrackError::TooMany => ("too-many-events", "Too many events in one batch"),
        TrackError::NotJson => ("unsupported-media-type", "The body must be JSON"),
        TrackError::Store(_) => ("unavailable", "Temporarily unavailable"),
    };
    serde_json::json!({
        "type": format!("https://lead-journey.dev/problems/{kind}"),
        "title": title,
        "status": e.status(),
        "detail": e.public_message(),
    })
}

fn parse_event(raw: serde_json::Value, now: Timestamp) -> Result<TrackedEvent, String> {
    let event: TrackedEvent = serde_json::from_value(raw).map_err(|e| e.to_string())?;
    let id_ok = |s: &str| !s.trim().is_empty() && s.len() <= MAX_ID_LEN;
    if !id_ok(&event.id) {
        return Err(format!("id must be 1 to {MAX_ID_LEN} characters"));
    }
    if !id_ok(&event.lead_id) {
        return Err(format!("lead_id must be 1 to {MAX_ID_LEN} characters"));
    }
    if (event.occurred_at - now).num_seconds() > MAX_SKEW_SECONDS {
        return Err("occurred_at is in the future".to_owned());
    }
    if (now - event.occurred_at).num_days() > MAX_AGE_DAYS {
        return Err(format!(
            "occurred_at is more than {MAX_AGE_DAYS} days ago (history comes in by import)"
        ));
    }
    check_attributes(&event.attributes)?;
    Ok(event)
}

fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<(), String> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(format!("at most {MAX_ATTRIBUTES} attributes"));
    }
    let bad_name = |n: &str| {
        n.is_empty()
            || n.len() > 40
            || !n
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if let Some(name) = attributes.keys().find(|n| bad_name(n)) {
        return Err(format!(
            "attribute name {name:?} must be 1 to 40 of a-z, 0-9, _"
        ));
    }
    if attributes.values().any(|v| v.len() > MAX_VALUE_LEN) {
        return Err(format!(
            "attribute values are at most {MAX_VALUE_LEN} bytes"
        ));
    }
    Ok(())
}

fn to_activity(source: &str, event: TrackedEvent, lead_id: LeadId) -> Activity {
    let mut attributes = event.attributes;
    // Which tracking source sent it (not `source`, which is the acquisition source).
    attributes.insert("tracked_by".to_owned(), source.to_owned());
    Activity {
        // Namespaced by source: two sources may use the same event ids.
        id: format!("track:{source}:{}", event.id),
        lead_id,
        kind: event.kind,
        occurred_at: event.occurred_at,
        hand_raiser: event.hand_raiser,
        attributes,
    }
}

fn activity_commit(activity: Activity) -> Commit {
    let message = ActivityMessage {
        lead_id: activity.lead_id.clone(),
        activity_id: activity.id.clone(),
    };
    let mut commit = Commit::claiming(format!("tracking:{}", activity.id), None);
    commit.outbox.push(Message {
        topic: Topic::Activities,
        // Not the activity id: its event part is the caller's, and message ids are logged.
        id: message_id(&activity.id),
        // Two ids: serialising cannot fail.
        body: serde_json::to_string(&message).unwrap_or_default(),
        delay_seconds: 0,
    });
    commit.activities.push(activity);
    commit
}

/// The queue message id of a tracked activity: `activity:` and the SHA-256 of its id, unique as
/// the id is, and free of whatever the caller put in it.
fn message_id(activity_id: &str) -> String {
    let digest = Sha256::digest(activity_id.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("activity:{hex}")
}
