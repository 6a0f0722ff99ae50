//! The documents routing reads and writes, by collection, and typed access to them.
//!
//! | collection | key | body |
//! |---|---|---|
//! | `config` | `routing` | [`RoutingConfig`](lifecycle::routing::RoutingConfig) |
//! | `config` | `sla_policies` | [`SlaPolicies`](lifecycle::sla::SlaPolicies) |
//! | `calendar` | pool id, or `default` | [`BusinessCalendar`](lifecycle::sla::BusinessCalendar) |
//! | `rep` | rep id | the API's rep document, or [`RepAvailability`](lifecycle::routing::RepAvailability) (see [`load_rep`]) |
//! | `rep_load` | rep id | [`LoadCounter`](lifecycle::routing::LoadCounter) |
//! | `account` | company domain | [`AccountOwner`] |
//! | `rotation` | pool id | [`RotationState`](lifecycle::routing::RotationState) |
//! | `routing_decision` | `<lead>:<cycle>:<attempt>` | [`RoutingDecision`](lifecycle::routing::RoutingDecision) |
//! | `overflow` | `<queue>:<lead>` | [`OverflowEntry`], indexed by the time it was queued |
//! | `sla_clock` | clock id | [`SlaClock`](lifecycle::sla::SlaClock), indexed by its next wake-up |
//! | `sla_outcome` | `<due day>/<clock id>` | [`ClockOutcome`]: a clock's final outcome |
//! | `sla_outcome_recorded` | `<recorded day>/<recorded at>/<clock id>` | the same outcome, found by when it was stored |
//!
//! A clock's outcome is final once it stops or the sweep acts on its breach, and that commit
//! stores it twice ([`outcome_writes`]): under its due day, so a report of a period lists the
//! period's days by key prefix (one query a day, no index, no scan), and under the day it was
//! stored, so the nightly rollup finds the outcomes stored since its last run the same way
//! and restates the days they are due on.
//!
//! Every write is conditional on the version read ([`Versioned`]), so two routers that read
//! the same rotation cannot both commit.

use crate::error::RoutingError;
use chrono::{NaiveDate, SecondsFormat};
use lifecycle::{
    funnel::ClockOutcome,
    routing::{OutOfOffice, RepAvailability},
    sla::{BusinessCalendar, SlaClock},
    transition::Dimensions,
    LeadId, RepId, Timestamp,
};
use ports::{Document, DocumentStore, DocumentWrite, Expect};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Collection of configuration documents.
pub const CONFIG: &str = "config";
/// Key of the routing configuration.
pub const ROUTING_CONFIG: &str = "routing";
/// Key of the SLA policies.
pub const SLA_POLICIES: &str = "sla_policies";
/// Collection of business calendars.
pub const CALENDAR: &str = "calendar";
/// Key of the calendar used by pools without their own.
pub const DEFAULT_CALENDAR: &str = "default";
/// Collection of rep availability.
pub const REP: &str = "rep";
/// Collection of rep load counters.
pub const REP_LOAD: &str = "rep_load";
/// Collection of account owners.
pub const ACCOUNT: &str = "account";
/// Collection of rotation states.
pub const ROTATION: &str = "rotation";
/// Collection of routing decisions.
pub const DECISION: &str = "routing_decision";
/// Collection of leads waiting in overflow queues.
pub const OVERFLOW: &str = "overflow";
/// Collection of SLA clocks.
pub const SLA_CLOCK: &str = "sla_clock";
/// Collection of final SLA clock outcomes, keyed by due day.
pub const SLA_OUTCOME: &str = "sla_outcome";
/// Collection of final SLA clock outcomes, keyed by the day they were stored.
pub const SLA_OUTCOME_RECORDED: &str = "sla_outcome_recorded";

/// The key prefix of the outcomes due on `day` (UTC) in [`SLA_OUTCOME`], or stored on `day`
/// in [`SLA_OUTCOME_RECORDED`].
pub fn day_prefix(day: NaiveDate) -> String {
    format!("{day}/")
}

