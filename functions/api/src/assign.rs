//! Assigning a lead by hand: `POST /leads/{id}/assign` with `{"rep_id": "...", "note"?: "..."}`.
//!
//! Admins assign any lead; managers the leads they may act on ([`leads::ensure_can_act`]:
//! their team's, and unowned ones, which is where the overflow queue's leads are). The lead
//! must be an MQL: unowned (overflowed, or still waiting for routing) or owned by another rep
//! (a reassignment). The rep must exist, be active, be in the office and have room under their
//! caps, as for the rotation (the design's invariant: nobody is given a lead while away or at a
//! cap); what only steers the rotation (hours, territory) is the manager's call and is recorded
//! on the decision. Naming the rep who already owns the lead is a 409 `stage-conflict`, not a quiet
//! success: it would record a decision that decided nothing, and the client most likely acted
//! on a stale read.
//!
//! The request takes the sales actions' headers and answers like them: `If-Match` (428 when
//! missing, 409 `stale-version` when moved; of two concurrent assignments on one version one
//! wins), and `Idempotency-Key`, claimed in the commit together with a second claim that holds
//! a digest of the request (lead, rep, note), so a retry answers like the first request, and
//! the same key sent with another request is a 422.
//!
//! The commit is routing's ([`routing::Router::plan_by_hand`]): owner, decision, loads, the new
//! owner's response clock, the overflow entry deleted, the notice. This module adds the claims,
//! the stop of the cycle's running routing-latency and rep-response clocks, and the note, which
//! is free text and may be personal, so it lives with the reason notes (erasure deletes them),
//! not on the decision.
//!
//! Known shortcoming: the previous owner's response clock is stopped like a clock its owner
//! answered, so when the lead is moved before the clock is due its outcome counts as met for
//! that rep; a "withdrawn" outcome in the SLA core would count it as neither.

use crate::{
    actions::{self, NOTE_COLLECTION},
    auth::{Principal, Role},
    error::{ApiError, ApiResult},
    http,
    leads::{self, LeadView},
    reps, Deps,
};
use lambda_http::{Body, Request, Response};
use lifecycle::{routing::Exclusion, sla::ClockKind, Lead, LeadId, RepId, Timestamp};
use ports::{Claim, CommitOutcome, Document, DocumentWrite, Expect, StoreError};
use routing::{HandAssignment, HandError, HandPlan, Refusal, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The rep who gets the lead.
    pub rep_id: String,
    /// Why, in the manager's words (never logged).
    #[serde(default)]
    pub note: Option<String>,
}

/// The longest note kept, as for the sales actions' notes.
const MAX_NOTE_CHARS: usize = 4000;
/// The longest rep id (as the OpenAPI document says).
const MAX_REP_ID_CHARS: usize = 100;
/// How long the claims are kept, as the sales actions keep theirs.
const CLAIM_DAYS: i64 = 7;
/// How many times the commit is built again after losing a race on something other than the
/// lead (a clock, a load counter, the overflow entry).
const RACES: usize = 8;

/// The key of an assignment's note in [`NOTE_COLLECTION`]: `<lead>/routing:<cycle>:<attempt>`.
/// Its last segment is not a number, so the timeline's reading of transition notes (keyed by
/// seq) passes it by.
pub fn note_key(lead: &LeadId, cycle: u32, attempt: u32) -> String {
    format!("{lead}/{}", note_suffix(cycle, attempt))
}

/// The part of [`note_key`] after `<lead>/`.
pub fn note_suffix(cycle: u32, attempt: u32) -> String {
    format!("routing:{cycle}:{attempt}")
}

