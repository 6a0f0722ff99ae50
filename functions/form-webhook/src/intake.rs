//! Intake: one verified, parsed item into the store, exactly once.
//!
//! For a submission, one [`Commit`] holds everything: the claim `webhook:<provider>:<key>`,
//! the lead (found by e-mail, then by phone, or new), the `New` transition of a new lead
//! (decided by [`JourneyState::decide`]) with its funnel counters, the activity (`FormSubmitted`
//! or `DemoBooked`, with its hand-raiser flag), the answers kept as a `form_submission`
//! document, and an outbox message to [`Topic::Activities`] carrying ids only. If the claim is
//! taken the store writes nothing and answers `Duplicate`; its recorded outbox is sent again
//! (consumers are idempotent) in case the first attempt died between commit and send. The
//! claim is also read beside the lead lookup ([`JourneyStore::held_claim`]), so that a
//! redelivery is recognised before any commit is tried. A `Conflict` (someone else wrote the
//! lead) is retried from a fresh read.
//!
//! An existing lead is only filled in: a value it already has is never replaced, so a second
//! person's submission can never overwrite the first person's data, and a phone only
//! identifies a lead that has no e-mail.

use crate::{
    config::Config,
    error::WebhookError,
    normalise::{normalise, Submission},
    provider::{FetchRequest, Item, Provider},
    Timestamp,
};
use futures_util::future::join;
use lifecycle::{
    funnel::counter_deltas, Activity, Actor, CauseId, JourneyState, Lead, LeadId, Stage,
    StageEvent, StageOutcome,
};
use ports::{
    commit::Identity, Commit, CommitOutcome, Document, DocumentWrite, Expect, JourneyStore,
    LeadWrite, Message, Queue, Topic,
};
use std::{collections::BTreeMap, sync::Arc};

/// How many times a conflicting commit is retried from a fresh read before giving up (the
/// provider then retries the delivery, after a 503).
///
/// Of N deliveries for one person committing at once, one wins each round, so the last needs N
/// attempts: 20 covers a burst of 20 for one lead (five gave 503s to 2 of 16 parallel
/// deliveries). Each attempt is a read and a conditional write, milliseconds apiece.
const MAX_ATTEMPTS: usize = 20;

/// How long a claim is kept: longer than any provider's retry window (HubSpot's is 3 days).
const CLAIM_TTL_DAYS: i64 = 30;

/// The collection holding each submission's answers.
pub const SUBMISSIONS: &str = "form_submission";

/// What became of one item of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// A new lead was created.
    Created(LeadId),
    /// An existing lead was found and filled in.
    Updated(LeadId),
    /// The claim was taken: a redelivery, nothing changed.
    Duplicate,
    /// The lead will be fetched from the provider (Meta).
    FetchQueued,
    /// The event carries nothing to store; its key is claimed.
    Ignored,
}

impl ItemOutcome {
    /// A stable name for logs and the response body.
    pub fn as_str(&self) -> &'static str {
        match self {
            ItemOutcome::Created(_) => "created",
            ItemOutcome::Updated(_) => "updated",
            ItemOutcome::Duplicate => "duplicate",
            ItemOutcome::FetchQueued => "fetch_queued",
            ItemOutcome::Ignored => "ignored",
        }
    }
}

/// The intake pipeline, over the store and queue ports.
#[derive(Clone)]
pub struct Intake {
    store: Arc<dyn JourneyStore>,
    queue: Arc<dyn Queue>,
}

impl Intake {
    /// An intake writing to `store` and re-sending duplicates' outboxes through `queue`.
    pub fn new(store: Arc<dyn JourneyStore>, queue: Arc<dyn Queue>) -> Self {
        Self { store, queue }
    }

    /// Stores one item of a delivery.
    pub async fn process(
        &self,
        provider: Provider,
        item: &Item,
        config: &Config,
        now: Timestamp,
    ) -> Result<ItemOutcome, WebhookError> {
        let claim = claim_key(provider, item.delivery_key());
        match item {
            Item::Submission(e) => {
                let form = config.form(provider, e.form_id.as_deref());
                let submission = normalise(provider, e, form, now);
                self.store_submission(&submission, &claim, now).await
            }
            Item::Fetch(fetch) => self.queue_fetch(fetch, &claim, now).await,
            Item::Ignored { .. } => {
                let commit = Commit::claiming(&claim, Some(expiry(now)));
                match self.commit(commit).await? {
                    CommitOutcome::Committed => Ok(ItemOutcome::Ignored),
                    _ => Ok(ItemOutcome::Duplicate),
                }
            }
        }
    }

