//! Activities: things a lead did, each with the time it happened. Activities feed the behaviour
//! score; some (hand raisers) make a lead an MQL at once.

use crate::{LeadId, Timestamp};
use serde::{Deserialize, Serialize};

/// What kind of thing the lead did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    /// Submitted a form.
    FormSubmitted,
    /// Booked a demo or meeting (a hand raiser).
    DemoBooked,
    /// Viewed a page.
    PageViewed,
    /// Viewed the pricing page.
    PricingViewed,
    /// Downloaded content (a white paper, an e-book).
    ContentDownloaded,
    /// Opened a marketing e-mail.
    EmailOpened,
    /// Clicked a link in a marketing e-mail.
    EmailClicked,
    /// Attended a webinar.
    WebinarAttended,
    /// Unsubscribed from e-mail.
    Unsubscribed,
    /// An e-mail to the lead bounced.
    Bounced,
}

/// One thing a lead did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Unique id of the activity (the delivery key or the tracking event's id); scoring uses it
    /// to apply an activity at most once.
    pub id: String,
    /// The lead.
    pub lead_id: LeadId,
    /// What happened.
    pub kind: ActivityKind,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// Whether the lead asked for sales (demo request, contact sales, demo booked).
    #[serde(default)]
    pub hand_raiser: bool,
    /// Where it happened: page path, form id, content id, campaign, e-mail id. Attribute names
    /// and values, never personal data.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, String>,
}
