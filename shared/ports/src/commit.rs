//! The atomic unit of change: a [`Commit`].

use crate::{document::DocumentWrite, queue::Message};
use lifecycle::{
    funnel::CounterDelta, Activity, Email, Lead, LeadId, Phone, Timestamp, Transition,
};

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
}
