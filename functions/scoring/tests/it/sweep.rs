//! The scoring sweep: wake-ups of delayed points, and the rescore after a rule change, resumed
//! page by page.

use crate::common::*;
use lifecycle::{scoring::RuleSet, ActivityKind, LeadId, Stage};
use ports::{DocumentStore, JourneyStore, QueueConsumer, Topic};
use scoring::scheduled::{self, Budget};

/// 60 points that count an hour after a page view; the MQL needs 50.
fn delayed_rules() -> RuleSet {
    RuleSet::from_json(
        r#"{ "version": 1, "scores": [{ "name": "mql" }], "mql_score": "mql",
            "rules": [{ "id": "returning", "kinds": ["page_viewed"], "points": 60, "delay_seconds": 3600 }],
            "grade": { "rules": [], "bands": { "a": 0, "b": 0, "c": 0, "d": 0, "e": 0 } },
            "mql": { "min_grade": "B", "min_score": 50, "hand_raiser_floor": "D" } }"#,
    )
    .unwrap()
}

#[tokio::test]
async fn a_delayed_rule_makes_an_mql_when_the_sweep_wakes_the_lead() {
    // The audit's case: at +3 h the fold was 60, the lead still new, nothing queued.
    let env = env();
    install_rules(&env, &delayed_rules()).await;
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let d = store_activity(&env, activity("l1", "v1", ActivityKind::PageViewed, t0())).await;
    env.scorer.handle_batch(&[d]).await;

    // Scoring left a wake-up in the due index for when the points count.
    let wake = env.store.get("score_wake", "l1").await.unwrap().unwrap();
    assert_eq!(wake.index.as_deref(), Some("2026-03-02T10:00:00.000Z"));
    assert_eq!(lead(&env, "l1").await.stage(), Stage::New);

    // Before it is due the sweep does nothing; two hours late it decides.
    let early = scheduled::sweep(&env.scorer, hours(1) - chrono::TimeDelta::minutes(1))
        .await
        .unwrap();
    assert_eq!(early.wakes.due, 0);
    env.clock.set(hours(3));
    let late = scheduled::sweep(&env.scorer, hours(3)).await.unwrap();

    assert_eq!(
        (late.wakes.due, late.wakes.woken, late.wakes.mqls),
        (1, 1, 1)
    );
    let transitions = env.store.transitions(&LeadId::new("l1")).await.unwrap();
    let mql = transitions.iter().find(|t| t.to == Stage::Mql).unwrap();
    assert_eq!((mql.effective_at, mql.recorded_at), (hours(1), hours(3)));
    assert_eq!(
        env.store.receive(Topic::Mqls, 10, 30).await.unwrap().len(),
        1
    );
    assert!(env.store.get("score_wake", "l1").await.unwrap().is_none());
    // A second sweep finds nothing due.
    let again = scheduled::sweep(&env.scorer, hours(4)).await.unwrap();
    assert_eq!(again.wakes.due, 0);
}

