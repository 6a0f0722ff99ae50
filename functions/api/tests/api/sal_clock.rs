//! The SAL follow-up clock: started by the accept, in its commit, in the calendar of the lead's
//! pool; stopped (and its outcome stored) by the owner's next action; escalated by the sweep
//! without taking the lead away; reported as its own clock.
//!
//! Every expected instant is worked out by hand in the comments. The pool `emea` works
//! 09:00-17:00 on weekdays in Europe/Berlin (CET, UTC+1, all of January 2030); the `default`
//! calendar is open round the clock in UTC, so a clock counted in the wrong one shows.

use crate::harness::{Api, Who};
use lifecycle::{
    sla::{
        BusinessCalendar, CalendarSpec, ClockKind, ClockStart, Escalation, LeadKind, OpenInterval,
        SlaClock, SlaPolicy, WallTime, WeeklyHours, Zone,
    },
    LeadId, RepId, Stage, Timestamp,
};
use ports::{DocumentStore, QueueConsumer, Topic};
use serde_json::{json, Value};

const FOLLOW_UP: &str = "L1:1:sal_follow_up:0";

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

async fn put(api: &Api, path: &str, body: Value) -> crate::harness::Reply {
    api.call("PUT", path, Who::Admin)
        .if_match(0)
        .body(body)
        .send(api)
        .await
}

/// A hand raiser's SAL is followed up within five business days (2,400 minutes), with a
/// reminder at 80 %; any other SAL within an hour.
fn policies() -> Value {
    json!({ "policies": [
        { "id": "hand_raiser_follow_up", "clock": "sal_follow_up", "stage": "sal",
          "lead_kind": "hand_raiser", "target_minutes": 2400,
          "escalation": { "remind_at_percent": 80, "notify_manager": true } },
        { "id": "any_follow_up", "clock": "sal_follow_up", "stage": "sal",
          "target_minutes": 60, "escalation": { "notify_manager": true } },
    ] })
}

