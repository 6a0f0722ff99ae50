//! The notifier over the embedded store with a fake [`Notifier`]: what a message says, where
//! it goes, retries and refusals, exactly-once under redelivery, and what the logs hold.

use async_trait::async_trait;
use chrono::DateTime;
use embedded::EmbeddedStore;
use lifecycle::{
    notify::NotifyTarget,
    routing::{Pool, PoolMember, RepAvailability, Returning, RoutingConfig, Strategy},
    scoring::{Grade, GradeLetter, MqlTrace, ScoreLedger, Verdict},
    sla::{
        BusinessCalendar, ClockKind, ClockStart, Escalation, LeadKind, SlaClock, SlaPolicy, Zone,
    },
    Activity, ActivityKind, CauseId, Email, Lead, LeadId, Phone, RepId, Stage, Timestamp,
};
use notifier::{Dispatcher, NotifyFailure, Outcome, RetryPolicy};
use ports::{
    Commit, CommitOutcome, Delivery, Document, DocumentWrite, Expect, JourneyStore, LeadWrite,
    Notifier, NotifyError,
};
use routing::{docs, Notice};
use serde::Serialize;
use std::{
    collections::VecDeque,
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

const REP_URL: &str = "https://hooks.slack.example/services/T1/B1/rep-secret";
const POOL_URL: &str = "https://team.example/inbox/pool-secret";

fn t(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn now() -> Timestamp {
    t("2025-06-16T08:00:00Z")
}

/// Answers each post with the next scripted answer (then `Ok`), and records what it was sent.
#[derive(Default)]
struct FakeNotifier {
    script: Mutex<VecDeque<fn() -> NotifyError>>,
    sent: Mutex<Vec<(String, serde_json::Value)>>,
}

impl FakeNotifier {
    fn failing(answers: Vec<fn() -> NotifyError>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(answers.into()),
            ..Self::default()
        })
    }

    fn sent(&self) -> Vec<(String, serde_json::Value)> {
        self.sent.lock().unwrap().clone()
    }
}

fn retryable() -> NotifyError {
    NotifyError::Retryable("503".into())
}

fn refused() -> NotifyError {
    NotifyError::Refused("404".into())
}

#[async_trait]
impl Notifier for FakeNotifier {
    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), NotifyError> {
        self.sent
            .lock()
            .unwrap()
            .push((url.to_owned(), body.clone()));
        match self.script.lock().unwrap().pop_front() {
            Some(answer) => Err(answer()),
            None => Ok(()),
        }
    }
}

