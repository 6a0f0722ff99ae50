//! Assigning a lead by hand: a person names the rep.
//!
//! A manager takes a lead out of the overflow queue, gives a lead that is still waiting for
//! routing to somebody, or moves an MQL from one rep to another. [`Router::plan_by_hand`]
//! checks the request against the lead and the rep and builds the one commit that does it,
//! from the same documents and with the same writes routing uses, so an assignment by hand is
//! indistinguishable downstream from one by the rotation:
//!
//! * the lead's owner, at the version the person decided on + 1;
//! * the decision ([`lifecycle::routing::assign_by_hand`]), under the cycle's next attempt;
//! * the new rep's load counted (assigned today, open + 1), the previous owner's released;
//! * a rep-response clock for the new owner under the policy (as routing starts one);
//! * the lead's entry in its pool's overflow queue deleted;
//! * a [`Notice::LeadAssigned`] to the rep.
//!
//! The caller adds what is its own (the idempotency claims, the stop of the cycle's running
//! clocks, a free-text note) and commits. The rotation is not touched: the rep took no turn.
//!
//! **Attempts.** The decision is stored under the cycle's next attempt, after every decision
//! and clock the cycle has, and the new clock is numbered the same: a clock's id holds that
//! number and must be new, and a later reassignment by the SLA sweep numbers itself after it.
//! So an assignment by hand uses one of the reassignments the policy allows: a rep a manager
//! chose who lets the lead lapse sends it back to the overflow queue sooner, to the manager,
//! rather than into another rotation. That is deliberate; the manager chose.

use crate::{
    docs::{self, OverflowEntry},
    handler::{load_write, Inputs, LoadChange, Router},
    notice::Notice,
    RoutingError,
};
use lifecycle::{
    routing::{assign_by_hand, Exclusion},
    scoring::mql::HAND_RAISER_RULE,
    sla::{ClockKind, ClockStart, LeadKind, SlaClock},
    Actor, Lead, LeadId, RepId, Stage, Timestamp,
};
use ports::{Commit, DocumentWrite, Expect, LeadWrite, MAX_PAGE};

/// A person's request to give a lead to a rep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandAssignment {
    /// The lead.
    pub lead: LeadId,
    /// The rep named.
    pub rep: RepId,
    /// Who names them.
    pub actor: Actor,
    /// The lead version the person decided on.
    pub expected_version: u64,
}

/// Why an assignment by hand cannot be made. Each is the person's to fix, not a failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The lead moved since the person read it.
    #[error("the lead is at version {current}")]
    StaleVersion {
        /// The version stored now.
        current: u64,
    },
    /// Only an MQL waits for a rep; an accepted, qualified or closed lead is not reassigned.
    #[error("the lead is {0}, and only an MQL can be assigned")]
    NotAnMql(Stage),
    /// The rep named owns the lead already.
    #[error("the rep already owns the lead")]
    AlreadyOwner,
    /// The rep cannot work leads (unknown or inactive).
    #[error("the rep cannot take leads")]
    Rep(Exclusion),
}

/// What went wrong: a refusal, or a failure.
#[derive(Debug, thiserror::Error)]
pub enum HandError {
    /// The request cannot be carried out as it stands.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// Reading or encoding failed.
    #[error(transparent)]
    Failed(#[from] RoutingError),
}

/// The commit of an assignment by hand, for the caller to complete and apply.
#[derive(Debug, Clone)]
pub struct HandPlan {
    /// The writes and the notice; no claim yet.
    pub commit: Commit,
    /// The lead as the commit stores it.
    pub lead: Lead,
    /// The cycle.
    pub cycle: u32,
    /// The attempt the decision is stored under (see the module docs).
    pub attempt: u32,
}

impl Router {
    /// The commit that gives `request.lead` to `request.rep` at `now`, or why it cannot.
    pub async fn plan_by_hand(
        &self,
        request: &HandAssignment,
        now: Timestamp,
    ) -> Result<HandPlan, HandError> {
        let lead = self.lead(&request.lead).await?;
        if let Some(refused) = refusal(&lead, request) {
            return Err(HandError::Refused(refused));
        }
        let also: Vec<RepId> = lead.owner.iter().chain([&request.rep]).cloned().collect();
        let inputs = self.gather(&lead, &also, now).await?;
        let snapshot = inputs.reps.get(&request.rep);
        let decision = assign_by_hand(
            &inputs.facts,
            &inputs.pool,
            (&request.rep, snapshot),
            request.actor.clone(),
            now,
        )
        .map_err(|e| HandError::Refused(Refusal::Rep(e)))?;

        let cycle = lead.journey.cycle();
        let attempt = self.next_attempt(&lead.id, cycle).await?;
        let key = docs::decision_key(&lead.id, cycle, attempt);
        let mut commit = Commit::default();
        commit
            .documents
            .push(docs::put(docs::DECISION, &key, &decision, 0, None)?);
        commit.documents.extend(
            self.side_writes(&lead, &inputs, request, attempt, now)
                .await?,
        );
        let notice = Notice::LeadAssigned {
            lead: lead.id.clone(),
            cycle,
            rep: request.rep.clone(),
            pool: inputs.pool.id.clone(),
        };
        commit
            .outbox
            .push(notice.message(format!("assigned:{key}")));
        let next = owned_by(&lead, &request.rep, now);
        commit.lead = Some(LeadWrite {
            lead: next.clone(),
            expect: Expect::Version(lead.version),
            new_identities: Vec::new(),
        });
        Ok(HandPlan {
            commit,
            lead: next,
            cycle,
            attempt,
        })
    }

