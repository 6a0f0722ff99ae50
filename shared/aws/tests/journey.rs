//! The journey end to end on the AWS adapters (DynamoDB and SQS, on the moto emulator): a
//! signed Calendly booking from the shared fixtures goes through the webhook, scoring, routing
//! and the notifier, its SLA clock is swept, the rep accepts and qualifies it through the api
//! handler, the funnel report counts it and erasing the person leaves the report as it was.
//!
//! The same walk as the embedded stack's end-to-end test (`tests/journey/serve.rs`), with the
//! same expectations: from the fixture README (e-mail, source, campaign, a hand raiser) and
//! from the demo configuration `journey serve` seeds (the rep, the 15-minute promise). Each
//! function is wired as its Lambda `main` wires it: the library handler over `DynamoStore` and
//! `SqsQueue`. What Lambda's event source mapping does (receive a batch, hand it over as an
//! `SqsEvent`, delete what did not fail, release what did) is done here through the SQS
//! adapter, so every message crosses SQS on the wire.
//!
//! Ignored by default (it needs moto): run `infra/scripts/test-aws.sh`.

mod support;

use aws_adapters::DynamoStore;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Duration;
use form_webhook::{Config, Headers, Service, WebhookRequest};
use journey_local::seed;
use lambda_http::Body;
use lifecycle::Timestamp;
use ports::{
    Clock, Delivery, DocumentStore, JourneyStore, ManualClock, Notifier, NotifyError,
    QueueConsumer, Topic,
};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};
use support::Env;

const ADMIN: &str = r#"{"sub":"e2e-admin","roles":"admin"}"#;
const NEEDS_MOTO: &str = "needs moto: run infra/scripts/test-aws.sh";
/// The template's visibility timeout of the queues the test consumes.
const VISIBILITY_SECONDS: u32 = 60;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/webhooks")
        .join(name)
}

/// Every function of the system over one DynamoDB table and one set of SQS queues.
struct Functions {
    env: Env,
    /// The table, on the test's clock.
    store: Arc<DynamoStore>,
    clock: Arc<ManualClock>,
    webhook: Service,
    scorer: scoring::Scorer,
    router: routing::Router,
    sweeper: sla_timers::Sweeper,
    dispatcher: notifier::Dispatcher,
    posts: Arc<Posts>,
    api: api::Deps,
}

