//! Routing through the API: a lead's recorded decisions, the dry run, and the overflow queue.
//!
//! The pool is set up the way an admin would, through the API: three reps, rep-ana available,
//! rep-bo out of office, rep-cy at their open-lead cap. Every expected decision below is
//! written out by hand from that setup, not read back from the router.

use crate::harness::{now, Api, Who};
use lifecycle::{routing::RouteRequest, sla::LeadKind, LeadId, Timestamp};
use ports::{Commit, Document, DocumentWrite, Expect};
use routing::{RouteOutcome, Router};
use serde_json::{json, Value};

/// When rep-bo is back.
const BO_BACK: &str = "2030-01-12T00:00:00Z";

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// rep-cy joins; rep-bo goes out of office over "now"; rep-cy holds one open lead against a
/// cap of one; the pool `inbound` holds all three and names u-mgr-emea its manager.
async fn three_rep_pool(api: &Api) {
    api.seed_rep("rep-cy", "emea").await;
    let away = api
        .call("PUT", "/reps/rep-bo/availability", Who::Admin)
        .if_match(1)
        .body(json!({ "out_of_office": [{ "from": "2030-01-09T00:00:00Z", "to": BO_BACK }] }))
        .send(api)
        .await;
    assert_eq!(away.status, 200, "{}", away.text);
    let config = api
        .call("PUT", "/config/routing", Who::Admin)
        .if_match(0)
        .body(json!({
            "pools": [{ "id": "inbound", "overflow_queue": "inbound-overflow",
                "manager": "u-mgr-emea",
                "members": [{ "rep": "rep-ana" }, { "rep": "rep-bo" },
                    { "rep": "rep-cy", "max_open": 1 }] }],
            "default_pool": "inbound" }))
        .send(api)
        .await;
    assert_eq!(config.status, 200, "{}", config.text);
    api.put_document("rep_load", "rep-cy", json!({ "open_leads": 1 }))
        .await;
}

/// rep-ana leaves the pool's eligible reps too (inactive), so nobody can take a lead.
async fn nobody_eligible(api: &Api) {
    let ana = json!({ "team": "emea", "active": false, "pools": ["inbound"] });
    api.put_document("rep", "rep-ana", ana).await;
}

fn router(api: &Api) -> Router {
    Router::new(api.store.clone(), api.store.clone(), api.store.clone())
}

async fn route(api: &Api, lead: &str, when: Timestamp) -> RouteOutcome {
    let request = RouteRequest {
        lead: LeadId::new(lead),
        cycle: 1,
        lead_kind: LeadKind::Behavioural,
        requested_at: when,
        reassignment: None,
    };
    router(api).route(&request, when).await.unwrap()
}

async fn unowned_mql(api: &Api, id: &str) {
    api.seed_lead(id, None, "google", at("2030-01-08T09:00:00Z"))
        .await;
}

/// The candidates of the three-rep pool, as the setup makes them.
fn expected_candidates(ana_excluded: Option<Value>) -> Vec<(String, Value)> {
    vec![
        ("rep-ana".into(), ana_excluded.unwrap_or(Value::Null)),
        (
            "rep-bo".into(),
            json!([{ "reason": "out_of_office", "until": BO_BACK }]),
        ),
        (
            "rep-cy".into(),
            json!([{ "reason": "open_lead_cap", "cap": 1, "open_leads": 1 }]),
        ),
    ]
}

fn candidates(decision: &Value) -> Vec<(String, Value)> {
    decision["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["role"], "member");
            (c["rep"].as_str().unwrap().to_owned(), c["excluded"].clone())
        })
        .collect()
}

/// Every row of every table of the store's file, as text.
fn everything(path: &std::path::Path) -> Vec<String> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(path, flags).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut found = stmt.query([]).unwrap();
        while let Some(row) = found.next().unwrap() {
            let values: Vec<String> = (0..columns)
                .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                .collect();
            rows.push(format!("{table}: {}", values.join(" | ")));
        }
    }
    rows
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_names_the_rep_routing_then_picks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journey.db");
    let api = Api::on_file(&path).await;
    three_rep_pool(&api).await;
    unowned_mql(&api, "L2").await;
    let before = everything(&path);

    let dry = api
        .call("GET", "/leads/L2/routing/dry-run", Who::ManagerEmea)
        .send(&api)
        .await;

    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(everything(&path), before, "a dry run stores nothing");
    let body = dry.json();
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["as_of"], "2030-01-10T12:00:00Z");
    assert_eq!(body["stage"], "mql");
    let decision = &body["decision"];
    assert_eq!(decision["pool"], "inbound");
    assert_eq!(
        decision["outcome"],
        json!({ "to": "rep", "rep": "rep-ana" })
    );
    assert_eq!(decision["tie_break"], json!({ "by": "earliest_turn" }));
    assert_eq!(candidates(decision), expected_candidates(None));

    let routed = route(&api, "L2", now()).await;
    assert_eq!(routed, RouteOutcome::Assigned("rep-ana".into()));
    assert_ne!(everything(&path), before, "the real routing does store");
}

