//! Erasure: deleting a person.
//!
//! `DELETE /leads/{id}` (admins only) removes the person's personal data and keeps what is
//! anonymous, so reports do not change:
//!
//! * the lead: e-mail, phone and profile are cleared (attribution, owner, grade, score and the
//!   journey are not personal and stay, so the lead still counts where it counted);
//! * its identities: the e-mail and phone are released, so neither finds the lead any more
//!   and a later submission with the same e-mail makes a new lead;
//! * its activities stay (ids, kinds, times, the hand-raiser flag: the score ledger and the
//!   timeline refer to them) but lose every attribute except the acquisition attribution our
//!   own intake writes ([`KEPT_ATTRIBUTES`]); tracking clients choose their own attributes, and
//!   a tracked URL may quote an e-mail;
//! * the answers of its form submissions (`form_submission/<activity id>`, raw free text
//!   included), the free-text notes given with reasons and the score explanation are deleted;
//! * transitions, counters, the score ledger (activity ids, rule ids, points) and opportunity
//!   amounts are kept: they hold ids, stages, times, codes, numbers and dimensions, never
//!   personal data;
//! * an audit document records who erased the lead and when (ids only).
//!
//! Afterwards the lead is gone for the API (404 on every lead path, left out of listings),
//! while its anonymous transitions keep counting in reports.
//!
//! A person with many activities needs more writes than one store transaction takes (DynamoDB:
//! 100 items), so the history is scrubbed first in batches of [`BATCH_WRITES`], each its own
//! commit, and the lead, its identities and the audit record go last, in one commit conditional
//! on the lead's version. Every step is idempotent, so an erasure cut short (a crash, a timeout)
//! is finished by asking again: until the last commit holds, the lead is not erased and the
//! request is accepted once more.
//!
//! Known gaps:
//! * messages already queued carry ids only (by contract: `ports::queue`), so none needs
//!   scrubbing; a message in flight on SQS cannot be recalled, and a consumer that reads the lead
//!   after erasure finds it scrubbed.
//! * the lead keeps its id, so a tracking client that still knows the id can add activities
//!   to the erased lead (with new attributes), and scoring still scores them; a marker on the
//!   lead that tracking and scoring honour would close this.
//! * the DynamoDB table's point-in-time recovery keeps earlier item versions for up to 35
//!   days. The embedded file zeroes what it deletes (`secure_delete`), but its write-ahead log
//!   keeps the pages as they were until the next checkpoint: SQLite's own (as the log grows),
//!   or the local runner's when a command or `serve` ends.
//! * routing decisions keep the lead's company domain (the part of the e-mail after `@`), the
//!   account it was matched on: it names the company, not the person, and the decision is the
//!   audit trail of who got the lead and why.

use crate::{
    actions::NOTE_COLLECTION,
    auth::{Principal, Role},
    error::{ApiError, ApiResult},
    http, leads, Deps,
};
use lambda_http::{Body, Request, Response};
use lifecycle::{Activity, Lead, LeadId, Profile};
use ports::{
    commit::Identity, Commit, CommitOutcome, Document, DocumentWrite, Expect, IdentityRelease,
    LeadWrite,
};

/// Where erasure audit records live (key: the lead id).
pub const AUDIT_COLLECTION: &str = "erasure";

/// Whether the lead's person was erased. Only a lead without e-mail and phone can be, so the
/// audit record is looked up only for those.
pub async fn is_erased(deps: &Deps, lead: &Lead) -> ApiResult<bool> {
    if lead.email.is_some() || lead.phone.is_some() {
        return Ok(false);
    }
    let audit = deps
        .documents
        .get(AUDIT_COLLECTION, lead.id.as_str())
        .await?;
    Ok(audit.is_some())
}

/// How often an erasure re-reads and retries when the lead moves under it.
const ATTEMPTS: usize = 5;

/// Where the form-webhook keeps a submission's answers, keyed by the claim that is also the
/// activity's id (`form_webhook::intake::SUBMISSIONS`; the api does not depend on that crate).
pub const SUBMISSION_COLLECTION: &str = "form_submission";

/// The activity attributes erasure keeps: the attribution the intake copies from the lead's
/// source (`provider`, `form`, `source`, `medium`, `campaign`) and the tracking source's name.
pub const KEPT_ATTRIBUTES: [&str; 6] = [
    "provider",
    "form",
    "source",
    "medium",
    "campaign",
    "tracked_by",
];

/// Writes per history commit: half of DynamoDB's 100 items per transaction, so that any
/// adapter takes a batch whole.
pub const BATCH_WRITES: usize = 50;

/// `DELETE /leads/{id}`
pub async fn erase(
    _req: &Request,
    deps: &Deps,
    who: &Principal,
    id: &str,
) -> ApiResult<Response<Body>> {
    who.require(&[Role::Admin], "erase a person")?;
    let lead_id = LeadId::new(id);
    for _ in 0..ATTEMPTS {
        let lead = deps
            .journey
            .lead(&lead_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("lead {id}")))?;
        if is_erased(deps, &lead).await? {
            return Err(ApiError::NotFound(format!("lead {id} (erased)")));
        }
        if !scrub_history(deps, &lead).await? {
            continue;
        }
        let commit = final_commit(deps, who, &lead).await?;
        match deps.journey.commit(commit).await? {
            CommitOutcome::Committed => {
                tracing::info!(lead_id = %lead_id, "lead erased");
                return summary(&lead_id);
            }
            // The lead moved (or the audit record was written concurrently): decide again.
            CommitOutcome::Conflict { .. } | CommitOutcome::Duplicate { .. } => continue,
        }
    }
    Err(ApiError::StageConflict(
        "the lead kept changing while it was being erased; try again".into(),
    ))
}

