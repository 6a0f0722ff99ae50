//! Stopping clocks when the owner acts.
//!
//! The API accepts, qualifies and disqualifies leads; when it does, the lead's running clocks of
//! that kind must stop *in the same commit* as the transition, so that a sweep can never
//! escalate a lead that was already handled. [`stop_writes`] gives the document writes to add
//! to that commit: each running clock stopped, taken out of the due index, and conditional on
//! the version read, so a sweep that moved the clock meanwhile makes the commit conflict (and
//! the caller decides again) instead of being overwritten. A clock whose outcome this stop
//! makes final has it stored in the same commit ([`docs::outcome_writes`]).
//!
//! A clock whose document does not decode is left as it is (and logged): no sweep can act on
//! it either (the sweep parks it, see [`crate::park`]), and a broken clock must not stop the
//! owner from acting on the lead.

use crate::sweep::SweepError;
use lifecycle::{
    sla::{ClockKind, SlaClock},
    transition::Dimensions,
    LeadId, Timestamp,
};
use ports::{DocumentStore, DocumentWrite, MAX_PAGE};
use routing::docs;

/// The writes that stop every running `kind` clock of `lead` in `cycle` at `at`, with the
/// outcomes they make final (grouped by `dims`, the lead's reporting dimensions).
pub async fn stop_writes(
    store: &dyn DocumentStore,
    (lead, dims): (&LeadId, &Dimensions),
    cycle: u32,
    kind: ClockKind,
    at: Timestamp,
) -> Result<Vec<DocumentWrite>, SweepError> {
    let prefix = format!("{lead}:{cycle}:{kind}:");
    let mut writes = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list(docs::SLA_CLOCK, &prefix, cursor, MAX_PAGE)
            .await?;
        for doc in page.items {
            let key = doc.key.clone();
            let Ok(before) = serde_json::from_value::<SlaClock>(doc.body) else {
                tracing::warn!(clock = %key, "clock does not decode; not stopped");
                continue;
            };
            let mut clock = before.clone();
            if clock.stop(at) {
                writes.push(docs::put(
                    docs::SLA_CLOCK,
                    &key,
                    &clock,
                    doc.version,
                    clock.wake_index(),
                )?);
                writes.extend(docs::outcome_writes(Some(&before), &clock, dims, at)?);
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(writes),
        }
    }
}
