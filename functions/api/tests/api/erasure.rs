//! Erasure: the person's data goes, the anonymous history stays, the reports do not change.

use crate::harness::{Api, Who};
use lifecycle::{
    funnel::{CounterKey, Dimension},
    LeadId, Stage,
};
use ports::{DocumentStore, JourneyStore};
use serde_json::json;

#[tokio::test]
async fn erasing_a_person_removes_their_data_and_leaves_the_reports_unchanged() {
    let api = Api::new().await;
    api.seed_l1().await;
    api.seed_lead(
        "L2",
        Some("rep-ana"),
        "google",
        "2030-01-03T09:00:00Z".parse().unwrap(),
    )
    .await;
    let dq = api
        .call("POST", "/leads/L1/disqualify", Who::RepAna)
        .key("dq")
        .if_match(1)
        .body(json!({ "reason": "competitor", "note": "Dana said they signed with Acme" }))
        .send(&api)
        .await;
    assert_eq!(dq.status, 200, "{}", dq.text);
    api.call("POST", "/leads/L2/accept", Who::RepAna)
        .key("acc")
        .if_match(1)
        .send(&api)
        .await;
    let report_path = "/reports/funnel?from=2030-01-01&to=2030-02-01&group_by=source";
    let before = api
        .call("GET", report_path, Who::Marketing)
        .send(&api)
        .await
        .text;
    let csv_before = api
        .call("GET", &format!("{report_path}&format=csv"), Who::Marketing)
        .send(&api)
        .await
        .text;
    let key = CounterKey {
        day: "2030-01-10".parse().unwrap(),
        stage: Stage::Disqualified,
        dimension: Dimension::Source,
        group: "google".into(),
    };
    assert_eq!(api.store.counter(&key).await.unwrap(), 1);

    let notes = api
        .store
        .list("reason_note", "L1/", None, 100)
        .await
        .unwrap();
    assert_eq!(notes.items.len(), 1, "the disqualification note is stored");

    let erased = api.call("DELETE", "/leads/L1", Who::Admin).send(&api).await;

    assert_eq!(erased.status, 200, "{}", erased.text);
    let lead = api.store.lead(&LeadId::new("L1")).await.unwrap().unwrap();
    assert_eq!((lead.email.is_none(), lead.phone.is_none()), (true, true));
    assert_eq!(lead.profile, lifecycle::Profile::default());
    assert_eq!(lead.stage(), Stage::Disqualified, "the journey stays");
    let detail = api.call("GET", "/leads/L1", Who::Admin).send(&api).await;
    assert_eq!(detail.status, 404, "the person is gone for the API");
    let listed = api.call("GET", "/leads", Who::Admin).send(&api).await.text;
    assert!(!listed.contains("\"L1\""), "{listed}");
    let notes = api
        .store
        .list("reason_note", "L1/", None, 100)
        .await
        .unwrap();
    assert!(notes.items.is_empty(), "the reason note is gone");
    let history = api.store.transitions(&LeadId::new("L1")).await.unwrap();
    let last = history.last().unwrap().reason.clone().unwrap();
    assert_eq!(last.code, "competitor", "the reason code stays");

    assert_eq!(
        api.call("GET", report_path, Who::Marketing)
            .send(&api)
            .await
            .text,
        before
    );
    assert_eq!(
        api.call("GET", &format!("{report_path}&format=csv"), Who::Marketing)
            .send(&api)
            .await
            .text,
        csv_before
    );
    assert_eq!(api.store.counter(&key).await.unwrap(), 1);
    let other = api.store.lead(&LeadId::new("L2")).await.unwrap().unwrap();
    assert!(other.email.is_some(), "only the one person is erased");
}

#[tokio::test]
async fn erasing_twice_finds_nothing_the_second_time_and_an_unknown_lead_is_404() {
    let api = Api::new().await;
    api.seed_l1().await;

    let first = api.call("DELETE", "/leads/L1", Who::Admin).send(&api).await;
    let again = api.call("DELETE", "/leads/L1", Who::Admin).send(&api).await;
    let unknown = api
        .call("DELETE", "/leads/nope", Who::Admin)
        .send(&api)
        .await;

    assert_eq!(
        (first.status, again.status, unknown.status),
        (200, 404, 404)
    );
}
