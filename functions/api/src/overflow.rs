//! The overflow queue: leads nobody could take, waiting for a person to decide.
//!
//! A lead lands in its pool's overflow queue in two ways, each stored as an
//! `overflow/<queue>:<lead>` document indexed by when it was queued: routing found no
//! eligible member (the entry names the decision that lists every candidate and why each was
//! excluded), or the SLA sweep took the lead from an owner who let its clock lapse once the
//! reassignments were used up (the entry names the clock). A manager takes a lead out by
//! assigning it by hand ([`crate::assign`]), which deletes the entry; nothing else does: no
//! sweep re-routes it, and the entry stays when somebody acts on the lead otherwise. So the
//! listing shows only the entries whose lead still **waits**: in the cycle it was queued in,
//! without an owner, and open (MQL or SAL).

use crate::{
    auth::{Principal, Role},
    cursor, decisions, erasure,
    error::{ApiError, ApiResult},
    http,
    leads::MAX_LIMIT,
    Deps,
};
use lambda_http::{Body, Request, Response};
use lifecycle::{
    routing::{Candidate, RoutingConfig},
    LeadId, RepId, Stage, Timestamp,
};
use routing::docs::{self, OverflowCause, OverflowEntry};
use serde::{Deserialize, Serialize};

/// How many entries one request examines at most (each costs a read of its lead) before it
/// answers with what it found and a cursor to continue.
pub const MAX_EXAMINED: usize = 200;

/// Above every index value (RFC 3339 times): the upper bound that reads the whole queue.
const EVERY_INDEX: &str = "9999";

/// One lead waiting in an overflow queue.
#[derive(Debug, Serialize)]
pub struct OverflowView {
    /// The lead.
    pub lead_id: LeadId,
    /// The queue.
    pub queue: String,
    /// The pool it overflowed from.
    pub pool: String,
    /// The cycle it was queued in.
    pub cycle: u32,
    /// Since when it has waited.
    pub queued_at: Timestamp,
    /// Why nobody has it.
    pub cause: CauseView,
}

/// Why a lead is in the queue.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CauseView {
    /// Routing found no eligible member.
    NobodyEligible {
        /// The decision's key (`GET /leads/{id}/routing` lists it).
        decision: String,
        /// Every rep considered and every reason each was excluded; `null` if the decision
        /// is missing (it is stored in the same commit as the entry, so that is a bug).
        candidates: Option<Vec<Candidate>>,
    },
    /// The SLA sweep took it from an owner who let a clock lapse.
    SlaEscalation {
        /// The clock.
        clock: String,
        /// The owner it was taken from.
        #[serde(skip_serializing_if = "Option::is_none")]
        owner: Option<RepId>,
    },
    /// Queued before entries recorded their cause.
    Unrecorded,
}

/// A page of the queue. `truncated` says the store held more entries than the listing can
/// reach (see [`list`]).
#[derive(Debug, Serialize)]
struct OverflowPage {
    items: Vec<OverflowView>,
    next_cursor: Option<String>,
    truncated: bool,
}

/// Where a listing resumes: how many entries, in queue order, were already examined.
#[derive(Debug, Serialize, Deserialize)]
struct Position {
    examined: usize,
}

/// Which pools' entries the caller sees: every pool, or those named.
enum Scope {
    All,
    Pools(Vec<String>),
}

impl Scope {
    fn is_empty(&self) -> bool {
        matches!(self, Scope::Pools(ids) if ids.is_empty())
    }

    fn covers(&self, pool: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Pools(ids) => ids.iter().any(|p| p == pool),
        }
    }
}

/// `GET /overflow?cursor=&limit=`: the leads waiting in overflow queues, oldest first.
///
/// Admins see every queue. A manager sees the pools that name them as `manager` in the
/// routing configuration (by their `rep_id` claim, else their subject): that is the one link
/// the data holds between a person and a pool. A pool without a manager is seen by admins
/// only.
///
/// Known limit: the queue is read in index order through the store's `due` read, which has an
/// upper bound but no lower one, so each page re-reads the entries before it and the listing
/// reaches the oldest [`ports::MAX_PAGE`] (1,000) entries; past that `truncated` is true.
pub async fn list(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(&[Role::Admin, Role::Manager], "see the overflow queue")?;
    let q = http::query(req);
    http::only(&q, &["cursor", "limit"])?;
    let limit = http::limit(&q, MAX_LIMIT)?;
    let start = cursor::decode::<Position>(q.get("cursor"))?.map_or(0, |p| p.examined);
    if start >= ports::MAX_PAGE {
        return Err(ApiError::BadRequest(
            "query parameter `cursor` is not a cursor we issued".into(),
        ));
    }
    let scope = scope(deps, who).await?;
    if scope.is_empty() {
        return page(Vec::new(), None, false);
    }

    let wanted = (start + MAX_EXAMINED).min(ports::MAX_PAGE);
    let stored = deps
        .documents
        .due(docs::OVERFLOW, EVERY_INDEX, wanted)
        .await?;
    let (items, resume) = collect(deps, &scope, &stored, start, limit).await?;
    if resume.is_some() {
        return page(items, resume, false);
    }
    let more = stored.len() == wanted;
    let next = (more && wanted < ports::MAX_PAGE).then_some(stored.len());
    page(items, next, more && next.is_none())
}