/// The activities' personal attributes, their form answers, the reason notes and the score
/// explanation, in commits of at most [`BATCH_WRITES`] writes. `false` when a batch conflicted
/// (an activity went away under it): the caller re-reads and starts again.
async fn scrub_history(deps: &Deps, lead: &Lead) -> ApiResult<bool> {
    let mut writes: Vec<HistoryWrite> = Vec::new();
    for activity in deps.journey.activities(&lead.id).await? {
        let submission = deps
            .documents
            .get(SUBMISSION_COLLECTION, &activity.id)
            .await?;
        if let Some(doc) = submission {
            writes.push(HistoryWrite::Document(delete(doc)));
        }
        if let Some(scrubbed) = scrubbed(&activity) {
            writes.push(HistoryWrite::Activity(scrubbed));
        }
    }
    let notes = leads::lead_documents(deps, NOTE_COLLECTION, &lead.id).await?;
    writes.extend(notes.into_iter().map(|d| HistoryWrite::Document(delete(d))));
    // The score ledger stays: it holds activity ids, rule ids, points and traces, nothing
    // personal, and the reports' grade and score history rest on it.

    for batch in writes.chunks(BATCH_WRITES) {
        let mut commit = Commit::default();
        for write in batch {
            match write {
                HistoryWrite::Activity(a) => commit.rewritten_activities.push(a.clone()),
                HistoryWrite::Document(d) => commit.documents.push(d.clone()),
            }
        }
        match deps.journey.commit(commit).await? {
            CommitOutcome::Committed => {}
            CommitOutcome::Conflict { .. } | CommitOutcome::Duplicate { .. } => return Ok(false),
        }
    }
    Ok(true)
}

/// One write of the history scrub.
enum HistoryWrite {
    Activity(Activity),
    Document(DocumentWrite),
}

/// The activity without the attributes erasure drops, or `None` when it has none to drop.
pub fn scrubbed(activity: &Activity) -> Option<Activity> {
    let kept = |name: &String| KEPT_ATTRIBUTES.contains(&name.as_str());
    if activity.attributes.keys().all(kept) {
        return None;
    }
    let mut scrubbed = activity.clone();
    scrubbed.attributes.retain(|name, _| kept(name));
    Some(scrubbed)
}

/// The lead without its person, its identities released, and the audit record.
async fn final_commit(deps: &Deps, who: &Principal, lead: &Lead) -> ApiResult<Commit> {
    let now = deps.clock.now();
    let mut scrubbed = lead.clone();
    scrubbed.email = None;
    scrubbed.phone = None;
    scrubbed.profile = Profile::default();
    scrubbed.version = lead.version + 1;
    scrubbed.updated_at = now;

    Ok(Commit {
        lead: Some(LeadWrite {
            lead: scrubbed,
            expect: Expect::Version(lead.version),
            new_identities: Vec::new(),
        }),
        released_identities: releases(deps, lead).await?,
        documents: vec![DocumentWrite::Put {
            doc: Document {
                collection: AUDIT_COLLECTION.to_owned(),
                key: lead.id.to_string(),
                version: lead.version + 1,
                index: None,
                body: serde_json::json!({ "erased_at": now, "erased_by": who.sub }),
                expires_at: None,
            },
            expect: Expect::Any,
        }],
        ..Commit::default()
    })
}

/// The identities to release: the lead's e-mail (a lead is given an e-mail only together
/// with its identity, so it always points here), and its phone if the phone identifies this
/// lead. A phone is an identity only while a lead has no e-mail, so a lead's phone may identify
/// another, incomplete lead, or nothing; that one is not this lead's to release. The phone is
/// looked up on the identity itself (strongly consistent in every adapter).
async fn releases(deps: &Deps, lead: &Lead) -> ApiResult<Vec<IdentityRelease>> {
    let mut identities: Vec<Identity> = lead.email.iter().cloned().map(Identity::Email).collect();
    if let Some(phone) = &lead.phone {
        let found = deps.journey.lead_by_phone(phone).await?;
        if found.is_some_and(|l| l.id == lead.id) {
            identities.push(Identity::Phone(phone.clone()));
        }
    }
    Ok(identities
        .into_iter()
        .map(|identity| IdentityRelease {
            identity,
            lead_id: lead.id.clone(),
        })
        .collect())
}

fn delete(doc: Document) -> DocumentWrite {
    DocumentWrite::Delete {
        collection: doc.collection,
        key: doc.key,
        expect: Expect::Version(doc.version),
    }
}

fn summary(id: &LeadId) -> ApiResult<Response<Body>> {
    http::json(
        200,
        &serde_json::json!({
            "lead_id": id,
            "erased": [
                "email", "phone", "profile", "identities", "activity_attributes",
                "form_answers", "reason_notes",
            ],
            "kept": [
                "transitions", "counters", "attribution", "activities", "score_ledger",
            ],
        }),
    )
}
