//! The X Education import: 9,240 real leads of an online-course company, with their web
//! behaviour and whether they converted. It turns each row into a lead and its activities,
//! scores them under a rule set, and measures how well the score ranks the leads that
//! converted (ROC AUC).
//!
//! The file has no dates and no e-mails, so the mapping makes choices, stated here:
//!
//! * Everything is scored as of one fixed time, [`AS_OF`]. The `TotalVisits` visits are spread
//!   evenly over the two weeks before it (a blank count is taken as no visits), so a lead with
//!   many visits has several a day and meets the daily caps; each is a page view
//!   carrying its share of `Total Time Spent on Website` as `seconds` and `Page Views Per
//!   Visit` as `pages`.
//! * `Lead Origin` "Landing Page Submission" is a form submission (`form` = `landing_page`),
//!   "Lead Add Form" and "Quick Add Form" one on the company's add form (`lead_add_form`);
//!   leads created by the API or an import have no form activity. The form carries the
//!   acquisition source: "Reference" becomes `referral`, the company's partner site "Welingak
//!   Website" `partner`, "Referral Sites" (sites that linked, not people) `referring_site`,
//!   others their name in lower case.
//! * `Last Activity` becomes the latest activity when it is something the lead did: e-mail
//!   opened, e-mail or view-in-browser link clicked, page visited, form submitted, e-mail
//!   bounced, unsubscribed, a trade-show booth visit (an event attended). Things the sales
//!   team did (SMS sent, phone conversation, chat, "unreachable") are not lead behaviour and
//!   are left out. `Do Not Email` = Yes (the lead opted out of e-mail on the form) is an
//!   unsubscribe. `A free copy of Mastering The Interview` is, by the data dictionary, whether
//!   the lead *wants* a free copy: a box ticked on the form, not a download that happened, so
//!   it is an attribute of the form activity (`offer`), not an activity of its own.
//! * Fit: occupation is taken as the job title, specialisation as the industry, and the
//!   country as given. The value `Select` means "not answered".
//! * `Tags`, `Lead Quality` and `Last Notable Activity` are filled in after sales contact and
//!   leak the outcome; the Asymmetrique indices are the company's own scores. None is read.

use crate::auc::roc_auc;
use chrono::{TimeDelta, TimeZone, Utc};
use lifecycle::{
    scoring::{score_at, FitFacts, RuleSet, ScoreLedger},
    Activity, ActivityKind, Lead, LeadId, Timestamp,
};
use serde::Deserialize;
use sha2::Digest;
use std::{collections::BTreeMap, path::Path};

/// The time every lead is scored at.
pub const AS_OF: fn() -> Timestamp = || Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();

/// One row, with only the columns the import uses.
#[derive(Debug, Deserialize)]
struct Row {
    #[serde(rename = "Prospect ID")]
    id: String,
    #[serde(rename = "Lead Origin")]
    origin: String,
    #[serde(rename = "Lead Source")]
    source: String,
    #[serde(rename = "Do Not Email")]
    do_not_email: String,
    #[serde(rename = "Converted")]
    converted: u8,
    #[serde(rename = "TotalVisits")]
    visits: Option<f64>,
    #[serde(rename = "Total Time Spent on Website")]
    seconds: Option<f64>,
    #[serde(rename = "Page Views Per Visit")]
    pages_per_visit: Option<f64>,
    #[serde(rename = "Last Activity")]
    last_activity: String,
    #[serde(rename = "Country")]
    country: String,
    #[serde(rename = "Specialization")]
    specialization: String,
    #[serde(rename = "What is your current occupation")]
    occupation: String,
    #[serde(rename = "A free copy of Mastering The Interview")]
    free_copy: String,
}

/// One imported lead.
#[derive(Debug, Clone)]
pub struct ImportedLead {
    /// The lead, with its fit facts.
    pub lead: Lead,
    /// What it did.
    pub activities: Vec<Activity>,
    /// Whether it converted.
    pub converted: bool,
}

/// A row that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be opened or read.
    #[error("cannot read the leads file")]
    Io(#[from] std::io::Error),
    /// A row is malformed.
    #[error("line {line}: {message}")]
    Row {
        /// 1-based line in the file.
        line: u64,
        /// What was wrong.
        message: String,
    },
}

