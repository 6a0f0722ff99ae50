//! SLA policies: which promise applies to a lead, and what happens when it is broken.
//!
//! A **policy** names a clock kind ([`ClockKind`]), the stage the lead is in while the clock
//! runs, optionally the kind of lead it is for ([`LeadKind`]), a **target** in business
//! minutes, and an **escalation ladder**: a reminder to the owner at a share of the target,
//! then on breach a reassignment to the next eligible rep (until a number of reassignments is
//! used up, after which the lead goes to the overflow queue), and a message to the manager.
//! An SAL follow-up policy has no reassignment: the rep accepted the lead, and keeps it.
//!
//! Policies are edited through the API as one versioned document ([`SlaPolicies`]), validated
//! as a whole.

use crate::Stage;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, fmt};

/// What a clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// From the moment a lead needs an owner (it became an MQL) until it is assigned.
    RoutingLatency,
    /// From the assignment until the owner acts on the MQL: accepts, qualifies, disqualifies,
    /// rejects or recycles it. Restarts, for the new owner, on reassignment.
    RepResponse,
    /// From the accept (MQL → SAL) until the owner qualifies, disqualifies, rejects or recycles
    /// the lead. Started by the accept itself; never reassigns (an accepted lead is the rep's).
    SalFollowUp,
}

impl ClockKind {
    /// The stable name used in clock ids.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::RoutingLatency => "routing_latency",
            ClockKind::RepResponse => "rep_response",
            ClockKind::SalFollowUp => "sal_follow_up",
        }
    }

    /// The stage a lead is in while a clock of this kind runs, and so the stage its policies
    /// must name: routing starts the first two for an MQL, the accept starts the third.
    pub fn stage(self) -> Stage {
        match self {
            ClockKind::RoutingLatency | ClockKind::RepResponse => Stage::Mql,
            ClockKind::SalFollowUp => Stage::Sal,
        }
    }

    /// Whether a breach of this kind may take the lead from its owner (reassign, or overflow
    /// once the reassignments are used up). An accepted lead is the rep's: their manager hears
    /// of a late follow-up, but routing does not hand the lead to someone else.
    pub fn may_reassign(self) -> bool {
        self != ClockKind::SalFollowUp
    }
}

impl fmt::Display for ClockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a lead came to need sales, for choosing between policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadKind {
    /// The lead asked for sales (demo request, contact sales, demo booked).
    HandRaiser,
    /// The lead crossed the grade and score thresholds.
    Behavioural,
}

/// What happens as a clock runs out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// Remind the owner when this share (percent, 1 to 99) of the target has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_at_percent: Option<u8>,
    /// On breach, reassign to the next eligible rep (through routing).
    #[serde(default)]
    pub reassign: bool,
    /// How many times a lead is reassigned in one cycle before a breach sends it to the
    /// overflow queue instead.
    #[serde(default)]
    pub max_reassignments: u32,
    /// On breach, tell the owner's manager (or the pool's, for a routing-latency clock).
    #[serde(default)]
    pub notify_manager: bool,
}

impl Default for Escalation {
    fn default() -> Self {
        Self {
            remind_at_percent: None,
            reassign: false,
            max_reassignments: 0,
            notify_manager: true,
        }
    }
}

/// One promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicy {
    /// A stable id, unique among the policies (`hand_raiser_accept`).
    pub id: String,
    /// What the clock measures.
    pub clock: ClockKind,
    /// The stage the lead is in while the clock runs: [`ClockKind::stage`] (`sal` for
    /// `sal_follow_up`, `mql` for the others; see [`PolicyError::UntimedStage`]).
    pub stage: Stage,
    /// The kind of lead; `None` applies to every kind without a more specific policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_kind: Option<LeadKind>,
    /// The target, in business minutes of the team's calendar.
    pub target_minutes: u32,
    /// The ladder.
    #[serde(default)]
    pub escalation: Escalation,
}

