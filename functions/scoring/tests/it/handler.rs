//! The queue handler: scoring, idempotency, MQL firing, partial batch failures, dead letters.

use crate::common::*;
use aws_lambda_events::sqs::SqsEvent;
use embedded::QueueConfig;
use lambda_runtime::{Context, LambdaEvent};
use lifecycle::{
    funnel::{CounterKey, Dimension},
    scoring::{derive, score_at, Verdict},
    ActivityKind, LeadId, Stage,
};
use ports::{DocumentStore, JourneyStore, Queue, QueueConsumer, Topic};
use scoring::{explain::explain_lead, RecordOutcome};

async fn handle(env: &Env, d: &ports::Delivery) -> Result<RecordOutcome, scoring::ScoringError> {
    let rules = scoring::documents::load_rules(env.store.as_ref())
        .await
        .unwrap();
    env.scorer.handle(&rules, d).await
}

#[tokio::test]
async fn a_scored_activity_stores_grade_score_and_ledger() {
    let env = env();
    install_rules(&env, &test_rules(1, 30.0)).await;
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let d = store_activity(
        &env,
        activity("l1", "f1", ActivityKind::FormSubmitted, t0()),
    )
    .await;
    env.clock.set(hours(1));

    let outcome = handle(&env, &d).await.unwrap();

    assert_eq!(outcome, RecordOutcome::Scored { mql: false });
    let lead = lead(&env, "l1").await;
    assert_eq!((lead.score, lead.grade.as_deref()), (Some(30.0), Some("A")));
    assert_eq!(lead.version, 2);
    let ledger = env.store.get("score_ledger", "l1").await.unwrap().unwrap();
    let explained = explain_lead(env.store.as_ref(), &lead.id, hours(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ledger.version, 1);
    assert_eq!(explained.entries.len(), 1);
    assert_eq!(explained.entries[0].entry.rule_id, "form");
    assert_eq!(explained.entries[0].entry.rule_version, 1);
    assert_eq!(explained.entries[0].decay_factor, 1.0);
    assert_eq!(explained.scores["mql"], 30.0);
}

#[tokio::test]
async fn a_duplicate_message_changes_nothing() {
    let env = env();
    install_rules(&env, &test_rules(1, 30.0)).await;
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let d = store_activity(
        &env,
        activity("l1", "f1", ActivityKind::FormSubmitted, t0()),
    )
    .await;
    handle(&env, &d).await.unwrap();
    let before = lead(&env, "l1").await;
    let ledger_before = env.store.get("score_ledger", "l1").await.unwrap();

    env.clock.set(hours(5));
    let again = handle(&env, &d).await.unwrap();

    assert_eq!(again, RecordOutcome::Duplicate);
    assert_eq!(lead(&env, "l1").await, before);
    assert_eq!(
        env.store.get("score_ledger", "l1").await.unwrap(),
        ledger_before
    );
}

#[tokio::test]
async fn crossing_the_threshold_fires_one_mql_sent_to_routing() {
    let env = env();
    install_rules(&env, &test_rules(1, 30.0)).await;
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let steps = [
        ("f1", ActivityKind::FormSubmitted, 0, false),
        ("p1", ActivityKind::PricingViewed, 1, true),
        ("v1", ActivityKind::PageViewed, 2, false),
    ];

    // Each activity arrives and is scored before the next: 30, then 55 (crosses 50), then 56.
    let mut deliveries = Vec::new();
    for (id, kind, h, fires) in steps {
        let d = store_activity(&env, activity("l1", id, kind, hours(h))).await;
        env.clock.set(hours(h) + chrono::TimeDelta::minutes(1));
        let outcome = handle(&env, &d).await.unwrap();
        assert_eq!(outcome, RecordOutcome::Scored { mql: fires }, "{id}");
        deliveries.push(d);
    }
    let again = handle(&env, &deliveries[1]).await.unwrap();
    assert_eq!(again, RecordOutcome::Duplicate);

    let transitions = env.store.transitions(&LeadId::new("l1")).await.unwrap();
    let mqls: Vec<_> = transitions.iter().filter(|t| t.to == Stage::Mql).collect();
    assert_eq!(mqls.len(), 1);
    assert_eq!(mqls[0].cause.as_str(), "scoring:p1");
    assert_eq!(mqls[0].effective_at, hours(1));
    assert_eq!(lead(&env, "l1").await.stage(), Stage::Mql);
    assert_eq!(lead(&env, "l1").await.score, Some(56.0));

    let all = CounterKey {
        day: hours(1).date_naive(),
        stage: Stage::Mql,
        dimension: Dimension::All,
        group: "all".into(),
    };
    assert_eq!(env.store.counter(&all).await.unwrap(), 1);
    let routed = env.store.receive(Topic::Mqls, 10, 30).await.unwrap();
    assert_eq!(routed.len(), 1);
    let request: lifecycle::routing::RouteRequest = serde_json::from_str(&routed[0].body).unwrap();
    assert_eq!((request.cycle, request.attempt()), (1, 0));
    let body: serde_json::Value = serde_json::from_str(&routed[0].body).unwrap();
    let requested_at = (hours(1) + chrono::TimeDelta::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        body,
        serde_json::json!({ "lead": "l1", "cycle": 1, "lead_kind": "behavioural", "requested_at": requested_at })
    );
}

#[tokio::test]
async fn an_incomplete_lead_waits_and_its_trace_says_so() {
    let env = env();
    install_rules(&env, &test_rules(1, 30.0)).await;
    new_lead(&env, "l1", None).await;
    let mut demo = activity("l1", "d1", ActivityKind::DemoBooked, t0());
    demo.hand_raiser = true;
    let d = store_activity(&env, demo).await;

    assert_eq!(
        handle(&env, &d).await.unwrap(),
        RecordOutcome::Scored { mql: false }
    );

    let explained = explain_lead(env.store.as_ref(), &LeadId::new("l1"), t0())
        .await
        .unwrap();
    let trace = &explained.unwrap().mql_traces[0];
    assert_eq!(trace.verdict, Verdict::WaitingForEmail);
    assert!(trace.hand_raiser_met && trace.incomplete);
    assert_eq!(lead(&env, "l1").await.stage(), Stage::New);
}

#[tokio::test]
async fn the_stored_score_is_the_fold_when_messages_arrive_out_of_order() {
    let env = env();
    install_rules(&env, &lifecycle::scoring::default_rules()).await;
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let mut deliveries = Vec::new();
    let mut activities = Vec::new();
    for (i, h) in [0, 1, 2, 3, 4, 30].iter().enumerate() {
        let a = activity("l1", &format!("v{i}"), ActivityKind::PageViewed, hours(*h));
        activities.push(a.clone());
        deliveries.push(store_activity(&env, a).await);
    }
    env.clock.set(hours(48));

    for d in deliveries.iter().rev() {
        handle(&env, d).await.unwrap();
    }

    // Default rules: a page view is worth 1, at most 3 a day, halving every 90 days; and the
    // MQL score counts fit: no title (-10) and a business address (+5).
    let behaviour = score_at(
        &derive(
            &lifecycle::scoring::default_rules(),
            &activities,
            Some("corp.example"),
        ),
        "mql",
        hours(48),
    );
    let expected = behaviour - 10.0 + 5.0;
    let stored = lead(&env, "l1").await.score.unwrap();
    let explained = explain_lead(env.store.as_ref(), &LeadId::new("l1"), hours(48)).await;
    assert!((stored - expected).abs() < 1e-9, "{stored} vs {expected}");
    assert_eq!(stored, explained.unwrap().unwrap().scores["mql"]);
    assert!(
        behaviour > 3.9 && behaviour < 4.0,
        "4 capped points, slightly decayed: {behaviour}"
    );
}

#[tokio::test]
async fn a_batch_fails_only_its_bad_records() {
    let env = env();
    install_rules(&env, &test_rules(1, 30.0)).await;
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let good = store_activity(
        &env,
        activity("l1", "f1", ActivityKind::FormSubmitted, t0()),
    )
    .await;
    let malformed = raw_delivery("bad-json", "{ not json");
    let unknown = delivery(&LeadId::new("nobody"), "x1");

    let report = env
        .scorer
        .handle_batch(&[malformed, good.clone(), unknown])
        .await;

    assert_eq!(
        report.done,
        vec![(good.id, RecordOutcome::Scored { mql: false })]
    );
    let failed: Vec<(&str, bool)> = report
        .failed
        .iter()
        .map(|(id, e)| (id.as_str(), e.is_retryable()))
        .collect();
    assert_eq!(failed, [("bad-json", false), ("msg-x1", true)]);
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_and_the_rest_go_through() {
    let env = env_with(QueueConfig {
        max_receives: 3,
        first_backoff_seconds: 1,
        max_backoff_seconds: 1,
    });
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let good = store_activity(
        &env,
        activity("l1", "f1", ActivityKind::FormSubmitted, t0()),
    )
    .await;
    let message = |id: &str, body: &str| ports::Message {
        topic: Topic::Activities,
        id: id.into(),
        body: body.into(),
        delay_seconds: 0,
    };
    env.store
        .send(&[message("poison", "[1, 2]"), message(&good.id, &good.body)])
        .await
        .unwrap();

    for _ in 0..4 {
        env.scorer
            .poll_once(env.store.as_ref(), 10, 30)
            .await
            .unwrap();
        env.clock.advance(chrono::TimeDelta::seconds(5));
    }

    let dead = env.store.dead_letters(Topic::Activities).await.unwrap();
    assert_eq!(
        dead.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["poison"]
    );
    assert!(lead(&env, "l1").await.score.is_some());
    assert!(env
        .store
        .receive(Topic::Activities, 10, 30)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_lambda_reports_partial_batch_failures() {
    let env = env();
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let good = store_activity(
        &env,
        activity("l1", "f1", ActivityKind::FormSubmitted, t0()),
    )
    .await;
    let event: SqsEvent = serde_json::from_value(serde_json::json!({ "Records": [
        { "messageId": "m-good", "receiptHandle": "r1", "body": good.body,
          "attributes": { "ApproximateReceiveCount": "1" }, "messageAttributes": {} },
        { "messageId": "m-bad", "receiptHandle": "r2", "body": "nope",
          "attributes": { "ApproximateReceiveCount": "4" }, "messageAttributes": {} }
    ]}))
    .unwrap();

    let response =
        scoring::sqs::handle_event(&env.scorer, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();

    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m-bad"]);
    assert!(lead(&env, "l1").await.score.is_some());
}

/// A store that lets another writer change the lead just before the handler's first commit.
struct RacingStore {
    inner: std::sync::Arc<embedded::EmbeddedStore>,
    raced: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl JourneyStore for RacingStore {
    async fn lead(&self, id: &LeadId) -> Result<Option<lifecycle::Lead>, ports::StoreError> {
        self.inner.lead(id).await
    }
    async fn lead_by_email(
        &self,
        email: &lifecycle::Email,
    ) -> Result<Option<lifecycle::Lead>, ports::StoreError> {
        self.inner.lead_by_email(email).await
    }
    async fn lead_by_phone(
        &self,
        phone: &lifecycle::Phone,
    ) -> Result<Option<lifecycle::Lead>, ports::StoreError> {
        self.inner.lead_by_phone(phone).await
    }
    async fn transitions(
        &self,
        id: &LeadId,
    ) -> Result<Vec<lifecycle::Transition>, ports::StoreError> {
        self.inner.transitions(id).await
    }
    async fn activities(&self, id: &LeadId) -> Result<Vec<lifecycle::Activity>, ports::StoreError> {
        self.inner.activities(id).await
    }
    async fn transitions_recorded(
        &self,
        from: lifecycle::Timestamp,
        to: lifecycle::Timestamp,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<ports::Page<lifecycle::Transition>, ports::StoreError> {
        self.inner
            .transitions_recorded(from, to, cursor, limit)
            .await
    }
    async fn transitions_effective(
        &self,
        from: lifecycle::Timestamp,
        to: lifecycle::Timestamp,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<ports::Page<lifecycle::Transition>, ports::StoreError> {
        self.inner
            .transitions_effective(from, to, cursor, limit)
            .await
    }
    async fn leads(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<ports::Page<lifecycle::Lead>, ports::StoreError> {
        self.inner.leads(cursor, limit).await
    }
    async fn open_leads_of(
        &self,
        rep: &lifecycle::RepId,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<ports::Page<lifecycle::Lead>, ports::StoreError> {
        self.inner.open_leads_of(rep, cursor, limit).await
    }
    async fn counter(&self, key: &CounterKey) -> Result<i64, ports::StoreError> {
        self.inner.counter(key).await
    }
    async fn commit(
        &self,
        commit: ports::Commit,
    ) -> Result<ports::CommitOutcome, ports::StoreError> {
        if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // Another writer (say, a webhook filling in the company) gets there first.
            let id = commit.lead_id().unwrap().clone();
            let mut other = self.inner.lead(&id).await?.unwrap();
            let read = other.version;
            other.profile.company = Some("Acme".into());
            other.version += 1;
            let mut race = ports::Commit::claiming("race", None);
            race.lead = Some(ports::LeadWrite {
                lead: other,
                expect: ports::Expect::Version(read),
                new_identities: Vec::new(),
            });
            assert_eq!(
                self.inner.commit(race).await?,
                ports::CommitOutcome::Committed
            );
        }
        self.inner.commit(commit).await
    }
}

#[tokio::test]
async fn a_conflicting_write_is_decided_again_and_neither_update_is_lost() {
    let env = env();
    install_rules(&env, &test_rules(1, 30.0)).await;
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let d = store_activity(
        &env,
        activity("l1", "f1", ActivityKind::FormSubmitted, t0()),
    )
    .await;
    let mut scorer = env.scorer.clone();
    scorer.store = std::sync::Arc::new(RacingStore {
        inner: env.store.clone(),
        raced: false.into(),
    });

    let rules = scoring::documents::load_rules(env.store.as_ref())
        .await
        .unwrap();
    let outcome = scorer.handle(&rules, &d).await.unwrap();

    assert_eq!(outcome, RecordOutcome::Scored { mql: false });
    let lead = lead(&env, "l1").await;
    assert_eq!(lead.profile.company.as_deref(), Some("Acme"));
    assert_eq!((lead.score, lead.version), (Some(30.0), 3));
}

#[tokio::test]
async fn the_explanation_lists_the_fit_points_the_score_counts() {
    // The shipped MQL score counts fit: the explanation must show the entry that holds it, so
    // that its values add up to the score it states.
    let env = env();
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let d = store_activity(
        &env,
        activity("l1", "p1", ActivityKind::PricingViewed, t0()),
    )
    .await;
    env.scorer.handle_batch(&[d]).await;

    let explained = explain_lead(env.store.as_ref(), &LeadId::new("l1"), hours(1))
        .await
        .unwrap()
        .unwrap();

    let rules: Vec<&str> = explained
        .entries
        .iter()
        .map(|e| e.entry.rule_id.as_str())
        .collect();
    assert!(
        rules.contains(&"fit") && rules.contains(&"pricing_view"),
        "{rules:?}"
    );
    let mql: f64 = explained
        .entries
        .iter()
        .filter(|e| e.entry.score_name == "mql")
        .map(|e| e.value)
        .sum();
    assert!((mql - explained.scores["mql"]).abs() < 1e-9);
    // No title (-10), a business address (+5); a pricing view (10), barely decayed.
    assert!(
        (explained.scores["mql"] - 5.0).abs() < 0.01,
        "{}",
        explained.scores["mql"]
    );
}
