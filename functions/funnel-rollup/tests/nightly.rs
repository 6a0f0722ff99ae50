//! The nightly run on the embedded store: reproducible bytes, restatements recorded, equal to a
//! rebuild from every transition, and reading only the leads that changed.

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use embedded::EmbeddedStore;
use funnel_rollup::{
    canonical, nightly, run,
    snapshot::{self, Snapshot},
    Restatement, RestatementKind,
};
use lifecycle::{
    funnel::{ClockKind as Reported, ClockOutcome, CounterKey, Dimension, SlaCompliance},
    sla::{
        BusinessCalendar, ClockKind, ClockStart, Escalation, LeadKind, SlaClock, SlaPolicy, Zone,
    },
    transition::{Actor, Dimensions},
    Activity, CauseId, Email, JourneyState, Lead, LeadId, Phone, Reason, RepId, Stage, StageEvent,
    StageOutcome, Timestamp, Transition,
};
use ports::{Commit, CommitOutcome, DocumentStore, JourneyStore, Page, StoreError};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

fn day(d: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2025, 3, d, 10, 0, 0).unwrap()
}

/// One lead's transitions from (stage, effective day, recorded day) steps, through the stage
/// machine so they are what the product would store.
fn history(lead: &str, source: &str, steps: &[(Stage, u32, u32)]) -> Vec<Transition> {
    let mut state = JourneyState::default();
    let mut out = Vec::new();
    for (i, (stage, effective, recorded)) in steps.iter().enumerate() {
        let event = StageEvent {
            to: *stage,
            cause: CauseId::new(format!("{lead}-{i}")),
            actor: Actor::Import {
                batch: "test".into(),
            },
            reason: stage.closes_cycle().then(|| Reason::code("no_budget")),
            effective_at: day(*effective),
            recorded_at: day(*recorded),
            dims: Dimensions {
                source: Some(source.into()),
                ..Dimensions::default()
            },
        };
        if let Ok(StageOutcome::Applied(t)) = state.apply(&LeadId::new(lead), &event) {
            out.push(t);
        }
    }
    out
}

async fn append(store: &dyn JourneyStore, transitions: Vec<Transition>) {
    let commit = Commit {
        transitions,
        ..Commit::default()
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
}

/// Every stored document of a collection, by key.
async fn stored(docs: &dyn DocumentStore, collection: &str) -> BTreeMap<String, ports::Document> {
    let mut out = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = docs.list(collection, "", cursor, 1000).await.unwrap();
        out.extend(page.items.into_iter().map(|d| (d.key.clone(), d)));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

/// The canonical bytes of each stored snapshot (its stored hash checked on the way).
async fn stored_bytes(docs: &dyn DocumentStore) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, doc) in stored(docs, snapshot::COLLECTION).await {
        let snapshot: Snapshot = serde_json::from_value(doc.body.clone()).unwrap();
        assert_eq!(doc.body["hash"], snapshot.hash().as_str(), "{key}");
        out.insert(key, snapshot.canonical());
    }
    out
}

fn rebuilt_bytes(all: &[Transition], upto: Timestamp) -> BTreeMap<String, String> {
    rebuilt_with_clocks(all, &[], upto)
}

fn rebuilt_with_clocks(
    all: &[Transition],
    clocks: &[ClockOutcome],
    upto: Timestamp,
) -> BTreeMap<String, String> {
    snapshot::rebuild(all, clocks, upto)
        .into_iter()
        .map(|s| (s.key(), s.canonical()))
        .collect()
}

/// a: MQL day 2, SAL day 4; b: MQL day 2, disqualified day 3; c: New day 5.
fn first_batch() -> Vec<Transition> {
    let mut all = history(
        "a",
        "google",
        &[(Stage::New, 1, 1), (Stage::Mql, 2, 2), (Stage::Sal, 4, 4)],
    );
    all.extend(history(
        "b",
        "linkedin",
        &[
            (Stage::New, 2, 2),
            (Stage::Mql, 2, 2),
            (Stage::Disqualified, 3, 3),
        ],
    ));
    all.extend(history("c", "google", &[(Stage::New, 5, 5)]));
    all
}

