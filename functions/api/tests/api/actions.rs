//! The sales actions: idempotency, optimistic concurrency, cycles, and the journey events.

use crate::harness::{Api, Who};
use lifecycle::{LeadId, Stage};
use ports::{JourneyStore, QueueConsumer, Topic};
use serde_json::json;

const PROBLEMS: &str = "https://lead-journey.dev/problems/";

#[tokio::test]
async fn accept_moves_the_lead_to_sal_records_who_and_when_and_publishes_an_event() {
    let api = Api::new().await;
    let lead = api.seed_l1().await;

    let r = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("k-accept")
        .if_match(1)
        .send(&api)
        .await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["stage"], "sal");
    assert_eq!(r.json()["version"], 2);
    assert_eq!(r.header("etag"), Some("\"2\""));
    let ts = api.store.transitions(&lead.id).await.unwrap();
    let t = ts.last().unwrap();
    assert_eq!(
        (t.from, t.to, t.seq, t.cycle),
        (Some(Stage::Mql), Stage::Sal, 3, 1)
    );
    assert_eq!(t.cause.as_str(), "api:k-accept");
    assert_eq!(
        serde_json::to_value(&t.actor).unwrap(),
        json!({ "kind": "rep", "id": "rep-ana" })
    );
    assert_eq!(t.recorded_at, crate::harness::now());
    assert_eq!(t.effective_at, crate::harness::now());

    let events = api
        .store
        .receive(Topic::JourneyEvents, 10, 30)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&events[0].body).unwrap();
    assert_eq!(
        (
            body["lead_id"].as_str(),
            body["to"].as_str(),
            body["seq"].as_u64()
        ),
        (Some("L1"), Some("sal"), Some(3))
    );
    assert!(
        !events[0].body.contains("example.com"),
        "no personal data on the queue"
    );
}

