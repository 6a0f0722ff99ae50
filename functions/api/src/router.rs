//! The routing table: every method and path the API answers, in one list.
//!
//! Paths use `{name}` parameters, the same syntax as OpenAPI, so a test can check that
//! [`ROUTES`] and `openapi.json` describe exactly the same operations.

use crate::{actions::Action, error::ApiError};
use lambda_http::http::Method;
use std::{collections::BTreeMap, sync::OnceLock};

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /openapi.json`
    OpenApi,
    /// `GET /leads`
    ListLeads,
    /// `GET /leads/{id}`
    GetLead,
    /// `DELETE /leads/{id}`
    EraseLead,
    /// `GET /leads/{id}/timeline`
    Timeline,
    /// `GET /leads/{id}/score`
    Score,
    /// `POST /leads/{id}/<action>`
    Act(Action),
    /// `GET /leads/{id}/routing`
    RoutingHistory,
    /// `GET /leads/{id}/routing/dry-run`
    RoutingDryRun,
    /// `POST /leads/{id}/assign`
    Assign,
    /// `GET /overflow`
    Overflow,
    /// `GET /reports/funnel`
    Funnel,
    /// `GET /reports/funnel.html`
    FunnelPage,
    /// `GET /reports/plan`
    Plan,
    /// `GET /reports/roi`
    Roi,
    /// `GET /reports/costs`
    ListCosts,
    /// `POST /reports/costs`
    PutCosts,
    /// `GET /reports/scheduled/{id}`
    ScheduledReport,
    /// `GET /config`
    ListConfig,
    /// `GET /config/{kind}`
    GetConfig,
    /// `PUT /config/{kind}`
    PutConfig,
    /// `GET /config/{kind}/versions/{version}`
    GetConfigVersion,
    /// `GET /config/calendars/{id}`
    GetCalendar,
    /// `PUT /config/calendars/{id}`
    PutCalendar,
    /// `GET /config/calendars/{id}/versions/{version}`
    GetCalendarVersion,
    /// `GET /reps`
    ListReps,
    /// `GET /reps/{id}`
    GetRep,
    /// `PUT /reps/{id}`
    PutRep,
    /// `PUT /reps/{id}/availability`
    PutAvailability,
}

/// Every operation: method, path template, route.
pub const ROUTES: &[(&str, &str, Route)] = &[
    ("GET", "/openapi.json", Route::OpenApi),
    ("GET", "/leads", Route::ListLeads),
    ("GET", "/leads/{id}", Route::GetLead),
    ("DELETE", "/leads/{id}", Route::EraseLead),
    ("GET", "/leads/{id}/timeline", Route::Timeline),
    ("GET", "/leads/{id}/score", Route::Score),
    ("POST", "/leads/{id}/accept", Route::Act(Action::Accept)),
    ("POST", "/leads/{id}/reject", Route::Act(Action::Reject)),
    ("POST", "/leads/{id}/qualify", Route::Act(Action::Qualify)),
    (
        "POST",
        "/leads/{id}/disqualify",
        Route::Act(Action::Disqualify),
    ),
    ("POST", "/leads/{id}/recycle", Route::Act(Action::Recycle)),
    ("GET", "/leads/{id}/routing", Route::RoutingHistory),
    ("GET", "/leads/{id}/routing/dry-run", Route::RoutingDryRun),
    ("POST", "/leads/{id}/assign", Route::Assign),
    ("GET", "/overflow", Route::Overflow),
    ("GET", "/reports/funnel", Route::Funnel),
    ("GET", "/reports/funnel.html", Route::FunnelPage),
    ("GET", "/reports/plan", Route::Plan),
    ("GET", "/reports/roi", Route::Roi),
    ("GET", "/reports/costs", Route::ListCosts),
    ("POST", "/reports/costs", Route::PutCosts),
    ("GET", "/reports/scheduled/{id}", Route::ScheduledReport),
    ("GET", "/config", Route::ListConfig),
    ("GET", "/config/{kind}", Route::GetConfig),
    ("PUT", "/config/{kind}", Route::PutConfig),
    (
        "GET",
        "/config/{kind}/versions/{version}",
        Route::GetConfigVersion,
    ),
    ("GET", "/config/calendars/{id}", Route::GetCalendar),
    ("PUT", "/config/calendars/{id}", Route::PutCalendar),
    (
        "GET",
        "/config/calendars/{id}/versions/{version}",
        Route::GetCalendarVersion,
    ),
    ("GET", "/reps", Route::ListReps),
    ("GET", "/reps/{id}", Route::GetRep),
    ("PUT", "/reps/{id}", Route::PutRep),
    ("PUT", "/reps/{id}/availability", Route::PutAvailability),
];

/// A matched request: the route and its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The route.
    pub route: Route,
    /// Path parameters by name, percent-decoded.
    pub params: BTreeMap<String, String>,
}

impl Matched {
    /// A path parameter (the router guarantees the names in [`ROUTES`]).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }
}

type Table = matchit::Router<Vec<(Method, Route)>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut by_path: BTreeMap<&str, Vec<(Method, Route)>> = BTreeMap::new();
        for (method, path, route) in ROUTES {
            let method = Method::from_bytes(method.as_bytes()).expect("routes use valid methods");
            by_path.entry(path).or_default().push((method, *route));
        }
        let mut router = matchit::Router::new();
        for (path, methods) in by_path {
            router.insert(path, methods).expect("routes do not overlap");
        }
        router
    })
}

/// Finds the route for a method and path: 404 for an unknown path, 405 for a known path with
/// another method.
pub fn route(method: &Method, path: &str) -> Result<Matched, ApiError> {
    let trimmed = match path.len() {
        0 | 1 => path,
        _ => path.trim_end_matches('/'),
    };
    let found = table()
        .at(trimmed)
        .map_err(|_| ApiError::NotFound("this path".to_owned()))?;
    let route = found
        .value
        .iter()
        .find(|(m, _)| m == method)
        .map(|(_, r)| *r)
        .ok_or_else(|| {
            let allowed: Vec<&str> = found.value.iter().map(|(m, _)| m.as_str()).collect();
            ApiError::MethodNotAllowed(allowed.join(", "))
        })?;
    let params = found
        .params
        .iter()
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect();
    Ok(Matched { route, params })
}

fn decode(segment: &str) -> String {
    form_urlencoded::parse(format!("v={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_resolve() {
        let m = route(&Method::POST, "/leads/L%201/accept").unwrap();
        assert_eq!(m.route, Route::Act(Action::Accept));
        assert_eq!(m.param("id"), "L 1");
        assert!(matches!(
            route(&Method::GET, "/leads/x/accept"),
            Err(ApiError::MethodNotAllowed(_))
        ));
        assert!(matches!(
            route(&Method::GET, "/nope"),
            Err(ApiError::NotFound(_))
        ));
        assert_eq!(
            route(&Method::GET, "/leads/").unwrap().route,
            Route::ListLeads
        );
    }
}