#[tokio::test]
async fn a_rerun_writes_nothing_and_gives_identical_bytes() {
    let store = EmbeddedStore::in_memory().unwrap();
    let all = first_batch();
    append(&store, all.clone()).await;

    let first = run(&store, &store, day(10)).await.unwrap();
    let bytes = stored_bytes(&store).await;
    let versions: Vec<u64> = stored(&store, snapshot::COLLECTION)
        .await
        .values()
        .map(|d| d.version)
        .collect();
    let again = run(&store, &store, day(11)).await.unwrap();

    // Days 1..5 each have transitions; seven groupings each.
    assert_eq!((first.changed, first.days, first.written), (7, 5, 35));
    assert_eq!((again.changed, again.written, again.restated), (0, 0, 0));
    assert_eq!(stored_bytes(&store).await, bytes);
    let after: Vec<u64> = stored(&store, snapshot::COLLECTION)
        .await
        .values()
        .map(|d| d.version)
        .collect();
    assert_eq!(after, versions, "nothing rewritten");
    assert_eq!(bytes, rebuilt_bytes(&all, day(10)));
    let day2 = &bytes["all/2025-03-02"];
    assert!(day2.contains(r#""definition_version":4"#), "{day2}");
    assert!(
        day2.contains(r#""watermark":"2025-03-04T10:00:00Z""#),
        "a's SAL is in day 2's input: {day2}"
    );
}

/// A rep-response clock of `lead` for `rep` in `team`, started at `start` (due 15 minutes
/// later, always open), stopped `after` minutes later: its outcome stored the way the API's
/// stop stores it, and returned as stored.
async fn clock(
    store: &EmbeddedStore,
    (lead, reassignments): (&str, u32),
    (rep, team): (&str, &str),
    start: Timestamp,
    after: i64,
) -> ClockOutcome {
    let policy = SlaPolicy {
        id: "accept".into(),
        clock: ClockKind::RepResponse,
        stage: Stage::Mql,
        lead_kind: None,
        target_minutes: 15,
        escalation: Escalation::default(),
    };
    let calendar = BusinessCalendar::always_open(Zone::parse("UTC").unwrap());
    let begun = SlaClock::start(
        &policy,
        &calendar,
        ClockStart {
            lead: LeadId::new(lead),
            cycle: 1,
            lead_kind: LeadKind::Behavioural,
            owner: Some(RepId::new(rep)),
            reassignments,
            at: start,
            pool: Some(team.into()),
        },
    );
    let mut stopped = begun.clone();
    let at = start + chrono::Duration::minutes(after);
    stopped.stop(at);
    let writes =
        routing::docs::outcome_writes(Some(&begun), &stopped, &Dimensions::default(), at).unwrap();
    assert_eq!(writes.len(), 2);
    let ports::DocumentWrite::Put { doc, .. } = &writes[0] else {
        panic!("a put");
    };
    let outcome = serde_json::from_value(doc.body.clone()).unwrap();
    let commit = Commit {
        documents: writes,
        ..Commit::default()
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
    outcome
}

/// Day 2: rep-a (emea) ran three clocks, met two (5 and 10 minutes) and broke one (20 of 15);
/// rep-b (emea) met one. Day 6, a day without transitions: rep-c (amer) broke one.
async fn clocks_of_the_first_batch(store: &EmbeddedStore) -> Vec<ClockOutcome> {
    vec![
        clock(store, ("a", 0), ("rep-a", "emea"), day(2), 5).await,
        clock(store, ("b", 0), ("rep-a", "emea"), day(2), 10).await,
        clock(store, ("c", 0), ("rep-a", "emea"), day(2), 20).await,
        clock(store, ("a", 1), ("rep-b", "emea"), day(2), 1).await,
        clock(store, ("c", 1), ("rep-c", "amer"), day(6), 30).await,
    ]
}

/// The response-clock compliance of `group` in the stored snapshot `key`.
fn response_sla(bytes: &BTreeMap<String, String>, key: &str, group: &str) -> (u64, u64, String) {
    let snapshot: Snapshot = serde_json::from_str(&bytes[key]).unwrap();
    let row = if group == "all" {
        snapshot.report.total
    } else {
        let found = snapshot
            .report
            .groups
            .into_iter()
            .find(|g| g.group == group);
        found.unwrap_or_else(|| panic!("{key} has no group {group}"))
    };
    let SlaCompliance { due, met, rate } = row.sla[&Reported::Response].clone();
    (due, met, format!("{:.1}", rate.unwrap() * 100.0))
}

#[tokio::test]
async fn snapshots_carry_sla_compliance_per_rep_and_team_and_equal_a_rebuild() {
    let store = EmbeddedStore::in_memory().unwrap();
    let all = first_batch();
    append(&store, all.clone()).await;
    let clocks = clocks_of_the_first_batch(&store).await;

    let first = run(&store, &store, day(10)).await.unwrap();
    let bytes = stored_bytes(&store).await;
    let again = run(&store, &store, day(11)).await.unwrap();

    assert_eq!(
        (first.days, first.written),
        (6, 6 * 7),
        "day 6 has only a clock"
    );
    assert_eq!((again.written, again.restated), (0, 0));
    assert_eq!(stored_bytes(&store).await, bytes);
    assert_eq!(bytes, rebuilt_with_clocks(&all, &clocks, day(10)));
    assert_eq!(
        response_sla(&bytes, "rep/2025-03-02", "rep-a"),
        (3, 2, "66.7".into())
    );
    assert_eq!(
        response_sla(&bytes, "rep/2025-03-02", "rep-b"),
        (1, 1, "100.0".into())
    );
    assert_eq!(
        response_sla(&bytes, "team/2025-03-02", "emea"),
        (4, 3, "75.0".into())
    );
    assert_eq!(
        response_sla(&bytes, "all/2025-03-02", "all"),
        (4, 3, "75.0".into())
    );
    assert_eq!(
        response_sla(&bytes, "team/2025-03-06", "amer"),
        (1, 0, "0.0".into())
    );
    let day6: Snapshot = serde_json::from_str(&bytes["all/2025-03-06"]).unwrap();
    assert_eq!(day6.watermark, day(6) + chrono::Duration::minutes(30));
    assert!(day6.report.total.entered.is_empty());
}

#[tokio::test]
async fn a_late_clock_outcome_restates_its_due_day_and_equals_a_rebuild() {
    let store = EmbeddedStore::in_memory().unwrap();
    let all = first_batch();
    append(&store, all.clone()).await;
    let mut clocks = clocks_of_the_first_batch(&store).await;
    run(&store, &store, day(10)).await.unwrap();

    // A clock due on day 3 at 10:15 was stopped only on day 12: breached, learnt late.
    let late = clock(&store, ("b", 1), ("rep-c", "amer"), day(3), 9 * 24 * 60).await;
    clocks.push(late);
    let summary = run(&store, &store, day(13)).await.unwrap();

    assert_eq!((summary.changed, summary.days), (0, 1));
    assert_eq!(summary.restated, 7, "day 3 in all seven groupings");
    let team: Vec<Restatement> = stored(&store, nightly::RESTATEMENTS)
        .await
        .values()
        .map(|d| serde_json::from_value(d.body.clone()).unwrap())
        .filter(|r: &Restatement| r.dimension == Dimension::Team)
        .collect();
    assert_eq!(team.len(), 1);
    assert_eq!(
        (team[0].day.to_string().as_str(), team[0].kind),
        ("2025-03-03", RestatementKind::Late)
    );
    assert!(team[0].entered_delta.is_empty(), "no stage entries changed");
    let bytes = stored_bytes(&store).await;
    assert_eq!(
        response_sla(&bytes, "team/2025-03-03", "amer"),
        (1, 0, "0.0".into())
    );
    assert_eq!(bytes, rebuilt_with_clocks(&all, &clocks, day(13)));
}

#[tokio::test]
async fn a_late_transition_restates_its_day_and_equals_a_rebuild() {
    let store = EmbeddedStore::in_memory().unwrap();
    let mut all = first_batch();
    append(&store, all.clone()).await;
    run(&store, &store, day(10)).await.unwrap();

    // d became an MQL on day 3, but the system learns of it on day 12.
    let late = history("d", "google", &[(Stage::New, 3, 12), (Stage::Mql, 3, 12)]);
    all.extend(late.clone());
    append(&store, late).await;
    let summary = run(&store, &store, day(13)).await.unwrap();

    assert_eq!((summary.changed, summary.days), (2, 1));
    assert_eq!(summary.restated, 7, "day 3 in all seven groupings");
    let records = stored(&store, nightly::RESTATEMENTS).await;
    let all_day3: Vec<Restatement> = records
        .values()
        .map(|d| serde_json::from_value(d.body.clone()).unwrap())
        .filter(|r: &Restatement| r.dimension == Dimension::All)
        .collect();
    assert_eq!(all_day3.len(), 1);
    let r = &all_day3[0];
    assert_eq!(
        (r.day.to_string().as_str(), r.kind),
        ("2025-03-03", RestatementKind::Late)
    );
    assert_eq!(
        r.entered_delta,
        BTreeMap::from([(Stage::New, 1), (Stage::Mql, 1)])
    );
    assert_ne!(r.old_hash, r.new_hash);
    assert_eq!((r.old_watermark, r.new_watermark), (day(3), day(12)));
    assert_eq!(stored_bytes(&store).await, rebuilt_bytes(&all, day(13)));
}

#[tokio::test]
async fn a_cohort_that_moves_on_restates_its_day_as_matured() {
    let store = EmbeddedStore::in_memory().unwrap();
    let mut all = first_batch();
    append(&store, all.clone()).await;
    run(&store, &store, day(10)).await.unwrap();

    // a, an MQL of day 2, becomes an SQL on day 11.
    let mut sql = history(
        "a",
        "google",
        &[
            (Stage::New, 1, 1),
            (Stage::Mql, 2, 2),
            (Stage::Sal, 4, 4),
            (Stage::Sql, 11, 11),
        ],
    );
    let sql = sql.split_off(3);
    all.extend(sql.clone());
    append(&store, sql).await;
    let summary = run(&store, &store, day(12)).await.unwrap();

    // a was active on days 1, 2, 4 and 11: three stored days change, day 11 is new.
    assert_eq!((summary.days, summary.written), (4, 4 * 7));
    let kinds: Vec<RestatementKind> = stored(&store, nightly::RESTATEMENTS)
        .await
        .values()
        .map(|d| serde_json::from_value::<Restatement>(d.body.clone()).unwrap())
        .filter(|r| r.dimension == Dimension::All)
        .map(|r| r.kind)
        .collect();
    assert_eq!(kinds, vec![RestatementKind::Matured; 3]);
    assert_eq!(stored_bytes(&store).await, rebuilt_bytes(&all, day(12)));
}

#[tokio::test]
async fn the_run_loads_only_the_leads_that_changed_and_their_days() {
    let store = CountingStore::new(EmbeddedStore::in_memory().unwrap());
    append(&store, first_batch()).await;
    run(&store, &store, day(10)).await.unwrap();
    store.loaded.lock().unwrap().clear();

    append(
        &store,
        history("e", "google", &[(Stage::New, 20, 20), (Stage::Mql, 21, 21)]),
    )
    .await;
    run(&store, &store, day(22)).await.unwrap();

    let loaded = store.loaded.lock().unwrap().clone();
    assert_eq!(loaded, vec!["e".to_owned()], "a, b and c were not read");
}

#[tokio::test]
async fn a_run_cannot_go_backwards() {
    let store = EmbeddedStore::in_memory().unwrap();
    run(&store, &store, day(10)).await.unwrap();

    let err = run(&store, &store, day(9)).await.unwrap_err();

    assert!(matches!(err, funnel_rollup::RollupError::Backwards));
    assert!(!err.is_retryable());
}

#[test]
fn stored_bytes_are_canonical_json() {
    let value = serde_json::json!({"b": 1, "a": 0.25});
    assert_eq!(canonical::to_string(&value), r#"{"a":0.25,"b":1}"#);
}

/// The embedded store, noting which leads' histories are read.
struct CountingStore {
    inner: EmbeddedStore,
    loaded: Arc<Mutex<Vec<String>>>,
}

impl CountingStore {
    fn new(inner: EmbeddedStore) -> Self {
        Self {
            inner,
            loaded: Arc::default(),
        }
    }
}

#[async_trait]
impl JourneyStore for CountingStore {
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
        self.loaded.lock().unwrap().push(id.as_str().to_owned());
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
        self.inner.commit(commit).await
    }
}

#[async_trait]
impl DocumentStore for CountingStore {
    async fn get(
        &self,
        collection: &str,
        key: &str,
    ) -> Result<Option<ports::Document>, StoreError> {
        self.inner.get(collection, key).await
    }
    async fn list(
        &self,
        collection: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<ports::Document>, StoreError> {
        self.inner.list(collection, prefix, cursor, limit).await
    }
    async fn due(
        &self,
        collection: &str,
        upper: &str,
        limit: usize,
    ) -> Result<Vec<ports::Document>, StoreError> {
        self.inner.due(collection, upper, limit).await
    }
}

#[tokio::test]
async fn a_scheduled_event_runs_up_to_now_less_the_settling_time() {
    let store = EmbeddedStore::in_memory().unwrap();
    append(&store, first_batch()).await;
    let scheduled = serde_json::json!({
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": "2025-03-05T10:03:00Z",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/nightly"],
        "detail": {}
    });

    // a's SAL was recorded at day 4 10:00; two minutes later it has not settled yet.
    let now = day(4) + chrono::Duration::minutes(2);
    let early = funnel_rollup::handle(&store, &store, scheduled.clone(), now)
        .await
        .unwrap();
    let later = funnel_rollup::handle(&store, &store, scheduled, day(6))
        .await
        .unwrap();

    assert_eq!(early.upto, Some(now - funnel_rollup::SETTLE));
    assert_eq!(early.changed, 5, "everything recorded before day 4 10:00");
    assert_eq!((later.from, later.changed), (early.upto, 2));
}

#[tokio::test]
async fn an_on_demand_call_may_name_upto_but_not_the_future() {
    let store = EmbeddedStore::in_memory().unwrap();
    append(&store, first_batch()).await;

    let named = funnel_rollup::handle(
        &store,
        &store,
        serde_json::json!({"upto": "2025-03-03T00:00:00Z"}),
        day(20),
    )
    .await
    .unwrap();
    let future = funnel_rollup::handle(
        &store,
        &store,
        serde_json::json!({"upto": "2030-01-01T00:00:00Z"}),
        day(20),
    )
    .await
    .unwrap();

    assert_eq!(
        named.changed, 4,
        "a New, a MQL, b New, b MQL: recorded by day 2"
    );
    assert_eq!(future.upto, Some(day(20)));
}

/// One transition of a lead entering `New`, effective and recorded at `at`.
fn entering(lead: &str, at: Timestamp, recorded: Timestamp) -> Transition {
    let event = StageEvent {
        to: Stage::New,
        cause: CauseId::new(format!("{lead}-new")),
        actor: Actor::Import {
            batch: "test".into(),
        },
        reason: None,
        effective_at: at,
        recorded_at: recorded,
        dims: Dimensions::default(),
    };
    match JourneyState::default().apply(&LeadId::new(lead), &event) {
        Ok(StageOutcome::Applied(t)) => t,
        other => panic!("{other:?}"),
    }
}

fn restatements(records: &BTreeMap<String, ports::Document>) -> Vec<Restatement> {
    records
        .values()
        .map(|d| serde_json::from_value(d.body.clone()).unwrap())
        .collect()
}

/// Regression: the 02:15 run snapshotted the still-open day (its first two hours), and the
/// next night that day's on-time transitions restated it as `late`: every active day got a
/// late restatement. Only closed days are snapshotted; a late one is still recorded as late.
#[tokio::test]
async fn the_open_day_waits_for_its_close_and_on_time_transitions_restate_nothing() {
    let store = EmbeddedStore::in_memory().unwrap();
    let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2025, 3, d, h, 0, 0).unwrap();
    let nightly = |d: u32| Utc.with_ymd_and_hms(2025, 3, d, 2, 10, 0).unwrap();
    append(&store, vec![entering("early", at(5, 1), at(5, 1))]).await;

    let first = run(&store, &store, nightly(5)).await.unwrap();
    append(&store, vec![entering("on-time", at(5, 23), at(5, 23))]).await;
    let second = run(&store, &store, nightly(6)).await.unwrap();

    assert_eq!((first.days, first.written, first.pending), (0, 0, 1));
    assert_eq!((second.days, second.restated, second.pending), (1, 0, 0));
    let day5: Snapshot = serde_json::from_value(
        store
            .get(
                snapshot::COLLECTION,
                &snapshot::key(at(5, 0).date_naive(), Dimension::All),
            )
            .await
            .unwrap()
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(day5.report.total.entered[&Stage::New], 2);
    assert!(stored(&store, nightly::RESTATEMENTS).await.is_empty());

    // Recorded on day 8 for day 5: late, and said so.
    append(&store, vec![entering("late", at(5, 12), at(8, 9))]).await;
    let third = run(&store, &store, nightly(9)).await.unwrap();

    assert_eq!(third.restated, Dimension::ALL.len());
    let kinds: Vec<RestatementKind> = restatements(&stored(&store, nightly::RESTATEMENTS).await)
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert!(
        kinds.iter().all(|k| *k == RestatementKind::Late),
        "{kinds:?}"
    );
}

/// Snapshots made with other definitions are not served, and the next run remakes every day,
/// recording each changed day as `redefined`.
#[tokio::test]
async fn new_definitions_remake_every_day_and_say_so() {
    let store = EmbeddedStore::in_memory().unwrap();
    append(&store, first_batch()).await;
    run(&store, &store, day(10)).await.unwrap();
    // As an older version would have left them: state and one day's snapshot.
    let state = store
        .get(nightly::STATE_COLLECTION, nightly::STATE_KEY)
        .await
        .unwrap()
        .unwrap();
    let key = snapshot::key(day(2).date_naive(), Dimension::Source);
    let old = store
        .get(snapshot::COLLECTION, &key)
        .await
        .unwrap()
        .unwrap();
    let mut old_body = old.body.clone();
    old_body["definition_version"] = 3.into();
    let mut state_body = state.body.clone();
    state_body["definition_version"] = 3.into();
    let rewrite = |doc: ports::Document, body: serde_json::Value| ports::DocumentWrite::Put {
        expect: ports::Expect::Version(doc.version),
        doc: ports::Document {
            version: doc.version + 1,
            body,
            ..doc
        },
    };
    let commit = Commit {
        documents: vec![rewrite(state, state_body), rewrite(old, old_body)],
        ..Commit::default()
    };
    assert_eq!(
        store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
    assert_eq!(
        nightly::watermark(&store).await.unwrap(),
        None,
        "not served"
    );

    let again = run(&store, &store, day(11)).await.unwrap();

    assert_eq!((again.days, again.written, again.restated), (5, 1, 1));
    let records = restatements(&stored(&store, nightly::RESTATEMENTS).await);
    assert_eq!(
        (records[0].dimension, records[0].kind),
        (Dimension::Source, RestatementKind::Redefined)
    );
    assert_eq!(nightly::watermark(&store).await.unwrap(), Some(day(11)));
}
