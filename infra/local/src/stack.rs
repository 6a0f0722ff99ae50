//! The local stack: every function of the system in one process, over one embedded store and
//! one clock.
//!
//! A [`Stack`] holds each function's handler, built from the same library entry points the
//! Lambda binaries use, and wires them the way the SAM template does:
//!
//! | template | here |
//! |---|---|
//! | `POST /webhooks/{provider}` (form-webhook) | [`Stack::handle`] → [`form_webhook::Service`] |
//! | `POST /events` (tracking) | [`Stack::handle`] → [`scoring::tracking::Tracker`] |
//! | every other route (api) | [`Stack::handle`] → [`api::handle`] |
//! | SQS `activities` → scoring | [`Stack::drain`] → [`scoring::Scorer::poll_once`] |
//! | SQS `mqls` → routing | [`Stack::drain`] → [`routing::Router::handle_batch`] |
//! | `rate(1 minute)` → sla-timers | [`Stack::run_schedules`] → [`sla_timers::Sweeper::sweep`] |
//! | `rate(1 minute)` → scoring-sweep | [`Stack::run_schedules`] → [`scoring::scheduled::sweep`] |
//! | `cron(15 2 * * ? *)` → funnel-rollup | [`Stack::run_schedules`] → [`funnel_rollup::handle`] |
//!
//! Nothing here reads the wall clock: "now" is the injected [`Clock`], which is also the
//! store's, so a test drives the whole journey on a [`ports::ManualClock`] and `serve` runs it
//! on the system clock. The HTTP server and the timers that call [`Stack::drain`] and
//! [`Stack::run_schedules`] are in [`crate::serve`].
//!
//! Known shortcomings, stated here where they live:
//! * The `lead_fetch` queue (Meta Lead Ads, whose webhook carries ids only) is pumped only
//!   when a Graph API token is configured (`PROVIDER_TOKENS`, as for the `lead-fetch` Lambda):
//!   without one, Meta deliveries are answered and queued, and wait there.
//! * `journey_events` has no consumer in the system (it is for a CRM sync outside it), so
//!   locally its messages stay in the store's `queue` table, where `sqlite3` shows them.
//! * Notices on `notifications` go to the [`notifier::Dispatcher`], which posts them to the
//!   rep's or team's configured URL over real HTTP(S); with no target configured (the seeded
//!   demo pool has none) they are acknowledged and counted, not sent anywhere.

use anyhow::Context;
use chrono::NaiveTime;
use embedded::EmbeddedStore;
use form_webhook::{
    graph::{self, GraphLeadFetcher},
    lead_fetch::{self, LeadFetcher},
    Config, ConfigSource, Headers, Provider, Secret, Service, WebhookRequest,
};
use http_notifier::{HttpNotifier, JsonGetter};
use lambda_http::http::{Request, Response};
use lifecycle::Timestamp;
use notifier::Dispatcher;
use ports::Notifier;
use ports::{Clock, QueueConsumer, QueueError, Topic};
use routing::Router;
use scoring::{
    tracking::{self, ApiKeys, Tracker},
    Scorer,
};
use sla_timers::Sweeper;
use std::{collections::HashMap, sync::Arc, sync::Mutex};

/// The secret every webhook provider has locally unless configured otherwise: the one the
/// shared fixtures are signed with, so that they verify as they are.
pub const DEV_WEBHOOK_SECRET: &str = "test-secret";
/// The tracking source and key of `POST /events` locally unless `TRACKING_API_KEYS` says
/// otherwise.
pub const DEV_TRACKING_KEYS: &str = r#"{"website": "dev-tracking-key"}"#;
/// When the nightly rollup runs (UTC), as in the template's schedule.
pub const NIGHTLY_AT: NaiveTime = match NaiveTime::from_hms_opt(2, 15, 0) {
    Some(t) => t,
    None => panic!("a valid time"),
};

/// How many messages a handler takes at once, and for how long they are hidden from others
/// (the template's batch size and visibility timeout).
const BATCH: usize = 10;
const VISIBILITY_SECONDS: u32 = 60;
/// An upper bound on the rounds of one drain, so a handler that keeps producing work for
/// itself cannot hold the loop for ever; what is left waits for the next drain.
const MAX_ROUNDS: usize = 100;

