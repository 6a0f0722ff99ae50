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
    queue::Message,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use lifecycle::{
    funnel::CounterKey, Activity, Email, Lead, LeadId, Phone, RepId, Stage, Timestamp, Transition,
};
use serde::{Deserialize, Serialize};

/// The rep whose open leads include `lead` ([`JourneyStore::open_leads_of`]): its owner while
/// it is an MQL, a SAL or an SQL. A won, disqualified or recycled lead is no longer on its
/// rep's list, nor is a lead without an owner. Every adapter indexes leads by this.
pub fn open_owner(lead: &Lead) -> Option<&RepId> {
    let open = matches!(lead.stage(), Stage::Mql | Stage::Sal | Stage::Sql);
    lead.owner.as_ref().filter(|_| open)
}

/// The UTC days a store's transitions span: where day-by-day walks over the transitions start
/// and end, instead of at 1970 and at the end of time.
///
/// An adapter may answer wider than the truth (a day noted for a commit that then failed),
/// never narrower: every stored transition was recorded on or after `first_recorded` and took
/// effect between `first_effective` and `last_effective`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    /// The first day a transition was recorded.
    pub first_recorded: NaiveDate,
    /// The first day a transition took effect.
    pub first_effective: NaiveDate,
    /// The last day a transition took effect.
    pub last_effective: NaiveDate,
}

impl Extent {
    /// The extent of `transitions` (`None` for none).
    pub fn of<'a>(transitions: impl IntoIterator<Item = &'a Transition>) -> Option<Self> {
        transitions.into_iter().fold(None, |acc, t| {
            let (rec, eff) = (t.recorded_at.date_naive(), t.effective_at.date_naive());
            Some(match acc {
                None => Extent {
                    first_recorded: rec,
                    first_effective: eff,
                    last_effective: eff,
                },
                Some(e) => Extent {
                    first_recorded: e.first_recorded.min(rec),
                    first_effective: e.first_effective.min(eff),
                    last_effective: e.last_effective.max(eff),
                },
            })
        })
    }

    /// The extent covering both.
    fn of_both(a: Extent, b: Extent) -> Option<Extent> {
        Some(Extent {
            first_recorded: a.first_recorded.min(b.first_recorded),
            first_effective: a.first_effective.min(b.first_effective),
            last_effective: a.last_effective.max(b.last_effective),
        })
    }

    /// Midnight (UTC) starting `day`.
    pub fn midnight(day: NaiveDate) -> Timestamp {
        Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
    }

    /// The instant just after the last effective day.
    pub fn effective_end(&self) -> Timestamp {
        Self::midnight(self.last_effective) + chrono::Duration::days(1)
    }
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

    /// The days the stored transitions span, or `None` when there are none.
    ///
    /// The default reads every transition (fine for a small store or a test double); adapters
    /// answer from an index or a few marker items instead.
    async fn extent(&self) -> Result<Option<Extent>, StoreError> {
        let from = DateTime::<Utc>::UNIX_EPOCH;
        let to = Utc
            .with_ymd_and_hms(9999, 12, 31, 0, 0, 0)
            .single()
            .unwrap_or(from);
        let mut found: Option<Extent> = None;
        let mut cursor = None;
        loop {
            let page = self
                .transitions_recorded(from, to, cursor, crate::MAX_PAGE)
                .await?;
            let more = Extent::of(&page.items);
            found = match (found, more) {
                (Some(a), Some(b)) => Extent::of_both(a, b),
                (a, b) => a.or(b),
            };
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(found),
            }
        }
    }

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

    /// The outbox of the commit that took the claim `key`, if the claim is still held now;
    /// `None` if it is free or has expired.
    ///
    /// A read for a handler that would otherwise read other things before committing (the
    /// form webhook looks the lead up first): asked beside those reads, it lets a redelivery be
    /// answered after one round trip instead of after the reads and a refused commit. It
    /// decides nothing: the commit's own claim is what makes an event count once, and a store
    /// that cannot answer cheaply may keep this default, which says "not held".
    async fn held_claim(&self, key: &str) -> Result<Option<Vec<Message>>, StoreError> {
        let _ = key;
        Ok(None)
    }
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
