//! The sales actions: accept, reject, qualify, disqualify, recycle.
//!
//! Each is `POST /leads/{id}/<action>` with two headers:
//!
//! * `Idempotency-Key`: the client's request id. It becomes the transition's cause
//!   (`api:<key>`) and an idempotency claim taken in the same commit, so a retried request
//!   changes nothing and answers like the first one did.
//! * `If-Match: "<version>"`: the lead version the client decided on. Missing is 428; a version
//!   that is not the stored one (or that moves while we write) is a 409 `stale-version`
//!   problem naming the current version. Of two concurrent actions on one version exactly one
//!   wins.
//!
//! The stage rules are the core's ([`JourneyState::decide`]); this module only turns a request
//! into a [`StageEvent`] and the outcome into one atomic commit: the lead at version + 1, the
//! transition, the funnel counter deltas, the lead's running SLA clocks stopped (so the sweep
//! never escalates a lead its owner already handled), an accept's SAL follow-up clock started
//! (so a retried accept starts none), the owner's open-lead count lowered when
//! the lead leaves their open work (see [`load_release`]), and a journey event on
//! [`Topic::JourneyEvents`] (ids and codes only, no personal data) for a CRM sync to follow.

use crate::{
    auth::Principal,
    config,
    error::{ApiError, ApiResult},
    http,
    leads::{self, LeadView},
    Deps,
};
use lambda_http::{Body, Request, Response};
use lifecycle::routing::LoadCounter;
use lifecycle::sla::ClockKind;
use lifecycle::{
    funnel, journey::StageOutcome, CauseId, JourneyError, Lead, Reason, Stage, StageEvent,
    Timestamp, Transition,
};
use ports::{
    Commit, CommitOutcome, Document, DocumentWrite, Expect, LeadWrite, Message, StoreError, Topic,
};
use serde::Deserialize;

/// A sales action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The rep takes the lead: → SAL.
    Accept,
    /// Back to marketing with a reason and feedback: → recycled.
    Reject,
    /// Intent and budget confirmed: → SQL, optionally with an opportunity amount.
    Qualify,
    /// Not a lead we want, with a reason from the configured list: → disqualified.
    Disqualify,
    /// Back to nurture: → recycled.
    Recycle,
}

impl Action {
    /// The stage the action moves to.
    pub fn stage(self) -> Stage {
        match self {
            Action::Accept => Stage::Sal,
            Action::Qualify => Stage::Sql,
            Action::Disqualify => Stage::Disqualified,
            Action::Reject | Action::Recycle => Stage::Recycled,
        }
    }

    /// The path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Reject => "reject",
            Action::Qualify => "qualify",
            Action::Disqualify => "disqualify",
            Action::Recycle => "recycle",
        }
    }
}

/// The body of an action (every field optional; which are required depends on the action).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// Reason code (disqualify: from the configured list; reject and recycle: any code).
    #[serde(default)]
    pub reason: Option<String>,
    /// Free-text note kept with the reason (never logged).
    #[serde(default)]
    pub note: Option<String>,
    /// Reject only: feedback for marketing, kept as the reason's note.
    #[serde(default)]
    pub feedback: Option<String>,
    /// Qualify only: the opportunity amount.
    #[serde(default)]
    pub opportunity_amount: Option<f64>,
    /// When it happened, if earlier than now.
    #[serde(default)]
    pub effective_at: Option<Timestamp>,
}

/// The longest note or feedback kept with a reason: a few paragraphs. Unbounded text would
/// reach DynamoDB's 400 KB item limit and fail the action after it was decided.
const MAX_NOTE_CHARS: usize = 4000;
/// The longest reason code (as the OpenAPI document says).
const MAX_REASON_CHARS: usize = 100;

/// How long an action's idempotency claim is kept. The transition's cause keeps a retried
/// request idempotent for ever; the claim adds the resend of its journey event.
const CLAIM_DAYS: i64 = 7;

