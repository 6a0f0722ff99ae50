//! Reports through the API: served from the nightly snapshots when they cover the period (with
//! the restatements of its days), the funnel page, campaign costs in by JSON and CSV, and the
//! campaign return by cohort.

use crate::harness::{Api, Who};
use chrono::{Duration, TimeZone, Utc};
use lifecycle::{
    transition::Actor, CauseId, JourneyState, LeadId, StageEvent, StageOutcome, Timestamp,
    Transition,
};
use lifecycle::{transition::Dimensions, Stage};
use ports::Commit;
use serde_json::{json, Value};

fn at(d: u32, h: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2030, 1, d, h, 0, 0).unwrap()
}

/// A lead's transitions through `steps` (stage, effective, recorded), in `campaign`.
fn journey(lead: &str, campaign: &str, steps: &[(Stage, Timestamp, Timestamp)]) -> Vec<Transition> {
    let mut state = JourneyState::default();
    let mut out = Vec::new();
    for (i, (stage, effective, recorded)) in steps.iter().enumerate() {
        let event = StageEvent {
            to: *stage,
            cause: CauseId::new(format!("{lead}-{i}")),
            actor: Actor::Import { batch: "t".into() },
            reason: None,
            effective_at: *effective,
            recorded_at: *recorded,
            dims: Dimensions {
                source: Some("google".into()),
                campaign: Some(campaign.into()),
                ..Dimensions::default()
            },
        };
        if let Ok(StageOutcome::Applied(t)) = state.apply(&LeadId::new(lead), &event) {
            out.push(t);
        }
    }
    out
}

/// The last transition alone: a later stage of a lead appended before.
fn only_last(mut transitions: Vec<Transition>) -> Vec<Transition> {
    transitions.split_off(transitions.len() - 1)
}

async fn append(api: &Api, transitions: Vec<Transition>) {
    api.commit(Commit {
        transitions,
        ..Commit::default()
    })
    .await;
}

/// Three leads: a (MQL day 2, SAL day 3), b (MQL day 2), c (MQL day 4, SQL day 5).
async fn seeded() -> Api {
    let api = Api::new().await;
    let on_time = |d, h| (at(d, h), at(d, h));
    let step = |stage, (e, r)| (stage, e, r);
    append(
        &api,
        journey(
            "a",
            "spring",
            &[
                step(Stage::New, on_time(2, 9)),
                step(Stage::Mql, on_time(2, 10)),
                step(Stage::Sal, on_time(3, 9)),
            ],
        ),
    )
    .await;
    append(
        &api,
        journey(
            "b",
            "spring",
            &[
                step(Stage::New, on_time(2, 9)),
                step(Stage::Mql, on_time(2, 11)),
            ],
        ),
    )
    .await;
    append(
        &api,
        journey(
            "c",
            "fall",
            &[
                step(Stage::New, on_time(4, 9)),
                step(Stage::Mql, on_time(4, 10)),
                step(Stage::Sql, on_time(5, 9)),
            ],
        ),
    )
    .await;
    api
}

/// The report without the fields that say where it came from.
fn figures(mut v: Value) -> Value {
    for field in ["source", "restatements", "as_of"] {
        v.as_object_mut().unwrap().remove(field);
    }
    v
}