    /// Stores a normalised submission under the claim `claim`.
    pub async fn store_submission(
        &self,
        s: &Submission,
        claim: &str,
        now: Timestamp,
    ) -> Result<ItemOutcome, WebhookError> {
        // The claim is read beside the lead, not before it: a redelivery is answered after
        // one round trip, and a new delivery still takes two (these reads, then the commit).
        let (held, found) = join(self.store.held_claim(claim), self.find(s)).await;
        if let Some(outbox) = held? {
            self.resend(&outbox).await?;
            return Ok(ItemOutcome::Duplicate);
        }

        let mut found = Some(found?);
        for _ in 0..MAX_ATTEMPTS {
            let existing = match found.take() {
                Some(first) => first,
                None => self.find(s).await?,
            };
            let created = existing.is_none();
            let commit = build_commit(s, existing, claim, now);
            let lead_id = commit.lead_id().cloned();
            match self.commit(commit).await? {
                CommitOutcome::Committed => {
                    let id = lead_id.unwrap_or_else(|| LeadId::new(""));
                    return Ok(if created {
                        ItemOutcome::Created(id)
                    } else {
                        ItemOutcome::Updated(id)
                    });
                }
                CommitOutcome::Duplicate { .. } => return Ok(ItemOutcome::Duplicate),
                CommitOutcome::Conflict { what } => {
                    tracing::debug!(conflict = %what, "lead changed under us; retrying from a fresh read");
                }
            }
        }
        Err(WebhookError::Contended)
    }

    /// Commits, and on a duplicate sends the first commit's messages again.
    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, WebhookError> {
        let outcome = self.store.commit(commit).await?;
        if let CommitOutcome::Duplicate { outbox, .. } = &outcome {
            self.resend(outbox).await?;
        }
        Ok(outcome)
    }

    /// Sends a duplicate's stored messages again: the first delivery may have stopped after
    /// its commit and before its messages left (consumers drop what they have seen).
    async fn resend(&self, outbox: &[Message]) -> Result<(), WebhookError> {
        if !outbox.is_empty() {
            self.queue.send(outbox).await?;
        }
        Ok(())
    }

    async fn queue_fetch(
        &self,
        fetch: &FetchRequest,
        claim: &str,
        now: Timestamp,
    ) -> Result<ItemOutcome, WebhookError> {
        let mut commit = Commit::claiming(claim, Some(expiry(now)));
        commit.outbox.push(Message {
            topic: Topic::LeadFetch,
            id: claim.to_owned(),
            body: serde_json::to_string(fetch).unwrap_or_default(),
            delay_seconds: 0,
        });
        match self.commit(commit).await? {
            CommitOutcome::Committed => Ok(ItemOutcome::FetchQueued),
            _ => Ok(ItemOutcome::Duplicate),
        }
    }

    /// The lead this submission belongs to: by e-mail, else by phone. A lead found by phone
    /// that already has another e-mail is another person.
    ///
    /// Both lookups go out together: a phone only decides when the e-mail finds nobody, but
    /// asking for it at once keeps a new lead with both at one round trip of reads.
    async fn find(&self, s: &Submission) -> Result<Option<Lead>, WebhookError> {
        let by_email = async {
            match &s.email {
                Some(email) => self.store.lead_by_email(email).await,
                None => Ok(None),
            }
        };
        let by_phone = async {
            match &s.phone {
                Some(phone) => self.store.lead_by_phone(phone).await,
                None => Ok(None),
            }
        };
        let (by_email, by_phone) = join(by_email, by_phone).await;

        if let Some(lead) = by_email? {
            return Ok(Some(lead));
        }
        Ok(by_phone?.filter(|l| l.email.is_none() || l.email == s.email))
    }
}

/// The idempotency key of an item.
pub fn claim_key(provider: Provider, delivery_key: &str) -> String {
    format!("webhook:{}:{delivery_key}", provider.slug())
}

fn expiry(now: Timestamp) -> Timestamp {
    now + chrono::Duration::days(CLAIM_TTL_DAYS)
}