impl Functions {
    /// The functions on a fresh table and queues, the store's clock and every handler's at
    /// `start`, with the demo configuration stored and `test-secret` as Calendly's secret.
    async fn new(start: Timestamp) -> Self {
        let env = Env::new().await;
        let clock = Arc::new(ManualClock::new(start));
        let store = Arc::new(env.store.clone().with_clock(clock.clone()));
        let store_on_clock = store.clone();
        let queue = Arc::new(env.queue.clone());
        seed::seed_demo(store.as_ref()).await.expect(NEEDS_MOTO);

        let vars = HashMap::from([(
            "WEBHOOK_SECRETS".to_owned(),
            r#"{"calendly": "test-secret"}"#.to_owned(),
        )]);
        let intake = form_webhook::Intake::new(store.clone(), queue.clone());
        let posts = Arc::new(Posts::default());
        Self {
            webhook: Service::new(Config::from_vars(&vars).unwrap(), intake, clock.clone()),
            scorer: scoring::Scorer {
                store: store.clone(),
                docs: store.clone(),
                queue: queue.clone(),
                clock: clock.clone(),
            },
            router: routing::Router::new(store.clone(), store.clone(), queue.clone()),
            sweeper: sla_timers::Sweeper::new(store.clone(), store.clone(), queue.clone()),
            dispatcher: notifier::Dispatcher::new(store.clone(), store.clone(), posts.clone()),
            posts,
            api: api::Deps {
                journey: store.clone(),
                documents: store,
                queue,
                clock: clock.clone(),
                auth: api::auth::AuthMode::DevHeader,
                config: Arc::new(api::config::Registry::default()),
            },
            store: store_on_clock,
            env,
            clock,
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A fixture delivery, as the form-webhook Lambda hands it to the service.
    async fn deliver(&self, name: &str) -> u16 {
        let body = std::fs::read(fixture(&format!("{name}.json"))).unwrap();
        let sidecar: Value = serde_json::from_slice(
            &std::fs::read(fixture(&format!("{name}.headers.json"))).unwrap(),
        )
        .unwrap();
        let headers = Headers::new(
            sidecar["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.to_lowercase(), v.as_str().unwrap().to_owned()))
                .collect(),
        );
        let url = sidecar["url"].as_str().unwrap();
        let provider = url.rsplit_once("/webhooks/").unwrap().1;
        let request = WebhookRequest {
            method: sidecar["method"].as_str().unwrap(),
            provider,
            url,
            headers: &headers,
            body: &body,
        };
        self.webhook.handle(&request).await.status
    }

    /// Hands every visible message of the consumed queues to its function until none is
    /// left: activities to scoring, MQLs to routing, notices to the notifier. Returns how
    /// many records each took and how many failed.
    async fn drain(&self) -> Drained {
        let mut total = Drained::default();
        for _ in 0..20 {
            let scored = self
                .mapping(Topic::Activities, |event| async {
                    let context = lambda_runtime::Context::default();
                    let event = lambda_runtime::LambdaEvent::new(event, context);
                    scoring::sqs::handle_event(&self.scorer, event)
                        .await
                        .unwrap()
                })
                .await;
            let routed = self
                .mapping(Topic::Mqls, |event| async {
                    let records = event
                        .records
                        .into_iter()
                        .map(|r| (r.message_id.unwrap(), r.body));
                    let failed = self.router.handle_batch(records, self.now()).await;
                    failures(failed)
                })
                .await;
            let notified = self.notify_once().await;
            total.add(scored, routed, notified);
            if scored.0 + routed.0 + notified.0 == 0 {
                return total;
            }
        }
        panic!("the queues did not drain: {total:?}");
    }

    /// One batch of `topic` as Lambda's event source mapping hands it over: the records as an
    /// `SqsEvent` (each record's id is its receipt), then the failed ones released and the
    /// rest deleted. Returns (records, failed).
    async fn mapping<F, Fut>(&self, topic: Topic, handler: F) -> (usize, usize)
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: std::future::Future<Output = SqsBatchResponse>,
    {
        let deliveries = self.receive(topic).await;
        if deliveries.is_empty() {
            return (0, 0);
        }
        let response = handler(sqs_event(&deliveries)).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        for d in &deliveries {
            self.settle(topic, d, failed.contains(&d.receipt)).await;
        }
        (deliveries.len(), failed.len())
    }

    /// One batch of notices through the notifier's dispatcher.
    async fn notify_once(&self) -> (usize, usize) {
        let deliveries = self.receive(Topic::Notifications).await;
        let report = self.dispatcher.handle_batch(&deliveries, self.now()).await;
        for d in &deliveries {
            let failed = report.failed.iter().any(|(id, _)| id == &d.id);
            self.settle(Topic::Notifications, d, failed).await;
        }
        (deliveries.len(), report.failed.len())
    }

    async fn receive(&self, topic: Topic) -> Vec<Delivery> {
        self.env
            .queue
            .receive(topic, 10, VISIBILITY_SECONDS)
            .await
            .expect(NEEDS_MOTO)
    }

    async fn settle(&self, topic: Topic, d: &Delivery, failed: bool) {
        let queue = &self.env.queue;
        match failed {
            true => queue
                .fail(topic, &d.receipt, "handler_failed")
                .await
                .unwrap(),
            false => queue.ack(topic, &d.receipt).await.unwrap(),
        }
    }

    /// One API request as the admin, through the api Lambda's handler.
    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = lambda_http::http::Request::builder()
            .method(method)
            .uri(path)
            .header("x-dev-user", ADMIN);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = match method {
            "POST" => Body::from("{}"),
            _ => Body::Empty,
        };
        let resp = api::handle(req.body(body).unwrap(), &self.api).await;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        let json = match resp.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
            Body::Empty => Value::Null,
        };
        Answer { status, etag, json }
    }

    async fn act(&self, lead: &str, action: &str, key: &str, version: &str) -> Answer {
        let headers = [
            ("idempotency-key", key),
            ("if-match", version),
            ("content-type", "application/json"),
        ];
        self.call("POST", &format!("/leads/{lead}/{action}"), &headers)
            .await
    }
}

/// What one drain did: (records, failed) per function.
#[derive(Debug, Default, Clone, Copy)]
struct Drained {
    scored: usize,
    routed: usize,
    notified: usize,
    failed: usize,
}

impl Drained {
    fn add(&mut self, scored: (usize, usize), routed: (usize, usize), notified: (usize, usize)) {
        self.scored += scored.0 - scored.1;
        self.routed += routed.0 - routed.1;
        self.notified += notified.0 - notified.1;
        self.failed += scored.1 + routed.1 + notified.1;
    }
}

struct Answer {
    status: u16,
    etag: Option<String>,
    json: Value,
}

/// The posts the notifier made (the demo pool has no channel, so none are expected).
#[derive(Default)]
struct Posts(Mutex<Vec<String>>);

#[async_trait::async_trait]
impl Notifier for Posts {
    async fn post(&self, url: &str, _: &Value) -> Result<(), NotifyError> {
        self.0.lock().unwrap().push(url.to_owned());
        Ok(())
    }
}

/// The `SqsEvent` Lambda would hand over for these deliveries.
fn sqs_event(deliveries: &[Delivery]) -> SqsEvent {
    let records: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            let mut attributes = serde_json::Map::new();
            attributes.insert(
                aws_adapters::ID_ATTRIBUTE.to_owned(),
                json!({ "stringValue": d.id, "dataType": "String" }),
            );
            json!({
                "messageId": d.receipt,
                "receiptHandle": d.receipt,
                "body": d.body,
                "attributes": { "ApproximateReceiveCount": d.receive_count.to_string() },
                "messageAttributes": attributes,
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn failures(ids: Vec<String>) -> SqsBatchResponse {
    let failures = ids.into_iter().map(|id| json!({ "itemIdentifier": id }));
    serde_json::from_value(json!({ "batchItemFailures": failures.collect::<Vec<_>>() })).unwrap()
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn report_path(as_of: &str) -> String {
    let period = "from=2025-03-01T00:00:00Z&to=2025-04-01T00:00:00Z&group_by=source";
    match as_of {
        "" => format!("/reports/funnel?{period}"),
        _ => format!("/reports/funnel?{period}&as_of={as_of}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn a_calendly_booking_goes_from_webhook_to_the_funnel_report_on_dynamodb_and_sqs() {
    let received_at = t("2025-03-04T10:15:30Z");
    let f = Functions::new(received_at).await;

    // The delivery, signed with `test-secret` as the fixture README says.
    assert_eq!(f.deliver("calendly/invitee_created_normal").await, 200);
    let drained = f.drain().await;
    assert_eq!(
        (drained.scored, drained.routed, drained.failed),
        (1, 1, 0),
        "{drained:?}"
    );
    // The rep's assignment notice reached the notifier; the demo pool has no channel.
    assert_eq!(drained.notified, 1);
    assert!(f.posts.0.lock().unwrap().is_empty());

    // Scored, MQL at once (a demo booking is a hand raiser), assigned to the demo rep.
    let leads = f.call("GET", "/leads", &[]).await;
    let items = leads.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", leads.json);
    let lead = &items[0];
    let id = lead["id"].as_str().unwrap().to_owned();
    assert_eq!(lead["email"], "nia.okafor@lumenwise.example.com");
    assert_eq!(lead["attribution"]["source"], "website");
    assert_eq!(lead["attribution"]["campaign"], "pricing-page-cta");
    assert_eq!(lead["stage"], "mql");
    assert_eq!(lead["owner"], seed::DEMO_REP);
    assert!(lead["score"].as_f64().unwrap() > 0.0, "scored: {lead}");
    // The rep's work list, from the owner index.
    let own = f.call("GET", "/leads?owner=demo-rep", &[]).await;
    assert_eq!(own.json["items"][0]["id"], id.as_str(), "{}", own.json);

    // The rep's response clock runs: due 15 minutes after the assignment; the sweep (through
    // the by_due index) reminds the rep at half time, not before.
    let clock_key = format!("{id}:1:rep_response:0");
    let sla = f.store.get("sla_clock", &clock_key).await.unwrap();
    let sla = sla.expect("a response clock was started").body;
    assert_eq!(sla["stopped_at"], Value::Null);
    assert_eq!(
        t(sla["due_at"].as_str().unwrap()),
        received_at + Duration::minutes(15)
    );
    f.clock.advance(Duration::minutes(7));
    assert_eq!(f.sweeper.sweep(f.now()).await.unwrap().steps, 0);
    f.clock.advance(Duration::minutes(1));
    let swept = f.sweeper.sweep(f.now()).await.unwrap();
    assert_eq!((swept.steps, swept.breaches), (1, 0), "the reminder only");
    assert_eq!(f.drain().await.notified, 1, "the reminder notice");

    // Accepted with the lead's ETag; the same request again answers the same and changes
    // nothing; then qualified.
    let detail = f.call("GET", &format!("/leads/{id}"), &[]).await;
    let etag = detail.etag.expect("the lead has an ETag");
    let accepted = f.act(&id, "accept", "e2e-accept-1", &etag).await;
    assert_eq!(
        (accepted.status, &accepted.json["stage"]),
        (200, &"sal".into()),
        "{}",
        accepted.json
    );
    let again = f.act(&id, "accept", "e2e-accept-1", &etag).await;
    assert_eq!((again.status, again.etag), (200, accepted.etag.clone()));
    f.clock.advance(Duration::minutes(30));
    let tag = accepted.etag.unwrap();
    let qualified = f.act(&id, "qualify", "e2e-qualify-1", &tag).await;
    assert_eq!(
        (qualified.status, &qualified.json["stage"]),
        (200, &"sql".into()),
        "{}",
        qualified.json
    );

    // In the funnel report: one lead-cycle entered every stage up to SQL, from `website`.
    let before = f.call("GET", &report_path(""), &[]).await;
    assert_eq!(before.status, 200, "{}", before.json);
    let before = before.json;
    for stage in ["new", "mql", "sal", "sql"] {
        assert_eq!(before["total"]["entered"][stage], 1, "{stage}: {before}");
    }
    let groups = before["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["group"], "website");

    // The nightly rollup, as its schedule invokes it.
    f.clock.set(t("2025-03-05T02:16:00Z"));
    funnel_rollup::handle(f.store.as_ref(), f.store.as_ref(), json!({}), f.now())
        .await
        .expect("the nightly rollup");

    // Erased: gone for the API, and the report (at the same `as_of`) is unchanged.
    let as_of = before["as_of"].as_str().unwrap().to_owned();
    let erased = f.call("DELETE", &format!("/leads/{id}"), &[]).await;
    assert_eq!(erased.status, 200, "{}", erased.json);
    let gone = f.call("GET", &format!("/leads/{id}"), &[]).await;
    assert_eq!(gone.status, 404);
    let after = f.call("GET", &report_path(&as_of), &[]).await;
    assert_eq!(after.json, before);

    // Every message was handled: nothing is left on a consumed queue or a dead-letter queue.
    assert_eq!(f.drain().await.failed, 0);
    for topic in [Topic::Activities, Topic::Mqls, Topic::Notifications] {
        let dead = f.env.queue.dead_letters(topic).await.unwrap();
        assert!(dead.is_empty(), "{topic}: {dead:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn a_redelivered_webhook_and_a_redelivered_mql_change_nothing_on_dynamodb() {
    let f = Functions::new(t("2025-03-04T10:15:30Z")).await;
    assert_eq!(f.deliver("calendly/invitee_created_normal").await, 200);
    f.drain().await;
    let lead = &f.call("GET", "/leads", &[]).await.json["items"][0];
    let id = lifecycle::LeadId::new(lead["id"].as_str().unwrap());
    let history = f.store.transitions(&id).await.unwrap();

    // The same delivery again (providers retry), and its messages handled again.
    assert_eq!(f.deliver("calendly/invitee_created_normal").await, 200);
    let drained = f.drain().await;

    assert_eq!(drained.failed, 0, "{drained:?}");
    assert_eq!(f.store.transitions(&id).await.unwrap(), history);
    let leads = f.call("GET", "/leads", &[]).await.json;
    assert_eq!(leads["items"].as_array().unwrap().len(), 1, "{leads}");
    assert_eq!(leads["items"][0]["version"], lead["version"]);
}

/// The webhook's storage cost on DynamoDB, counted on the wire: a new delivery reads the
/// claim, the lead by e-mail and the phone's identity together and then commits (two round
/// trips); its redelivery is answered from the claim after the first and commits nothing.
/// Messages to SQS are not counted (another client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn a_new_webhook_takes_two_dynamodb_round_trips_and_its_redelivery_one() {
    let f = Functions::new(t("2025-03-04T10:15:30Z")).await;
    f.env.dynamodb_requests.take_all();

    assert_eq!(f.deliver("calendly/invitee_created_normal").await, 200);
    let (first, first_trips) = f.env.dynamodb_requests.take_all();
    assert_eq!(f.deliver("calendly/invitee_created_normal").await, 200);
    let (again, again_trips) = f.env.dynamodb_requests.take_all();

    // The booking carries an e-mail and a phone (the fixture README): the claim and the
    // phone's identity are GetItems, the e-mail a Query on `by_email`.
    let ops = |m: &std::collections::BTreeMap<String, usize>| -> Vec<(String, usize)> {
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    };
    let reads = [("GetItem".to_owned(), 2), ("Query".to_owned(), 1)];
    assert_eq!(first_trips, 2, "{first:?}");
    let mut written = reads.to_vec();
    written.push(("TransactWriteItems".to_owned(), 1));
    assert_eq!(ops(&first), written);
    assert_eq!(again_trips, 1, "{again:?}");
    assert_eq!(ops(&again), reads);
}
