//! Reading leads: list and search, detail, timeline, score explanation; and who may see and act
//! on a lead.
//!
//! A rep sees only the leads they own; everyone else with a role sees every lead. Acting on a
//! lead is narrower (see [`ensure_can_act`]). A listing by owner reads the store's index of a
//! rep's open leads; every other listing walks the newest-first listing (see [`list`]).

use crate::{
    actions,
    auth::{Principal, Role},
    cursor, erasure,
    error::{ApiError, ApiResult},
    http, reps, Deps,
};
use lambda_http::{Body, Request, Response};
use lifecycle::{Activity, Lead, LeadId, RepId, Stage, Timestamp, Transition};
use ports::StoreError;
use serde::{Deserialize, Serialize};

/// The largest page `GET /leads` returns.
pub const MAX_LIMIT: usize = 100;

/// How many stored leads one list request examines at most before answering with what it
/// found and a cursor to continue. Keeps every request bounded when filters match rarely.
pub const MAX_SCANNED: usize = 2000;

/// A lead as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LeadView {
    /// The id.
    pub id: LeadId,
    /// Normalised e-mail (absent for an incomplete or erased lead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// What the forms told us.
    pub profile: lifecycle::Profile,
    /// First-touch attribution.
    pub attribution: lifecycle::Attribution,
    /// The owning rep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<RepId>,
    /// Fit grade.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// The MQL score as of `score_as_of` (scores decay: `GET /leads/{id}/score` folds it now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// When `score` was folded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_as_of: Option<Timestamp>,
    /// Current stage.
    pub stage: Stage,
    /// Current cycle (0 before the lead entered the journey).
    pub cycle: u32,
    /// First seen.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// The version to send back in `If-Match`.
    pub version: u64,
}

impl From<&Lead> for LeadView {
    fn from(l: &Lead) -> Self {
        Self {
            id: l.id.clone(),
            email: l.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: l.phone.as_ref().map(|p| p.as_str().to_owned()),
            profile: l.profile.clone(),
            attribution: l.attribution.clone(),
            owner: l.owner.clone(),
            grade: l.grade.clone(),
            score: l.score,
            score_as_of: l.score_as_of,
            stage: l.stage(),
            cycle: l.journey.cycle(),
            created_at: l.created_at,
            updated_at: l.updated_at,
            version: l.version,
        }
    }
}

/// A page of items.
#[derive(Debug, Serialize)]
pub struct PageView<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

impl<T> PageView<T> {
    /// The `limit` items of `all` from `offset` on, for a listing read whole into memory (a
    /// lead's timeline, its routing decisions), with the offset after them as the cursor.
    pub fn at_offset(all: Vec<T>, offset: usize, limit: usize) -> Self {
        let total = all.len();
        let items: Vec<T> = all.into_iter().skip(offset).take(limit).collect();
        let end = offset + items.len();
        let next_cursor = (end < total).then(|| cursor::encode(&end));
        Self { items, next_cursor }
    }
}

/// The list filters.
#[derive(Debug, Default)]
struct Filter {
    stage: Option<Stage>,
    owner: Option<String>,
    source: Option<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

impl Filter {
    fn matches(&self, l: &Lead) -> bool {
        self.stage.is_none_or(|s| l.stage() == s)
            && self
                .owner
                .as_deref()
                .is_none_or(|o| l.owner.as_ref().is_some_and(|x| x.as_str() == o))
            && self
                .source
                .as_deref()
                .is_none_or(|s| l.attribution.source.as_deref() == Some(s))
            && self.from.is_none_or(|f| l.created_at >= f)
            && self.to.is_none_or(|t| l.created_at < t)
    }
}

impl Filter {
    /// The rep whose open leads answer this filter from the store's owner index
    /// ([`ports::JourneyStore::open_leads_of`]): an owner, with no stage or an open one.
    fn open_list_of(&self) -> Option<RepId> {
        let open = matches!(
            self.stage,
            None | Some(Stage::Mql | Stage::Sal | Stage::Sql)
        );
        self.owner.as_deref().filter(|_| open).map(RepId::new)
    }
}

/// Where a listing resumes: the store's cursor of the page to read, how many of that page's
/// leads were already examined, and which listing the cursor is of (a rep's open leads, or
/// every lead when absent), since a cursor of one listing means nothing in the other.
#[derive(Debug, Serialize, Deserialize)]
struct ListPosition {
    store: Option<String>,
    skip: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open_of: Option<RepId>,
}

/// `GET /leads?stage=&owner=&source=&from=&to=&cursor=&limit=`
///
/// With an owner (a rep always has one: themselves) and no stage or an open one (MQL, SAL,
/// SQL), the leads come from the store's owner index: that rep's open leads, least recently
/// updated first, the rep's work list. A closed stage (`won`, `disqualified`, `recycled`, or
/// `new`) with an owner, and every listing without one, walk the store's newest-first listing.
///
/// Known shortcoming: that walk filters stage, source and creation dates in memory. It is
/// bounded by [`MAX_SCANNED`] leads per request, so a request never runs away, but a sparse
/// filter may answer a short (even empty) page with a cursor to continue; on DynamoDB each
/// request reads up to 2,000 leads through `by_created`. Indexes by stage, by source and by
/// creation date would remove it for a large tenant; none exists yet.
pub async fn list(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    let q = http::query(req);
    let limit = http::limit(&q, MAX_LIMIT)?;
    let mut filter = Filter {
        stage: http::param(&q, "stage")?,
        owner: q.get("owner").filter(|s| !s.is_empty()).cloned(),
        source: q.get("source").filter(|s| !s.is_empty()).cloned(),
        from: http::time_param(&q, "from")?,
        to: http::time_param(&q, "to")?,
    };
    // As the reports answer: a window that ends before it starts is a mistake, not a filter
    // that matches nothing.
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if from >= to {
            return Err(ApiError::invalid("from", "must be before `to`"));
        }
    }
    if !who.sees_all_leads() {
        filter.owner = own_filter(who, filter.owner)?;
    }
    let open_of = filter.open_list_of();
    let start: ListPosition = cursor::decode(q.get("cursor"))?.unwrap_or(ListPosition {
        store: None,
        skip: 0,
        open_of: open_of.clone(),
    });
    if start.open_of != open_of {
        return Err(not_our_cursor());
    }

