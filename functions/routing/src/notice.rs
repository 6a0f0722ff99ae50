//! Notices: what routing and the SLA sweep tell people, sent on the notifications queue.
//!
//! A notice names a lead, a rep and a clock by id; the notifier looks up whatever it needs to
//! write the actual message, so no personal data travels through the queue.

use lifecycle::{LeadId, RepId, Timestamp};
use ports::{Message, Topic};
use serde::{Deserialize, Serialize};

/// Something to tell someone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// A rep got a lead.
    LeadAssigned {
        /// The lead.
        lead: LeadId,
        /// Its cycle.
        cycle: u32,
        /// The rep.
        rep: RepId,
        /// The pool.
        pool: String,
    },
    /// Nobody could take a lead: it waits in an overflow queue.
    LeadOverflowed {
        /// The lead.
        lead: LeadId,
        /// Its cycle.
        cycle: u32,
        /// The pool.
        pool: String,
        /// The queue.
        queue: String,
        /// The pool's manager, if one is set.
        manager: Option<RepId>,
    },
    /// An SLA clock is running out.
    SlaReminder {
        /// The lead.
        lead: LeadId,
        /// The clock.
        clock: String,
        /// The owner.
        rep: RepId,
        /// When it is due.
        due_at: Timestamp,
    },
    /// An SLA clock was breached.
    SlaBreached {
        /// The lead.
        lead: LeadId,
        /// The clock.
        clock: String,
        /// The owner it ran for.
        owner: Option<RepId>,
        /// When it was due.
        due_at: Timestamp,
    },
}

impl Notice {
    /// The notice as a message with id `id` (the consumer dedupes on it).
    pub fn message(&self, id: impl Into<String>) -> Message {
        Message {
            topic: Topic::Notifications,
            id: id.into(),
            // A derived enum of ids and timestamps always encodes.
            body: serde_json::to_string(self).unwrap_or_default(),
            delay_seconds: 0,
        }
    }
}
