//! Configuration as validated, versioned documents.
//!
//! Each configuration *kind* (scoring rules, grading rules, MQL thresholds, pools, SLA
//! policies, calendars, form field mappings, disqualification reasons, report schedules) is one
//! JSON document,
//! read with `GET /config/{kind}` and replaced whole with `PUT /config/{kind}` and
//! `If-Match: "<version>"` (`"0"` to create it). A replacement is validated by the kind's
//! validator (422 with one entry per wrong field), stored as the new current version, and kept
//! under its version number for ever, in the same commit, so `GET
//! /config/{kind}/versions/{n}` shows what any past rule version said.
//!
//! The [`Registry`] maps each kind to its validator, its editors and its default. The
//! validators here check structure only; the functions that own each kind (scoring, routing,
//! SLA) plug their own typed validation in with [`Registry::register`].

use crate::{
    auth::{Principal, Role},
    error::{ApiError, ApiResult, FieldError},
    http, Deps,
};
use funnel_rollup::schedule::ReportSchedules;
use lambda_http::{Body, Request, Response};
use ports::{Commit, CommitOutcome, Document, DocumentWrite, Expect};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The collection of current configuration documents (key: the kind).
pub const COLLECTION: &str = "config";
/// The collection of every version (key: `<kind>/<version, zero-padded to 10 digits>`).
pub const HISTORY: &str = "config_history";

/// Checks a document body; returns what is wrong (empty when it is valid).
pub type Validator = fn(&Value) -> Vec<FieldError>;

/// One configuration kind.
#[derive(Debug, Clone)]
pub struct Kind {
    /// The name in the path.
    pub name: &'static str,
    /// What it configures.
    pub description: &'static str,
    /// Who may replace it (admins always may).
    pub editors: &'static [Role],
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

impl Default for Registry {
    fn default() -> Self {
        let mut r = Registry {
            kinds: BTreeMap::new(),
        };
        let kinds = [
            (
                "scoring_rules",
                "behaviour score rules: points per activity, caps, decay",
                SCORING_EDITORS,
                validate_scoring as Validator,
            ),
            (
                "grading_rules",
                "fit grade rules: title, size, industry, country, domain",
                SCORING_EDITORS,
                validate_grading,
            ),
            (
                "mql_thresholds",
                "the grade floor and score that make an MQL",
                SCORING_EDITORS,
                validate_thresholds,
            ),
            (
                "form_mappings",
                "form field names mapped to lead fields, per form",
                SCORING_EDITORS,
                validate_mappings,
            ),
            (
                "pools",
                "routing pools and their reps",
                ADMINS,
                validate_pools,
            ),
            (
                "sla_policies",
                "SLA promises and their escalations",
                ADMINS,
                validate_sla,
            ),
            (
                "calendars",
                "business hours, time zones and holidays",
                ADMINS,
                validate_calendars,
            ),
            (
                "disqualification_reasons",
                "the reasons a lead may be disqualified for",
                ADMINS,
                validate_reasons,
            ),
            (
                "report_schedules",
                "funnel reports generated on a weekly schedule and where they are sent",
                REPORT_EDITORS,
                validate_schedules,
            ),
        ];
        for (name, description, editors, validate) in kinds {
            r.register(Kind {
                name,
                description,
                editors,
                validate,
                default: empty_default,
            });
        }
        if let Some(k) = r.kinds.get_mut("disqualification_reasons") {
            k.default = default_reasons;
        }
        r
    }
}

impl Registry {
    /// Adds a kind, or replaces the one of the same name (how a function plugs in its typed
    /// validator).
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
    /// The version (0: the default, never stored).
    pub version: u64,
    /// The body.
    pub body: Value,
}

const READERS: &[Role] = &[Role::Admin, Role::Marketing, Role::Manager];

/// `GET /config`: every kind with its current version.
pub async fn list(deps: &Deps, who: &Principal) -> ApiResult<Response<Body>> {
    who.require(READERS, "read configuration")?;
    let mut items = Vec::new();
    for kind in deps.config.kinds() {
        let version = deps
            .documents
            .get(COLLECTION, kind.name)
            .await?
            .map_or(0, |d| d.version);
        items.push(
            json!({ "kind": kind.name, "description": kind.description, "version": version }),
        );
    }
    http::json(200, &json!({ "items": items }))
}

/// The current document of a kind (the default, at version 0, if none is stored).
pub async fn current(deps: &Deps, kind: &Kind) -> ApiResult<ConfigView> {
    let stored = deps.documents.get(COLLECTION, kind.name).await?;
    Ok(match stored {
        Some(d) => ConfigView {
            kind: kind.name.to_owned(),
            version: d.version,
            body: d.body,
        },
        None => ConfigView {
            kind: kind.name.to_owned(),
            version: 0,
            body: (kind.default)(),
        },
    })
}

/// `GET /config/{kind}`
pub async fn get(deps: &Deps, who: &Principal, name: &str) -> ApiResult<Response<Body>> {
    who.require(READERS, "read configuration")?;
    let kind = deps.config.kind(name)?;
    let view = current(deps, kind).await?;
    http::json_tagged(200, &view, view.version)
}

/// `GET /config/{kind}/versions/{version}`
pub async fn get_version(
    deps: &Deps,
    who: &Principal,
    name: &str,
    version: &str,
) -> ApiResult<Response<Body>> {
    who.require(READERS, "read configuration")?;
    let kind = deps.config.kind(name)?;
    let v: u64 = version
        .parse()
        .map_err(|_| ApiError::BadRequest("the version must be a whole number".into()))?;
    let doc = deps
        .documents
        .get(HISTORY, &history_key(kind.name, v))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("version {v} of {name}")))?;
    let view = ConfigView {
        kind: kind.name.to_owned(),
        version: v,
        body: doc.body,
    };
    http::json_tagged(200, &view, v)
}

