//! Helpers: an in-memory store on a manual clock, leads and activities committed the way the
//! webhook function commits them.

use chrono::{TimeDelta, TimeZone, Utc};
use embedded::{EmbeddedStore, QueueConfig};
use lifecycle::{
    scoring::RuleSet,
    transition::{Actor, Dimensions},
    Activity, ActivityKind, CauseId, Email, JourneyState, Lead, LeadId, Stage, StageEvent,
    StageOutcome, Timestamp,
};
use ports::{
    Commit, CommitOutcome, Delivery, Document, DocumentWrite, Expect, JourneyStore, LeadWrite,
    ManualClock,
};
use scoring::{ActivityMessage, Scorer};
use std::sync::Arc;

pub(crate) fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

pub(crate) fn hours(h: i64) -> Timestamp {
    t0() + TimeDelta::hours(h)
}

pub(crate) struct Env {
    pub(crate) store: Arc<EmbeddedStore>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) scorer: Scorer,
}

pub(crate) fn env() -> Env {
    env_with(QueueConfig::default())
}

pub(crate) fn env_with(queue: QueueConfig) -> Env {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(
        EmbeddedStore::in_memory()
            .unwrap()
            .with_clock(clock.clone())
            .with_queue_config(queue),
    );
    let scorer = Scorer {
        store: store.clone(),
        docs: store.clone(),
        queue: store.clone(),
        clock: clock.clone(),
    };
    Env {
        store,
        clock,
        scorer,
    }
}

/// Rules for the tests: every lead is grade A (no grade rules, all bands at 0); a form is worth
/// 30, a pricing view 25, a page view 1; the MQL needs 50.
pub(crate) fn test_rules(version: u32, form_points: f64) -> RuleSet {
    RuleSet::from_json(&format!(
        r#"{{ "version": {version}, "scores": [{{ "name": "mql" }}], "mql_score": "mql",
            "rules": [
              {{ "id": "form", "kinds": ["form_submitted"], "points": {form_points} }},
              {{ "id": "pricing", "kinds": ["pricing_viewed"], "points": 25 }},
              {{ "id": "view", "kinds": ["page_viewed"], "points": 1 }}
            ],
            "grade": {{ "rules": [], "bands": {{ "a": 0, "b": 0, "c": 0, "d": 0, "e": 0 }} }},
            "mql": {{ "min_grade": "B", "min_score": 50, "hand_raiser_floor": "D" }} }}"#
    ))
    .unwrap()
}

/// Stores `rules` as the rule set in force.
pub(crate) async fn install_rules(env: &Env, rules: &RuleSet) {
    let current = ports::DocumentStore::get(env.store.as_ref(), "config", "scoring_rules")
        .await
        .unwrap();
    let (version, expect) = match current {
        Some(doc) => (doc.version + 1, Expect::Version(doc.version)),
        None => (1, Expect::Absent),
    };
    let mut commit = Commit::default();
    commit.documents.push(DocumentWrite::Put {
        doc: Document {
            collection: "config".into(),
            key: "scoring_rules".into(),
            version,
            index: None,
            body: serde_json::to_value(rules).unwrap(),
            expires_at: None,
        },
        expect,
    });
    assert_eq!(
        env.store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
}

/// A lead that entered the journey at `t0`, as the webhook function stores it.
pub(crate) async fn new_lead(env: &Env, id: &str, email: Option<&str>) -> Lead {
    let mut lead = Lead::new(LeadId::new(id), t0());
    lead.email = email.map(|e| Email::parse(e).unwrap());
    lead.version = 1;
    let entry = StageEvent {
        to: Stage::New,
        cause: CauseId::new(format!("webhook:{id}")),
        actor: Actor::System {
            component: "test".into(),
        },
        reason: None,
        effective_at: t0(),
        recorded_at: t0(),
        dims: Dimensions::default(),
    };
    let StageOutcome::Applied(t) = JourneyState::default().decide(&lead.id, &entry).unwrap() else {
        panic!("a new lead enters");
    };
    lead.journey.push(&t);

    let mut commit = Commit::claiming(format!("webhook:{id}"), None);
    commit.transitions.push(t);
    commit.lead = Some(LeadWrite {
        lead: lead.clone(),
        expect: Expect::Absent,
        new_identities: Vec::new(),
    });
    assert_eq!(
        env.store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
    lead
}

pub(crate) fn activity(lead: &str, id: &str, kind: ActivityKind, at: Timestamp) -> Activity {
    Activity {
        id: id.into(),
        lead_id: LeadId::new(lead),
        kind,
        occurred_at: at,
        hand_raiser: false,
        attributes: Default::default(),
    }
}

/// Stores an activity and returns the message that announces it.
pub(crate) async fn store_activity(env: &Env, activity: Activity) -> Delivery {
    let mut commit = Commit::claiming(format!("test:{}", activity.id), None);
    let delivery = delivery(&activity.lead_id, &activity.id);
    commit.activities.push(activity);
    assert_eq!(
        env.store.commit(commit).await.unwrap(),
        CommitOutcome::Committed
    );
    delivery
}

pub(crate) fn delivery(lead: &LeadId, activity: &str) -> Delivery {
    let body = serde_json::to_string(&ActivityMessage {
        lead_id: lead.clone(),
        activity_id: activity.into(),
    })
    .unwrap();
    raw_delivery(&format!("msg-{activity}"), &body)
}

pub(crate) fn raw_delivery(id: &str, body: &str) -> Delivery {
    Delivery {
        id: id.into(),
        body: body.into(),
        receive_count: 1,
        receipt: format!("receipt-{id}"),
    }
}

pub(crate) async fn lead(env: &Env, id: &str) -> Lead {
    env.store.lead(&LeadId::new(id)).await.unwrap().unwrap()
}