/// The writes that store `after`'s final outcome, if writing `after` over `before` (`None`
/// for a clock new in this commit) is what makes it final; none otherwise. `lead` gives the
/// groups besides rep and team. Both writes expect nothing stored: the clock's own version
/// check lets only one commit make the outcome final, so a second is a bug to refuse.
pub fn outcome_writes(
    before: Option<&SlaClock>,
    after: &SlaClock,
    lead: &Dimensions,
    now: Timestamp,
) -> Result<Vec<DocumentWrite>, RoutingError> {
    if !after.outcome_recorded_by(before) {
        return Ok(Vec::new());
    }
    let Some(outcome) = after.outcome(now) else {
        return Ok(Vec::new());
    };
    let outcome = outcome.with_lead_dims(lead);
    let due_key = format!(
        "{}{}",
        day_prefix(outcome.due_at.date_naive()),
        outcome.clock
    );
    let recorded_key = format!(
        "{}{}/{}",
        day_prefix(now.date_naive()),
        now.to_rfc3339_opts(SecondsFormat::Micros, true),
        outcome.clock
    );
    Ok(vec![
        put(SLA_OUTCOME, &due_key, &outcome, 0, None)?,
        put(SLA_OUTCOME_RECORDED, &recorded_key, &outcome, 0, None)?,
    ])
}

/// Every outcome stored under `prefix` in `collection`, a page at a time.
pub async fn outcomes(
    docs: &dyn DocumentStore,
    collection: &str,
    prefix: &str,
) -> Result<Vec<ClockOutcome>, RoutingError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = docs
            .list(collection, prefix, cursor, ports::MAX_PAGE)
            .await?;
        for doc in page.items {
            let outcome =
                serde_json::from_value(doc.body).map_err(|source| RoutingError::BadDocument {
                    collection: collection.to_owned(),
                    key: doc.key.clone(),
                    source,
                })?;
            out.push(outcome);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// The key of a lead's routing decision in [`DECISION`]: `<lead>:<cycle>:<attempt>`.
pub fn decision_key(lead: &LeadId, cycle: u32, attempt: u32) -> String {
    format!("{lead}:{cycle}:{attempt}")
}

/// The cycle and attempt of a decision key, if it is `lead`'s. A lead id may itself hold a
/// `:`, so another lead's keys can share the prefix `<lead>:`; this tells them apart.
pub fn decision_of(key: &str, lead: &LeadId) -> Option<(u32, u32)> {
    let mut parts = key.rsplitn(3, ':');
    let attempt = parts.next()?.parse().ok()?;
    let cycle = parts.next()?.parse().ok()?;
    (parts.next()? == lead.as_str()).then_some((cycle, attempt))
}

/// Who owns a company (by domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOwner {
    /// The owner.
    pub owner: RepId,
}

/// A lead waiting in an overflow queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowEntry {
    /// The queue.
    pub queue: String,
    /// The pool it overflowed from.
    pub pool: String,
    /// The lead.
    pub lead: LeadId,
    /// The lead's cycle.
    pub cycle: u32,
    /// When it was queued.
    pub queued_at: Timestamp,
    /// Why it was queued; absent on entries stored before the cause was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<OverflowCause>,
}

/// Why a lead went to an overflow queue. Entries name what explains them (the decision, the
/// clock) rather than copy it, so the explanation is stored once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OverflowCause {
    /// Routing found no eligible member; the decision lists every candidate and why each was
    /// excluded.
    NobodyEligible {
        /// The decision's key in [`DECISION`].
        decision: String,
    },
    /// The SLA sweep took the lead from an owner who let a clock lapse once the reassignments
    /// the policy allows were used up.
    SlaEscalation {
        /// The clock whose breach moved it.
        clock: String,
        /// The owner it was taken from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<RepId>,
    },
}

/// A document's body with the version it was read at (0 when it was absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The body.
    pub value: T,
    /// The version read; 0 for a document that does not exist yet.
    pub version: u64,
}

impl<T: Serialize> Versioned<T> {
    /// A write of `self.value` that succeeds only if nobody wrote since it was read.
    pub fn write(
        &self,
        collection: &str,
        key: &str,
        index: Option<String>,
    ) -> Result<DocumentWrite, RoutingError> {
        put(collection, key, &self.value, self.version, index)
    }
}

/// Reads and decodes a document.
pub async fn load<T: DeserializeOwned>(
    docs: &dyn DocumentStore,
    collection: &str,
    key: &str,
) -> Result<Option<Versioned<T>>, RoutingError> {
    let Some(doc) = docs.get(collection, key).await? else {
        return Ok(None);
    };
    let value = serde_json::from_value(doc.body).map_err(|source| RoutingError::BadDocument {
        collection: collection.to_owned(),
        key: key.to_owned(),
        source,
    })?;
    Ok(Some(Versioned {
        value,
        version: doc.version,
    }))
}