fn history_key(kind: &str, version: u64) -> String {
    format!("{kind}/{version:010}")
}

/// `PUT /config/{kind}`: validates and stores a new version.
pub async fn put(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    name: &str,
) -> ApiResult<Response<Body>> {
    let kind = deps.config.kind(name)?;
    if !who.has(Role::Admin) && !who.any(kind.editors) {
        return Err(ApiError::Forbidden(format!(
            "your roles do not allow you to replace {name}"
        )));
    }
    let expected = http::if_match(req)?;
    let body: Value = http::json_body(req)?;
    let errors = (kind.validate)(&body);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }

    // Checked before the commit too, so a wild If-Match never reaches version arithmetic.
    let stored = current(deps, kind).await?.version;
    if expected != stored {
        return Err(ApiError::StaleVersion {
            expected,
            current: stored,
        });
    }
    let version = expected + 1;
    let doc = |collection: &str, key: String| Document {
        collection: collection.to_owned(),
        key,
        version,
        index: None,
        body: body.clone(),
        expires_at: None,
    };
    let expect = if expected == 0 {
        Expect::Absent
    } else {
        Expect::Version(expected)
    };
    let commit = Commit {
        documents: vec![
            DocumentWrite::Put {
                doc: doc(COLLECTION, kind.name.to_owned()),
                expect,
            },
            DocumentWrite::Put {
                doc: doc(HISTORY, history_key(kind.name, version)),
                expect: Expect::Absent,
            },
        ],
        ..Commit::default()
    };
    match deps.journey.commit(commit).await? {
        CommitOutcome::Committed => {
            let view = ConfigView {
                kind: kind.name.to_owned(),
                version,
                body,
            };
            http::json_tagged(200, &view, version)
        }
        _ => {
            let current = current(deps, kind).await?.version;
            Err(ApiError::StaleVersion { expected, current })
        }
    }
}

