//! Routing decisions: who gets a lead, and why.
//!
//! [`route`] is pure: given a lead's facts, its pool, the reps' availability and load, the
//! pool's rotation state and the time, it returns a [`RoutingDecision`] and the rotation state
//! to store. It never reads a clock and never writes, so a **dry run** ("who would get this
//! lead, and why") is the same call with its result not stored.
//!
//! The order of the steps:
//!
//! 1. **Account match** (when the pool asks for it): a lead whose company already has an owner
//!    goes to that owner if they are eligible; the rotation is not touched.
//! 2. **Rotation**: every member is a candidate; the eligible one whose turn starts earliest
//!    gets the lead (see [`super::rotation`] for turns and tie-breaks).
//! 3. **Overflow**: nobody eligible; the lead goes to the pool's overflow queue. A lead is never
//!    dropped.
//!
//! A person may also name the rep ([`assign_by_hand`]): a manager taking a lead out of the
//! overflow queue, or moving it to another rep. That decision is recorded the same way, with
//! the named rep as its one candidate.

use super::{
    config::{Pool, PoolMember},
    facts::LeadFacts,
    rep::{exclusions, Exclusion, RepSnapshot},
    rotation::{RotationState, Standing},
};
use crate::{Actor, RepId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything [`route`] looks at besides the lead and the pool.
#[derive(Debug, Clone, Copy)]
pub struct RoutingContext<'a> {
    /// Availability and load of every member (and of the account owner, if any). A member
    /// missing here is treated as unknown and never assigned.
    pub reps: &'a BTreeMap<RepId, RepSnapshot>,
    /// The pool's rotation state as stored.
    pub rotation: &'a RotationState,
    /// Now.
    pub now: Timestamp,
    /// Reps who had the lead before in this cycle and let its SLA lapse: a reassignment goes
    /// to somebody else.
    pub previous_owners: &'a [RepId],
}

impl<'a> RoutingContext<'a> {
    /// A context with no previous owners.
    pub fn new(
        reps: &'a BTreeMap<RepId, RepSnapshot>,
        rotation: &'a RotationState,
        now: Timestamp,
    ) -> Self {
        Self {
            reps,
            rotation,
            now,
            previous_owners: &[],
        }
    }

    /// The same context, for a reassignment away from `previous_owners`.
    pub fn reassigning(self, previous_owners: &'a [RepId]) -> Self {
        Self {
            previous_owners,
            ..self
        }
    }
}

/// Why a candidate was considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The owner of the lead's account.
    AccountOwner,
    /// A member of the pool, in the rotation.
    Member,
    /// The rep a person named when assigning the lead by hand.
    Chosen,
}

/// One rep considered for the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The rep.
    pub rep: RepId,
    /// Why they were considered.
    pub role: Role,
    /// Every reason they could not take the lead; empty when eligible.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Exclusion>,
    /// Their place in the rotation (members only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing: Option<Standing>,
}

impl Candidate {
    /// Whether nothing excluded them.
    pub fn is_eligible(&self) -> bool {
        self.excluded.is_empty()
    }
}

/// How the winner was told apart from the other eligible candidates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum TieBreak {
    /// Nobody was eligible.
    Nobody,
    /// The account owner was eligible.
    AccountOwner,
    /// One eligible member had the earliest turn.
    EarliestTurn,
    /// Several had the earliest turn; the winner had the fewest leads from the rotation.
    FewestAssigned {
        /// The members that shared the earliest turn.
        tied: Vec<RepId>,
    },
    /// Several had the earliest turn and as many leads; the lowest rep id won.
    LowestRepId {
        /// The members that shared the earliest turn and count.
        tied: Vec<RepId>,
    },
    /// A person named the rep.
    Manual {
        /// Who.
        actor: Actor,
    },
}

/// Where the lead goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Outcome {
    /// To a rep.
    Rep {
        /// The rep.
        rep: RepId,
    },
    /// To the pool's overflow queue.
    Overflow {
        /// The queue.
        queue: String,
    },
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingDecision {
    /// The lead and the facts the decision was made on.
    pub facts: LeadFacts,
    /// The pool.
    pub pool: String,
    /// Where the lead goes.
    pub outcome: Outcome,
    /// Everyone considered, in the order considered (account owner first, then members by
    /// rep id).
    pub candidates: Vec<Candidate>,
    /// How the winner was picked.
    pub tie_break: TieBreak,
    /// When.
    pub decided_at: Timestamp,
}