/// `POST /leads/{id}/assign`
pub async fn assign(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    id: &str,
) -> ApiResult<Response<Body>> {
    who.require(&[Role::Admin, Role::Manager], "assign a lead")?;
    let key = http::idempotency_key(req)?;
    let lead = leads::load_visible(deps, who, id).await?;
    leads::ensure_can_act(deps, who, &lead).await?;
    let body: AssignBody = http::json_body(req)?;
    let rep = validate(&body)?;

    let claims = Claims::new(&key, &lead.id, &rep, body.note.as_deref());
    if let Some(resp) = seen_before(deps, &lead, &claims).await? {
        return Ok(resp);
    }
    same_team(deps, who, &rep).await?;
    let request = HandAssignment {
        lead: lead.id.clone(),
        rep,
        actor: who.actor(),
        expected_version: http::if_match(req)?,
    };
    for _ in 0..RACES {
        let now = deps.clock.now();
        let plan = plan(deps, &request, now).await?;
        if let Some(resp) = commit(deps, &request, &claims, &body, plan, now).await? {
            return Ok(resp);
        }
    }
    Err(ApiError::Unavailable(StoreError::Unavailable(
        "the lead's clocks, its reps' load counters or its overflow entry kept changing".into(),
    )))
}

fn validate(body: &AssignBody) -> ApiResult<RepId> {
    let rep = body.rep_id.trim();
    if rep.is_empty() || rep.chars().count() > MAX_REP_ID_CHARS {
        return Err(ApiError::invalid(
            "/rep_id",
            format!("must be 1 to {MAX_REP_ID_CHARS} characters"),
        ));
    }
    let long = |t: &String| t.chars().count() > MAX_NOTE_CHARS;
    if body.note.as_ref().is_some_and(long) {
        return Err(ApiError::invalid(
            "/note",
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    Ok(RepId::new(rep))
}

/// The request's two claims: its key (shared with the sales actions, so one key is one
/// request whatever the operation), and the key with the digest of what was asked.
struct Claims {
    key: String,
    asked: String,
}

impl Claims {
    fn new(key: &str, lead: &LeadId, rep: &RepId, note: Option<&str>) -> Self {
        // An array of the values, so the encoding (and the digest) cannot depend on key order.
        let what = serde_json::json!([lead, rep, note]).to_string();
        let digest = hex::encode(Sha256::digest(what.as_bytes()));
        Self {
            key: format!("api:{key}"),
            asked: format!("api:{key}:assign:{digest}"),
        }
    }

    fn for_commit(&self, now: Timestamp) -> Vec<Claim> {
        let expires_at = Some(now + chrono::Duration::days(CLAIM_DAYS));
        [&self.key, &self.asked]
            .into_iter()
            .map(|key| Claim {
                key: key.clone(),
                expires_at,
            })
            .collect()
    }
}

/// The answer to a request made before: this one again (the lead as it is now), or a 422 when
/// its key was used for another request. `None` when the key is new.
async fn seen_before(
    deps: &Deps,
    lead: &Lead,
    claims: &Claims,
) -> ApiResult<Option<Response<Body>>> {
    if let Some(outbox) = deps.journey.held_claim(&claims.asked).await? {
        // The first attempt may have crashed before sending; consumers dedupe on the id.
        deps.queue.send(&outbox).await?;
        return replay(deps, &lead.id).await.map(Some);
    }
    if deps.journey.held_claim(&claims.key).await?.is_some() {
        return Err(key_reused());
    }
    Ok(None)
}

async fn plan(deps: &Deps, request: &HandAssignment, now: Timestamp) -> ApiResult<HandPlan> {
    let router = Router::new(
        deps.journey.clone(),
        deps.documents.clone(),
        deps.queue.clone(),
    );
    router
        .plan_by_hand(request, now)
        .await
        .map_err(|e| match e {
            HandError::Refused(r) => refused(r, request.expected_version),
            HandError::Failed(e) => ApiError::from(e),
        })
}

/// A manager gives leads to reps of their own team only: a lead handed to another team's rep
/// is out of the manager's reach at once (they act on their team's leads), with no way back.
/// Admins assign to anyone.
async fn same_team(deps: &Deps, who: &Principal, rep: &RepId) -> ApiResult<()> {
    if who.has(Role::Admin) {
        return Ok(());
    }
    let team = reps::team_of(deps, rep).await?;
    if team.is_some() && team == who.team {
        return Ok(());
    }
    Err(ApiError::invalid(
        "/rep_id",
        "a manager assigns leads to reps of their own team only",
    ))
}

fn refused(refusal: Refusal, expected: u64) -> ApiError {
    match refusal {
        Refusal::StaleVersion { current } => ApiError::StaleVersion { expected, current },
        Refusal::NotAnMql(stage) => ApiError::StageConflict(format!(
            "the lead is {stage}; only an MQL is assigned by hand"
        )),
        Refusal::AlreadyOwner => {
            ApiError::StageConflict("the lead is already owned by that rep".into())
        }
        Refusal::Rep(why) => ApiError::invalid("/rep_id", rep_refusal(&why)),
    }
}

/// Completes and applies the plan; `None` when it lost a race on something other than the
/// lead, for the caller to plan again.
async fn commit(
    deps: &Deps,
    request: &HandAssignment,
    claims: &Claims,
    body: &AssignBody,
    plan: HandPlan,
    now: Timestamp,
) -> ApiResult<Option<Response<Body>>> {
    let HandPlan {
        mut commit,
        lead,
        cycle,
        attempt,
    } = plan;
    commit.claims = claims.for_commit(now);
    // The lead has a rep now, and the previous owner no longer has it to answer.
    let kinds = [ClockKind::RoutingLatency, ClockKind::RepResponse];
    commit
        .documents
        .extend(actions::stop_clocks(deps, &lead, &kinds, now).await?);
    if let Some(note) = &body.note {
        commit
            .documents
            .push(note_document(&lead.id, (cycle, attempt), note));
    }

    match deps.journey.commit(commit).await? {
        CommitOutcome::Committed => {
            http::json_tagged(200, &LeadView::from(&lead), lead.version).map(Some)
        }
        CommitOutcome::Duplicate { .. } => seen_before(deps, &lead, claims)
            .await?
            .map(Some)
            .ok_or_else(key_reused),
        CommitOutcome::Conflict { .. } => {
            if let Some(resp) = seen_before(deps, &lead, claims).await? {
                return Ok(Some(resp));
            }
            let current = reload(deps, &lead.id).await?.version;
            if current == request.expected_version {
                return Ok(None);
            }
            Err(ApiError::StaleVersion {
                expected: request.expected_version,
                current,
            })
        }
    }
}

fn note_document(lead: &LeadId, (cycle, attempt): (u32, u32), note: &str) -> DocumentWrite {
    DocumentWrite::Put {
        doc: Document {
            collection: NOTE_COLLECTION.to_owned(),
            key: note_key(lead, cycle, attempt),
            version: 1,
            index: None,
            body: serde_json::json!({ "note": note }),
            expires_at: None,
        },
        expect: Expect::Absent,
    }
}

async fn reload(deps: &Deps, id: &LeadId) -> ApiResult<Lead> {
    deps.journey
        .lead(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("lead {id}")))
}

/// The lead as it is now, marked as the answer to a request already applied.
async fn replay(deps: &Deps, id: &LeadId) -> ApiResult<Response<Body>> {
    let lead = reload(deps, id).await?;
    let mut resp = http::json_tagged(200, &LeadView::from(&lead), lead.version)?;
    resp.headers_mut().insert(
        "idempotent-replayed",
        lambda_http::http::HeaderValue::from_static("true"),
    );
    Ok(resp)
}

fn key_reused() -> ApiError {
    ApiError::invalid(
        "Idempotency-Key",
        "this key was already used for another request",
    )
}

/// Why the rep named cannot be given a lead, in the caller's terms.
fn rep_refusal(why: &Exclusion) -> String {
    let at = |t: &Timestamp| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match why {
        Exclusion::Inactive => "the rep is inactive".into(),
        Exclusion::OutOfOffice { until } => {
            format!("the rep is out of office until {}", at(until))
        }
        Exclusion::DailyCap { cap, .. } => {
            format!("the rep has had {cap} leads today, their daily cap")
        }
        Exclusion::OpenLeadCap { cap, .. } => {
            format!("the rep has {cap} open leads, their cap (an admin can raise max_open)")
        }
        _ => "no such rep".into(),
    }
}
