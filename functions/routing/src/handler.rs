//! The routing handler: one route request in, one atomic commit out.
//!
//! For each request the handler reads the lead, the routing configuration, the pool's members
//! (availability and load), the account owner and the pool's rotation; asks the core
//! ([`lifecycle::routing::route`]) who gets the lead; and commits, all at once: the request's
//! idempotency claim, the lead's new owner, the rotation, the members' loads, the decision,
//! the SLA clocks, the overflow entry and the notices to send. Every document write expects
//! the version it read, so when another router took a turn in between the commit conflicts
//! and the handler decides again from fresh reads: concurrent routers behave as if they had
//! taken turns one at a time.

use crate::{
    docs::{self, AccountOwner, OverflowCause, OverflowEntry, Versioned},
    error::RoutingError,
    notice::Notice,
};
use lifecycle::routing::LeadFacts;
use lifecycle::{
    routing::{
        route, LoadCounter, Outcome, Pool, RepSnapshot, RotationState, RouteRequest, Routed,
        RoutingConfig, RoutingContext, RoutingDecision,
    },
    sla::{BusinessCalendar, ClockKind, ClockStart, SlaClock, SlaPolicies},
    Lead, LeadId, RepId, Stage, Timestamp,
};
use ports::{
    Commit, CommitOutcome, DocumentStore, DocumentWrite, Expect, JourneyStore, LeadWrite, Queue,
};
use std::{collections::BTreeMap, sync::Arc};
use tracing::{debug, info, warn};

/// How many times a handler decides again after losing a race before giving the message back
/// to the queue.
const MAX_TRIES: usize = 5;

/// What handling a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// The lead has a new owner.
    Assigned(RepId),
    /// Nobody was eligible: the lead waits in the overflow queue.
    Overflowed(String),
    /// Nothing to do; the request's claim is recorded so a redelivery is a duplicate.
    Skipped(SkipReason),
    /// The request was handled before; its messages were sent again.
    Duplicate,
}

/// Why a request needed no routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The lead has moved on to another cycle.
    StaleCycle,
    /// The lead is no longer waiting for a rep (accepted, qualified, disqualified...).
    NotWaiting(Stage),
    /// The lead already has an owner (first routing only).
    AlreadyOwned,
    /// The lead's owner is not the one the reassignment was taking it from.
    OwnerChanged,
}

/// The routing function's dependencies.
#[derive(Clone)]
pub struct Router {
    pub(crate) journey: Arc<dyn JourneyStore>,
    pub(crate) docs: Arc<dyn DocumentStore>,
    queue: Arc<dyn Queue>,
}

/// Everything the core needs for one lead, with the versions read.
pub(crate) struct Inputs {
    pub(crate) facts: LeadFacts,
    pub(crate) pool: Pool,
    account_owner: Option<RepId>,
    pub(crate) reps: BTreeMap<RepId, RepSnapshot>,
    loads: BTreeMap<RepId, Versioned<LoadCounter>>,
    rotation: Versioned<RotationState>,
}

impl Router {
    /// A router over these ports.
    pub fn new(
        journey: Arc<dyn JourneyStore>,
        docs: Arc<dyn DocumentStore>,
        queue: Arc<dyn Queue>,
    ) -> Self {
        Self {
            journey,
            docs,
            queue,
        }
    }

    /// Handles a batch of queue records `(record id, body)`, one span each, and returns the ids
    /// of the records that failed. Every failure is returned, permanent ones too: SQS delivers
    /// them again until they land in the dead-letter queue, where nothing is lost and an
    /// operator can look. The log says which kind each failure was.
    pub async fn handle_batch(
        &self,
        records: impl IntoIterator<Item = (String, Option<String>)>,
        now: Timestamp,
    ) -> Vec<String> {
        let mut failed = Vec::new();
        for (id, body) in records {
            let span = tracing::info_span!("MQL queue record", record = %id);
            let result = self.handle_message(body.as_deref().unwrap_or_default(), now);
            if let Err(e) = tracing::Instrument::instrument(result, span.clone()).await {
                let _entered = span.enter();
                warn!(error = %e, retryable = e.is_retryable(), "record failed");
                failed.push(id);
            }
        }
        failed
    }

    /// Handles one message of the MQL queue.
    pub async fn handle_message(
        &self,
        body: &str,
        now: Timestamp,
    ) -> Result<RouteOutcome, RoutingError> {
        let request: RouteRequest = serde_json::from_str(body).map_err(RoutingError::BadMessage)?;
        self.route(&request, now).await
    }