/// The calendars and policies, through the API as an admin stores them.
async fn configure(api: &Api) {
    let office = OpenInterval::new(WallTime::hm(9, 0).unwrap(), WallTime::hm(17, 0).unwrap());
    let emea = BusinessCalendar::new(CalendarSpec {
        time_zone: Zone::parse("Europe/Berlin").unwrap(),
        weekly: WeeklyHours::weekdays(&[office]),
        holidays: Default::default(),
    })
    .unwrap();
    let always = BusinessCalendar::always_open(Zone::parse("UTC").unwrap());
    for (path, body) in [
        (
            "/config/calendars/emea",
            serde_json::to_value(&emea).unwrap(),
        ),
        (
            "/config/calendars/default",
            serde_json::to_value(&always).unwrap(),
        ),
        ("/config/sla_policies", policies()),
    ] {
        let r = put(api, path, body).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
}

/// L1's rep-response clock as routing would have stored it: a hand raiser routed through
/// `emea` to rep-ana at Fri 2030-01-11 13:50Z, 15 minutes round the clock, due 14:05Z.
async fn routed_clock(api: &Api) {
    let policy = SlaPolicy {
        id: "hand_raiser_accept".into(),
        clock: ClockKind::RepResponse,
        stage: Stage::Mql,
        lead_kind: None,
        target_minutes: 15,
        escalation: Escalation::default(),
    };
    let start = ClockStart {
        lead: LeadId::new("L1"),
        cycle: 1,
        lead_kind: LeadKind::HandRaiser,
        owner: Some(RepId::new("rep-ana")),
        reassignments: 0,
        at: at("2030-01-11T13:50:00Z"),
        pool: Some("emea".into()),
    };
    let calendar = BusinessCalendar::always_open(Zone::parse("UTC").unwrap());
    let clock = SlaClock::start(&policy, &calendar, start);
    let write = routing::docs::put("sla_clock", &clock.id, &clock, 0, clock.wake_index()).unwrap();
    api.commit(ports::Commit {
        documents: vec![write],
        ..ports::Commit::default()
    })
    .await;
}

async fn act(api: &Api, action: &str, key: &str, version: u64, body: Value) -> Value {
    let r = api
        .call("POST", &format!("/leads/L1/{action}"), Who::RepAna)
        .key(key)
        .if_match(version)
        .body(body)
        .send(api)
        .await;
    assert_eq!(r.status, 200, "{action}: {}", r.text);
    r.json()
}

async fn clock(api: &Api, key: &str) -> (SlaClock, ports::Document) {
    let doc = api.store.get("sla_clock", key).await.unwrap().unwrap();
    (serde_json::from_value(doc.body.clone()).unwrap(), doc)
}

async fn follow_up_clocks(api: &Api) -> usize {
    let page = api
        .store
        .list("sla_clock", "L1:1:sal_follow_up:", None, 100)
        .await
        .unwrap();
    page.items.len()
}

/// A Friday-afternoon accept of an `emea` hand raiser.
async fn accepted_on_friday(api: &Api) {
    configure(api).await;
    api.seed_l1().await;
    routed_clock(api).await;
    api.clock.set(at("2030-01-11T14:00:00Z"));
    act(api, "accept", "acc", 1, json!({})).await;
}

#[tokio::test]
async fn an_accept_starts_the_follow_up_clock_in_the_pools_calendar_once_and_qualify_meets_it() {
    let api = Api::new().await;
    // Accepted Fri 2030-01-11 15:00 CET = 14:00Z. 2,400 business minutes: 120 left on Friday,
    // none at the weekend, 4 × 480 = 1,920 Mon 14 to Thu 17, the last 360 on Fri 18 from 09:00:
    // due 15:00 CET = 14:00Z. The reminder at 1,920: 120 on Friday, 3 × 480 Mon to Wed, 360 on
    // Thu 17: 15:00 CET = 14:00Z. (In the round-the-clock default calendar it would have been
    // due 40 hours after the accept, Sun 13 06:00Z.)
    accepted_on_friday(&api).await;

    let (follow_up, doc) = clock(&api, FOLLOW_UP).await;
    assert_eq!(follow_up.kind, ClockKind::SalFollowUp);
    assert_eq!(follow_up.policy, "hand_raiser_follow_up", "the lead kind's");
    assert_eq!(follow_up.started_at, at("2030-01-11T14:00:00Z"));
    assert_eq!(follow_up.due_at, at("2030-01-18T14:00:00Z"));
    assert_eq!(follow_up.remind_at, Some(at("2030-01-17T14:00:00Z")));
    assert_eq!(follow_up.owner, Some(RepId::new("rep-ana")));
    assert_eq!(follow_up.pool.as_deref(), Some("emea"));
    assert_eq!(
        (follow_up.lead_kind, follow_up.reassignments),
        (LeadKind::HandRaiser, 0)
    );
    assert_eq!(doc.index.as_deref(), Some("2030-01-17T14:00:00.000Z"));
    let (response, _) = clock(&api, "L1:1:rep_response:0").await;
    assert_eq!(response.stopped_at, Some(at("2030-01-11T14:00:00Z")));

    // The same accept again (a client retry): answered as before, no second clock.
    let retry = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("acc")
        .if_match(1)
        .send(&api)
        .await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(follow_up_clocks(&api).await, 1);
    assert_eq!(clock(&api, FOLLOW_UP).await.1.version, 1, "untouched");

    // Qualified Tue 2030-01-15 10:00Z, three days before it was due: met.
    api.clock.set(at("2030-01-15T10:00:00Z"));
    act(&api, "qualify", "q", 2, json!({})).await;
    let (stopped, doc) = clock(&api, FOLLOW_UP).await;
    assert_eq!(stopped.stopped_at, Some(at("2030-01-15T10:00:00Z")));
    assert_eq!(doc.index, None, "out of the due index");
    let outcome = api
        .store
        .get("sla_outcome", &format!("2030-01-18/{FOLLOW_UP}"))
        .await
        .unwrap()
        .expect("the outcome is stored under its due day");
    assert_eq!(
        (&outcome.body["kind"], &outcome.body["met"]),
        (&json!("sal_follow_up"), &json!(true))
    );
    assert_eq!(outcome.body["dims"]["team"], "emea");
}

#[tokio::test]
async fn a_late_follow_up_is_reminded_and_breached_once_and_the_lead_stays_with_its_rep() {
    let api = Api::new().await;
    accepted_on_friday(&api).await;
    let store = api.store.clone();
    let sweeper = sla_timers::Sweeper::new(store.clone(), store.clone(), store);

    // Two sweeps overlap at each moment: the reminder (Thu 17 14:00Z) and the breach (Fri 18
    // 14:00Z, seen 30 s later).
    let mut steps = 0;
    let mut breaches = 0;
    for now in ["2030-01-17T14:00:00Z", "2030-01-18T14:00:30Z"] {
        let (a, b) = tokio::join!(sweeper.sweep(at(now)), sweeper.sweep(at(now)));
        for report in [a.unwrap(), b.unwrap()] {
            steps += report.steps;
            breaches += report.breaches;
        }
    }
    let later = sweeper.sweep(at("2030-01-21T09:00:00Z")).await.unwrap();
    assert_eq!((steps, breaches), (2, 1), "one reminder, one breach");
    assert_eq!(
        (later.clocks, later.steps),
        (0, 0),
        "nothing left to wake for"
    );

    let notices = api
        .store
        .receive(Topic::Notifications, 10, 30)
        .await
        .unwrap();
    let mut kinds: Vec<(String, String)> = notices
        .iter()
        .map(|n| {
            let body: Value = serde_json::from_str(&n.body).unwrap();
            let kind = body["kind"].as_str().unwrap().to_owned();
            (kind, body["clock"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("sla_breached".to_owned(), FOLLOW_UP.to_owned()),
            ("sla_reminder".to_owned(), FOLLOW_UP.to_owned()),
        ]
    );
    assert!(
        api.store
            .receive(Topic::Mqls, 10, 30)
            .await
            .unwrap()
            .is_empty(),
        "no reassignment"
    );
    let lead = api
        .deps
        .journey
        .lead(&LeadId::new("L1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (lead.stage(), lead.owner),
        (Stage::Sal, Some(RepId::new("rep-ana")))
    );

    // The breach was stored once, by the sweep; the late qualify stops the clock and adds none.
    api.clock.set(at("2030-01-21T10:00:00Z"));
    act(&api, "qualify", "q", 2, json!({})).await;
    let outcomes = api
        .store
        .list("sla_outcome", "2030-01-18/", None, 100)
        .await
        .unwrap();
    assert_eq!(outcomes.items.len(), 1);
    assert_eq!(outcomes.items[0].body["met"], false);

    // The report counts it as its own clock, apart from the rep response met at the accept.
    let q = "from=2030-01-01T00:00:00Z&to=2030-02-01T00:00:00Z&as_of=2030-02-02T00:00:00Z";
    let report = api
        .call("GET", &format!("/reports/funnel?{q}"), Who::Marketing)
        .send(&api)
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    let sla = &report.json()["total"]["sla"];
    assert_eq!(
        sla["sal_follow_up"],
        json!({ "due": 1, "met": 0, "rate": 0.0 })
    );
    assert_eq!(sla["response"], json!({ "due": 1, "met": 1, "rate": 1.0 }));

    let csv = api
        .call(
            "GET",
            &format!("/reports/funnel?{q}&format=csv"),
            Who::Marketing,
        )
        .send(&api)
        .await;
    let mut rows = csv::Reader::from_reader(csv.text.as_bytes());
    let header = rows.headers().unwrap().clone();
    let total = rows.records().next().unwrap().unwrap();
    let cell = |name: &str| total[header.iter().position(|h| h == name).unwrap()].to_owned();
    assert_eq!(
        (cell("sla_sal_follow_up_due"), cell("sla_sal_follow_up_met")),
        ("1".to_owned(), "0".to_owned())
    );
    assert_eq!(cell("sla_response_due"), "1");

    let page = api
        .call("GET", &format!("/reports/funnel.html?{q}"), Who::Marketing)
        .send(&api)
        .await;
    assert!(
        page.text
            .contains("data-figure=\"sla.sal_follow_up\">0.0% (0/1)</text>"),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn a_lead_routed_without_clocks_is_followed_up_as_behavioural_in_the_default_calendar() {
    let api = Api::new().await;
    configure(&api).await;
    api.seed_l1().await;

    // No rep-response clock: the policy for any lead kind (60 minutes), round the clock in UTC.
    act(&api, "accept", "acc", 1, json!({})).await;
    let (follow_up, _) = clock(&api, FOLLOW_UP).await;
    assert_eq!(follow_up.policy, "any_follow_up");
    assert_eq!(follow_up.lead_kind, LeadKind::Behavioural);
    assert_eq!(follow_up.pool, None);
    assert_eq!(follow_up.due_at, at("2030-01-10T13:00:00Z"));

    // A recycle stops it too.
    api.clock.set(at("2030-01-10T12:30:00Z"));
    act(&api, "recycle", "r", 2, json!({ "reason": "timing" })).await;
    let (stopped, _) = clock(&api, FOLLOW_UP).await;
    assert_eq!(stopped.stopped_at, Some(at("2030-01-10T12:30:00Z")));
}

#[tokio::test]
async fn an_accept_with_no_follow_up_policy_starts_no_clock() {
    let api = Api::new().await;
    api.seed_l1().await;
    act(&api, "accept", "acc", 1, json!({})).await;
    assert_eq!(follow_up_clocks(&api).await, 0);
}

#[tokio::test]
async fn follow_up_policies_are_checked_for_their_stage_and_may_not_reassign() {
    let api = Api::new().await;
    let reassigning = json!({ "policies": [{ "id": "sal_5d", "clock": "sal_follow_up",
        "stage": "sal", "target_minutes": 2400,
        "escalation": { "reassign": true, "max_reassignments": 1 } }] });
    let at_mql = json!({ "policies": [{ "id": "sal_5d", "clock": "sal_follow_up",
        "stage": "mql", "target_minutes": 2400 }] });
    let response_at_sal = json!({ "policies": [{ "id": "sal_5d", "clock": "rep_response",
        "stage": "sal", "target_minutes": 2400 }] });

    for (body, says) in [
        (reassigning, "not reassign"),
        (at_mql, "runs at stage sal"),
        (response_at_sal, "runs at stage mql"),
    ] {
        let r = put(&api, "/config/sla_policies", body).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(r.text.contains(says), "{says}: {}", r.text);
    }
    assert_eq!(
        put(&api, "/config/sla_policies", policies()).await.status,
        200
    );
}
