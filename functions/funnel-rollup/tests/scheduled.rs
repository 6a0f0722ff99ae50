//! Scheduled reports on the embedded store: a firing generated and delivered once across
//! overlapping runs, stored for the API, retried on a later run, and left alone once refused.

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use embedded::EmbeddedStore;
use funnel_rollup::scheduled::{self, DeliveryStatus, ScheduledReport, LATEST, REPORTS};
use lifecycle::{
    transition::{Actor, Dimensions},
    CauseId, JourneyState, LeadId, Stage, StageEvent, StageOutcome, Timestamp, Transition,
};
use ports::{
    Commit, CommitOutcome, Document, DocumentStore, DocumentWrite, Expect, JourneyStore,
    ManualClock, Notifier, NotifyError,
};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

const URL: &str = "https://hooks.example.com/services/T0/B0/secret";

fn utc(d: u32, h: u32, m: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2025, 3, d, h, m, 0).unwrap()
}

/// Monday 24 March 2025, 08:30 in Berlin (UTC+1): half an hour after the schedule fired.
fn monday() -> Timestamp {
    utc(24, 7, 30)
}

fn transitions(lead: &str, steps: &[(Stage, Timestamp)]) -> Vec<Transition> {
    let mut state = JourneyState::default();
    let mut out = Vec::new();
    for (i, (stage, at)) in steps.iter().enumerate() {
        let event = StageEvent {
            to: *stage,
            cause: CauseId::new(format!("{lead}-{i}")),
            actor: Actor::Import {
                batch: "test".into(),
            },
            reason: None,
            effective_at: *at,
            recorded_at: *at,
            dims: Dimensions {
                source: Some("webinar".into()),
                ..Dimensions::default()
            },
        };
        if let Ok(StageOutcome::Applied(t)) = state.apply(&LeadId::new(lead), &event) {
            out.push(t);
        }
    }
    out
}

async fn commit(store: &EmbeddedStore, commit: Commit) {
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
}

/// A store with the Monday 08:00 Berlin schedule and two leads: one that became an MQL in the
/// week reported (Tuesday 18 March), one the day after that week (too late to count).
async fn setup(target_kind: &str) -> EmbeddedStore {
    let clock = Arc::new(ManualClock::new(monday()));
    let store = EmbeddedStore::in_memory().unwrap().with_clock(clock);
    let schedules = serde_json::json!({ "schedules": [{
        "id": "weekly-by-source",
        "weekday": "Mon",
        "at": "08:00:00",
        "zone": "Europe/Berlin",
        "group_by": "source",
        "target": { "kind": target_kind, "url": URL },
    }]});
    let doc = Document {
        collection: "config".into(),
        key: "report_schedules".into(),
        version: 1,
        index: None,
        body: schedules,
        expires_at: None,
    };
    let mut all = transitions(
        "in-week",
        &[(Stage::New, utc(18, 9, 0)), (Stage::Mql, utc(18, 10, 0))],
    );
    all.extend(transitions(
        "after",
        &[(Stage::New, utc(24, 6, 0)), (Stage::Mql, utc(24, 6, 30))],
    ));
    commit(
        &store,
        Commit {
            documents: vec![DocumentWrite::Put {
                doc,
                expect: Expect::Absent,
            }],
            transitions: all,
            ..Commit::default()
        },
    )
    .await;
    store
}

/// Answers with the scripted errors first, then `Ok`, each after `delay`; records each post.
struct FakeNotifier {
    delay: Duration,
    script: Mutex<VecDeque<fn() -> NotifyError>>,
    posts: Mutex<Vec<(String, serde_json::Value)>>,
}

impl FakeNotifier {
    fn new(delay_ms: u64, script: Vec<fn() -> NotifyError>) -> Self {
        Self {
            delay: Duration::from_millis(delay_ms),
            script: Mutex::new(script.into()),
            posts: Mutex::default(),
        }
    }

    fn posts(&self) -> Vec<(String, serde_json::Value)> {
        self.posts.lock().unwrap().clone()
    }
}

#[async_trait]
impl Notifier for FakeNotifier {
    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), NotifyError> {
        self.posts
            .lock()
            .unwrap()
            .push((url.to_owned(), body.clone()));
        tokio::time::sleep(self.delay).await;
        match self.script.lock().unwrap().pop_front() {
            Some(e) => Err(e()),
            None => Ok(()),
        }
    }
}

async fn latest(store: &EmbeddedStore) -> ScheduledReport {
    let doc = store
        .get(LATEST, "weekly-by-source")
        .await
        .unwrap()
        .expect("a latest report");
    serde_json::from_value(doc.body).unwrap()
}