/// How the stack is configured: what the Lambdas read from their environment.
#[derive(Clone)]
pub struct StackConfig {
    /// The webhook secrets and per-form settings.
    pub webhooks: Config,
    /// The tracking endpoint's keys.
    pub tracking_keys: ApiKeys,
    /// The public base URL providers call (HubSpot signs the full URL); default: the URL as
    /// received.
    pub public_base_url: Option<String>,
    /// Where notices and scheduled reports are posted.
    pub notifier: Arc<dyn Notifier>,
    /// Where Meta leads are read from, when a Graph API token is configured.
    pub lead_fetcher: Option<Arc<dyn LeadFetcher>>,
}

impl std::fmt::Debug for StackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackConfig")
            .field("webhooks", &self.webhooks)
            .field("public_base_url", &self.public_base_url)
            .finish_non_exhaustive()
    }
}

impl StackConfig {
    /// The local configuration from a set of environment variables: the Lambdas' own
    /// variables (`WEBHOOK_SECRET_<PROVIDER>`, `WEBHOOK_FORMS`, `WEBHOOK_META_VERIFY_TOKEN`,
    /// `TRACKING_API_KEYS`, `PUBLIC_BASE_URL`) where set, and otherwise `default_secret` for
    /// every provider and Meta's verify token, and [`DEV_TRACKING_KEYS`].
    pub fn local(vars: &HashMap<String, String>, default_secret: &str) -> anyhow::Result<Self> {
        let mut webhooks = Config::from_vars(vars).context("in the webhook settings")?;
        for provider in Provider::ALL {
            webhooks
                .secrets
                .entry(provider)
                .or_insert_with(|| Secret::new(default_secret));
        }
        // Meta's subscription check uses a token, not a signing secret; locally it is the same
        // development secret, so the documented handshake works without more configuration.
        webhooks
            .meta_verify_token
            .get_or_insert_with(|| Secret::new(default_secret));
        let keys = vars
            .get("TRACKING_API_KEYS")
            .map_or(DEV_TRACKING_KEYS, String::as_str);
        let tracking_keys = ApiKeys::from_json(keys).context("in TRACKING_API_KEYS")?;
        let notifier = HttpNotifier::new(http_notifier::DEFAULT_TIMEOUT)
            .context("failed to build the HTTP notifier")?;
        Ok(Self {
            webhooks,
            tracking_keys,
            public_base_url: vars.get("PUBLIC_BASE_URL").cloned(),
            notifier: Arc::new(notifier),
            lead_fetcher: graph_fetcher(vars)?,
        })
    }
}

/// What one [`Stack::drain`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Activities scored (or found scored before).
    pub scored: usize,
    /// Meta leads fetched and stored (or found stored before).
    pub fetched: usize,
    /// Route requests handled.
    pub routed: usize,
    /// Notices handled (sent, or acknowledged without a target).
    pub notified: usize,
    /// Messages that failed and went back to their queue (or to its dead letters).
    pub failed: usize,
}

/// What one [`Stack::run_schedules`] did.
#[derive(Debug, Clone, Default)]
pub struct Ticked {
    /// The SLA sweep.
    pub sweep: sla_timers::SweepReport,
    /// The scoring sweep: wake-ups and the rescore after a rule change.
    pub scoring: scoring::scheduled::SweepReport,
    /// The nightly rollup, when it was due.
    pub rollup: Option<funnel_rollup::RunSummary>,
    /// The scheduled reports generated and delivered.
    pub reports: funnel_rollup::scheduled::ScheduleSummary,
}

/// The Graph API fetcher of `PROVIDER_TOKENS`' Meta token, if one is set.
fn graph_fetcher(vars: &HashMap<String, String>) -> anyhow::Result<Option<Arc<dyn LeadFetcher>>> {
    let Some(tokens) = vars.get("PROVIDER_TOKENS").filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let token = graph::meta_token(tokens).context("in PROVIDER_TOKENS")?;
    let http =
        JsonGetter::new(graph::DEFAULT_TIMEOUT).context("failed to build the Graph client")?;
    Ok(Some(Arc::new(GraphLeadFetcher::new(
        http,
        graph::GRAPH_BASE,
        token,
    ))))
}

