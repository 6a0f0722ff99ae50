//! DynamoDB- and SQS-specific behaviour of the AWS adapters, against the moto emulator. The
//! behaviour every adapter shares is in the ports' conformance suite (`conformance.rs`).
//!
//! Ignored by default (they need moto): run `infra/scripts/test-aws.sh`.

mod support;

use aws_adapters::{item_size, plan, transactional_write_units};
use lifecycle::{
    funnel::{CounterKey, Dimension},
    Email, LeadId, Stage,
};
use ports::{
    Commit, CommitOutcome, Expect, JourneyStore, LeadWrite, Message, Queue, QueueConsumer,
    QueueError, StoreError, Topic,
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use support::{at, new_lead_commit, Env, FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, MAX_RECEIVES};

const NEEDS_MOTO: &str = "needs moto: run infra/scripts/test-aws.sh";

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn a_new_lead_commit_is_one_transaction_and_reads_back() {
    let env = Env::new().await;
    let when = at("2026-03-02T10:00:00Z");
    let commit = new_lead_commit("L1", "Dana@Example.com", "webhook:typeform:e1", when);

    let outcome = env.store.commit(commit).await.expect(NEEDS_MOTO);

    assert_eq!(outcome, CommitOutcome::Committed);
    assert_eq!(env.requests(), 1, "a commit is one TransactWriteItems");
    let email = Email::parse("dana@example.com").unwrap();
    let lead = env.store.lead_by_email(&email).await.unwrap().unwrap();
    assert_eq!(lead.id, LeadId::new("L1"));
    assert_eq!(lead.version, 1);
    let history = env.store.transitions(&lead.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].to, Stage::New);
    let all = CounterKey {
        day: when.date_naive(),
        stage: Stage::New,
        dimension: Dimension::All,
        group: "all".into(),
    };
    assert_eq!(env.store.counter(&all).await.unwrap(), 1);
    let source = CounterKey {
        dimension: Dimension::Source,
        group: "webinar".into(),
        ..all
    };
    assert_eq!(env.store.counter(&source).await.unwrap(), 1);
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn the_outbox_is_sent_after_the_commit_and_again_on_a_duplicate() {
    let env = Env::new().await;
    let when = at("2026-03-02T10:00:00Z");
    let first = new_lead_commit("L1", "dana@example.com", "webhook:typeform:e1", when);
    env.store.commit(first).await.expect(NEEDS_MOTO);

    let sent = env.queue.receive(Topic::Activities, 10, 30).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, "webhook:typeform:e1:activity");
    assert_eq!(sent[0].body, r#"{"lead_id":"L1"}"#);

    // The redelivery builds another commit for the same event: another lead id even.
    let again = new_lead_commit("L2", "dana@example.com", "webhook:typeform:e1", when);
    env.requests();
    let outcome = env.store.commit(again).await.unwrap();

    assert_eq!(
        env.requests(),
        1,
        "the stored outbox comes back with the cancellation"
    );
    let CommitOutcome::Duplicate { key, outbox } = outcome else {
        panic!("expected a duplicate, got {outcome:?}");
    };
    assert_eq!(key, "webhook:typeform:e1");
    // The first commit's messages: its activity, and the journey event of its transition
    // that the store added (`ports::events`); both are sent again.
    let ids: Vec<(Topic, &str)> = outbox.iter().map(|m| (m.topic, m.id.as_str())).collect();
    assert_eq!(
        ids,
        [
            (Topic::Activities, "webhook:typeform:e1:activity"),
            (Topic::JourneyEvents, "L1:1"),
        ]
    );
    assert!(env.store.lead(&LeadId::new("L2")).await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn a_second_lead_for_the_same_email_conflicts_without_naming_it() {
    let env = Env::new().await;
    let when = at("2026-03-02T10:00:00Z");
    let first = new_lead_commit("L1", "dana@example.com", "webhook:a:1", when);
    env.store.commit(first).await.expect(NEEDS_MOTO);

    let second = new_lead_commit("L2", "dana@example.com", "webhook:a:2", when);
    let outcome = env.store.commit(second).await.unwrap();

    let CommitOutcome::Conflict { what } = outcome else {
        panic!("expected a conflict, got {outcome:?}");
    };
    assert!(what.contains("identity"), "{what}");
    assert!(
        !what.contains("dana"),
        "the e-mail must not reach a log line"
    );
    assert!(env.store.lead(&LeadId::new("L2")).await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn a_stale_version_conflicts_and_writes_nothing() {
    let env = Env::new().await;
    let when = at("2026-03-02T10:00:00Z");
    let first = new_lead_commit("L1", "dana@example.com", "webhook:a:1", when);
    env.store.commit(first).await.expect(NEEDS_MOTO);
    let mut lead = env.store.lead(&LeadId::new("L1")).await.unwrap().unwrap();

    lead.version = 2;
    lead.score = Some(10.0);
    let mut ok = Commit::claiming("api:1", None);
    ok.lead = Some(LeadWrite {
        lead: lead.clone(),
        expect: Expect::Version(1),
        new_identities: vec![],
    });
    assert_eq!(
        env.store.commit(ok).await.unwrap(),
        CommitOutcome::Committed
    );

    lead.score = Some(99.0);
    let mut stale = Commit::claiming("api:2", None);
    stale.lead = Some(LeadWrite {
        lead,
        expect: Expect::Version(1),
        new_identities: vec![],
    });
    let outcome = env.store.commit(stale).await.unwrap();

    assert!(
        matches!(outcome, CommitOutcome::Conflict { .. }),
        "{outcome:?}"
    );
    let stored = env.store.lead(&LeadId::new("L1")).await.unwrap().unwrap();
    assert_eq!(stored.score, Some(10.0));
    // The claim of the refused commit was not kept either: the same event may try again.
    let mut retry = Commit::claiming("api:2", None);
    let mut fresh = stored.clone();
    fresh.version = 3;
    retry.lead = Some(LeadWrite {
        lead: fresh,
        expect: Expect::Version(2),
        new_identities: vec![],
    });
    assert_eq!(
        env.store.commit(retry).await.unwrap(),
        CommitOutcome::Committed
    );
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn fifty_concurrent_updates_of_one_lead_lose_none() {
    let env = Arc::new(Env::new().await);
    let when = at("2026-03-02T10:00:00Z");
    let first = new_lead_commit("L1", "dana@example.com", "webhook:a:0", when);
    env.store.commit(first).await.expect(NEEDS_MOTO);

    let mut tasks = Vec::new();
    for i in 1..=50 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move { add_one_point(&env, i).await }));
    }
    let mut retries = 0;
    for task in tasks {
        retries += task.await.unwrap();
    }

    let lead = env.store.lead(&LeadId::new("L1")).await.unwrap().unwrap();
    assert_eq!(lead.score, Some(50.0), "every update counted once");
    assert_eq!(lead.version, 51);
    println!("50 concurrent updates: {retries} retries from a fresh read");
}

/// Read, add a point, commit on the read version; on a conflict read again. Returns retries.
async fn add_one_point(env: &Env, i: u32) -> u32 {
    let id = LeadId::new("L1");
    for attempt in 0..500 {
        let mut lead = env.store.lead(&id).await.unwrap().unwrap();
        let read_version = lead.version;
        lead.score = Some(lead.score.unwrap_or(0.0) + 1.0);
        lead.version += 1;
        let mut commit = Commit::claiming(format!("sqs:activity:{i}"), None);
        commit.lead = Some(LeadWrite {
            lead,
            expect: Expect::Version(read_version),
            new_identities: vec![],
        });
        match env.store.commit(commit).await {
            Ok(CommitOutcome::Committed) => return attempt,
            Ok(CommitOutcome::Conflict { .. }) | Err(StoreError::Throttled(_)) => continue,
            other => panic!("update {i}: {other:?}"),
        }
    }
    panic!("update {i} never committed");
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn a_message_failed_max_receives_times_moves_to_the_dead_letter_queue() {
    let env = Env::new().await;
    let message = mql_message("mql:L1:1");
    env.queue.send(&[message]).await.expect(NEEDS_MOTO);

    for receive in 1..=MAX_RECEIVES {
        let got = receive_within(&env, Topic::Mqls, MAX_BACKOFF_SECONDS + 2).await;
        assert_eq!(got.len(), 1, "receive {receive}");
        assert_eq!(got[0].receive_count, receive);
        env.queue
            .fail(Topic::Mqls, &got[0].receipt, "test")
            .await
            .unwrap();
    }

    tokio::time::sleep(Duration::from_secs(u64::from(MAX_BACKOFF_SECONDS) + 1)).await;
    assert!(env
        .queue
        .receive(Topic::Mqls, 10, 30)
        .await
        .unwrap()
        .is_empty());
    let dead = env.queue.dead_letters(Topic::Mqls).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, "mql:L1:1");
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn a_failed_message_stays_hidden_for_its_backoff_then_comes_back() {
    let env = Env::new().await;
    env.queue
        .send(&[mql_message("mql:L2:1")])
        .await
        .expect(NEEDS_MOTO);
    let first = receive_within(&env, Topic::Mqls, 2).await;
    assert_eq!(first[0].receive_count, 1);

    let failed_at = Instant::now();
    env.queue
        .fail(Topic::Mqls, &first[0].receipt, "test")
        .await
        .unwrap();
    let at_once = env.queue.receive(Topic::Mqls, 10, 30).await.unwrap();
    let asked_after = failed_at.elapsed();
    let again = receive_within(&env, Topic::Mqls, FIRST_BACKOFF_SECONDS + 3).await;
    let back_after = failed_at.elapsed();

    let backoff = Duration::from_secs(u64::from(FIRST_BACKOFF_SECONDS));
    assert!(
        at_once.is_empty() || asked_after >= backoff,
        "a failed message came back {asked_after:?} after failing"
    );
    assert!(back_after >= backoff, "came back after {back_after:?}");
    assert_eq!(
        (again[0].id.as_str(), again[0].receive_count),
        ("mql:L2:1", 2)
    );
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn a_receipt_the_queue_did_not_issue_is_refused() {
    let env = Env::new().await;
    let refused = env.queue.ack(Topic::Mqls, "no-count-here").await;
    assert!(
        matches!(refused, Err(QueueError::Invalid(_))),
        "{refused:?}"
    );
}

fn mql_message(id: &str) -> Message {
    Message {
        topic: Topic::Mqls,
        id: id.into(),
        body: r#"{"lead_id":"L1"}"#.into(),
        delay_seconds: 0,
    }
}

/// Receives from `topic` until something comes, for at most `seconds`.
async fn receive_within(env: &Env, topic: Topic, seconds: u32) -> Vec<ports::Delivery> {
    let until = Instant::now() + Duration::from_secs(u64::from(seconds));
    loop {
        let got = env.queue.receive(topic, 10, 30).await.expect(NEEDS_MOTO);
        if !got.is_empty() || Instant::now() >= until {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn twenty_five_messages_go_out_in_batches_of_ten() {
    let env = Env::new().await;
    let messages: Vec<Message> = (0..25)
        .map(|i| Message {
            topic: Topic::Notifications,
            id: format!("n{i}"),
            body: format!(r#"{{"n":{i}}}"#),
            delay_seconds: 0,
        })
        .collect();

    env.queue.send(&messages).await.expect(NEEDS_MOTO);

    let mut ids = Vec::new();
    loop {
        let got = env
            .queue
            .receive(Topic::Notifications, 10, 30)
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        for d in got {
            env.queue
                .ack(Topic::Notifications, &d.receipt)
                .await
                .unwrap();
            ids.push(d.id);
        }
    }
    ids.sort();
    let mut expected: Vec<String> = (0..25).map(|i| format!("n{i}")).collect();
    expected.sort();
    assert_eq!(ids, expected);
}

#[test]
fn a_commit_over_one_hundred_items_is_refused_before_sending() {
    let when = at("2026-03-02T10:00:00Z");
    let mut commit = new_lead_commit("L1", "dana@example.com", "c", when);
    // 1 claim + 1 lead + 1 identity + 1 transition + 6 counters = 10; 91 activities make 101.
    commit.activities = (0..91)
        .map(|i| lifecycle::Activity {
            id: format!("a{i}"),
            lead_id: LeadId::new("L1"),
            kind: lifecycle::ActivityKind::PageViewed,
            occurred_at: when,
            hand_raiser: false,
            attributes: Default::default(),
        })
        .collect();

    let err = plan("t", &commit, when).unwrap_err();

    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    commit.activities.pop();
    assert_eq!(plan("t", &commit, when).unwrap().len(), 100);
}

#[test]
fn write_units_follow_item_sizes() {
    let when = at("2026-03-02T10:00:00Z");
    let commit = new_lead_commit("L1", "dana@example.com", "webhook:typeform:e1", when);
    let plan = plan("t", &commit, when).unwrap();
    let sizes: Vec<(&str, usize)> = plan.written().collect();

    assert_eq!(sizes.iter().filter(|(k, _)| *k == "counter").count(), 6);
    for (_, size) in &sizes {
        assert!(*size < 1024, "every webhook item is under 1 KB: {sizes:?}");
        assert_eq!(transactional_write_units(*size), 2);
    }
    let empty: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
        Default::default();
    assert_eq!(item_size(&empty), 0);
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn transitions_recorded_page_across_days_in_recorded_order() {
    let env = Env::new().await;
    // Five leads entering on three days; the last one at exactly `to`, which is excluded.
    let times = [
        "2026-03-01T23:59:59Z",
        "2026-03-02T00:00:00Z",
        "2026-03-02T12:00:00Z",
        "2026-03-03T08:00:00Z",
        "2026-03-04T00:00:00Z",
    ];
    for (i, t) in times.iter().enumerate() {
        let c = new_lead_commit(
            &format!("L{i}"),
            &format!("p{i}@example.com"),
            &format!("c{i}"),
            at(t),
        );
        env.store.commit(c).await.expect(NEEDS_MOTO);
    }

    let (from, to) = (at("2026-03-01T00:00:00Z"), at("2026-03-04T00:00:00Z"));
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = env
            .store
            .transitions_recorded(from, to, cursor, 2)
            .await
            .unwrap();
        pages.push(
            page.items
                .iter()
                .map(|t| t.lead_id.to_string())
                .collect::<Vec<_>>(),
        );
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages.len() < 10, "paging does not end");
    }

    assert_eq!(pages, vec![vec!["L0", "L1"], vec!["L2", "L3"]]);
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn leads_page_newest_first() {
    let env = Env::new().await;
    for (i, t) in [
        "2026-03-01T10:00:00Z",
        "2026-03-03T10:00:00Z",
        "2026-03-02T10:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        let c = new_lead_commit(
            &format!("L{i}"),
            &format!("p{i}@example.com"),
            &format!("c{i}"),
            at(t),
        );
        env.store.commit(c).await.expect(NEEDS_MOTO);
    }

    let first = env.store.leads(None, 2).await.unwrap();
    let second = env.store.leads(first.next.clone(), 2).await.unwrap();

    let ids = |p: &ports::Page<lifecycle::Lead>| {
        p.items.iter().map(|l| l.id.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ["L1", "L2"]);
    assert_eq!(ids(&second), ["L0"]);
    assert_eq!(second.next, None);
}

#[tokio::test]
#[ignore = "needs moto: run infra/scripts/test-aws.sh"]
async fn due_documents_come_in_index_order_and_expired_ones_are_hidden() {
    use ports::{Document, DocumentStore, DocumentWrite};

    let env = Env::new().await;
    let doc = |key: &str, due: &str, expires: Option<&str>| DocumentWrite::Put {
        doc: Document {
            collection: "sla_clock".into(),
            key: key.into(),
            version: 1,
            index: Some(due.into()),
            body: serde_json::json!({ "lead": key }),
            expires_at: expires.map(at),
        },
        expect: Expect::Absent,
    };
    let commit = Commit {
        documents: vec![
            doc("c", "2026-03-02T10:05:00Z", None),
            doc("a", "2026-03-02T10:01:00Z", None),
            doc("b", "2026-03-02T10:09:00Z", None),
            doc("old", "2026-03-02T10:00:00Z", Some("2020-01-01T00:00:00Z")),
        ],
        ..Commit::default()
    };
    assert_eq!(
        env.store.commit(commit).await.expect(NEEDS_MOTO),
        CommitOutcome::Committed
    );

    let due = env
        .store
        .due("sla_clock", "2026-03-02T10:06:00Z", 10)
        .await
        .unwrap();

    let keys: Vec<&str> = due.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["a", "c"]);
    assert!(env.store.get("sla_clock", "old").await.unwrap().is_none());
}
