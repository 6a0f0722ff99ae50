//! The Graph API `LeadFetcher` against a real HTTP server on 127.0.0.1, and the `lead_fetch`
//! queue's batch handling. Expected values come from the fixtures README (the lead behind
//! `facebook-lead-ads/leadgen_normal.json`) and from Graph's documented request shape.

mod support;

use async_trait::async_trait;
use form_webhook::{
    graph::GraphLeadFetcher,
    lead_fetch::{self, FetchError, LeadFetcher},
    ConfigSource, ItemOutcome, Secret,
};
use http_body_util::Full;
use http_notifier::JsonGetter;
use hyper::{body::Bytes, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use lifecycle::Email;
use ports::{JourneyStore, Topic};
use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};
use support::{fixture, Harness};
use tokio::net::TcpListener;

const TOKEN: &str = "EAAGtesttoken0123456789";
const LEADGEN_ID: &str = "2233445566778899";

fn lead_body() -> Vec<u8> {
    let path = format!(
        "{}/facebook-lead-ads/leadgen_normal.lead.json",
        support::FIXTURES
    );
    std::fs::read(path).unwrap()
}

/// Serves every request with `status` and `body` (or never answers when `hang`), recording
/// each request's path and query.
async fn serve(status: u16, body: Vec<u8>, hang: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v26.0", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let body = Bytes::from(body);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (record, body) = (record.clone(), body.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (record, body) = (record.clone(), body.clone());
                    async move {
                        let target = req.uri().path_and_query().unwrap().to_string();
                        record
                            .lock()
                            .unwrap()
                            .push(format!("{} {target}", req.method()));
                        if hang {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        let mut response = Response::new(Full::new(body));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (base, seen)
}

fn fetcher(base: &str, timeout_ms: u64) -> GraphLeadFetcher {
    let http = JsonGetter::new(Duration::from_millis(timeout_ms)).unwrap();
    GraphLeadFetcher::new(http, base, Secret::new(TOKEN))
}

/// Every log line at TRACE, as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary, at TRACE. One global subscriber rather than one per
/// test: tracing caches each call site's interest process-wide, so a per-test (thread-local)
/// subscriber can miss lines while another test runs on a thread without one.
fn logs() -> &'static Capture {
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per binary");
        capture
    })
}

fn text(capture: &Capture) -> String {
    String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
}

/// The lead stored from the fixture's Graph answer, found by its e-mail (the README's).
async fn fixture_lead(h: &Harness) -> lifecycle::Lead {
    let email = Email::parse("siobhan.nibhriain@oakhollow.example.org").unwrap();
    h.store
        .lead_by_email(&email)
        .await
        .unwrap()
        .expect("lead stored")
}

/// The `lead_fetch` message the webhook queued for the Meta fixture.
async fn queued_fetch(h: &Harness) -> (String, lifecycle::Timestamp) {
    let hook = fixture("facebook-lead-ads/leadgen_normal.json");
    assert_eq!(h.replay(&hook).await.status, 200);
    let mut messages = h.take_messages(Topic::LeadFetch).await;
    assert_eq!(messages.len(), 1);
    (messages.remove(0).body, hook.received_at)
}

#[tokio::test]
async fn a_200_stores_the_fixture_lead_and_the_token_stays_out_of_the_logs() {
    let (base, seen) = serve(200, lead_body(), false).await;
    let h = Harness::new();
    let (message, now) = queued_fetch(&h).await;
    let capture = logs();

    let outcome = lead_fetch::handle(
        &h.intake(),
        &fetcher(&base, 2000),
        &support::config(),
        &message,
        now,
    )
    .await
    .unwrap();

    assert!(matches!(outcome, ItemOutcome::Created(_)));
    let lead = fixture_lead(&h).await;
    assert_eq!(lead.profile.name.as_deref(), Some("Siobhán Ní Bhriain"));

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (path, query) = seen[0].split_once('?').unwrap();
    assert_eq!(path, format!("GET /v26.0/{LEADGEN_ID}"));
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert!(pairs.contains(&("access_token".to_owned(), TOKEN.to_owned())));
    let fields = &pairs.iter().find(|(k, _)| k == "fields").unwrap().1;
    for field in [
        "field_data",
        "form_id",
        "platform",
        "campaign_name",
        "is_organic",
    ] {
        assert!(fields.split(',').any(|f| f == field), "{field} requested");
    }

    let logs = text(capture);
    assert!(logs.contains("lead fetched"), "the capture saw the handler");
    assert!(!logs.contains(TOKEN), "the token reached a log line");
}

