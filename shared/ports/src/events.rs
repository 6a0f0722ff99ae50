//! Journey events: every committed transition, published for systems outside the journey.
//!
//! A CRM sync (or a data warehouse loader) follows the `journey_events` queue. The adapters, not
//! the functions, add the events: [`Commit::with_journey_events`] runs at the top of each
//! adapter's `commit`, so no code path that appends a transition can forget to publish it. The
//! events ride in the commit's outbox, which means they are sent only when the commit holds, are
//! remembered by its idempotency claim, and are sent again (same message ids) when a duplicate
//! of the event finds the claim taken. Consumers dedupe on the message id, `<lead>:<seq>`.
//!
//! An event carries ids, stages, times, the actor and the reason *code*. The reason's note is
//! free text that may hold personal data, so it stays in the store.

use crate::{
    commit::Commit,
    queue::{Message, Topic},
};
use lifecycle::{transition::Actor, transition::Dimensions, CauseId, LeadId, Stage, Timestamp};
use serde::{Deserialize, Serialize};

/// The body of a `journey_events` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyEvent {
    /// Always `lead.stage_changed` (other event kinds may share the queue).
    #[serde(rename = "type")]
    pub kind: String,
    /// The lead.
    pub lead_id: LeadId,
    /// The transition's position in the lead's history.
    pub seq: u32,
    /// The lead's cycle.
    pub cycle: u32,
    /// The stage before (`None` when the lead entered the system).
    pub from: Option<Stage>,
    /// The stage after.
    pub to: Stage,
    /// When it happened.
    pub effective_at: Timestamp,
    /// When the system learnt of it.
    pub recorded_at: Timestamp,
    /// Who made it happen.
    pub actor: Actor,
    /// The reason code (disqualify, reject, recycle), without its free-text note.
    pub reason_code: Option<String>,
    /// The event that caused it.
    pub cause: CauseId,
    /// Funnel stages jumped over.
    pub skipped: Vec<Stage>,
    /// Whether it filled in history learnt late, without moving the lead.
    pub late: bool,
    /// Reporting dimensions at the time (source, campaign, form, rep, grade).
    pub dims: Dimensions,
}

/// The `type` of a stage-change event.
pub const STAGE_CHANGED: &str = "lead.stage_changed";

/// The message id of a transition's event: unique per transition, stable across resends.
pub fn event_id(lead: &LeadId, seq: u32) -> String {
    format!("{lead}:{seq}")
}

impl Commit {
    /// This commit with one `journey_events` message per new transition added to its outbox.
    pub fn with_journey_events(mut self) -> Self {
        let events = self.transitions.iter().map(|t| {
            let event = JourneyEvent {
                kind: STAGE_CHANGED.to_owned(),
                lead_id: t.lead_id.clone(),
                seq: t.seq,
                cycle: t.cycle,
                from: t.from,
                to: t.to,
                effective_at: t.effective_at,
                recorded_at: t.recorded_at,
                actor: t.actor.clone(),
                reason_code: t.reason.as_ref().map(|r| r.code.clone()),
                cause: t.cause.clone(),
                skipped: t.skipped.clone(),
                late: t.late,
                dims: t.dims.clone(),
            };
            Message {
                topic: Topic::JourneyEvents,
                id: event_id(&t.lead_id, t.seq),
                // A struct of strings, numbers and enums always serialises.
                body: serde_json::to_string(&event).unwrap_or_default(),
                delay_seconds: 0,
            }
        });
        let events: Vec<Message> = events.collect();
        self.outbox.extend(events);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use lifecycle::{transition::Reason, Transition};

    fn transition(seq: u32, to: Stage, note: Option<&str>) -> Transition {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        Transition {
            lead_id: LeadId::new("L1"),
            seq,
            cycle: 1,
            from: Some(Stage::Mql),
            to,
            effective_at: at,
            recorded_at: at,
            actor: Actor::System {
                component: "test".into(),
            },
            reason: note.map(|n| Reason {
                code: "no_budget".into(),
                note: Some(n.into()),
            }),
            cause: CauseId::new(format!("cause-{seq}")),
            skipped: Vec::new(),
            late: false,
            dims: Dimensions::default(),
        }
    }

    #[test]
    fn each_transition_becomes_one_event_and_the_note_stays_behind() {
        let mut commit = Commit::default();
        commit.transitions.push(transition(2, Stage::Sal, None));
        commit.transitions.push(transition(
            3,
            Stage::Disqualified,
            Some("called jane.doe@example.com"),
        ));

        let commit = commit.with_journey_events();

        let ids: Vec<_> = commit.outbox.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["L1:2", "L1:3"]);
        assert!(commit
            .outbox
            .iter()
            .all(|m| m.topic == Topic::JourneyEvents));
        assert!(!commit.outbox[1].body.contains("jane.doe"), "a note leaked");
        let event: JourneyEvent = serde_json::from_str(&commit.outbox[1].body).unwrap();
        assert_eq!(event.reason_code.as_deref(), Some("no_budget"));
        assert_eq!(event.to, Stage::Disqualified);
    }

    #[test]
    fn a_commit_without_transitions_publishes_nothing() {
        let commit = Commit::default().with_journey_events();
        assert!(commit.outbox.is_empty());
    }
}
