//! A lead's routing decisions, and the dry run.
//!
//! A **routing decision** is what the routing function stored each time it routed the lead
//! (`routing_decision/<lead>:<cycle>:<attempt>`): the pool, where the lead went, every rep
//! considered with every reason they were excluded, and how the winner was told apart from
//! the other eligible reps. A decision a person made by naming the rep
//! (`POST /leads/{id}/assign`) is stored the same way, under the cycle's next attempt, with the
//! person as its tie-break and their note, if any, beside it. A **dry run** makes the same
//! decision from the same reads now, through [`routing::Router::dry_run`], and stores nothing:
//! no decision, no rotation turn, no load, no clock.

use crate::{
    actions::NOTE_COLLECTION,
    assign,
    auth::{Principal, Role},
    cursor,
    error::{ApiError, ApiResult},
    http,
    leads::{self, PageView, MAX_LIMIT},
    Deps,
};
use lambda_http::{Body, Request, Response};
use lifecycle::{routing::RoutingDecision, Lead, LeadId, RepId, Stage, Timestamp};
use routing::{docs, Router};
use serde::Serialize;
use std::collections::BTreeMap;

/// A stored decision as the API shows it.
#[derive(Debug, Serialize)]
pub struct DecisionView {
    /// The lead's cycle the decision was made in.
    pub cycle: u32,
    /// 0 for the cycle's first routing, then one more per reassignment or assignment by hand.
    pub attempt: u32,
    /// The note of an assignment by hand, if one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The decision.
    #[serde(flatten)]
    pub decision: RoutingDecision,
}

/// `GET /leads/{id}/routing?cursor=&limit=`: the lead's decisions, newest first.
///
/// A lead has one decision per routing of each cycle (the first, then one per reassignment),
/// so all of them are read, a store page at a time, and the page is cut from that.
pub async fn history(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    id: &str,
) -> ApiResult<Response<Body>> {
    let q = http::query(req);
    http::only(&q, &["cursor", "limit"])?;
    let limit = http::limit(&q, MAX_LIMIT)?;
    let offset: usize = cursor::decode(q.get("cursor"))?.unwrap_or(0);
    let lead = leads::load_visible(deps, who, id).await?;

    let mut all = stored_decisions(deps, &lead.id).await?;
    all.sort_by(|a, b| {
        let key = |d: &DecisionView| (d.decision.decided_at, d.cycle, d.attempt);
        key(b).cmp(&key(a))
    });
    http::json(200, &PageView::at_offset(all, offset, limit))
}

/// Every decision stored for `lead`, in key order, with the notes of those made by hand.
async fn stored_decisions(deps: &Deps, lead: &LeadId) -> ApiResult<Vec<DecisionView>> {
    let mut notes = hand_notes(deps, lead).await?;
    let prefix = format!("{lead}:");
    let mut out = Vec::new();
    let mut at = None;
    loop {
        let page = deps
            .documents
            .list(docs::DECISION, &prefix, at, ports::MAX_PAGE)
            .await?;
        for doc in page.items {
            // A lead whose id extends this one's with `:` shares the prefix.
            let Some((cycle, attempt)) = docs::decision_of(&doc.key, lead) else {
                continue;
            };
            let decision = decode(&doc.key, doc.body)?;
            out.push(DecisionView {
                cycle,
                attempt,
                note: notes.remove(&assign::note_suffix(cycle, attempt)),
                decision,
            });
        }
        match page.next {
            Some(next) => at = Some(next),
            None => return Ok(out),
        }
    }
}

/// The notes of the lead's assignments by hand, by the part of their key after `<lead>/`.
async fn hand_notes(deps: &Deps, lead: &LeadId) -> ApiResult<BTreeMap<String, String>> {
    let docs = leads::lead_documents(deps, NOTE_COLLECTION, lead).await?;
    let prefix = format!("{lead}/");
    Ok(docs
        .into_iter()
        .filter_map(|d| {
            let suffix = d.key.strip_prefix(&prefix)?.to_owned();
            let note = d.body.get("note")?.as_str()?.to_owned();
            Some((suffix, note))
        })
        .collect())
}

/// A stored decision's body; one that does not decode is our bug, never the caller's.
pub fn decode(key: &str, body: serde_json::Value) -> ApiResult<RoutingDecision> {
    serde_json::from_value(body).map_err(|e| {
        let context = format!("routing decision {key} does not decode");
        ApiError::Internal(anyhow::Error::new(e).context(context))
    })
}

/// What a dry run answers.
#[derive(Debug, Serialize)]
struct DryRunView {
    lead_id: LeadId,
    /// The time the decision is for (now).
    as_of: Timestamp,
    /// Where the lead is now, so the answer can be read against it.
    stage: Stage,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<RepId>,
    /// Always true: nothing was stored.
    dry_run: bool,
    decision: RoutingDecision,
}

/// `GET /leads/{id}/routing/dry-run`: who would get the lead now, and why.
///
/// Admins for any lead; managers for what they may act on (their team's leads and unowned
/// ones, [`leads::ensure_can_act`]). It answers for the lead's first routing: a reassignment
/// would also leave out the reps who let its clocks lapse, which only the SLA sweep knows.
pub async fn dry_run(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    id: &str,
) -> ApiResult<Response<Body>> {
    who.require(&[Role::Admin, Role::Manager], "ask who would get a lead")?;
    http::only(&http::query(req), &[])?;
    let lead = leads::load_visible(deps, who, id).await?;
    leads::ensure_can_act(deps, who, &lead).await?;

    let now = deps.clock.now();
    let router = Router::new(
        deps.journey.clone(),
        deps.documents.clone(),
        deps.queue.clone(),
    );
    let decision = router.dry_run(&lead.id, now).await?;
    http::json(200, &dry_run_view(&lead, decision, now))
}

fn dry_run_view(lead: &Lead, decision: RoutingDecision, now: Timestamp) -> DryRunView {
    DryRunView {
        lead_id: lead.id.clone(),
        as_of: now,
        stage: lead.stage(),
        owner: lead.owner.clone(),
        dry_run: true,
        decision,
    }
}