#[tokio::test]
async fn a_closed_period_is_served_from_the_snapshots_with_its_restatements() {
    let api = seeded().await;
    let night = at(7, 2) + Duration::minutes(10);
    funnel_rollup::run(api.store.as_ref(), api.store.as_ref(), night)
        .await
        .unwrap();
    let path = "/reports/funnel?from=2030-01-01&to=2030-01-07&group_by=campaign";

    let stored = api
        .call("GET", path, Who::Marketing)
        .send(&api)
        .await
        .json();
    let live = api
        .call("GET", &format!("{path}&source=transitions"), Who::Marketing)
        .send(&api)
        .await
        .json();

    assert_eq!(stored["source"], "snapshots");
    assert_eq!(
        stored["as_of"], "2030-01-07T02:10:00Z",
        "the rollup's watermark"
    );
    assert_eq!(live["source"], "transitions");
    assert_eq!(figures(stored.clone()), figures(live));
    assert_eq!(stored["total"]["entered"]["mql"], 3);
    assert_eq!(stored["restatements"], json!([]));

    // Learnt on day 8: b became an SAL on day 3. Day 3 is restated as late, day 2 (b's MQL
    // cohort) as matured.
    append(
        &api,
        only_last(journey(
            "b",
            "spring",
            &[
                (Stage::New, at(2, 9), at(2, 9)),
                (Stage::Mql, at(2, 11), at(2, 11)),
                (Stage::Sal, at(3, 15), at(8, 9)),
            ],
        )),
    )
    .await;
    funnel_rollup::run(api.store.as_ref(), api.store.as_ref(), at(9, 2))
        .await
        .unwrap();
    let again = api
        .call("GET", path, Who::Marketing)
        .send(&api)
        .await
        .json();

    assert_eq!(again["total"]["entered"]["sal"], 2);
    let restated: Vec<(String, String)> = again["restatements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["day"].as_str().unwrap().to_owned(),
                r["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        restated,
        [
            ("2030-01-02".into(), "matured".into()),
            ("2030-01-03".into(), "late".into())
        ]
    );
}

#[tokio::test]
async fn an_open_or_unrolled_period_is_computed_from_the_transitions() {
    let api = seeded().await;

    let before = api
        .call(
            "GET",
            "/reports/funnel?from=2030-01-01&to=2030-01-07",
            Who::Admin,
        )
        .send(&api)
        .await
        .json();
    let forced = api
        .call(
            "GET",
            "/reports/funnel?from=2030-01-01&to=2030-01-07&source=snapshots",
            Who::Admin,
        )
        .send(&api)
        .await;

    assert_eq!(before["source"], "transitions");
    assert_eq!(before["total"]["entered"]["mql"], 3);
    assert_eq!(forced.status, 422, "{}", forced.text);
    assert!(forced.text.contains("not run yet"), "{}", forced.text);
}

#[tokio::test]
async fn the_funnel_page_is_html_drawn_from_the_reports_numbers() {
    let api = seeded().await;

    let page = api
        .call(
            "GET",
            "/reports/funnel.html?from=2030-01-01&to=2030-01-07",
            Who::ManagerEmea,
        )
        .send(&api)
        .await;

    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.text.contains(r#"data-figure="entered.mql">3<"#),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(r#"data-figure="trend.2030-01">33.3%<"#),
        "1 of 3 MQLs reached SQL"
    );
    assert!(!page.text.contains("<script"), "no scripts");
}

#[tokio::test]
async fn costs_in_csv_store_the_good_rows_and_name_the_bad_lines() {
    let api = Api::new().await;
    let csv = "campaign,month,amount\r\nspring,2030-01,900\r\n,2030-01,5\r\nfall,January,1\r\nfall,2030-01,200\r\n";

    let r = api
        .call("POST", "/reports/costs", Who::Marketing)
        .header("content-type", "text/csv")
        .raw(csv)
        .send(&api)
        .await;

    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["stored"], 2);
    let lines: Vec<u64> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "CRLF lines counted as an editor shows them");
    let listed = api
        .call(
            "GET",
            "/reports/costs?from=2030-01&to=2030-02",
            Who::ManagerEmea,
        )
        .send(&api)
        .await
        .json();
    assert_eq!(
        listed["costs"],
        json!([
            { "campaign": "fall", "month": "2030-01", "amount": 200.0 },
            { "campaign": "spring", "month": "2030-01", "amount": 900.0 },
        ])
    );
}

#[tokio::test]
async fn costs_without_a_good_row_or_with_a_bad_item_are_a_422_naming_them() {
    let api = Api::new().await;

    let csv = api
        .call("POST", "/reports/costs", Who::Admin)
        .header("content-type", "text/csv; charset=utf-8")
        .raw("campaign,month,amount\nspring,2030-01,-1\n\"open,2030-01,1\nx,y,z\n")
        .send(&api)
        .await;
    let json_body = api
        .call("POST", "/reports/costs", Who::Admin)
        .body(json!({ "costs": [
            { "campaign": "spring", "month": "2030-01", "amount": 1 },
            { "campaign": "", "month": "2030-01", "amount": 1 },
        ] }))
        .send(&api)
        .await;
    let bad_month = api
        .call("POST", "/reports/costs", Who::Admin)
        .body(json!({ "costs": [{ "campaign": "spring", "month": "May", "amount": 1 }] }))
        .send(&api)
        .await;

    assert_eq!(csv.status, 422, "{}", csv.text);
    let fields: Vec<String> = csv.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["line 2", "lines 3–4"]);
    assert_eq!(json_body.status, 422);
    assert_eq!(json_body.json()["errors"][0]["field"], "/costs/1");
    assert_eq!(bad_month.status, 422, "{}", bad_month.text);
    assert_eq!(bad_month.json()["errors"][0]["field"], "/costs/0/month");
    let listed = api
        .call("GET", "/reports/costs?from=2030-01&to=2030-02", Who::Admin)
        .send(&api)
        .await
        .json();
    assert_eq!(listed["costs"], json!([]), "nothing stored");
}

