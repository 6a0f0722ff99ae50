//! The funnel report as CSV: the one writer the API (`format=csv`) and the local command line
//! (`journey report --format csv`) share, so both give the same columns in the same order.
//!
//! One row per group, the total first (a report grouped by `all` has only the total): the
//! group, the lead-cycles that entered each stage, then each conversion's cohort, converted,
//! rate, median and p90 days, then each SLA clock's due, met and rate. Rates and days have four
//! decimals; a figure that does not exist (an empty cohort's rate) is an empty cell.

use lifecycle::{
    funnel::{ClockKind, Dimension, FunnelReport, GroupRow, CONVERSIONS},
    Stage,
};

/// The SLA clocks a row reports, in column order.
const SLA_CLOCKS: [(ClockKind, &str); 3] = [
    (ClockKind::Routing, "routing"),
    (ClockKind::Response, "response"),
    (ClockKind::SalFollowUp, "sal_follow_up"),
];

/// The report as CSV text.
pub fn to_csv(report: &FunnelReport) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header())
        .expect("writing to memory cannot fail");
    let rows = std::iter::once(&report.total).chain(
        report
            .groups
            .iter()
            .filter(|_| report.group_by != Dimension::All),
    );
    for row in rows {
        w.write_record(cells(row))
            .expect("writing to memory cannot fail");
    }
    let bytes = w.into_inner().expect("flushing memory cannot fail");
    String::from_utf8(bytes).expect("CSV of UTF-8 is UTF-8")
}

/// A text cell that a spreadsheet will not run: a group name is whatever a form sender put in
/// `utm_source`, and one that starts with `=`, `+`, `-`, `@` (or a tab or carriage return) is
/// read by Excel and Sheets as a formula (`=HYPERLINK(…)`). Such a value gets a leading `'`,
/// which the spreadsheet shows as text, as OWASP's CSV-injection advice says.
fn inert(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// The column names.
pub fn header() -> Vec<String> {
    let mut header = vec!["group".to_owned()];
    header.extend(Stage::ALL.iter().map(|s| format!("entered_{s}")));
    for (from, to) in CONVERSIONS {
        for field in ["cohort", "converted", "rate", "median_days", "p90_days"] {
            header.push(format!("{from}_to_{to}_{field}"));
        }
    }
    for (_, name) in SLA_CLOCKS {
        for field in ["due", "met", "rate"] {
            header.push(format!("sla_{name}_{field}"));
        }
    }
    header
}

fn cells(row: &GroupRow) -> Vec<String> {
    let num = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
    let mut cells = vec![inert(&row.group)];
    cells.extend(
        Stage::ALL
            .iter()
            .map(|s| row.entered.get(s).copied().unwrap_or(0).to_string()),
    );
    for (from, to) in CONVERSIONS {
        let c = row
            .conversions
            .iter()
            .find(|c| (c.from, c.to) == (from, to));
        cells.push(c.map_or(0, |c| c.cohort).to_string());
        cells.push(c.map_or(0, |c| c.converted).to_string());
        cells.push(num(c.and_then(|c| c.rate)));
        cells.push(num(c.and_then(|c| c.median_days)));
        cells.push(num(c.and_then(|c| c.p90_days)));
    }
    for (kind, _) in SLA_CLOCKS {
        let sla = row.sla.get(&kind).cloned().unwrap_or_default();
        cells.push(sla.due.to_string());
        cells.push(sla.met.to_string());
        cells.push(num(sla.rate));
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::inert;

    /// Regression: a `utm_source` of `=HYPERLINK("http://evil.example","x")` reached the CSV as
    /// a formula a spreadsheet would run.
    #[test]
    fn a_group_that_a_spreadsheet_would_run_is_made_text() {
        let cells = [
            "=HYPERLINK(\"http://evil.example\",\"x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "google",
            "",
        ]
        .map(inert);

        assert_eq!(
            cells,
            [
                "'=HYPERLINK(\"http://evil.example\",\"x\")",
                "'+1",
                "'-2+3",
                "'@SUM(A1)",
                "google",
                ""
            ]
        );
    }
}
