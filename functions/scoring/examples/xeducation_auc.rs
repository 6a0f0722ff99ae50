//! Imports the X Education leads, scores them under the shipped default rules (or a rule-set
//! file given as the second argument), and prints the ROC AUC of the score against
//! `Converted`.
//!
//! ```text
//! cargo run --release -p scoring --example xeducation_auc -- [Leads.csv] [rules.json]
//! ```

use anyhow::Context;
use lifecycle::scoring::{default_rules, RuleSet};
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/datasets/x-education-leads/Leads.csv"
        ))
    });
    let rules = match args.next() {
        None => default_rules(),
        Some(file) => {
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("failed to read {file}"))?;
            RuleSet::from_json(&text)?
        }
    };

    let leads = scoring::xeducation::read_leads(&path)
        .with_context(|| format!("failed to import {}", path.display()))?;
    let report = scoring::xeducation::measure(&rules, &leads);

    println!(
        "X Education: {} leads ({} converted, {:.2} %), {} activities, rules v{}",
        report.leads,
        report.converted,
        100.0 * report.converted as f64 / report.leads as f64,
        report.activities,
        rules.version
    );
    println!("ROC AUC of the MQL score:        {:.4}", report.score_auc);
    println!("ROC AUC of the fit points:       {:.4}", report.grade_auc);
    println!(
        "ROC AUC of score + fit points:   {:.4}",
        report.combined_auc
    );
    Ok(())
}
