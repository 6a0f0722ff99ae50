//! The rescore job: the change is recorded in every ledger, and running it again does nothing.

use crate::common::*;
use lifecycle::{scoring::EntryKind, ActivityKind, LeadId, Stage};
use scoring::{explain::explain_lead, rescore::rescore_all};

#[tokio::test]
async fn a_rescore_records_the_change_in_each_ledger_once() {
    let env = env();
    install_rules(&env, &test_rules(1, 30.0)).await;
    for id in ["l1", "l2"] {
        new_lead(&env, id, Some(&format!("{id}@corp.example"))).await;
        let form = activity(id, &format!("{id}-f"), ActivityKind::FormSubmitted, t0());
        let d = store_activity(&env, form).await;
        env.scorer.handle_batch(&[d]).await;
    }
    let v2 = test_rules(2, 60.0);
    install_rules(&env, &v2).await;
    env.clock.set(hours(2));

    let report = rescore_all(
        env.store.as_ref(),
        env.store.as_ref(),
        env.store.as_ref(),
        &v2,
        hours(2),
        1,
    )
    .await
    .unwrap();

    assert_eq!((report.leads, report.rescored, report.new_mqls), (2, 2, 2));
    let lead = lead(&env, "l1").await;
    assert_eq!(lead.score, Some(60.0));
    assert_eq!(lead.stage(), Stage::Mql);
    let explained = explain_lead(env.store.as_ref(), &LeadId::new("l1"), hours(2))
        .await
        .unwrap()
        .unwrap();
    let kinds: Vec<(u32, f64, bool)> = explained
        .entries
        .iter()
        .map(|e| {
            (
                e.entry.rule_version,
                e.entry.points,
                matches!(e.entry.kind, EntryKind::Reversal { .. }),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [(1, 30.0, false), (1, -30.0, true), (2, 60.0, false)]
    );
    assert_eq!(explained.rescores.len(), 1);
    assert_eq!(
        (
            explained.rescores[0].before["mql"],
            explained.rescores[0].after["mql"]
        ),
        (30.0, 60.0)
    );

    let again = rescore_all(
        env.store.as_ref(),
        env.store.as_ref(),
        env.store.as_ref(),
        &v2,
        hours(3),
        10,
    )
    .await
    .unwrap();
    assert_eq!((again.rescored, again.unchanged), (0, 2));
}

#[tokio::test]
async fn rule_changes_go_up_one_version_at_a_time_and_are_kept() {
    use scoring::documents::{load_rules, save_rules, SaveRulesError};
    let env = env();
    let store = env.store.as_ref();

    // The shipped rules are version 1, so the first saved set is version 2.
    let err = save_rules(store, store, &test_rules(1, 30.0))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SaveRulesError::WrongVersion {
            expected: 2,
            got: 1
        }
    ));
    save_rules(store, store, &test_rules(2, 30.0))
        .await
        .unwrap();
    let err = save_rules(store, store, &test_rules(4, 30.0))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SaveRulesError::WrongVersion {
            expected: 3,
            got: 4
        }
    ));
    let mut invalid = test_rules(3, 30.0);
    invalid.mql_score = "nope".into();
    let err = save_rules(store, store, &invalid).await.unwrap_err();
    assert!(matches!(err, SaveRulesError::Invalid(_)));
    save_rules(store, store, &test_rules(3, 40.0))
        .await
        .unwrap();

    assert_eq!(load_rules(store).await.unwrap(), test_rules(3, 40.0));
    let v2 = ports::DocumentStore::get(store, "scoring_rules_history", "v000002")
        .await
        .unwrap();
    assert_eq!(
        v2.unwrap().body,
        serde_json::to_value(test_rules(2, 30.0)).unwrap()
    );
}
