//! Reads: pagination, filters, problem documents, configuration documents, reports and plan.

use crate::harness::{Api, Who};
use chrono::Duration;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn leads_come_in_bounded_pages_that_cover_every_lead_once() {
    let api = Api::new().await;
    let start: lifecycle::Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
    for i in 0..23 {
        let source = if i % 2 == 0 { "google" } else { "bing" };
        api.seed_lead(
            &format!("L{i:02}"),
            Some("rep-ana"),
            source,
            start + Duration::hours(i),
        )
        .await;
    }

    let mut seen = Vec::new();
    let mut path = "/leads?limit=10&source=google".to_owned();
    let mut pages = 0;
    loop {
        let page = api
            .call("GET", &path, Who::Marketing)
            .send(&api)
            .await
            .json();
        pages += 1;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/leads?limit=10&source=google&cursor={c}"),
            None => break,
        }
    }

    let expected: Vec<String> = (0..23)
        .rev()
        .filter(|i| i % 2 == 0)
        .map(|i| format!("L{i:02}"))
        .collect();
    assert_eq!(seen, expected, "newest first, each once");
    assert_eq!(pages, 2);
}

#[tokio::test]
async fn list_filters_by_stage_owner_and_creation_date() {
    let api = Api::new().await;
    api.seed_l1().await;
    api.seed_lead(
        "L2",
        Some("rep-bo"),
        "bing",
        "2030-01-05T09:00:00Z".parse().unwrap(),
    )
    .await;
    api.call("POST", "/leads/L1/accept", Who::RepAna)
        .key("a")
        .if_match(1)
        .send(&api)
        .await;

    let sal = api
        .call("GET", "/leads?stage=sal", Who::Admin)
        .send(&api)
        .await
        .json();
    let bo = api
        .call("GET", "/leads?owner=rep-bo", Who::Admin)
        .send(&api)
        .await
        .json();
    let early = api
        .call("GET", "/leads?from=2030-01-01&to=2030-01-04", Who::Admin)
        .send(&api)
        .await
        .json();

    assert_eq!(ids(&sal), vec!["L1"]);
    assert_eq!(ids(&bo), vec!["L2"]);
    assert_eq!(ids(&early), vec!["L1"]);
}