    let (items, next) = scan(deps, &filter, start, limit).await?;
    http::json(
        200,
        &PageView {
            items,
            next_cursor: next.map(|p| cursor::encode(&p)),
        },
    )
}

/// A rep may list only their own leads: an `owner` filter naming someone else is refused.
fn own_filter(who: &Principal, asked: Option<String>) -> ApiResult<Option<String>> {
    let me = who
        .rep_id
        .as_ref()
        .ok_or_else(|| ApiError::Forbidden("only reps with a rep id can list leads".into()))?;
    match asked {
        Some(o) if o != me.as_str() => Err(ApiError::Forbidden(
            "reps can list only their own leads".into(),
        )),
        _ => Ok(Some(me.as_str().to_owned())),
    }
}

async fn scan(
    deps: &Deps,
    filter: &Filter,
    mut at: ListPosition,
    limit: usize,
) -> ApiResult<(Vec<LeadView>, Option<ListPosition>)> {
    if at.skip > STORE_PAGE {
        return Err(not_our_cursor());
    }
    let mut items = Vec::new();
    let mut scanned = 0;
    loop {
        // The store cursor came from the caller (inside ours): one the store cannot read is
        // the caller's mistake, not ours.
        let page = match store_page(deps, &at).await {
            Err(StoreError::Invalid(_)) => return Err(not_our_cursor()),
            page => page?,
        };
        for (i, lead) in page.items.iter().enumerate().skip(at.skip) {
            if items.len() == limit || scanned == MAX_SCANNED {
                let resume = ListPosition { skip: i, ..at };
                return Ok((items, Some(resume)));
            }
            scanned += 1;
            if filter.matches(lead) && !erasure::is_erased(deps, lead).await? {
                items.push(LeadView::from(lead));
            }
        }
        match page.next {
            Some(next) => {
                at = ListPosition {
                    store: Some(next),
                    skip: 0,
                    ..at
                }
            }
            None => return Ok((items, None)),
        }
    }
}

/// The store page a position points at: of a rep's open leads, or of every lead.
async fn store_page(deps: &Deps, at: &ListPosition) -> Result<ports::Page<Lead>, StoreError> {
    match &at.open_of {
        Some(rep) => {
            deps.journey
                .open_leads_of(rep, at.store.clone(), STORE_PAGE)
                .await
        }
        None => deps.journey.leads(at.store.clone(), STORE_PAGE).await,
    }
}

/// How many leads one store read returns while scanning.
const STORE_PAGE: usize = 200;

fn not_our_cursor() -> ApiError {
    ApiError::BadRequest("query parameter `cursor` is not a cursor we issued".into())
}

/// Loads a lead the caller may see: 404 if it does not exist, 403 if it is not theirs.
pub async fn load_visible(deps: &Deps, who: &Principal, id: &str) -> ApiResult<Lead> {
    let lead = deps
        .journey
        .lead(&LeadId::new(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("lead {id}")))?;
    if erasure::is_erased(deps, &lead).await? {
        return Err(ApiError::NotFound(format!("lead {id} (erased)")));
    }
    if who.sees_all_leads() || owns(who, &lead) {
        return Ok(lead);
    }
    Err(ApiError::Forbidden("reps see only their own leads".into()))
}

fn owns(who: &Principal, lead: &Lead) -> bool {
    who.has(Role::Rep) && who.rep_id.is_some() && lead.owner == who.rep_id
}