/// Every function, over one store and one clock.
pub struct Stack {
    store: EmbeddedStore,
    clock: Arc<dyn Clock>,
    webhooks: Service,
    intake: form_webhook::Intake,
    webhook_config: ConfigSource,
    lead_fetcher: Option<Arc<dyn LeadFetcher>>,
    tracker: Tracker,
    scorer: Scorer,
    router: Router,
    sweeper: Sweeper,
    dispatcher: Dispatcher,
    notifier: Arc<dyn Notifier>,
    api: api::Deps,
    public_base_url: Option<String>,
    /// The `now` of the previous [`Stack::run_schedules`], to tell when a nightly run fell
    /// between two ticks.
    last_tick: Mutex<Option<Timestamp>>,
}

impl Stack {
    /// The stack over `store`, whose clock becomes `clock` too. The API identifies callers by
    /// the `X-Dev-User` header ([`api::auth::AuthMode::DevHeader`]): serve it on a loopback
    /// address only.
    pub fn new(store: EmbeddedStore, clock: Arc<dyn Clock>, config: StackConfig) -> Self {
        let store = store.with_clock(clock.clone());
        let shared = Arc::new(store.clone());
        let intake = form_webhook::Intake::new(shared.clone(), shared.clone());
        Self {
            webhooks: Service::new(config.webhooks.clone(), intake.clone(), clock.clone())
                .with_stored_forms(shared.clone()),
            intake,
            webhook_config: ConfigSource::from(config.webhooks).with_stored_forms(shared.clone()),
            lead_fetcher: config.lead_fetcher,
            tracker: Tracker {
                store: shared.clone(),
                keys: config.tracking_keys,
            },
            scorer: Scorer {
                store: shared.clone(),
                docs: shared.clone(),
                queue: shared.clone(),
                clock: clock.clone(),
            },
            router: Router::new(shared.clone(), shared.clone(), shared.clone()),
            sweeper: Sweeper::new(shared.clone(), shared.clone(), shared.clone()),
            dispatcher: Dispatcher::new(shared.clone(), shared.clone(), config.notifier.clone()),
            notifier: config.notifier,
            api: api::Deps::on(shared, clock.clone(), api::auth::AuthMode::DevHeader),
            public_base_url: config.public_base_url,
            store,
            clock,
            last_tick: Mutex::new(None),
        }
    }

    /// The time now, by the stack's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The store (for seeding and inspection).
    pub fn store(&self) -> &EmbeddedStore {
        &self.store
    }

    /// Answers one HTTP request, routed as API Gateway routes it.
    pub async fn handle(&self, req: Request<Vec<u8>>) -> Response<Vec<u8>> {
        let path = req.uri().path().to_owned();
        if let Some(provider) = path.strip_prefix("/webhooks/") {
            return self.webhook(provider, &req).await;
        }
        if path == "/events" && req.method() == "POST" {
            return self.track(&req).await;
        }
        self.call_api(req).await
    }

    async fn webhook(&self, provider: &str, req: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        let headers = Headers::new(
            req.headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
        );
        let url = self.public_url(req);
        let request = WebhookRequest {
            method: req.method().as_str(),
            provider,
            url: &url,
            headers: &headers,
            body: req.body(),
        };
        let answer = self.webhooks.handle(&request).await;
        respond(answer.status, answer.content_type, answer.body.into_bytes())
    }

    /// The URL as the provider called it, as the Lambda binary builds it.
    fn public_url(&self, req: &Request<Vec<u8>>) -> String {
        let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
        match (&self.public_base_url, req.headers().get("host")) {
            (Some(base), _) => format!("{}{path_and_query}", base.trim_end_matches('/')),
            (None, Some(host)) => {
                let host = host.to_str().unwrap_or("127.0.0.1");
                format!("http://{host}{path_and_query}")
            }
            (None, None) => req.uri().to_string(),
        }
    }