impl RoutingDecision {
    /// The assignee, unless the lead overflowed.
    pub fn assignee(&self) -> Option<&RepId> {
        match &self.outcome {
            Outcome::Rep { rep } => Some(rep),
            Outcome::Overflow { .. } => None,
        }
    }
}

/// A decision and the rotation state to store with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The decision.
    pub decision: RoutingDecision,
    /// The rotation after it (unchanged unless the rotation gave the lead).
    pub rotation: RotationState,
}

/// Decides who gets the lead. `account_owner` is the owner of the lead's company domain, if
/// one is known; it is used only when the pool has account matching on.
pub fn route(
    facts: &LeadFacts,
    account_owner: Option<&RepId>,
    pool: &Pool,
    ctx: RoutingContext<'_>,
) -> Routed {
    let mut candidates = Vec::new();
    let decide = |outcome, tie_break, candidates| RoutingDecision {
        facts: facts.clone(),
        pool: pool.id.clone(),
        outcome,
        candidates,
        tie_break,
        decided_at: ctx.now,
    };

    if let Some(owner) = account_owner.filter(|_| pool.account_match) {
        let candidate = account_candidate(owner, facts, pool, ctx);
        let eligible = candidate.is_eligible();
        candidates.push(candidate);
        if eligible {
            let outcome = Outcome::Rep { rep: owner.clone() };
            let decision = decide(outcome, TieBreak::AccountOwner, candidates);
            return Routed {
                decision,
                rotation: ctx.rotation.clone(),
            };
        }
    }

    let members = member_candidates(facts, pool, ctx);
    let winner = pick(&members);
    candidates.extend(members);

    let mut rotation = ctx.rotation.clone();
    let Some((rep, standing, tie_break)) = winner else {
        let outcome = Outcome::Overflow {
            queue: pool.overflow_queue.clone(),
        };
        let decision = decide(outcome, TieBreak::Nobody, candidates);
        return Routed { decision, rotation };
    };

    let weight = pool
        .members
        .iter()
        .find(|m| m.rep == rep)
        .map_or(1, |m| pool.weight_of(m));
    rotation.take_turn(&rep, standing, weight);
    let decision = decide(Outcome::Rep { rep }, tie_break, candidates);
    Routed { decision, rotation }
}

/// The decision of a person who names `rep` for the lead, or why `rep` cannot have it.
///
/// A rep who is unknown, inactive, out of office or at a cap is refused, by hand as by the
/// rotation: the design's promise is that nobody is given a lead then, whoever gives it. To
/// take a lead out of the overflow queue a manager names a rep who is back, or has room (an
/// admin can raise a cap). What only steers the rotation (outside working hours, outside the
/// territory, a previous owner) is the person's call to override, and is recorded on the one
/// candidate, so the decision shows what was overridden. The rotation is not touched: the rep
/// did not take a turn.
pub fn assign_by_hand(
    facts: &LeadFacts,
    pool: &Pool,
    (rep, snapshot): (&RepId, Option<&RepSnapshot>),
    actor: Actor,
    now: Timestamp,
) -> Result<RoutingDecision, Exclusion> {
    let member = pool.members.iter().find(|m| &m.rep == rep);
    let excluded = exclusions(snapshot, member, facts, now);
    let refused = excluded.iter().find(|e| {
        matches!(
            e,
            Exclusion::UnknownRep
                | Exclusion::Inactive
                | Exclusion::OutOfOffice { .. }
                | Exclusion::DailyCap { .. }
                | Exclusion::OpenLeadCap { .. }
        )
    });
    if let Some(refused) = refused {
        return Err(refused.clone());
    }
    let candidate = Candidate {
        rep: rep.clone(),
        role: Role::Chosen,
        excluded,
        standing: None,
    };
    Ok(RoutingDecision {
        facts: facts.clone(),
        pool: pool.id.clone(),
        outcome: Outcome::Rep { rep: rep.clone() },
        candidates: vec![candidate],
        tie_break: TieBreak::Manual { actor },
        decided_at: now,
    })
}