/// Why a set of policies is refused. Messages name policies by id (configuration, not
/// personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A policy without an id.
    #[error("a policy has an empty id")]
    EmptyId,
    /// Two policies share an id.
    #[error("policy id {0:?} is used twice")]
    DuplicateId(String),
    /// A zero target would breach at once.
    #[error("policy {0:?}: target_minutes must be at least 1")]
    ZeroTarget(String),
    /// The reminder share is outside 1..=99.
    #[error("policy {policy:?}: remind_at_percent must be between 1 and 99, not {percent}")]
    RemindShare {
        /// The policy.
        policy: String,
        /// The share given.
        percent: u8,
    },
    /// Each kind of clock runs at one stage ([`ClockKind::stage`]): routing starts
    /// `routing_latency` and `rep_response` clocks for an MQL, an accept starts the
    /// `sal_follow_up` clock of the SAL. A policy naming another stage would be stored and never
    /// run, so it is refused.
    #[error(
        "policy {policy:?}: a {clock} clock runs at stage {expected}, not {stage} (routing \
         starts routing_latency and rep_response clocks for an MQL; an accept starts the \
         sal_follow_up clock of an SAL)"
    )]
    UntimedStage {
        /// The policy.
        policy: String,
        /// The policy's clock.
        clock: ClockKind,
        /// The stage given.
        stage: Stage,
        /// The stage that clock runs at.
        expected: Stage,
    },
    /// A routing-latency clock has no owner to remind or to take the lead from.
    #[error("policy {0:?}: a routing_latency clock has no owner to remind or reassign from")]
    NoOwner(String),
    /// A breach of an SAL follow-up clock may not take the lead away: the rep accepted it.
    #[error(
        "policy {0:?}: a sal_follow_up clock may remind the owner and notify the manager, but not \
         reassign: an accepted lead stays with the rep who accepted it"
    )]
    AcceptedLead(String),
    /// Two policies answer the same question.
    #[error("policies {0:?} and {1:?} apply to the same clock, stage and lead kind")]
    Ambiguous(String, String),
}

/// Every policy of a team, as one document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicies {
    /// The policies.
    pub policies: Vec<SlaPolicy>,
}

impl SlaPolicies {
    /// Checks each policy, then that ids are unique and no two policies overlap.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let mut ids = BTreeSet::new();
        for p in &self.policies {
            p.validate()?;
            if !ids.insert(p.id.as_str()) {
                return Err(PolicyError::DuplicateId(p.id.clone()));
            }
        }

        for (i, a) in self.policies.iter().enumerate() {
            let twin = self.policies[i + 1..]
                .iter()
                .find(|b| (a.clock, a.stage, a.lead_kind) == (b.clock, b.stage, b.lead_kind));
            if let Some(b) = twin {
                return Err(PolicyError::Ambiguous(a.id.clone(), b.id.clone()));
            }
        }
        Ok(())
    }

    /// The policy for a clock of `kind` on a lead at `stage` of kind `lead_kind`: the one for
    /// that lead kind, else the one for any kind.
    pub fn find(&self, kind: ClockKind, stage: Stage, lead_kind: LeadKind) -> Option<&SlaPolicy> {
        let matching = |want: Option<LeadKind>| {
            self.policies
                .iter()
                .find(|p| p.clock == kind && p.stage == stage && p.lead_kind == want)
        };
        matching(Some(lead_kind)).or_else(|| matching(None))
    }
}

impl SlaPolicy {
    /// Checks one policy on its own.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.id.trim().is_empty() {
            return Err(PolicyError::EmptyId);
        }
        let id = || self.id.clone();

        if self.target_minutes == 0 {
            return Err(PolicyError::ZeroTarget(id()));
        }
        let expected = self.clock.stage();
        if self.stage != expected {
            return Err(PolicyError::UntimedStage {
                policy: id(),
                clock: self.clock,
                stage: self.stage,
                expected,
            });
        }
        if let Some(percent) = self.escalation.remind_at_percent {
            if !(1..=99).contains(&percent) {
                return Err(PolicyError::RemindShare {
                    policy: id(),
                    percent,
                });
            }
        }

        let ownerless = self.clock == ClockKind::RoutingLatency;
        if ownerless && (self.escalation.reassign || self.escalation.remind_at_percent.is_some()) {
            return Err(PolicyError::NoOwner(id()));
        }
        if self.escalation.reassign && !self.clock.may_reassign() {
            return Err(PolicyError::AcceptedLead(id()));
        }
        Ok(())
    }
}
