//! Rendering a [`FunnelReport`] as a terminal table, JSON or CSV, and loading the transitions it
//! is built from.

use chrono::{DateTime, TimeZone, Utc};
use lifecycle::{
    funnel::{Conversion, FunnelReport, GroupRow},
    Stage, Transition,
};
use ports::{JourneyStore, StoreError};
use std::{fmt::Write as _, str::FromStr};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An aligned table for a terminal.
    Table,
    /// The report as JSON (every figure, p90 included).
    Json,
    /// One row per group, one column per figure.
    Csv,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(format!(
                "unknown format {other:?} (expected table, json or csv)"
            )),
        }
    }
}

/// Reads every transition the store holds, a page at a time.
pub async fn all_transitions(store: &dyn JourneyStore) -> Result<Vec<Transition>, StoreError> {
    // Every time a store can hold: adapters keep times as sortable RFC 3339 text, which only
    // sorts like time for four-digit years.
    let from = DateTime::<Utc>::UNIX_EPOCH;
    let to = Utc
        .with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .expect("a valid date");
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.transitions_recorded(from, to, cursor, 1000).await?;
        out.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Renders `report` in `format`.
pub fn render(report: &FunnelReport, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Json => serde_json::to_string_pretty(report).expect("a report always serialises"),
        Format::Csv => csv(report),
    }
}

const SHOWN: [(Stage, Stage); 4] = [
    (Stage::Mql, Stage::Sal),
    (Stage::Sal, Stage::Sql),
    (Stage::Sql, Stage::Won),
    (Stage::Mql, Stage::Won),
];

fn table(report: &FunnelReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Funnel by {}, {} to {} (as of {})",
        report.group_by.as_str(),
        report.period.from.format("%Y-%m-%d"),
        report.period.to.format("%Y-%m-%d"),
        report.as_of.format("%Y-%m-%d %H:%M UTC"),
    );
    let _ = writeln!(out, "entered = lead-cycles that entered the stage in the period; a→b = share of those entering a in the period that reached b (median days)\n");

    let width = report
        .groups
        .iter()
        .map(|g| g.group.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 32);
    let mut header = format!("{:<width$}", report.group_by.as_str());
    for s in Stage::ALL {
        let _ = write!(header, " {:>7}", short(s));
    }
    for (a, b) in SHOWN {
        let _ = write!(header, "  {:>16}", format!("{a}→{b}"));
    }
    let _ = writeln!(out, "{header}");

    for row in report.groups.iter().chain(std::iter::once(&report.total)) {
        let _ = writeln!(out, "{}", table_row(row, width));
    }
    out
}

fn short(s: Stage) -> &'static str {
    match s {
        Stage::Disqualified => "disq",
        Stage::Recycled => "recyc",
        other => other.as_str(),
    }
}

fn table_row(row: &GroupRow, width: usize) -> String {
    let name: String = row.group.chars().take(width).collect();
    let mut line = format!("{name:<width$}");
    for s in Stage::ALL {
        let _ = write!(line, " {:>7}", row.entered.get(&s).copied().unwrap_or(0));
    }
    for (a, b) in SHOWN {
        let cell = conversion(row, a, b).map_or_else(String::new, cell);
        let _ = write!(line, "  {cell:>16}");
    }
    line
}

fn conversion(row: &GroupRow, a: Stage, b: Stage) -> Option<&Conversion> {
    row.conversions.iter().find(|c| c.from == a && c.to == b)
}

fn cell(c: &Conversion) -> String {
    match (c.rate, c.median_days) {
        (None, _) => "–".to_owned(),
        (Some(r), Some(d)) => format!("{:.1}% ({d:.1}d)", r * 100.0),
        (Some(r), None) => format!("{:.1}%", r * 100.0),
    }
}

fn csv(report: &FunnelReport) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["group".to_owned()];
    header.extend(Stage::ALL.iter().map(|s| format!("entered_{s}")));
    for c in &report.total.conversions {
        for figure in ["cohort", "converted", "rate", "median_days", "p90_days"] {
            header.push(format!("{}_to_{}_{figure}", c.from, c.to));
        }
    }
    w.write_record(&header)
        .expect("writing to memory cannot fail");

    for row in report.groups.iter().chain(std::iter::once(&report.total)) {
        let mut record = vec![row.group.clone()];
        record.extend(
            Stage::ALL
                .iter()
                .map(|s| row.entered.get(s).copied().unwrap_or(0).to_string()),
        );
        for c in &row.conversions {
            let num = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.4}"));
            record.extend([
                c.cohort.to_string(),
                c.converted.to_string(),
                num(c.rate),
                num(c.median_days),
                num(c.p90_days),
            ]);
        }
        w.write_record(&record)
            .expect("writing to memory cannot fail");
    }
    String::from_utf8(w.into_inner().expect("flushing memory cannot fail"))
        .expect("CSV of UTF-8 is UTF-8")
}
