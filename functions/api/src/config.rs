//! Configuration as validated, versioned documents, stored where their consumers read them.
//!
//! Each configuration *kind* is one JSON document, read with `GET /config/{kind}` and replaced
//! whole with `PUT /config/{kind}` and `If-Match: "<version>"` (`"0"` to create it). Calendars
//! are one document per pool (`/config/calendars/{id}`, `default` for pools without their own),
//! because routing reads them one pool at a time. A replacement is decoded as the consumer's own
//! type and checked by that type's `validate` (422 with the field named), stored at the
//! consumer's collection and key as the new current version, and kept under its version number
//! for ever in the same commit, so `GET /config/{kind}/versions/{n}` shows what any past
//! version said.
//!
//! | kind | stored at | decoded as | read by |
//! |---|---|---|---|
//! | `scoring_rules` | `config/scoring_rules` (+ `scoring_rules_history/v<n>`) | [`RuleSet`] (behaviour rules, `grade` rules, `mql` thresholds) | scoring |
//! | `routing` | `config/routing` | [`RoutingConfig`] (pools, members, pool rules) | routing |
//! | `sla_policies` | `config/sla_policies` | [`SlaPolicies`] | routing |
//! | `calendars/{id}` | `calendar/<id>` | [`BusinessCalendar`] | routing |
//! | `report_schedules` | `config/report_schedules` | [`ReportSchedules`] | funnel-rollup |
//! | `disqualification_reasons` | `config/disqualification_reasons` | [`Reasons`] | this API's disqualify action |
//! | `form_mappings` | `config/form_mappings` | [`StoredForms`] | the form webhook, within a minute, over `WEBHOOK_FORMS` |

use crate::{
    auth::{Principal, Role},
    error::{ApiError, ApiResult, FieldError},
    http::{self, pointer},
    Deps,
};
use form_webhook::config::StoredForms;
use funnel_rollup::schedule::ReportSchedules;
use lambda_http::{Body, Request, Response};
use lifecycle::{
    routing::RoutingConfig,
    scoring::{default_rules, RuleSet, RuleSetError},
    sla::{BusinessCalendar, SlaPolicies},
};
use ports::{Commit, CommitOutcome, Document, DocumentWrite, Expect};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The collection of configuration documents the API owns (form mappings, reasons).
pub const COLLECTION: &str = routing::docs::CONFIG;
/// The collection of every version (key: `<kind>/<version, zero-padded to 10 digits>`, and
/// `calendars/<id>/<version>` for calendars).
pub const HISTORY: &str = "config_history";
/// The kind whose documents are kept one per id.
pub const CALENDARS: &str = "calendars";

/// What a valid replacement turns into: the body to store (as the consumer's type writes it)
/// and any other writes its consumer keeps beside it.
#[derive(Debug)]
pub struct Accepted {
    /// The body to store.
    pub body: Value,
    /// Writes committed with it.
    pub also: Vec<DocumentWrite>,
}

/// Checks a replacement against the current body; returns what to store, or what is wrong.
pub type Validator = fn(Value, &Value) -> Result<Accepted, Vec<FieldError>>;

/// Where a kind's documents live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// One document.
    One {
        /// The collection.
        collection: &'static str,
        /// The key.
        key: &'static str,
    },
    /// One document per id (the key).
    PerId {
        /// The collection.
        collection: &'static str,
    },
}

/// One configuration kind.
#[derive(Debug, Clone)]
pub struct Kind {
    /// The name in the path.
    pub name: &'static str,
    /// What it configures.
    pub description: &'static str,
    /// Who may replace it (admins always may).
    pub editors: &'static [Role],
    /// Where its consumer reads it.
    pub place: Place,
    /// Checks a replacement.
    pub validate: Validator,
    /// The body served before anyone stored one.
    pub default: fn() -> Value,
}

/// The configuration kinds.
#[derive(Debug, Clone)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Kind>,
}

const SCORING_EDITORS: &[Role] = &[Role::Admin, Role::Marketing];
const ADMINS: &[Role] = &[Role::Admin];
const REPORT_EDITORS: &[Role] = &[Role::Admin, Role::Marketing];