    /// Routes the lead of `request`, exactly once however often the request arrives.
    #[tracing::instrument(
        name = "route a lead",
        skip_all,
        fields(lead = %request.lead, cycle = request.cycle, attempt = request.attempt()),
        err
    )]
    pub async fn route(
        &self,
        request: &RouteRequest,
        now: Timestamp,
    ) -> Result<RouteOutcome, RoutingError> {
        for _ in 0..MAX_TRIES {
            let (commit, outcome) = self.prepare(request, now).await?;
            match self.journey.commit(commit).await? {
                CommitOutcome::Committed => {
                    info!(?outcome, "routing committed");
                    return Ok(outcome);
                }
                CommitOutcome::Duplicate { outbox, .. } => {
                    self.queue.send(&outbox).await?;
                    info!("route request seen before; its messages were sent again");
                    return Ok(RouteOutcome::Duplicate);
                }
                CommitOutcome::Conflict { what } => debug!(%what, "lost a race, deciding again"),
            }
        }
        Err(RoutingError::Contended)
    }

    /// Who would get the lead now, and why, without assigning anything.
    pub async fn dry_run(
        &self,
        lead: &LeadId,
        now: Timestamp,
    ) -> Result<RoutingDecision, RoutingError> {
        let lead = self.lead(lead).await?;
        let inputs = self.gather(&lead, &[], now).await?;
        Ok(decide(&inputs, &[], now).decision)
    }

    pub(crate) async fn lead(&self, id: &LeadId) -> Result<Lead, RoutingError> {
        let found = self.journey.lead(id).await?;
        found.ok_or_else(|| RoutingError::LeadMissing(id.clone()))
    }

    /// The commit for one attempt at the request, and what it will have done.
    async fn prepare(
        &self,
        request: &RouteRequest,
        now: Timestamp,
    ) -> Result<(Commit, RouteOutcome), RoutingError> {
        let lead = self.lead(&request.lead).await?;
        let mut commit = Commit::claiming(request.claim_key(), None);
        if let Some(reason) = skip_reason(&lead, request) {
            return Ok((commit, RouteOutcome::Skipped(reason)));
        }

        let inputs = self.gather(&lead, request.previous_owners(), now).await?;
        let routed = decide(&inputs, request.previous_owners(), now);
        let clocks = self
            .clocks(&lead, request, &inputs.pool, &routed.decision, now)
            .await?;
        let outcome = fill(&mut commit, &lead, request, &inputs, &routed, now)?;
        for clock in clocks {
            // A routing-latency clock stopped by this very assignment is final already.
            let outcome = docs::outcome_writes(None, &clock, &lead.dimensions(), now)?;
            commit.documents.push(docs::put(
                docs::SLA_CLOCK,
                &clock.id,
                &clock,
                0,
                clock.wake_index(),
            )?);
            commit.documents.extend(outcome);
        }
        Ok((commit, outcome))
    }

    /// Reads everything the decision depends on; the reps in `also` are read too (previous
    /// owners, so that the one losing the lead has their open count lowered; a rep named by
    /// hand).
    pub(crate) async fn gather(
        &self,
        lead: &Lead,
        also: &[RepId],
        now: Timestamp,
    ) -> Result<Inputs, RoutingError> {
        let store = self.docs.as_ref();
        let config = docs::load::<RoutingConfig>(store, docs::CONFIG, docs::ROUTING_CONFIG)
            .await?
            .ok_or(RoutingError::NoConfig)?
            .value;
        config.validate().map_err(RoutingError::BadConfig)?;

        let facts = LeadFacts::from_lead(lead);
        let pool = config
            .select_pool(&facts)
            .ok_or(RoutingError::NoConfig)?
            .pool
            .clone();
        let account_owner = self.account_owner(&pool, &facts).await?;

        let mut wanted: Vec<RepId> = pool.members.iter().map(|m| m.rep.clone()).collect();
        wanted.extend(account_owner.iter().chain(also).cloned());
        wanted.sort();
        wanted.dedup();
        let (reps, loads) = self.reps(&wanted, now).await?;
        let rotation = docs::load(store, docs::ROTATION, &pool.id).await?;
        let rotation = rotation.unwrap_or_else(|| Versioned {
            value: RotationState::new(&pool.id),
            version: 0,
        });

        Ok(Inputs {
            facts,
            pool,
            account_owner,
            reps,
            loads,
            rotation,
        })
    }

    async fn account_owner(
        &self,
        pool: &Pool,
        facts: &LeadFacts,
    ) -> Result<Option<RepId>, RoutingError> {
        let Some(domain) = facts
            .company_domain
            .as_deref()
            .filter(|_| pool.account_match)
        else {
            return Ok(None);
        };
        let found = docs::load::<AccountOwner>(self.docs.as_ref(), docs::ACCOUNT, domain).await?;
        Ok(found.map(|a| a.value.owner))
    }

    /// Availability and load of each rep; a rep without an availability document is left out
    /// (the core then records them as unknown).
    ///
    /// Known cost: two reads per rep, one after the other (the document port has no batch
    /// get), so a pool of 25 costs 50 round trips per lead on DynamoDB. A `get_many` on the
    /// port would make it one or two.
    async fn reps(
        &self,
        ids: &[RepId],
        now: Timestamp,
    ) -> Result<
        (
            BTreeMap<RepId, RepSnapshot>,
            BTreeMap<RepId, Versioned<LoadCounter>>,
        ),
        RoutingError,
    > {
        let store = self.docs.as_ref();
        let mut reps = BTreeMap::new();
        let mut loads = BTreeMap::new();
        for id in ids {
            let Some(availability) = docs::load_rep(store, id).await? else {
                continue;
            };
            let counter =
                docs::load_or_default::<LoadCounter>(store, docs::REP_LOAD, id.as_str()).await?;
            let load = counter.value.load_on(availability.value.local_day(now));
            reps.insert(
                id.clone(),
                RepSnapshot {
                    availability: availability.value,
                    load,
                },
            );
            loads.insert(id.clone(), counter);
        }
        Ok((reps, loads))
    }

    /// The clocks to store with the decision: the routing-latency clock (first routing only;
    /// stopped when the lead was assigned), and the new owner's response clock. None when no
    /// policy applies or no calendar is stored.
    async fn clocks(
        &self,
        lead: &Lead,
        request: &RouteRequest,
        pool: &Pool,
        decision: &RoutingDecision,
        now: Timestamp,
    ) -> Result<Vec<SlaClock>, RoutingError> {
        let Some((policies, calendar)) = self.sla_setup(&pool.id).await? else {
            return Ok(Vec::new());
        };
        let start = |owner: Option<RepId>, at| ClockStart {
            lead: lead.id.clone(),
            cycle: request.cycle,
            lead_kind: request.lead_kind,
            owner,
            reassignments: request.attempt(),
            at,
            pool: Some(pool.id.clone()),
        };
        let mut clocks = Vec::new();
        let assignee = decision.assignee().cloned();

        if request.attempt() == 0 {
            if let Some(policy) =
                policies.find(ClockKind::RoutingLatency, Stage::Mql, request.lead_kind)
            {
                let mut clock =
                    SlaClock::start(policy, &calendar, start(None, request.requested_at));
                if assignee.is_some() {
                    clock.stop(now);
                }
                clocks.push(clock);
            }
        }
        if let Some(rep) = assignee {
            if let Some(policy) =
                policies.find(ClockKind::RepResponse, lead.stage(), request.lead_kind)
            {
                clocks.push(SlaClock::start(policy, &calendar, start(Some(rep), now)));
            }
        }
        Ok(clocks)
    }

    /// The SLA policies and the pool's business calendar; none when either is missing (no
    /// clock can start then).
    pub(crate) async fn sla_setup(
        &self,
        pool: &str,
    ) -> Result<Option<(SlaPolicies, BusinessCalendar)>, RoutingError> {
        let store = self.docs.as_ref();
        let Some(policies) =
            docs::load::<SlaPolicies>(store, docs::CONFIG, docs::SLA_POLICIES).await?
        else {
            return Ok(None);
        };
        let Some(calendar) = self.calendar(pool).await? else {
            warn!(%pool, "SLA policies are set but no business calendar is: no clocks started");
            return Ok(None);
        };
        Ok(Some((policies.value, calendar)))
    }

    async fn calendar(&self, pool: &str) -> Result<Option<BusinessCalendar>, RoutingError> {
        docs::calendar(self.docs.as_ref(), pool).await
    }
}

