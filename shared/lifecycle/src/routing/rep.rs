//! Reps as routing sees them: whether they can take a lead now, and why not.
//!
//! A rep is **eligible** for a lead when they are active, not out of office, inside their
//! working hours (in their own time zone), under their caps, and the lead is in their
//! territory. Each failed condition is an [`Exclusion`]; a decision records all of them for
//! every candidate, not only the first.

use super::{config::Dimension, facts::LeadFacts, PoolMember};
use crate::{sla::BusinessCalendar, RepId, Timestamp};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// An absence, `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutOfOffice {
    /// First instant away.
    pub from: Timestamp,
    /// First instant back.
    pub until: Timestamp,
}

/// A rep's availability, as edited by the rep or their manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepAvailability {
    /// The rep.
    pub rep: RepId,
    /// False for a rep who left or is suspended: never assigned.
    pub active: bool,
    /// Working hours in the rep's zone; `None` means any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_hours: Option<BusinessCalendar>,
    /// Absences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_of_office: Vec<OutOfOffice>,
}

impl RepAvailability {
    /// An active rep, available at any time.
    pub fn active(rep: impl Into<RepId>) -> Self {
        Self {
            rep: rep.into(),
            active: true,
            working_hours: None,
            out_of_office: Vec::new(),
        }
    }

    /// Checks that every absence ends after it starts.
    pub fn validate(&self) -> Result<(), AvailabilityError> {
        match self.out_of_office.iter().position(|w| w.until <= w.from) {
            Some(index) => Err(AvailabilityError::EmptyAbsence { index }),
            None => Ok(()),
        }
    }
}

/// Why a rep's availability document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvailabilityError {
    /// An absence that ends before it starts.
    #[error("out_of_office[{index}] ends before it starts")]
    EmptyAbsence {
        /// Its position in the list.
        index: usize,
    },
}

/// How loaded a rep is now. The caller counts: `assigned_today` over the rep's local day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepLoad {
    /// Leads assigned to the rep since the start of their local day.
    pub assigned_today: u32,
    /// Leads the rep owns that are not yet closed.
    pub open_leads: u32,
}

/// A rep's load as stored: the count of one local day, and the open leads. Reading it on a
/// later day gives zero assigned today, so nothing has to reset it at midnight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadCounter {
    /// The rep's local day that `assigned_on_day` counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
    /// Leads assigned on that day.
    #[serde(default)]
    pub assigned_on_day: u32,
    /// Leads the rep owns that are not closed.
    #[serde(default)]
    pub open_leads: u32,
}

impl LoadCounter {
    /// The load on local day `today`.
    pub fn load_on(&self, today: NaiveDate) -> RepLoad {
        let same_day = self.day == Some(today);
        RepLoad {
            assigned_today: if same_day { self.assigned_on_day } else { 0 },
            open_leads: self.open_leads,
        }
    }

    /// Counts one more lead assigned on local day `today`.
    pub fn assigned(&mut self, today: NaiveDate) {
        self.assigned_on_day = self.load_on(today).assigned_today + 1;
        self.day = Some(today);
        self.open_leads += 1;
    }

    /// Counts one open lead closed (accepted leads stay open until qualified or
    /// disqualified; a reassigned lead is closed for the rep who lost it).
    pub fn closed(&mut self) {
        self.open_leads = self.open_leads.saturating_sub(1);
    }
}

impl RepAvailability {
    /// The rep's local date at `now`: in the zone of their working hours, else UTC.
    pub fn local_day(&self, now: Timestamp) -> NaiveDate {
        match &self.working_hours {
            Some(hours) => now.with_timezone(&hours.zone().tz()).date_naive(),
            None => now.date_naive(),
        }
    }
}

/// A rep's availability and load, as loaded for one decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepSnapshot {
    /// Availability.
    pub availability: RepAvailability,
    /// Load.
    pub load: RepLoad,
}

/// Why a candidate could not take the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Exclusion {
    /// No availability record: the rep is unknown (removed, or never set up).
    UnknownRep,
    /// The rep is inactive.
    Inactive,
    /// The rep is out of office.
    OutOfOffice {
        /// When they are back.
        until: Timestamp,
    },
    /// Outside the rep's working hours.
    OutsideWorkingHours {
        /// When their hours start again.
        opens_at: Timestamp,
    },
    /// The daily cap is reached.
    DailyCap {
        /// The cap.
        cap: u32,
        /// Assigned today.
        assigned_today: u32,
    },
    /// The open-lead cap is reached.
    OpenLeadCap {
        /// The cap.
        cap: u32,
        /// Open leads.
        open_leads: u32,
    },
    /// The rep had the lead before in this cycle and let its SLA lapse.
    PreviousOwner,
    /// The lead is outside the member's territory.
    OutsideTerritory {
        /// The first condition not met.
        dimension: Dimension,
    },
}

/// Every reason `snapshot`'s rep cannot take a lead at `now` (empty when eligible). `member`
/// carries the caps and territory, absent for an account owner who is not in the pool (caps
/// of no pool apply; availability does).
pub(crate) fn exclusions(
    snapshot: Option<&RepSnapshot>,
    member: Option<&PoolMember>,
    facts: &LeadFacts,
    now: Timestamp,
) -> Vec<Exclusion> {
    let Some(snapshot) = snapshot else {
        return vec![Exclusion::UnknownRep];
    };
    let mut out = availability_exclusions(&snapshot.availability, now);

    if let Some(member) = member {
        out.extend(cap_exclusions(member, snapshot.load));
        let miss = member.territory.as_ref().and_then(|t| t.miss(facts));
        if let Some(dimension) = miss {
            out.push(Exclusion::OutsideTerritory { dimension });
        }
    }
    out
}

fn availability_exclusions(a: &RepAvailability, now: Timestamp) -> Vec<Exclusion> {
    let mut out = Vec::new();
    if !a.active {
        out.push(Exclusion::Inactive);
    }

    let away = a
        .out_of_office
        .iter()
        .filter(|w| w.from <= now && now < w.until);
    if let Some(until) = away.map(|w| w.until).max() {
        out.push(Exclusion::OutOfOffice { until });
    }

    if let Some(hours) = &a.working_hours {
        let opens_at = hours.next_open(now);
        if opens_at != now {
            out.push(Exclusion::OutsideWorkingHours { opens_at });
        }
    }
    out
}

fn cap_exclusions(member: &PoolMember, load: RepLoad) -> Vec<Exclusion> {
    let mut out = Vec::new();
    if let Some(cap) = member.max_per_day.filter(|cap| load.assigned_today >= *cap) {
        let assigned_today = load.assigned_today;
        out.push(Exclusion::DailyCap {
            cap,
            assigned_today,
        });
    }
    if let Some(cap) = member.max_open.filter(|cap| load.open_leads >= *cap) {
        let open_leads = load.open_leads;
        out.push(Exclusion::OpenLeadCap { cap, open_leads });
    }
    out
}
