//! Assigning a lead by hand (`POST /leads/{id}/assign`).
//!
//! The setup: pool `inbound` (manager u-mgr-emea) of rep-ana, at her open-lead cap of one, and
//! rep-cy, inactive, so routing overflows every lead (and nobody may be given one by hand until
//! rep-ana has room: [`room_for_ana`]); SLA policies of 30 minutes routing latency
//! and 15 minutes rep response on an always-open UTC calendar. L2 became an MQL and was routed
//! at 11:50 (into the overflow queue); the harness's "now" is 12:00. Every expectation below is
//! worked out by hand from that.

use crate::harness::{Api, Who};
use lifecycle::{
    routing::RouteRequest,
    sla::{BusinessCalendar, LeadKind, Zone},
    LeadId, Timestamp,
};
use ports::{DocumentStore, QueueConsumer, Topic};
use routing::{RouteOutcome, Router};
use serde_json::{json, Value};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

async fn put_config(api: &Api, path: &str, body: Value) {
    let reply = api
        .call("PUT", path, Who::Admin)
        .if_match(0)
        .body(body)
        .send(api)
        .await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
}

/// The pool, the reps' state, the calendar and the policies of the module docs.
async fn nobody_eligible(api: &Api) {
    api.seed_rep("rep-cy", "emea").await;
    api.put_document("rep", "rep-cy", json!({ "team": "emea", "active": false }))
        .await;
    api.put_document("rep_load", "rep-ana", json!({ "open_leads": 1 }))
        .await;
    put_config(
        api,
        "/config/routing",
        json!({ "pools": [{ "id": "inbound", "overflow_queue": "inbound-overflow",
            "manager": "u-mgr-emea",
            "members": [{ "rep": "rep-ana", "max_open": 1 }, { "rep": "rep-cy" }] }],
            "default_pool": "inbound" }),
    )
    .await;
    let calendar = BusinessCalendar::always_open(Zone::parse("UTC").unwrap());
    put_config(
        api,
        "/config/calendars/default",
        serde_json::to_value(&calendar).unwrap(),
    )
    .await;
    put_config(
        api,
        "/config/sla_policies",
        json!({ "policies": [
            { "id": "routed", "clock": "routing_latency", "stage": "mql", "target_minutes": 30 },
            { "id": "answered", "clock": "rep_response", "stage": "mql", "target_minutes": 15 }] }),
    )
    .await;
}

/// L2, routed at 11:50 into the overflow queue (lead version 2), its notice taken off the queue.
async fn overflowed_l2(api: &Api) {
    api.seed_lead("L2", None, "google", at("2030-01-08T09:00:00Z"))
        .await;
    let routed_at = at("2030-01-10T11:50:00Z");
    let request = RouteRequest {
        lead: LeadId::new("L2"),
        cycle: 1,
        lead_kind: LeadKind::Behavioural,
        requested_at: routed_at,
        reassignment: None,
    };
    let router = Router::new(api.store.clone(), api.store.clone(), api.store.clone());
    let outcome = router.route(&request, routed_at).await.unwrap();
    assert_eq!(outcome, RouteOutcome::Overflowed("inbound-overflow".into()));
    notices(api).await;
}

/// rep-ana closes her open lead: she has room under her cap again.
async fn room_for_ana(api: &Api) {
    api.put_document("rep_load", "rep-ana", json!({ "open_leads": 0 }))
        .await;
}

/// The notices queued since the last call, taken off the queue.
async fn notices(api: &Api) -> Vec<(String, Value)> {
    let got = api
        .store
        .receive(Topic::Notifications, 100, 30)
        .await
        .unwrap();
    let mut out = Vec::new();
    for d in got {
        api.store
            .ack(Topic::Notifications, &d.receipt)
            .await
            .unwrap();
        out.push((d.id, serde_json::from_str(&d.body).unwrap()));
    }
    out
}

async fn doc(api: &Api, collection: &str, key: &str) -> Option<Value> {
    let found = api.store.get(collection, key).await.unwrap();
    found.map(|d| d.body)
}

async fn assign(
    api: &Api,
    who: Who,
    key: &str,
    version: u64,
    body: Value,
) -> crate::harness::Reply {
    api.call("POST", "/leads/L2/assign", who)
        .key(key)
        .if_match(version)
        .body(body)
        .send(api)
        .await
}

