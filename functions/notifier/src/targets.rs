//! Where a notice goes: the recipient's own channel, else their team's.
//!
//! | notice | tried in order |
//! |---|---|
//! | lead assigned, SLA reminder | the rep's `notify`, the pool's `notify` |
//! | lead overflowed, SLA breached | the pool manager's `notify`, the pool's `notify` |
//!
//! A rep's target is the `notify` field of their `rep/<id>` document (set through
//! `PUT /reps/{id}`); a pool's is the `notify` field of the pool in the routing configuration
//! (`config/routing`). The pool of an SLA notice, which names none, is the pool the routing
//! configuration picks for the lead now. A target that fails validation counts as none (and
//! the log names the rep or pool), so a typo sends nothing rather than something to the wrong
//! place.

use lifecycle::{
    notify::NotifyTarget,
    routing::{LeadFacts, Pool, RoutingConfig},
    Lead, RepId,
};
use ports::DocumentStore;
use routing::{docs, Notice};
use serde::Deserialize;

use crate::error::NotifyFailure;

/// The part of a rep document the notifier reads; the rest (availability, team, caps) is
/// routing's and the API's.
#[derive(Deserialize)]
struct RepChannel {
    #[serde(default)]
    notify: Option<serde_json::Value>,
}

/// The target of `notice` about `lead`, if anyone has one.
pub async fn resolve(
    store: &dyn DocumentStore,
    notice: &Notice,
    lead: &Lead,
) -> Result<Option<NotifyTarget>, NotifyFailure> {
    let pool = pool(store, notice, lead).await?;
    let rep = match notice {
        Notice::LeadAssigned { rep, .. } | Notice::SlaReminder { rep, .. } => Some(rep.clone()),
        Notice::LeadOverflowed { manager, .. } => manager.clone(),
        Notice::SlaBreached { .. } => pool.as_ref().and_then(|p| p.manager.clone()),
    };
    if let Some(rep) = rep {
        if let Some(target) = rep_target(store, &rep).await? {
            return Ok(Some(target));
        }
    }
    Ok(pool.and_then(|p| pool_target(&p)))
}

async fn pool(
    store: &dyn DocumentStore,
    notice: &Notice,
    lead: &Lead,
) -> Result<Option<Pool>, NotifyFailure> {
    let Some(doc) = store.get(docs::CONFIG, docs::ROUTING_CONFIG).await? else {
        return Ok(None);
    };
    let config: RoutingConfig = serde_json::from_value(doc.body).map_err(|_| {
        NotifyFailure::BadDocument(format!("{}/{}", docs::CONFIG, docs::ROUTING_CONFIG))
    })?;
    let named = match notice {
        Notice::LeadAssigned { pool, .. } | Notice::LeadOverflowed { pool, .. } => {
            config.pool(pool)
        }
        Notice::SlaReminder { .. } | Notice::SlaBreached { .. } => config
            .select_pool(&LeadFacts::from_lead(lead))
            .map(|c| c.pool),
    };
    Ok(named.cloned())
}

async fn rep_target(
    store: &dyn DocumentStore,
    rep: &RepId,
) -> Result<Option<NotifyTarget>, NotifyFailure> {
    let Some(doc) = store.get(docs::REP, rep.as_str()).await? else {
        return Ok(None);
    };
    let Ok(RepChannel { notify: Some(raw) }) = serde_json::from_value::<RepChannel>(doc.body)
    else {
        return Ok(None);
    };
    match serde_json::from_value::<NotifyTarget>(raw) {
        Ok(t) if t.validate().is_ok() => Ok(Some(t)),
        _ => {
            tracing::warn!(rep = %rep, "rep's notification target is invalid; ignored");
            Ok(None)
        }
    }
}

fn pool_target(pool: &Pool) -> Option<NotifyTarget> {
    let target = pool.notify.clone()?;
    if target.validate().is_err() {
        tracing::warn!(pool = %pool.id, "pool's notification target is invalid; ignored");
        return None;
    }
    Some(target)
}
