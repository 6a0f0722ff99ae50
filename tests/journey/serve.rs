//! The local stack over real HTTP: a signed Calendly booking from the shared fixtures becomes a
//! lead that is scored, made an MQL, routed with its SLA clock running, accepted, qualified and
//! counted in the funnel report; erasing the person leaves the report as it was.
//!
//! The stack runs on a manual clock set to the fixture's `received_at`, so the signature's
//! timestamp is fresh, and the test moves time and drains the queues itself. Expected values
//! come from the fixture README (e-mail, source, campaign, hand raiser) and from the demo
//! configuration `serve` documents (the rep, the 15-minute hand-raiser promise).

use chrono::{DateTime, Duration};
use embedded::EmbeddedStore;
use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, client::conn::http1, Request};
use hyper_util::rt::TokioIo;
use journey_e2e::shared_dir;
use journey_local::{
    seed,
    serve::{bind, serve_http},
    stack::{Stack, StackConfig},
};
use lifecycle::Timestamp;
use ports::{Clock, DocumentStore, ManualClock};
use serde_json::Value;
use std::{collections::HashMap, net::SocketAddr, path::PathBuf, sync::Arc};

const ADMIN: &str = r#"{"sub":"e2e-admin","roles":"admin"}"#;

fn fixture(name: &str) -> PathBuf {
    shared_dir().join("fixtures/webhooks").join(name)
}

fn t(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// An answer: status, ETag and the body as JSON (`Null` when it is not JSON).
struct Answer {
    status: u16,
    etag: Option<String>,
    json: Value,
}

/// One request on a fresh connection.
async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        etag,
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
    }
}

/// A request to the API as the admin.
fn api(method: &str, path: &str) -> hyper::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("x-dev-user", ADMIN)
}

/// The fixture's body and a request carrying its sidecar's method, path and headers.
fn delivery(name: &str) -> (Request<Full<Bytes>>, Timestamp) {
    let body = std::fs::read(fixture(&format!("{name}.json"))).unwrap();
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(fixture(&format!("{name}.headers.json"))).unwrap())
            .unwrap();
    let url = url_path(sidecar["url"].as_str().unwrap());
    let mut req = Request::builder()
        .method(sidecar["method"].as_str().unwrap())
        .uri(url)
        .header("host", "127.0.0.1");
    for (k, v) in sidecar["headers"].as_object().unwrap() {
        req = req.header(k.as_str(), v.as_str().unwrap());
    }
    let received_at = t(sidecar["received_at"].as_str().unwrap());
    (req.body(Full::new(Bytes::from(body))).unwrap(), received_at)
}

/// `/webhooks/calendly` of `https://leads.example.org/webhooks/calendly`.
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or("/".to_owned(), |i| after_scheme[i..].to_owned())
}

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// The stack on a manual clock at `start`, seeded with the demo configuration, served on an
/// ephemeral port of 127.0.0.1.
async fn start(start: Timestamp) -> (Arc<Stack>, Arc<ManualClock>, SocketAddr) {
    let clock = Arc::new(ManualClock::new(start));
    let store = EmbeddedStore::in_memory().unwrap();
    seed::seed_demo(&store).await.unwrap();
    let config = StackConfig::local(&HashMap::new(), "test-secret").unwrap();
    let stack = Arc::new(Stack::new(store, clock.clone(), config));
    let listener = bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_http(stack.clone(), listener));
    (stack, clock, addr)
}

/// The March 2025 funnel by source, as of `as_of` (empty: now).
fn report_path(as_of: &str) -> String {
    let period = "from=2025-03-01T00:00:00Z&to=2025-04-01T00:00:00Z";
    match as_of {
        "" => format!("/reports/funnel?{period}&group_by=source"),
        _ => format!("/reports/funnel?{period}&group_by=source&as_of={as_of}"),
    }
}

async fn report(addr: SocketAddr) -> Value {
    let answer = send(addr, api("GET", &report_path("")).body(empty()).unwrap()).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json
}