/// Why the request needs no routing, if it does not.
fn skip_reason(lead: &Lead, request: &RouteRequest) -> Option<SkipReason> {
    if lead.journey.cycle() != request.cycle {
        return Some(SkipReason::StaleCycle);
    }
    let stage = lead.stage();
    match request.previous_owners().last() {
        None if stage != Stage::Mql => Some(SkipReason::NotWaiting(stage)),
        None if lead.owner.is_some() => Some(SkipReason::AlreadyOwned),
        Some(_) if !matches!(stage, Stage::Mql | Stage::Sal) => Some(SkipReason::NotWaiting(stage)),
        Some(last) if lead.owner.as_ref() != Some(last) => Some(SkipReason::OwnerChanged),
        _ => None,
    }
}

fn decide(inputs: &Inputs, previous_owners: &[RepId], now: Timestamp) -> Routed {
    let ctx =
        RoutingContext::new(&inputs.reps, &inputs.rotation.value, now).reassigning(previous_owners);
    route(
        &inputs.facts,
        inputs.account_owner.as_ref(),
        &inputs.pool,
        ctx,
    )
}

/// Adds the decision's writes and messages to `commit`.
fn fill(
    commit: &mut Commit,
    lead: &Lead,
    request: &RouteRequest,
    inputs: &Inputs,
    routed: &Routed,
    now: Timestamp,
) -> Result<RouteOutcome, RoutingError> {
    let decision_key = docs::decision_key(&lead.id, request.cycle, request.attempt());
    commit.documents.push(docs::put(
        docs::DECISION,
        &decision_key,
        &routed.decision,
        0,
        None,
    )?);
    if routed.rotation != inputs.rotation.value {
        let rotation = Versioned {
            value: routed.rotation.clone(),
            version: inputs.rotation.version,
        };
        commit
            .documents
            .push(rotation.write(docs::ROTATION, &inputs.pool.id, None)?);
    }
    if let Some(previous) = request.previous_owners().last() {
        commit
            .documents
            .extend(load_write(inputs, previous, now, LoadChange::Closed)?);
    }

    let mut updated = lead.clone();
    updated.owner = routed.decision.assignee().cloned();
    updated.updated_at = now;
    updated.version = lead.version + 1;
    commit.lead = Some(LeadWrite {
        lead: updated,
        expect: Expect::Version(lead.version),
        new_identities: Vec::new(),
    });

    match &routed.decision.outcome {
        Outcome::Rep { rep } => {
            commit
                .documents
                .extend(load_write(inputs, rep, now, LoadChange::Assigned)?);
            let notice = Notice::LeadAssigned {
                lead: lead.id.clone(),
                cycle: request.cycle,
                rep: rep.clone(),
                pool: inputs.pool.id.clone(),
            };
            commit
                .outbox
                .push(notice.message(format!("assigned:{decision_key}")));
            Ok(RouteOutcome::Assigned(rep.clone()))
        }
        Outcome::Overflow { queue } => {
            let cause = OverflowCause::NobodyEligible {
                decision: decision_key,
            };
            overflow(commit, lead, request, inputs, (queue, cause), now)?;
            Ok(RouteOutcome::Overflowed(queue.clone()))
        }
    }
}