#[tokio::test]
async fn a_rule_change_is_rescored_by_the_sweep_a_page_at_a_time_and_resumes() {
    let env = env();
    install_rules(&env, &test_rules(1, 30.0)).await;
    for id in ["l1", "l2", "l3"] {
        new_lead(&env, id, Some(&format!("{id}@corp.example"))).await;
        let form = activity(id, &format!("{id}-f"), ActivityKind::FormSubmitted, t0());
        let d = store_activity(&env, form).await;
        env.scorer.handle_batch(&[d]).await;
    }
    // Version 2 makes the form worth 60: every lead crosses the threshold of 50.
    install_rules(&env, &test_rules(2, 60.0)).await;
    let one_page = Budget {
        pages: 1,
        page_size: 2,
    };

    // Each sweep does one page and stores where it stopped; a sweep that never ran its page
    // (a crash) is simply followed by the next.
    let first = scheduled::sweep_within(&env.scorer, hours(2), one_page)
        .await
        .unwrap();
    let progress = first.rescore.unwrap();
    assert_eq!(
        (progress.version, progress.leads, progress.rescored),
        (2, 2, 2)
    );
    assert!(progress.cursor.is_some() && progress.finished_at.is_none());
    let second = scheduled::sweep_within(&env.scorer, hours(3), one_page)
        .await
        .unwrap();
    let progress = second.rescore.unwrap();
    assert_eq!((progress.leads, progress.rescored), (3, 3));
    assert_eq!(progress.finished_at, Some(hours(3)));

    // Every lead was rescored once and became an MQL when its rescore ran (two in the first
    // sweep, one in the second), not at the form.
    let mut effective = Vec::new();
    for id in ["l1", "l2", "l3"] {
        let mqls: Vec<_> = env
            .store
            .transitions(&LeadId::new(id))
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.to == Stage::Mql)
            .collect();
        assert_eq!(mqls.len(), 1, "{id}");
        assert_eq!(mqls[0].effective_at, mqls[0].recorded_at, "{id}");
        assert_eq!(mqls[0].cause.as_str(), format!("rescore:{id}:v2"));
        effective.push(mqls[0].effective_at);
    }
    effective.sort();
    assert_eq!(effective, [hours(2), hours(2), hours(3)]);
    // Finished: later sweeps leave it alone.
    let later = scheduled::sweep_within(&env.scorer, hours(4), one_page)
        .await
        .unwrap();
    assert_eq!(later.rescore.unwrap().rescored, 3);
    assert_eq!(later.rescore_mqls, 0);
}

#[tokio::test]
async fn with_the_shipped_rules_there_is_nothing_to_rescore() {
    let env = env();
    new_lead(&env, "l1", Some("ann@corp.example")).await;
    let report = scheduled::sweep(&env.scorer, hours(1)).await.unwrap();
    assert!(report.rescore.is_none());
    assert!(env
        .store
        .get("scoring_rescore", "progress")
        .await
        .unwrap()
        .is_none());
}

/// A wake document at `key`, due at `due`, with `body` as stored.
fn wake_doc(key: &str, due: &str, body: serde_json::Value) -> ports::DocumentWrite {
    ports::DocumentWrite::Put {
        doc: ports::Document {
            collection: "score_wake".into(),
            key: key.into(),
            version: 1,
            index: Some(due.into()),
            body,
            expires_at: None,
        },
        expect: ports::Expect::Absent,
    }
}

/// The known shortcoming this closes: wake-ups that could never succeed stayed due, and each
/// sweep read the oldest hundred of them and nothing behind. They are parked now, and the
/// wake-up behind them is decided in the same sweep.
#[tokio::test]
async fn a_hundred_broken_wake_ups_are_parked_and_do_not_hold_back_the_next() {
    let env = env();
    install_rules(&env, &delayed_rules()).await;
    let mut commit = ports::Commit::default();
    for i in 0..100 {
        let broken = serde_json::json!({ "not": "a wake-up" });
        commit.documents.push(wake_doc(
            &format!("b{i:03}"),
            "2026-03-02T09:00:00.000Z",
            broken,
        ));
    }
    // Behind them, the wake-up of a lead that is gone: decided by forgetting it.
    let gone = serde_json::json!({ "lead_id": "gone", "due": "2026-03-02T09:30:00Z" });
    commit
        .documents
        .push(wake_doc("gone", "2026-03-02T09:30:00.000Z", gone));
    env.store.commit(commit).await.unwrap();

    let first = scheduled::sweep(&env.scorer, hours(1)).await.unwrap();
    let second = scheduled::sweep(&env.scorer, hours(2)).await.unwrap();

    assert_eq!(
        (
            first.wakes.due,
            first.wakes.parked,
            first.wakes.woken,
            first.wakes.failed
        ),
        (101, 100, 1, 0)
    );
    assert_eq!(second.wakes.due, 0, "nothing is left due");
    let parked = env
        .store
        .get("score_wake_parked", "b042")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parked.body["reason"], "corrupt_ledger");
    assert_eq!(
        parked.body["wake"],
        serde_json::json!({ "not": "a wake-up" })
    );
}
