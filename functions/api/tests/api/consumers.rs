//! Each configuration kind, replaced through the API, is what its consumer then uses: the
//! router assigns per the pools just stored, the scorer writes the rule just stored into the
//! ledger, the disqualify action accepts only the reasons just stored.
//!
//! Regression: the API once stored pools at `config/pools` and calendars as one list at
//! `config/calendars`, while routing reads `config/routing` and `calendar/<pool>`, so nothing
//! configured through the API reached routing.

use crate::harness::{now, Api, Who};
use lifecycle::{
    routing::{RepAvailability, RouteRequest},
    scoring::{default_rules, ScoreLedger},
    sla::{BusinessCalendar, LeadKind, Zone},
    Activity, ActivityKind, LeadId, RepId,
};
use ports::{Commit, Delivery, Document, DocumentStore, DocumentWrite, Expect};
use routing::{RouteOutcome, Router};
use serde_json::{json, Value};
use std::sync::Arc;

/// Stores what routing reads about a rep. Known gap: the API's own `/reps/{id}` documents are
/// not in routing's `RepAvailability` shape, so the reps are written here directly.
async fn routable_rep(api: &Api, rep: &str) {
    let body = serde_json::to_value(RepAvailability::active(rep)).unwrap();
    api.commit(Commit {
        documents: vec![DocumentWrite::Put {
            doc: Document {
                collection: routing::docs::REP.into(),
                key: rep.into(),
                version: 1,
                index: None,
                body,
                expires_at: None,
            },
            expect: Expect::Absent,
        }],
        ..Commit::default()
    })
    .await;
}

async fn put(api: &Api, path: &str, version: u64, body: Value) -> Value {
    let reply = api
        .call("PUT", path, Who::Admin)
        .if_match(version)
        .body(body)
        .send(api)
        .await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    reply.json()
}

fn pools(member: &str) -> Value {
    json!({ "pools": [{ "id": "inbound", "members": [{ "rep": member }],
        "overflow_queue": "inbound-overflow" }], "default_pool": "inbound" })
}

#[tokio::test]
async fn routing_assigns_by_the_pools_and_calendar_put_through_the_api() {
    let api = Api::new().await;
    for rep in ["rep-cy", "rep-di"] {
        routable_rep(&api, rep).await;
    }
    put(&api, "/config/routing", 0, pools("rep-cy")).await;
    // The replacement, not the first version, is what routing must read.
    let v2 = put(&api, "/config/routing", 1, pools("rep-di")).await;
    assert_eq!(v2["version"], 2);
    let calendar = BusinessCalendar::always_open(Zone::parse("Europe/Berlin").unwrap());
    let stored = put(
        &api,
        "/config/calendars/default",
        0,
        serde_json::to_value(&calendar).unwrap(),
    )
    .await;
    assert_eq!(
        (stored["id"].as_str(), stored["version"].as_u64()),
        (Some("default"), Some(1))
    );
    put(
        &api,
        "/config/sla_policies",
        0,
        json!({ "policies": [{ "id": "hand_raiser_accept", "clock": "rep_response",
            "stage": "mql", "lead_kind": "hand_raiser", "target_minutes": 15 }] }),
    )
    .await;

    let created = now() - chrono::Duration::hours(2);
    api.seed_lead("L9", None, "google", created).await;
    let store = Arc::new(api.store.as_ref().clone());
    let router = Router::new(store.clone(), store.clone(), store);
    let mql_at = created + chrono::Duration::hours(1);
    let request = RouteRequest {
        lead: LeadId::new("L9"),
        cycle: 1,
        lead_kind: LeadKind::HandRaiser,
        requested_at: mql_at,
        reassignment: None,
    };
    let outcome = router.route(&request, now()).await.unwrap();
    assert_eq!(outcome, RouteOutcome::Assigned(RepId::new("rep-di")));
}

