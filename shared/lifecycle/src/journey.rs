//! The stage machine.
//!
//! A lead's position is never stored on its own: [`JourneyState`] is a fold of the lead's
//! transitions, and [`JourneyState::decide`] is the only way to produce a new transition. The
//! rules, in order:
//!
//! 1. A cause that already produced a transition produces nothing again
//!    ([`StageOutcome::AlreadyApplied`]).
//! 2. A lead enters the system once, at `New` (cycle 1, `from = None`).
//! 3. Within a cycle, funnel stages only move forward. A jump records the stages it skipped.
//! 4. An event for a funnel stage the cycle skipped, or for one that happened before the cycle
//!    closed, arrives *late*: it is recorded with `late = true` and its real `effective_at`, so
//!    the cycle's history is complete, but the lead does not move. This is what makes the
//!    outcome independent of the order in which stage events arrive: the final stage and every
//!    "became X at" time are the same whichever order the events come in.
//! 5. An event for a stage the cycle already reached changes nothing
//!    ([`StageOutcome::AlreadyReached`]): an MQL fires once per cycle.
//! 6. Disqualify needs a reason and an open funnel stage (not `Won`). Recycle needs a reason
//!    and an open or disqualified lead. Both close the cycle.
//! 7. A funnel event after a closed cycle starts the next cycle; the closed cycle's history is
//!    left as it was.

use crate::{
    transition::{Actor, Dimensions, Reason, Transition},
    CauseId, LeadId, Stage, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A request to move a lead, from a rule, a rep, an import or the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageEvent {
    /// The stage asked for.
    pub to: Stage,
    /// The event that asks for it (its idempotency key).
    pub cause: CauseId,
    /// Who asks.
    pub actor: Actor,
    /// Why; required for `Disqualified` and `Recycled`.
    pub reason: Option<Reason>,
    /// When it happened.
    pub effective_at: Timestamp,
    /// When the system learnt of it.
    pub recorded_at: Timestamp,
    /// The lead's reporting dimensions now, copied onto the transition.
    pub dims: Dimensions,
}

/// What deciding on a [`StageEvent`] gives.
// A short-lived return value: boxing the transition would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageOutcome {
    /// A new transition to append (and to fold into the state).
    Applied(Transition),
    /// The cause was applied before: nothing changes.
    AlreadyApplied,
    /// The cycle already reached that stage: nothing changes.
    AlreadyReached,
}

/// Why a stage event is refused. Refusals are the caller's mistake (a 409 or 422 at the API),
/// never a reason to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JourneyError {
    /// The lead has no history yet; it must enter at `New` first.
    #[error("the lead has not entered the journey yet")]
    NotStarted,
    /// Disqualify and recycle must say why.
    #[error("moving a lead to {0} needs a reason")]
    ReasonRequired(Stage),
    /// The move is not allowed from where the lead is.
    #[error("a lead cannot move from {from} to {to}")]
    NotAllowed {
        /// Where the lead is.
        from: Stage,
        /// Where it was asked to go.
        to: Stage,
    },
}

/// One cycle of a lead's journey: when it entered each stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleState {
    /// The cycle number, from 1.
    pub cycle: u32,
    /// When the lead entered each stage in this cycle ("became X at").
    pub entered: BTreeMap<Stage, Timestamp>,
    /// The highest funnel stage reached in the cycle.
    pub top: Stage,
    /// The stage that closed the cycle (`Disqualified` or `Recycled`), if any.
    pub closed_by: Option<Stage>,
}

impl CycleState {
    fn new(cycle: u32, stage: Stage, at: Timestamp) -> Self {
        let mut c = Self {
            cycle,
            entered: BTreeMap::new(),
            top: Stage::New,
            closed_by: None,
        };
        c.record(stage, at);
        c
    }

    fn record(&mut self, stage: Stage, at: Timestamp) {
        self.entered.entry(stage).or_insert(at);
        if stage.closes_cycle() {
            self.closed_by = Some(stage);
        } else if stage.rank() > self.top.rank() {
            self.top = stage;
        }
    }

    /// When the lead entered `stage` in this cycle.
    pub fn entered_at(&self, stage: Stage) -> Option<Timestamp> {
        self.entered.get(&stage).copied()
    }

