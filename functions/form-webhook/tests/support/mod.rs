//! Shared test helpers: fixture loading, and a harness that runs the configured service on the
//! real embedded store (in-memory SQLite) with a manual clock.

#![allow(dead_code, unreachable_pub, missing_docs)]

use embedded::EmbeddedStore;
use form_webhook::{
    intake::SUBMISSIONS, Config, Headers, Intake, ManualClock, Provider, Secret, Service,
    WebhookRequest, WebhookResponse,
};
use lifecycle::{Activity, Lead, Timestamp, Transition};
use ports::{Delivery, DocumentStore, JourneyStore, QueueConsumer, Topic};
use std::{path::PathBuf, sync::Arc};

pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/webhooks"
);

/// The per-form settings a deployment of these forms would have. The values come from the
/// fixtures README: Gravity form 3's field ids, and each form's audience country.
pub const FORMS: &str = r#"[
  {"provider": "gravity-forms", "form_id": "3",
   "fields": {"1": "full_name", "2": "email", "3": "phone", "4": "company", "5": "title",
              "6": "message", "7": "utm_source", "8": "utm_campaign"}},
  {"provider": "jotform", "form_id": "250621748839063", "country": "US",
   "fields": {"practiceName": "company", "numberOf": "ignore"}},
  {"provider": "webflow", "form_id": "65f1c0a2b3d4e5f601a2b3d9", "country": "US"},
  {"provider": "webflow", "form_id": "62a8b3c4d5e6f70812a3b4c5", "country": "GB"},
  {"provider": "meta-leadgen", "form_id": "1029384756647382", "country": "GB"},
  {"provider": "unbounce", "form_id": "4f1a2b3c-5d6e-4f70-8a91-b2c3d4e5f607", "country": "US"}
]"#;

pub fn config() -> Config {
    let mut config = Config::default();
    for p in Provider::ALL {
        config.secrets.insert(p, Secret::new("test-secret"));
    }
    config.meta_verify_token = Some(Secret::new("verify-me"));
    config
        .add_forms_json(FORMS)
        .expect("test form settings parse");
    config
}

/// One recorded delivery: the sidecar and the body bytes.
pub struct Fixture {
    pub method: String,
    pub url: String,
    pub provider: String,
    pub received_at: Timestamp,
    pub headers: Headers,
    pub body: Vec<u8>,
}

pub fn fixture(body_file: &str) -> Fixture {
    let base = PathBuf::from(FIXTURES);
    let body = std::fs::read(base.join(body_file)).expect("fixture body");
    let stem = body_file.rsplit_once('.').map_or(body_file, |(s, _)| s);
    let sidecar: serde_json::Value = serde_json::from_slice(
        &std::fs::read(base.join(format!("{stem}.headers.json"))).expect("fixture sidecar"),
    )
    .expect("sidecar JSON");
    let url = sidecar["url"].as_str().unwrap().to_owned();
    let path = url.split_once("/webhooks/").unwrap().1;
    let provider = path.split('?').next().unwrap().to_owned();
    let headers = sidecar["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    Fixture {
        method: sidecar["method"].as_str().unwrap().to_owned(),
        url,
        provider,
        received_at: sidecar["received_at"].as_str().unwrap().parse().unwrap(),
        headers: Headers::new(headers),
        body,
    }
}

pub fn t0() -> Timestamp {
    "2025-03-04T10:15:30Z".parse().unwrap()
}

/// The service on a fresh embedded store. The store and the service share one manual clock,
/// so claim expiry and signature tolerance agree on "now".
pub struct Harness {
    pub store: Arc<EmbeddedStore>,
    pub clock: Arc<ManualClock>,
    pub service: Service,
}

impl Harness {
    pub fn new() -> Self {
        Harness::with_config(config())
    }

    /// As [`Harness::new`], with other settings.
    pub fn with_config(config: Config) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let store = Arc::new(
            EmbeddedStore::in_memory()
                .expect("in-memory store")
                .with_clock(clock.clone()),
        );
        let service = Service::new(config, Harness::intake_of(&store), clock.clone());
        Self {
            store,
            clock,
            service,
        }
    }

    pub fn intake_of(store: &Arc<EmbeddedStore>) -> Intake {
        Intake::new(store.clone(), store.clone())
    }

    pub fn intake(&self) -> Intake {
        Harness::intake_of(&self.store)
    }

    /// Stores form settings as `PUT /config/form_mappings` does: `config/form_mappings` with
    /// these `mappings`, at `version`.
    pub async fn store_form_settings(&self, mappings: serde_json::Value, version: u64) {
        let doc = ports::Document {
            collection: "config".into(),
            key: "form_mappings".into(),
            version,
            index: None,
            body: serde_json::json!({ "mappings": mappings }),
            expires_at: None,
        };
        let put = ports::DocumentWrite::Put {
            doc,
            expect: ports::Expect::Any,
        };
        let commit = ports::Commit {
            documents: vec![put],
            ..ports::Commit::default()
        };
        self.store.commit(commit).await.expect("stored");
    }

    /// Replays a fixture, with its `received_at` as the clock.
    pub async fn replay(&self, f: &Fixture) -> WebhookResponse {
        self.clock.set(f.received_at);
        self.post(&f.method, &f.provider, &f.url, &f.headers, &f.body)
            .await
    }

    pub async fn post(
        &self,
        method: &str,
        provider: &str,
        url: &str,
        headers: &Headers,
        body: &[u8],
    ) -> WebhookResponse {
        self.service
            .handle(&WebhookRequest {
                method,
                provider,
                url,
                headers,
                body,
            })
            .await
    }

    pub async fn leads(&self) -> Vec<Lead> {
        self.store.leads(None, 1000).await.unwrap().items
    }

    pub async fn activities(&self) -> Vec<Activity> {
        let mut all = Vec::new();
        for lead in self.leads().await {
            all.extend(self.store.activities(&lead.id).await.unwrap());
        }
        all
    }

    pub async fn transitions(&self) -> Vec<Transition> {
        let mut all = Vec::new();
        for lead in self.leads().await {
            all.extend(self.store.transitions(&lead.id).await.unwrap());
        }
        all
    }

    /// Leads, activities, transitions: what a duplicate must not change.
    pub async fn footprint(&self) -> (usize, usize, usize) {
        (
            self.leads().await.len(),
            self.activities().await.len(),
            self.transitions().await.len(),
        )
    }

    /// Takes every queued message of a topic (hidden for 15 minutes afterwards).
    pub async fn take_messages(&self, topic: Topic) -> Vec<Delivery> {
        self.store.receive(topic, 1000, 900).await.unwrap()
    }

    pub async fn submission(&self, key: &str) -> Option<serde_json::Value> {
        let doc = self.store.get(SUBMISSIONS, key).await.unwrap();
        doc.map(|d| d.body)
    }
}