/// Reads `Leads.csv`.
pub fn read_leads(path: &Path) -> Result<Vec<ImportedLead>, ImportError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::Io(io),
        other => ImportError::Row {
            line: 1,
            message: format!("{other:?}"),
        },
    })?;
    let mut leads = Vec::new();
    for record in reader.deserialize::<Row>() {
        let row = record.map_err(|e| ImportError::Row {
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })?;
        leads.push(import(row));
    }
    Ok(leads)
}

fn answered(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty() && v != "Select").then(|| v.to_owned())
}

fn import(row: Row) -> ImportedLead {
    let as_of = AS_OF();
    let id = LeadId::new(row.id.clone());
    let mut lead = Lead::new(id.clone(), as_of - VISIT_SPAN);
    lead.profile.title = answered(&row.occupation);
    lead.profile.industry = answered(&row.specialization);
    lead.profile.country = answered(&row.country);
    lead.attribution.source = answered(&row.source);

    let mut activities = visits(&row, &id, as_of);
    let mut add = |n: usize, kind: ActivityKind, minutes_before: i64, attrs: &[(&str, &str)]| {
        let mut a = activity(
            &id,
            &format!("{n}"),
            kind,
            as_of - TimeDelta::minutes(minutes_before),
        );
        for (k, v) in attrs {
            a.attributes.insert((*k).to_owned(), (*v).to_owned());
        }
        activities.push(a);
    };
    if let Some(form) = form_of(&row.origin) {
        let source = source_of(&row.source);
        let mut attrs = vec![("form", form), ("source", source.as_str())];
        if row.free_copy == "Yes" {
            attrs.push(("offer", "mastering-the-interview"));
        }
        add(1, ActivityKind::FormSubmitted, 120, &attrs);
    }
    if let Some(kind) = last_activity(&row.last_activity) {
        add(2, kind, 30, &[]);
    }
    if row.do_not_email == "Yes" && row.last_activity != "Unsubscribed" {
        add(3, ActivityKind::Unsubscribed, 20, &[]);
    }

    ImportedLead {
        lead,
        activities,
        converted: row.converted == 1,
    }
}

fn activity(lead: &LeadId, suffix: &str, kind: ActivityKind, at: Timestamp) -> Activity {
    Activity {
        id: format!("{lead}:{suffix}"),
        lead_id: lead.clone(),
        kind,
        occurred_at: at,
        hand_raiser: false,
        attributes: BTreeMap::new(),
    }
}

/// The visits are spread evenly over this span before [`AS_OF`].
const VISIT_SPAN: TimeDelta = TimeDelta::days(14);

/// The visits, spread evenly over the two weeks before `as_of`, each a page view with its
/// share of the time on site.
fn visits(row: &Row, lead: &LeadId, as_of: Timestamp) -> Vec<Activity> {
    let seconds = row.seconds.unwrap_or(0.0).max(0.0);
    let mut count = row.visits.unwrap_or(0.0).max(0.0).round() as i64;
    if count == 0 && seconds > 0.0 {
        count = 1;
    }
    let share = (seconds / count.max(1) as f64).round();
    let pages = row.pages_per_visit.unwrap_or(1.0);
    let spacing = VISIT_SPAN.num_seconds() / count.max(1);
    (0..count)
        .map(|n| {
            let at = as_of - TimeDelta::seconds(spacing * (n + 1));
            let mut a = activity(lead, &format!("visit{n}"), ActivityKind::PageViewed, at);
            a.attributes.insert("path".into(), "/".into());
            a.attributes.insert("seconds".into(), share.to_string());
            a.attributes.insert("pages".into(), pages.to_string());
            a
        })
        .collect()
}

fn form_of(origin: &str) -> Option<&'static str> {
    match origin {
        "Landing Page Submission" => Some("landing_page"),
        "Lead Add Form" | "Quick Add Form" => Some("lead_add_form"),
        _ => None,
    }
}

fn source_of(source: &str) -> String {
    match source.trim() {
        "Reference" => "referral".to_owned(),
        "Welingak Website" => "partner".to_owned(),
        "Referral Sites" => "referring_site".to_owned(),
        other => other.to_lowercase().replace(' ', "_"),
    }
}