/// Document collection of opportunity amounts, keyed `<lead id>/<cycle>`.
pub const OPPORTUNITY_COLLECTION: &str = "opportunity";

/// `POST /leads/{id}/<action>`
pub async fn act(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    id: &str,
    action: Action,
) -> ApiResult<Response<Body>> {
    let key = http::idempotency_key(req)?;
    // Who may act comes before the body: a caller who may not touch the lead learns that
    // (403), not what their request would have needed.
    let lead = leads::load_visible(deps, who, id).await?;
    leads::ensure_can_act(deps, who, &lead).await?;

    let body: ActionBody = http::json_body(req)?;
    let now = deps.clock.now();
    let reason = validate(deps, action, &body, now).await?;
    not_before_current_stage(&lead, body.effective_at)?;
    let cause = CauseId::new(format!("api:{key}"));
    if lead.journey.causes.contains(&cause) {
        return replay(deps, &lead, &cause, action.stage()).await;
    }
    let expected = http::if_match(req)?;
    if expected != lead.version {
        return Err(ApiError::StaleVersion {
            expected,
            current: lead.version,
        });
    }

    let event = StageEvent {
        to: action.stage(),
        cause: cause.clone(),
        actor: who.actor(),
        reason,
        effective_at: body.effective_at.unwrap_or(now),
        recorded_at: now,
        dims: lead.dimensions(),
    };
    let t = decide(&lead, &event)?;
    // A sweep may escalate one of the lead's clocks between our read of it and our commit; the
    // commit then conflicts on the clock alone (the lead's version has not moved) and is built
    // again from the clock as the sweep left it.
    for _ in 0..CLOCK_RACES {
        let mut commit = commit_for(&lead, action, t.clone(), &key, &body, now);
        commit
            .documents
            .extend(clock_stops(deps, &lead, now).await?);
        if action == Action::Accept {
            commit
                .documents
                .extend(follow_up_start(deps, &lead, now).await?);
        }
        commit
            .documents
            .extend(load_release(deps, &lead, action.stage()).await?);
        let sent = Sent {
            expected,
            cause: &cause,
            stage: action.stage(),
        };
        if let Some(resp) = finish(deps, &lead, sent, commit).await? {
            return Ok(resp);
        }
    }
    Err(ApiError::Unavailable(StoreError::Unavailable(
        "the lead's SLA clocks or its owner's load counter kept changing".into(),
    )))
}