/// Refuses unless the caller may act on `lead`: an admin; the owning rep; a manager of the
/// owner's team, or any manager while the lead has no owner yet.
pub async fn ensure_can_act(deps: &Deps, who: &Principal, lead: &Lead) -> ApiResult<()> {
    if who.has(Role::Admin) || owns(who, lead) {
        return Ok(());
    }
    if who.has(Role::Manager) {
        let Some(owner) = &lead.owner else {
            return Ok(());
        };
        let team = reps::team_of(deps, owner).await?;
        if team.is_some() && team == who.team {
            return Ok(());
        }
        return Err(ApiError::Forbidden(
            "managers act only on their own team's leads".into(),
        ));
    }
    Err(ApiError::Forbidden(
        "only the lead's owner or their manager may act on it".into(),
    ))
}

/// `GET /leads/{id}`
pub async fn detail(deps: &Deps, who: &Principal, id: &str) -> ApiResult<Response<Body>> {
    let lead = load_visible(deps, who, id).await?;
    http::json_tagged(200, &LeadView::from(&lead), lead.version)
}

/// One entry of a timeline.
// Built and serialised once per request: boxing the transition would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineEntry {
    /// A stage change.
    Transition(Transition),
    /// Something the lead did.
    Activity(Activity),
}

impl TimelineEntry {
    fn at(&self) -> Timestamp {
        match self {
            TimelineEntry::Transition(t) => t.effective_at,
            TimelineEntry::Activity(a) => a.occurred_at,
        }
    }
}

/// `GET /leads/{id}/timeline?cursor=&limit=`: every transition and activity, oldest first.
pub async fn timeline(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    id: &str,
) -> ApiResult<Response<Body>> {
    let q = http::query(req);
    let limit = http::limit(&q, MAX_LIMIT)?;
    let offset: usize = cursor::decode(q.get("cursor"))?.unwrap_or(0);
    let lead = load_visible(deps, who, id).await?;

    let notes = notes_of(deps, &lead.id).await?;
    let mut transitions = deps.journey.transitions(&lead.id).await?;
    for t in &mut transitions {
        if let (Some(reason), Some(note)) = (t.reason.as_mut(), notes.get(&t.seq)) {
            reason.note = Some(note.clone());
        }
    }
    let mut entries: Vec<TimelineEntry> = transitions
        .into_iter()
        .map(TimelineEntry::Transition)
        .chain(
            deps.journey
                .activities(&lead.id)
                .await?
                .into_iter()
                .map(TimelineEntry::Activity),
        )
        .collect();
    // Stable: at equal times transitions (read first) stay before activities.
    entries.sort_by_key(TimelineEntry::at);

    http::json(200, &PageView::at_offset(entries, offset, limit))
}

/// Every document key of a collection under `<lead id>/`, a page at a time.
pub async fn lead_documents(
    deps: &Deps,
    collection: &str,
    lead: &LeadId,
) -> ApiResult<Vec<ports::Document>> {
    let prefix = format!("{lead}/");
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = deps
            .documents
            .list(collection, &prefix, cursor, 1000)
            .await?;
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

/// The reason notes of a lead's transitions, by seq.
async fn notes_of(
    deps: &Deps,
    lead: &LeadId,
) -> ApiResult<std::collections::BTreeMap<u32, String>> {
    let docs = lead_documents(deps, actions::NOTE_COLLECTION, lead).await?;
    Ok(docs
        .into_iter()
        .filter_map(|d| {
            let seq = d.key.rsplit('/').next()?.parse().ok()?;
            Some((seq, d.body.get("note")?.as_str()?.to_owned()))
        })
        .collect())
}

/// `GET /leads/{id}/score`: the grade and score with their explanation.
///
/// The explanation is the scoring function's own reading of the lead's stored ledger
/// ([`scoring::explain::explain_lead`]): every entry with its rule, rule version and the decay
/// applied now, the scores they fold to, the grade's rules, the rescores and the MQL traces.
/// `score` is the MQL score folded from that same ledger at `as_of` (now), so the two never
/// disagree; the lead record's `score` is the fold at its own `score_as_of`, which decay has
/// since moved. Until scoring has run both are `null`.
pub async fn score(deps: &Deps, who: &Principal, id: &str) -> ApiResult<Response<Body>> {
    let lead = load_visible(deps, who, id).await?;
    let now = deps.clock.now();
    let scoring_error = |e| match e {
        scoring::ScoringError::Store(e) => ApiError::from(e),
        other => ApiError::Internal(other.into()),
    };
    let explanation = scoring::explain::explain_lead(deps.documents.as_ref(), &lead.id, now)
        .await
        .map_err(scoring_error)?;
    let score = match &explanation {
        None => None,
        Some(e) => {
            let rules = scoring::documents::load_rules(deps.documents.as_ref())
                .await
                .map_err(scoring_error)?;
            Some(e.scores.get(&rules.mql_score).copied().unwrap_or(0.0))
        }
    };
    let body = serde_json::json!({
        "lead_id": lead.id,
        "grade": lead.grade,
        "score": score,
        "as_of": now,
        "explanation": explanation,
    });
    http::json(200, &body)
}