fn overflow(
    commit: &mut Commit,
    lead: &Lead,
    request: &RouteRequest,
    inputs: &Inputs,
    (queue, cause): (&str, OverflowCause),
    now: Timestamp,
) -> Result<(), RoutingError> {
    let entry = OverflowEntry {
        queue: queue.to_owned(),
        pool: inputs.pool.id.clone(),
        lead: lead.id.clone(),
        cycle: request.cycle,
        queued_at: now,
        cause: Some(cause),
    };
    let index = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let key = format!("{queue}:{}", lead.id);
    // A lead may overflow again in a later cycle: replace whatever entry is there.
    let mut write = docs::put(docs::OVERFLOW, &key, &entry, 0, index)?;
    if let DocumentWrite::Put { expect, .. } = &mut write {
        *expect = Expect::Any;
    }
    commit.documents.push(write);

    let notice = Notice::LeadOverflowed {
        lead: lead.id.clone(),
        cycle: request.cycle,
        pool: inputs.pool.id.clone(),
        queue: queue.to_owned(),
        manager: inputs.pool.manager.clone(),
    };
    let id = format!(
        "overflowed:{}:{}:{}",
        lead.id,
        request.cycle,
        request.attempt()
    );
    commit.outbox.push(notice.message(id));
    Ok(())
}

/// How a lead changes a rep's load.
#[derive(Clone, Copy)]
pub(crate) enum LoadChange {
    Assigned,
    Closed,
}

/// The write of `rep`'s load counter after `change`; none for a rep whose availability was not
/// read (an unknown rep has no counter to keep).
pub(crate) fn load_write(
    inputs: &Inputs,
    rep: &RepId,
    now: Timestamp,
    change: LoadChange,
) -> Result<Option<DocumentWrite>, RoutingError> {
    let (Some(counter), Some(snapshot)) = (inputs.loads.get(rep), inputs.reps.get(rep)) else {
        return Ok(None);
    };
    let mut next = counter.clone();
    match change {
        LoadChange::Assigned => next.value.assigned(snapshot.availability.local_day(now)),
        LoadChange::Closed => next.value.closed(),
    }
    next.write(docs::REP_LOAD, rep.as_str(), None).map(Some)
}
