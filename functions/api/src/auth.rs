//! Who is calling, and what their roles let them do.
//!
//! In AWS, API Gateway's JWT authorizer has already verified the token; the function reads the
//! claims it passes on in the request context (`authorizer.jwt.claims`). The claims used:
//!
//! * `sub`: the caller's id (recorded as the actor of what they do);
//! * `roles`, else `cognito:groups`, else `groups`: any of `admin`, `marketing`, `manager`,
//!   `rep`, as a JSON array, API Gateway's flattened `[a b]` form, or a comma/space list;
//! * `team`: a manager's (or rep's) team;
//! * `rep_id`: the rep the caller is (defaults to `sub` for a rep).
//!
//! Locally there is no authorizer. [`AuthMode::DevHeader`] trusts an `X-Dev-User` header
//! (and refuses any `Authorization` header, which it cannot verify) holding the same claims
//! as a JSON object, e.g.
//! `X-Dev-User: {"sub":"ana","roles":"rep","rep_id":"rep-ana","team":"emea"}`. It must only
//! ever be enabled by the local runner on a loopback address: with it, anyone who can reach
//! the port can be anyone. The Lambda binary always uses [`AuthMode::Jwt`].
//!
//! Authorization rules (the role matrix test walks them):
//!
//! | | admin | marketing | manager | rep |
//! |---|---|---|---|---|
//! | read leads | all | all | all | own only |
//! | sales actions | all | none | team's leads and unowned leads | own only |
//! | read a lead's routing decisions | all | all | all | own only |
//! | routing dry run | all | none | team's leads and unowned leads | none |
//! | assign a lead by hand | all | none | team's leads and unowned leads | none |
//! | overflow queue | all pools | none | pools naming them `manager` | none |
//! | reports and plan | yes | yes | yes | no |
//! | read configuration | yes | yes | yes | no |
//! | replace configuration | every kind | scoring rules and form mappings | none | none |
//! | read reps | all | all | all | self |
//! | replace a rep | yes | no | no | no |
//! | set availability | all | no | team | self |
//! | erase a person | yes | no | no | no |

use crate::error::{ApiError, ApiResult};
use lambda_http::{request::RequestContext, Request, RequestExt};
use lifecycle::{Actor, RepId};
use std::collections::BTreeMap;

/// A role from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Everything.
    Admin,
    /// Reads reports, edits scoring.
    Marketing,
    /// Acts on their team's leads.
    Manager,
    /// Sees and acts on their own leads.
    Rep,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "marketing" => Some(Role::Marketing),
            "manager" => Some(Role::Manager),
            "rep" => Some(Role::Rep),
            _ => None,
        }
    }
}

/// How identities are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// From API Gateway's JWT authorizer (production).
    Jwt,
    /// From the `X-Dev-User` header. Local runs on a loopback address only.
    DevHeader,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject.
    pub sub: String,
    /// The caller's roles (at least one).
    pub roles: Vec<Role>,
    /// The caller's team, if any.
    pub team: Option<String>,
    /// The rep the caller is, if they are a rep.
    pub rep_id: Option<RepId>,
}

impl Principal {
    /// Whether the caller has `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller has any of `roles`.
    pub fn any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.has(*r))
    }

    /// Refuses unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> ApiResult<()> {
        if self.any(roles) {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "your roles do not allow you to {what}"
        )))
    }

    /// Whether the caller sees every lead (not only their own).
    pub fn sees_all_leads(&self) -> bool {
        self.any(&[Role::Admin, Role::Marketing, Role::Manager])
    }

    /// Who the caller is on a transition: the rep when they act as one, else the user.
    pub fn actor(&self) -> Actor {
        match (&self.rep_id, self.any(&[Role::Admin, Role::Manager])) {
            (Some(id), false) => Actor::Rep { id: id.clone() },
            _ => Actor::User {
                id: self.sub.clone(),
            },
        }
    }

    /// Builds a principal from claims; `None` without a subject or a known role.
    pub fn from_claims(claims: &BTreeMap<String, String>) -> Option<Principal> {
        let sub = claims
            .get("sub")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())?;
        let raw_roles = ["roles", "cognito:groups", "groups"]
            .iter()
            .find_map(|k| claims.get(*k))?;
        let roles = parse_roles(raw_roles);
        if roles.is_empty() {
            return None;
        }
        let non_empty = |k: &str| {
            claims
                .get(k)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let rep_id = non_empty("rep_id")
            .or_else(|| roles.contains(&Role::Rep).then(|| sub.to_owned()))
            .map(RepId::new);
        Some(Principal {
            sub: sub.to_owned(),
            roles,
            team: non_empty("team"),
            rep_id,
        })
    }
}

