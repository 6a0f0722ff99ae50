//! Imports the X Education leads, scores them under the shipped default rules (or a rule-set
//! file given as the second argument), and prints the ROC AUC against `Converted`: of the MQL
//! score (what the MQL decision compares with its threshold), of its behaviour points and of
//! the fit points, each on all leads and on the two halves of the seeded split by lead id
//! (the shipped points were chosen looking at the tuning half only).
//!
//! ```text
//! cargo run --profile bench -p scoring --example xeducation_auc -- [Leads.csv] [rules.json]
//! ```

use anyhow::Context;
use lifecycle::scoring::{default_rules, RuleSet};
use scoring::xeducation::{Aucs, SPLIT_SEED};
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
    println!(
        "split {SPLIT_SEED:?}: {} tuning, {} held out",
        report.leads - report.holdout_leads,
        report.holdout_leads
    );
    println!("ROC AUC                  all     tuning  held out");
    let row =
        |name: &str, a: Aucs| println!("{name:<22} {:.4}  {:.4}  {:.4}", a.all, a.tune, a.holdout);
    row("MQL score", report.mql);
    row("  behaviour points", report.behaviour);
    row("  fit points", report.fit);
    Ok(())
}