#[tokio::test]
async fn a_leads_decisions_are_listed_newest_first_with_every_exclusion() {
    let api = Api::new().await;
    three_rep_pool(&api).await;
    unowned_mql(&api, "L2").await;
    route(&api, "L2", now()).await;
    // A later decision of the same lead, as a reassignment would store it.
    let later = json!({
        "facts": { "lead": "L2" }, "pool": "inbound",
        "outcome": { "to": "overflow", "queue": "inbound-overflow" },
        "candidates": [], "tie_break": { "by": "nobody" },
        "decided_at": "2030-01-10T13:00:00Z" });
    api.put_document("routing_decision", "L2:1:1", later).await;
    // Another lead whose id starts with this one's and a `:` shares the key prefix.
    api.put_document("routing_decision", "L2:x:1:0", json!({}))
        .await;

    let page = api
        .call("GET", "/leads/L2/routing", Who::Marketing)
        .send(&api)
        .await;

    assert_eq!(page.status, 200, "{}", page.text);
    let body = page.json();
    let items = body["items"].as_array().unwrap();
    let order: Vec<(u64, u64)> = items
        .iter()
        .map(|d| (d["cycle"].as_u64().unwrap(), d["attempt"].as_u64().unwrap()))
        .collect();
    assert_eq!(order, vec![(1, 1), (1, 0)], "newest first");
    let first = &items[1];
    assert_eq!(first["decided_at"], "2030-01-10T12:00:00Z");
    assert_eq!(first["pool"], "inbound");
    assert_eq!(first["outcome"], json!({ "to": "rep", "rep": "rep-ana" }));
    assert_eq!(first["tie_break"], json!({ "by": "earliest_turn" }));
    assert_eq!(candidates(first), expected_candidates(None));
    assert_eq!(body["next_cursor"], Value::Null);

    let one = api
        .call("GET", "/leads/L2/routing?limit=1", Who::Admin)
        .send(&api)
        .await
        .json();
    let cursor = one["next_cursor"].as_str().unwrap();
    let rest = api
        .call(
            "GET",
            &format!("/leads/L2/routing?cursor={cursor}"),
            Who::Admin,
        )
        .send(&api)
        .await
        .json();
    assert_eq!(one["items"][0]["attempt"], 1);
    assert_eq!(rest["items"][0]["attempt"], 0);
    assert_eq!(rest["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_overflow_queue_lists_waiting_leads_oldest_first_with_why() {
    let api = Api::new().await;
    three_rep_pool(&api).await;
    nobody_eligible(&api).await;
    unowned_mql(&api, "L2").await;
    unowned_mql(&api, "L3").await;
    let (early, late) = (at("2030-01-10T10:00:00Z"), now());
    // Queued in the opposite order to their keys, so the order seen is the queue's.
    assert_eq!(
        route(&api, "L2", late).await,
        RouteOutcome::Overflowed("inbound-overflow".into())
    );
    route(&api, "L3", early).await;

    let first = api
        .call("GET", "/overflow?limit=1", Who::ManagerEmea)
        .send(&api)
        .await;

    assert_eq!(first.status, 200, "{}", first.text);
    let first = first.json();
    let entry = &first["items"][0];
    assert_eq!(entry["lead_id"], "L3", "oldest first");
    assert_eq!(entry["pool"], "inbound");
    assert_eq!(entry["queue"], "inbound-overflow");
    assert_eq!(entry["queued_at"], "2030-01-10T10:00:00Z");
    assert_eq!(entry["cause"]["kind"], "nobody_eligible");
    assert_eq!(entry["cause"]["decision"], "L3:1:0");
    assert_eq!(
        candidates(&entry["cause"]),
        expected_candidates(Some(json!([{ "reason": "inactive" }])))
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = api
        .call("GET", &format!("/overflow?cursor={cursor}"), Who::Admin)
        .send(&api)
        .await
        .json();
    let ids: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["lead_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["L2"]);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(second["truncated"], false);
}

#[tokio::test]
async fn a_lead_someone_acted_on_leaves_the_listing_and_managers_see_their_pools() {
    let api = Api::new().await;
    three_rep_pool(&api).await;
    nobody_eligible(&api).await;
    unowned_mql(&api, "L2").await;
    unowned_mql(&api, "L3").await;
    route(&api, "L2", now()).await;
    route(&api, "L3", now()).await;
    // The sweep's kind of entry, for a lead it took from rep-ana.
    let escalated = json!({ "queue": "inbound-overflow", "pool": "inbound", "lead": "L1",
        "cycle": 1, "queued_at": "2030-01-10T09:00:00Z",
        "cause": { "kind": "sla_escalation", "clock": "c-1", "owner": "rep-ana" } });
    api.seed_lead("L1", None, "google", at("2030-01-08T09:00:00Z"))
        .await;
    put_indexed(
        &api,
        "inbound-overflow:L1",
        escalated,
        "2030-01-10T09:00:00.000Z",
    )
    .await;

    let disqualified = api
        .call("POST", "/leads/L3/disqualify", Who::Admin)
        .key("dq-l3")
        .if_match(2)
        .body(json!({ "reason": "no_budget" }))
        .send(&api)
        .await;
    assert_eq!(disqualified.status, 200, "{}", disqualified.text);

    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["lead_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let emea = api
        .call("GET", "/overflow", Who::ManagerEmea)
        .send(&api)
        .await;
    let amer = api
        .call("GET", "/overflow", Who::ManagerAmer)
        .send(&api)
        .await;
    assert_eq!(ids(&emea.json()), vec!["L1", "L2"], "L3 no longer waits");
    assert_eq!(
        emea.json()["items"][0]["cause"],
        json!({ "kind": "sla_escalation", "clock": "c-1", "owner": "rep-ana" })
    );
    assert!(ids(&amer.json()).is_empty(), "inbound is not amer's pool");
}

async fn put_indexed(api: &Api, key: &str, body: Value, index: &str) {
    let doc = Document {
        collection: "overflow".into(),
        key: key.into(),
        version: 1,
        index: Some(index.into()),
        body,
        expires_at: None,
    };
    api.commit(Commit {
        documents: vec![DocumentWrite::Put {
            doc,
            expect: Expect::Absent,
        }],
        ..Commit::default()
    })
    .await;
}

#[tokio::test]
async fn routing_reads_refuse_what_they_cannot_answer() {
    let api = Api::new().await;
    api.seed_l1().await;
    let get = |path: &str, who| api.call("GET", path, who);

    let cases = [
        (get("/leads/nope/routing", Who::Admin), 404),
        (get("/leads/nope/routing/dry-run", Who::Admin), 404),
        // No routing configuration is stored: nothing to route by, and not our failure.
        (get("/leads/L1/routing/dry-run", Who::Admin), 404),
        (get("/leads/L1/routing?cursor=!!", Who::Admin), 400),
        (get("/overflow?cursor=e30", Who::Admin), 400),
        (get("/leads/L1/routing?limit=0", Who::Admin), 400),
        (get("/leads/L1/routing?colour=red", Who::Admin), 400),
        (get("/leads/L1/routing/dry-run?pool=x", Who::Admin), 400),
        (get("/overflow?pool=inbound", Who::Admin), 400),
        (get("/overflow", Who::Admin), 200),
        (get("/leads/L1/routing", Who::RepAna), 200),
        (get("/leads/L1/routing/dry-run", Who::RepAna), 403),
    ];
    for (call, status) in cases {
        let reply = call.send(&api).await;
        assert_eq!(reply.status, status, "{}", reply.text);
        if status != 200 {
            assert_eq!(
                reply.header("content-type"),
                Some("application/problem+json")
            );
        }
    }
}

#[tokio::test]
async fn a_page_that_examined_its_share_of_stale_entries_comes_back_short_with_a_cursor() {
    let api = Api::new().await;
    three_rep_pool(&api).await;
    nobody_eligible(&api).await;
    // 205 entries whose leads do not exist, queued before one that waits.
    for n in 0..205 {
        let body = json!({ "queue": "inbound-overflow", "pool": "inbound", "lead": format!("gone-{n:03}"),
            "cycle": 1, "queued_at": "2030-01-01T00:00:00Z" });
        let index = format!("2030-01-01T00:00:00.{n:03}Z");
        put_indexed(&api, &format!("inbound-overflow:gone-{n:03}"), body, &index).await;
    }
    unowned_mql(&api, "L2").await;
    route(&api, "L2", now()).await;

    let first = api
        .call("GET", "/overflow", Who::Admin)
        .send(&api)
        .await
        .json();
    let cursor = first["next_cursor"].as_str().expect("more to examine");
    let second = api
        .call("GET", &format!("/overflow?cursor={cursor}"), Who::Admin)
        .send(&api)
        .await
        .json();

    assert_eq!(first["items"], json!([]), "200 examined, none waiting");
    assert_eq!(second["items"][0]["lead_id"], "L2");
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(second["truncated"], false);
}
