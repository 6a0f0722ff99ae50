//! The routing function over the embedded store: what one request commits, redeliveries,
//! concurrent routers, overflow, dry runs and refusals.

use chrono::{DateTime, Duration};
use embedded::EmbeddedStore;
use lifecycle::{
    routing::{
        LoadCounter, OutOfOffice, Pool, PoolMember, RepAvailability, Returning, RotationState,
        RouteRequest, RoutingConfig, RoutingDecision, Strategy,
    },
    sla::{
        BusinessCalendar, ClockKind, Escalation, LeadKind, SlaClock, SlaPolicies, SlaPolicy, Zone,
    },
    transition::Actor,
    CauseId, Email, JourneyState, Lead, LeadId, RepId, Stage, StageEvent, StageOutcome, Timestamp,
};
use ports::{
    Commit, CommitOutcome, DocumentStore, Expect, JourneyStore, LeadWrite, QueueConsumer, Topic,
};
use routing::{docs, Notice, RouteOutcome, Router, RoutingError, SkipReason};
use serde::Serialize;
use std::{collections::BTreeMap, sync::Arc};

fn t(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Mon 2025-06-16 10:00 CEST.
fn monday() -> Timestamp {
    t("2025-06-16T08:00:00Z")
}

fn router(store: &EmbeddedStore) -> Router {
    let s = Arc::new(store.clone());
    Router::new(s.clone(), s.clone(), s)
}

async fn put<T: Serialize>(store: &EmbeddedStore, collection: &str, key: &str, value: &T) {
    let mut commit = Commit::default();
    commit
        .documents
        .push(docs::put(collection, key, value, 0, None).unwrap());
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
}

fn pool(reps: &[&str]) -> Pool {
    Pool {
        id: "emea".into(),
        strategy: Strategy::RoundRobin,
        members: reps.iter().map(|r| PoolMember::new(*r)).collect(),
        account_match: true,
        returning: Returning::RejoinLevel,
        overflow_queue: "emea_overflow".into(),
        manager: Some(RepId::new("boss")),
        notify: None,
    }
}

fn hand_raiser_policies() -> SlaPolicies {
    let accept = SlaPolicy {
        id: "hand_raiser_accept".into(),
        clock: ClockKind::RepResponse,
        stage: Stage::Mql,
        lead_kind: Some(LeadKind::HandRaiser),
        target_minutes: 15,
        escalation: Escalation {
            remind_at_percent: Some(50),
            reassign: true,
            max_reassignments: 1,
            notify_manager: true,
        },
    };
    let latency = SlaPolicy {
        id: "routing_latency".into(),
        clock: ClockKind::RoutingLatency,
        lead_kind: None,
        target_minutes: 5,
        escalation: Escalation::default(),
        ..accept.clone()
    };
    SlaPolicies {
        policies: vec![accept, latency],
    }
}

/// A store with a pool of `reps` (all available), SLA policies and an always-open calendar.
async fn setup(reps: &[&str]) -> EmbeddedStore {
    let store = EmbeddedStore::in_memory().unwrap();
    let config = RoutingConfig {
        pools: vec![pool(reps)],
        rules: vec![],
        default_pool: "emea".into(),
    };
    put(&store, docs::CONFIG, docs::ROUTING_CONFIG, &config).await;
    put(
        &store,
        docs::CONFIG,
        docs::SLA_POLICIES,
        &hand_raiser_policies(),
    )
    .await;
    let calendar = BusinessCalendar::always_open(Zone::parse("Europe/Berlin").unwrap());
    put(&store, docs::CALENDAR, docs::DEFAULT_CALENDAR, &calendar).await;
    for rep in reps {
        put(&store, docs::REP, rep, &RepAvailability::active(*rep)).await;
    }
    store
}

/// Stores a lead that became an MQL at `at` (cycle 1).
async fn mql_lead(store: &EmbeddedStore, id: &str, at: Timestamp) -> Lead {
    let mut lead = Lead::new(LeadId::new(id), at);
    lead.email = Some(Email::parse(&format!("{id}@quillfield.example")).unwrap());
    let mut journey = JourneyState::default();
    let mut transitions = Vec::new();
    for to in [Stage::New, Stage::Mql] {
        let event = StageEvent {
            to,
            cause: CauseId::new(format!("{id}:{to}")),
            actor: Actor::System {
                component: "test".into(),
            },
            reason: None,
            effective_at: at,
            recorded_at: at,
            dims: Default::default(),
        };
        if let StageOutcome::Applied(tr) = journey.apply(&lead.id, &event).unwrap() {
            transitions.push(tr);
        }
    }
    lead.journey = journey;
    lead.version = 1;
    let write = LeadWrite {
        lead: lead.clone(),
        expect: Expect::Absent,
        new_identities: vec![],
    };
    let commit = Commit {
        lead: Some(write),
        transitions,
        ..Commit::default()
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
    lead
}

fn request(lead: &str, at: Timestamp) -> RouteRequest {
    RouteRequest {
        lead: LeadId::new(lead),
        cycle: 1,
        lead_kind: LeadKind::HandRaiser,
        requested_at: at,
        reassignment: None,
    }
}

async fn notices(store: &EmbeddedStore) -> Vec<(String, Notice)> {
    let mut out = Vec::new();
    loop {
        let batch = store.receive(Topic::Notifications, 10, 60).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        for d in batch {
            store.ack(Topic::Notifications, &d.receipt).await.unwrap();
            out.push((d.id.clone(), serde_json::from_str(&d.body).unwrap()));
        }
    }
}

async fn owner(store: &EmbeddedStore, lead: &str) -> Option<RepId> {
    store.lead(&LeadId::new(lead)).await.unwrap().unwrap().owner
}

async fn doc<T: serde::de::DeserializeOwned>(
    store: &EmbeddedStore,
    c: &str,
    k: &str,
) -> Option<(T, u64)> {
    docs::load::<T>(store, c, k)
        .await
        .unwrap()
        .map(|v| (v.value, v.version))
}

#[tokio::test]
async fn an_mql_is_assigned_with_its_decision_load_clocks_and_notice_in_one_commit() {
    let store = setup(&["rep-a", "rep-b"]).await;
    let lead = mql_lead(&store, "l1", monday()).await;
    let now = monday() + Duration::seconds(30);

    let outcome = router(&store)
        .route(&request("l1", monday()), now)
        .await
        .unwrap();
    assert_eq!(outcome, RouteOutcome::Assigned(RepId::new("rep-a")));

    let stored = store.lead(&lead.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.owner.clone(), stored.version),
        (Some(RepId::new("rep-a")), 2)
    );
    let (rotation, v) = doc::<RotationState>(&store, docs::ROTATION, "emea")
        .await
        .unwrap();
    assert_eq!((rotation.reps[&RepId::new("rep-a")].assigned, v), (1, 1));
    let (load, _) = doc::<LoadCounter>(&store, docs::REP_LOAD, "rep-a")
        .await
        .unwrap();
    assert_eq!((load.assigned_on_day, load.open_leads), (1, 1));
    let (decision, _) = doc::<RoutingDecision>(&store, docs::DECISION, "l1:1:0")
        .await
        .unwrap();
    assert_eq!(decision.candidates.len(), 2);

    // The latency clock ran from the MQL to the assignment; the response clock runs 15 min.
    let (latency, _) = doc::<SlaClock>(&store, docs::SLA_CLOCK, "l1:1:routing_latency:0")
        .await
        .unwrap();
    assert_eq!(
        (latency.started_at, latency.stopped_at),
        (monday(), Some(now))
    );
    let (response, _) = doc::<SlaClock>(&store, docs::SLA_CLOCK, "l1:1:rep_response:0")
        .await
        .unwrap();
    assert_eq!(response.due_at, now + Duration::minutes(15));
    let due = store.due(docs::SLA_CLOCK, "9999", 10).await.unwrap();
    let due_keys: Vec<&str> = due.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        due_keys,
        ["l1:1:rep_response:0"],
        "a stopped clock is not indexed"
    );
    assert_eq!(
        due[0].index.as_deref(),
        Some("2025-06-16T08:08:00.000Z"),
        "the reminder at half time"
    );

    let sent = notices(&store).await;
    assert_eq!(sent.len(), 1);
    assert!(matches!(&sent[0].1, Notice::LeadAssigned { rep, .. } if rep.as_str() == "rep-a"));
}

