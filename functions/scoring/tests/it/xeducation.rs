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
fn the_shipped_rules_reach_an_auc_of_0_80_on_all_leads_and_on_the_held_out_half() {
    let leads = read_leads(Path::new(LEADS)).unwrap();

    let report = measure(&default_rules(), &leads);

    // The issue asks a sensible points model to reach 0.80. The shipped points were chosen
    // looking at the tuning half only; the held-out half must reach it too. (Measured: 0.808
    // on all 9,240, 0.809 held out; see the README.)
    assert!(report.mql.all >= 0.80, "{report:?}");
    assert!(report.mql.holdout >= 0.80, "{report:?}");
    // Fit points add to what behaviour alone ranks.
    assert!(report.mql.all > report.behaviour.all, "{report:?}");
    // Every lead is in exactly one half, and the split is near even.
    assert!((4_400..4_840).contains(&report.holdout_leads), "{report:?}");
}

#[test]
fn the_split_depends_on_the_lead_id_only() {
    use lifecycle::LeadId;
    use scoring::xeducation::{half_of, Half};
    let leads = read_leads(Path::new(LEADS)).unwrap();
    let first: Vec<Half> = leads.iter().map(|l| half_of(&l.lead.id)).collect();
    let again: Vec<Half> = leads
        .iter()
        .rev()
        .map(|l| half_of(&LeadId::new(l.lead.id.as_str())))
        .collect();
    assert!(first.iter().eq(again.iter().rev()));
}

#[test]
fn the_shipped_grade_rules_use_no_words_of_the_dataset() {
    // "Working Professional" and "Businessman" are X Education's occupation answers: grade
    // rules that know them would be tuned on the data they are measured on.
    let rules = serde_json::to_string(&default_rules().grade)
        .unwrap()
        .to_lowercase();
    for word in [
        "working professional",
        "businessman",
        "unemployed",
        "housewife",
    ] {
        assert!(!rules.contains(word), "{word}");
    }
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    assert!(read_leads(Path::new("/nonexistent/Leads.csv")).is_err());
}
