//! The lead: one person, with what we know of them and where they came from.

use crate::{
    journey::JourneyState, transition::Dimensions, Email, LeadId, Phone, RepId, Stage, Timestamp,
};
use serde::{Deserialize, Serialize};

/// Who the person is, as far as the forms told us. Every field is personal or free text and is
/// never logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Full name, exactly as sent (Unicode NFC), first and last joined by one space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Country, ISO 3166-1 alpha-2 when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Company size band or head count, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_size: Option<String>,
    /// Industry, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
}

/// Where the lead came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// Acquisition source (`utm_source` or provider attribution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// Medium (`utm_medium`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// The form or landing page that first captured the lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
}

/// One lead, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// The lead's id.
    pub id: LeadId,
    /// Normalised e-mail; `None` makes the lead *incomplete*.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// Phone, the identity of a lead with no e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    /// What we know of the person.
    #[serde(default)]
    pub profile: Profile,
    /// First-touch attribution.
    #[serde(default)]
    pub attribution: Attribution,
    /// The owning rep, once routed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<RepId>,
    /// The current fit grade (`A`…`F`), once graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// The MQL score as of `score_as_of`, once scored. Scores decay, so this is the fold of the
    /// lead's ledger at that time, not now; `GET /leads/{id}/score` folds it at the time asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// When `score` was folded (the scoring that stored it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_as_of: Option<Timestamp>,
    /// When the lead was first seen.
    pub created_at: Timestamp,
    /// When the record last changed.
    pub updated_at: Timestamp,
    /// The journey, folded from the transitions.
    #[serde(default)]
    pub journey: JourneyState,
    /// Optimistic-concurrency version: bumped by every write.
    #[serde(default)]
    pub version: u64,
}

impl Lead {
    /// A lead first seen at `at`, before any transition.
    pub fn new(id: LeadId, at: Timestamp) -> Self {
        Self {
            id,
            email: None,
            phone: None,
            profile: Profile::default(),
            attribution: Attribution::default(),
            owner: None,
            grade: None,
            score: None,
            score_as_of: None,
            created_at: at,
            updated_at: at,
            journey: JourneyState::default(),
            version: 0,
        }
    }

    /// A lead without an e-mail cannot become an MQL until one arrives.
    pub fn is_incomplete(&self) -> bool {
        self.email.is_none()
    }

    /// The stage now (`New` before the first transition).
    pub fn stage(&self) -> Stage {
        self.journey.stage.unwrap_or(Stage::New)
    }

    /// The reporting dimensions to copy onto a transition made now.
    pub fn dimensions(&self) -> Dimensions {
        Dimensions {
            source: self.attribution.source.clone(),
            campaign: self.attribution.campaign.clone(),
            form: self.attribution.form.clone(),
            rep: self.owner.clone(),
            grade: self.grade.clone(),
            team: None,
        }
    }
}