fn config_key(key: &'static str) -> Place {
    Place::One {
        collection: routing::docs::CONFIG,
        key,
    }
}

impl Default for Registry {
    fn default() -> Self {
        let mut r = Registry {
            kinds: BTreeMap::new(),
        };
        let (rollup_collection, rollup_key) = funnel_rollup::scheduled::CONFIG;
        let kinds = [
            Kind {
                name: scoring::documents::RULES_KEY,
                description: "the scoring rule set: behaviour points, caps, decay, fit grade \
                    rules and the MQL thresholds",
                editors: SCORING_EDITORS,
                place: Place::One {
                    collection: scoring::documents::CONFIG,
                    key: scoring::documents::RULES_KEY,
                },
                validate: validate_scoring,
                default: || serde_json::to_value(default_rules()).unwrap_or_default(),
            },
            Kind {
                name: routing::docs::ROUTING_CONFIG,
                description: "routing pools, their members, and the rules that pick a pool",
                editors: ADMINS,
                place: config_key(routing::docs::ROUTING_CONFIG),
                validate: validate_routing,
                default: empty_default,
            },
            Kind {
                name: routing::docs::SLA_POLICIES,
                description: "SLA promises and their escalations",
                editors: ADMINS,
                place: config_key(routing::docs::SLA_POLICIES),
                validate: validate_sla,
                default: empty_default,
            },
            Kind {
                name: CALENDARS,
                description: "business hours, time zone and holidays, one per pool \
                    (`default` for the others): /config/calendars/{id}",
                editors: ADMINS,
                place: Place::PerId {
                    collection: routing::docs::CALENDAR,
                },
                validate: validate_calendar,
                default: empty_default,
            },
            Kind {
                name: "form_mappings",
                description: "per provider and form: field keys mapped to lead fields, the \
                    country national phone numbers are read in, and whether the form is a hand \
                    raiser; the form webhook reads them within a minute, over WEBHOOK_FORMS",
                editors: SCORING_EDITORS,
                place: config_key("form_mappings"),
                validate: validate_mappings,
                default: empty_default,
            },
            Kind {
                name: REASONS,
                description: "the reasons a lead may be disqualified for",
                editors: ADMINS,
                place: config_key(REASONS),
                validate: validate_reasons,
                default: default_reasons,
            },
            Kind {
                name: rollup_key,
                description:
                    "funnel reports generated on a weekly schedule and where they are sent",
                editors: REPORT_EDITORS,
                place: Place::One {
                    collection: rollup_collection,
                    key: rollup_key,
                },
                validate: validate_schedules,
                default: empty_default,
            },
        ];
        for kind in kinds {
            r.register(kind);
        }
        r
    }
}

const REASONS: &str = "disqualification_reasons";

impl Registry {
    /// Adds a kind, or replaces the one of the same name.
    pub fn register(&mut self, kind: Kind) {
        self.kinds.insert(kind.name, kind);
    }

    /// A kind by name, or 404.
    pub fn kind(&self, name: &str) -> ApiResult<&Kind> {
        self.kinds
            .get(name)
            .ok_or_else(|| ApiError::NotFound(format!("configuration kind {name}")))
    }

    /// Every kind, by name.
    pub fn kinds(&self) -> impl Iterator<Item = &Kind> {
        self.kinds.values()
    }
}

fn empty_default() -> Value {
    json!({})
}

/// The disqualification reasons, as the disqualify action reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reasons {
    /// The reasons, in the order they are offered.
    pub reasons: Vec<Reason>,
}

/// One disqualification reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// A stable `lower_snake_case` code, recorded on the transition.
    pub code: String,
    /// What people see (defaulted so a missing label is reported beside a bad code).
    #[serde(default)]
    pub label: String,
}

fn default_reasons() -> Value {
    json!({ "reasons": [
        { "code": "no_budget", "label": "No budget" },
        { "code": "no_authority", "label": "Not a decision maker" },
        { "code": "no_need", "label": "No need" },
        { "code": "bad_timing", "label": "Bad timing" },
        { "code": "competitor", "label": "Chose or is a competitor" },
        { "code": "not_a_fit", "label": "Not our customer profile" },
        { "code": "unreachable", "label": "Could not be reached" },
        { "code": "duplicate", "label": "Duplicate of another lead" },
        { "code": "spam", "label": "Spam or fake submission" },
    ]})
}

