//! Reps and their availability.
//!
//! A rep is a document in [`COLLECTION`] keyed by the rep id: team, whether they take leads,
//! their cap, pools, and their availability (out-of-office windows). Routing reads the same
//! documents; admins replace a rep whole, and the rep themselves or their team's manager set
//! the availability alone, each with `If-Match` on the document's version.

use crate::{
    auth::{Principal, Role},
    cursor,
    error::{ApiError, ApiResult, FieldError},
    http,
    leads::PageView,
    Deps,
};
use lambda_http::{Body, Request, Response};
use lifecycle::{notify::NotifyTarget, RepId, Timestamp};
use ports::{Commit, CommitOutcome, Document, DocumentWrite, Expect};
use serde::{Deserialize, Serialize};

/// The collection of rep documents.
pub const COLLECTION: &str = "rep";

/// A window of time off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// First instant away.
    pub from: Timestamp,
    /// First instant back.
    pub to: Timestamp,
}

/// When a rep can take leads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// Out-of-office windows.
    #[serde(default)]
    pub out_of_office: Vec<Window>,
}

/// A rep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rep {
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The team (a manager's `team` claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Whether the rep takes new leads at all.
    #[serde(default = "yes")]
    pub active: bool,
    /// The most open leads they hold at once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "whole_number"
    )]
    pub capacity: Option<u32>,
    /// The routing pools they are in.
    #[serde(default)]
    pub pools: Vec<String>,
    /// Their availability.
    #[serde(default)]
    pub availability: Availability,
    /// Their own channel for lead alerts (the notifier falls back to the pool's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyTarget>,
}

fn yes() -> bool {
    true
}

/// A `u32` written as any JSON number with no fractional part (`25` or `25.0`): JSON Schema
/// calls both integers, so the API accepts both.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(n) = Option::<f64>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n);
    if !whole {
        return Err(serde::de::Error::custom(
            "expected a whole number from 0 to 4294967295",
        ));
    }
    Ok(Some(n as u32))
}

/// A rep as the API shows it.
#[derive(Debug, Serialize)]
struct RepView {
    id: String,
    version: u64,
    #[serde(flatten)]
    rep: Rep,
}

fn view(doc: Document) -> ApiResult<RepView> {
    let rep: Rep = serde_json::from_value(doc.body).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context(format!("rep {} is corrupt", doc.key)))
    })?;
    Ok(RepView {
        id: doc.key,
        version: doc.version,
        rep,
    })
}

/// The team of a rep, if the rep is known and has one.
pub async fn team_of(deps: &Deps, rep: &RepId) -> ApiResult<Option<String>> {
    let doc = deps.documents.get(COLLECTION, rep.as_str()).await?;
    Ok(doc.and_then(|d| {
        d.body
            .get("team")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
    }))
}

fn is_self(who: &Principal, id: &str) -> bool {
    who.rep_id.as_ref().is_some_and(|r| r.as_str() == id)
}

/// `GET /reps?cursor=&limit=`: a rep sees only themselves.
pub async fn list(req: &Request, deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    let q = http::query(req);
    let limit = http::limit(&q, crate::leads::MAX_LIMIT)?;
    let start: Option<String> = cursor::decode(q.get("cursor"))?;
    if !who.any(&[Role::Admin, Role::Marketing, Role::Manager]) {
        let me = who.rep_id.as_ref().map(|r| r.as_str()).unwrap_or("");
        let mine = deps.documents.get(COLLECTION, me).await?;
        let items = mine.map(view).transpose()?.into_iter().collect();
        return http::json(
            200,
            &PageView {
                items,
                next_cursor: None,
            },
        );
    }

    let page = deps.documents.list(COLLECTION, "", start, limit).await?;
    let items = page
        .items
        .into_iter()
        .map(view)
        .collect::<ApiResult<Vec<_>>>()?;
    let next_cursor = page.next.map(|n| cursor::encode(&n));
    http::json(200, &PageView { items, next_cursor })
}

/// `GET /reps/{id}`
pub async fn get(deps: &Deps, who: &Principal, id: &str) -> ApiResult<Response<Body>> {
    if !who.any(&[Role::Admin, Role::Marketing, Role::Manager]) && !is_self(who, id) {
        return Err(ApiError::Forbidden("reps see only themselves".into()));
    }
    let doc = load(deps, id).await?;
    let version = doc.version;
    http::json_tagged(200, &view(doc)?, version)
}

