//! Shared test helpers: fixture loading, the configured service, the store.

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod memory;

use form_webhook::{
    Config, FixedClock, Headers, Intake, Provider, Secret, Service, WebhookRequest, WebhookResponse,
};
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
    pub received_at: form_webhook::Timestamp,
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

pub fn service(store: &memory::MemoryStore, now: form_webhook::Timestamp) -> Service {
    let intake = Intake::new(Arc::new(store.clone()), Arc::new(store.clone()));
    Service::new(config(), intake, Arc::new(FixedClock(now)))
}

/// Replays a fixture through the service, with its `received_at` as the clock.
pub async fn replay(store: &memory::MemoryStore, f: &Fixture) -> WebhookResponse {
    let svc = service(store, f.received_at);
    svc.handle(&WebhookRequest {
        method: &f.method,
        provider: &f.provider,
        url: &f.url,
        headers: &f.headers,
        body: &f.body,
    })
    .await
}