#[tokio::test]
async fn two_concurrent_accepts_one_wins_one_gets_a_stale_version_409() {
    let api = Api::new().await;
    api.seed_l1().await;

    let first = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("a")
        .if_match(1)
        .send(&api);
    let second = api
        .call("POST", "/leads/L1/accept", Who::ManagerEmea)
        .key("b")
        .if_match(1)
        .send(&api);
    let (a, b) = tokio::join!(first, second);

    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    let loser = if a.status == 409 { a } else { b };
    assert_eq!(
        loser.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(loser.json()["type"], format!("{PROBLEMS}stale-version"));
    assert_eq!(loser.json()["current_version"], 2);
    let ts = api.store.transitions(&LeadId::new("L1")).await.unwrap();
    assert_eq!(ts.iter().filter(|t| t.to == Stage::Sal).count(), 1);
}

#[tokio::test]
async fn a_retried_request_changes_nothing_and_answers_like_the_first() {
    let api = Api::new().await;
    api.seed_l1().await;

    let first = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("same")
        .if_match(1)
        .send(&api)
        .await;
    // The retry still carries the version the client saw first.
    let retry = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("same")
        .if_match(1)
        .send(&api)
        .await;

    assert_eq!((first.status, retry.status), (200, 200), "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.json()["version"], 2);
    assert_eq!(
        api.store
            .transitions(&LeadId::new("L1"))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        api.store
            .receive(Topic::JourneyEvents, 10, 30)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Regression: an accept's Idempotency-Key sent again with a qualify (and the right If-Match)
/// answered 200 with the accept's result, and the qualify was silently dropped.
#[tokio::test]
async fn a_key_used_for_another_action_on_the_same_lead_is_a_422() {
    let api = Api::new().await;
    api.seed_l1().await;

    let accept = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("same")
        .if_match(1)
        .send(&api)
        .await;
    let qualify = api
        .call("POST", "/leads/L1/qualify", Who::RepAna)
        .key("same")
        .if_match(2)
        .send(&api)
        .await;

    assert_eq!(accept.status, 200, "{}", accept.text);
    assert_eq!(qualify.status, 422, "{}", qualify.text);
    assert_eq!(qualify.json()["errors"][0]["field"], "Idempotency-Key");
    let ts = api.store.transitions(&LeadId::new("L1")).await.unwrap();
    assert!(ts.iter().all(|t| t.to != Stage::Sql), "nothing qualified");
}

/// Regression: `[]` as an action body qualified the lead (serde reads a struct from an array,
/// by position).
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused() {
    let api = Api::new().await;
    api.seed_l1().await;

    let mut answers = Vec::new();
    for body in [
        "[]",
        "[[\"2030-01-01T00:00:00Z\"]]",
        "3",
        "\"accept\"",
        "null",
    ] {
        let r = api
            .call("POST", "/leads/L1/accept", Who::RepAna)
            .key(body)
            .if_match(1)
            .header("content-type", "application/json")
            .raw(body)
            .send(&api)
            .await;
        answers.push((body, r.status));
    }

    assert!(answers.iter().all(|(_, s)| *s == 422), "{answers:?}");
    let ts = api.store.transitions(&LeadId::new("L1")).await.unwrap();
    assert!(ts.iter().all(|t| t.to != Stage::Sal), "nothing accepted");
}

#[tokio::test]
async fn if_match_is_required_and_a_stale_one_names_the_current_version() {
    let api = Api::new().await;
    api.seed_l1().await;

    let missing = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("k1")
        .send(&api)
        .await;
    let stale = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("k2")
        .if_match(7)
        .send(&api)
        .await;
    let no_key = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .if_match(1)
        .send(&api)
        .await;

    assert_eq!(missing.status, 428);
    assert_eq!(
        missing.json()["type"],
        format!("{PROBLEMS}precondition-required")
    );
    assert_eq!(stale.status, 409);
    assert_eq!(stale.json()["current_version"], 1);
    assert!(stale.json()["detail"]
        .as_str()
        .unwrap()
        .contains("current version is 1"));
    assert_eq!(no_key.status, 400);
}

#[tokio::test]
async fn disqualify_needs_a_configured_reason() {
    let api = Api::new().await;
    api.seed_l1().await;

    let none = api
        .call("POST", "/leads/L1/disqualify", Who::RepAna)
        .key("d0")
        .if_match(1)
        .send(&api)
        .await;
    let unknown = api
        .call("POST", "/leads/L1/disqualify", Who::RepAna)
        .key("d1")
        .if_match(1)
        .body(json!({ "reason": "too_tall" }))
        .send(&api)
        .await;
    let listed = api
        .call("POST", "/leads/L1/disqualify", Who::RepAna)
        .key("d2")
        .if_match(1)
        .body(json!({ "reason": "no_budget" }))
        .send(&api)
        .await;

    assert_eq!(none.status, 422);
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.json()["errors"][0]["field"], "/reason");
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json()["stage"], "disqualified");
}

#[tokio::test]
async fn a_disqualified_lead_that_qualifies_again_starts_cycle_2_and_leaves_cycle_1_alone() {
    let api = Api::new().await;
    api.seed_l1().await;
    let id = LeadId::new("L1");
    let dq = api
        .call("POST", "/leads/L1/disqualify", Who::RepAna)
        .key("dq")
        .if_match(1)
        .body(json!({ "reason": "bad_timing", "note": "call back in spring" }))
        .send(&api)
        .await;
    assert_eq!(dq.status, 200, "{}", dq.text);
    let cycle_1 = api.store.transitions(&id).await.unwrap();

    let again = api
        .call("POST", "/leads/L1/qualify", Who::RepAna)
        .key("q2")
        .if_match(2)
        .body(json!({ "opportunity_amount": 12000.0 }))
        .send(&api)
        .await;

    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        (
            again.json()["stage"].as_str(),
            again.json()["cycle"].as_u64()
        ),
        (Some("sql"), Some(2))
    );
    let all = api.store.transitions(&id).await.unwrap();
    assert_eq!(
        &all[..cycle_1.len()],
        &cycle_1[..],
        "cycle 1 history unchanged"
    );
    let new = &all[cycle_1.len()..];
    assert_eq!(new.len(), 1);
    assert_eq!(
        (new[0].cycle, new[0].from, new[0].to),
        (2, Some(Stage::Disqualified), Stage::Sql)
    );
    assert_eq!(new[0].skipped, vec![Stage::Mql, Stage::Sal]);
}

#[tokio::test]
async fn reject_returns_the_lead_to_marketing_and_keeps_the_feedback() {
    let api = Api::new().await;
    api.seed_l1().await;

    let r = api
        .call("POST", "/leads/L1/reject", Who::RepAna)
        .key("rj")
        .if_match(1)
        .body(json!({ "reason": "not_sales_ready", "feedback": "student, no project" }))
        .send(&api)
        .await;

    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["stage"], "recycled");
    assert!(r.json().get("owner").is_none(), "no longer the rep's");
    let timeline = api
        .call("GET", "/leads/L1/timeline", Who::Admin)
        .send(&api)
        .await
        .json();
    let last = timeline["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["reason"],
        json!({ "code": "not_sales_ready", "note": "student, no project" })
    );
    let stored = api.store.transitions(&LeadId::new("L1")).await.unwrap();
    assert_eq!(
        stored.last().unwrap().reason.as_ref().unwrap().note,
        None,
        "free text kept out of the append-only log"
    );
}

