//! The SLA sweep over the embedded store, with the routing function in the loop: the ladder
//! end to end, overlapping sweeps, a crash between two steps, a lost acknowledgement, a clock
//! stopped behind the sweep's back, and business hours.

use async_trait::async_trait;
use chrono::{DateTime, Duration};
use embedded::EmbeddedStore;
use lifecycle::{
    funnel::CounterKey,
    routing::{
        LoadCounter, Pool, PoolMember, RepAvailability, Returning, RouteRequest, RoutingConfig,
        Strategy,
    },
    sla::{
        BusinessCalendar, CalendarSpec, ClockKind, Escalation, LeadKind, OpenInterval, SlaClock,
        SlaPolicies, SlaPolicy, WallTime, WeeklyHours, Zone,
    },
    transition::Actor,
    Activity, CauseId, Email, JourneyState, Lead, LeadId, Phone, RepId, Stage, StageEvent,
    StageOutcome, Timestamp, Transition,
};
use ports::{
    Commit, CommitOutcome, DocumentStore, Expect, JourneyStore, LeadWrite, Page, QueueConsumer,
    StoreError, Topic,
};
use routing::{docs, Notice, RouteOutcome, Router};
use serde::Serialize;
use sla_timers::{SweepReport, Sweeper};
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

fn t(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// Mon 2025-06-16 10:00 CEST.
fn monday() -> Timestamp {
    t("2025-06-16T08:00:00Z")
}

fn mins(m: i64) -> Duration {
    Duration::minutes(m)
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

fn policies() -> SlaPolicies {
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
    // The routing-latency clock only tells the manager; a lead that was assigned at once
    // has it stopped at once.
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

async fn setup(calendar: BusinessCalendar) -> EmbeddedStore {
    let store = EmbeddedStore::in_memory().unwrap();
    let pool = Pool {
        id: "emea".into(),
        strategy: Strategy::RoundRobin,
        members: ["rep-a", "rep-b"]
            .iter()
            .map(|r| PoolMember::new(*r))
            .collect(),
        account_match: false,
        returning: Returning::RejoinLevel,
        overflow_queue: "emea_overflow".into(),
        manager: Some(RepId::new("boss")),
        notify: None,
    };
    let config = RoutingConfig {
        pools: vec![pool],
        rules: vec![],
        default_pool: "emea".into(),
    };
    put(&store, docs::CONFIG, docs::ROUTING_CONFIG, &config).await;
    put(&store, docs::CONFIG, docs::SLA_POLICIES, &policies()).await;
    put(&store, docs::CALENDAR, docs::DEFAULT_CALENDAR, &calendar).await;
    for rep in ["rep-a", "rep-b"] {
        put(&store, docs::REP, rep, &RepAvailability::active(rep)).await;
    }
    store
}

fn always_open() -> BusinessCalendar {
    BusinessCalendar::always_open(Zone::parse("Europe/Berlin").unwrap())
}

/// Stores an MQL and routes it at `at`; returns the router.
async fn routed_lead(store: &EmbeddedStore, id: &str, at: Timestamp) -> Router {
    let router = mql_lead(store, id, at).await;
    let request = RouteRequest {
        lead: LeadId::new(id),
        cycle: 1,
        lead_kind: LeadKind::HandRaiser,
        requested_at: at,
        reassignment: None,
    };
    let outcome = router.route(&request, at).await;
    assert!(
        matches!(outcome, Ok(RouteOutcome::Assigned(_))),
        "{outcome:?}"
    );
    router
}

/// Stores an MQL that became one at `at`; returns a router over the store.
async fn mql_lead(store: &EmbeddedStore, id: &str, at: Timestamp) -> Router {
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
        lead,
        expect: Expect::Absent,
        new_identities: vec![],
    };
    store
        .commit(Commit {
            lead: Some(write),
            transitions,
            ..Commit::default()
        })
        .await
        .unwrap();

    let s = Arc::new(store.clone());
    Router::new(s.clone(), s.clone(), s)
}

fn sweeper(store: &EmbeddedStore) -> Sweeper {
    let s = Arc::new(store.clone());
    Sweeper::new(s.clone(), s.clone(), s)
}

fn report(clocks: usize, steps: usize, duplicates: usize, failed: usize) -> SweepReport {
    SweepReport {
        clocks,
        steps,
        duplicates,
        failed,
        parked: 0,
        breaches: 0,
    }
}

/// A report of a sweep that acted first on `breaches` breaches.
fn breached(breaches: usize, report: SweepReport) -> SweepReport {
    SweepReport { breaches, ..report }
}

/// Every message of `topic`, acknowledged: (id, body).
async fn drain(store: &EmbeddedStore, topic: Topic) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let batch = store.receive(topic, 10, 60).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        for d in batch {
            store.ack(topic, &d.receipt).await.unwrap();
            out.push((d.id, d.body));
        }
    }
}

