//! One escalation step as one commit: the step's claim, the clock marked with the step, the
//! clock's outcome when this step makes it final, and the step's effects:
//!
//! | step | effect |
//! |---|---|
//! | remind | an `SlaReminder` notice to the owner |
//! | notify manager | an `SlaBreached` notice (the notifier finds the pool's manager) |
//! | record breach | none: the outcome stored is the whole step |
//! | reassign | a route request on `mqls` naming everyone who let a clock of this cycle lapse |
//! | overflow | the lead taken from its owner into the pool's overflow queue, and a notice |

use crate::sweep::{Stored, SweepError, Sweeper};
use chrono::SecondsFormat;
use lifecycle::{
    routing::{LeadFacts, LoadCounter, RouteRequest, RoutingConfig},
    sla::{ClockKind, EscalationStep, SlaClock, StepKind},
    Lead, RepId, Timestamp,
};
use ports::{Commit, DocumentWrite, Expect, LeadWrite, Message, Topic};
use routing::{
    docs::{self, OverflowCause, OverflowEntry, Versioned},
    Notice, RoutingError,
};

/// A step's commit, and the clock as it will be stored once the commit is applied.
pub(crate) struct Planned {
    pub(crate) commit: Commit,
    pub(crate) after: Stored,
}

/// The commit that carries out `step` on `clock` at `now`.
pub(crate) async fn plan(
    sweeper: &Sweeper,
    clock: &Versioned<SlaClock>,
    step: &EscalationStep,
    now: Timestamp,
) -> Result<Planned, SweepError> {
    let mut commit = Commit::claiming(format!("sla_step:{}", step.id), None);
    let mut next = clock.clone();
    next.value.mark_done(step.kind);
    if SlaClock::ends_with(step.kind) {
        next.value.stop(now);
    }
    let index = next.value.wake_index();
    commit
        .documents
        .push(next.write(docs::SLA_CLOCK, &clock.value.id, index.clone())?);
    commit
        .documents
        .extend(outcome(sweeper, &clock.value, &next.value, now).await?);
    effects(sweeper, &mut commit, &clock.value, step, now).await?;

    let after = Stored {
        clock: Versioned {
            value: next.value,
            version: clock.version + 1,
        },
        index,
    };
    Ok(Planned { commit, after })
}

/// The outcome writes, when this step is the clock's first breach step: the outcome is final
/// then, grouped by the lead's dimensions now (an erased or missing lead keeps only the rep and
/// team).
async fn outcome(
    sweeper: &Sweeper,
    before: &SlaClock,
    after: &SlaClock,
    now: Timestamp,
) -> Result<Vec<DocumentWrite>, SweepError> {
    if !after.outcome_recorded_by(Some(before)) {
        return Ok(Vec::new());
    }
    let lead = sweeper.journey.lead(&before.lead).await?;
    let dims = lead.map(|l| l.dimensions()).unwrap_or_default();
    Ok(docs::outcome_writes(Some(before), after, &dims, now)?)
}

/// Adds what `step` does to `commit`.
async fn effects(
    sweeper: &Sweeper,
    commit: &mut Commit,
    c: &SlaClock,
    step: &EscalationStep,
    now: Timestamp,
) -> Result<(), SweepError> {
    let notice_id = || format!("notice:{}", step.id);
    match step.kind {
        StepKind::Remind => {
            if let Some(rep) = c.owner.clone() {
                let notice = Notice::SlaReminder {
                    lead: c.lead.clone(),
                    clock: c.id.clone(),
                    rep,
                    due_at: c.due_at,
                };
                commit.outbox.push(notice.message(notice_id()));
            }
        }
        StepKind::NotifyManager => {
            let notice = Notice::SlaBreached {
                lead: c.lead.clone(),
                clock: c.id.clone(),
                owner: c.owner.clone(),
                due_at: c.due_at,
            };
            commit.outbox.push(notice.message(notice_id()));
        }
        StepKind::RecordBreach => {}
        StepKind::Reassign => commit
            .outbox
            .push(reassignment(sweeper, c, step, now).await?),
        StepKind::Overflow => overflow(sweeper, commit, c, step, now).await?,
    }
    Ok(())
}

/// Whether `step` is the first step of `clock`'s breach (none of its breach steps done yet).
pub(crate) fn first_breach_step(clock: &SlaClock, step: StepKind) -> bool {
    let breach = |k: &StepKind| *k != StepKind::Remind;
    breach(&step) && !clock.steps_done.iter().any(breach)
}