#[tokio::test]
async fn a_firing_is_generated_and_delivered_once_across_two_overlapping_runs() {
    let store = setup("slack").await;
    // Slow enough that the second run reaches delivery while the first is still posting.
    let notifier = FakeNotifier::new(50, vec![]);

    let (a, b) = tokio::join!(
        scheduled::run(&store, &store, &notifier, monday()),
        scheduled::run(
            &store,
            &store,
            &notifier,
            monday() + chrono::Duration::seconds(1)
        ),
    );
    let (a, b) = (a.unwrap(), b.unwrap());

    assert_eq!(a.generated + b.generated, 1, "{a:?} {b:?}");
    assert_eq!(a.already_generated + b.already_generated, 1, "{a:?} {b:?}");
    assert_eq!(a.delivered + b.delivered, 1, "{a:?} {b:?}");
    let posts = notifier.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, URL);
    // Last week in Berlin is 17-24 March; one lead became an MQL in it, the other a day late.
    let text = posts[0].1["text"].as_str().unwrap();
    assert!(
        text.starts_with("Funnel 2025-03-16 to 2025-03-23 by source: 1 MQLs"),
        "{text}"
    );

    // A later run has nothing to do.
    let later = scheduled::run(
        &store,
        &store,
        &notifier,
        monday() + chrono::Duration::minutes(15),
    )
    .await
    .unwrap();
    assert_eq!((later.generated, later.delivered), (0, 0), "{later:?}");
    assert_eq!(notifier.posts().len(), 1);

    let stored = latest(&store).await;
    assert_eq!(stored.status, DeliveryStatus::Delivered);
    assert_eq!(
        stored.fired_at,
        utc(24, 7, 0),
        "08:00 in Berlin in winter is 07:00 UTC"
    );
    let by_key = store
        .get(REPORTS, "weekly-by-source/2025-03-24T07:00:00Z")
        .await
        .unwrap();
    assert!(
        by_key.is_some_and(|d| d.index.is_none()),
        "a delivered report is no longer pending"
    );
}

fn unavailable() -> NotifyError {
    NotifyError::Retryable("503".into())
}

fn refused() -> NotifyError {
    NotifyError::Refused("404".into())
}

#[tokio::test]
async fn an_undelivered_report_is_tried_again_by_the_next_run_and_not_generated_twice() {
    let store = setup("json").await;
    let notifier = FakeNotifier::new(0, vec![unavailable, unavailable, unavailable]);

    let first = scheduled::run(&store, &store, &notifier, monday())
        .await
        .unwrap();
    assert_eq!((first.generated, first.delivered, first.failed), (1, 0, 1));
    assert_eq!(latest(&store).await.status, DeliveryStatus::Pending);

    let second = scheduled::run(
        &store,
        &store,
        &notifier,
        monday() + chrono::Duration::minutes(15),
    )
    .await
    .unwrap();
    assert_eq!((second.generated, second.delivered), (0, 1), "{second:?}");
    let posts = notifier.posts();
    assert_eq!(
        posts.len(),
        4,
        "three tries in the first run, one in the second"
    );
    assert_eq!(posts[3].1["schedule"], "weekly-by-source");
    let stored = latest(&store).await;
    assert_eq!((stored.status, stored.runs), (DeliveryStatus::Delivered, 2));
}

#[tokio::test]
async fn a_refused_report_is_not_posted_again() {
    let store = setup("slack").await;
    let notifier = FakeNotifier::new(0, vec![refused]);

    scheduled::run(&store, &store, &notifier, monday())
        .await
        .unwrap();
    scheduled::run(
        &store,
        &store,
        &notifier,
        monday() + chrono::Duration::minutes(15),
    )
    .await
    .unwrap();

    assert_eq!(notifier.posts().len(), 1);
    let stored = latest(&store).await;
    assert_eq!(stored.status, DeliveryStatus::Failed);
    assert_eq!(stored.last_error.as_deref(), Some("refused"));
}

#[tokio::test]
async fn no_schedule_configured_means_nothing_to_do() {
    let store = EmbeddedStore::in_memory()
        .unwrap()
        .with_clock(Arc::new(ManualClock::new(monday())));
    let notifier = FakeNotifier::new(0, vec![]);
    let summary = scheduled::run(&store, &store, &notifier, monday())
        .await
        .unwrap();
    assert_eq!(summary, Default::default());
    assert!(notifier.posts().is_empty());
}
