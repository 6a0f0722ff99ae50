//! SLA clocks and their escalation steps.
//!
//! A **clock** is one running promise on one lead: it starts (at assignment for a
//! rep-response clock, at MQL for a routing-latency clock, at the accept for an SAL follow-up
//! clock), is **due** when the policy's
//! target in business time has passed, and **stops** when the owner acts. A lead that arrives
//! outside business hours is due from the next opening, and the due time is always after the
//! start, so a new clock is never already breached. A clock is **breached** when it was still
//! running at its due time.
//!
//! Reassignment stops the clock and starts a new one for the new owner, numbered by how many
//! reassignments came before it; the number is part of the clock's id, so every clock's
//! steps are distinct.
//!
//! An **escalation step** is one rung of the ladder, with an id `<clock id>:<step>` that the
//! sweep claims in the same commit as the step's effects, so a step happens once even when
//! sweeps overlap or one crashes midway. The ladder is: remind the owner (at a share of the
//! target); on breach tell the manager, then take the lead away: reassign it, or send it to
//! overflow once the reassignments are used up (never for an SAL follow-up clock, whose lead
//! the owner accepted; see [`ClockKind::may_reassign`]). Taking the lead away stops the clock, so it
//! comes last: a sweep that crashes after telling the manager still reassigns next time.
//! A ladder with none of those breach steps (a remind-only policy, or a routing-latency policy
//! that tells nobody) still has one: [`StepKind::RecordBreach`], which only marks the clock, so
//! every breach is woken for at its due time and its outcome stored then, not whenever the
//! clock happens to stop.
//! The clock copies the policy's ladder when it starts: editing a policy changes the clocks
//! started afterwards, not the ones running.

use super::{calendar::BusinessCalendar, policy::Escalation, ClockKind, LeadKind, SlaPolicy};
use crate::{
    funnel::{self, ClockOutcome},
    transition::Dimensions,
    LeadId, RepId, Timestamp,
};
use chrono::{Duration, SecondsFormat};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, fmt};

/// One rung of the escalation ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Remind the owner that the clock is running out.
    Remind,
    /// Take the lead from the owner and route it to the next eligible rep.
    Reassign,
    /// Reassignments are used up: send the lead to the pool's overflow queue.
    Overflow,
    /// Tell the manager about the breach.
    NotifyManager,
    /// Record the breach and nothing else: the breach step of a ladder that has no other (no
    /// manager to tell, no lead to take away), so that the breach is still acted on, and its
    /// outcome stored, at the due time.
    RecordBreach,
}

impl StepKind {
    /// The stable name used in step ids.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Remind => "remind",
            StepKind::Reassign => "reassign",
            StepKind::Overflow => "overflow",
            StepKind::NotifyManager => "notify_manager",
            StepKind::RecordBreach => "record_breach",
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step that is due now, for the sweep to carry out and claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationStep {
    /// `<clock id>:<step>`: the idempotency key of the step.
    pub id: String,
    /// The clock.
    pub clock: String,
    /// The lead.
    pub lead: LeadId,
    /// The owner the clock runs for, if any.
    pub owner: Option<RepId>,
    /// What to do.
    pub kind: StepKind,
    /// When it became due.
    pub due_at: Timestamp,
}

/// Where a clock stands, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStatus {
    /// Still running and not yet due.
    Running,
    /// Stopped before it was due: the promise was kept.
    Met,
    /// Due before it stopped (or still running past its due time): the promise was broken.
    Breached,
}

/// What starts a clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockStart {
    /// The lead.
    pub lead: LeadId,
    /// The lead's cycle (a recycled lead's next MQL gets fresh clocks).
    pub cycle: u32,
    /// How the lead became an MQL (carried on so a reassignment, or the accept's SAL follow-up
    /// clock, can ask for the policy of the same kind of lead).
    pub lead_kind: LeadKind,
    /// The owner; `None` for a routing-latency clock (and an SAL accepted while unowned).
    pub owner: Option<RepId>,
    /// How many reassignments came before this clock in the cycle.
    pub reassignments: u32,
    /// When the clock starts (the assignment, the MQL, or the accept).
    pub at: Timestamp,
    /// The pool (team) the lead was routed through, for the team's SLA compliance.
    pub pool: Option<String>,
}

