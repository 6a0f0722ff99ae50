//! `GET /leads/{id}/score`: the explanation is read from the ledger the scoring function keeps.
//!
//! Regression: the endpoint once read a collection nothing wrote (`score_explanation`), so
//! every lead's explanation was `null` even after scoring.

use crate::harness::{now, Api, Who};
use chrono::Duration;
use lifecycle::{
    scoring::{default_rules, ScoreLedger},
    Activity, ActivityKind, LeadId,
};
use ports::{Commit, DocumentWrite};
use serde_json::Value;

fn activity(id: &str, kind: ActivityKind, minutes_ago: i64) -> Activity {
    Activity {
        id: id.into(),
        lead_id: LeadId::new("L1"),
        kind,
        occurred_at: now() - Duration::minutes(minutes_ago),
        hand_raiser: false,
        attributes: Default::default(),
    }
}

#[tokio::test]
async fn the_score_explains_every_ledger_entry_with_its_rule() {
    let api = Api::new().await;
    api.seed_l1().await;
    let before = api
        .call("GET", "/leads/L1/score", Who::Marketing)
        .send(&api)
        .await
        .json();
    assert_eq!(before["explanation"], Value::Null, "not scored yet");

    let rules = default_rules();
    let activities = [
        activity("act-1", ActivityKind::PricingViewed, 30),
        activity("act-2", ActivityKind::ContentDownloaded, 20),
    ];
    let mut ledger = ScoreLedger::new(LeadId::new("L1"), rules.version);
    ledger.update(&rules, &activities, Some("example.com"), now());
    assert!(!ledger.entries.is_empty(), "the shipped rules score these");
    let write: DocumentWrite = scoring::documents::put_ledger(&ledger, 0);
    api.commit(Commit {
        documents: vec![write],
        ..Commit::default()
    })
    .await;

    let reply = api
        .call("GET", "/leads/L1/score", Who::Marketing)
        .send(&api)
        .await
        .json();
    let explained: Vec<(String, String)> = reply["explanation"]["entries"]
        .as_array()
        .expect("explained entries")
        .iter()
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap().to_owned();
            (field("activity_id"), field("rule_id"))
        })
        .collect();
    let stored: Vec<(String, String)> = ledger
        .entries
        .iter()
        .map(|e| (e.activity_id.clone(), e.rule_id.clone()))
        .collect();
    assert_eq!(explained, stored);
    assert_eq!(reply["explanation"]["rule_version"], rules.version);
}

/// Regression: the body put the lead record's stored score (40, folded when scoring last ran)
/// beside an explanation folded now (20, after a 30-day half-life), so one answer said two
/// scores. Both now come from one fold at one time, which the body names.
#[tokio::test]
async fn the_score_and_its_explanation_are_one_fold_at_one_time() {
    let api = Api::new().await;
    api.seed_l1().await;
    let rules = lifecycle::scoring::RuleSet::from_json(
        r#"{ "version": 1, "scores": [{ "name": "mql", "decay": { "kind": "half_life", "days": 30 } }],
             "mql_score": "mql",
             "rules": [{ "id": "webinar", "kinds": ["webinar_attended"], "points": 40 }],
             "grade": { "rules": [], "bands": { "a": 0, "b": 0, "c": 0, "d": 0, "e": 0 } },
             "mql": { "min_grade": "B", "min_score": 50, "hand_raiser_floor": "D" } }"#,
    )
    .unwrap();
    let webinar = activity("act-1", ActivityKind::WebinarAttended, 30 * 24 * 60);
    let mut ledger = ScoreLedger::new(LeadId::new("L1"), rules.version);
    ledger.update(&rules, &[webinar], None, now());
    api.commit(Commit {
        documents: vec![scoring::documents::put_ledger(&ledger, 0)],
        ..Commit::default()
    })
    .await;

    let reply = api
        .call("GET", "/leads/L1/score", Who::Marketing)
        .send(&api)
        .await
        .json();

    // 40 points, one half-life ago.
    assert_eq!(reply["score"].as_f64(), Some(20.0));
    assert_eq!(reply["explanation"]["scores"]["mql"], reply["score"]);
    assert_eq!(reply["as_of"], reply["explanation"]["at"]);
    assert_eq!(reply["as_of"], serde_json::json!(now()));
}
