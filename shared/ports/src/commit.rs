//! The atomic unit of change: a [`Commit`].
//!
//! Almost everything a commit does only adds: a new lead version, new transitions, new
//! activities, increments. Two operations take something back, and exist for erasure (a person
//! asks to be forgotten): [`Commit::released_identities`] unpoints an e-mail or phone from its
//! lead, so that no lookup finds the lead by it any more and another lead may claim it, and
//! [`Commit::rewritten_activities`] stores a scrubbed copy over a stored activity. Both are
//! conditional like every other write, so an erasure is as atomic as any commit, and both are
//! idempotent, so an erasure that is retried or repeated changes nothing more.

use crate::{document::DocumentWrite, error::StoreError, queue::Message};
use lifecycle::{
    funnel::CounterDelta, Activity, Email, Lead, LeadId, Phone, Timestamp, Transition,
};
use std::collections::HashSet;

/// What a conditional write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Nothing is stored under the key.
    Absent,
    /// The stored item has this version.
    Version(u64),
    /// Anything (an unconditional write).
    Any,
}

/// An idempotency claim: the key of the event (webhook delivery, SQS message, API request)
/// whose effects the commit holds. A key can be claimed once; the claim remembers the messages
/// the commit sent, so a duplicate can send them again if the first attempt crashed between
/// committing and sending.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The key, namespaced by who claims it (`webhook:typeform:<event_id>`).
    pub key: String,
    /// When the claim may be forgotten (after the provider's retry window).
    pub expires_at: Option<Timestamp>,
}

/// The lead written by a commit.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadWrite {
    /// The lead as it is to be stored; its `version` must be `expect`'s version + 1 (or 1 for
    /// a new lead).
    pub lead: Lead,
    /// What must be stored now.
    pub expect: Expect,
    /// Identities (e-mail, phone) to point at this lead; each must not point at another lead.
    pub new_identities: Vec<Identity>,
}

/// An identity key of a lead.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The normalised e-mail.
    Email(Email),
    /// The phone (fallback identity of an incomplete lead).
    Phone(Phone),
}

/// An identity to release: it stops pointing at `lead_id`. Releasing an identity that points
/// at nothing is a no-op; one that points at another lead refuses the commit (`Conflict`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentityRelease {
    /// The e-mail or phone.
    pub identity: Identity,
    /// The lead it must point at, if it points anywhere.
    pub lead_id: LeadId,
}

/// Everything one event changes, applied all or nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    /// Idempotency claims; if any is taken, nothing is written.
    pub claims: Vec<Claim>,
    /// The lead.
    pub lead: Option<LeadWrite>,
    /// New transitions (append-only; a transition's `(lead_id, seq)` can be written once).
    pub transitions: Vec<Transition>,
    /// New activities.
    pub activities: Vec<Activity>,
    /// Counter increments.
    pub counters: Vec<CounterDelta>,
    /// Document writes.
    pub documents: Vec<DocumentWrite>,
    /// Messages to send once the commit holds.
    pub outbox: Vec<Message>,
    /// Identities to release (erasure). An identity may not be both released and claimed by
    /// one commit.
    pub released_identities: Vec<IdentityRelease>,
    /// Activities stored over the stored activity with the same lead, id and `occurred_at`
    /// (erasure scrubs them). Unlike [`activities`](Self::activities), whose first write is
    /// kept, these replace; an activity that is not stored refuses the commit (`Conflict`).
    pub rewritten_activities: Vec<Activity>,
}

/// How a commit ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    /// Everything was written; the outbox was handed to the queue (embedded: in the same
    /// transaction; AWS: right after, and again on a duplicate).
    Committed,
    /// A claim was taken already: nothing was written. `outbox` holds the messages the first
    /// commit recorded, for the caller to send again (consumers are idempotent).
    Duplicate {
        /// The claim that was taken.
        key: String,
        /// The first commit's messages.
        outbox: Vec<Message>,
    },
    /// A condition failed (a version moved, a document exists, an identity points elsewhere):
    /// nothing was written. Re-read and decide again.
    Conflict {
        /// What conflicted, for the log (ids only).
        what: String,
    },
}

impl Commit {
    /// A commit that claims `key` first.
    pub fn claiming(key: impl Into<String>, expires_at: Option<Timestamp>) -> Self {
        Self {
            claims: vec![Claim {
                key: key.into(),
                expires_at,
            }],
            ..Self::default()
        }
    }

    /// The lead id written, if any.
    pub fn lead_id(&self) -> Option<&LeadId> {
        self.lead.as_ref().map(|w| &w.lead.id)
    }

    /// Refuses a commit whose releases or rewrites contradict the rest of it: an identity both
    /// claimed and released, or an activity both added and rewritten (or rewritten twice).
    /// Adapters call it before writing anything; the message names ids only.
    pub fn check_releases_and_rewrites(&self) -> Result<(), StoreError> {
        let claimed: HashSet<&Identity> = self
            .lead
            .iter()
            .flat_map(|w| w.new_identities.iter())
            .collect();
        if let Some(r) = self
            .released_identities
            .iter()
            .find(|r| claimed.contains(&r.identity))
        {
            return Err(StoreError::Invalid(format!(
                "an identity of lead {} is both claimed and released",
                r.lead_id
            )));
        }
        let mut ids: HashSet<&str> = self.activities.iter().map(|a| a.id.as_str()).collect();
        if let Some(a) = self
            .rewritten_activities
            .iter()
            .find(|a| !ids.insert(a.id.as_str()))
        {
            return Err(StoreError::Invalid(format!(
                "activity {} of lead {} is written twice",
                a.id, a.lead_id
            )));
        }
        Ok(())
    }
}