/// The waiting entries in scope from `stored[start..]`, up to `limit`, and where to resume
/// when the page filled before the entries ran out.
async fn collect(
    deps: &Deps,
    scope: &Scope,
    stored: &[ports::Document],
    start: usize,
    limit: usize,
) -> ApiResult<(Vec<OverflowView>, Option<usize>)> {
    let mut items = Vec::new();
    for (i, doc) in stored.iter().enumerate().skip(start) {
        if items.len() == limit {
            return Ok((items, Some(i)));
        }
        let entry = entry(&doc.key, &doc.body)?;
        if scope.covers(&entry.pool) && waits(deps, &entry).await? {
            items.push(view(deps, entry).await?);
        }
    }
    Ok((items, None))
}

fn page(
    items: Vec<OverflowView>,
    next: Option<usize>,
    truncated: bool,
) -> ApiResult<Response<Body>> {
    let next_cursor = next.map(|examined| cursor::encode(&Position { examined }));
    http::json(
        200,
        &OverflowPage {
            items,
            next_cursor,
            truncated,
        },
    )
}

async fn scope(deps: &Deps, who: &Principal) -> ApiResult<Scope> {
    if who.has(Role::Admin) {
        return Ok(Scope::All);
    }
    let me = who.rep_id.clone().unwrap_or_else(|| RepId::new(&who.sub));
    let config =
        docs::load::<RoutingConfig>(deps.documents.as_ref(), docs::CONFIG, docs::ROUTING_CONFIG)
            .await?;
    let pools = config
        .map(|c| c.value.pools)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.manager.as_ref() == Some(&me))
        .map(|p| p.id)
        .collect();
    Ok(Scope::Pools(pools))
}

fn entry(key: &str, body: &serde_json::Value) -> ApiResult<OverflowEntry> {
    serde_json::from_value(body.clone()).map_err(|e| {
        let context = format!("overflow entry {key} does not decode");
        ApiError::Internal(anyhow::Error::new(e).context(context))
    })
}

/// Whether the entry's lead still waits: same cycle, no owner, open, not erased.
async fn waits(deps: &Deps, entry: &OverflowEntry) -> ApiResult<bool> {
    let Some(lead) = deps.journey.lead(&entry.lead).await? else {
        return Ok(false);
    };
    let open = matches!(lead.stage(), Stage::Mql | Stage::Sal);
    let waiting = open && lead.owner.is_none() && lead.journey.cycle() == entry.cycle;
    Ok(waiting && !erasure::is_erased(deps, &lead).await?)
}

async fn view(deps: &Deps, entry: OverflowEntry) -> ApiResult<OverflowView> {
    let cause = match entry.cause {
        Some(OverflowCause::NobodyEligible { decision }) => {
            let candidates = candidates(deps, &decision).await?;
            CauseView::NobodyEligible {
                decision,
                candidates,
            }
        }
        Some(OverflowCause::SlaEscalation { clock, owner }) => {
            CauseView::SlaEscalation { clock, owner }
        }
        None => CauseView::Unrecorded,
    };
    Ok(OverflowView {
        lead_id: entry.lead,
        queue: entry.queue,
        pool: entry.pool,
        cycle: entry.cycle,
        queued_at: entry.queued_at,
        cause,
    })
}

/// The candidates of the decision an entry names; `None` if it is missing, which says so on
/// that entry rather than failing the manager's whole page.
async fn candidates(deps: &Deps, key: &str) -> ApiResult<Option<Vec<Candidate>>> {
    let Some(doc) = deps.documents.get(docs::DECISION, key).await? else {
        return Ok(None);
    };
    Ok(Some(decisions::decode(key, doc.body)?.candidates))
}