/// The configured disqualification reason codes.
pub async fn disqualification_reasons(deps: &Deps) -> ApiResult<Vec<String>> {
    let kind = deps.config.kind("disqualification_reasons")?;
    let view = current(deps, kind).await?;
    let codes = view.body["reasons"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(codes)
}

// ---------------------------------------------------------------------------------------
// Structural validators.

/// Checks `body[field]` is an array of objects, each with a unique non-empty string `id_field`,
/// then runs `each` on every item.
fn items(
    body: &Value,
    field: &str,
    id_field: &str,
    each: impl Fn(&Value, &str, &mut Vec<FieldError>),
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(list) = body.get(field).and_then(Value::as_array) else {
        return vec![FieldError::new(format!("/{field}"), "must be an array")];
    };
    let mut seen = BTreeSet::new();
    for (i, item) in list.iter().enumerate() {
        let at = format!("/{field}/{i}");
        if !item.is_object() {
            errors.push(FieldError::new(at, "must be an object"));
            continue;
        }
        match item.get(id_field).and_then(Value::as_str).map(str::trim) {
            Some(id) if !id.is_empty() => {
                if !seen.insert(id.to_owned()) {
                    errors.push(FieldError::new(
                        format!("{at}/{id_field}"),
                        "is a duplicate",
                    ));
                }
            }
            _ => errors.push(FieldError::new(
                format!("{at}/{id_field}"),
                "must be a non-empty string",
            )),
        }
        each(item, &at, &mut errors);
    }
    errors
}

fn number(
    item: &Value,
    at: &str,
    name: &str,
    required: bool,
    min: f64,
    errors: &mut Vec<FieldError>,
) {
    match item.get(name) {
        None | Some(Value::Null) if !required => {}
        Some(v) if v.as_f64().is_some_and(|n| n >= min) => {}
        _ if min == f64::MIN => {
            errors.push(FieldError::new(format!("{at}/{name}"), "must be a number"))
        }
        _ => errors.push(FieldError::new(
            format!("{at}/{name}"),
            format!("must be a number ≥ {min}"),
        )),
    }
}

fn string(item: &Value, at: &str, name: &str, errors: &mut Vec<FieldError>) {
    let blank = item
        .get(name)
        .and_then(Value::as_str)
        .is_none_or(|s| s.trim().is_empty());
    if blank {
        errors.push(FieldError::new(
            format!("{at}/{name}"),
            "must be a non-empty string",
        ));
    }
}

fn grade(item: &Value, at: &str, name: &str, required: bool, errors: &mut Vec<FieldError>) {
    match item.get(name) {
        None | Some(Value::Null) if !required => {}
        Some(Value::String(g)) if ["A", "B", "C", "D", "E", "F"].contains(&g.as_str()) => {}
        _ => errors.push(FieldError::new(
            format!("{at}/{name}"),
            "must be a grade A to F",
        )),
    }
}

fn validate_scoring(body: &Value) -> Vec<FieldError> {
    items(body, "rules", "id", |item, at, errors| {
        number(item, at, "points", true, f64::MIN, errors);
        number(item, at, "cap", false, 0.0, errors);
        number(item, at, "decay_days", false, 0.0, errors);
    })
}

fn validate_grading(body: &Value) -> Vec<FieldError> {
    items(body, "rules", "id", |item, at, errors| {
        string(item, at, "field", errors);
        grade(item, at, "grade", false, errors);
    })
}

fn validate_thresholds(body: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    grade(body, "", "grade_floor", true, &mut errors);
    number(body, "", "score", true, 0.0, &mut errors);
    grade(body, "", "hand_raiser_grade_floor", false, &mut errors);
    errors
}

fn validate_mappings(body: &Value) -> Vec<FieldError> {
    items(body, "mappings", "form", |item, at, errors| {
        let ok = item
            .get("fields")
            .and_then(Value::as_object)
            .is_some_and(|m| m.values().all(Value::is_string));
        if !ok {
            errors.push(FieldError::new(
                format!("{at}/fields"),
                "must map field names to lead fields",
            ));
        }
    })
}

fn validate_pools(body: &Value) -> Vec<FieldError> {
    items(body, "pools", "id", |item, at, errors| {
        let ok = item
            .get("reps")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().all(Value::is_string));
        if !ok {
            errors.push(FieldError::new(
                format!("{at}/reps"),
                "must be an array of rep ids",
            ));
        }
    })
}