#[tokio::test]
async fn outages_are_retryable_and_refusals_are_not_and_no_error_shows_the_token() {
    let capture = logs();
    for (status, retryable) in [
        (500, true),
        (503, true),
        (429, true),
        (400, false),
        (404, false),
        (403, false),
    ] {
        let (base, seen) = serve(status, br#"{"error":{"message":"x"}}"#.to_vec(), false).await;
        let err = fetcher(&base, 2000).fetch(LEADGEN_ID).await.unwrap_err();
        assert_eq!(err.is_retryable(), retryable, "{status}");
        assert_eq!(
            matches!(err, FetchError::Unavailable),
            retryable,
            "{status}"
        );
        assert!(!err.to_string().contains(TOKEN));
        assert_eq!(seen.lock().unwrap().len(), 1, "one request per fetch");
    }
    let logs = text(capture);
    assert!(logs.contains("Graph API read failed"));
    assert!(!logs.contains(TOKEN), "the token reached a log line");
}

#[tokio::test]
async fn no_answer_within_the_timeout_is_retryable() {
    let (base, _) = serve(200, lead_body(), true).await;
    let started = std::time::Instant::now();
    let err = fetcher(&base, 200).fetch(LEADGEN_ID).await.unwrap_err();
    assert!(matches!(err, FetchError::Unavailable));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_connection_refused_is_retryable() {
    // Bind, learn the port, close: nothing listens there any more.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = fetcher(&base, 2000).fetch(LEADGEN_ID).await.unwrap_err();
    assert!(err.is_retryable());
}

#[tokio::test]
async fn an_id_that_is_not_a_graph_id_is_not_requested() {
    let (base, seen) = serve(200, lead_body(), false).await;
    let err = fetcher(&base, 2000).fetch("1/../me").await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(seen.lock().unwrap().is_empty());
}

/// Answers the fixture lead for its id and fails on every other.
struct FixtureGraph;

#[async_trait]
impl LeadFetcher for FixtureGraph {
    async fn fetch(&self, leadgen_id: &str) -> Result<Vec<u8>, FetchError> {
        match leadgen_id {
            LEADGEN_ID => Ok(lead_body()),
            _ => Err(FetchError::Unavailable),
        }
    }
}

#[tokio::test]
async fn a_bad_record_fails_alone_and_a_duplicate_changes_nothing() {
    let h = Harness::new();
    let (message, now) = queued_fetch(&h).await;
    let unknown = message.replace(LEADGEN_ID, "1111111111");
    let records = vec![
        ("m-good".to_owned(), Some(message.clone())),
        (
            "m-garbage".to_owned(),
            Some("not a fetch request".to_owned()),
        ),
        ("m-empty".to_owned(), None),
        ("m-outage".to_owned(), Some(unknown)),
        ("m-duplicate".to_owned(), Some(message.clone())),
    ];
    let config = ConfigSource::from(support::config());

    let failed = lead_fetch::handle_batch(&h.intake(), &FixtureGraph, &config, records, now).await;

    assert_eq!(failed, ["m-garbage", "m-empty", "m-outage"]);
    // One lead, its "form submitted" activity and its `New` transition; one scoring message.
    assert_eq!(h.footprint().await, (1, 1, 1));
    assert_eq!(h.take_messages(Topic::Activities).await.len(), 1);

    // The same message redelivered in a later batch changes nothing either.
    let again = vec![("m-redelivered".to_owned(), Some(message))];
    let failed = lead_fetch::handle_batch(&h.intake(), &FixtureGraph, &config, again, now).await;
    assert!(failed.is_empty());
    assert_eq!(h.footprint().await, (1, 1, 1));
    assert!(h.take_messages(Topic::Activities).await.is_empty());
}

/// Form settings stored through the API (`config/form_mappings`) map the fetched Meta lead as
/// they map a webhook's: here a map that swaps the company and job-title questions of the
/// fixture's form, so the README's company ("Oak Hollow Veterinary") lands in the title.
#[tokio::test]
async fn a_fetched_lead_is_mapped_by_the_form_settings_stored_through_the_api() {
    let h = Harness::new();
    let (message, now) = queued_fetch(&h).await;
    h.store_form_settings(
        serde_json::json!([{ "provider": "meta-leadgen", "form": "1029384756647382",
            "fields": { "company_name": "title", "job_title": "company" } }]),
        1,
    )
    .await;
    let config = ConfigSource::from(support::config()).with_stored_forms(h.store.clone());

    let records = vec![("m-1".to_owned(), Some(message))];
    let failed = lead_fetch::handle_batch(&h.intake(), &FixtureGraph, &config, records, now).await;

    assert!(failed.is_empty());
    let lead = fixture_lead(&h).await;
    assert_eq!(lead.profile.company.as_deref(), Some("Clinic Director"));
    assert_eq!(lead.profile.title.as_deref(), Some("Oak Hollow Veterinary"));
}