/// A back-dated action may not go before the lead entered the stage it is in: history is
/// filled in by imports and late events, and an action dated earlier would put the stages of
/// its cycle out of order (and make times in stage negative).
fn not_before_current_stage(lead: &Lead, effective_at: Option<Timestamp>) -> ApiResult<()> {
    let since = lead
        .journey
        .current()
        .and_then(|c| c.entered.values().max().copied());
    match (effective_at, since) {
        (Some(at), Some(since)) if at < since => Err(ApiError::invalid(
            "/effective_at",
            format!(
                "must not be before the lead entered its current stage ({})",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )),
        _ => Ok(()),
    }
}

/// How many times an action is committed again after losing a race on one of its clocks or on
/// its owner's load counter.
const CLOCK_RACES: usize = 8;

/// The writes that stop the lead's running SLA clocks of its current cycle: whatever the
/// action, the owner has acted (an accept answers the rep-response clock, a qualify, disqualify,
/// reject or recycle the SAL follow-up one, or the rep-response one of an MQL never accepted),
/// and a lead that is acted on is assigned, so its routing-latency clock stops too. They stop at
/// `now`, when we learnt of the action, not at a back-dated `effective_at`: a clock the sweep
/// already escalated stays escalated.
async fn clock_stops(deps: &Deps, lead: &Lead, now: Timestamp) -> ApiResult<Vec<DocumentWrite>> {
    let kinds = [
        ClockKind::RoutingLatency,
        ClockKind::RepResponse,
        ClockKind::SalFollowUp,
    ];
    stop_clocks(deps, lead, &kinds, now).await
}

/// The writes that stop the running clocks of `kinds` in the lead's current cycle at `now`
/// (each with its outcome), for a commit that ends them: an action, an assignment by hand.
pub(crate) async fn stop_clocks(
    deps: &Deps,
    lead: &Lead,
    kinds: &[ClockKind],
    now: Timestamp,
) -> ApiResult<Vec<DocumentWrite>> {
    let (cycle, dims) = (lead.journey.cycle(), lead.dimensions());
    let store = deps.documents.as_ref();
    let mut writes = Vec::new();
    for &kind in kinds {
        writes.extend(sla_timers::stop_writes(store, (&lead.id, &dims), cycle, kind, now).await?);
    }
    Ok(writes)
}

/// The write that starts the SAL follow-up clock, for an accept (see [`sla_timers::start`]).
/// It starts at `now`, like the stops: a back-dated accept must not start a clock that is
/// breached already.
async fn follow_up_start(
    deps: &Deps,
    lead: &Lead,
    now: Timestamp,
) -> ApiResult<Vec<DocumentWrite>> {
    sla_timers::follow_up_writes(deps.documents.as_ref(), lead, now)
        .await
        .map_err(ApiError::from)
}

/// The write that gives the owner back one place under their open-lead cap, when the action
/// takes the lead out of the work routing counts as open (an MQL or a SAL): a qualify,
/// disqualify, reject or recycle, but not an accept. It goes in the action's own commit, so a
/// retried or duplicated request releases nothing twice, and it is conditional on the counter's
/// version, so a routing decision counting a new lead at the same moment makes the commit
/// conflict and be built again from the fresh count.
///
/// Known shortcoming: counters stored before actions released them still count the leads
/// closed back then; nothing recomputes a counter from the rep's open leads yet.
async fn load_release(deps: &Deps, lead: &Lead, to: Stage) -> ApiResult<Option<DocumentWrite>> {
    let counts = |stage: Stage| matches!(stage, Stage::Mql | Stage::Sal);
    let Some(owner) = lead
        .owner
        .as_ref()
        .filter(|_| counts(lead.stage()) && !counts(to))
    else {
        return Ok(None);
    };
    let docs = deps.documents.as_ref();
    let found = routing::docs::load::<LoadCounter>(docs, routing::docs::REP_LOAD, owner.as_str())
        .await
        .map_err(ApiError::from)?;
    // A rep with no counter was never counted (assigned before counters, or by an import).
    let Some(mut counter) = found else {
        return Ok(None);
    };
    counter.value.closed();
    counter
        .write(routing::docs::REP_LOAD, owner.as_str(), None)
        .map(Some)
        .map_err(ApiError::from)
}

/// Checks the body against the action; returns the reason to record.
async fn validate(
    deps: &Deps,
    action: Action,
    body: &ActionBody,
    now: Timestamp,
) -> ApiResult<Option<Reason>> {
    if body.effective_at.is_some_and(|t| t > now) {
        return Err(ApiError::invalid(
            "/effective_at",
            "must not be in the future",
        ));
    }
    if let Some(amount) = body.opportunity_amount {
        if action != Action::Qualify {
            return Err(ApiError::invalid(
                "/opportunity_amount",
                "only qualify takes an amount",
            ));
        }
        if !amount.is_finite() || amount < 0.0 {
            return Err(ApiError::invalid(
                "/opportunity_amount",
                "must be a number ≥ 0",
            ));
        }
    }
    for (field, text) in [("/note", &body.note), ("/feedback", &body.feedback)] {
        if text
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_NOTE_CHARS)
        {
            return Err(ApiError::invalid(
                field,
                format!("at most {MAX_NOTE_CHARS} characters"),
            ));
        }
    }
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(ApiError::invalid(
            "/reason",
            format!("at most {MAX_REASON_CHARS} characters"),
        ));
    }
    let note = match action {
        Action::Reject => body.feedback.clone().or_else(|| body.note.clone()),
        _ => body.note.clone(),
    };
    let code = body
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    match (action, code) {
        (Action::Accept | Action::Qualify, None) => Ok(None),
        (Action::Accept | Action::Qualify, Some(_)) => Ok(code.map(|c| Reason {
            code: c.to_owned(),
            note,
        })),
        (_, None) => Err(ApiError::invalid("/reason", "a reason code is required")),
        (Action::Disqualify, Some(c)) => {
            let allowed = config::disqualification_reasons(deps).await?;
            if !allowed.iter().any(|a| a == c) {
                return Err(ApiError::invalid(
                    "/reason",
                    format!(
                        "must be one of the configured reasons: {}",
                        allowed.join(", ")
                    ),
                ));
            }
            Ok(Some(Reason {
                code: c.to_owned(),
                note,
            }))
        }
        (_, Some(c)) => Ok(Some(Reason {
            code: c.to_owned(),
            note,
        })),
    }
}

