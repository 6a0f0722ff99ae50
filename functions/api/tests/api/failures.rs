//! Server-side failures: the caller gets an opaque problem with a request id, the log gets the
//! cause once, with the same id, and nothing personal.

use api::{auth::AuthMode, Deps};
use async_trait::async_trait;
use lambda_http::{Body, Request};
use lifecycle::{funnel::CounterKey, Activity, Email, Lead, LeadId, Phone, Timestamp, Transition};
use ports::{
    Commit, CommitOutcome, Document, DocumentStore, JourneyStore, ManualClock, Message, Page,
    Queue, QueueError, StoreError,
};
use std::sync::{Arc, Mutex};

/// A store whose every call fails the same way.
struct Broken {
    retryable: bool,
}

impl Broken {
    fn fail<T>(&self) -> Result<T, StoreError> {
        let cause: Box<dyn std::error::Error + Send + Sync> =
            "row 42 of table leads unreadable".into();
        Err(match self.retryable {
            true => StoreError::Unavailable(cause),
            false => StoreError::Corrupt {
                key: "lead L1".into(),
                source: cause,
            },
        })
    }
}

#[async_trait]
impl JourneyStore for Broken {
    async fn lead(&self, _: &LeadId) -> Result<Option<Lead>, StoreError> {
        self.fail()
    }
    async fn lead_by_email(&self, _: &Email) -> Result<Option<Lead>, StoreError> {
        self.fail()
    }
    async fn lead_by_phone(&self, _: &Phone) -> Result<Option<Lead>, StoreError> {
        self.fail()
    }
    async fn transitions(&self, _: &LeadId) -> Result<Vec<Transition>, StoreError> {
        self.fail()
    }
    async fn activities(&self, _: &LeadId) -> Result<Vec<Activity>, StoreError> {
        self.fail()
    }
    async fn transitions_recorded(
        &self,
        _: Timestamp,
        _: Timestamp,
        _: Option<String>,
        _: usize,
    ) -> Result<Page<Transition>, StoreError> {
        self.fail()
    }
    async fn transitions_effective(
        &self,
        _: Timestamp,
        _: Timestamp,
        _: Option<String>,
        _: usize,
    ) -> Result<Page<Transition>, StoreError> {
        self.fail()
    }
    async fn leads(&self, _: Option<String>, _: usize) -> Result<Page<Lead>, StoreError> {
        self.fail()
    }
    async fn open_leads_of(
        &self,
        _: &lifecycle::RepId,
        _: Option<String>,
        _: usize,
    ) -> Result<Page<Lead>, StoreError> {
        self.fail()
    }
    async fn counter(&self, _: &CounterKey) -> Result<i64, StoreError> {
        self.fail()
    }
    async fn commit(&self, _: Commit) -> Result<CommitOutcome, StoreError> {
        self.fail()
    }
}

#[async_trait]
impl DocumentStore for Broken {
    async fn get(&self, _: &str, _: &str) -> Result<Option<Document>, StoreError> {
        self.fail()
    }
    async fn list(
        &self,
        _: &str,
        _: &str,
        _: Option<String>,
        _: usize,
    ) -> Result<Page<Document>, StoreError> {
        self.fail()
    }
    async fn due(&self, _: &str, _: &str, _: usize) -> Result<Vec<Document>, StoreError> {
        self.fail()
    }
}

#[async_trait]
impl Queue for Broken {
    async fn send(&self, _: &[Message]) -> Result<(), QueueError> {
        Ok(())
    }
}

/// Log lines, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn get_lead(retryable: bool) -> (u16, String, String, String) {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let clock = Arc::new(ManualClock::new(crate::harness::now()));
    let deps = Deps::on(Arc::new(Broken { retryable }), clock, AuthMode::DevHeader);
    let req: Request = lambda_http::http::Request::builder()
        .uri("https://api.test/leads/L1")
        .header("x-dev-user", r#"{"sub":"u-admin","roles":"admin"}"#)
        .header("x-request-id", "req-7f3a")
        .body(Body::Empty)
        .unwrap();

    let resp = api::handle(req, &deps).await;

    let Body::Text(body) = resp.body() else {
        panic!("a text body")
    };
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let log = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    (resp.status().as_u16(), body.clone(), id, log)
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_error_is_opaque_to_the_caller_and_logged_once_with_the_request_id() {
    let (status, body, id, log) = get_lead(false).await;

    assert_eq!(status, 500);
    assert_eq!(id, "req-7f3a");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        problem["type"],
        "https://lead-journey.dev/problems/internal"
    );
    assert_eq!(problem["detail"], "Something went wrong");
    assert_eq!(problem["request_id"], "req-7f3a");
    assert!(!body.contains("row 42"), "no cause in the body: {body}");
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request failed"))
        .collect();
    assert_eq!(failures.len(), 1, "{log}");
    assert!(
        failures[0].contains("req-7f3a") && failures[0].contains("row 42"),
        "{log}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_unavailable_store_is_a_503_the_caller_may_retry() {
    let (status, body, _, log) = get_lead(true).await;

    assert_eq!(status, 503);
    assert!(
        body.contains("https://lead-journey.dev/problems/unavailable"),
        "{body}"
    );
    assert_eq!(
        log.lines().filter(|l| l.contains("request failed")).count(),
        1
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_error_is_not_logged_as_a_failure() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let api = crate::harness::Api::new().await;

    let r = api
        .call("GET", "/leads?limit=0", crate::harness::Who::Admin)
        .send(&api)
        .await;

    assert_eq!(r.status, 400);
    let log = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!log.contains("request failed"), "{log}");
}