#[tokio::test]
async fn the_old_pools_shape_is_refused_with_the_field_named() {
    let api = Api::new().await;
    let reply = api
        .call("PUT", "/config/routing", Who::Admin)
        .if_match(0)
        .body(json!({ "pools": [{ "id": "inbound", "reps": ["rep-ana"] }] }))
        .send(&api)
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    let error = &reply.json()["errors"][0];
    assert_eq!(error["field"], "/pools/0");
    assert!(
        error["detail"]
            .as_str()
            .or(error["message"].as_str())
            .unwrap_or_default()
            .contains("`members`"),
        "{error}"
    );
    let gone = api
        .call("GET", "/config/pools", Who::Admin)
        .send(&api)
        .await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn the_scorer_writes_the_rule_put_through_the_api_into_the_ledger() {
    let api = Api::new().await;
    let mut rules = serde_json::to_value(default_rules()).unwrap();
    rules.as_object_mut().unwrap().remove("version");
    let pricing = rules["rules"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["id"] == "pricing_view")
        .unwrap();
    pricing["points"] = json!(7);
    pricing.as_object_mut().unwrap().remove("cap");
    let stored = put(&api, "/config/scoring_rules", 0, rules).await;
    assert_eq!(stored["body"]["version"], 2, "the next after the shipped 1");

    api.seed_l1().await;
    let activity = Activity {
        id: "act-pricing".into(),
        lead_id: LeadId::new("L1"),
        kind: ActivityKind::PricingViewed,
        occurred_at: now() - chrono::Duration::minutes(5),
        hand_raiser: false,
        attributes: Default::default(),
    };
    api.commit(Commit {
        activities: vec![activity],
        ..Commit::default()
    })
    .await;
    let store = Arc::new(api.store.as_ref().clone());
    let scorer = scoring::Scorer {
        store: store.clone(),
        docs: store.clone(),
        queue: store,
        clock: Arc::new(ports::ManualClock::new(now())),
    };
    let delivery = Delivery {
        id: "m1".into(),
        body: json!({ "lead_id": "L1", "activity_id": "act-pricing" }).to_string(),
        receive_count: 1,
        receipt: "r1".into(),
    };
    let report = scorer.handle_batch(&[delivery]).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    let doc = api.store.get("score_ledger", "L1").await.unwrap().unwrap();
    let ledger: ScoreLedger = serde_json::from_value(doc.body).unwrap();
    let entry = ledger
        .entries
        .iter()
        .find(|e| e.rule_id == "pricing_view")
        .expect("the pricing rule scored");
    assert_eq!((entry.points, entry.rule_version), (7.0, 2));
    // Scoring's own history holds the version the entry names.
    let kept = api
        .store
        .get("scoring_rules_history", "v000002")
        .await
        .unwrap();
    assert!(kept.is_some());
}

#[tokio::test]
async fn disqualify_accepts_exactly_the_reasons_put_through_the_api() {
    let api = Api::new().await;
    api.seed_l1().await;
    put(
        &api,
        "/config/disqualification_reasons",
        0,
        json!({ "reasons": [{ "code": "wrong_region", "label": "Outside our regions" }] }),
    )
    .await;
    let shipped = api
        .call("POST", "/leads/L1/disqualify", Who::Admin)
        .key("dq-1")
        .if_match(1)
        .body(json!({ "reason": "no_budget" }))
        .send(&api)
        .await;
    assert_eq!(shipped.status, 422, "{}", shipped.text);
    let configured = api
        .call("POST", "/leads/L1/disqualify", Who::Admin)
        .key("dq-2")
        .if_match(1)
        .body(json!({ "reason": "wrong_region" }))
        .send(&api)
        .await;
    assert_eq!(configured.status, 200, "{}", configured.text);
}

#[tokio::test]
async fn report_schedules_are_stored_where_the_rollup_reads_them() {
    let api = Api::new().await;
    put(
        &api,
        "/config/report_schedules",
        0,
        json!({ "schedules": [{ "id": "weekly", "weekday": "Mon", "at": "08:00:00",
            "zone": "Europe/Berlin", "group_by": "source",
            "target": { "kind": "slack", "url": "https://hooks.example/T/B/x" } }] }),
    )
    .await;
    let (collection, key) = funnel_rollup::scheduled::CONFIG;
    let doc = api.store.get(collection, key).await.unwrap().unwrap();
    let schedules: funnel_rollup::schedule::ReportSchedules =
        serde_json::from_value(doc.body).unwrap();
    assert!(schedules.problems().is_empty());
    assert_eq!(doc.version, 1);
}

/// Regression: a 4.9 MB list of reasons was accepted (and on DynamoDB, whose items stop at
/// 400 KB, would have failed after validation). A document over 256 KiB is a 422 and stores
/// nothing; one just under is taken.
#[tokio::test]
async fn a_configuration_document_too_large_for_one_item_is_refused() {
    let api = Api::new().await;
    let reasons = |n: usize| {
        let list: Vec<Value> = (0..n)
            .map(|i| json!({ "code": format!("reason_{i:06}"), "label": "A reason" }))
            .collect();
        json!({ "reasons": list })
    };
    // Each reason is 44 bytes of compact JSON with its comma; 6,000 of them some 264,000.
    let big = reasons(6_000);
    assert!(serde_json::to_vec(&big).unwrap().len() > 256 * 1024);
    let r = api
        .call("PUT", "/config/disqualification_reasons", Who::Admin)
        .if_match(0)
        .body(big)
        .send(&api)
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("at most 262144"), "{}", r.text);
    let stored = api
        .call("GET", "/config/disqualification_reasons", Who::Admin)
        .send(&api)
        .await;
    assert_eq!(stored.header("etag"), Some("\"0\""), "nothing stored");

    let r = api
        .call("PUT", "/config/disqualification_reasons", Who::Admin)
        .if_match(0)
        .body(reasons(100))
        .send(&api)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Form settings are decoded as the form webhook reads them (its `StoredForms`): a provider,
/// a slot or a country that does not exist is a 422 naming the field, and nothing is stored.
#[tokio::test]
async fn form_settings_are_validated_as_the_webhook_reads_them() {
    let api = Api::new().await;
    let form = |provider: &str, slot: &str, country: &str| {
        json!({ "mappings": [{ "provider": provider, "form": "f1", "fields": { "q1": slot },
            "country": country }] })
    };
    let put = |body: Value| {
        api.call("PUT", "/config/form_mappings", Who::Admin)
            .if_match(0)
            .body(body)
    };

    let cases = [
        // The entry's settings are read flattened, so serde names the entry, and the message
        // the slot (`unknown variant \`e-mail\``).
        (form("typeform", "e-mail", "DE"), "/mappings/0"),
        (form("formstack", "email", "DE"), "/mappings/0/provider"),
        (form("typeform", "email", "Germany"), "/mappings/0/country"),
        (
            json!({ "mappings": [{ "provider": "typeform", "form": "f1", "hand_raisr": true }] }),
            "/mappings/0/hand_raisr",
        ),
    ];
    for (body, field) in cases {
        let r = put(body).send(&api).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json()["errors"][0]["field"], field, "{}", r.text);
    }

    let ok = put(form("typeform", "email", "DE")).send(&api).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}