/// The notices sent, deduplicated by message id as the notifier does.
async fn notices(store: &EmbeddedStore) -> Vec<Notice> {
    let mut seen = std::collections::BTreeSet::new();
    drain(store, Topic::Notifications)
        .await
        .into_iter()
        .filter(|(id, _)| seen.insert(id.clone()))
        .map(|(_, body)| serde_json::from_str(&body).unwrap())
        .collect()
}

async fn lead(store: &EmbeddedStore, id: &str) -> Lead {
    store.lead(&LeadId::new(id)).await.unwrap().unwrap()
}

#[tokio::test]
async fn the_ladder_reminds_then_reassigns_then_overflows_each_step_once() {
    let store = setup(always_open()).await;
    let router = routed_lead(&store, "l1", monday()).await;
    assert_eq!(lead(&store, "l1").await.owner, Some(RepId::new("rep-a")));
    drain(&store, Topic::Notifications).await;
    let sweep = sweeper(&store);

    // Nothing before the reminder at 7 min 30 s; the reminder once.
    assert_eq!(
        sweep.sweep(monday() + mins(7)).await.unwrap(),
        report(0, 0, 0, 0)
    );
    assert_eq!(
        sweep.sweep(monday() + mins(8)).await.unwrap(),
        report(1, 1, 0, 0)
    );
    assert_eq!(
        sweep.sweep(monday() + mins(9)).await.unwrap(),
        report(0, 0, 0, 0)
    );
    assert!(
        matches!(&notices(&store).await[..], [Notice::SlaReminder { rep, .. }] if rep.as_str() == "rep-a")
    );

    // Breach at 15 min: the manager hears, and routing is asked to reassign away from rep-a.
    assert_eq!(
        sweep.sweep(monday() + mins(15)).await.unwrap(),
        breached(1, report(1, 2, 0, 0))
    );
    assert!(matches!(
        &notices(&store).await[..],
        [Notice::SlaBreached { .. }]
    ));
    let requests = drain(&store, Topic::Mqls).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].0, "l1:1:rep_response:0:reassign");
    let at = monday() + mins(16);
    assert_eq!(
        router.handle_message(&requests[0].1, at).await.unwrap(),
        RouteOutcome::Assigned(RepId::new("rep-b"))
    );
    let (a, b) = (load(&store, "rep-a").await, load(&store, "rep-b").await);
    assert_eq!((a.open_leads, b.open_leads), (0, 1));

    // rep-b's clock started at 16 min; one reassignment was allowed, so its breach overflows.
    // This sweep comes at the due time itself, when a reminder would be pointless.
    assert_eq!(
        sweep.sweep(at + mins(15)).await.unwrap(),
        breached(1, report(1, 2, 0, 0)),
        "tell, overflow"
    );
    assert_eq!(lead(&store, "l1").await.owner, None);
    let entry = docs::load::<docs::OverflowEntry>(&store, docs::OVERFLOW, "emea_overflow:l1")
        .await
        .unwrap()
        .unwrap()
        .value;
    assert!(
        matches!(
            &entry.cause,
            Some(docs::OverflowCause::SlaEscalation { owner: Some(_), .. })
        ),
        "the entry says the sweep moved it, from whom: {:?}",
        entry.cause
    );
    assert!(
        store
            .due(docs::SLA_CLOCK, "9999", 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing left to do"
    );
    // Each clock's outcome stored once, under its due day: the routing clock stopped by the
    // first assignment (met), and both response clocks breached, for their own reps.
    let owned = |c: &str, rep: Option<&str>, met: bool| {
        (c.to_owned(), rep.map(str::to_owned), met, "emea".to_owned())
    };
    assert_eq!(
        outcomes(&store, "2025-06-16").await,
        vec![
            owned("l1:1:rep_response:0", Some("rep-a"), false),
            owned("l1:1:rep_response:1", Some("rep-b"), false),
            owned("l1:1:routing_latency:0", None, true),
        ]
    );
    assert_eq!(
        docs::outcomes(&store, docs::SLA_OUTCOME_RECORDED, "2025-06-16/")
            .await
            .unwrap()
            .len(),
        3,
        "each found again by the day it was stored"
    );
}

