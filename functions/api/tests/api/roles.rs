//! The role matrix: every endpoint × every caller → the status the rules in `api::auth` say.
//!
//! Each cell runs on a fresh API holding rep-ana (team emea), rep-bo (team amer) and lead L1,
//! an MQL owned by rep-ana at version 1, so no cell sees another cell's writes.

use crate::harness::{Api, Who};
use serde_json::{json, Value};

struct Row {
    method: &'static str,
    /// The route template, to check that every route is covered.
    template: &'static str,
    path: &'static str,
    /// `If-Match` to send, if any.
    if_match: Option<u64>,
    body: Option<Value>,
    /// Store a routing configuration first (a pool of rep-ana and rep-bo).
    routing: bool,
    /// Admin, Marketing, ManagerEmea, ManagerAmer, RepAna, RepBo, Nobody.
    expect: [u16; 7],
}

/// The shipped rule set, without its version (the API fills in the next one).
fn rule_set() -> Value {
    let mut rules = serde_json::to_value(lifecycle::scoring::default_rules()).unwrap();
    rules.as_object_mut().unwrap().remove("version");
    rules
}

fn row(method: &'static str, template: &'static str, path: &'static str, expect: [u16; 7]) -> Row {
    Row {
        method,
        template,
        path,
        if_match: None,
        body: None,
        routing: false,
        expect,
    }
}

/// A read that needs a routing configuration to answer.
fn routed(template: &'static str, path: &'static str, expect: [u16; 7]) -> Row {
    Row {
        routing: true,
        ..row("GET", template, path, expect)
    }
}

fn write(
    method: &'static str,
    template: &'static str,
    path: &'static str,
    version: u64,
    body: Value,
    expect: [u16; 7],
) -> Row {
    Row {
        method,
        template,
        path,
        if_match: Some(version),
        body: Some(body),
        routing: false,
        expect,
    }
}

fn matrix() -> Vec<Row> {
    let act = [200, 403, 200, 403, 200, 403, 401];
    let read_lead = [200, 200, 200, 200, 200, 403, 401];
    let staff = [200, 200, 200, 200, 403, 403, 401];
    let admin_only = [200, 403, 403, 403, 403, 403, 401];
    vec![
        row("GET", "/openapi.json", "/openapi.json", [200; 7]),
        row(
            "GET",
            "/leads",
            "/leads",
            [200, 200, 200, 200, 200, 200, 401],
        ),
        row("GET", "/leads/{id}", "/leads/L1", read_lead),
        row(
            "GET",
            "/leads/{id}/timeline",
            "/leads/L1/timeline",
            read_lead,
        ),
        row("GET", "/leads/{id}/score", "/leads/L1/score", read_lead),
        write(
            "POST",
            "/leads/{id}/accept",
            "/leads/L1/accept",
            1,
            json!({}),
            act,
        ),
        write(
            "POST",
            "/leads/{id}/reject",
            "/leads/L1/reject",
            1,
            json!({ "reason": "not_ready", "feedback": "later" }),
            act,
        ),
        write(
            "POST",
            "/leads/{id}/qualify",
            "/leads/L1/qualify",
            1,
            json!({ "opportunity_amount": 5000 }),
            act,
        ),
        write(
            "POST",
            "/leads/{id}/disqualify",
            "/leads/L1/disqualify",
            1,
            json!({ "reason": "no_budget" }),
            act,
        ),
        write(
            "POST",
            "/leads/{id}/recycle",
            "/leads/L1/recycle",
            1,
            json!({ "reason": "nurture" }),
            act,
        ),
        row("GET", "/leads/{id}/routing", "/leads/L1/routing", read_lead),
        routed(
            "/leads/{id}/routing/dry-run",
            "/leads/L1/routing/dry-run",
            [200, 403, 200, 403, 403, 403, 401],
        ),
        // rep-di (team emea, stored with the routing configuration) is active: admins and the
        // owner's manager move L1 to her; reps never assign.
        Row {
            routing: true,
            ..write(
                "POST",
                "/leads/{id}/assign",
                "/leads/L1/assign",
                1,
                json!({ "rep_id": "rep-di" }),
                [200, 403, 200, 403, 403, 403, 401],
            )
        },
        row(
            "GET",
            "/overflow",
            "/overflow",
            [200, 403, 200, 200, 403, 403, 401],
        ),
        row("DELETE", "/leads/{id}", "/leads/L1", admin_only),
        row(
            "GET",
            "/reports/funnel",
            "/reports/funnel?from=2030-01-01&to=2030-02-01&group_by=source",
            staff,
        ),
        row(
            "GET",
            "/reports/funnel.html",
            "/reports/funnel.html?from=2030-01-01&to=2030-02-01",
            staff,
        ),
        row(
            "GET",
            "/reports/plan",
            "/reports/plan?target_revenue=100000&deal_size=10000&win_rate=0.25",
            staff,
        ),
        row(
            "GET",
            "/reports/roi",
            "/reports/roi?from=2030-01&to=2030-02",
            staff,
        ),
        row(
            "GET",
            "/reports/costs",
            "/reports/costs?from=2030-01&to=2030-02",
            staff,
        ),
        write(
            "POST",
            "/reports/costs",
            "/reports/costs",
            0,
            json!({ "costs": [{ "campaign": "spring", "month": "2030-01", "amount": 100 }] }),
            [200, 200, 403, 403, 403, 403, 401],
        ),
        // No report stored: staff get past the role check to a 404.
        row(
            "GET",
            "/reports/scheduled/{id}",
            "/reports/scheduled/weekly",
            [404, 404, 404, 404, 403, 403, 401],
        ),
        row("GET", "/config", "/config", staff),
        row("GET", "/config/{kind}", "/config/scoring_rules", staff),
        row(
            "GET",
            "/config/{kind}/versions/{version}",
            "/config/scoring_rules/versions/1",
            [404, 404, 404, 404, 403, 403, 401],
        ),
        write(
            "PUT",
            "/config/{kind}",
            "/config/scoring_rules",
            0,
            rule_set(),
            [200, 200, 403, 403, 403, 403, 401],
        ),
        write(
            "PUT",
            "/config/{kind}",
            "/config/routing",
            0,
            json!({ "pools": [{ "id": "inbound", "members": [{ "rep": "rep-ana" }],
                "overflow_queue": "inbound-overflow" }], "default_pool": "inbound" }),
            admin_only,
        ),
        row(
            "GET",
            "/config/calendars/{id}",
            "/config/calendars/default",
            staff,
        ),
        write(
            "PUT",
            "/config/calendars/{id}",
            "/config/calendars/emea",
            0,
            json!({ "time_zone": "Europe/Berlin",
                "weekly": { "mon": [{ "from": "09:00", "to": "17:00" }] } }),
            admin_only,
        ),
        row(
            "GET",
            "/config/calendars/{id}/versions/{version}",
            "/config/calendars/emea/versions/1",
            [404, 404, 404, 404, 403, 403, 401],
        ),
        row("GET", "/reps", "/reps", [200, 200, 200, 200, 200, 200, 401]),
        row(
            "GET",
            "/reps/{id}",
            "/reps/rep-ana",
            [200, 200, 200, 200, 200, 403, 401],
        ),
        write(
            "PUT",
            "/reps/{id}",
            "/reps/rep-cy",
            0,
            json!({ "team": "emea" }),
            admin_only,
        ),
        write(
            "PUT",
            "/reps/{id}/availability",
            "/reps/rep-ana/availability",
            1,
            json!({ "out_of_office": [{ "from": "2030-02-01T00:00:00Z", "to": "2030-02-08T00:00:00Z" }] }),
            [200, 403, 200, 403, 200, 403, 401],
        ),
    ]
}