#[tokio::test]
async fn a_move_the_stage_machine_refuses_is_a_409_stage_conflict() {
    let api = Api::new().await;
    api.seed_l1().await;
    api.call("POST", "/leads/L1/accept", Who::RepAna)
        .key("a1")
        .if_match(1)
        .send(&api)
        .await;

    let twice = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("a2")
        .if_match(2)
        .send(&api)
        .await;

    assert_eq!(twice.status, 409);
    assert_eq!(twice.json()["type"], format!("{PROBLEMS}stage-conflict"));
}

#[tokio::test]
async fn an_action_body_with_an_unknown_field_or_a_future_time_is_refused() {
    let api = Api::new().await;
    api.seed_l1().await;

    let unknown = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("u")
        .if_match(1)
        .body(json!({ "stage": "won" }))
        .send(&api)
        .await;
    let future = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("f")
        .if_match(1)
        .body(json!({ "effective_at": "2031-01-01T00:00:00Z" }))
        .send(&api)
        .await;

    assert_eq!(
        unknown.status, 422,
        "JSON of the wrong shape: {}",
        unknown.text
    );
    assert!(unknown.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("unknown field `stage`"));
    assert_eq!(future.status, 422);
    assert_eq!(future.json()["errors"][0]["field"], "/effective_at");
}

/// Regression: a qualify dated 1900 was accepted, putting SQL before the lead existed and
/// making the plan's lags negative. L1 became an MQL at 2030-01-02 10:00Z (the harness).
#[tokio::test]
async fn an_action_dated_before_the_current_stage_is_refused() {
    let api = Api::new().await;
    api.seed_l1().await;

    let early = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("early")
        .if_match(1)
        .body(json!({ "effective_at": "2030-01-02T09:30:00Z" }))
        .send(&api)
        .await;
    let later = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("later")
        .if_match(1)
        .body(json!({ "effective_at": "2030-01-02T10:30:00Z" }))
        .send(&api)
        .await;

    assert_eq!(early.status, 422);
    let problem = early.json();
    assert_eq!(problem["errors"][0]["field"], "/effective_at");
    assert!(
        problem.to_string().contains("2030-01-02T10:00:00Z"),
        "names when the current stage began: {problem}"
    );
    assert_eq!(later.status, 200);
    assert_eq!(later.json()["stage"], "sal");
}