/// The policies exactly as routing reads them when it starts clocks
/// ([`SlaPolicies`](lifecycle::sla::SlaPolicies), validated as a whole), so a document the API
/// accepts is one routing can use.
fn validate_sla(body: &Value) -> Vec<FieldError> {
    let policies = match lifecycle::sla::SlaPolicies::deserialize(body) {
        Ok(policies) => policies,
        Err(e) => return vec![FieldError::new("", format!("not SLA policies: {e}"))],
    };
    match policies.validate() {
        Ok(()) => Vec::new(),
        Err(e) => vec![FieldError::new("/policies", e.to_string())],
    }
}

fn validate_calendars(body: &Value) -> Vec<FieldError> {
    items(body, "calendars", "id", |item, at, errors| {
        string(item, at, "time_zone", errors);
        let holidays = item.get("holidays").map_or(Some(true), |h| {
            h.as_array().map(|days| {
                days.iter().all(|d| {
                    d.as_str()
                        .is_some_and(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
                })
            })
        });
        if holidays != Some(true) {
            errors.push(FieldError::new(
                format!("{at}/holidays"),
                "must be an array of YYYY-MM-DD dates",
            ));
        }
    })
}

/// Typed: the rollup reads this document as [`ReportSchedules`], so it is parsed as one, then
/// checked (ids, zones, target URLs).
fn validate_schedules(body: &Value) -> Vec<FieldError> {
    match serde_json::from_value::<ReportSchedules>(body.clone()) {
        Err(e) => vec![FieldError::new(
            "",
            format!("is not a list of report schedules: {e}"),
        )],
        Ok(s) => s
            .problems()
            .into_iter()
            .map(|(at, why)| FieldError::new(at, why))
            .collect(),
    }
}

fn validate_reasons(body: &Value) -> Vec<FieldError> {
    let mut errors = items(body, "reasons", "code", |item, at, errors| {
        string(item, at, "label", errors);
        let slug = item.get("code").and_then(Value::as_str).is_some_and(|c| {
            c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if !slug {
            errors.push(FieldError::new(
                format!("{at}/code"),
                "must be lower_snake_case",
            ));
        }
    });
    if body
        .get("reasons")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        errors.push(FieldError::new("/reasons", "must list at least one reason"));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_body_validates_or_is_the_empty_placeholder() {
        let r = Registry::default();
        let reasons = r.kind("disqualification_reasons").unwrap();
        assert!((reasons.validate)(&(reasons.default)()).is_empty());
        assert_eq!(r.kinds().count(), 9);
    }

    #[test]
    fn validators_point_at_the_wrong_field() {
        let errors = validate_scoring(&json!({ "rules": [
            { "id": "demo", "points": 30 },
            { "id": "demo", "points": "many" },
        ]}));
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["/rules/1/id", "/rules/1/points"]);
        assert_eq!(validate_thresholds(&json!({ "grade_floor": "Z" })).len(), 2);
    }

    #[test]
    fn sla_policies_are_the_documents_routing_reads() {
        let policy = json!({ "id": "hand_raiser_accept", "clock": "rep_response",
            "stage": "mql", "lead_kind": "hand_raiser", "target_minutes": 15,
            "escalation": { "remind_at_percent": 50, "reassign": true, "max_reassignments": 1 } });
        assert!(validate_sla(&json!({ "policies": [policy] })).is_empty());

        let zero = json!({ "policies": [{ "id": "p", "clock": "rep_response", "stage": "mql",
            "target_minutes": 0 }] });
        let errors = validate_sla(&zero);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("at least 1"),
            "{}",
            errors[0].message
        );
        // The shape this validator used to accept, which routing could not decode.
        let old = json!({ "policies": [{ "id": "p", "minutes": 15, "calendar": "emea" }] });
        assert!(validate_sla(&old)[0]
            .message
            .starts_with("not SLA policies"));
    }
}