/// One running (or stopped) promise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaClock {
    /// `<lead>:<cycle>:<kind>:<reassignments>`.
    pub id: String,
    /// The lead.
    pub lead: LeadId,
    /// The lead's cycle.
    pub cycle: u32,
    /// How the lead became an MQL.
    pub lead_kind: LeadKind,
    /// What the clock measures.
    pub kind: ClockKind,
    /// The policy it was started under.
    pub policy: String,
    /// The owner it runs for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<RepId>,
    /// Reassignments before this clock in the cycle.
    #[serde(default)]
    pub reassignments: u32,
    /// The pool (team) it runs in; `None` for clocks stored before pools were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// When it started.
    pub started_at: Timestamp,
    /// The first instant at which it is breached.
    pub due_at: Timestamp,
    /// When to remind the owner, if the policy says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_at: Option<Timestamp>,
    /// The policy's ladder, as it was when the clock started.
    pub escalation: Escalation,
    /// Steps carried out.
    #[serde(default)]
    pub steps_done: BTreeSet<StepKind>,
    /// When the owner acted (or the clock was otherwise stopped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<Timestamp>,
}

impl SlaClock {
    /// Starts a clock under `policy`, due after its target in `calendar`'s business time.
    pub fn start(policy: &SlaPolicy, calendar: &BusinessCalendar, start: ClockStart) -> Self {
        let target = Duration::minutes(i64::from(policy.target_minutes));
        let due_at = calendar.add_business_duration(start.at, target);
        let remind_at = policy.escalation.remind_at_percent.map(|percent| {
            let share = target * i32::from(percent) / 100;
            calendar.add_business_duration(start.at, share)
        });

        let kind = policy.clock;
        Self {
            id: format!(
                "{}:{}:{}:{}",
                start.lead, start.cycle, kind, start.reassignments
            ),
            lead: start.lead,
            cycle: start.cycle,
            lead_kind: start.lead_kind,
            kind,
            policy: policy.id.clone(),
            owner: start.owner,
            reassignments: start.reassignments,
            pool: start.pool,
            started_at: start.at,
            due_at,
            remind_at,
            escalation: policy.escalation.clone(),
            steps_done: BTreeSet::new(),
            stopped_at: None,
        }
    }

    /// Stops the clock; `false` if it was stopped already (the first stop stands).
    pub fn stop(&mut self, at: Timestamp) -> bool {
        if self.stopped_at.is_some() {
            return false;
        }
        self.stopped_at = Some(at);
        true
    }

    /// Whether the clock was still running at its due time, judged at `now`.
    pub fn is_breached(&self, now: Timestamp) -> bool {
        self.stopped_at.unwrap_or(now) >= self.due_at
    }

    /// Where the clock stands at `now`.
    pub fn status(&self, now: Timestamp) -> ClockStatus {
        match (self.is_breached(now), self.stopped_at) {
            (true, _) => ClockStatus::Breached,
            (false, Some(_)) => ClockStatus::Met,
            (false, None) => ClockStatus::Running,
        }
    }

    /// Whether the clock's outcome is final and has been recorded: it stopped, or the sweep
    /// acted on its breach. The commit that makes this true is the one that stores the
    /// outcome, so each clock's outcome is stored once (see [`Self::outcome_recorded_by`]).
    pub fn outcome_recorded(&self) -> bool {
        self.stopped_at.is_some() || self.steps_done.iter().any(|s| *s != StepKind::Remind)
    }

    /// Whether writing `self` over `before` (`None`: a clock new in this commit) is the write
    /// that makes the outcome final, so the commit must store it.
    pub fn outcome_recorded_by(&self, before: Option<&SlaClock>) -> bool {
        self.outcome_recorded() && !before.is_some_and(SlaClock::outcome_recorded)
    }