/// A configuration document as the API shows it.
#[derive(Debug, Serialize)]
pub struct ConfigView {
    /// The kind.
    pub kind: String,
    /// The id, for a kind kept one document per id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The version (0: the default, never stored).
    pub version: u64,
    /// The body.
    pub body: Value,
}

/// Where one document of a kind lives: its collection, key, and name in the history.
struct Slot<'a> {
    kind: &'a Kind,
    id: Option<String>,
    collection: &'static str,
    key: String,
    history: String,
}

impl<'a> Slot<'a> {
    fn of(kind: &'a Kind, id: Option<&str>) -> ApiResult<Self> {
        match (kind.place, id) {
            (Place::One { collection, key }, None) => Ok(Slot {
                kind,
                id: None,
                collection,
                key: key.to_owned(),
                history: kind.name.to_owned(),
            }),
            (Place::PerId { collection }, Some(id)) => {
                let ok = !id.is_empty()
                    && id.len() <= 64
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !ok {
                    return Err(ApiError::BadRequest(
                        "the id must be 1 to 64 letters, digits, `_` or `-`".into(),
                    ));
                }
                Ok(Slot {
                    kind,
                    id: Some(id.to_owned()),
                    collection,
                    key: id.to_owned(),
                    history: format!("{}/{id}", kind.name),
                })
            }
            (Place::One { .. }, Some(_)) => Err(ApiError::NotFound(format!(
                "{} is one document, not one per id",
                kind.name
            ))),
            (Place::PerId { .. }, None) => Err(ApiError::NotFound(format!(
                "{} are kept one per id: /config/{}/{{id}}",
                kind.name, kind.name
            ))),
        }
    }

    fn view(&self, version: u64, body: Value) -> ConfigView {
        ConfigView {
            kind: self.kind.name.to_owned(),
            id: self.id.clone(),
            version,
            body,
        }
    }
}

const READERS: &[Role] = &[Role::Admin, Role::Marketing, Role::Manager];

/// `GET /config`: every kind with its current version (0 for a kind kept per id).
pub async fn list(deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(READERS, "read configuration")?;
    let mut items = Vec::new();
    for kind in deps.config.kinds() {
        let version = match kind.place {
            Place::One { collection, key } => deps
                .documents
                .get(collection, key)
                .await?
                .map_or(0, |d| d.version),
            Place::PerId { .. } => 0,
        };
        items.push(
            json!({ "kind": kind.name, "description": kind.description, "version": version }),
        );
    }
    http::json(200, &json!({ "items": items }))
}

/// The current document of a slot (the kind's default, at version 0, if none is stored).
async fn current(deps: &Deps, slot: &Slot<'_>) -> ApiResult<ConfigView> {
    let stored = deps.documents.get(slot.collection, &slot.key).await?;
    Ok(match stored {
        Some(d) => slot.view(d.version, d.body),
        None => slot.view(0, (slot.kind.default)()),
    })
}

/// `GET /config/{kind}`, and `GET /config/calendars/{id}` with `id`. For a kind kept per id
/// without an id: one page of its ids and versions.
pub async fn get(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    name: &str,
    id: Option<&str>,
) -> ApiResult<Response<Body>> {
    who.require(READERS, "read configuration")?;
    let kind = deps.config.kind(name)?;
    if let (Place::PerId { collection }, None) = (kind.place, id) {
        return list_ids(req, deps, kind, collection).await;
    }
    let slot = Slot::of(kind, id)?;
    let view = current(deps, &slot).await?;
    http::json_tagged(200, &view, view.version)
}