/// A running rep-response clock on L1 for rep-ana: started 2030-01-10 11:50Z, 15 minutes,
/// round the clock, so due at 12:05Z, five minutes after the harness's "now".
async fn running_clock(api: &Api) -> String {
    use lifecycle::sla::{
        BusinessCalendar, ClockKind, ClockStart, Escalation, LeadKind, SlaClock, SlaPolicy, Zone,
    };
    let policy = SlaPolicy {
        id: "hand_raiser_accept".into(),
        clock: ClockKind::RepResponse,
        stage: Stage::Mql,
        lead_kind: None,
        target_minutes: 15,
        escalation: Escalation {
            reassign: true,
            max_reassignments: 1,
            ..Escalation::default()
        },
    };
    let calendar = BusinessCalendar::always_open(Zone::parse("UTC").unwrap());
    let start = ClockStart {
        lead: LeadId::new("L1"),
        cycle: 1,
        lead_kind: LeadKind::HandRaiser,
        owner: Some(lifecycle::RepId::new("rep-ana")),
        reassignments: 0,
        at: "2030-01-10T11:50:00Z".parse().unwrap(),
        pool: None,
    };
    let clock = SlaClock::start(&policy, &calendar, start);
    let due: lifecycle::Timestamp = "2030-01-10T12:05:00Z".parse().unwrap();
    assert_eq!(clock.due_at, due);
    let doc = ports::Document {
        collection: "sla_clock".into(),
        key: clock.id.clone(),
        version: 1,
        index: clock.wake_index(),
        body: serde_json::to_value(&clock).unwrap(),
        expires_at: None,
    };
    let commit = ports::Commit {
        documents: vec![ports::DocumentWrite::Put {
            doc,
            expect: ports::Expect::Absent,
        }],
        ..ports::Commit::default()
    };
    api.store.commit(commit).await.unwrap();
    clock.id
}