async fn load(deps: &Deps, id: &str) -> ApiResult<Document> {
    deps.documents
        .get(COLLECTION, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("rep {id}")))
}

/// `PUT /reps/{id}` (admin): creates (`If-Match: "0"`) or replaces a rep.
pub async fn put(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    id: &str,
) -> ApiResult<Response<Body>> {
    who.require(&[Role::Admin], "replace a rep")?;
    valid_id(id)?;
    let expected = http::if_match(req)?;
    let rep: Rep = http::json_body(req)?;
    validate(&rep)?;
    store(deps, id, rep, expected).await
}

/// `PUT /reps/{id}/availability`: the rep themselves, their team's manager, or an admin.
pub async fn put_availability(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    id: &str,
) -> ApiResult<Response<Body>> {
    let doc = load(deps, id).await?;
    let mut rep = view(doc)?.rep;
    let allowed = who.has(Role::Admin)
        || is_self(who, id)
        || (who.has(Role::Manager) && rep.team.is_some() && rep.team == who.team);
    if !allowed {
        return Err(ApiError::Forbidden(
            "only the rep, their team's manager or an admin may set availability".into(),
        ));
    }
    let expected = http::if_match(req)?;
    rep.availability = http::json_body(req)?;
    validate(&rep)?;
    store(deps, id, rep, expected).await
}

fn valid_id(id: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        return Ok(());
    }
    Err(ApiError::BadRequest(
        "a rep id is 1 to 64 letters, digits, '-', '_' or '.'".into(),
    ))
}

/// The longest name, team or pool id of a rep.
const MAX_TEXT: usize = 200;
/// The most pools one rep is in.
const MAX_POOLS: usize = 50;

fn validate(rep: &Rep) -> ApiResult<()> {
    let mut errors: Vec<FieldError> = rep
        .availability
        .out_of_office
        .iter()
        .enumerate()
        .filter(|(_, w)| w.from >= w.to)
        .map(|(i, _)| {
            FieldError::new(
                format!("/availability/out_of_office/{i}"),
                "`from` must be before `to`",
            )
        })
        .collect();
    if let Some(Err(e)) = rep.notify.as_ref().map(NotifyTarget::validate) {
        errors.push(FieldError::new("/notify/url", e.to_string()));
    }
    let long = |t: &Option<String>| t.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT);
    for (field, text) in [("/name", &rep.name), ("/team", &rep.team)] {
        if long(text) {
            errors.push(FieldError::new(
                field,
                format!("at most {MAX_TEXT} characters"),
            ));
        }
    }
    if rep.pools.len() > MAX_POOLS {
        errors.push(FieldError::new(
            "/pools",
            format!("at most {MAX_POOLS} pools"),
        ));
    }
    for (i, pool) in rep.pools.iter().enumerate() {
        if pool.chars().count() > MAX_TEXT {
            errors.push(FieldError::new(
                format!("/pools/{i}"),
                format!("at most {MAX_TEXT} characters"),
            ));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid(errors))
}

async fn store(deps: &Deps, id: &str, rep: Rep, expected: u64) -> ApiResult<Response<Body>> {
    let body = serde_json::to_value(&rep).map_err(|e| ApiError::Internal(e.into()))?;
    // Checked before the commit too, so a wild If-Match never reaches version arithmetic.
    let current = deps
        .documents
        .get(COLLECTION, id)
        .await?
        .map_or(0, |d| d.version);
    if expected != current {
        return Err(ApiError::StaleVersion { expected, current });
    }
    let version = expected + 1;
    let expect = if expected == 0 {
        Expect::Absent
    } else {
        Expect::Version(expected)
    };
    let commit = Commit {
        documents: vec![DocumentWrite::Put {
            doc: Document {
                collection: COLLECTION.to_owned(),
                key: id.to_owned(),
                version,
                index: None,
                body,
                expires_at: None,
            },
            expect,
        }],
        ..Commit::default()
    };
    match deps.journey.commit(commit).await? {
        CommitOutcome::Committed => {
            let v = RepView {
                id: id.to_owned(),
                version,
                rep,
            };
            http::json_tagged(200, &v, version)
        }
        _ => {
            let current = deps
                .documents
                .get(COLLECTION, id)
                .await?
                .map_or(0, |d| d.version);
            Err(ApiError::StaleVersion { expected, current })
        }
    }
}