fn decide(lead: &Lead, event: &StageEvent) -> ApiResult<Transition> {
    match lead.journey.decide(&lead.id, event) {
        Ok(StageOutcome::Applied(t)) => Ok(t),
        Ok(StageOutcome::AlreadyReached) => Err(ApiError::StageConflict(format!(
            "the lead already reached {} in cycle {}",
            event.to,
            lead.journey.cycle()
        ))),
        // The caller checked the cause first; reaching this means a race we treat as stale.
        Ok(StageOutcome::AlreadyApplied) => Err(ApiError::StageConflict(
            "this request was already applied".into(),
        )),
        Err(JourneyError::ReasonRequired(_)) => {
            Err(ApiError::invalid("/reason", "a reason code is required"))
        }
        Err(e) => Err(ApiError::StageConflict(e.to_string())),
    }
}

fn commit_for(
    lead: &Lead,
    action: Action,
    t: Transition,
    key: &str,
    body: &ActionBody,
    now: Timestamp,
) -> Commit {
    let mut next = lead.clone();
    next.journey.push(&t);
    next.version = lead.version + 1;
    next.updated_at = now;
    if action == Action::Reject {
        // Back to marketing: the lead no longer belongs to the rep.
        next.owner = None;
    }

    let mut commit = Commit::claiming(
        format!("api:{key}"),
        Some(now + chrono::Duration::days(CLAIM_DAYS)),
    );
    let mut t = t;
    if let Some(note) = t.reason.as_mut().and_then(|r| r.note.take()) {
        // Free text may be personal: it lives in an erasable document, not on the
        // append-only transition.
        commit.documents.push(note_document(&t, note));
    }
    // The store publishes the transition itself on `journey_events` (see `ports::events`);
    // the opportunity amount is not part of a transition, so it goes out as its own event.
    if let Some(amount) = body.opportunity_amount {
        commit.outbox.push(opportunity_event(&t, amount));
    }
    commit.counters = funnel::counter_deltas(&t);
    if let Some(amount) = body.opportunity_amount {
        commit.documents.push(opportunity(&t, amount));
    }
    commit.transitions.push(t);
    commit.lead = Some(LeadWrite {
        lead: next,
        expect: Expect::Version(lead.version),
        new_identities: Vec::new(),
    });
    commit
}

/// The outbound event of an opportunity amount given with a qualification: ids, the stage
/// change it belongs to, and the amount.
pub fn opportunity_event(t: &Transition, amount: f64) -> Message {
    let body = serde_json::json!({
        "type": "lead.opportunity_amount",
        "lead_id": t.lead_id,
        "seq": t.seq,
        "cycle": t.cycle,
        "to": t.to,
        "effective_at": t.effective_at,
        "opportunity_amount": amount,
    });
    Message {
        topic: Topic::JourneyEvents,
        id: format!("opportunity:{}:{}", t.lead_id, t.seq),
        body: body.to_string(),
        delay_seconds: 0,
    }
}

/// Document collection of the free-text notes given with reasons, keyed
/// `<lead id>/<seq, zero-padded to 10 digits>`; erasure deletes a lead's notes.
pub const NOTE_COLLECTION: &str = "reason_note";