/// Roles from `["a","b"]`, `[a b]` or `a,b`; unknown names are ignored.
fn parse_roles(raw: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = raw
        .split(|c: char| c == ',' || c.is_whitespace() || "[]\"".contains(c))
        .filter_map(Role::parse)
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// The caller of `req`, or 401.
pub fn authenticate(req: &Request, mode: AuthMode) -> ApiResult<Principal> {
    let claims = match mode {
        AuthMode::Jwt => jwt_claims(req),
        AuthMode::DevHeader => dev_claims(req)?,
    };
    let claims = claims.ok_or_else(|| {
        ApiError::Unauthenticated(match mode {
            AuthMode::Jwt => "no verified token claims came with the request".into(),
            AuthMode::DevHeader => "send an X-Dev-User header holding your claims".into(),
        })
    })?;
    Principal::from_claims(&claims)
        .ok_or_else(|| ApiError::Unauthenticated("the claims need a `sub` and a known role".into()))
}

fn jwt_claims(req: &Request) -> Option<BTreeMap<String, String>> {
    // Other variants exist when another crate enables more of lambda_http's features.
    #[allow(unreachable_patterns, irrefutable_let_patterns)]
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return None;
    };
    let claims = &ctx.authorizer.as_ref()?.jwt.as_ref()?.claims;
    Some(claims.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn dev_claims(req: &Request) -> ApiResult<Option<BTreeMap<String, String>>> {
    // Nothing here can verify a token: refuse one rather than silently ignore it.
    if req.headers().contains_key("authorization") {
        return Err(ApiError::Unauthenticated(
            "this local API does not verify bearer tokens; send X-Dev-User instead".into(),
        ));
    }
    let Some(raw) = crate::http::header(req, "x-dev-user") else {
        return Ok(None);
    };
    let bad = || ApiError::Unauthenticated("X-Dev-User must be a JSON object of claims".into());
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|_| bad())?;
    let object = value.as_object().ok_or_else(bad)?;
    let claims = object
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    Ok(Some(claims))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn roles_come_in_every_shape_api_gateway_sends() {
        assert_eq!(
            parse_roles("[admin marketing]"),
            vec![Role::Admin, Role::Marketing]
        );
        assert_eq!(
            parse_roles("[\"rep\",\"manager\"]"),
            vec![Role::Manager, Role::Rep]
        );
        assert_eq!(parse_roles("rep, intern"), vec![Role::Rep]);
        assert!(parse_roles("guest").is_empty());
    }

    #[test]
    fn a_rep_defaults_to_being_their_subject() {
        let p =
            Principal::from_claims(&claims(&[("sub", "u1"), ("cognito:groups", "[rep]")])).unwrap();
        assert_eq!(p.rep_id, Some(RepId::new("u1")));
        assert_eq!(
            p.actor(),
            Actor::Rep {
                id: RepId::new("u1")
            }
        );
    }

    #[test]
    fn no_subject_or_no_known_role_is_unauthenticated() {
        assert!(Principal::from_claims(&claims(&[("roles", "admin")])).is_none());
        assert!(Principal::from_claims(&claims(&[("sub", "x"), ("roles", "guest")])).is_none());
    }
}