/// Routes leads that arrived together, one after the other, exactly as if each had arrived
/// alone after the previous one was stored: each decision sees the rotation and the loads the
/// earlier ones left. Returns the decisions in order and the final rotation state.
pub fn route_batch(
    leads: &[(LeadFacts, Option<RepId>)],
    pool: &Pool,
    ctx: RoutingContext<'_>,
) -> (Vec<RoutingDecision>, RotationState) {
    let mut reps = ctx.reps.clone();
    let mut rotation = ctx.rotation.clone();
    let mut decisions = Vec::with_capacity(leads.len());

    for (facts, owner) in leads {
        let step = RoutingContext {
            reps: &reps,
            rotation: &rotation,
            ..ctx
        };
        let routed = route(facts, owner.as_ref(), pool, step);
        if let Some(snapshot) = routed.decision.assignee().and_then(|r| reps.get_mut(r)) {
            snapshot.load.assigned_today += 1;
            snapshot.load.open_leads += 1;
        }
        rotation = routed.rotation;
        decisions.push(routed.decision);
    }
    (decisions, rotation)
}

fn account_candidate(
    owner: &RepId,
    facts: &LeadFacts,
    pool: &Pool,
    ctx: RoutingContext<'_>,
) -> Candidate {
    // An owner who is also a member keeps their caps; their territory does not apply, since
    // the account is already theirs.
    let member = pool.members.iter().find(|m| &m.rep == owner).map(|m| {
        let mut caps_only = m.clone();
        caps_only.territory = None;
        caps_only
    });
    Candidate {
        rep: owner.clone(),
        role: Role::AccountOwner,
        excluded: excluded(owner, member.as_ref(), facts, ctx),
        standing: None,
    }
}

fn excluded(
    rep: &RepId,
    member: Option<&PoolMember>,
    facts: &LeadFacts,
    ctx: RoutingContext<'_>,
) -> Vec<Exclusion> {
    let mut out = exclusions(ctx.reps.get(rep), member, facts, ctx.now);
    if ctx.previous_owners.contains(rep) {
        out.push(Exclusion::PreviousOwner);
    }
    out
}

/// Every member as a candidate, in rep-id order so that the record does not depend on the
/// order in which members were listed.
fn member_candidates(facts: &LeadFacts, pool: &Pool, ctx: RoutingContext<'_>) -> Vec<Candidate> {
    let mut members: Vec<_> = pool.members.iter().collect();
    members.sort_by(|a, b| a.rep.cmp(&b.rep));

    members
        .into_iter()
        .map(|m| Candidate {
            rep: m.rep.clone(),
            role: Role::Member,
            excluded: excluded(&m.rep, Some(m), facts, ctx),
            standing: Some(ctx.rotation.standing(&m.rep, pool.returning)),
        })
        .collect()
}

/// The eligible member whose turn starts earliest (then fewest assigned, then lowest id), and
/// how the tie was broken.
fn pick(candidates: &[Candidate]) -> Option<(RepId, Standing, TieBreak)> {
    let eligible: Vec<(&RepId, Standing)> = candidates
        .iter()
        .filter(|c| c.is_eligible())
        .filter_map(|c| c.standing.map(|s| (&c.rep, s)))
        .collect();
    let (rep, best) = eligible.iter().min_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)))?;

    let same_turn: Vec<RepId> = eligible
        .iter()
        .filter(|(_, s)| s.turn_starts == best.turn_starts)
        .map(|(r, _)| (*r).clone())
        .collect();
    let same_count: Vec<RepId> = eligible
        .iter()
        .filter(|(_, s)| *s == *best)
        .map(|(r, _)| (*r).clone())
        .collect();

    let tie_break = match (same_turn.len(), same_count.len()) {
        (1, _) => TieBreak::EarliestTurn,
        (_, 1) => TieBreak::FewestAssigned { tied: same_turn },
        _ => TieBreak::LowestRepId { tied: same_count },
    };
    Some(((*rep).clone(), *best, tie_break))
}