#[tokio::test]
async fn every_endpoint_answers_every_role_as_the_rules_say() {
    let mut wrong = Vec::new();
    for r in matrix() {
        for (who, expected) in Who::ALL.into_iter().zip(r.expect) {
            let api = Api::new().await;
            api.seed_l1().await;
            if r.routing {
                store_routing(&api).await;
            }
            let mut call = api.call(r.method, r.path, who).key("matrix");
            if let Some(v) = r.if_match {
                call = call.if_match(v);
            }
            if let Some(b) = &r.body {
                call = call.body(b.clone());
            }
            let reply = call.send(&api).await;
            if reply.status != expected {
                wrong.push(format!(
                    "{} {} as {who:?}: {} (wanted {expected}) {}",
                    r.method, r.path, reply.status, reply.text
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

async fn store_routing(api: &Api) {
    api.seed_rep("rep-di", "emea").await;
    let config = json!({ "pools": [{ "id": "inbound", "overflow_queue": "inbound-overflow",
        "members": [{ "rep": "rep-ana" }, { "rep": "rep-bo" }] }], "default_pool": "inbound" });
    let reply = api
        .call("PUT", "/config/routing", Who::Admin)
        .if_match(0)
        .body(config)
        .send(api)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[test]
fn the_matrix_covers_every_route() {
    let covered: Vec<(&str, &str)> = matrix().iter().map(|r| (r.method, r.template)).collect();
    for (method, path, _) in api::router::ROUTES {
        assert!(
            covered.contains(&(*method, *path)),
            "{method} {path} is not in the matrix"
        );
    }
}

#[tokio::test]
async fn a_rep_lists_only_their_own_leads_and_cannot_ask_for_anothers() {
    let api = Api::new().await;
    api.seed_l1().await;
    api.seed_lead(
        "L2",
        Some("rep-bo"),
        "bing",
        "2030-01-03T09:00:00Z".parse().unwrap(),
    )
    .await;

    let ana = api
        .call("GET", "/leads", Who::RepAna)
        .send(&api)
        .await
        .json();
    let bo = api
        .call("GET", "/leads", Who::RepBo)
        .send(&api)
        .await
        .json();
    let snoop = api
        .call("GET", "/leads?owner=rep-bo", Who::RepAna)
        .send(&api)
        .await;

    let ids = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&ana), vec!["L1"]);
    assert_eq!(ids(&bo), vec!["L2"]);
    assert_eq!(snoop.status, 403);
}