#[tokio::test]
async fn a_redelivered_request_changes_nothing() {
    let store = setup(&["rep-a", "rep-b"]).await;
    mql_lead(&store, "l1", monday()).await;
    let r = router(&store);
    let body = serde_json::to_string(&request("l1", monday())).unwrap();

    r.handle_message(&body, monday()).await.unwrap();
    let again = r
        .handle_message(&body, monday() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(again, RouteOutcome::Duplicate);

    assert_eq!(owner(&store, "l1").await, Some(RepId::new("rep-a")));
    let (_, rotation_version) = doc::<RotationState>(&store, docs::ROTATION, "emea")
        .await
        .unwrap();
    assert_eq!(rotation_version, 1);
    let (load, _) = doc::<LoadCounter>(&store, docs::REP_LOAD, "rep-a")
        .await
        .unwrap();
    assert_eq!(load.open_leads, 1);
    // The duplicate re-sends the first commit's notice under the same id, for the consumer to
    // dedupe.
    let sent = notices(&store).await;
    assert!(
        sent.iter().all(|(id, _)| id == "assigned:l1:1:0"),
        "{sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_routers_share_leads_as_if_one_at_a_time() {
    let reps = ["rep-a", "rep-b", "rep-c", "rep-d"];
    let store = setup(&reps).await;
    for i in 0..22 {
        mql_lead(&store, &format!("l{i:02}"), monday()).await;
    }

    let tasks: Vec<_> = (0..22)
        .map(|i| {
            let r = router(&store);
            tokio::spawn(async move {
                let req = request(&format!("l{i:02}"), monday());
                // As SQS would: a retryable failure is delivered again.
                loop {
                    match r.route(&req, monday()).await {
                        Err(e) if e.is_retryable() => continue,
                        other => return other.unwrap(),
                    }
                }
            })
        })
        .collect();

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        let RouteOutcome::Assigned(rep) = task.await.unwrap() else {
            panic!("not assigned")
        };
        *counts.entry(rep.to_string()).or_default() += 1;
    }
    // 22 leads over 4 reps: 6, 6, 5, 5 in some order.
    let mut shares: Vec<usize> = counts.values().copied().collect();
    shares.sort();
    assert_eq!(shares, [5, 5, 6, 6], "{counts:?}");
    let (rotation, version) = doc::<RotationState>(&store, docs::ROTATION, "emea")
        .await
        .unwrap();
    assert_eq!(version, 22, "one rotation write per lead");
    assert_eq!(rotation.reps.values().map(|t| t.assigned).sum::<u64>(), 22);
}

#[tokio::test]
async fn nobody_eligible_puts_the_lead_in_the_overflow_queue() {
    let store = setup(&["rep-a"]).await;
    let mut away = RepAvailability::active("rep-a");
    away.out_of_office.push(OutOfOffice {
        from: monday() - Duration::days(1),
        until: monday() + Duration::days(3),
    });
    let mut commit = Commit::default();
    commit
        .documents
        .push(docs::put(docs::REP, "rep-a", &away, 1, None).unwrap());
    store.commit(commit).await.unwrap();
    mql_lead(&store, "l1", monday()).await;

    let outcome = router(&store)
        .route(&request("l1", monday()), monday())
        .await
        .unwrap();
    assert_eq!(outcome, RouteOutcome::Overflowed("emea_overflow".into()));
    assert_eq!(owner(&store, "l1").await, None);
    let (entry, _) = doc::<docs::OverflowEntry>(&store, docs::OVERFLOW, "emea_overflow:l1")
        .await
        .unwrap();
    assert_eq!(
        entry.cause,
        Some(docs::OverflowCause::NobodyEligible {
            decision: "l1:1:0".into()
        }),
        "the entry names the decision that explains it"
    );
    assert!(
        doc::<RotationState>(&store, docs::ROTATION, "emea")
            .await
            .is_none(),
        "no turn taken"
    );

    // The latency clock keeps running (due 5 min after the MQL) until someone takes the lead.
    let (latency, _) = doc::<SlaClock>(&store, docs::SLA_CLOCK, "l1:1:routing_latency:0")
        .await
        .unwrap();
    assert_eq!(
        (latency.stopped_at, latency.due_at),
        (None, monday() + Duration::minutes(5))
    );
    let sent = notices(&store).await;
    assert!(
        matches!(&sent[0].1, Notice::LeadOverflowed { manager: Some(m), .. } if m.as_str() == "boss")
    );
}

#[tokio::test]
async fn a_dry_run_says_who_and_why_and_writes_nothing() {
    let store = setup(&["rep-a", "rep-b"]).await;
    mql_lead(&store, "l1", monday()).await;
    let decision = router(&store)
        .dry_run(&LeadId::new("l1"), monday())
        .await
        .unwrap();
    assert_eq!(decision.assignee(), Some(&RepId::new("rep-a")));
    assert!(doc::<RotationState>(&store, docs::ROTATION, "emea")
        .await
        .is_none());
    assert_eq!(owner(&store, "l1").await, None);
    assert!(notices(&store).await.is_empty());
}

#[tokio::test]
async fn requests_that_need_no_routing_or_cannot_be_read_are_answered_clearly() {
    let store = setup(&["rep-a"]).await;
    mql_lead(&store, "l1", monday()).await;
    let r = router(&store);

    let stale = RouteRequest {
        cycle: 2,
        ..request("l1", monday())
    };
    assert_eq!(
        r.route(&stale, monday()).await.unwrap(),
        RouteOutcome::Skipped(SkipReason::StaleCycle)
    );

    let err = r.handle_message("{\"lead\":", monday()).await.unwrap_err();
    assert!(matches!(err, RoutingError::BadMessage(_)) && !err.is_retryable());
    let err = r
        .route(&request("nobody", monday()), monday())
        .await
        .unwrap_err();
    assert!(matches!(err, RoutingError::LeadMissing(_)) && !err.is_retryable());

    let bare = EmbeddedStore::in_memory().unwrap();
    mql_lead(&bare, "l2", monday()).await;
    let err = router(&bare)
        .route(&request("l2", monday()), monday())
        .await
        .unwrap_err();
    assert!(matches!(err, RoutingError::NoConfig) && err.is_retryable());
}

/// Stores `body` as rep-a's document over the one `setup` wrote (version 1).
async fn replace_rep_a(store: &EmbeddedStore, body: serde_json::Value) {
    let mut commit = Commit::default();
    commit
        .documents
        .push(docs::put(docs::REP, "rep-a", &body, 1, None).unwrap());
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
}

#[tokio::test]
async fn a_rep_written_by_the_api_is_routed_and_its_absence_respected() {
    // The API's shape (`PUT /reps/{id}`): no `rep` field, absences under `availability`.
    let store = setup(&["rep-a"]).await;
    replace_rep_a(
        &store,
        serde_json::json!({ "name": "Ana", "team": "emea", "active": true, "pools": ["emea"] }),
    )
    .await;
    mql_lead(&store, "l1", monday()).await;
    let outcome = router(&store)
        .route(&request("l1", monday()), monday())
        .await
        .unwrap();
    assert_eq!(outcome, RouteOutcome::Assigned(RepId::new("rep-a")));

    let away = serde_json::json!({
        "active": true,
        "availability": { "out_of_office": [
            { "from": "2025-06-15T00:00:00Z", "to": "2025-06-19T00:00:00Z" }
        ]}
    });
    let store = setup(&["rep-a"]).await;
    replace_rep_a(&store, away).await;
    mql_lead(&store, "l2", monday()).await;
    let outcome = router(&store)
        .route(&request("l2", monday()), monday())
        .await
        .unwrap();
    assert_eq!(outcome, RouteOutcome::Overflowed("emea_overflow".into()));
}