    async fn track(&self, req: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        let key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok());
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        let outcome = match tracking::check_content_type(content_type) {
            Ok(()) => self.tracker.track(key, req.body(), self.clock.now()).await,
            Err(e) => Err(e),
        };
        let (status, content_type, body) = tracking::answer(&outcome);
        respond(status, content_type, body.into_bytes())
    }

    async fn call_api(&self, req: Request<Vec<u8>>) -> Response<Vec<u8>> {
        let (parts, body) = req.into_parts();
        let req = lambda_http::Request::from_parts(parts, lambda_http::Body::from(body));
        let (parts, body) = api::handle(req, &self.api).await.into_parts();
        let bytes = match body {
            lambda_http::Body::Text(t) => t.into_bytes(),
            lambda_http::Body::Binary(b) => b,
            lambda_http::Body::Empty => Vec::new(),
        };
        Response::from_parts(parts, bytes)
    }

    /// Hands every visible message of the queues the system consumes to its handler, until
    /// none is left (or a bounded number of rounds have run): activities to scoring, whose MQLs go
    /// to routing in the next round.
    pub async fn drain(&self) -> Result<Drained, QueueError> {
        let mut total = Drained::default();
        for _ in 0..MAX_ROUNDS {
            let scored = self
                .scorer
                .poll_once(&self.store, BATCH, VISIBILITY_SECONDS)
                .await?;
            let fetched = self.fetch_once().await?;
            let routed = self.route_once().await?;
            let notified = self.notify_once().await?;
            total.fetched += fetched.fetched;
            total.scored += scored.done.len();
            total.failed += scored.failed.len() + routed.failed + notified.failed + fetched.failed;
            total.routed += routed.routed;
            total.notified += notified.notified;
            let handled = scored.done.len() + scored.failed.len() + routed.routed + routed.failed;
            let others = notified.notified + notified.failed + fetched.fetched + fetched.failed;
            if handled + others == 0 {
                break;
            }
        }
        Ok(total)
    }

    /// One batch of the `mqls` queue through the router; what the Lambda event source mapping
    /// does with its answer (delete the done, release the failed) is done here by hand.
    async fn route_once(&self) -> Result<Drained, QueueError> {
        let deliveries = self
            .store
            .receive(Topic::Mqls, BATCH, VISIBILITY_SECONDS)
            .await?;
        let records: Vec<(String, Option<String>)> = deliveries
            .iter()
            .map(|d| (d.id.clone(), Some(d.body.clone())))
            .collect();
        let failed = self.router.handle_batch(records, self.clock.now()).await;
        for d in &deliveries {
            if failed.contains(&d.id) {
                self.store
                    .fail(Topic::Mqls, &d.receipt, "routing failed")
                    .await?;
            } else {
                self.store.ack(Topic::Mqls, &d.receipt).await?;
            }
        }
        Ok(Drained {
            routed: deliveries.len() - failed.len(),
            failed: failed.len(),
            ..Drained::default()
        })
    }

    /// One batch of the `lead_fetch` queue through the Graph fetcher, when there is one.
    async fn fetch_once(&self) -> Result<Drained, QueueError> {
        let Some(fetcher) = &self.lead_fetcher else {
            return Ok(Drained::default());
        };
        let deliveries = self
            .store
            .receive(Topic::LeadFetch, BATCH, VISIBILITY_SECONDS)
            .await?;
        let records: Vec<(String, Option<String>)> = deliveries
            .iter()
            .map(|d| (d.id.clone(), Some(d.body.clone())))
            .collect();
        let failed = lead_fetch::handle_batch(
            &self.intake,
            fetcher.as_ref(),
            &self.webhook_config,
            records,
            self.clock.now(),
        )
        .await;
        for d in &deliveries {
            if failed.contains(&d.id) {
                self.store
                    .fail(Topic::LeadFetch, &d.receipt, "lead fetch failed")
                    .await?;
            } else {
                self.store.ack(Topic::LeadFetch, &d.receipt).await?;
            }
        }
        Ok(Drained {
            fetched: deliveries.len() - failed.len(),
            failed: failed.len(),
            ..Drained::default()
        })
    }

    /// One batch of the `notifications` queue through the dispatcher, acked or failed as the
    /// Lambda event source mapping would.
    async fn notify_once(&self) -> Result<Drained, QueueError> {
        let deliveries = self
            .store
            .receive(Topic::Notifications, BATCH, VISIBILITY_SECONDS)
            .await?;
        let report = self
            .dispatcher
            .handle_batch(&deliveries, self.clock.now())
            .await;
        for d in &deliveries {
            if report.failed.iter().any(|(id, _)| id == &d.id) {
                self.store
                    .fail(Topic::Notifications, &d.receipt, "notification failed")
                    .await?;
            } else {
                self.store.ack(Topic::Notifications, &d.receipt).await?;
            }
        }
        Ok(Drained {
            notified: report.done.len(),
            failed: report.failed.len(),
            ..Drained::default()
        })
    }

    /// The schedules at `now`: the SLA sweep and the scoring sweep (the template runs both every
    /// minute, so call this once a minute), and the funnel rollup when [`NIGHTLY_AT`] fell since
    /// the previous call.
    pub async fn run_schedules(&self, now: Timestamp) -> anyhow::Result<Ticked> {
        let sweep = self
            .sweeper
            .sweep(now)
            .await
            .context("the SLA sweep failed")?;
        let scoring = scoring::scheduled::sweep(&self.scorer, now)
            .await
            .context("the scoring sweep failed")?;
        let previous = self
            .last_tick
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(now);
        let rollup = match previous {
            Some(last) if nightly_between(last, now) => Some(self.rollup(now).await?),
            _ => None,
        };
        // The template runs the report schedules every 15 minutes; locally every tick, which
        // only makes a firing go out sooner: each firing is claimed once either way.
        let reports =
            funnel_rollup::scheduled::run(&self.store, &self.store, self.notifier.as_ref(), now)
                .await
                .context("the scheduled reports failed")?;
        Ok(Ticked {
            sweep,
            scoring,
            rollup,
            reports,
        })
    }

    /// The funnel rollup at `now`, as the nightly schedule invokes it.
    pub async fn rollup(&self, now: Timestamp) -> anyhow::Result<funnel_rollup::RunSummary> {
        let event = serde_json::json!({});
        funnel_rollup::handle(&self.store, &self.store, event, now)
            .await
            .context("the funnel rollup failed")
    }
}

