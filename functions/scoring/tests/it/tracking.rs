//! The tracking endpoint: keys per source, bad items by index, idempotent batches, and events
//! that reach the scoring queue.

use crate::common::*;
use lifecycle::{ActivityKind, LeadId};
use ports::{JourneyStore, QueueConsumer, Topic};
use scoring::tracking::{ApiKeys, Rejected, TrackError, Tracker};

fn tracker(env: &Env) -> Tracker {
    Tracker {
        store: env.store.clone(),
        keys: ApiKeys::from_json(r#"{ "website": "key-web", "webinars": "key-webinar" }"#).unwrap(),
    }
}

const BATCH: &str = r#"{ "events": [
  { "id": "e1", "lead_id": "l1", "type": "pricing_viewed", "occurred_at": "2026-03-02T09:30:00Z",
    "attributes": { "path": "/pricing" } },
  { "id": "e2", "lead_id": "l1", "type": "teleported", "occurred_at": "2026-03-02T09:31:00Z" },
  { "id": "e3", "lead_id": "ghost", "type": "page_viewed", "occurred_at": "2026-03-02T09:32:00Z" },
  { "id": "e4", "lead_id": "l1", "type": "page_viewed", "occurred_at": "2026-03-09T09:00:00Z" },
  { "id": "e5", "lead_id": "l1", "type": "email_clicked", "occurred_at": "2026-03-02T08:00:00Z",
    "attributes": { "campaign": "spring", "Bad Name": "x" } },
  { "id": "e6", "lead_id": "l1", "type": "unsubscribed", "occurred_at": "2026-03-02T08:10:00Z" }
] }"#;

#[tokio::test]
async fn a_missing_or_unknown_key_is_refused() {
    let env = env();
    let tracker = tracker(&env);

    for key in [None, Some("key-nope"), Some("")] {
        let err = tracker
            .track(key, BATCH.as_bytes(), hours(1))
            .await
            .unwrap_err();
        assert!(matches!(err, TrackError::Unauthorized));
        assert_eq!(err.status(), 401);
    }
}

#[tokio::test]
async fn a_malformed_body_is_a_400_with_its_position() {
    let env = env();
    let err = tracker(&env)
        .track(Some("key-web"), b"{ \"events\": [ }", t0())
        .await
        .unwrap_err();

    assert_eq!(err.status(), 400);
    assert!(
        matches!(
            err,
            TrackError::Malformed {
                line: 1,
                column: 15
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn valid_events_are_kept_and_bad_ones_reported_by_index() {
    let env = env();
    new_lead(&env, "l1", Some("ann@corp.example")).await;

    let response = tracker(&env)
        .track(Some("key-web"), BATCH.as_bytes(), hours(1))
        .await
        .unwrap();

    assert_eq!(
        (response.accepted, response.duplicates),
        (2, 0),
        "{response:?}"
    );
    let indexes: Vec<usize> = response
        .rejected
        .iter()
        .map(|r: &Rejected| r.index)
        .collect();
    assert_eq!(indexes, [1, 2, 3, 4]);
    assert!(response.rejected[0].reason.contains("teleported"));
    assert_eq!(response.rejected[1].reason, "unknown lead_id");
    assert_eq!(response.rejected[2].reason, "occurred_at is in the future");
    assert!(response.rejected[3].reason.contains("Bad Name"));

    let stored = env.store.activities(&LeadId::new("l1")).await.unwrap();
    let mut kinds: Vec<(String, ActivityKind)> =
        stored.iter().map(|a| (a.id.clone(), a.kind)).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("track:website:e1".to_owned(), ActivityKind::PricingViewed),
            ("track:website:e6".to_owned(), ActivityKind::Unsubscribed),
        ]
    );
}

#[tokio::test]
async fn posting_a_batch_twice_changes_nothing() {
    let env = env();
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let tracker = tracker(&env);
    tracker
        .track(Some("key-web"), BATCH.as_bytes(), hours(1))
        .await
        .unwrap();

    let again = tracker
        .track(Some("key-web"), BATCH.as_bytes(), hours(1))
        .await
        .unwrap();

    assert_eq!((again.accepted, again.duplicates), (0, 2));
    assert_eq!(
        env.store
            .activities(&LeadId::new("l1"))
            .await
            .unwrap()
            .len(),
        2
    );
    let queued = env.store.receive(Topic::Activities, 10, 30).await.unwrap();
    assert_eq!(queued.len(), 2);
}

#[tokio::test]
async fn tracked_events_are_scored_like_form_activities() {
    let env = env();
    install_rules(&env, &test_rules(1, 30.0)).await;
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    tracker(&env)
        .track(Some("key-web"), BATCH.as_bytes(), hours(1))
        .await
        .unwrap();
    env.clock.set(hours(1));

    let report = env
        .scorer
        .poll_once(env.store.as_ref(), 10, 30)
        .await
        .unwrap();

    assert_eq!(report.done.len(), 2);
    assert!(report.failed.is_empty());
    // The pricing view is worth 25 under the test rules; the unsubscribe nothing.
    assert_eq!(lead(&env, "l1").await.score, Some(25.0));
}

/// Regression: an event dated `0001-01-01` was accepted and made an MQL dated year 1, before
/// the lead's `New`; the funnel showed a negative median lag. Events older than three years
/// are refused by index now (history comes in by import), and the rest of the batch is kept.
#[tokio::test]
async fn an_ancient_event_is_refused_and_the_rest_of_the_batch_kept() {
    let env = env();
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let batch = r#"{ "events": [
      { "id": "old", "lead_id": "l1", "type": "page_viewed", "occurred_at": "0001-01-01T00:00:00Z" },
      { "id": "ok", "lead_id": "l1", "type": "page_viewed", "occurred_at": "2026-03-02T09:30:00Z" },
      { "id": "4y", "lead_id": "l1", "type": "page_viewed", "occurred_at": "2022-03-01T00:00:00Z" }
    ] }"#;

    let response = tracker(&env)
        .track(Some("key-web"), batch.as_bytes(), hours(1))
        .await
        .unwrap();

    let refused: Vec<(usize, bool)> = response
        .rejected
        .iter()
        .map(|r| (r.index, r.reason.contains("days ago")))
        .collect();
    assert_eq!(refused, [(0, true), (2, true)], "{response:?}");
    assert_eq!(response.accepted, 1);
}

/// Regression: a `text/plain` or form body was read as a batch; it is a 415 now, and JSON
/// (with parameters, or a `+json` type) or no type at all is read.
#[test]
fn a_body_that_says_it_is_not_json_is_a_415() {
    use scoring::tracking::{answer, check_content_type};

    let refused = [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ]
    .map(|t| check_content_type(Some(t)).map_err(|e| answer(&Err(e)).0));
    let taken = [
        Some("application/json"),
        Some("Application/JSON; charset=utf-8"),
        Some("application/vnd.events+json"),
        None,
    ]
    .map(|t| check_content_type(t).is_ok());

    assert_eq!(refused, [Err(415), Err(415), Err(415)]);
    assert_eq!(taken, [true; 4]);
}