fn build_commit(s: &Submission, existing: Option<Lead>, claim: &str, now: Timestamp) -> Commit {
    let mut commit = Commit::claiming(claim, Some(expiry(now)));
    let (mut lead, expect) = match existing {
        Some(lead) => {
            let v = lead.version;
            (lead, Expect::Version(v))
        }
        None => (
            Lead::new(LeadId::new(ulid::Ulid::new().to_string()), now),
            Expect::Absent,
        ),
    };
    let new_identities = fill_in(&mut lead, s);
    lead.version += 1;
    lead.updated_at = now;

    if expect == Expect::Absent {
        enter_journey(&mut lead, &mut commit, claim, s.occurred_at, now);
    }
    commit.activities.push(activity(s, &lead.id, claim));
    commit.documents.push(record(s, &lead.id, claim, now));
    commit.outbox.push(Message {
        topic: Topic::Activities,
        id: claim.to_owned(),
        body: serde_json::json!({
            "activity_id": claim,
            "lead_id": lead.id,
            "hand_raiser": s.hand_raiser,
        })
        .to_string(),
        delay_seconds: 0,
    });
    commit.lead = Some(LeadWrite {
        lead,
        expect,
        new_identities,
    });
    commit
}

/// Fills the lead's blanks from the submission; returns the identities it gained.
fn fill_in(lead: &mut Lead, s: &Submission) -> Vec<Identity> {
    let mut identities = Vec::new();
    if lead.email.is_none() {
        if let Some(email) = &s.email {
            lead.email = Some(email.clone());
            identities.push(Identity::Email(email.clone()));
        }
    }
    if lead.phone.is_none() {
        if let Some(phone) = &s.phone {
            lead.phone = Some(phone.clone());
            // A phone identifies only a lead that has no e-mail (an incomplete lead).
            if lead.email.is_none() {
                identities.push(Identity::Phone(phone.clone()));
            }
        }
    }

    let p = &mut lead.profile;
    fill(&mut p.name, &s.name);
    fill(&mut p.company, &s.company);
    fill(&mut p.title, &s.title);
    fill(&mut p.country, &s.country);
    fill(&mut p.company_size, &s.company_size);
    fill(&mut p.industry, &s.industry);
    let a = &mut lead.attribution;
    fill(&mut a.source, &s.source);
    fill(&mut a.medium, &s.medium);
    fill(&mut a.campaign, &s.campaign);
    fill(&mut a.form, &s.form_id);
    identities
}

fn fill(slot: &mut Option<String>, value: &Option<String>) {
    if slot.is_none() {
        slot.clone_from(value);
    }
}

fn enter_journey(
    lead: &mut Lead,
    commit: &mut Commit,
    claim: &str,
    effective_at: Timestamp,
    now: Timestamp,
) {
    let event = StageEvent {
        to: Stage::New,
        cause: CauseId::new(claim),
        actor: Actor::System {
            component: "form-webhook".to_owned(),
        },
        reason: None,
        effective_at,
        recorded_at: now,
        dims: lead.dimensions(),
    };
    // A brand-new lead has no history, so entering at `New` is always applied; any other
    // outcome leaves the lead without a transition rather than failing the delivery.
    if let Ok(StageOutcome::Applied(t)) = JourneyState::decide(&lead.journey, &lead.id, &event) {
        lead.journey.push(&t);
        commit.counters.extend(counter_deltas(&t));
        commit.transitions.push(t);
    }
}

fn activity(s: &Submission, lead: &LeadId, claim: &str) -> Activity {
    let mut attributes = BTreeMap::from([("provider".to_owned(), s.provider.slug().to_owned())]);
    let extra = [
        ("form", &s.form_id),
        ("source", &s.source),
        ("medium", &s.medium),
        ("campaign", &s.campaign),
    ];
    for (name, value) in extra {
        if let Some(v) = value {
            attributes.insert(name.to_owned(), v.clone());
        }
    }
    Activity {
        id: claim.to_owned(),
        lead_id: lead.clone(),
        kind: s.activity,
        occurred_at: s.occurred_at,
        hand_raiser: s.hand_raiser,
        attributes,
    }
}

/// The answers, kept for the record (personal data: stored, never logged).
fn record(s: &Submission, lead: &LeadId, claim: &str, now: Timestamp) -> DocumentWrite {
    let body = serde_json::json!({
        "provider": s.provider.slug(),
        "delivery_key": s.delivery_key,
        "lead_id": lead,
        "form_id": s.form_id,
        "form_name": s.form_name,
        "occurred_at": s.occurred_at,
        "received_at": now,
        "hand_raiser": s.hand_raiser,
        "answers": s.answers,
        "free_text_truncated": s.free_text_truncated,
    });
    DocumentWrite::Put {
        doc: Document {
            collection: SUBMISSIONS.to_owned(),
            key: claim.to_owned(),
            version: 1,
            index: None,
            body,
            expires_at: None,
        },
        expect: Expect::Absent,
    }
}