/// The outcomes stored for clocks due on `day`: (clock, rep, met, team), by clock id.
async fn outcomes(store: &EmbeddedStore, day: &str) -> Vec<(String, Option<String>, bool, String)> {
    docs::outcomes(store, docs::SLA_OUTCOME, &format!("{day}/"))
        .await
        .unwrap()
        .into_iter()
        .map(|o| {
            let rep = o.dims.rep.map(|r| r.as_str().to_owned());
            (o.clock, rep, o.met, o.dims.team.unwrap_or_default())
        })
        .collect()
}

async fn load(store: &EmbeddedStore, rep: &str) -> LoadCounter {
    docs::load::<LoadCounter>(store, docs::REP_LOAD, rep)
        .await
        .unwrap()
        .unwrap()
        .value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_sweeps_do_each_step_once() {
    let store = setup(always_open()).await;
    routed_lead(&store, "l1", monday()).await;
    drain(&store, Topic::Notifications).await;

    let at = monday() + mins(20);
    let (one, two) = (sweeper(&store), sweeper(&store));
    let (r1, r2) = tokio::join!(
        tokio::spawn(async move { one.sweep(at).await.unwrap() }),
        tokio::spawn(async move { two.sweep(at).await.unwrap() }),
    );
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    // The reminder's moment passed before the breach, so the ladder is: tell, reassign.
    assert_eq!(r1.steps + r2.steps, 2, "{r1:?} {r2:?}");
    assert_eq!(r1.failed + r2.failed, 0);
    assert_eq!(r1.breaches + r2.breaches, 1, "one breach, counted once");
    let breaches: Vec<bool> = outcomes(&store, "2025-06-16")
        .await
        .into_iter()
        .filter(|o| o.0.contains("rep_response"))
        .map(|o| o.2)
        .collect();
    assert_eq!(breaches, vec![false], "the breach stored once");

    assert!(matches!(
        &notices(&store).await[..],
        [Notice::SlaBreached { .. }]
    ));
    let mut ids: Vec<String> = drain(&store, Topic::Mqls)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.dedup();
    assert_eq!(ids, ["l1:1:rep_response:0:reassign"]);
}

/// The embedded store, with one chosen commit failing: either before it is applied (a crash
/// before the write) or after (a crash before the answer came back).
struct Faulty {
    inner: EmbeddedStore,
    step: &'static str,
    applied: bool,
    tripped: AtomicBool,
    /// Fail every matching commit, not only the first.
    always: bool,
}

#[async_trait]
impl JourneyStore for Faulty {
    async fn lead(&self, id: &LeadId) -> Result<Option<Lead>, StoreError> {
        self.inner.lead(id).await
    }
    async fn lead_by_email(&self, email: &Email) -> Result<Option<Lead>, StoreError> {
        self.inner.lead_by_email(email).await
    }
    async fn lead_by_phone(&self, phone: &Phone) -> Result<Option<Lead>, StoreError> {
        self.inner.lead_by_phone(phone).await
    }
    async fn transitions(&self, id: &LeadId) -> Result<Vec<Transition>, StoreError> {
        self.inner.transitions(id).await
    }
    async fn activities(&self, id: &LeadId) -> Result<Vec<Activity>, StoreError> {
        self.inner.activities(id).await
    }
    async fn transitions_recorded(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Transition>, StoreError> {
        self.inner
            .transitions_recorded(from, to, cursor, limit)
            .await
    }
    async fn transitions_effective(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Transition>, StoreError> {
        self.inner
            .transitions_effective(from, to, cursor, limit)
            .await
    }
    async fn leads(&self, cursor: Option<String>, limit: usize) -> Result<Page<Lead>, StoreError> {
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
    async fn counter(&self, key: &CounterKey) -> Result<i64, StoreError> {
        self.inner.counter(key).await
    }
    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        let targeted = commit.claims.iter().any(|c| match self.always {
            true => c.key.contains(self.step),
            false => c.key.ends_with(self.step),
        });
        if !targeted || (!self.always && self.tripped.swap(true, Ordering::SeqCst)) {
            return self.inner.commit(commit).await;
        }
        if self.applied {
            self.inner.commit(commit).await?;
        }
        Err(StoreError::Unavailable("simulated crash".into()))
    }
}

fn faulty_sweeper(store: &EmbeddedStore, step: &'static str, applied: bool) -> Sweeper {
    let s = Arc::new(store.clone());
    let journey = Arc::new(Faulty {
        inner: store.clone(),
        step,
        applied,
        tripped: AtomicBool::new(false),
        always: false,
    });
    Sweeper::new(journey, s.clone(), s)
}

#[tokio::test]
async fn a_crash_between_telling_the_manager_and_reassigning_is_finished_by_the_next_sweep() {
    let store = setup(always_open()).await;
    routed_lead(&store, "l1", monday()).await;
    drain(&store, Topic::Notifications).await;
    let sweep = faulty_sweeper(&store, ":reassign", false);

    let at = monday() + mins(20);
    assert_eq!(
        sweep.sweep(at).await.unwrap(),
        breached(1, report(1, 1, 0, 1)),
        "told, then crashed"
    );
    assert!(drain(&store, Topic::Mqls).await.is_empty());
    assert_eq!(
        sweep.sweep(at + mins(1)).await.unwrap(),
        report(1, 1, 0, 0),
        "reassigned"
    );

    assert_eq!(notices(&store).await.len(), 1, "the manager heard once");
    assert_eq!(drain(&store, Topic::Mqls).await.len(), 1);
}

#[tokio::test]
async fn a_step_whose_answer_was_lost_is_not_done_again() {
    let store = setup(always_open()).await;
    routed_lead(&store, "l1", monday()).await;
    drain(&store, Topic::Notifications).await;
    let sweep = faulty_sweeper(&store, ":notify_manager", true);

    let at = monday() + mins(20);
    assert_eq!(
        sweep.sweep(at).await.unwrap(),
        report(1, 0, 0, 1),
        "committed, but no answer"
    );
    assert_eq!(
        sweep.sweep(at + mins(1)).await.unwrap(),
        report(1, 1, 0, 0),
        "only the reassignment is left"
    );
    assert_eq!(notices(&store).await.len(), 1);
    assert_eq!(drain(&store, Topic::Mqls).await.len(), 1);
}

#[tokio::test]
async fn a_clock_stopped_by_the_owner_escalates_nothing_and_leaves_the_index() {
    let store = setup(always_open()).await;
    routed_lead(&store, "l1", monday()).await;
    drain(&store, Topic::Notifications).await;

    // The owner accepts at 5 min; the writer stops the clock but keeps the old index value.
    let key = "l1:1:rep_response:0";
    let doc = store.get(docs::SLA_CLOCK, key).await.unwrap().unwrap();
    let mut clock: SlaClock = serde_json::from_value(doc.body).unwrap();
    clock.stop(monday() + mins(5));
    let mut commit = Commit::default();
    commit
        .documents
        .push(docs::put(docs::SLA_CLOCK, key, &clock, doc.version, doc.index).unwrap());
    store.commit(commit).await.unwrap();

    assert_eq!(
        sweeper(&store).sweep(monday() + mins(30)).await.unwrap(),
        report(1, 0, 0, 0)
    );
    assert!(store
        .due(docs::SLA_CLOCK, "9999", 10)
        .await
        .unwrap()
        .is_empty());
    assert!(notices(&store).await.is_empty());
}

#[tokio::test]
async fn an_owner_acting_stops_the_clock_in_the_same_commit_and_nothing_escalates() {
    let store = setup(always_open()).await;
    routed_lead(&store, "l1", monday()).await;
    drain(&store, Topic::Notifications).await;

    let at = monday() + mins(3);
    let dims = lead(&store, "l1").await.dimensions();
    let l1 = (&LeadId::new("l1"), &dims);
    let writes = sla_timers::stop_writes(&store, l1, 1, ClockKind::RepResponse, at)
        .await
        .unwrap();
    assert_eq!(writes.len(), 3, "the clock and its outcome, stored twice");
    store
        .commit(Commit {
            documents: writes,
            ..Commit::default()
        })
        .await
        .unwrap();
    let again = sla_timers::stop_writes(&store, l1, 1, ClockKind::RepResponse, at)
        .await
        .unwrap();
    assert!(again.is_empty(), "a stopped clock is not stopped twice");
    let response: Vec<_> = outcomes(&store, "2025-06-16")
        .await
        .into_iter()
        .filter(|o| o.0.contains("rep_response"))
        .collect();
    assert_eq!(
        response,
        vec![(
            "l1:1:rep_response:0".to_owned(),
            Some("rep-a".to_owned()),
            true,
            "emea".to_owned()
        )],
        "met: stopped at 3 of 15 minutes"
    );

    assert!(store
        .due(docs::SLA_CLOCK, "9999", 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        sweeper(&store).sweep(monday() + mins(60)).await.unwrap(),
        report(0, 0, 0, 0)
    );
    let clock = docs::load::<SlaClock>(&store, docs::SLA_CLOCK, "l1:1:rep_response:0")
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(
        clock.status(monday() + mins(60)),
        lifecycle::sla::ClockStatus::Met
    );
}

#[tokio::test]
async fn a_lead_nobody_could_take_breaches_its_routing_latency_and_the_manager_hears() {
    let store = setup(always_open()).await;
    for rep in ["rep-a", "rep-b"] {
        let mut inactive = RepAvailability::active(rep);
        inactive.active = false;
        let mut commit = Commit::default();
        commit
            .documents
            .push(docs::put(docs::REP, rep, &inactive, 1, None).unwrap());
        store.commit(commit).await.unwrap();
    }
    let router = mql_lead(&store, "l1", monday()).await;
    let request = RouteRequest {
        lead: LeadId::new("l1"),
        cycle: 1,
        lead_kind: LeadKind::Behavioural,
        requested_at: monday(),
        reassignment: None,
    };
    assert_eq!(
        router.route(&request, monday()).await.unwrap(),
        RouteOutcome::Overflowed("emea_overflow".into())
    );
    drain(&store, Topic::Notifications).await;

    let sweep = sweeper(&store);
    assert_eq!(
        sweep.sweep(monday() + mins(4)).await.unwrap(),
        report(0, 0, 0, 0)
    );
    assert_eq!(
        sweep.sweep(monday() + mins(5)).await.unwrap(),
        breached(1, report(1, 1, 0, 0))
    );
    let sent = notices(&store).await;
    assert!(
        matches!(&sent[..], [Notice::SlaBreached { owner: None, clock, .. }] if clock == "l1:1:routing_latency:0")
    );
}

#[tokio::test]
async fn a_friday_night_lead_is_not_chased_over_the_weekend() {
    let day = OpenInterval::new(WallTime::hm(9, 0).unwrap(), WallTime::hm(17, 0).unwrap());
    let spec = CalendarSpec {
        time_zone: Zone::parse("Europe/Berlin").unwrap(),
        weekly: WeeklyHours::weekdays(&[day]),
        holidays: Default::default(),
    };
    let store = setup(BusinessCalendar::new(spec).unwrap()).await;
    // Fri 2025-06-13 23:59 CEST = 21:59Z; due Mon 09:15 CEST = 07:15Z, reminder 09:07:30.
    routed_lead(&store, "l1", t("2025-06-13T21:59:00Z")).await;
    drain(&store, Topic::Notifications).await;
    let sweep = sweeper(&store);

    assert_eq!(
        sweep.sweep(t("2025-06-15T12:00:00Z")).await.unwrap(),
        report(0, 0, 0, 0)
    );
    assert_eq!(
        sweep.sweep(t("2025-06-16T07:07:00Z")).await.unwrap(),
        report(0, 0, 0, 0)
    );
    assert_eq!(
        sweep.sweep(t("2025-06-16T07:08:00Z")).await.unwrap(),
        report(1, 1, 0, 0)
    );
    assert_eq!(
        sweep.sweep(t("2025-06-16T07:14:59Z")).await.unwrap(),
        report(0, 0, 0, 0)
    );
    assert_eq!(
        sweep.sweep(t("2025-06-16T07:15:00Z")).await.unwrap(),
        breached(1, report(1, 2, 0, 0))
    );
}

#[test]
fn the_breach_metric_is_one_line_of_embedded_metric_format() {
    let report = SweepReport {
        breaches: 3,
        ..SweepReport::default()
    };
    let line = report.breaches_metric("prod", t("2025-06-16T08:00:00Z"));
    assert!(!line.contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["SlaBreaches"], 3);
    assert_eq!(v["Stage"], "prod");
    assert_eq!(v["_aws"]["Timestamp"], 1_750_060_800_000i64);
    let metric = &v["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(metric["Namespace"], "LeadJourney");
    assert_eq!(metric["Dimensions"], serde_json::json!([["Stage"]]));
    assert_eq!(metric["Metrics"][0]["Name"], "SlaBreaches");
    assert_eq!(metric["Metrics"][1]["Name"], "SlaClocksParked");
    assert_eq!(v["SlaClocksParked"], 0);
}

/// The embedded store's documents, counting what the sweep asks for.
struct Counting {
    inner: EmbeddedStore,
    gets: std::sync::atomic::AtomicUsize,
    lists: std::sync::atomic::AtomicUsize,
    due_rows: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl DocumentStore for Counting {
    async fn get(
        &self,
        collection: &str,
        key: &str,
    ) -> Result<Option<ports::Document>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(collection, key).await
    }
    async fn list(
        &self,
        collection: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<ports::Document>, StoreError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(collection, prefix, cursor, limit).await
    }
    async fn due(
        &self,
        collection: &str,
        upper: &str,
        limit: usize,
    ) -> Result<Vec<ports::Document>, StoreError> {
        let found = self.inner.due(collection, upper, limit).await?;
        self.due_rows.fetch_add(found.len(), Ordering::SeqCst);
        Ok(found)
    }
}

#[tokio::test]
async fn the_sweep_reads_only_the_due_clocks_through_the_index_never_a_listing() {
    let store = setup(always_open()).await;
    // 200 leads routed at 08:00Z, one at 07:30Z: at 07:50Z only the early one's reminder (at
    // 07:37:30Z) and breach (07:45Z) are due; the others' first step is at 08:07:30Z.
    routed_lead(&store, "early", monday() - mins(30)).await;
    for i in 0..200 {
        routed_lead(&store, &format!("l{i:03}"), monday()).await;
    }
    drain(&store, Topic::Notifications).await;
    let counting = Arc::new(Counting {
        inner: store.clone(),
        gets: Default::default(),
        lists: Default::default(),
        due_rows: Default::default(),
    });
    let s = Arc::new(store.clone());
    let sweep = Sweeper::new(s.clone(), counting.clone(), s);

    let done = sweep.sweep(monday() - mins(10)).await.unwrap();
    assert_eq!(done, breached(1, report(1, 2, 0, 0)), "tell, reassign");
    assert_eq!(counting.lists.load(Ordering::SeqCst), 0, "no listing");
    assert_eq!(
        counting.due_rows.load(Ordering::SeqCst),
        1,
        "one due clock read"
    );
    // The clock as the index gave it, then as each step wrote it: never read again.
    assert_eq!(counting.gets.load(Ordering::SeqCst), 0);
}

/// Replaces the stored SLA policies (stored at version 1 by [`setup`]).
async fn replace_policies(store: &EmbeddedStore, policies: &SlaPolicies) {
    let mut commit = Commit::default();
    commit
        .documents
        .push(docs::put(docs::CONFIG, docs::SLA_POLICIES, policies, 1, None).unwrap());
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
}

#[tokio::test]
async fn a_remind_only_policy_reminds_and_records_the_breach_at_its_due_time() {
    let store = setup(always_open()).await;
    let mut remind_only = policies();
    remind_only.policies[0].escalation = Escalation {
        remind_at_percent: Some(50),
        reassign: false,
        max_reassignments: 0,
        notify_manager: false,
    };
    remind_only.validate().unwrap();
    replace_policies(&store, &remind_only).await;
    routed_lead(&store, "l1", monday()).await;
    drain(&store, Topic::Notifications).await;
    let sweep = sweeper(&store);

    assert_eq!(
        sweep.sweep(monday() + mins(8)).await.unwrap(),
        report(1, 1, 0, 0),
        "the reminder at 7 min 30 s"
    );
    assert!(matches!(
        &notices(&store).await[..],
        [Notice::SlaReminder { .. }]
    ));
    assert_eq!(
        sweep.sweep(monday() + mins(14)).await.unwrap(),
        report(0, 0, 0, 0)
    );
    // Due at 15 min: nobody to tell and nothing to take away, but the breach is recorded then,
    // not whenever the owner gets round to the lead.
    assert_eq!(
        sweep.sweep(monday() + mins(15)).await.unwrap(),
        breached(1, report(1, 1, 0, 0))
    );
    assert!(notices(&store).await.is_empty());
    assert_eq!(lead(&store, "l1").await.owner, Some(RepId::new("rep-a")));
    let response: Vec<_> = outcomes(&store, "2025-06-16")
        .await
        .into_iter()
        .filter(|o| o.0.contains("rep_response"))
        .collect();
    assert_eq!(
        response,
        vec![(
            "l1:1:rep_response:0".to_owned(),
            Some("rep-a".to_owned()),
            false,
            "emea".to_owned()
        )]
    );
    assert!(
        store
            .due(docs::SLA_CLOCK, "9999", 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing left to do"
    );
}

/// Stores `n` documents in `sla_clock` that are not clocks, due at `index`.
async fn broken_clocks(store: &EmbeddedStore, n: usize, index: &str) {
    for i in 0..n {
        let doc = ports::Document {
            collection: docs::SLA_CLOCK.into(),
            key: format!("broken-{i:03}:1:rep_response:0"),
            version: 1,
            index: Some(index.into()),
            body: serde_json::json!({ "id": format!("broken-{i:03}"), "due_at": "soon" }),
            expires_at: None,
        };
        let commit = Commit {
            documents: vec![ports::DocumentWrite::Put {
                doc,
                expect: Expect::Absent,
            }],
            ..Commit::default()
        };
        store.commit(commit).await.unwrap();
    }
}

#[tokio::test]
async fn undecodable_clocks_at_the_head_of_the_index_are_parked_and_hide_no_breach() {
    let store = setup(always_open()).await;
    routed_lead(&store, "real", monday()).await;
    drain(&store, Topic::Notifications).await;
    // 200 clocks no sweep can read, due before the real one: a whole round of the due index.
    broken_clocks(&store, 200, "2025-06-16T00:00:00.000Z").await;
    let sweep = sweeper(&store);

    let first = sweep.sweep(monday() + mins(15)).await.unwrap();
    assert_eq!(
        first,
        SweepReport {
            parked: 200,
            ..breached(1, report(201, 2, 0, 0))
        },
        "the real breach handled in the same sweep"
    );
    assert!(matches!(
        &notices(&store).await[..],
        [Notice::SlaBreached { clock, .. }] if clock == "real:1:rep_response:0"
    ));
    assert_eq!(drain(&store, Topic::Mqls).await.len(), 1, "reassigned");
    assert_eq!(
        sweep.sweep(monday() + mins(16)).await.unwrap(),
        report(0, 0, 0, 0),
        "parked clocks are out of the index"
    );

    // An operator finds them, with the reason and without the documents' values.
    let parked = store
        .due(sla_timers::SLA_PARKED, "9999", 1000)
        .await
        .unwrap();
    assert_eq!(parked.len(), 200);
    let record: sla_timers::ParkedClock = serde_json::from_value(parked[0].body.clone()).unwrap();
    assert_eq!(record.clock, "broken-000:1:rep_response:0");
    assert_eq!(record.index.as_deref(), Some("2025-06-16T00:00:00.000Z"));
    assert_eq!(record.parked_at, monday() + mins(15));
    assert!(
        record
            .reason
            .starts_with("the clock document does not decode"),
        "{}",
        record.reason
    );
    assert!(!record.reason.contains("soon"), "{}", record.reason);
}

#[tokio::test]
async fn a_repaired_clock_is_unparked_back_into_the_due_index() {
    let store = setup(always_open()).await;
    routed_lead(&store, "l1", monday()).await;
    drain(&store, Topic::Notifications).await;
    let key = "l1:1:rep_response:0";
    let good = store.get(docs::SLA_CLOCK, key).await.unwrap().unwrap();
    // A writer breaks the clock; the sweep parks it.
    let broken = ports::Document {
        version: good.version + 1,
        body: serde_json::json!({ "id": key }),
        ..good.clone()
    };
    let write = |doc: ports::Document, expect| Commit {
        documents: vec![ports::DocumentWrite::Put { doc, expect }],
        ..Commit::default()
    };
    store
        .commit(write(broken, Expect::Version(good.version)))
        .await
        .unwrap();
    let sweep = sweeper(&store);
    let parked = sweep.sweep(monday() + mins(8)).await.unwrap();
    assert_eq!(parked.parked, 1);
    assert!(matches!(
        sweep.unpark(key).await,
        Err(sla_timers::SweepError::BadClock { .. })
    ));

    // Repaired, it goes back to the index at its next wake-up, and the sweep takes it from there.
    let stored = store.get(docs::SLA_CLOCK, key).await.unwrap().unwrap();
    let repaired = ports::Document {
        version: stored.version + 1,
        body: good.body,
        ..stored.clone()
    };
    store
        .commit(write(repaired, Expect::Version(stored.version)))
        .await
        .unwrap();
    assert_eq!(
        sweep.unpark(key).await.unwrap(),
        sla_timers::Unparked::Restored(Some("2025-06-16T08:07:30.000Z".into()))
    );
    assert!(store
        .get(sla_timers::SLA_PARKED, key)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        sweep.sweep(monday() + mins(9)).await.unwrap(),
        report(1, 1, 0, 0),
        "the reminder"
    );
}

#[tokio::test]
async fn clocks_that_keep_failing_do_not_hide_the_ones_due_behind_them() {
    let store = setup(always_open()).await;
    // 250 clocks whose every step fails (the store refuses them), due before the real one.
    for i in 0..250 {
        routed_lead(&store, &format!("stuck-{i:03}"), monday() - mins(1)).await;
    }
    routed_lead(&store, "real", monday()).await;
    drain(&store, Topic::Notifications).await;
    let s = Arc::new(store.clone());
    let journey = Arc::new(Faulty {
        inner: store.clone(),
        step: "stuck-",
        applied: false,
        tripped: AtomicBool::new(false),
        always: true,
    });
    let sweep = Sweeper::new(journey, s.clone(), s);

    let done = sweep.sweep(monday() + mins(15)).await.unwrap();
    assert_eq!(done.failed, 250, "{done:?}");
    assert_eq!((done.clocks, done.steps, done.breaches), (251, 2, 1));
    assert!(matches!(
        &notices(&store).await[..],
        [Notice::SlaBreached { clock, .. }] if clock == "real:1:rep_response:0"
    ));
}

#[tokio::test]
async fn a_sweep_stops_at_its_clock_limit_and_the_next_one_carries_on() {
    let store = setup(always_open()).await;
    for i in 0..7 {
        routed_lead(&store, &format!("l{i}"), monday()).await;
    }
    drain(&store, Topic::Notifications).await;
    let limits = sla_timers::SweepLimits {
        max_clocks: 3,
        concurrency: 2,
        ..Default::default()
    };
    let sweep = sweeper(&store).with_limits(limits);

    let at = monday() + mins(15);
    let mut looked = Vec::new();
    for minute in 0..4 {
        looked.push(sweep.sweep(at + mins(minute)).await.unwrap().clocks);
    }
    assert_eq!(looked, [3, 3, 1, 0]);
    // Each lead's manager heard once, and each lead was reassigned once.
    let breached: std::collections::BTreeSet<String> = notices(&store)
        .await
        .into_iter()
        .map(|n| match n {
            Notice::SlaBreached { clock, .. } => clock,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(breached.len(), 7);
    assert_eq!(drain(&store, Topic::Mqls).await.len(), 7);
}

#[tokio::test]
async fn a_clock_that_does_not_decode_does_not_stop_the_owner_acting() {
    let store = setup(always_open()).await;
    routed_lead(&store, "l1", monday()).await;
    // A second response clock of the lead's cycle, broken.
    let broken = ports::Document {
        collection: docs::SLA_CLOCK.into(),
        key: "l1:1:rep_response:9".into(),
        version: 1,
        index: None,
        body: serde_json::json!({ "id": "l1:1:rep_response:9" }),
        expires_at: None,
    };
    let commit = Commit {
        documents: vec![ports::DocumentWrite::Put {
            doc: broken,
            expect: Expect::Absent,
        }],
        ..Commit::default()
    };
    store.commit(commit).await.unwrap();

    let dims = lead(&store, "l1").await.dimensions();
    let l1 = (&LeadId::new("l1"), &dims);
    let at = monday() + mins(3);
    let writes = sla_timers::stop_writes(&store, l1, 1, ClockKind::RepResponse, at)
        .await
        .unwrap();
    let targets: Vec<String> = writes.iter().map(|w| w.target().1.to_owned()).collect();
    assert_eq!(targets.len(), 3, "{targets:?}");
    assert_eq!(targets[0], "l1:1:rep_response:0", "the good clock stopped");
}