async fn list_ids(
    req: &Request,
    deps: &Deps,
    kind: &Kind,
    collection: &str,
) -> ApiResult<Response<Body>> {
    let q = http::query(req);
    let limit = http::limit(&q, crate::leads::MAX_LIMIT)?;
    let start: Option<String> = crate::cursor::decode(q.get("cursor"))?;
    let page = deps.documents.list(collection, "", start, limit).await?;
    let items: Vec<Value> = page
        .items
        .into_iter()
        .map(|d| json!({ "id": d.key, "version": d.version }))
        .collect();
    let next_cursor = page.next.map(|n| crate::cursor::encode(&n));
    http::json(
        200,
        &json!({ "kind": kind.name, "items": items, "next_cursor": next_cursor }),
    )
}

/// `GET /config/{kind}/versions/{version}` (and `/config/calendars/{id}/versions/{version}`)
pub async fn get_version(
    deps: &Deps,
    who: &Principal,
    name: &str,
    id: Option<&str>,
    version: &str,
) -> ApiResult<Response<Body>> {
    who.require(READERS, "read configuration")?;
    let slot = Slot::of(deps.config.kind(name)?, id)?;
    let v: u64 = version
        .parse()
        .map_err(|_| ApiError::BadRequest("the version must be a whole number".into()))?;
    let doc = deps
        .documents
        .get(HISTORY, &history_key(&slot.history, v))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("version {v} of {}", slot.history)))?;
    http::json_tagged(200, &slot.view(v, doc.body), v)
}

/// The key of version `version` of the configuration `name` (`routing`, `calendars/<id>`) in
/// [`HISTORY`].
pub fn history_key(name: &str, version: u64) -> String {
    format!("{name}/{version:010}")
}

/// The largest configuration document taken, as compact JSON. A document is stored as one
/// item (and once more in its history), and DynamoDB refuses an item over 400 KB, which would
/// fail the commit after validation; this bound leaves room for the item's keys and attributes.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

fn fits_an_item(body: &Value) -> ApiResult<()> {
    let size = serde_json::to_vec(body).map_or(usize::MAX, |b| b.len());
    if size <= MAX_DOCUMENT_BYTES {
        return Ok(());
    }
    Err(ApiError::invalid(
        "",
        format!("the document is {size} bytes as compact JSON; at most {MAX_DOCUMENT_BYTES}"),
    ))
}

/// `PUT /config/{kind}` (and `/config/calendars/{id}`): validates and stores a new version.
pub async fn put(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    name: &str,
    id: Option<&str>,
) -> ApiResult<Response<Body>> {
    let kind = deps.config.kind(name)?;
    if !who.has(Role::Admin) && !who.any(kind.editors) {
        return Err(ApiError::Forbidden(format!(
            "your roles do not allow you to replace {name}"
        )));
    }
    let slot = Slot::of(kind, id)?;
    let expected = http::if_match(req)?;
    let body: Value = http::json_body(req)?;
    fits_an_item(&body)?;
    let now = current(deps, &slot).await?;
    let accepted = (kind.validate)(body, &now.body).map_err(ApiError::Invalid)?;

    // Checked before the commit too, so a wild If-Match never reaches version arithmetic.
    if expected != now.version {
        return Err(ApiError::StaleVersion {
            expected,
            current: now.version,
        });
    }
    let version = expected + 1;
    let doc = |collection: &str, key: String, version: u64| Document {
        collection: collection.to_owned(),
        key,
        version,
        index: None,
        body: accepted.body.clone(),
        expires_at: None,
    };
    let expect = if expected == 0 {
        Expect::Absent
    } else {
        Expect::Version(expected)
    };
    let mut documents = vec![
        DocumentWrite::Put {
            doc: doc(slot.collection, slot.key.clone(), version),
            expect,
        },
        DocumentWrite::Put {
            // Each history key is written once, so it is at its first document version;
            // the configuration version is in the key.
            doc: doc(HISTORY, history_key(&slot.history, version), 1),
            expect: Expect::Absent,
        },
    ];
    documents.extend(accepted.also);
    let commit = Commit {
        documents,
        ..Commit::default()
    };
    match deps.journey.commit(commit).await? {
        CommitOutcome::Committed => {
            http::json_tagged(200, &slot.view(version, accepted.body), version)
        }
        _ => {
            let current = current(deps, &slot).await?.version;
            Err(ApiError::StaleVersion { expected, current })
        }
    }
}

