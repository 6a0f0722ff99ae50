//! No personal data in logs: a tracking caller chooses its events' ids, and may put an e-mail
//! in one; scoring logs a digest of the id, never the id.
//!
//! Its own test binary: a subscriber set for one test sees every event only when no other test
//! of the process runs the same call sites first without one.

#[path = "it/common.rs"]
#[allow(dead_code)]
mod common;

use common::*;
use lifecycle::LeadId;
use scoring::tracking::{ApiKeys, Tracker};
use std::{
    io::Write,
    sync::{Arc, Mutex},
};

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

#[tokio::test]
async fn an_event_id_a_tracking_caller_chose_never_reaches_the_log() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = env();
    install_rules(&env, &test_rules(1, 30.0)).await;
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let tracker = Tracker {
        store: env.store.clone(),
        keys: ApiKeys::from_json(r#"{ "website": "key-web" }"#).unwrap(),
    };
    let batch = r#"{ "events": [{ "id": "jane.doe@example.com-visit", "lead_id": "l1",
        "type": "page_viewed", "occurred_at": "2026-03-02T09:00:00Z" }] }"#;
    let tracked = tracker
        .track(Some("key-web"), batch.as_bytes(), t0())
        .await
        .unwrap();
    assert_eq!(tracked.accepted, 1);
    // The message the tracker queued is scored as the Lambda would; and one for an activity
    // that is not stored fails, which is logged too.
    let report = env
        .scorer
        .poll_once(env.store.as_ref(), 10, 30)
        .await
        .unwrap();
    assert_eq!(report.done.len(), 1);
    let body = serde_json::to_string(&scoring::ActivityMessage {
        lead_id: LeadId::new("l1"),
        activity_id: "track:website:jane.doe@example.com-missing".into(),
    })
    .unwrap();
    env.scorer
        .handle_batch(&[raw_delivery("sqs-message-2", &body)])
        .await;

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("activity scored"), "{log}");
    assert!(log.contains("activity_missing"), "{log}");
    let activity = "track:website:jane.doe@example.com-visit";
    assert!(log.contains(&scoring::error::digest(activity)), "{log}");
    assert!(!log.contains("jane.doe"), "{log}");
}
