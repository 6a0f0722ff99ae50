//! Erasure: deleting a person.
//!
//! `DELETE /leads/{id}` (admins only) removes the person's personal data and keeps what is
//! anonymous, so reports do not change:
//!
//! * the lead: e-mail, phone and profile are cleared (attribution, owner, grade, score and the
//!   journey are not personal and stay, so the lead still counts where it counted);
//! * the free-text notes given with reasons (stored apart from the transitions for this
//!   reason) and the score explanation are deleted;
//! * transitions and counters are kept: they hold ids, stages, times, codes and dimensions,
//!   never personal data;
//! * an audit document records who erased the lead and when (ids only).
//!
//! Afterwards the lead is gone for the API (404 on every lead path, left out of listings),
//! while its anonymous transitions keep counting in reports.
//!
//! Known shortcomings, each needing a port change owned elsewhere:
//! * the store's identity index keeps the old e-mail (and phone) pointing at the lead; the
//!   `Commit` has no way to retire an identity. Needed: `LeadWrite::retired_identities`.
//! * activities cannot be rewritten (an activity id is written once). Their `attributes` are
//!   by contract never personal data, so nothing personal should remain there, but this
//!   cannot scrub one that broke the contract.
//! * messages already queued carry ids only (by contract), so none needs scrubbing.

use crate::{
    actions::NOTE_COLLECTION,
    auth::{Principal, Role},
    error::{ApiError, ApiResult},
    http, leads, Deps,
};
use lambda_http::{Body, Request, Response};
use lifecycle::{Lead, LeadId, Profile};
use ports::{Commit, CommitOutcome, Document, DocumentWrite, Expect, LeadWrite};

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
        let commit = erasure_commit(deps, who, &lead).await?;
        match deps.journey.commit(commit).await? {
            CommitOutcome::Committed => return summary(&lead_id),
            // The lead moved (or the audit record was written concurrently): decide again.
            CommitOutcome::Conflict { .. } | CommitOutcome::Duplicate { .. } => continue,
        }
    }
    Err(ApiError::StageConflict(
        "the lead kept changing while it was being erased; try again".into(),
    ))
}

async fn erasure_commit(deps: &Deps, who: &Principal, lead: &Lead) -> ApiResult<Commit> {
    let now = deps.clock.now();
    let mut scrubbed = lead.clone();
    scrubbed.email = None;
    scrubbed.phone = None;
    scrubbed.profile = Profile::default();
    scrubbed.version = lead.version + 1;
    scrubbed.updated_at = now;

    let mut documents: Vec<DocumentWrite> = leads::lead_documents(deps, NOTE_COLLECTION, &lead.id)
        .await?
        .into_iter()
        .map(|d| delete(d.collection, d.key))
        .collect();
    documents.push(delete(
        leads::SCORE_COLLECTION.to_owned(),
        lead.id.to_string(),
    ));
    documents.push(DocumentWrite::Put {
        doc: Document {
            collection: AUDIT_COLLECTION.to_owned(),
            key: lead.id.to_string(),
            version: lead.version + 1,
            index: None,
            body: serde_json::json!({ "erased_at": now, "erased_by": who.sub }),
            expires_at: None,
        },
        expect: Expect::Any,
    });

    Ok(Commit {
        lead: Some(LeadWrite {
            lead: scrubbed,
            expect: Expect::Version(lead.version),
            new_identities: Vec::new(),
        }),
        documents,
        ..Commit::default()
    })
}

fn delete(collection: String, key: String) -> DocumentWrite {
    DocumentWrite::Delete {
        collection,
        key,
        expect: Expect::Any,
    }
}

fn summary(id: &LeadId) -> ApiResult<Response<Body>> {
    http::json(
        200,
        &serde_json::json!({
            "lead_id": id,
            "erased": ["email", "phone", "profile", "reason_notes", "score_explanation"],
            "kept": ["transitions", "counters", "attribution", "activities"],
        }),
    )
}