#[tokio::test]
async fn the_pools_manager_takes_an_overflowed_lead_out_of_the_queue_in_one_commit() {
    let api = Api::new().await;
    nobody_eligible(&api).await;
    overflowed_l2(&api).await;
    let body = json!({ "rep_id": "rep-ana", "note": "I know this account" });

    // At her cap, she is not given the lead by hand either.
    let full = assign(&api, Who::ManagerEmea, "k-0", 2, body.clone()).await;
    assert_eq!(full.status, 422, "{}", full.text);
    assert_eq!(full.json()["errors"][0]["field"], "/rep_id");
    assert!(full.text.contains("max_open"), "{}", full.text);
    room_for_ana(&api).await;
    let reply = assign(&api, Who::ManagerEmea, "k-1", 2, body.clone()).await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("etag"), Some("\"3\""));
    assert_eq!(reply.json()["owner"], "rep-ana");
    let queue = api
        .call("GET", "/overflow", Who::ManagerEmea)
        .send(&api)
        .await
        .json();
    assert_eq!(queue["items"], json!([]));
    assert_eq!(doc(&api, "overflow", "inbound-overflow:L2").await, None);

    // The decision, after the overflow's (attempt 0), as the cycle's attempt 1.
    let history = api
        .call("GET", "/leads/L2/routing", Who::Marketing)
        .send(&api)
        .await
        .json();
    let manual = &history["items"][0];
    assert_eq!(
        (manual["cycle"].as_u64(), manual["attempt"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(manual["outcome"], json!({ "to": "rep", "rep": "rep-ana" }));
    assert_eq!(
        manual["tie_break"],
        json!({ "by": "manual", "actor": { "kind": "user", "id": "u-mgr-emea" } })
    );
    assert_eq!(
        manual["candidates"],
        json!([{ "rep": "rep-ana", "role": "chosen" }]),
        "nothing held against her now"
    );
    assert_eq!(manual["note"], "I know this account");
    assert_eq!(manual["decided_at"], "2030-01-10T12:00:00Z");
    assert_eq!(history["items"][1]["tie_break"], json!({ "by": "nobody" }));

    // Routing latency: 11:50 + 30 min, stopped at 12:00. Rep response: 12:00 + 15 min.
    let latency = doc(&api, "sla_clock", "L2:1:routing_latency:0")
        .await
        .unwrap();
    assert_eq!(latency["stopped_at"], "2030-01-10T12:00:00Z");
    assert_eq!(latency["due_at"], "2030-01-10T12:20:00Z");
    let response = doc(&api, "sla_clock", "L2:1:rep_response:1").await.unwrap();
    assert_eq!(response["owner"], "rep-ana");
    assert_eq!(response["started_at"], "2030-01-10T12:00:00Z");
    assert_eq!(response["due_at"], "2030-01-10T12:15:00Z");
    assert_eq!(response["stopped_at"], Value::Null);
    let due = api.store.due("sla_clock", "9999", 10).await.unwrap();
    let running: Vec<&str> = due.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(running, vec!["L2:1:rep_response:1"]);

    // No open lead before, one after; the first assigned on her day.
    assert_eq!(
        doc(&api, "rep_load", "rep-ana").await.unwrap(),
        json!({ "day": "2030-01-10", "assigned_on_day": 1, "open_leads": 1 })
    );
    assert_eq!(
        notices(&api).await,
        vec![(
            "assigned:L2:1:1".to_owned(),
            json!({ "kind": "lead_assigned", "lead": "L2", "cycle": 1, "rep": "rep-ana",
                "pool": "inbound" })
        )]
    );

    // The note is free text: it is kept apart from the decision, and goes with the person.
    assert!(doc(&api, "reason_note", "L2/routing:1:1").await.is_some());
    let erased = api.call("DELETE", "/leads/L2", Who::Admin).send(&api).await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    assert_eq!(doc(&api, "reason_note", "L2/routing:1:1").await, None);
}

#[tokio::test]
async fn a_retry_changes_nothing_and_answers_like_the_first() {
    let api = Api::new().await;
    nobody_eligible(&api).await;
    overflowed_l2(&api).await;
    room_for_ana(&api).await;
    let body = json!({ "rep_id": "rep-ana" });
    let first = assign(&api, Who::ManagerEmea, "k-1", 2, body.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    notices(&api).await;
    let load = doc(&api, "rep_load", "rep-ana").await;

    // Sent again as it was, If-Match and all, though the lead is at version 3 now.
    let again = assign(&api, Who::ManagerEmea, "k-1", 2, body).await;
    let other = assign(
        &api,
        Who::ManagerEmea,
        "k-1",
        2,
        json!({ "rep_id": "rep-bo" }),
    )
    .await;

    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("etag"), Some("\"3\""));
    assert_eq!(again.json(), first.json());
    assert_eq!(doc(&api, "rep_load", "rep-ana").await, load);
    assert_eq!(doc(&api, "routing_decision", "L2:1:2").await, None);
    // The first request's notice is sent again (consumers dedupe on its id); nothing new.
    let resent = notices(&api).await;
    assert!(
        resent.iter().all(|(id, _)| id == "assigned:L2:1:1"),
        "{resent:?}"
    );
    assert_eq!(other.status, 422, "{}", other.text);
    assert_eq!(other.json()["errors"][0]["field"], "Idempotency-Key");
}

#[tokio::test]
async fn of_two_concurrent_assignments_on_one_version_exactly_one_wins() {
    let api = Api::new().await;
    nobody_eligible(&api).await;
    overflowed_l2(&api).await;
    room_for_ana(&api).await;
    api.seed_rep("rep-di", "emea").await;

    let (a, b) = tokio::join!(
        assign(
            &api,
            Who::ManagerEmea,
            "k-a",
            2,
            json!({ "rep_id": "rep-ana" })
        ),
        assign(&api, Who::Admin, "k-b", 2, json!({ "rep_id": "rep-di" })),
    );

    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
    let loser = if a.status == 409 { &a } else { &b };
    assert_eq!(loser.json()["current_version"], 3);
    let lead = api
        .call("GET", "/leads/L2", Who::Admin)
        .send(&api)
        .await
        .json();
    let winner = if a.status == 200 { "rep-ana" } else { "rep-di" };
    assert_eq!(lead["owner"], winner);
    assert_eq!(lead["version"], 3);
}

#[tokio::test]
async fn a_manager_moves_a_reps_mql_to_another_rep_and_the_loads_follow() {
    let api = Api::new().await;
    nobody_eligible(&api).await;
    api.seed_rep("rep-di", "emea").await;
    api.seed_l1().await;
    api.put_document("rep_load", "rep-ana", json!({ "open_leads": 3 }))
        .await;

    let reply = api
        .call("POST", "/leads/L1/assign", Who::ManagerEmea)
        .key("move")
        .if_match(1)
        .body(json!({ "rep_id": "rep-di" }))
        .send(&api)
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["owner"], "rep-di");
    assert_eq!(
        doc(&api, "rep_load", "rep-ana").await.unwrap(),
        json!({ "open_leads": 2, "assigned_on_day": 0 })
    );
    assert_eq!(
        doc(&api, "rep_load", "rep-di").await.unwrap(),
        json!({ "day": "2030-01-10", "assigned_on_day": 1, "open_leads": 1 })
    );
    // L1 was never routed: its first decision is attempt 0, and the clock is numbered alike.
    assert!(doc(&api, "routing_decision", "L1:1:0").await.is_some());
    let clock = doc(&api, "sla_clock", "L1:1:rep_response:0").await.unwrap();
    assert_eq!(clock["owner"], "rep-di");
}

#[tokio::test]
async fn assignments_the_rules_do_not_allow_are_refused_with_a_problem() {
    let api = Api::new().await;
    nobody_eligible(&api).await;
    overflowed_l2(&api).await;
    api.seed_l1().await;
    let accepted = api
        .call("POST", "/leads/L1/accept", Who::RepAna)
        .key("acc")
        .if_match(1)
        .send(&api)
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let l2 = |who, key: &str, version, rep: &str| {
        api.call("POST", "/leads/L2/assign", who)
            .key(key)
            .if_match(version)
            .body(json!({ "rep_id": rep }))
    };

    let cases = [
        (l2(Who::RepAna, "r1", 2, "rep-ana"), 403, "forbidden"),
        (l2(Who::Marketing, "r2", 2, "rep-ana"), 403, "forbidden"),
        (
            l2(Who::ManagerEmea, "r3", 2, "rep-cy"),
            422,
            "validation-failed",
        ),
        (
            l2(Who::ManagerEmea, "r4", 2, "rep-nobody"),
            422,
            "validation-failed",
        ),
        (
            l2(Who::ManagerEmea, "r5", 1, "rep-ana"),
            409,
            "stale-version",
        ),
        // rep-bo is on team amer: a manager of emea may not send the lead there.
        (
            l2(Who::ManagerEmea, "r5c", 2, "rep-bo"),
            422,
            "validation-failed",
        ),
        // At her open-lead cap: the invariant holds by hand too.
        (
            l2(Who::ManagerEmea, "r5b", 2, "rep-ana"),
            422,
            "validation-failed",
        ),
        (
            api.call("POST", "/leads/L1/assign", Who::ManagerEmea)
                .key("r6")
                .if_match(2)
                .body(json!({ "rep_id": "rep-cy" })),
            409,
            "stage-conflict",
        ),
        (
            api.call("POST", "/leads/L2/assign", Who::ManagerEmea)
                .key("r7")
                .body(json!({ "rep_id": "rep-ana" })),
            428,
            "precondition-required",
        ),
    ];
    for (call, status, kind) in cases {
        let reply = call.send(&api).await;
        assert_eq!(reply.status, status, "{}", reply.text);
        let problem = reply.json();
        assert_eq!(
            problem["type"],
            format!("https://lead-journey.dev/problems/{kind}")
        );
        if status == 422 {
            assert_eq!(problem["errors"][0]["field"], "/rep_id");
        }
    }
    room_for_ana(&api).await;
    let first = l2(Who::ManagerEmea, "r8", 2, "rep-ana").send(&api).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let same = l2(Who::ManagerEmea, "r9", 3, "rep-ana").send(&api).await;
    assert_eq!(same.status, 409, "naming the owner again: {}", same.text);
    assert_eq!(
        same.json()["type"],
        "https://lead-journey.dev/problems/stage-conflict"
    );
}