    /// Whether the cycle got to `stage` or past it along the funnel (a skipped stage counts as
    /// passed).
    pub fn reached(&self, stage: Stage) -> bool {
        match stage.rank() {
            Some(r) => self.top.rank().is_some_and(|top| top >= r),
            None => self.entered.contains_key(&stage),
        }
    }

    /// The highest funnel stage entered strictly below `stage`: the `from` of a late fill-in.
    fn below(&self, stage: Stage) -> Stage {
        self.entered
            .keys()
            .copied()
            .filter(|s| s.rank().is_some() && s.rank() < stage.rank())
            .max_by_key(|s| s.rank())
            .unwrap_or(Stage::New)
    }
}

/// A lead's position, folded from its transitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyState {
    /// Where the lead is now; `None` before it entered the journey.
    pub stage: Option<Stage>,
    /// Every cycle, oldest first.
    pub cycles: Vec<CycleState>,
    /// How many transitions were folded.
    pub seq: u32,
    /// The causes already applied.
    pub causes: BTreeSet<CauseId>,
}

impl JourneyState {
    /// Folds a lead's transitions (in `seq` order) into its state.
    pub fn fold<'a>(transitions: impl IntoIterator<Item = &'a Transition>) -> Self {
        let mut state = Self::default();
        for t in transitions {
            state.push(t);
        }
        state
    }

    /// Folds one more transition.
    pub fn push(&mut self, t: &Transition) {
        self.seq = t.seq.max(self.seq);
        self.causes.insert(t.cause.clone());

        let index = t.cycle.saturating_sub(1) as usize;
        match self.cycles.get_mut(index) {
            Some(cycle) => cycle.record(t.to, t.effective_at),
            None => self
                .cycles
                .push(CycleState::new(t.cycle, t.to, t.effective_at)),
        }
        if !t.late {
            self.stage = Some(t.to);
        }
    }

    /// The current cycle number (0 before the lead entered the journey).
    pub fn cycle(&self) -> u32 {
        self.cycles.last().map_or(0, |c| c.cycle)
    }

    /// The current cycle.
    pub fn current(&self) -> Option<&CycleState> {
        self.cycles.last()
    }

    /// Decides what `event` does to this lead. Pure: the caller appends an applied transition
    /// and folds it in.
    pub fn decide(&self, lead: &LeadId, event: &StageEvent) -> Result<StageOutcome, JourneyError> {
        if self.causes.contains(&event.cause) {
            return Ok(StageOutcome::AlreadyApplied);
        }
        let (Some(stage), Some(cycle)) = (self.stage, self.cycles.last()) else {
            return self.enter(lead, event);
        };

        match event.to {
            Stage::New => Ok(StageOutcome::AlreadyReached),
            Stage::Disqualified => self.disqualify(lead, event, stage, cycle),
            Stage::Recycled => self.recycle(lead, event, stage, cycle),
            _ if stage.closes_cycle() => self.after_close(lead, event, stage, cycle),
            _ => self.forward(lead, event, stage, cycle),
        }
    }

    fn enter(&self, lead: &LeadId, event: &StageEvent) -> Result<StageOutcome, JourneyError> {
        if event.to != Stage::New {
            return Err(JourneyError::NotStarted);
        }
        Ok(StageOutcome::Applied(self.transition(lead, event, None, 1)))
    }

    fn forward(
        &self,
        lead: &LeadId,
        event: &StageEvent,
        stage: Stage,
        cycle: &CycleState,
    ) -> Result<StageOutcome, JourneyError> {
        if event.to.rank() > stage.rank() {
            let mut t = self.transition(lead, event, Some(stage), cycle.cycle);
            t.skipped = stage.between(event.to);
            return Ok(StageOutcome::Applied(t));
        }
        Ok(self.fill_in(lead, event, cycle))
    }

    fn after_close(
        &self,
        lead: &LeadId,
        event: &StageEvent,
        stage: Stage,
        cycle: &CycleState,
    ) -> Result<StageOutcome, JourneyError> {
        let closed_at = cycle.entered_at(stage).unwrap_or(event.effective_at);
        if event.effective_at < closed_at {
            // It happened while the closed cycle was still open: it belongs to that cycle.
            return Ok(self.fill_in(lead, event, cycle));
        }

        let mut t = self.transition(lead, event, Some(stage), cycle.cycle + 1);
        t.skipped = Stage::New.between(event.to);
        Ok(StageOutcome::Applied(t))
    }

    fn fill_in(&self, lead: &LeadId, event: &StageEvent, cycle: &CycleState) -> StageOutcome {
        if cycle.entered.contains_key(&event.to) {
            return StageOutcome::AlreadyReached;
        }
        let mut t = self.transition(lead, event, Some(cycle.below(event.to)), cycle.cycle);
        t.late = true;
        StageOutcome::Applied(t)
    }

    /// `at`, or the moment the current cycle opened if `at` is earlier.
    ///
    /// A stage is not entered before the cycle it belongs to began: an activity dated before
    /// the lead existed (a tracking call's `occurred_at` of year 1) would otherwise put an MQL
    /// before its `New`, and a negative lag in every report. The bound is the first cycle's
    /// `New`, or the transition that closed the cycle before; both arrive before anything
    /// else of their cycle, so the bound, and the outcome, do not depend on the order in
    /// which the cycle's other events arrive.
    fn no_earlier_than_the_cycle(&self, at: Timestamp) -> Timestamp {
        let opened = match self.cycles.as_slice() {
            [.., before, _] => before.closed_by.and_then(|s| before.entered_at(s)),
            [first] => first.entered_at(Stage::New),
            [] => None,
        };
        opened.map_or(at, |opened| at.max(opened))
    }

    fn disqualify(
        &self,
        lead: &LeadId,
        event: &StageEvent,
        stage: Stage,
        cycle: &CycleState,
    ) -> Result<StageOutcome, JourneyError> {
        require_reason(event)?;
        match stage {
            Stage::Disqualified => Ok(StageOutcome::AlreadyReached),
            Stage::Won | Stage::Recycled => Err(JourneyError::NotAllowed {
                from: stage,
                to: event.to,
            }),
            _ => Ok(StageOutcome::Applied(self.transition(
                lead,
                event,
                Some(stage),
                cycle.cycle,
            ))),
        }
    }

    fn recycle(
        &self,
        lead: &LeadId,
        event: &StageEvent,
        stage: Stage,
        cycle: &CycleState,
    ) -> Result<StageOutcome, JourneyError> {
        require_reason(event)?;
        match stage {
            Stage::Recycled => Ok(StageOutcome::AlreadyReached),
            Stage::Won => Err(JourneyError::NotAllowed {
                from: stage,
                to: event.to,
            }),
            _ => Ok(StageOutcome::Applied(self.transition(
                lead,
                event,
                Some(stage),
                cycle.cycle,
            ))),
        }
    }

    fn transition(
        &self,
        lead: &LeadId,
        event: &StageEvent,
        from: Option<Stage>,
        cycle: u32,
    ) -> Transition {
        Transition {
            lead_id: lead.clone(),
            seq: self.seq + 1,
            cycle,
            from,
            to: event.to,
            effective_at: self.no_earlier_than_the_cycle(event.effective_at),
            recorded_at: event.recorded_at,
            actor: event.actor.clone(),
            reason: event.reason.clone(),
            cause: event.cause.clone(),
            skipped: Vec::new(),
            late: false,
            dims: event.dims.clone(),
        }
    }

    /// Decides and, if a transition results, folds it in. Returns the outcome.
    pub fn apply(
        &mut self,
        lead: &LeadId,
        event: &StageEvent,
    ) -> Result<StageOutcome, JourneyError> {
        let outcome = self.decide(lead, event)?;
        if let StageOutcome::Applied(t) = &outcome {
            self.push(t);
        }
        Ok(outcome)
    }
}

fn require_reason(event: &StageEvent) -> Result<(), JourneyError> {
    match &event.reason {
        Some(r) if !r.code.trim().is_empty() => Ok(()),
        _ => Err(JourneyError::ReasonRequired(event.to)),
    }
}

#[cfg(test)]
mod tests;