/// The configured disqualification reason codes.
pub async fn disqualification_reasons(deps: &Deps) -> ApiResult<Vec<String>> {
    let slot = Slot::of(deps.config.kind(REASONS)?, None)?;
    let view = current(deps, &slot).await?;
    let reasons: Reasons = serde_json::from_value(view.body).map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("disqualification reasons are corrupt"))
    })?;
    Ok(reasons.reasons.into_iter().map(|r| r.code).collect())
}

// ---------------------------------------------------------------------------------------
// Validators: the consumer's type, then its own checks.

/// Decodes `body` as `T`; a failure names the field as a JSON pointer.
fn decode<T: DeserializeOwned>(body: Value) -> Result<T, Vec<FieldError>> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let field = pointer(&e.path().to_string());
        vec![FieldError::new(field, e.into_inner().to_string())]
    })
}

/// The body as `value` serialises, so the stored document is exactly what its consumer's type
/// writes (defaults filled in).
fn accept<T: Serialize>(value: &T, also: Vec<DocumentWrite>) -> Result<Accepted, Vec<FieldError>> {
    serde_json::to_value(value)
        .map(|body| Accepted { body, also })
        .map_err(|e| vec![FieldError::new("", e.to_string())])
}

/// The scoring rule set. Its `version` (the one ledger entries name) is the next after the
/// rule set in force; left out, it is filled in. The version is also kept in scoring's own
/// history, which the score explanation and rescoring read.
fn validate_scoring(mut body: Value, current: &Value) -> Result<Accepted, Vec<FieldError>> {
    let next = current["version"].as_u64().unwrap_or(0) + 1;
    if let Some(fields) = body.as_object_mut() {
        match fields.get("version") {
            None => {
                fields.insert("version".into(), json!(next));
            }
            Some(v) if v.as_u64() == Some(next) => {}
            Some(_) => {
                return Err(vec![FieldError::new(
                    "/version",
                    format!("must be {next}, the next after the rule set in force (or left out)"),
                )])
            }
        }
    }
    let rules: RuleSet = decode(body)?;
    if let Err(e) = rules.validate() {
        let problems = match e {
            RuleSetError::Invalid(problems) => problems,
            other => vec![other.to_string()],
        };
        return Err(problems
            .into_iter()
            .map(|p| {
                // The core's messages open with the field they are about: `rules[3] ("x"): …`.
                let at = p.split([' ', ':']).next().unwrap_or_default();
                FieldError::new(pointer(at), p.clone())
            })
            .collect());
    }
    accept(&rules, vec![scoring::documents::history_write(&rules)])
}

/// The routing configuration routing reads, validated as a whole.
fn validate_routing(body: Value, _: &Value) -> Result<Accepted, Vec<FieldError>> {
    use lifecycle::routing::ConfigError as E;
    let config: RoutingConfig = decode(body)?;
    if let Err(e) = config.validate() {
        let field = match &e {
            E::UnknownPool(place) if place == "default_pool" => "/default_pool",
            E::UnknownPool(_) => "/rules",
            E::EmptyId("rule") => "/rules",
            E::Duplicate(place) | E::SizeRange(place) if place.starts_with("rule") => "/rules",
            _ => "/pools",
        };
        return Err(vec![FieldError::new(field, e.to_string())]);
    }
    accept(&config, Vec::new())
}

/// The policies exactly as routing reads them when it starts clocks, validated as a whole.
fn validate_sla(body: Value, _: &Value) -> Result<Accepted, Vec<FieldError>> {
    let policies: SlaPolicies = decode(body)?;
    if let Err(e) = policies.validate() {
        return Err(vec![FieldError::new("/policies", e.to_string())]);
    }
    accept(&policies, Vec::new())
}

/// One pool's calendar, as routing reads it to start and stop SLA clocks.
fn validate_calendar(body: Value, _: &Value) -> Result<Accepted, Vec<FieldError>> {
    let spec: lifecycle::sla::CalendarSpec = decode(body)?;
    match BusinessCalendar::new(spec) {
        Ok(calendar) => accept(&calendar, Vec::new()),
        Err(e) => Err(vec![FieldError::new("/weekly", e.to_string())]),
    }
}