async fn put<T: Serialize>(store: &EmbeddedStore, collection: &str, key: &str, value: &T) {
    let doc = Document {
        collection: collection.into(),
        key: key.into(),
        version: 1,
        index: None,
        body: serde_json::to_value(value).unwrap(),
        expires_at: None,
    };
    let commit = Commit {
        documents: vec![DocumentWrite::Put {
            doc,
            expect: Expect::Any,
        }],
        ..Commit::default()
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
}

fn pool(notify: Option<NotifyTarget>) -> Pool {
    Pool {
        id: "emea".into(),
        strategy: Strategy::RoundRobin,
        members: vec![PoolMember::new("rep-1")],
        account_match: false,
        returning: Returning::RejoinLevel,
        overflow_queue: "emea_overflow".into(),
        manager: Some(RepId::new("boss")),
        notify,
    }
}

/// A store holding lead `L1` (Ada Lovelace, assigned to rep-1), two activities, a score
/// ledger with the MQL decision, rep-1's response clock due at 08:15 UTC, and rep-1's channel.
async fn setup(rep_target: bool, pool_target: bool) -> EmbeddedStore {
    // The store's clock shows the test's time, so the delivery records' expiry (15 days after
    // the handler's `now`) is in its future.
    let clock = Arc::new(ports::ManualClock::new(now()));
    let store = EmbeddedStore::in_memory().unwrap().with_clock(clock);
    let config = RoutingConfig {
        pools: vec![pool(pool_target.then(|| NotifyTarget::Json {
            url: POOL_URL.into(),
        }))],
        rules: vec![],
        default_pool: "emea".into(),
    };
    put(&store, docs::CONFIG, docs::ROUTING_CONFIG, &config).await;

    let mut rep = serde_json::to_value(RepAvailability::active("rep-1")).unwrap();
    if rep_target {
        rep["notify"] = serde_json::json!({ "kind": "slack", "url": REP_URL });
    }
    put(&store, docs::REP, "rep-1", &rep).await;

    let mut lead = Lead::new(LeadId::new("L1"), t("2025-06-16T07:50:00Z"));
    lead.email = Some(Email::parse("ada.lovelace@analytical.example").unwrap());
    lead.phone = Some(Phone::new("+442079460000"));
    lead.profile.name = Some("Ada Lovelace".into());
    lead.profile.title = Some("Head of Engines".into());
    lead.profile.company = Some("Analytical Engines Ltd".into());
    lead.owner = Some(RepId::new("rep-1"));
    lead.version = 1;
    let activity = |id: &str, kind, at, hand_raiser| Activity {
        id: id.into(),
        lead_id: lead.id.clone(),
        kind,
        occurred_at: t(at),
        hand_raiser,
        attributes: Default::default(),
    };
    let commit = Commit {
        lead: Some(LeadWrite {
            lead: lead.clone(),
            expect: Expect::Absent,
            new_identities: vec![],
        }),
        activities: vec![
            activity(
                "a1",
                ActivityKind::PricingViewed,
                "2025-06-16T07:50:00Z",
                false,
            ),
            activity("a2", ActivityKind::DemoBooked, "2025-06-16T07:55:00Z", true),
        ],
        ..Commit::default()
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );

    let mut ledger = ScoreLedger::new(lead.id.clone(), 3);
    ledger.grade = Some(Grade {
        letter: GradeLetter::A,
        points: 40.0,
        rule_version: 3,
        rules_applied: vec![lifecycle::scoring::grade::AppliedRule {
            id: "vp_title".into(),
            points: 40.0,
        }],
    });
    ledger.mql_traces.push(MqlTrace {
        at: t("2025-06-16T07:55:00Z"),
        cause: CauseId::new("a2"),
        effective_at: t("2025-06-16T07:55:00Z"),
        rule_version: 3,
        grade: GradeLetter::A,
        min_grade: GradeLetter::B,
        score: 65.0,
        min_score: 50.0,
        hand_raiser: true,
        hand_raiser_floor: GradeLetter::C,
        thresholds_met: true,
        hand_raiser_met: true,
        incomplete: false,
        verdict: Verdict::Mql,
    });
    put(&store, "score_ledger", "L1", &ledger).await;

    let policy = SlaPolicy {
        id: "hand_raiser_accept".into(),
        clock: ClockKind::RepResponse,
        stage: Stage::Mql,
        lead_kind: Some(LeadKind::HandRaiser),
        target_minutes: 15,
        escalation: Escalation::default(),
    };
    let calendar = BusinessCalendar::always_open(Zone::parse("Europe/Berlin").unwrap());
    let clock = SlaClock::start(
        &policy,
        &calendar,
        ClockStart {
            lead: lead.id.clone(),
            cycle: 1,
            lead_kind: LeadKind::HandRaiser,
            owner: Some(RepId::new("rep-1")),
            reassignments: 0,
            at: now(),
            pool: None,
        },
    );
    put(&store, docs::SLA_CLOCK, &clock.id, &clock).await;
    store
}

fn assigned(id: &str) -> Delivery {
    let notice = Notice::LeadAssigned {
        lead: LeadId::new("L1"),
        cycle: 1,
        rep: RepId::new("rep-1"),
        pool: "emea".into(),
    };
    let message = notice.message(id);
    Delivery {
        id: message.id,
        body: message.body,
        receive_count: 1,
        receipt: "r".into(),
    }
}

fn dispatcher(store: &EmbeddedStore, fake: Arc<FakeNotifier>) -> Dispatcher {
    let s = Arc::new(store.clone());
    Dispatcher::new(s.clone(), s, fake).with_retry(RetryPolicy {
        attempts: 3,
        backoff: Duration::from_millis(1),
    })
}

/// Collects every log line written while it is the default subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The process-wide log capture, installed by whichever test asks first.
///
/// Global, not scoped to a thread: tracing caches per call site whether anyone listens, and a
/// scoped subscriber can miss events whose site another test thread registered first. Every
/// test's log lines land here, and must all be as free of personal data.
fn captured() -> Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

#[tokio::test]
async fn an_empty_notification_batch_is_not_logged_at_info() {
    let logs = captured();
    let store = setup(true, true).await;
    let fake = Arc::new(FakeNotifier::default());

    let report = dispatcher(&store, fake).handle_batch(&[], now()).await;

    assert!(report.done.is_empty() && report.failed.is_empty());
    // No other test handles an empty batch, so any such line is this one's.
    let logged = logs.text();
    assert!(
        !logged
            .lines()
            .any(|l| l.contains(" INFO ") && l.contains("records=0")),
        "an empty batch was logged at INFO:\n{logged}"
    );
    assert!(logged.contains("notification batch empty"), "{logged}");
}

#[tokio::test]
async fn an_assignment_message_says_who_what_why_and_when_and_the_logs_say_none_of_it() {
    let logs = captured();

    let store = setup(true, true).await;
    let fake = Arc::new(FakeNotifier::default());
    let report = dispatcher(&store, fake.clone())
        .handle_batch(&[assigned("assigned:L1:1:0")], now())
        .await;

    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        report.done,
        vec![(
            "assigned:L1:1:0".to_owned(),
            Outcome::Delivered { attempts: 1 }
        )]
    );
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].0, REP_URL,
        "the rep's own channel wins over the team's"
    );
    let body = &sent[0].1;
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("Ada Lovelace"), "{text}");
    assert!(
        text.contains("grade A (at least B) and score 65 (at least 50)"),
        "{text}"
    );
    // 08:00 UTC plus 15 minutes of an always-open calendar.
    assert!(text.contains("SLA due 2025-06-16 08:15 UTC"), "{text}");
    let blocks = serde_json::to_string(&body["blocks"]).unwrap();
    for expected in [
        "Head of Engines",
        "Analytical Engines Ltd",
        "ada.lovelace@analytical.example",
        "+442079460000",
        "demo booked",
        "pricing viewed",
        "vp_title",
        // 2025-06-16T08:15:00Z as a Unix time, for Slack's local-time token.
        "<!date^1750061700^",
    ] {
        assert!(
            blocks.contains(expected),
            "{expected} missing from {blocks}"
        );
    }

    let logged = logs.text();
    assert!(
        logged.contains("assigned:L1:1:0"),
        "the logs name the notice: {logged}"
    );
    for personal in [
        "Ada",
        "Lovelace",
        "ada.lovelace",
        "2079460000",
        "Head of Engines",
        "Analytical",
        "rep-secret",
        "hooks.slack",
    ] {
        assert!(
            !logged.contains(personal),
            "{personal} reached the logs:\n{logged}"
        );
    }
}