/// The business calendar clocks of `pool` count in: the pool's own, else the `default` one;
/// `None` when neither is stored (and so no clock can be started).
pub async fn calendar(
    docs: &dyn DocumentStore,
    pool: &str,
) -> Result<Option<BusinessCalendar>, RoutingError> {
    for key in [pool, DEFAULT_CALENDAR] {
        if let Some(found) = load::<BusinessCalendar>(docs, CALENDAR, key).await? {
            return Ok(Some(found.value));
        }
    }
    Ok(None)
}

/// Reads a document, or starts from `T::default()` at version 0.
pub async fn load_or_default<T: DeserializeOwned + Default>(
    docs: &dyn DocumentStore,
    collection: &str,
    key: &str,
) -> Result<Versioned<T>, RoutingError> {
    let found = load(docs, collection, key).await?;
    Ok(found.unwrap_or(Versioned {
        value: T::default(),
        version: 0,
    }))
}

/// A conditional write: the new version is `read_version + 1`, and the store must still hold
/// `read_version` (or nothing, for 0).
pub fn put<T: Serialize>(
    collection: &str,
    key: &str,
    value: &T,
    read_version: u64,
    index: Option<String>,
) -> Result<DocumentWrite, RoutingError> {
    let body = serde_json::to_value(value).map_err(RoutingError::Encode)?;
    let expect = match read_version {
        0 => Expect::Absent,
        v => Expect::Version(v),
    };
    let doc = Document {
        collection: collection.to_owned(),
        key: key.to_owned(),
        version: read_version + 1,
        index,
        body,
        expires_at: None,
    };
    Ok(DocumentWrite::Put { doc, expect })
}

/// A rep's document as the API writes it (`PUT /reps/{id}`): the id is the key, absences sit
/// under `availability`, and the fields routing does not use (name, team, cap, pools) are
/// ignored here.
#[derive(Deserialize)]
struct ApiRep {
    #[serde(default = "active_by_default")]
    active: bool,
    #[serde(default)]
    availability: ApiAvailability,
}

#[derive(Default, Deserialize)]
struct ApiAvailability {
    #[serde(default)]
    out_of_office: Vec<ApiWindow>,
}

#[derive(Deserialize)]
struct ApiWindow {
    from: Timestamp,
    to: Timestamp,
}

fn active_by_default() -> bool {
    true
}

/// A rep's availability from their document in [`REP`].
///
/// Two shapes share the collection: the API's rep document (what an admin stores with
/// `PUT /reps/{id}`, and what the local stack seeds), and a plain [`RepAvailability`], which
/// names its rep in a `rep` field. A document with a `rep` field is read as the latter; any
/// other as the former, so a rep created or marked out of office through the API is routed
/// (or not) accordingly.
pub async fn load_rep(
    docs: &dyn DocumentStore,
    rep: &RepId,
) -> Result<Option<Versioned<RepAvailability>>, RoutingError> {
    let Some(doc) = docs.get(REP, rep.as_str()).await? else {
        return Ok(None);
    };
    let bad = |source| RoutingError::BadDocument {
        collection: REP.to_owned(),
        key: rep.as_str().to_owned(),
        source,
    };
    let value = if doc.body.get("rep").is_some() {
        serde_json::from_value(doc.body).map_err(bad)?
    } else {
        let api: ApiRep = serde_json::from_value(doc.body).map_err(bad)?;
        RepAvailability {
            rep: rep.clone(),
            active: api.active,
            working_hours: None,
            out_of_office: api
                .availability
                .out_of_office
                .into_iter()
                .map(|w| OutOfOffice {
                    from: w.from,
                    until: w.to,
                })
                .collect(),
        }
    };
    Ok(Some(Versioned {
        value,
        version: doc.version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_key_names_its_lead_cycle_and_attempt() {
        let lead = LeadId::new("a:b");
        let key = decision_key(&lead, 2, 1);
        assert_eq!(key, "a:b:2:1");
        assert_eq!(decision_of(&key, &lead), Some((2, 1)));
        assert_eq!(decision_of("a:b:2:1", &LeadId::new("a")), None);
        assert_eq!(decision_of("a:b:x:1", &lead), None);
    }
}
