//! Starting the SAL follow-up clock when the owner accepts a lead.
//!
//! Routing starts the clocks of an MQL; the clock of an SAL starts with the accept, so it is
//! started by the API, *in the accept's own commit*: a retried or duplicated accept (the same
//! `Idempotency-Key`) commits nothing the second time, and so starts no second clock. The write
//! expects no clock stored under the id (`<lead>:<cycle>:sal_follow_up:0`), as routing's do.
//!
//! The policy is the one for (`sal_follow_up`, SAL, the lead's kind), counted in the business
//! calendar of the pool the lead was routed through. Both facts belong to the cycle, and the
//! cycle's rep-response clocks carry them (the newest is the one the accept stops); a lead with
//! none (routed before policies were set, or imported) counts as behavioural, in the `default`
//! calendar. No policy, or no calendar, starts no clock, as in routing.

use crate::sweep::SweepError;
use lifecycle::{
    sla::{ClockKind, ClockStart, LeadKind, SlaClock, SlaPolicies},
    Lead, Timestamp,
};
use ports::{DocumentStore, DocumentWrite, MAX_PAGE};
use routing::docs;

/// The write that starts `lead`'s SAL follow-up clock at `at` (when the accept is recorded),
/// running for the lead's owner; none when no policy or calendar applies.
pub async fn follow_up_writes(
    store: &dyn DocumentStore,
    lead: &Lead,
    at: Timestamp,
) -> Result<Vec<DocumentWrite>, SweepError> {
    let kind = ClockKind::SalFollowUp;
    let Some(policies) = docs::load::<SlaPolicies>(store, docs::CONFIG, docs::SLA_POLICIES).await?
    else {
        return Ok(Vec::new());
    };
    // Most teams time only their MQLs: spare their accepts the read of the routed clock.
    if !policies.value.policies.iter().any(|p| p.clock == kind) {
        return Ok(Vec::new());
    }
    let cycle = lead.journey.cycle();
    let routed = newest_response_clock(store, lead, cycle).await?;
    let lead_kind = routed
        .as_ref()
        .map_or(LeadKind::Behavioural, |c| c.lead_kind);
    let pool = routed.and_then(|c| c.pool);

    let Some(policy) = policies.value.find(kind, kind.stage(), lead_kind) else {
        return Ok(Vec::new());
    };
    let calendar_key = pool.as_deref().unwrap_or(docs::DEFAULT_CALENDAR);
    let Some(calendar) = docs::calendar(store, calendar_key).await? else {
        tracing::warn!(
            pool = calendar_key,
            "an SAL policy is set but no business calendar is: no clock started"
        );
        return Ok(Vec::new());
    };

    let start = ClockStart {
        lead: lead.id.clone(),
        cycle,
        lead_kind,
        owner: lead.owner.clone(),
        reassignments: 0,
        at,
        pool,
    };
    let clock = SlaClock::start(policy, &calendar, start);
    Ok(vec![docs::put(
        docs::SLA_CLOCK,
        &clock.id,
        &clock,
        0,
        clock.wake_index(),
    )?])
}

/// The cycle's rep-response clock with the most reassignments before it: the one that ran for
/// the owner who accepted. A clock that does not decode is passed over (the sweep parks it).
async fn newest_response_clock(
    store: &dyn DocumentStore,
    lead: &Lead,
    cycle: u32,
) -> Result<Option<SlaClock>, SweepError> {
    let prefix = format!("{}:{cycle}:{}:", lead.id, ClockKind::RepResponse);
    let mut newest: Option<SlaClock> = None;
    let mut cursor = None;
    loop {
        let page = store
            .list(docs::SLA_CLOCK, &prefix, cursor, MAX_PAGE)
            .await?;
        let clocks = page
            .items
            .into_iter()
            .filter_map(|d| serde_json::from_value::<SlaClock>(d.body).ok());
        for clock in clocks {
            if newest
                .as_ref()
                .is_none_or(|n| clock.reassignments > n.reassignments)
            {
                newest = Some(clock);
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(newest),
        }
    }
}