/// The rollup reads this document as [`ReportSchedules`], so it is parsed as one, then checked
/// (ids, zones, target URLs).
fn validate_schedules(body: Value, _: &Value) -> Result<Accepted, Vec<FieldError>> {
    let schedules: ReportSchedules = decode(body)?;
    let problems = schedules.problems();
    if !problems.is_empty() {
        return Err(problems
            .into_iter()
            .map(|(at, why)| FieldError::new(at, why))
            .collect());
    }
    accept(&schedules, Vec::new())
}

fn validate_reasons(body: Value, _: &Value) -> Result<Accepted, Vec<FieldError>> {
    let reasons: Reasons = decode(body)?;
    let mut errors = Vec::new();
    if reasons.reasons.is_empty() {
        errors.push(FieldError::new("/reasons", "must list at least one reason"));
    }
    let mut seen = BTreeSet::new();
    for (i, r) in reasons.reasons.iter().enumerate() {
        let slug = !r.code.is_empty()
            && r.code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !slug {
            errors.push(FieldError::new(
                format!("/reasons/{i}/code"),
                "must be lower_snake_case",
            ));
        } else if !seen.insert(r.code.as_str()) {
            errors.push(FieldError::new(
                format!("/reasons/{i}/code"),
                "is a duplicate",
            ));
        }
        if r.label.trim().is_empty() {
            errors.push(FieldError::new(
                format!("/reasons/{i}/label"),
                "must be a non-empty string",
            ));
        }
    }
    if errors.is_empty() {
        accept(&reasons, Vec::new())
    } else {
        Err(errors)
    }
}

/// Structure only: nothing reads this document yet (see the module documentation).
/// The members of a form entry the webhook does not read. An entry's settings are decoded
/// flattened, which serde cannot hold to the known members, so a typo (`hand_raisr`) would be
/// stored and do nothing; it is named here instead.
fn unknown_entry_fields(body: &Value) -> Vec<FieldError> {
    const KNOWN: [&str; 5] = ["provider", "form", "fields", "country", "hand_raiser"];
    let entries = body.get("mappings").and_then(Value::as_array);
    let mut out = Vec::new();
    for (i, entry) in entries.into_iter().flatten().enumerate() {
        let members = entry.as_object().into_iter().flat_map(|m| m.keys());
        for name in members.filter(|k| !KNOWN.contains(&k.as_str())) {
            out.push(FieldError::new(
                format!("/mappings/{i}/{}", pointer_token(name)),
                "is not a form setting (provider, form, fields, country, hand_raiser)",
            ));
        }
    }
    out
}

