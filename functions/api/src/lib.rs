//! The HTTP API function: leads and their timelines, the sales actions, routing decisions, the
//! overflow queue and assignment by hand, funnel reports and the plan, configuration
//! documents, reps and their availability, and erasure.
//!
//! [`handle`] takes a `lambda_http` request and the ports ([`Deps`]) and always returns a
//! response: the Lambda binary runs it behind API Gateway, the local runner mounts it behind a
//! loopback HTTP server. Every request gets one span with its request id; every error becomes
//! an `application/problem+json` answer in one place ([`error::ApiError::to_response`]), and a
//! 5xx is logged exactly once, here, with the same request id the caller sees.

pub mod actions;
pub mod assign;
pub mod auth;
pub mod config;
pub mod cursor;
pub mod decisions;
pub mod erasure;
pub mod error;
pub mod http;
pub mod leads;
pub mod openapi;
pub mod overflow;
pub mod reports;
pub mod reps;
pub mod router;

use crate::{
    auth::{AuthMode, Principal},
    error::ApiResult,
    router::{Matched, Route},
};
use lambda_http::{request::RequestContext, Body, Request, RequestExt, Response};
use ports::{Clock, DocumentStore, JourneyStore, Queue};
use std::sync::Arc;
use tracing::Instrument;

/// What the API works on.
#[derive(Clone)]
pub struct Deps {
    /// Leads, transitions, activities, commits.
    pub journey: Arc<dyn JourneyStore>,
    /// Configuration, reps and other documents.
    pub documents: Arc<dyn DocumentStore>,
    /// Where a duplicate request's stored messages are sent again.
    pub queue: Arc<dyn Queue>,
    /// "Now", for `recorded_at` and claim expiry.
    pub clock: Arc<dyn Clock>,
    /// How callers are identified.
    pub auth: AuthMode,
    /// The configuration kinds and their validators.
    pub config: Arc<config::Registry>,
}

impl Deps {
    /// Deps on one adapter that implements every port, with the default configuration kinds.
    pub fn on<A>(adapter: Arc<A>, clock: Arc<dyn Clock>, auth: AuthMode) -> Self
    where
        A: JourneyStore + DocumentStore + Queue + 'static,
    {
        Self {
            journey: adapter.clone(),
            documents: adapter.clone(),
            queue: adapter,
            clock,
            auth,
            config: Arc::new(config::Registry::default()),
        }
    }
}

/// Answers one request. Never fails: errors become problem documents.
pub async fn handle(req: Request, deps: &Deps) -> Response<Body> {
    let request_id = request_id(&req);
    let span = tracing::info_span!(
        "api request",
        request_id = %request_id,
        method = %req.method(),
        route = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    async {
        let mut resp = match dispatch(&req, deps).await {
            Ok(resp) => resp,
            Err(e) => {
                if e.is_server_error() {
                    // The only place a server error is logged; causes carry ids, not personal data.
                    tracing::error!(error = %chain(&e), "request failed");
                }
                e.to_response(&request_id)
            }
        };
        if let Ok(v) = request_id.parse() {
            resp.headers_mut().insert("x-request-id", v);
        }
        tracing::Span::current().record("status", resp.status().as_u16());
        resp
    }
    .instrument(span)
    .await
}

async fn dispatch(req: &Request, deps: &Deps) -> ApiResult<Response<Body>> {
    let matched = router::route(req.method(), req.uri().path())?;
    tracing::Span::current().record("route", format!("{:?}", matched.route));
    if matched.route == Route::OpenApi {
        return openapi::serve();
    }

    let who = auth::authenticate(req, deps.auth)?;
    serve(req, deps, &who, &matched).await
}

async fn serve(
    req: &Request,
    deps: &Deps,
    who: &Principal,
    m: &Matched,
) -> ApiResult<Response<Body>> {
    match m.route {
        Route::OpenApi => openapi::serve(),
        Route::ListLeads => leads::list(req, deps, who).await,
        Route::GetLead => leads::detail(deps, who, m.param("id")).await,
        Route::EraseLead => erasure::erase(req, deps, who, m.param("id")).await,
        Route::Timeline => leads::timeline(req, deps, who, m.param("id")).await,
        Route::Score => leads::score(deps, who, m.param("id")).await,
        Route::Act(action) => actions::act(req, deps, who, m.param("id"), action).await,
        Route::RoutingHistory => decisions::history(req, deps, who, m.param("id")).await,
        Route::RoutingDryRun => decisions::dry_run(req, deps, who, m.param("id")).await,
        Route::Assign => assign::assign(req, deps, who, m.param("id")).await,
        Route::Overflow => overflow::list(req, deps, who).await,
        Route::Funnel => reports::funnel(req, deps, who).await,
        Route::FunnelPage => reports::funnel_page(req, deps, who).await,
        Route::Plan => reports::plan(req, deps, who).await,
        Route::Roi => reports::roi(req, deps, who).await,
        Route::ListCosts => reports::list_costs(req, deps, who).await,
        Route::PutCosts => reports::put_costs(req, deps, who).await,
        Route::ScheduledReport => reports::scheduled(deps, who, m.param("id")).await,
        Route::ListConfig => config::list(deps, who).await,
        Route::GetConfig => config::get(req, deps, who, m.param("kind"), None).await,
        Route::PutConfig => config::put(req, deps, who, m.param("kind"), None).await,
        Route::GetConfigVersion => {
            config::get_version(deps, who, m.param("kind"), None, m.param("version")).await
        }
        Route::GetCalendar => {
            config::get(req, deps, who, config::CALENDARS, Some(m.param("id"))).await
        }
        Route::PutCalendar => {
            config::put(req, deps, who, config::CALENDARS, Some(m.param("id"))).await
        }
        Route::GetCalendarVersion => {
            let (id, version) = (Some(m.param("id")), m.param("version"));
            config::get_version(deps, who, config::CALENDARS, id, version).await
        }
        Route::ListReps => reps::list(req, deps, who).await,
        Route::GetRep => reps::get(deps, who, m.param("id")).await,
        Route::PutRep => reps::put(req, deps, who, m.param("id")).await,
        Route::PutAvailability => reps::put_availability(req, deps, who, m.param("id")).await,
    }
}

/// API Gateway's request id, else the caller's `X-Request-Id` (if sane), else a new ULID.
fn request_id(req: &Request) -> String {
    #[allow(unreachable_patterns, irrefutable_let_patterns)]
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        if let Some(id) = ctx.request_id.as_deref().filter(|id| !id.is_empty()) {
            return id.to_owned();
        }
    }
    http::header(req, "x-request-id")
        .filter(|id| id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
        .unwrap_or_else(|| ulid::Ulid::new().to_string())
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