#[tokio::test]
async fn bad_requests_get_problem_documents_that_say_what_was_wrong() {
    let api = Api::new().await;
    let cases = [
        ("/leads?limit=101", 400, "bad-request", "limit"),
        ("/leads?limit=0", 400, "bad-request", "limit"),
        ("/leads?stage=opportunity", 400, "bad-request", "stage"),
        ("/leads?cursor=%21%21", 400, "bad-request", "cursor"),
        // Well-formed cursors we never issued: a store cursor the store cannot read (once a
        // 500), and a position past the end of a store page.
        (
            "/leads?cursor=eyJzdG9yZSI6IngiLCJza2lwIjowfQ",
            400,
            "bad-request",
            "cursor",
        ),
        (
            "/leads?cursor=eyJzdG9yZSI6bnVsbCwic2tpcCI6MTAwMH0",
            400,
            "bad-request",
            "cursor",
        ),
        ("/leads?from=yesterday", 400, "bad-request", "from"),
        ("/nowhere", 404, "not-found", "path"),
        ("/config/colours", 404, "not-found", "colours"),
        (
            "/reports/funnel?group_by=planet",
            400,
            "bad-request",
            "group_by",
        ),
        (
            "/reports/plan?deal_size=1&win_rate=0.5",
            400,
            "bad-request",
            "target_revenue",
        ),
        (
            "/reports/plan?target_revenue=1&deal_size=1&win_rate=2",
            422,
            "validation-failed",
            "",
        ),
    ];
    for (path, status, kind, mentions) in cases {
        let r = api.call("GET", path, Who::Admin).send(&api).await;
        assert_eq!(r.status, status, "{path}: {}", r.text);
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{path}"
        );
        let p = r.json();
        assert_eq!(
            p["type"],
            format!("https://lead-journey.dev/problems/{kind}"),
            "{path}"
        );
        assert!(
            p["detail"].as_str().unwrap().contains(mentions),
            "{path}: {}",
            p["detail"]
        );
        assert!(p["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    }

    let wrong_method = api.call("PATCH", "/leads", Who::Admin).send(&api).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET"));
}

#[tokio::test]
async fn configuration_is_validated_versioned_and_used() {
    let api = Api::new().await;
    api.seed_l1().await;
    let reasons = json!({ "reasons": [{ "code": "too_small", "label": "Too small" }] });

    let invalid = api
        .call("PUT", "/config/disqualification_reasons", Who::Admin)
        .if_match(0)
        .body(json!({ "reasons": [{ "code": "Too Small" }] }))
        .send(&api)
        .await;
    let v1 = api
        .call("PUT", "/config/disqualification_reasons", Who::Admin)
        .if_match(0)
        .body(reasons.clone())
        .send(&api)
        .await;
    let stale = api
        .call("PUT", "/config/disqualification_reasons", Who::Admin)
        .if_match(0)
        .body(reasons.clone())
        .send(&api)
        .await;
    let old_reason = api
        .call("POST", "/leads/L1/disqualify", Who::RepAna)
        .key("d")
        .if_match(1)
        .body(json!({ "reason": "no_budget" }))
        .send(&api)
        .await;
    let history = api
        .call(
            "GET",
            "/config/disqualification_reasons/versions/1",
            Who::ManagerEmea,
        )
        .send(&api)
        .await;

    assert_eq!(invalid.status, 422);
    let fields: BTreeSet<String> = invalid.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from(["/reasons/0/code".to_owned(), "/reasons/0/label".to_owned()])
    );
    assert_eq!((v1.status, v1.header("etag")), (200, Some("\"1\"")));
    assert_eq!(stale.status, 409);
    assert_eq!(stale.json()["current_version"], 1);
    assert_eq!(old_reason.status, 422, "no_budget is no longer configured");
    assert_eq!(history.json()["body"], reasons);
}

#[tokio::test]
async fn the_plan_runs_the_measured_funnel_backwards() {
    let api = Api::new().await;
    for (i, id) in ["P1", "P2", "P3", "P4"].into_iter().enumerate() {
        api.seed_lead(
            id,
            Some("rep-ana"),
            "google",
            "2030-01-02T09:00:00Z"
                .parse::<lifecycle::Timestamp>()
                .unwrap()
                + Duration::hours(i as i64),
        )
        .await;
    }
    for id in ["P1", "P2"] {
        let r = api
            .call("POST", &format!("/leads/{id}/accept"), Who::RepAna)
            .key(&format!("a-{id}"))
            .if_match(1)
            .send(&api)
            .await;
        assert_eq!(r.status, 200);
    }
    api.call("POST", "/leads/P1/qualify", Who::RepAna)
        .key("q")
        .if_match(2)
        .send(&api)
        .await;

    let plan = api
        .call(
            "GET",
            "/reports/plan?target_revenue=100000&months=1&start=2030-02&deal_size=10000\
             &win_rate=0.25&from=2030-01-01&to=2030-01-31",
            Who::ManagerEmea,
        )
        .send(&api)
        .await
        .json();

    // 4 MQLs, 2 accepted, 1 qualified: MQL→SAL 0.5, SAL→SQL 0.5. 100000 / 10000 = 10 deals
    // / 0.25 = 40 SQLs a month, so 80 SALs and 160 MQLs; nobody won, so no won stage.
    assert_eq!(plan["tracked"], json!(["mql", "sal", "sql"]));
    let month = &plan["months"][0];
    assert_eq!(month["month"], "2030-02-01");
    let needed: Vec<Value> = month["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!([s["stage"], s["needed"]]))
        .collect();
    assert_eq!(
        needed,
        [
            json!(["mql", 160]),
            json!(["sal", 80]),
            json!(["sql", 40]),
            json!(["won", 10])
        ]
    );
    let months = 30.0 / 30.4375;
    let mql_rate = month["stages"][0]["run_rate"].as_f64().unwrap();
    assert!((mql_rate - 4.0 / months).abs() < 1e-9, "{mql_rate}");
    assert_eq!(
        plan["win_rate"],
        json!({ "value": 0.25, "source": "given" })
    );
}

#[tokio::test]
async fn a_local_api_refuses_a_bearer_token_it_cannot_verify() {
    let api = Api::new().await;

    let r = api
        .call("GET", "/leads", Who::Admin)
        .header("authorization", "Bearer not-checked-here")
        .send(&api)
        .await;

    assert_eq!(r.status, 401);
    assert_eq!(
        r.json()["type"],
        "https://lead-journey.dev/problems/unauthenticated"
    );
}

#[tokio::test]
async fn a_rep_capacity_may_be_written_as_a_whole_float_but_not_a_fraction() {
    let api = Api::new().await;
    let put = |body: Value| {
        api.call("PUT", "/reps/rep-cy", Who::Admin)
            .if_match(0)
            .body(body)
            .send(&api)
    };

    let fraction = put(json!({ "capacity": 2.5 })).await;
    let whole = put(json!({ "capacity": 25.0 })).await;

    assert_eq!(
        fraction.status, 422,
        "JSON of the wrong type: {}",
        fraction.text
    );
    assert_eq!(fraction.json()["errors"][0]["field"], "/capacity");
    assert_eq!(
        (whole.status, whole.json()["capacity"].as_u64()),
        (200, Some(25))
    );
}

#[tokio::test]
async fn a_typed_parameter_sent_empty_is_refused_not_defaulted() {
    let api = Api::new().await;
    for path in [
        "/reports/funnel?from=",
        "/leads?limit=",
        "/leads?stage=",
        "/reports/funnel?format=",
    ] {
        let r = api.call("GET", path, Who::Admin).send(&api).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
    }
}

#[tokio::test]
async fn an_if_match_at_the_largest_version_is_just_stale() {
    let api = Api::new().await;
    let body = json!({ "reasons": [{ "code": "no_budget", "label": "No budget" }] });

    let config = api
        .call("PUT", "/config/disqualification_reasons", Who::Admin)
        .header("if-match", &format!("\"{}\"", u64::MAX))
        .body(body)
        .send(&api)
        .await;
    let rep = api
        .call("PUT", "/reps/rep-ana", Who::Admin)
        .header("if-match", &format!("\"{}\"", u64::MAX))
        .body(json!({}))
        .send(&api)
        .await;

    assert_eq!((config.status, rep.status), (409, 409));
    assert_eq!(rep.json()["current_version"], 1);
}

#[tokio::test]
async fn a_scheduled_report_is_served_without_its_webhook_url() {
    use ports::JourneyStore;
    let api = Api::new().await;
    let body = json!({
        "schedule": { "id": "weekly", "weekday": "Mon", "at": "08:00:00", "zone": "Europe/Berlin",
                      "group_by": "source",
                      "target": { "kind": "slack", "url": "https://hooks.example/T/B/secret" } },
        "fired_at": "2030-01-07T07:00:00Z",
        "report": { "stub": true },
        "status": "delivered",
        "runs": 1,
    });
    let doc = ports::Document {
        collection: "scheduled_report_latest".into(),
        key: "weekly".into(),
        version: 1,
        index: None,
        body,
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

    let r = api
        .call("GET", "/reports/scheduled/weekly", Who::Marketing)
        .send(&api)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), Some("\"1\""));
    let got = r.json();
    assert_eq!(got["status"], "delivered");
    assert_eq!(got["schedule"]["zone"], "Europe/Berlin");
    assert!(got["schedule"].get("target").is_none(), "{got}");
    assert!(!got.to_string().contains("secret"));
}

#[tokio::test]
async fn report_schedules_are_validated_when_stored() {
    let api = Api::new().await;
    let bad = json!({ "schedules": [
        { "id": "a b", "weekday": "Mon", "at": "08:00:00", "zone": "Mars/Olympus",
          "group_by": "source", "target": { "kind": "slack", "url": "ftp://x/" } }
    ]});
    let r = api
        .call("PUT", "/config/report_schedules", Who::Marketing)
        .if_match(0)
        .body(bad)
        .send(&api)
        .await;
    assert_eq!(r.status, 422);
    let text = r.json().to_string();
    for field in [
        "/schedules/0/id",
        "/schedules/0/zone",
        "/schedules/0/target/url",
    ] {
        assert!(text.contains(field), "{field} missing from {text}");
    }
    let good = json!({ "schedules": [
        { "id": "weekly", "weekday": "Mon", "at": "08:00:00", "zone": "Europe/Berlin",
          "group_by": "source", "target": { "kind": "json", "url": "https://x.example/in" } }
    ]});
    let r = api
        .call("PUT", "/config/report_schedules", Who::Marketing)
        .if_match(0)
        .body(good)
        .send(&api)
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_rep_notification_target_is_validated() {
    let api = Api::new().await;
    let r = api
        .call("PUT", "/reps/rep-new", Who::Admin)
        .if_match(0)
        .body(json!({ "name": "New", "notify": { "kind": "slack", "url": "hooks.slack.com/x" } }))
        .send(&api)
        .await;
    assert_eq!(r.status, 422);
    assert!(r.json().to_string().contains("/notify/url"));
    let r = api
        .call("PUT", "/reps/rep-new", Who::Admin)
        .if_match(0)
        .body(json!({ "name": "New", "notify": { "kind": "slack", "url": "https://hooks.slack.com/x" } }))
        .send(&api)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["notify"]["kind"], "slack");
}

/// Stores the outcome of a rep-response clock of `lead` for `rep` in `team`, started at
/// `start` (due 15 minutes later, always open) and stopped `after` minutes later, as the
/// sales actions store it.
async fn stopped_clock(api: &Api, lead: &str, (rep, team): (&str, &str), start: &str, after: i64) {
    use lifecycle::sla::{
        BusinessCalendar, ClockKind, ClockStart, Escalation, LeadKind, SlaClock, SlaPolicy, Zone,
    };
    let policy = SlaPolicy {
        id: "accept".into(),
        clock: ClockKind::RepResponse,
        stage: lifecycle::Stage::Mql,
        lead_kind: None,
        target_minutes: 15,
        escalation: Escalation::default(),
    };
    let at: lifecycle::Timestamp = start.parse().unwrap();
    let begun = SlaClock::start(
        &policy,
        &BusinessCalendar::always_open(Zone::parse("UTC").unwrap()),
        ClockStart {
            lead: lifecycle::LeadId::new(lead),
            cycle: 1,
            lead_kind: LeadKind::HandRaiser,
            owner: Some(lifecycle::RepId::new(rep)),
            reassignments: 0,
            at,
            pool: Some(team.into()),
        },
    );
    let mut stopped = begun.clone();
    let end = at + Duration::minutes(after);
    stopped.stop(end);
    let dims = lifecycle::transition::Dimensions::default();
    let documents = routing::docs::outcome_writes(Some(&begun), &stopped, &dims, end).unwrap();
    api.commit(ports::Commit {
        documents,
        ..ports::Commit::default()
    })
    .await;
}

#[tokio::test]
async fn the_funnel_report_counts_sla_compliance_per_team_in_json_and_csv() {
    let api = Api::new().await;
    // emea: rep-ana met two of three (5 and 10 minutes; 20 is late); amer: rep-bo met one.
    // A clock due in February is outside the period.
    stopped_clock(&api, "L1", ("rep-ana", "emea"), "2030-01-03T09:00:00Z", 5).await;
    stopped_clock(&api, "L2", ("rep-ana", "emea"), "2030-01-04T09:00:00Z", 10).await;
    stopped_clock(&api, "L3", ("rep-ana", "emea"), "2030-01-05T09:00:00Z", 20).await;
    stopped_clock(&api, "L4", ("rep-bo", "amer"), "2030-01-05T10:00:00Z", 1).await;
    stopped_clock(&api, "L5", ("rep-bo", "amer"), "2030-02-02T10:00:00Z", 1).await;
    let period = "from=2030-01-01T00:00:00Z&to=2030-02-01T00:00:00Z&as_of=2030-02-03T00:00:00Z";

    let json = api
        .call(
            "GET",
            &format!("/reports/funnel?{period}&group_by=team"),
            Who::Marketing,
        )
        .send(&api)
        .await;
    let csv = api
        .call(
            "GET",
            &format!("/reports/funnel?{period}&group_by=team&format=csv"),
            Who::Marketing,
        )
        .send(&api)
        .await;

    assert_eq!(json.status, 200, "{}", json.text);
    let body = json.json();
    let team = |name: &str| {
        let groups = body["groups"].as_array().unwrap();
        let row = groups.iter().find(|g| g["group"] == name).unwrap();
        row["sla"]["response"].clone()
    };
    assert_eq!(
        (team("emea")["due"].as_u64(), team("emea")["met"].as_u64()),
        (Some(3), Some(2))
    );
    assert!((team("emea")["rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(team("amer")["rate"], 1.0);
    assert_eq!(
        body["total"]["sla"]["response"]["due"], 4,
        "February's is out"
    );

    assert_eq!(csv.status, 200, "{}", csv.text);
    let mut rows = csv::Reader::from_reader(csv.text.as_bytes());
    let header = rows.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (due, met, rate) = (
        column("sla_response_due"),
        column("sla_response_met"),
        column("sla_response_rate"),
    );
    let emea = rows
        .records()
        .map(Result::unwrap)
        .find(|r| &r[0] == "emea")
        .unwrap();
    assert_eq!((&emea[due], &emea[met], &emea[rate]), ("3", "2", "0.6667"));
    assert_eq!(&emea[column("sla_routing_due")], "0", "no routing clocks");
}

#[tokio::test]
async fn an_owner_listing_is_the_reps_open_leads_least_recently_updated_first() {
    let api = Api::new().await;
    for (id, day) in [("LA", 2), ("LB", 3), ("LC", 4)] {
        let created = format!("2030-01-0{day}T09:00:00Z").parse().unwrap();
        api.seed_lead(id, Some("rep-ana"), "google", created).await;
    }
    let dq = api
        .call("POST", "/leads/LB/disqualify", Who::RepAna)
        .key("dq")
        .if_match(1)
        .body(json!({ "reason": "no_budget" }))
        .send(&api)
        .await;
    assert_eq!(dq.status, 200, "{}", dq.text);

    // Page by page: oldest update first (the newest-first listing would give LC first).
    let mut pages = Vec::new();
    let mut path = "/leads?owner=rep-ana&limit=1".to_owned();
    for _ in 0..5 {
        let page = api.call("GET", &path, Who::Admin).send(&api).await.json();
        pages.push(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/leads?owner=rep-ana&limit=1&cursor={c}"),
            None => break,
        }
    }
    let own = api
        .call("GET", "/leads", Who::RepAna)
        .send(&api)
        .await
        .json();
    let closed = api
        .call("GET", "/leads?owner=rep-ana&stage=disqualified", Who::Admin)
        .send(&api)
        .await
        .json();

    assert_eq!(pages, vec![vec!["LA"], vec!["LC"]]);
    assert_eq!(
        ids(&own),
        vec!["LA", "LC"],
        "a rep's own listing is their open leads"
    );
    assert_eq!(
        ids(&closed),
        vec!["LB"],
        "a closed stage is found by walking every lead"
    );
}

#[tokio::test]
async fn a_cursor_of_one_reps_open_leads_is_refused_by_another_listing() {
    let api = Api::new().await;
    for (id, day) in [("LA", 2), ("LB", 3)] {
        let created = format!("2030-01-0{day}T09:00:00Z").parse().unwrap();
        api.seed_lead(id, Some("rep-ana"), "google", created).await;
    }
    let first = api
        .call("GET", "/leads?owner=rep-ana&limit=1", Who::Admin)
        .send(&api)
        .await
        .json();
    let cursor = first["next_cursor"].as_str().expect("a second page");

    for other in [
        format!("/leads?limit=1&cursor={cursor}"),
        format!("/leads?owner=rep-bo&limit=1&cursor={cursor}"),
    ] {
        let refused = api.call("GET", &other, Who::Admin).send(&api).await;
        assert_eq!(refused.status, 400, "{other}: {}", refused.text);
    }
}

/// Regression: a rep named with 100,000 characters was stored.
#[tokio::test]
async fn a_rep_with_an_overlong_name_or_pool_is_refused_naming_the_field() {
    let api = Api::new().await;

    let r = api
        .call("PUT", "/reps/rep-cy", Who::Admin)
        .if_match(0)
        .body(json!({ "name": "x".repeat(100_000), "pools": ["ok", "p".repeat(201)] }))
        .send(&api)
        .await;

    assert_eq!(r.status, 422, "{}", r.text);
    let answer = r.json();
    let fields: Vec<&str> = answer["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["/name", "/pools/1"]);
}

/// Regression: `GET /leads?from=2027-01-01&to=2020-01-01` answered an empty page, where the
/// reports answer the same window with a 422.
#[tokio::test]
async fn a_window_that_ends_before_it_starts_is_a_422() {
    let api = Api::new().await;
    api.seed_l1().await;

    let r = api
        .call("GET", "/leads?from=2027-01-01&to=2020-01-01", Who::Admin)
        .send(&api)
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json()["errors"][0]["field"], "from");

    let ok = api
        .call("GET", "/leads?from=2020-01-01&to=2040-01-01", Who::Admin)
        .send(&api)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["items"].as_array().unwrap().len(), 1);
}
