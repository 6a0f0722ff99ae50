//! Route requests: the message that asks for a lead to be routed.
//!
//! Scoring sends one when a lead becomes an MQL; the SLA sweep sends one when a breached
//! clock's ladder says *reassign*. The request carries ids and the lead kind only, never
//! personal data. Its **attempt** (0 for the first routing of a cycle, then one more per
//! reassignment) makes its idempotency key, so a redelivered request routes nobody twice.

use crate::{sla::LeadKind, LeadId, RepId, Timestamp};
use serde::{Deserialize, Serialize};

/// Asks routing to find the lead an owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRequest {
    /// The lead.
    pub lead: LeadId,
    /// The cycle it became an MQL in.
    pub cycle: u32,
    /// How it became an MQL (chooses the SLA policy).
    pub lead_kind: LeadKind,
    /// When routing was asked for (the MQL, or the breach).
    pub requested_at: Timestamp,
    /// Set when the SLA sweep takes the lead from an owner who let the clock lapse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassignment: Option<Reassignment>,
}

/// A reassignment after a breach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reassignment {
    /// 1 for the first reassignment of the cycle, and so on.
    pub attempt: u32,
    /// Everyone who had the lead in this cycle and let it lapse; none of them gets it again.
    pub previous_owners: Vec<RepId>,
    /// The clock whose breach asked for it.
    pub clock: String,
}

impl RouteRequest {
    /// 0 for the first routing of the cycle, then the reassignment's number.
    pub fn attempt(&self) -> u32 {
        self.reassignment.as_ref().map_or(0, |r| r.attempt)
    }

    /// The idempotency key: `route:<lead>:<cycle>:<attempt>`.
    pub fn claim_key(&self) -> String {
        format!("route:{}:{}:{}", self.lead, self.cycle, self.attempt())
    }

    /// The reps who may not get the lead back.
    pub fn previous_owners(&self) -> &[RepId] {
        self.reassignment
            .as_ref()
            .map_or(&[], |r| r.previous_owners.as_slice())
    }
}