async fn act(addr: SocketAddr, lead: &str, action: &str, key: &str, version: &str) -> Answer {
    let req = api("POST", &format!("/leads/{lead}/{action}"))
        .header("idempotency-key", key)
        .header("if-match", version)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    send(addr, req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendly_booking_goes_from_webhook_to_the_funnel_report_over_http() {
    let (req, received_at) = delivery("calendly/invitee_created_normal");
    let (stack, clock, addr) = start(received_at).await;

    // The delivery, signed with `test-secret` as the fixture says.
    let answer = send(addr, req).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let drained = stack.drain().await.unwrap();
    assert_eq!((drained.scored, drained.routed, drained.failed), (1, 1, 0));
    // The rep's assignment notice reached the notifier (the demo pool has no channel, so it
    // is acknowledged without a post).
    assert_eq!(drained.notified, 1);

    // Scored, MQL at once (a demo booking is a hand raiser), assigned to the demo rep.
    let leads = send(addr, api("GET", "/leads").body(empty()).unwrap()).await;
    let items = leads.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let lead = &items[0];
    let id = lead["id"].as_str().unwrap().to_owned();
    assert_eq!(lead["email"], "nia.okafor@lumenwise.example.com");
    assert_eq!(lead["attribution"]["source"], "website");
    assert_eq!(lead["attribution"]["campaign"], "pricing-page-cta");
    assert_eq!(lead["stage"], "mql");
    assert_eq!(lead["owner"], seed::DEMO_REP);
    assert!(lead["score"].as_f64().unwrap() > 0.0, "scored: {lead}");

    // The rep's response clock runs: due 15 minutes after the assignment, and the sweep
    // reminds the rep at half time, not before.
    let clock_key = format!("{id}:1:rep_response:0");
    let sla = stack.store().get("sla_clock", &clock_key).await.unwrap();
    let sla = sla.expect("a response clock was started").body;
    assert_eq!(sla["stopped_at"], Value::Null);
    let due = t(sla["due_at"].as_str().unwrap());
    assert_eq!(due, received_at + Duration::minutes(15));
    clock.advance(Duration::minutes(7));
    assert_eq!(
        stack.run_schedules(clock.now()).await.unwrap().sweep.steps,
        0
    );
    clock.advance(Duration::minutes(1));
    let swept = stack.run_schedules(clock.now()).await.unwrap().sweep;
    assert_eq!((swept.steps, swept.breaches), (1, 0), "the reminder only");

    // Accepted with the lead's ETag; the same request again answers the same and changes
    // nothing; then qualified.
    let detail = send(
        addr,
        api("GET", &format!("/leads/{id}")).body(empty()).unwrap(),
    )
    .await;
    let etag = detail.etag.expect("the lead has an ETag");
    let accepted = act(addr, &id, "accept", "e2e-accept-1", &etag).await;
    assert_eq!(
        (accepted.status, &accepted.json["stage"]),
        (200, &"sal".into())
    );
    let again = act(addr, &id, "accept", "e2e-accept-1", &etag).await;
    assert_eq!(
        (again.status, again.etag.clone()),
        (200, accepted.etag.clone())
    );
    clock.advance(Duration::minutes(30));
    let tag = accepted.etag.unwrap();
    let qualified = act(addr, &id, "qualify", "e2e-qualify-1", &tag).await;
    assert_eq!(
        (qualified.status, &qualified.json["stage"]),
        (200, &"sql".into())
    );

    // In the funnel report: one lead-cycle entered every stage up to SQL, from `website`.
    let before = report(addr).await;
    for stage in ["new", "mql", "sal", "sql"] {
        assert_eq!(before["total"]["entered"][stage], 1, "{stage}: {before}");
    }
    let groups = before["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["group"], "website");

    // The nightly rollup runs when 02:15 UTC passes between two ticks.
    clock.set(t("2025-03-05T02:14:00Z"));
    assert!(stack
        .run_schedules(clock.now())
        .await
        .unwrap()
        .rollup
        .is_none());
    clock.set(t("2025-03-05T02:16:00Z"));
    assert!(stack
        .run_schedules(clock.now())
        .await
        .unwrap()
        .rollup
        .is_some());

    // Erased: gone for the API, and the report (at the same `as_of`) is unchanged.
    let as_of = before["as_of"].as_str().unwrap().to_owned();
    let erased = send(
        addr,
        api("DELETE", &format!("/leads/{id}"))
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(erased.status, 200, "{}", erased.json);
    let gone = send(
        addr,
        api("GET", &format!("/leads/{id}")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(gone.status, 404);
    let after = send(
        addr,
        api("GET", &report_path(&as_of)).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(after.json, before);
}

#[tokio::test]
async fn a_forged_delivery_is_refused_and_stores_nothing() {
    let (req, received_at) = delivery("calendly/invitee_created_normal");
    let (stack, _clock, addr) = start(received_at).await;
    let (parts, _) = req.into_parts();
    let forged = Request::from_parts(parts, Full::new(Bytes::from_static(b"{\"event\":1}")));

    let answer = send(addr, forged).await;
    assert_eq!(answer.status, 401);
    assert_eq!(stack.drain().await.unwrap().scored, 0);
    let leads = send(addr, api("GET", "/leads").body(empty()).unwrap()).await;
    assert_eq!(leads.json["items"], Value::Array(vec![]));
}

/// The Graph API as a fixture: the one lead the shared fixtures hold, by its id.
struct FixtureGraph;

#[async_trait::async_trait]
impl form_webhook::lead_fetch::LeadFetcher for FixtureGraph {
    async fn fetch(
        &self,
        leadgen_id: &str,
    ) -> Result<Vec<u8>, form_webhook::lead_fetch::FetchError> {
        match leadgen_id {
            "2233445566778899" => {
                Ok(std::fs::read(fixture("facebook-lead-ads/leadgen_normal.lead.json")).unwrap())
            }
            _ => Err(form_webhook::lead_fetch::FetchError::Unavailable),
        }
    }
}

/// Meta's webhook carries ids only: the stack answers at once, and its `lead_fetch` pump reads
/// the lead from the Graph API (here the fixture's answer) and stores it; the redelivery
/// changes nothing. Expected values: the fixture README's row for `leadgen_normal`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meta_lead_is_fetched_after_the_webhook_and_stored_once() {
    let (req, received_at) = delivery("facebook-lead-ads/leadgen_normal");
    let clock = Arc::new(ManualClock::new(received_at));
    let store = EmbeddedStore::in_memory().unwrap();
    seed::seed_demo(&store).await.unwrap();
    // The form's audience is British (as a deployment would say in `WEBHOOK_FORMS`), which is
    // what makes the national number `07700 900456` knowable as +44.
    let forms = r#"[{"provider": "meta-leadgen", "form_id": "1029384756647382", "country": "GB"}]"#;
    let vars = HashMap::from([("WEBHOOK_FORMS".to_owned(), forms.to_owned())]);
    let mut config = StackConfig::local(&vars, "test-secret").unwrap();
    config.lead_fetcher = Some(Arc::new(FixtureGraph));
    let stack = Arc::new(Stack::new(store, clock.clone(), config));
    let listener = bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_http(stack.clone(), listener));

    let answer = send(addr, req).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let drained = stack.drain().await.unwrap();
    assert_eq!((drained.fetched, drained.failed), (1, 0));

    let (again, _) = delivery("facebook-lead-ads/leadgen_duplicate");
    assert_eq!(send(addr, again).await.status, 200);
    // The redelivery sends the stored fetch request again (in case the first send was lost);
    // fetching it again meets the first fetch's claim and changes nothing.
    assert_eq!(stack.drain().await.unwrap().failed, 0);

    let leads = send(addr, api("GET", "/leads").body(empty()).unwrap()).await;
    let items = leads.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", leads.json);
    let lead = &items[0];
    assert_eq!(lead["email"], "siobhan.nibhriain@oakhollow.example.org");
    assert_eq!(lead["profile"]["name"], "Siobhán Ní Bhriain");
    assert_eq!(lead["phone"], "+447700900456");
    assert_eq!(lead["attribution"]["source"], "instagram");

    let id = lead["id"].as_str().unwrap();
    let timeline = send(
        addr,
        api("GET", &format!("/leads/{id}/timeline"))
            .body(empty())
            .unwrap(),
    )
    .await;
    let activities = timeline.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "activity")
        .count();
    assert_eq!(activities, 1, "one form activity: {}", timeline.json);
}

/// A rule whose 60 points count an hour after the form; the MQL needs 50.
const DELAYED_RULES: &str = r#"{ "version": 2, "scores": [{ "name": "mql" }], "mql_score": "mql",
    "rules": [{ "id": "returning", "kinds": ["form_submitted"], "points": 60, "delay_seconds": 3600 }],
    "grade": { "rules": [], "bands": { "a": 0, "b": 0, "c": 0, "d": 0, "e": 0 } },
    "mql": { "min_grade": "B", "min_score": 50, "hand_raiser_floor": "D" } }"#;

/// `serve` runs the scoring sweep with the other schedules every minute: a lead whose points
/// count an hour after its form becomes an MQL on the first tick after that hour, with nothing
/// else arriving, and is routed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minute_schedule_makes_an_mql_of_a_lead_whose_delayed_points_came_due() {
    let submitted = t("2025-06-02T10:00:00Z");
    let (stack, clock, addr) = start(submitted).await;
    let put = api("PUT", "/config/scoring_rules")
        .header("if-match", "\"0\"")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(DELAYED_RULES.as_bytes())))
        .unwrap();
    let saved = send(addr, put).await;
    assert_eq!(saved.status, 200, "{}", saved.json);

    let form = serde_json::json!({
        "event_id": "e2e-delayed-1",
        "form_name": "Pricing guide",
        "submitted_at": "2025-06-02T10:00:00Z",
        "lead": { "email": "kim@firm.example", "first_name": "Kim", "last_name": "Lee" },
    });
    let req = Request::builder()
        .method("POST")
        .uri("/webhooks/generic/e2e")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("x-webhook-token", "test-secret")
        .body(Full::new(Bytes::from(form.to_string())))
        .unwrap();
    assert_eq!(send(addr, req).await.status, 200);
    assert_eq!(stack.drain().await.unwrap().scored, 1);
    let stage = |leads: &Value| leads["items"][0]["stage"].clone();
    let leads = send(addr, api("GET", "/leads").body(empty()).unwrap()).await;
    assert_eq!(stage(&leads.json), "new", "the points do not count yet");

    // A tick just before the hour changes nothing; the first one after it decides.
    clock.set(t("2025-06-02T10:59:00Z"));
    let early = stack.run_schedules(clock.now()).await.unwrap().scoring;
    assert_eq!((early.wakes.due, early.wakes.mqls), (0, 0));
    clock.set(t("2025-06-02T11:00:00Z"));
    let due = stack.run_schedules(clock.now()).await.unwrap().scoring;
    assert_eq!((due.wakes.due, due.wakes.mqls), (1, 1));
    assert_eq!(stack.drain().await.unwrap().routed, 1);
    let leads = send(addr, api("GET", "/leads").body(empty()).unwrap()).await;
    assert_eq!(stage(&leads.json), "mql");
}