/// The key of a transition's note.
pub fn note_key(lead: &lifecycle::LeadId, seq: u32) -> String {
    format!("{lead}/{seq:010}")
}

fn note_document(t: &Transition, note: String) -> DocumentWrite {
    DocumentWrite::Put {
        doc: Document {
            collection: NOTE_COLLECTION.to_owned(),
            key: note_key(&t.lead_id, t.seq),
            version: 1,
            index: None,
            body: serde_json::json!({ "note": note }),
            expires_at: None,
        },
        expect: Expect::Any,
    }
}

fn opportunity(t: &Transition, amount: f64) -> DocumentWrite {
    DocumentWrite::Put {
        doc: Document {
            collection: OPPORTUNITY_COLLECTION.to_owned(),
            key: format!("{}/{}", t.lead_id, t.cycle),
            version: 1,
            index: None,
            body: serde_json::json!({ "amount": amount, "seq": t.seq }),
            expires_at: None,
        },
        expect: Expect::Any,
    }
}

/// Commits an action; `None` when the commit conflicted on something other than the lead (one
/// of its clocks), for the caller to build the commit again.
async fn finish(
    deps: &Deps,
    lead: &Lead,
    sent: Sent<'_>,
    commit: Commit,
) -> ApiResult<Option<Response<Body>>> {
    let Sent {
        expected,
        cause,
        stage,
    } = sent;
    let next = commit.lead.as_ref().map(|w| w.lead.clone());
    match deps.journey.commit(commit).await? {
        CommitOutcome::Committed => {
            let next = next.unwrap_or_else(|| lead.clone());
            http::json_tagged(200, &LeadView::from(&next), next.version).map(Some)
        }
        CommitOutcome::Duplicate { outbox, .. } => {
            // The first attempt may have crashed before sending; consumers dedupe on the id.
            deps.queue.send(&outbox).await?;
            let now = reload(deps, lead).await?;
            if now.journey.causes.contains(cause) {
                return replay(deps, &now, cause, stage).await.map(Some);
            }
            Err(key_reused())
        }
        CommitOutcome::Conflict { .. } => {
            let now = reload(deps, lead).await?;
            if now.journey.causes.contains(cause) {
                return replay(deps, &now, cause, stage).await.map(Some);
            }
            if now.version == expected {
                return Ok(None);
            }
            Err(ApiError::StaleVersion {
                expected,
                current: now.version,
            })
        }
    }
}

async fn reload(deps: &Deps, lead: &Lead) -> ApiResult<Lead> {
    deps.journey
        .lead(&lead.id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("lead {}", lead.id)))
}

/// What the client sent that decides how a commit's outcome is answered.
#[derive(Clone, Copy)]
struct Sent<'a> {
    /// The `If-Match` version.
    expected: u64,
    /// `api:<Idempotency-Key>`.
    cause: &'a CauseId,
    /// Where the action takes the lead.
    stage: Stage,
}

fn key_reused() -> ApiError {
    ApiError::invalid(
        "Idempotency-Key",
        "this key was already used for another request",
    )
}

/// The answer to a request whose key (`cause`) the lead already applied: the lead as it is,
/// when that key's transition went where this request goes; a 422 when the key was used for
/// another action (an accept's key sent again with a qualify must not answer "done").
async fn replay(
    deps: &Deps,
    lead: &Lead,
    cause: &CauseId,
    stage: Stage,
) -> ApiResult<Response<Body>> {
    let history = deps.journey.transitions(&lead.id).await?;
    let first = history.iter().find(|t| t.cause == *cause);
    if first.is_some_and(|t| t.to != stage) {
        return Err(key_reused());
    }

    let mut resp = http::json_tagged(200, &LeadView::from(lead), lead.version)?;
    resp.headers_mut().insert(
        "idempotent-replayed",
        lambda_http::http::HeaderValue::from_static("true"),
    );
    Ok(resp)
}