fn last_activity(value: &str) -> Option<ActivityKind> {
    Some(match value {
        "Email Opened" => ActivityKind::EmailOpened,
        "Email Link Clicked" | "View in browser link Clicked" => ActivityKind::EmailClicked,
        "Page Visited on Website" => ActivityKind::PageViewed,
        "Form Submitted on Website" => ActivityKind::FormSubmitted,
        "Email Bounced" => ActivityKind::Bounced,
        "Unsubscribed" => ActivityKind::Unsubscribed,
        "Visited Booth in Tradeshow" => ActivityKind::WebinarAttended,
        _ => return None,
    })
}

/// Which half of the seeded split a lead falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// The half the shipped rules' points were chosen on.
    Tune,
    /// The half kept out of that choice, to measure it on.
    Holdout,
}

/// The seed of the split: changing it draws another split.
pub const SPLIT_SEED: &str = "x-education-split-1";

/// The half a lead id falls in: the first byte of SHA-256 of `"<SPLIT_SEED>:<id>"`, even for
/// [`Half::Tune`]. Depends on nothing but the id, so the halves are the same on every run and
/// in every order.
pub fn half_of(id: &LeadId) -> Half {
    let digest = sha2::Sha256::digest(format!("{SPLIT_SEED}:{id}").as_bytes());
    if digest[0] % 2 == 0 {
        Half::Tune
    } else {
        Half::Holdout
    }
}

/// ROC AUC of one ranking on all leads and on each half.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aucs {
    /// All leads.
    pub all: f64,
    /// The tuning half.
    pub tune: f64,
    /// The held-out half.
    pub holdout: f64,
}

/// How well a rule set ranks the imported leads.
#[derive(Debug, Clone, PartialEq)]
pub struct AucReport {
    /// Leads scored.
    pub leads: usize,
    /// Of which converted.
    pub converted: usize,
    /// Leads in the held-out half.
    pub holdout_leads: usize,
    /// Activities derived from the file.
    pub activities: usize,
    /// ROC AUC of the MQL score (the fold of the lead's ledger at [`AS_OF`]: behaviour points,
    /// plus fit points when the MQL score counts them) against `Converted`. This is the score
    /// the MQL decision compares with its threshold.
    pub mql: Aucs,
    /// ROC AUC of the behaviour points alone.
    pub behaviour: Aucs,
    /// ROC AUC of the fit points alone.
    pub fit: Aucs,
}

/// Scores every lead under `rules` at [`AS_OF`], through the same ledger the scoring function
/// keeps, and measures the rankings.
pub fn measure(rules: &RuleSet, leads: &[ImportedLead]) -> AucReport {
    let as_of = AS_OF();
    let mut mql = Vec::with_capacity(leads.len());
    let mut behaviour = Vec::with_capacity(leads.len());
    let mut fits = Vec::with_capacity(leads.len());
    for l in leads {
        let grade = rules.grade.grade(&FitFacts::of(&l.lead), rules.version);
        let mut ledger = ScoreLedger::new(l.lead.id.clone(), rules.version);
        ledger.update(rules, &l.activities, None, as_of);
        ledger.refit(rules, &grade, l.lead.created_at);
        mql.push(ledger.score_at(&rules.mql_score, as_of));
        behaviour.push(score_at(&ledger.entries, &rules.mql_score, as_of));
        fits.push(grade.points);
    }

    let halves: Vec<Half> = leads.iter().map(|l| half_of(&l.lead.id)).collect();
    let aucs = |scores: &[f64]| Aucs {
        all: auc_where(scores, leads, &halves, |_| true),
        tune: auc_where(scores, leads, &halves, |h| h == Half::Tune),
        holdout: auc_where(scores, leads, &halves, |h| h == Half::Holdout),
    };
    AucReport {
        leads: leads.len(),
        converted: leads.iter().filter(|l| l.converted).count(),
        holdout_leads: halves.iter().filter(|h| **h == Half::Holdout).count(),
        activities: leads.iter().map(|l| l.activities.len()).sum(),
        mql: aucs(&mql),
        behaviour: aucs(&behaviour),
        fit: aucs(&fits),
    }
}

fn auc_where(
    scores: &[f64],
    leads: &[ImportedLead],
    halves: &[Half],
    keep: impl Fn(Half) -> bool,
) -> f64 {
    let (kept, labels): (Vec<f64>, Vec<bool>) = scores
        .iter()
        .zip(leads)
        .zip(halves)
        .filter(|(_, h)| keep(**h))
        .map(|((s, l), _)| (*s, l.converted))
        .unzip();
    roc_auc(&kept, &labels).unwrap_or(f64::NAN)
}
