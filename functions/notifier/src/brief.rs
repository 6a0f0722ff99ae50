//! A brief: everything a message about a notice says, looked up from the ids it carries.
//!
//! | part | from |
//! |---|---|
//! | who the lead is | the lead (`name`, `title`, `company`, e-mail, phone, country, ...) |
//! | what they did | the lead's latest activities ([`MAX_ACTIVITIES`], newest first) |
//! | why they are an MQL | the score ledger's last MQL decision (`score_ledger/<lead>`) and its grade rules |
//! | when the SLA is due | the notice's due time, or the running `sla_clock` of the lead's cycle for its rep |
//!
//! A brief holds personal data. It is rendered into the message and goes nowhere else: it has
//! no `Debug` output that logs could pick up by accident beyond ids.

use crate::error::NotifyFailure;
use lifecycle::{
    scoring::{ScoreLedger, Verdict},
    sla::{ClockKind, SlaClock},
    Activity, Lead, LeadId, RepId, Timestamp,
};
use ports::{DocumentStore, JourneyStore};
use routing::{docs, Notice};

/// How many recent activities a message lists.
pub const MAX_ACTIVITIES: usize = 5;
/// The collection of score ledgers (owned by scoring).
pub const LEDGERS: &str = "score_ledger";

/// What happened, in the words of the message's headline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Headline {
    /// A lead was assigned to the recipient.
    Assigned,
    /// Nobody could take the lead.
    Overflowed,
    /// The recipient's SLA is running out.
    Reminder,
    /// An SLA was breached.
    Breached,
}

/// Who the lead is.
#[derive(Clone, Default)]
pub struct Person {
    /// Name.
    pub name: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Company size.
    pub company_size: Option<String>,
    /// Lead source.
    pub source: Option<String>,
    /// Campaign.
    pub campaign: Option<String>,
}

/// One recent activity.
#[derive(Clone)]
pub struct Did {
    /// The kind, e.g. `demo_booked`.
    pub kind: String,
    /// When.
    pub at: Timestamp,
    /// Whether it asked for sales.
    pub hand_raiser: bool,
}

/// Why the lead is an MQL: the decision that made it one.
#[derive(Clone)]
pub struct Why {
    /// The grade then.
    pub grade: String,
    /// The grade needed.
    pub min_grade: String,
    /// The MQL score then.
    pub score: f64,
    /// The score needed.
    pub min_score: f64,
    /// Whether a hand raiser qualified it.
    pub hand_raiser: bool,
    /// Whether grade and score both met their thresholds.
    pub thresholds_met: bool,
    /// When it qualified.
    pub at: Timestamp,
    /// The grade rules that matched, by id.
    pub grade_rules: Vec<String>,
}

/// When the SLA is due.
#[derive(Clone)]
pub struct Due {
    /// The first instant it is breached.
    pub at: Timestamp,
    /// The policy it runs under.
    pub policy: Option<String>,
    /// What the clock measures (what the owner is late with); `None` when the clock is gone.
    pub clock: Option<ClockKind>,
}

/// Everything a message says.
#[derive(Clone)]
pub struct Brief {
    /// What happened.
    pub headline: Headline,
    /// The lead.
    pub lead: LeadId,
    /// Its stage now.
    pub stage: String,
    /// The rep the notice is about (assignee, owner), if any.
    pub rep: Option<RepId>,
    /// The pool, when the notice names one.
    pub pool: Option<String>,
    /// The overflow queue, for an overflow.
    pub queue: Option<String>,
    /// Who the lead is.
    pub person: Person,
    /// What they did lately, newest first.
    pub did: Vec<Did>,
    /// Why they are an MQL.
    pub why: Option<Why>,
    /// When the SLA is due.
    pub due: Option<Due>,
}

/// The lead a notice is about.
pub fn lead_of(notice: &Notice) -> &LeadId {
    match notice {
        Notice::LeadAssigned { lead, .. }
        | Notice::LeadOverflowed { lead, .. }
        | Notice::SlaReminder { lead, .. }
        | Notice::SlaBreached { lead, .. } => lead,
    }
}

