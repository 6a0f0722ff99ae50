//! Storage ports.
//!
//! [`JourneyStore`] holds leads, their transitions and activities, and applies [`Commit`]s.
//! [`DocumentStore`] holds versioned documents. One adapter usually implements both; they are
//! separate so a function asks only for what it uses.
//!
//! Listings return a [`Page`] with an opaque cursor: pass it back unchanged to get the next
//! page. A `limit` above [`MAX_PAGE`](crate::MAX_PAGE) is capped to it; a `limit` of 0 is a bug
//! in the caller and is refused. Items (claims, documents) with an `expires_at` that has passed
//! are treated as gone: reads skip them and an `Expect::Absent` write or a claim succeeds over
//! them, whether or not the store has purged them yet.

use crate::{
    commit::{Commit, CommitOutcome},
    document::{Document, Page},
    error::StoreError,
};
use async_trait::async_trait;
use lifecycle::{
    funnel::CounterKey, Activity, Email, Lead, LeadId, Phone, RepId, Stage, Timestamp, Transition,
};

/// The rep whose open leads include `lead` ([`JourneyStore::open_leads_of`]): its owner while
/// it is an MQL, a SAL or an SQL. A won, disqualified or recycled lead is no longer on its
/// rep's list, nor is a lead without an owner. Every adapter indexes leads by this.
pub fn open_owner(lead: &Lead) -> Option<&RepId> {
    let open = matches!(lead.stage(), Stage::Mql | Stage::Sal | Stage::Sql);
    lead.owner.as_ref().filter(|_| open)
}

/// Leads, their history, and atomic commits.
#[async_trait]
pub trait JourneyStore: Send + Sync {
    /// A lead by id.
    async fn lead(&self, id: &LeadId) -> Result<Option<Lead>, StoreError>;

    /// The lead an e-mail identifies.
    async fn lead_by_email(&self, email: &Email) -> Result<Option<Lead>, StoreError>;

    /// The lead a phone identifies (only leads that were incomplete when the phone was seen).
    async fn lead_by_phone(&self, phone: &Phone) -> Result<Option<Lead>, StoreError>;

    /// A lead's transitions, in `seq` order.
    async fn transitions(&self, id: &LeadId) -> Result<Vec<Transition>, StoreError>;

    /// A lead's activities, oldest first.
    async fn activities(&self, id: &LeadId) -> Result<Vec<Activity>, StoreError>;

    /// Transitions *recorded* in `[from, to)`, oldest first, a page at a time. The rollup reads
    /// what changed since its watermark through this; it never scans every lead.
    async fn transitions_recorded(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Transition>, StoreError>;

    /// Transitions that took *effect* in `[from, to)`, by `effective_at` (then lead and `seq`),
    /// a page at a time. The rollup recomputes one day from these.
    async fn transitions_effective(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Transition>, StoreError>;

    /// Leads, newest first, a page at a time.
    async fn leads(&self, cursor: Option<String>, limit: usize) -> Result<Page<Lead>, StoreError>;

    /// The open leads of `rep` (see [`open_owner`]), least recently updated first (then by
    /// id), a page at a time: a rep's work list, read from an index rather than by walking
    /// every lead.
    async fn open_leads_of(
        &self,
        rep: &RepId,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Lead>, StoreError>;

    /// The value of a counter.
    async fn counter(&self, key: &CounterKey) -> Result<i64, StoreError>;

    /// Applies a commit all or nothing.
    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError>;
}

/// Versioned documents.
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// A document by collection and key.
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Document>, StoreError>;

    /// Documents of a collection whose key starts with `prefix`, in key order, a page at a time.
    async fn list(
        &self,
        collection: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Document>, StoreError>;

    /// Documents of a collection with an index value `<= upper`, in index order, at most
    /// `limit` (e.g. SLA clocks due by now).
    async fn due(
        &self,
        collection: &str,
        upper: &str,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError>;
}
