//! Transitions: the append-only record of every stage change.
//!
//! A transition says who moved which lead from where to where, when it happened
//! (`effective_at`), when the system learnt of it (`recorded_at`), why, and which event caused
//! it. It also carries a snapshot of the lead's reporting dimensions at that moment, so that a
//! funnel report is a pure function of the transitions and gives the same numbers whoever
//! rebuilds it, whenever.

use crate::{ids::CauseId, LeadId, RepId, Stage, Timestamp};
use serde::{Deserialize, Serialize};

/// Who made a transition happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A scoring, grading or routing rule, at a version.
    Rule {
        /// The rule's id.
        id: String,
        /// The rule set's version when it fired.
        version: u32,
    },
    /// A sales rep acting on their lead.
    Rep {
        /// The rep.
        id: RepId,
    },
    /// A person or system calling the API (the JWT subject).
    User {
        /// The subject.
        id: String,
    },
    /// A bulk import, named by its source file or batch.
    Import {
        /// The batch name.
        batch: String,
    },
    /// The system itself (an SLA escalation, a rescore job).
    System {
        /// Which part of the system.
        component: String,
    },
}

/// Why a lead was disqualified or recycled: a code from the configured list, and an optional
/// note. The note is free text and may hold personal data: it is stored, never logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// A code from the configured list, e.g. `no_budget`, `competitor`, `not_a_fit`.
    pub code: String,
    /// Free text from the person who gave the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Reason {
    /// A reason with no note.
    pub fn code(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            note: None,
        }
    }
}

/// The reporting dimensions of a lead at the moment of a transition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimensions {
    /// Acquisition source (`utm_source` or provider attribution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Campaign (`utm_campaign` or provider attribution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The form (or landing page) that captured the lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// The owning rep at the time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rep: Option<RepId>,
    /// The fit grade at the time (`A`…`F`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// The team (routing pool). Only SLA clock outcomes carry it for now: a lead records no
    /// pool, so transitions leave it empty and fall in the `"(none)"` team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// One append-only stage change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The lead.
    pub lead_id: LeadId,
    /// Position in the lead's history, from 1, without gaps.
    pub seq: u32,
    /// The cycle this transition belongs to, from 1.
    pub cycle: u32,
    /// The stage before; `None` for the transition that brought the lead into the system.
    pub from: Option<Stage>,
    /// The stage after.
    pub to: Stage,
    /// When it happened.
    pub effective_at: Timestamp,
    /// When the system learnt of it.
    pub recorded_at: Timestamp,
    /// Who did it.
    pub actor: Actor,
    /// Why (required for disqualify and recycle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The event that caused it; a cause produces a transition at most once.
    pub cause: CauseId,
    /// Funnel stages jumped over by this transition (a hand raiser accepted at once skips
    /// nothing; an MQL qualified straight to SQL skips SAL).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Stage>,
    /// A stage reached earlier than the lead's current position, learnt late (an out-of-order
    /// event). It fills in the cycle's history; it does not move the lead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    /// Reporting dimensions at the time.
    #[serde(default)]
    pub dims: Dimensions,
}