/// Whether a nightly run time lies in `(last, now]`.
fn nightly_between(last: Timestamp, now: Timestamp) -> bool {
    if now <= last {
        return false;
    }
    let that_day = last.date_naive().and_time(NIGHTLY_AT).and_utc();
    let next = if that_day > last {
        that_day
    } else {
        that_day + chrono::Days::new(1)
    };
    next <= now
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut resp = Response::new(body);
    *resp.status_mut() = lambda_http::http::StatusCode::from_u16(status)
        .unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert("content-type", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn t(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn the_nightly_run_falls_between_ticks_once() {
        let before = t("2025-03-05T02:14:30Z");
        assert!(nightly_between(before, t("2025-03-05T02:15:00Z")));
        assert!(!nightly_between(before, t("2025-03-05T02:14:59Z")));
        assert!(!nightly_between(
            t("2025-03-05T02:15:00Z"),
            t("2025-03-05T02:16:00Z")
        ));
        // A laptop asleep for two days still runs it (once: the rollup catches up itself).
        assert!(nightly_between(before, t("2025-03-07T09:00:00Z")));
        assert!(!nightly_between(before, before));
    }

    async fn meta_handshake(vars: &[(&str, &str)], token: &str) -> Response<Vec<u8>> {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = StackConfig::local(&vars, DEV_WEBHOOK_SECRET).unwrap();
        let stack = Stack::new(
            EmbeddedStore::in_memory().unwrap(),
            Arc::new(ports::SystemClock),
            config,
        );
        let uri = format!(
            "/webhooks/meta-leadgen?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=123"
        );
        let req = Request::get(uri)
            .header("host", "127.0.0.1")
            .body(Vec::new())
            .unwrap();
        stack.handle(req).await
    }

    #[tokio::test]
    async fn the_meta_subscription_check_echoes_the_challenge_with_the_development_secret() {
        let resp = meta_handshake(&[], "test-secret").await;

        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body(), b"123");
    }

    #[tokio::test]
    async fn a_meta_verify_token_from_the_environment_replaces_the_development_secret() {
        let vars = [("WEBHOOK_META_VERIFY_TOKEN", "from-the-env")];

        assert_eq!(meta_handshake(&vars, "test-secret").await.status(), 401);
        let resp = meta_handshake(&vars, "from-the-env").await;
        assert_eq!(
            (resp.status().as_u16(), resp.body().as_slice()),
            (200, &b"123"[..])
        );
    }

    #[test]
    fn every_provider_gets_the_development_secret_unless_one_is_set() {
        let vars = HashMap::from([(
            "WEBHOOK_SECRET_TYPEFORM".to_owned(),
            "from-the-env".to_owned(),
        )]);
        let config = StackConfig::local(&vars, "dev").unwrap();
        assert_eq!(config.webhooks.secrets.len(), Provider::ALL.len());
        assert_eq!(
            config.webhooks.secrets[&Provider::Typeform].expose(),
            "from-the-env"
        );
        assert_eq!(config.webhooks.secrets[&Provider::Calendly].expose(), "dev");
        assert_eq!(
            config.tracking_keys.source_of("dev-tracking-key"),
            Some("website")
        );
    }
}