/// The route request that takes the lead from the clock's owner. Everyone who let a clock
/// of this cycle lapse before is listed, so none of them gets the lead back.
async fn reassignment(
    sweeper: &Sweeper,
    clock: &SlaClock,
    step: &EscalationStep,
    now: Timestamp,
) -> Result<Message, SweepError> {
    let mut previous_owners = Vec::new();
    for earlier in 0..clock.reassignments {
        let key = format!(
            "{}:{}:{}:{earlier}",
            clock.lead,
            clock.cycle,
            ClockKind::RepResponse
        );
        if let Some(old) =
            docs::load::<SlaClock>(sweeper.docs.as_ref(), docs::SLA_CLOCK, &key).await?
        {
            previous_owners.extend(old.value.owner);
        }
    }
    previous_owners.extend(clock.owner.clone());
    previous_owners.dedup();

    let request = RouteRequest {
        lead: clock.lead.clone(),
        cycle: clock.cycle,
        lead_kind: clock.lead_kind,
        requested_at: now,
        reassignment: Some(lifecycle::routing::Reassignment {
            attempt: clock.reassignments + 1,
            previous_owners,
            clock: clock.id.clone(),
        }),
    };
    let body = serde_json::to_string(&request).map_err(RoutingError::Encode)?;
    Ok(Message {
        topic: Topic::Mqls,
        id: step.id.clone(),
        body,
        delay_seconds: 0,
    })
}

/// Takes the lead from the clock's owner into the pool's overflow queue, if the owner still
/// has it (otherwise the step only marks the clock).
async fn overflow(
    sweeper: &Sweeper,
    commit: &mut Commit,
    clock: &SlaClock,
    step: &EscalationStep,
    now: Timestamp,
) -> Result<(), SweepError> {
    let Some(lead) = sweeper.journey.lead(&clock.lead).await? else {
        return Ok(());
    };
    if lead.owner != clock.owner || lead.journey.cycle() != clock.cycle {
        return Ok(());
    }
    let store = sweeper.docs.as_ref();
    let Some(config) =
        docs::load::<RoutingConfig>(store, docs::CONFIG, docs::ROUTING_CONFIG).await?
    else {
        return Err(RoutingError::NoConfig.into());
    };
    let Some(choice) = config.value.select_pool(&LeadFacts::from_lead(&lead)) else {
        return Err(RoutingError::NoConfig.into());
    };
    let pool = choice.pool;

    let entry = OverflowEntry {
        queue: pool.overflow_queue.clone(),
        pool: pool.id.clone(),
        lead: lead.id.clone(),
        cycle: clock.cycle,
        queued_at: now,
        cause: Some(OverflowCause::SlaEscalation {
            clock: clock.id.clone(),
            owner: clock.owner.clone(),
        }),
    };
    let index = Some(now.to_rfc3339_opts(SecondsFormat::Millis, true));
    let key = format!("{}:{}", entry.queue, lead.id);
    commit.documents.push(any_version(docs::put(
        docs::OVERFLOW,
        &key,
        &entry,
        0,
        index,
    )?));
    if let Some(owner) = &clock.owner {
        commit.documents.extend(closed_load(sweeper, owner).await?);
    }
    commit.lead = Some(unowned(&lead, now));

    let notice = Notice::LeadOverflowed {
        lead: lead.id.clone(),
        cycle: clock.cycle,
        pool: pool.id.clone(),
        queue: entry.queue.clone(),
        manager: pool.manager.clone(),
    };
    commit
        .outbox
        .push(notice.message(format!("notice:{}", step.id)));
    Ok(())
}

async fn closed_load(sweeper: &Sweeper, rep: &RepId) -> Result<Option<DocumentWrite>, SweepError> {
    let found =
        docs::load::<LoadCounter>(sweeper.docs.as_ref(), docs::REP_LOAD, rep.as_str()).await?;
    let Some(mut counter) = found else {
        return Ok(None);
    };
    counter.value.closed();
    Ok(Some(counter.write(docs::REP_LOAD, rep.as_str(), None)?))
}

/// An unconditional put: a lead may overflow again in a later cycle, replacing its old entry.
fn any_version(mut write: DocumentWrite) -> DocumentWrite {
    if let DocumentWrite::Put { expect, .. } = &mut write {
        *expect = Expect::Any;
    }
    write
}

fn unowned(lead: &Lead, now: Timestamp) -> LeadWrite {
    let mut updated = lead.clone();
    updated.owner = None;
    updated.updated_at = now;
    updated.version = lead.version + 1;
    LeadWrite {
        lead: updated,
        expect: Expect::Version(lead.version),
        new_identities: Vec::new(),
    }
}
