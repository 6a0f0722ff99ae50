//! The X Education import on the real file. Expected counts come from the dataset's README and
//! from counting the CSV's columns directly, not from this code.

use lifecycle::{scoring::default_rules, ActivityKind};
use scoring::xeducation::{measure, read_leads};
use std::path::Path;

const LEADS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/datasets/x-education-leads/Leads.csv"
);

#[test]
fn imports_every_lead_and_treats_select_as_unanswered() {
    let leads = read_leads(Path::new(LEADS)).unwrap();

    // README: 9,240 leads, 3,561 converted.
    assert_eq!(leads.len(), 9_240);
    assert_eq!(leads.iter().filter(|l| l.converted).count(), 3_561);
    // Specialization is `Select` in 1,942 rows (README) and blank in 1,438 (counted).
    let no_industry = leads
        .iter()
        .filter(|l| l.lead.profile.industry.is_none())
        .count();
    assert_eq!(no_industry, 1_942 + 1_438);
    // 737 rows (counted) say Do Not Email = Yes or have Last Activity "Unsubscribed"; each of
    // those leads has exactly one unsubscribe, and no other lead has one.
    let unsubscribes = |l: &scoring::xeducation::ImportedLead| {
        l.activities
            .iter()
            .filter(|a| a.kind == ActivityKind::Unsubscribed)
            .count()
    };
    assert_eq!(leads.iter().filter(|l| unsubscribes(l) == 1).count(), 737);
    assert!(leads.iter().all(|l| unsubscribes(l) <= 1));
}

#[test]
fn the_shipped_rules_rank_converted_leads_higher() {
    let leads = read_leads(Path::new(LEADS)).unwrap();

    let report = measure(&default_rules(), &leads);

    // Not a tuned threshold, a floor: the score must carry real signal.
    assert!(report.score_auc > 0.7, "{report:?}");
    assert!(report.combined_auc > report.grade_auc, "{report:?}");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    assert!(read_leads(Path::new("/nonexistent/Leads.csv")).is_err());
}