    /// The writes besides the lead and the decision: both reps' loads, the overflow entry's
    /// delete and the new owner's clock.
    async fn side_writes(
        &self,
        lead: &Lead,
        inputs: &Inputs,
        request: &HandAssignment,
        attempt: u32,
        now: Timestamp,
    ) -> Result<Vec<DocumentWrite>, RoutingError> {
        let mut writes = loads(inputs, lead, request, now)?;
        let queue = &inputs.pool.overflow_queue;
        writes.extend(self.overflow_delete(queue, &lead.id).await?);
        let clock = self.hand_clock(lead, inputs, request, attempt, now).await?;
        if let Some(clock) = clock {
            let put = docs::put(docs::SLA_CLOCK, &clock.id, &clock, 0, clock.wake_index())?;
            writes.push(put);
        }
        Ok(writes)
    }

    /// The attempt after every decision and clock stored for the lead's `cycle` (0 when there
    /// is none: the lead was never routed).
    async fn next_attempt(&self, lead: &LeadId, cycle: u32) -> Result<u32, RoutingError> {
        let decisions = self.keys(docs::DECISION, &format!("{lead}:")).await?;
        let decided = decisions
            .iter()
            .filter_map(|k| docs::decision_of(k, lead))
            .filter(|(c, _)| *c == cycle)
            .map(|(_, attempt)| attempt);
        let clocks = self
            .keys(docs::SLA_CLOCK, &format!("{lead}:{cycle}:"))
            .await?;
        let numbered = clocks
            .iter()
            .filter_map(|k| k.rsplit(':').next()?.parse::<u32>().ok());
        Ok(decided.chain(numbered).max().map_or(0, |last| last + 1))
    }

    async fn keys(&self, collection: &str, prefix: &str) -> Result<Vec<String>, RoutingError> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.docs.list(collection, prefix, cursor, MAX_PAGE).await?;
            keys.extend(page.items.into_iter().map(|d| d.key));
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// The delete of the lead's entry in `queue`, if it has one. Conditional on the version
    /// read: a sweep overflowing the lead again meanwhile makes the commit conflict.
    async fn overflow_delete(
        &self,
        queue: &str,
        lead: &LeadId,
    ) -> Result<Option<DocumentWrite>, RoutingError> {
        let key = format!("{queue}:{lead}");
        let found = docs::load::<OverflowEntry>(self.docs.as_ref(), docs::OVERFLOW, &key).await?;
        Ok(found.map(|entry| DocumentWrite::Delete {
            collection: docs::OVERFLOW.to_owned(),
            key,
            expect: Expect::Version(entry.version),
        }))
    }

    /// The new owner's rep-response clock, as routing starts one; none when no policy applies
    /// or no calendar is stored.
    async fn hand_clock(
        &self,
        lead: &Lead,
        inputs: &Inputs,
        request: &HandAssignment,
        attempt: u32,
        now: Timestamp,
    ) -> Result<Option<SlaClock>, RoutingError> {
        let Some((policies, calendar)) = self.sla_setup(&inputs.pool.id).await? else {
            return Ok(None);
        };
        let kind = self.lead_kind(lead).await?;
        let Some(policy) = policies.find(ClockKind::RepResponse, lead.stage(), kind) else {
            return Ok(None);
        };
        let start = ClockStart {
            lead: lead.id.clone(),
            cycle: lead.journey.cycle(),
            lead_kind: kind,
            owner: Some(request.rep.clone()),
            reassignments: attempt,
            at: now,
            pool: Some(inputs.pool.id.clone()),
        };
        Ok(Some(SlaClock::start(policy, &calendar, start)))
    }

    /// How the lead became an MQL in its current cycle, as scoring told routing: a hand raiser
    /// when the hand-raiser rule moved it, else behavioural.
    async fn lead_kind(&self, lead: &Lead) -> Result<LeadKind, RoutingError> {
        let cycle = lead.journey.cycle();
        let history = self.journey.transitions(&lead.id).await?;
        let mql = history
            .iter()
            .rev()
            .find(|t| t.cycle == cycle && t.to == Stage::Mql);
        let raised = mql
            .is_some_and(|t| matches!(&t.actor, Actor::Rule { id, .. } if id == HAND_RAISER_RULE));
        Ok(if raised {
            LeadKind::HandRaiser
        } else {
            LeadKind::Behavioural
        })
    }
}

/// Why the request cannot be made on `lead` as stored, if it cannot.
fn refusal(lead: &Lead, request: &HandAssignment) -> Option<Refusal> {
    if lead.version != request.expected_version {
        return Some(Refusal::StaleVersion {
            current: lead.version,
        });
    }
    if lead.stage() != Stage::Mql {
        return Some(Refusal::NotAnMql(lead.stage()));
    }
    (lead.owner.as_ref() == Some(&request.rep)).then_some(Refusal::AlreadyOwner)
}

/// The new rep's counter with the lead counted, and the previous owner's with it released
/// (none for a rep who has no counter or availability to keep one by).
fn loads(
    inputs: &Inputs,
    lead: &Lead,
    request: &HandAssignment,
    now: Timestamp,
) -> Result<Vec<DocumentWrite>, RoutingError> {
    let mut writes = Vec::new();
    if let Some(previous) = &lead.owner {
        writes.extend(load_write(inputs, previous, now, LoadChange::Closed)?);
    }
    writes.extend(load_write(inputs, &request.rep, now, LoadChange::Assigned)?);
    Ok(writes)
}

fn owned_by(lead: &Lead, rep: &RepId, now: Timestamp) -> Lead {
    let mut next = lead.clone();
    next.owner = Some(rep.clone());
    next.updated_at = now;
    next.version = lead.version + 1;
    next
}