#[tokio::test]
async fn a_json_target_gets_the_same_facts_as_fields() {
    let store = setup(false, true).await;
    let fake = Arc::new(FakeNotifier::default());
    dispatcher(&store, fake.clone())
        .handle(&assigned("n1"), now())
        .await
        .unwrap();

    let sent = fake.sent();
    assert_eq!(
        sent[0].0, POOL_URL,
        "a rep without a channel falls back to the team's"
    );
    let body = &sent[0].1;
    assert_eq!(body["kind"], "lead_assigned");
    assert_eq!(body["lead"]["name"], "Ada Lovelace");
    assert_eq!(body["lead"]["email"], "ada.lovelace@analytical.example");
    assert_eq!(body["why_mql"]["grade"], "A");
    assert_eq!(body["why_mql"]["score"], 65.0);
    assert_eq!(body["sla"]["due_at"], "2025-06-16T08:15:00Z");
    assert_eq!(
        body["recent_activities"][0]["kind"], "demo_booked",
        "newest first"
    );
}

#[tokio::test]
async fn retryable_failures_are_tried_again_in_process() {
    let store = setup(true, false).await;
    let fake = FakeNotifier::failing(vec![retryable, retryable]);
    let outcome = dispatcher(&store, fake.clone())
        .handle(&assigned("n1"), now())
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Delivered { attempts: 3 });
    assert_eq!(fake.sent().len(), 3);
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_fails_the_record_for_the_dead_letter_queue() {
    let store = setup(true, false).await;
    let fake = FakeNotifier::failing(vec![refused]);
    let err = dispatcher(&store, fake.clone())
        .handle(&assigned("n1"), now())
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyFailure::Refused(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn exhausted_retries_fail_the_record_and_the_redelivery_sends_it() {
    let store = setup(true, false).await;
    let fake = FakeNotifier::failing(vec![retryable, retryable, retryable]);
    let d = dispatcher(&store, fake.clone());

    let report = d.handle_batch(&[assigned("n1")], now()).await;
    assert_eq!(report.failed.len(), 1);
    let (id, err) = &report.failed[0];
    assert_eq!(id, "n1");
    assert!(
        matches!(err, NotifyFailure::Undelivered { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());

    let again = Delivery {
        receive_count: 2,
        ..assigned("n1")
    };
    assert_eq!(
        d.handle(&again, now()).await.unwrap(),
        Outcome::Delivered { attempts: 1 }
    );
    assert_eq!(fake.sent().len(), 4);
}

#[tokio::test]
async fn a_redelivered_notice_is_sent_once() {
    let store = setup(true, false).await;
    let fake = Arc::new(FakeNotifier::default());
    let d = dispatcher(&store, fake.clone());

    assert_eq!(
        d.handle(&assigned("n1"), now()).await.unwrap(),
        Outcome::Delivered { attempts: 1 }
    );
    let again = Delivery {
        receive_count: 2,
        receipt: "r2".into(),
        ..assigned("n1")
    };
    assert_eq!(d.handle(&again, now()).await.unwrap(), Outcome::Duplicate);
    // Another dispatcher over the same store (a second Lambda instance) agrees.
    let other = dispatcher(&store, fake.clone());
    assert_eq!(
        other.handle(&again, now()).await.unwrap(),
        Outcome::Duplicate
    );
    assert_eq!(fake.sent().len(), 1);
    // A different notice about the same lead is its own message.
    assert_eq!(
        d.handle(&assigned("n2"), now()).await.unwrap(),
        Outcome::Delivered { attempts: 1 }
    );
    assert_eq!(fake.sent().len(), 2);
}

#[tokio::test]
async fn a_notice_nobody_has_a_channel_for_is_acknowledged_and_counted() {
    let store = setup(false, false).await;
    let fake = Arc::new(FakeNotifier::default());
    let report = dispatcher(&store, fake.clone())
        .handle_batch(&[assigned("n1"), assigned("n2")], now())
        .await;
    assert!(report.failed.is_empty());
    assert_eq!(report.without_target(), 2);
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn a_breach_goes_to_the_manager_or_the_team() {
    let store = setup(false, true).await;
    let fake = Arc::new(FakeNotifier::default());
    let notice = Notice::SlaBreached {
        lead: LeadId::new("L1"),
        clock: "L1:1:rep_response:0".into(),
        owner: Some(RepId::new("rep-1")),
        due_at: t("2025-06-16T08:15:00Z"),
    };
    let m = notice.message("notice:L1:1:rep_response:0:notify_manager");
    let delivery = Delivery {
        id: m.id,
        body: m.body,
        receive_count: 1,
        receipt: "r".into(),
    };
    dispatcher(&store, fake.clone())
        .handle(&delivery, now())
        .await
        .unwrap();
    let sent = fake.sent();
    assert_eq!(
        sent[0].0, POOL_URL,
        "the manager has no channel: the team's"
    );
    assert_eq!(sent[0].1["kind"], "sla_breached");
    assert_eq!(sent[0].1["sla"]["policy"], "hand_raiser_accept");
}

#[tokio::test]
async fn a_body_that_is_not_a_notice_fails_for_good() {
    let store = setup(true, true).await;
    let fake = Arc::new(FakeNotifier::default());
    let bad = Delivery {
        id: "x".into(),
        body: "{\"kind\":\"nope\"}".into(),
        receive_count: 1,
        receipt: "r".into(),
    };
    let err = dispatcher(&store, fake.clone())
        .handle(&bad, now())
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyFailure::BadMessage(_)));
    assert!(!err.is_retryable());
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn an_assignment_notice_for_a_lead_reassigned_since_is_not_sent() {
    let store = setup(true, true).await;
    let fake = Arc::new(FakeNotifier::default());
    let notice = Notice::LeadAssigned {
        lead: LeadId::new("L1"),
        cycle: 1,
        rep: RepId::new("rep-2"),
        pool: "emea".into(),
    };
    let m = notice.message("assigned:L1:1:1");
    let delivery = Delivery {
        id: m.id,
        body: m.body,
        receive_count: 1,
        receipt: "r".into(),
    };
    let outcome = dispatcher(&store, fake.clone())
        .handle(&delivery, now())
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Stale, "L1 belongs to rep-1");
    assert!(fake.sent().is_empty());
}