    /// How the clock ended, as the funnel's SLA compliance counts it, recorded at `now`;
    /// `None` while it is still running and not yet due, when nobody knows yet. A clock
    /// running past its due time is breached already. The outcome's rep is the clock's owner
    /// and its team the clock's pool; add the lead's other groups with
    /// [`ClockOutcome::with_lead_dims`].
    pub fn outcome(&self, now: Timestamp) -> Option<ClockOutcome> {
        let met = match self.status(now) {
            ClockStatus::Running => return None,
            ClockStatus::Met => true,
            ClockStatus::Breached => false,
        };
        let kind = match self.kind {
            ClockKind::RoutingLatency => funnel::ClockKind::Routing,
            ClockKind::RepResponse => funnel::ClockKind::Response,
            ClockKind::SalFollowUp => funnel::ClockKind::SalFollowUp,
        };
        Some(ClockOutcome {
            clock: self.id.clone(),
            lead: self.lead.clone(),
            kind,
            due_at: self.due_at,
            met,
            recorded_at: now,
            dims: Dimensions {
                rep: self.owner.clone(),
                team: self.pool.clone(),
                ..Dimensions::default()
            },
        })
    }

    /// Records that `step` was carried out; `false` if it already was.
    pub fn mark_done(&mut self, step: StepKind) -> bool {
        self.steps_done.insert(step)
    }

    /// The steps due at `now` and not yet done, in the order to carry them out. A stopped clock
    /// has none; a reminder whose moment passed after the breach is skipped (the breach steps
    /// say more).
    pub fn next_steps(&self, now: Timestamp) -> Vec<EscalationStep> {
        if self.stopped_at.is_some() {
            return Vec::new();
        }

        let mut due = Vec::new();
        if let Some(remind_at) = self.remind_at {
            if remind_at <= now && now < self.due_at {
                due.push((StepKind::Remind, remind_at));
            }
        }
        if now >= self.due_at {
            due.extend(self.breach_ladder().into_iter().map(|s| (s, self.due_at)));
        }

        due.into_iter()
            .filter(|(kind, _)| !self.steps_done.contains(kind))
            .map(|(kind, due_at)| self.step(kind, due_at))
            .collect()
    }

    /// When the sweep should next look at this clock: the earliest moment a step not yet done
    /// becomes due; `None` once nothing is left to do. Every ladder has a breach step (see
    /// [`StepKind::RecordBreach`]), so a running clock always wakes at its due time at the
    /// latest, and a reminder still pending wakes it before.
    pub fn next_wake(&self) -> Option<Timestamp> {
        if self.stopped_at.is_some() {
            return None;
        }
        let pending = |kind: &StepKind| !self.steps_done.contains(kind);

        let breach_pending = self.breach_ladder().iter().any(pending);
        let remind = self
            .remind_at
            .filter(|at| pending(&StepKind::Remind) && *at < self.due_at && breach_pending);
        let breach = breach_pending.then_some(self.due_at);
        remind.or(breach)
    }

    /// [`Self::next_wake`] as a sortable index value (RFC 3339, UTC, milliseconds) for the
    /// store's due-time index.
    pub fn wake_index(&self) -> Option<String> {
        self.next_wake()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    /// The breach steps this clock's ladder holds, in order: tell the manager, then reassign
    /// (or overflow once the reassignments are used up); only [`StepKind::RecordBreach`] when
    /// the policy asks for neither.
    fn breach_ladder(&self) -> Vec<StepKind> {
        let mut steps = Vec::new();
        if self.escalation.notify_manager {
            steps.push(StepKind::NotifyManager);
        }
        // Policies of a kind that may not reassign are refused; the kind is checked here too
        // so that no stored ladder can take an accepted lead away.
        if self.escalation.reassign && self.owner.is_some() && self.kind.may_reassign() {
            if self.reassignments < self.escalation.max_reassignments {
                steps.push(StepKind::Reassign);
            } else {
                steps.push(StepKind::Overflow);
            }
        }
        if steps.is_empty() {
            steps.push(StepKind::RecordBreach);
        }
        steps
    }

    /// Whether carrying out `step` takes the lead from the owner, which stops the clock.
    pub fn ends_with(step: StepKind) -> bool {
        matches!(step, StepKind::Reassign | StepKind::Overflow)
    }

    fn step(&self, kind: StepKind, due_at: Timestamp) -> EscalationStep {
        EscalationStep {
            id: format!("{}:{}", self.id, kind),
            clock: self.id.clone(),
            lead: self.lead.clone(),
            owner: self.owner.clone(),
            kind,
            due_at,
        }
    }
}
