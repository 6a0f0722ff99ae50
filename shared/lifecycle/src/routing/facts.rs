//! Lead facts: the part of a lead that routing looks at.
//!
//! Routing never sees a name, an e-mail or a phone: only the firmographic facts that segments
//! test (country, head count, industry, grade) and, for account matching, the company's
//! domain. These facts are recorded with each decision, so the decision can say why.

use crate::{Lead, LeadId};
use serde::{Deserialize, Serialize};

/// What routing knows about a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadFacts {
    /// The lead.
    pub lead: LeadId,
    /// ISO 3166-1 alpha-2 country, upper case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Company head count (the lower bound of a band such as `51-200`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employees: Option<u32>,
    /// Industry, lower case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Fit grade, `A`..`F`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// The company's domain (the e-mail's domain), for account matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_domain: Option<String>,
}

impl LeadFacts {
    /// A lead of which nothing is known but its id.
    pub fn unknown(lead: LeadId) -> Self {
        Self {
            lead,
            country: None,
            employees: None,
            industry: None,
            grade: None,
            company_domain: None,
        }
    }

    /// The facts of a stored lead.
    ///
    /// Known limit: the e-mail's domain is taken as the company's even for free-mail
    /// addresses; the account index is expected to hold no free-mail domains.
    pub fn from_lead(lead: &Lead) -> Self {
        let profile = &lead.profile;
        let tidy = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Self {
            lead: lead.id.clone(),
            country: tidy(&profile.country).map(|c| c.to_ascii_uppercase()),
            employees: profile.company_size.as_deref().and_then(head_count),
            industry: tidy(&profile.industry).map(|i| i.to_lowercase()),
            grade: tidy(&lead.grade).map(|g| g.to_ascii_uppercase()),
            company_domain: lead.email.as_ref().map(|e| e.domain().to_owned()),
        }
    }
}

/// The head count a company-size text gives: its first number, thousands separators
/// ignored (`"51-200"` is 51, `"1,000+"` is 1000, `"5000 employees"` is 5000).
pub fn head_count(text: &str) -> Option<u32> {
    let digits: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