/// Looks up the brief of `notice` about `lead`.
pub async fn gather(
    journey: &dyn JourneyStore,
    store: &dyn DocumentStore,
    notice: &Notice,
    lead: &Lead,
) -> Result<Brief, NotifyFailure> {
    let mut activities = journey.activities(&lead.id).await?;
    let why = why(store, &lead.id).await?;
    let due = due(store, notice, lead).await?;
    let (headline, rep, pool, queue) = match notice {
        Notice::LeadAssigned { rep, pool, .. } => (
            Headline::Assigned,
            Some(rep.clone()),
            Some(pool.clone()),
            None,
        ),
        Notice::LeadOverflowed { pool, queue, .. } => (
            Headline::Overflowed,
            None,
            Some(pool.clone()),
            Some(queue.clone()),
        ),
        Notice::SlaReminder { rep, .. } => (Headline::Reminder, Some(rep.clone()), None, None),
        Notice::SlaBreached { owner, .. } => (Headline::Breached, owner.clone(), None, None),
    };
    activities.sort_by_key(|a| std::cmp::Reverse(a.occurred_at));
    Ok(Brief {
        headline,
        lead: lead.id.clone(),
        stage: lead.stage().to_string(),
        rep,
        pool,
        queue,
        person: person(lead),
        did: activities.iter().take(MAX_ACTIVITIES).map(did).collect(),
        why,
        due,
    })
}

fn person(lead: &Lead) -> Person {
    let p = &lead.profile;
    Person {
        name: p.name.clone(),
        title: p.title.clone(),
        company: p.company.clone(),
        email: lead.email.as_ref().map(|e| e.as_str().to_owned()),
        phone: lead.phone.as_ref().map(|n| n.as_str().to_owned()),
        country: p.country.clone(),
        industry: p.industry.clone(),
        company_size: p.company_size.clone(),
        source: lead.attribution.source.clone(),
        campaign: lead.attribution.campaign.clone(),
    }
}

fn did(a: &Activity) -> Did {
    let kind = serde_json::to_value(a.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Did {
        kind,
        at: a.occurred_at,
        hand_raiser: a.hand_raiser,
    }
}

/// The last decision of the ledger that made the lead an MQL.
async fn why(store: &dyn DocumentStore, lead: &LeadId) -> Result<Option<Why>, NotifyFailure> {
    let Some(doc) = store.get(LEDGERS, lead.as_str()).await? else {
        return Ok(None);
    };
    let ledger: ScoreLedger = serde_json::from_value(doc.body)
        .map_err(|_| NotifyFailure::BadDocument(format!("{LEDGERS}/{lead}")))?;
    let Some(trace) = ledger
        .mql_traces
        .iter()
        .rev()
        .find(|t| t.verdict == Verdict::Mql)
    else {
        return Ok(None);
    };
    let grade_rules = ledger
        .grade
        .as_ref()
        .map(|g| g.rules_applied.iter().map(|r| r.id.clone()).collect())
        .unwrap_or_default();
    Ok(Some(Why {
        grade: trace.grade.to_string(),
        min_grade: if trace.hand_raiser_met && !trace.thresholds_met {
            trace.hand_raiser_floor.to_string()
        } else {
            trace.min_grade.to_string()
        },
        score: trace.score,
        min_score: trace.min_score,
        hand_raiser: trace.hand_raiser_met,
        thresholds_met: trace.thresholds_met,
        at: trace.effective_at,
        grade_rules,
    }))
}

/// When the SLA of the notice is due: the notice's own due time, or for an assignment the
/// running clock of the lead's cycle that runs for the assignee.
async fn due(
    store: &dyn DocumentStore,
    notice: &Notice,
    lead: &Lead,
) -> Result<Option<Due>, NotifyFailure> {
    let (rep, cycle) = match notice {
        Notice::SlaReminder { due_at, clock, .. } | Notice::SlaBreached { due_at, clock, .. } => {
            let clock = load_clock(store, clock).await?;
            return Ok(Some(Due {
                at: *due_at,
                policy: clock.as_ref().map(|c| c.policy.clone()),
                clock: clock.map(|c| c.kind),
            }));
        }
        Notice::LeadAssigned { rep, cycle, .. } => (Some(rep), *cycle),
        Notice::LeadOverflowed { cycle, .. } => (None, *cycle),
    };
    let prefix = format!("{}:{cycle}:", lead.id);
    // A cycle has a handful of clocks (routing latency, one per assignment): one page holds them.
    let page = store.list(docs::SLA_CLOCK, &prefix, None, 100).await?;
    let mut running: Vec<SlaClock> = page
        .items
        .into_iter()
        .filter_map(|d| serde_json::from_value::<SlaClock>(d.body).ok())
        .filter(|c| c.stopped_at.is_none() && c.owner.as_ref() == rep)
        .collect();
    running.sort_by_key(|c| c.started_at);
    Ok(running.pop().map(|c| Due {
        at: c.due_at,
        policy: Some(c.policy),
        clock: Some(c.kind),
    }))
}

async fn load_clock(
    store: &dyn DocumentStore,
    id: &str,
) -> Result<Option<SlaClock>, NotifyFailure> {
    let Some(doc) = store.get(docs::SLA_CLOCK, id).await? else {
        return Ok(None);
    };
    serde_json::from_value(doc.body)
        .map(Some)
        .map_err(|_| NotifyFailure::BadDocument(format!("{}/{id}", docs::SLA_CLOCK)))
}