#[tokio::test]
async fn accept_stops_the_reps_clock_in_its_commit_so_the_sweep_escalates_nothing() {
    use ports::DocumentStore;
    let api = Api::new().await;
    api.seed_l1().await;
    let id = running_clock(&api).await;
    assert_eq!(
        api.store.due("sla_clock", "9999", 10).await.unwrap().len(),
        1
    );

    let r = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("k-accept")
        .if_match(1)
        .send(&api)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let doc = api.store.get("sla_clock", &id).await.unwrap().unwrap();
    assert_eq!(doc.index, None, "out of the due index");
    assert_eq!(doc.body["stopped_at"], "2030-01-10T12:00:00Z");
    let store = api.store.clone();
    let sweeper = sla_timers::Sweeper::new(store.clone(), store.clone(), store);
    let report = sweeper
        .sweep("2030-01-10T13:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!((report.clocks, report.steps), (0, 0));
    assert!(api
        .store
        .receive(Topic::Mqls, 10, 30)
        .await
        .unwrap()
        .is_empty());
}

/// Regression: a 200 KB note was taken, and on DynamoDB would have failed the action after it
/// was decided (an item holds 400 KB).
#[tokio::test]
async fn a_note_longer_than_four_thousand_characters_is_refused() {
    let api = Api::new().await;
    api.seed_l1().await;

    let long = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("long")
        .if_match(1)
        .body(json!({ "reason": "fit", "note": "é".repeat(4001) }))
        .send(&api)
        .await;
    let fits = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("fits")
        .if_match(1)
        .body(json!({ "reason": "fit", "note": "é".repeat(4000) }))
        .send(&api)
        .await;

    assert_eq!(long.status, 422, "{}", long.text);
    assert_eq!(long.json()["errors"][0]["field"], "/note");
    assert_eq!(fits.status, 200, "{}", fits.text);
}

/// Regression: marketing posting a reject with no body was told "a reason code is required"
/// (422): what its request lacked, for an action it may not take at all. It is a 403 now.
#[tokio::test]
async fn a_caller_who_may_not_act_is_told_so_before_what_the_body_lacks() {
    let api = Api::new().await;
    api.seed_l1().await;

    let r = api
        .call("POST", "/leads/L1/reject", Who::Marketing)
        .key("m")
        .if_match(1)
        .send(&api)
        .await;

    assert_eq!(r.status, 403, "{}", r.text);
}

/// The owner's open-lead count as routing stored it.
async fn open_leads(api: &Api, rep: &str) -> u64 {
    let doc = ports::DocumentStore::get(api.store.as_ref(), "rep_load", rep)
        .await
        .unwrap()
        .expect("a load counter");
    doc.body["open_leads"].as_u64().unwrap()
}

/// Regression: a qualified, disqualified or rejected lead stayed on its rep's open-lead count
/// for ever, so a rep with an open-lead cap filled it and was never routed a lead again.
#[tokio::test]
async fn leaving_open_work_gives_the_owner_back_a_place_under_the_cap_once() {
    let api = Api::new().await;
    api.seed_l1().await;
    let created = "2030-01-02T09:00:00Z".parse().unwrap();
    api.seed_lead("L2", Some("rep-ana"), "google", created)
        .await;
    // As routing counted them: two leads assigned, both open.
    api.put_document(
        "rep_load",
        "rep-ana",
        json!({ "day": "2030-01-02", "assigned_on_day": 2, "open_leads": 2 }),
    )
    .await;
    let act = |path: &'static str, key: &'static str, version: u64, body| {
        api.call("POST", path, Who::RepAna)
            .key(key)
            .if_match(version)
            .body(body)
    };

    let accepted = act("/leads/L1/accept", "a", 1, json!({})).send(&api).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(
        open_leads(&api, "rep-ana").await,
        2,
        "a SAL is still open work"
    );

    let qualified = act("/leads/L1/qualify", "q", 2, json!({})).send(&api).await;
    assert_eq!(qualified.status, 200, "{}", qualified.text);
    assert_eq!(open_leads(&api, "rep-ana").await, 1);
    let retried = act("/leads/L1/qualify", "q", 2, json!({})).send(&api).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(
        open_leads(&api, "rep-ana").await,
        1,
        "a retry releases nothing"
    );

    let dq = act(
        "/leads/L1/disqualify",
        "d",
        3,
        json!({ "reason": "bad_timing" }),
    )
    .send(&api)
    .await;
    assert_eq!(dq.status, 200, "{}", dq.text);
    assert_eq!(
        open_leads(&api, "rep-ana").await,
        1,
        "an SQL was released already"
    );

    let rejected = act(
        "/leads/L2/reject",
        "r",
        1,
        json!({ "reason": "not_sales_ready" }),
    )
    .send(&api)
    .await;
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    assert_eq!(open_leads(&api, "rep-ana").await, 0);
}

/// Regression: a body sent as plain text or a form was read as JSON and acted on (a
/// `text/plain` disqualify disqualified the lead; a form-encoded config was a 400 about JSON).
#[tokio::test]
async fn a_body_of_another_media_type_is_a_415_and_changes_nothing() {
    let api = Api::new().await;
    api.seed_l1().await;

    let mut answers = Vec::new();
    for media in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/csv",
    ] {
        let r = api
            .call("POST", "/leads/L1/disqualify", Who::RepAna)
            .key(media)
            .if_match(1)
            .header("content-type", media)
            .raw(r#"{"reason":"bad_timing"}"#)
            .send(&api)
            .await;
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        answers.push((media, r.status, r.json()["type"].clone()));
    }
    let config = api
        .call("PUT", "/config/disqualification_reasons", Who::Admin)
        .if_match(0)
        .header("content-type", "application/x-www-form-urlencoded")
        .raw("reasons=no_budget")
        .send(&api)
        .await;
    answers.push(("form config", config.status, config.json()["type"].clone()));

    let want = json!(format!("{PROBLEMS}unsupported-media-type"));
    assert!(
        answers.iter().all(|(_, s, t)| *s == 415 && *t == want),
        "{answers:?}"
    );
    let ts = api.store.transitions(&LeadId::new("L1")).await.unwrap();
    assert!(
        ts.iter().all(|t| t.to == Stage::New || t.to == Stage::Mql),
        "nothing acted"
    );

    let charset = api
        .call("POST", "/leads/L1/disqualify", Who::RepAna)
        .key("with-charset")
        .if_match(1)
        .header("content-type", "application/json; charset=utf-8")
        .raw(r#"{"reason":"bad_timing"}"#)
        .send(&api)
        .await;
    assert_eq!(charset.status, 200, "{}", charset.text);
}