/// `name` as one JSON pointer token (RFC 6901: `~` and `/` escaped).
fn pointer_token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn validate_mappings(body: Value, _: &Value) -> Result<Accepted, Vec<FieldError>> {
    let forms: StoredForms = decode(body.clone())?;
    let mut problems: Vec<FieldError> = forms
        .problems()
        .into_iter()
        .map(|(field, message)| FieldError::new(field, message))
        .collect();
    problems.extend(unknown_entry_fields(&body));
    if !problems.is_empty() {
        return Err(problems);
    }
    // Stored as sent: the webhook decodes the same type (`FormMap` has no serialised form of
    // its own to normalise to).
    Ok(Accepted {
        body,
        also: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: Result<Accepted, Vec<FieldError>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn the_shipped_defaults_validate() {
        let r = Registry::default();
        for name in [REASONS, "scoring_rules"] {
            let kind = r.kind(name).unwrap();
            // The shipped rule set is version 1: the next after nothing stored.
            let ok = (kind.validate)((kind.default)(), &json!({}));
            assert!(ok.is_ok(), "{name}: {:?}", ok.err());
        }
        assert_eq!(r.kinds().count(), 7);
    }

    #[test]
    fn paths_become_json_pointers() {
        assert_eq!(pointer("pools[0].members[1].rep"), "/pools/0/members/1/rep");
        assert_eq!(pointer("."), "");
        assert_eq!(pointer("mql.min_score"), "/mql/min_score");
    }

    #[test]
    fn a_routing_config_is_decoded_and_validated_as_routing_does() {
        let ok = json!({ "pools": [{ "id": "inbound", "members": [{ "rep": "rep-ana" }],
            "overflow_queue": "inbound-overflow" }], "default_pool": "inbound" });
        assert!(validate_routing(ok, &json!({})).is_ok());
        // The shape this kind used to accept (`pools` with `reps`), which routing cannot read.
        let old = json!({ "pools": [{ "id": "inbound", "reps": ["rep-ana"] }] });
        // A missing field is reported at the object that lacks it, and named in the message.
        let errors = validate_routing(old, &json!({})).unwrap_err();
        assert_eq!(errors[0].field, "/pools/0");
        assert!(
            errors[0].message.contains("`members`"),
            "{}",
            errors[0].message
        );
        let unknown = json!({ "pools": [{ "id": "inbound", "members": [],
            "overflow_queue": "q" }], "default_pool": "outbound" });
        assert_eq!(
            fields(validate_routing(unknown, &json!({}))),
            vec!["/default_pool"]
        );
    }

    #[test]
    fn a_rule_set_takes_the_next_version_and_names_the_wrong_rule() {
        let mut rules = default_rules();
        rules.version = 7;
        let current = serde_json::to_value(&rules).unwrap();
        let mut body = current.clone();
        body.as_object_mut().unwrap().remove("version");
        let accepted = validate_scoring(body.clone(), &current).unwrap();
        assert_eq!(accepted.body["version"], 8);
        assert_eq!(accepted.also.len(), 1);

        body["version"] = json!(7);
        assert_eq!(
            fields(validate_scoring(body.clone(), &current)),
            vec!["/version"]
        );
        body["version"] = json!(8);
        body["rules"][2]["id"] = json!("");
        assert_eq!(
            fields(validate_scoring(body, &current)),
            vec!["/rules/2/id"]
        );
    }

    #[test]
    fn a_calendar_in_an_unknown_zone_is_refused_at_the_zone() {
        let ok = json!({ "time_zone": "Europe/Berlin",
            "weekly": { "mon": [{ "from": "09:00", "to": "17:00" }] } });
        let accepted = validate_calendar(ok, &json!({}));
        assert!(accepted.is_ok(), "{:?}", accepted.err());
        let bad_zone = json!({ "time_zone": "Mars/Olympus", "weekly": {} });
        assert_eq!(
            fields(validate_calendar(bad_zone, &json!({}))),
            vec!["/time_zone"]
        );
    }

    #[test]
    fn reasons_point_at_the_wrong_field() {
        let errors = fields(validate_reasons(
            json!({ "reasons": [
                { "code": "no_budget", "label": "No budget" },
                { "code": "no_budget", "label": "" },
                { "code": "Bad Code", "label": "x" },
            ]}),
            &json!({}),
        ));
        assert_eq!(
            errors,
            vec!["/reasons/1/code", "/reasons/1/label", "/reasons/2/code"]
        );
    }

    #[test]
    fn sla_policies_are_the_documents_routing_reads() {
        let policy = json!({ "id": "hand_raiser_accept", "clock": "rep_response",
            "stage": "mql", "lead_kind": "hand_raiser", "target_minutes": 15,
            "escalation": { "remind_at_percent": 50, "reassign": true, "max_reassignments": 1 } });
        assert!(validate_sla(json!({ "policies": [policy] }), &json!({})).is_ok());

        let zero = json!({ "policies": [{ "id": "p", "clock": "rep_response", "stage": "mql",
            "target_minutes": 0 }] });
        let errors = validate_sla(zero, &json!({})).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("at least 1"),
            "{}",
            errors[0].message
        );
        // The shape this validator used to accept, which routing could not decode.
        let old = json!({ "policies": [{ "id": "p", "minutes": 15, "calendar": "emea" }] });
        let errors = validate_sla(old, &json!({})).unwrap_err();
        assert_eq!(errors[0].field, "/policies/0");
        assert!(
            errors[0].message.contains("missing field"),
            "{}",
            errors[0].message
        );
    }
}
