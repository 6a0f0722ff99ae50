//! The demo configuration `serve` stores at first start, so the journey works out of the box.
//!
//! Scoring needs nothing: with no rule set stored it uses the shipped defaults. Routing does:
//! with no routing configuration every MQL fails with "no routing configuration", and with no
//! SLA policies and calendar no clock starts. So a store that has no routing configuration gets:
//!
//! * the pool `demo` (round robin, overflow queue `demo_overflow`) holding one rep, `demo-rep`,
//!   who takes every lead at any time; stored as the API stores reps, so `GET /reps/demo-rep`
//!   shows it and `PUT /reps/{id}` can add more (routing reads the pool's members by id);
//! * SLA policies: a hand raiser is accepted within 15 minutes (reminder at half time, then
//!   the manager is told), any other MQL within 4 hours, and routing itself takes at most 5;
//! * the calendar `default`: open around the clock in UTC, so a clock runs whenever you try.
//!
//! Each document is written only if absent: a store that was configured otherwise keeps what
//! it has, and a second start changes nothing.

use lifecycle::{
    routing::{Pool, PoolMember, Returning, RoutingConfig, Strategy},
    sla::{BusinessCalendar, ClockKind, Escalation, LeadKind, SlaPolicies, SlaPolicy, Zone},
    Stage,
};
use ports::{Commit, CommitOutcome, JourneyStore};
use routing::docs;
use serde::Serialize;

/// The demo pool.
pub const DEMO_POOL: &str = "demo";
/// The demo pool's one rep.
pub const DEMO_REP: &str = "demo-rep";

/// Stores each demo document that is missing; returns the `collection/key` of those stored.
pub async fn seed_demo(store: &dyn JourneyStore) -> anyhow::Result<Vec<String>> {
    let rep = serde_json::json!({
        "name": "Demo Rep",
        "team": DEMO_POOL,
        "active": true,
        "pools": [DEMO_POOL],
    });
    let mut stored = Vec::new();
    let utc = Zone::parse("UTC")?;
    let routing_at = (docs::CONFIG, docs::ROUTING_CONFIG);
    put_absent(store, routing_at, Some("routing"), &routing(), &mut stored).await?;
    let policies_at = (docs::CONFIG, docs::SLA_POLICIES);
    put_absent(
        store,
        policies_at,
        Some("sla_policies"),
        &policies(),
        &mut stored,
    )
    .await?;
    let calendar = BusinessCalendar::always_open(utc);
    let calendar_at = (docs::CALENDAR, docs::DEFAULT_CALENDAR);
    let calendar_name = format!("calendars/{}", docs::DEFAULT_CALENDAR);
    put_absent(
        store,
        calendar_at,
        Some(&calendar_name),
        &calendar,
        &mut stored,
    )
    .await?;
    put_absent(store, (docs::REP, DEMO_REP), None, &rep, &mut stored).await?;
    Ok(stored)
}

/// Stores `value` at `(collection, key)` unless something is there; a configuration document
/// (`history` names its kind, as the API does) is kept as its version 1 too, so
/// `GET /config/{kind}/versions/1` shows what was seeded.
async fn put_absent<T: Serialize>(
    store: &dyn JourneyStore,
    (collection, key): (&str, &str),
    history: Option<&str>,
    value: &T,
    stored: &mut Vec<String>,
) -> anyhow::Result<()> {
    let mut commit = Commit::default();
    commit
        .documents
        .push(docs::put(collection, key, value, 0, None)?);
    if let Some(name) = history {
        let version_1 = api::config::history_key(name, 1);
        commit
            .documents
            .push(docs::put(api::config::HISTORY, &version_1, value, 0, None)?);
    }
    // A conflict means the document is there already: keep it.
    if store.commit(commit).await? == CommitOutcome::Committed {
        stored.push(format!("{collection}/{key}"));
    }
    Ok(())
}

fn routing() -> RoutingConfig {
    RoutingConfig {
        pools: vec![Pool {
            id: DEMO_POOL.into(),
            strategy: Strategy::RoundRobin,
            members: vec![PoolMember::new(DEMO_REP)],
            account_match: false,
            returning: Returning::RejoinLevel,
            overflow_queue: format!("{DEMO_POOL}_overflow"),
            manager: None,
            notify: None,
        }],
        rules: vec![],
        default_pool: DEMO_POOL.into(),
    }
}

fn policies() -> SlaPolicies {
    let remind_then_tell = Escalation {
        remind_at_percent: Some(50),
        reassign: false,
        max_reassignments: 0,
        notify_manager: true,
    };
    // A routing-latency clock has no owner to remind: its breach tells the manager only (the
    // validation the API applies refuses a reminder on it, and the seed must pass it too, or
    // the first edit of the seeded document through the API would be refused).
    let tell_only = Escalation {
        remind_at_percent: None,
        ..remind_then_tell.clone()
    };
    let policy = |id: &str, clock, lead_kind, target_minutes| SlaPolicy {
        id: id.into(),
        clock,
        stage: Stage::Mql,
        lead_kind,
        target_minutes,
        escalation: if clock == ClockKind::RoutingLatency {
            tell_only.clone()
        } else {
            remind_then_tell.clone()
        },
    };
    SlaPolicies {
        policies: vec![
            policy(
                "hand_raiser_accept",
                ClockKind::RepResponse,
                Some(LeadKind::HandRaiser),
                15,
            ),
            policy("mql_accept", ClockKind::RepResponse, None, 240),
            policy("routing_latency", ClockKind::RoutingLatency, None, 5),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded::EmbeddedStore;
    use ports::DocumentStore;

    #[tokio::test]
    async fn the_demo_is_stored_once_and_is_valid() {
        let store = EmbeddedStore::in_memory().unwrap();
        let first = seed_demo(&store).await.unwrap();
        assert_eq!(
            first,
            [
                "config/routing",
                "config/sla_policies",
                "calendar/default",
                "rep/demo-rep"
            ]
        );
        assert!(seed_demo(&store).await.unwrap().is_empty(), "seeded twice");

        let doc = store.get("config", "routing").await.unwrap().unwrap();
        let config: RoutingConfig = serde_json::from_value(doc.body).unwrap();
        config.validate().unwrap();
        let doc = store.get("config", "sla_policies").await.unwrap().unwrap();
        let policies: SlaPolicies = serde_json::from_value(doc.body).unwrap();
        assert_eq!(policies.policies.len(), 3);
        // Regression: the seeded routing-latency policy asked for a reminder, which validation
        // refuses, so sending the seeded document back unchanged through the API was a 422.
        policies.validate().unwrap();
    }

    /// Regression: `GET /config/routing/versions/1` was a 404 on a seeded store; the seeded
    /// configuration is its version 1 in the history, as a first `PUT` would have made it.
    #[tokio::test]
    async fn the_seeded_configuration_is_version_1_of_its_history() {
        let store = EmbeddedStore::in_memory().unwrap();
        seed_demo(&store).await.unwrap();

        for (name, collection, key) in [
            ("routing", "config", "routing"),
            ("sla_policies", "config", "sla_policies"),
            ("calendars/default", "calendar", "default"),
        ] {
            let current = store.get(collection, key).await.unwrap().unwrap();
            let history = api::config::history_key(name, 1);
            let first = store.get(api::config::HISTORY, &history).await.unwrap();
            assert_eq!(first.map(|d| d.body), Some(current.body), "{name}");
        }
    }
}