#[tokio::test]
async fn campaign_return_divides_each_months_cost_by_its_cohort_and_flags_young_cohorts() {
    let api = seeded().await;
    // A December cohort of spring: d, an MQL on 2029-12-10 who became an SQL on 12-20.
    let dec = |d, h| Utc.with_ymd_and_hms(2029, 12, d, h, 0, 0).unwrap();
    append(
        &api,
        journey(
            "d",
            "spring",
            &[
                (Stage::New, dec(10, 9), dec(10, 9)),
                (Stage::Mql, dec(10, 10), dec(10, 10)),
                (Stage::Sql, dec(20, 10), dec(20, 10)),
            ],
        ),
    )
    .await;
    let costs = json!({ "costs": [
        { "campaign": "spring", "month": "2029-12", "amount": 50 },
        { "campaign": "spring", "month": "2030-01", "amount": 900 },
        { "campaign": "fall", "month": "2030-01", "amount": 300 },
    ] });
    let stored = api
        .call("POST", "/reports/costs", Who::Marketing)
        .body(costs)
        .send(&api)
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);

    let r = api
        .call(
            "GET",
            "/reports/roi?from=2029-12&to=2030-02&maturity_days=20",
            Who::Marketing,
        )
        .send(&api)
        .await;

    assert_eq!(r.status, 200, "{}", r.text);
    let roi = r.json();
    let spring = &roi["campaigns"][1];
    assert_eq!(spring["campaign"], "spring");
    // December: 1 MQL (50), an SQL; judged from 1 January + 20 days, so on 10 January (now)
    // still too young.
    let december = &spring["cohorts"][0];
    assert_eq!(
        (december["mqls"].clone(), december["cost_per_sql"].clone()),
        (json!(1), json!(50.0))
    );
    assert_eq!(december["too_young"], true);
    // January: a and b, 900: 450 per MQL, one SAL (900), no SQL.
    let january = &spring["cohorts"][1];
    assert_eq!(january["cost_per_mql"], 450.0);
    assert_eq!(january["cost_per_sal"], 900.0);
    assert_eq!(january["cost_per_sql"], Value::Null);
    assert_eq!(spring["cost"], 950.0);
    let fall = &roi["campaigns"][0];
    assert_eq!(
        (fall["mqls"].clone(), fall["cost_per_sql"].clone()),
        (json!(1), json!(300.0))
    );

    let mature = api
        .call(
            "GET",
            "/reports/roi?from=2029-12&to=2030-01&maturity_days=5",
            Who::Marketing,
        )
        .send(&api)
        .await
        .json();
    assert_eq!(
        mature["campaigns"][0]["cohorts"][0]["too_young"], false,
        "31 Dec + 5 days < 10 Jan"
    );
}

/// A period of centuries would draw a trend point per month: refused, not computed.
#[tokio::test]
async fn the_funnel_page_refuses_a_period_of_more_than_ten_years() {
    let api = Api::new().await;

    let r = api
        .call(
            "GET",
            "/reports/funnel.html?from=0001-01-01&to=9999-01-01",
            Who::Admin,
        )
        .send(&api)
        .await;

    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("120 months"), "{}", r.text);
}

/// Regression: schemathesis sent `from=0000-00&to=0000-00` and `start=0000-00`, which have the
/// documented `YYYY-MM` shape and name no month; they were 400s, as if the syntax were wrong.
/// The document now allows months 01 to 12 only, and a value of the right shape that is still
/// no date (`2030-02-30`) is a 422 naming the parameter.
#[tokio::test]
async fn a_month_of_the_right_shape_that_does_not_exist_is_a_422() {
    let api = Api::new().await;

    let answers = [
        "/reports/costs?from=0000-00&to=2030-01",
        "/reports/roi?from=2030-01&to=2030-13",
        "/reports/plan?target_revenue=1000&start=2030-02-30",
    ];
    let mut got = Vec::new();
    for path in answers {
        got.push(api.call("GET", path, Who::Admin).send(&api).await);
    }
    let syntax = api
        .call("GET", "/reports/costs?from=May&to=2030-01", Who::Admin)
        .send(&api)
        .await;

    let fields: Vec<(u16, String)> = got
        .iter()
        .map(|r| {
            (
                r.status,
                r.json()["errors"][0]["field"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            (422, "from".to_owned()),
            (422, "to".to_owned()),
            (422, "start".to_owned())
        ]
    );
    assert_eq!(syntax.status, 400, "{}", syntax.text);
}

/// Regression: schemathesis sent `maturity_days=106751991168.0`, a number the document
/// allowed, and the server panicked in chrono and closed the connection. Ten years is the
/// longest maturity now, in the document and in the handler.
#[tokio::test]
async fn a_maturity_beyond_ten_years_is_a_422_not_a_crash() {
    let api = Api::new().await;

    let huge = api
        .call(
            "GET",
            "/reports/roi?maturity_days=106751991168.0",
            Who::Admin,
        )
        .send(&api)
        .await;
    let ten_years = api
        .call("GET", "/reports/roi?maturity_days=3650", Who::Admin)
        .send(&api)
        .await;

    assert_eq!(huge.status, 422, "{}", huge.text);
    assert_eq!(huge.json()["errors"][0]["field"], "maturity_days");
    assert_eq!(ten_years.status, 200, "{}", ten_years.text);
}
