//! Rendering a report as a terminal table, JSON or CSV (the API's own CSV writer,
//! [`funnel_rollup::report_csv`]), and loading transitions for tests and tools.

use chrono::{DateTime, TimeZone, Utc};
use funnel_rollup::{
    planning::{PlanAnswer, RoiAnswer},
    query::{Answer, Source},
    report_csv,
};
use lifecycle::{
    funnel::{ClockKind, Conversion, FunnelReport, GroupRow, Return},
    plan::{self, PlanMonth},
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

/// Renders `answer` in `format`: the JSON is the API's (`source` and `restatements` too), the
/// CSV is the API's, and the table shows the same figures but p90.
pub fn render(answer: &Answer, format: Format) -> String {
    match format {
        Format::Table => {
            let mut out = table(&answer.report);
            if answer.source == Source::Snapshots {
                let _ = writeln!(
                    out,
                    "\nFrom the nightly snapshots; {} restatement(s) of these days recorded.",
                    answer.restatements.len()
                );
            }
            out
        }
        Format::Json => serde_json::to_string_pretty(answer).expect("a report always serialises"),
        Format::Csv => report_csv::to_csv(&answer.report),
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
        "Funnel by {}, {} to {} inclusive (as of {})",
        report.group_by.as_str(),
        report.period.from.format("%Y-%m-%d"),
        // The period ends before `to`: name the last instant's day in it, as people read dates.
        (report.period.to - chrono::Duration::nanoseconds(1)).format("%Y-%m-%d"),
        report.as_of.format("%Y-%m-%d %H:%M UTC"),
    );
    let _ = writeln!(out, "entered = lead-cycles that entered the stage in the period; a→b = share of those entering a in the period that reached b (median days); SLA = clocks due in the period met (met/due)\n");

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
    for (_, name) in SLA {
        let _ = write!(header, "  {:>16}", format!("{name} SLA"));
    }
    let _ = writeln!(out, "{header}");

    // Grouped by `all`, the one group is the total: print it once.
    let total = (report.groups.len() != 1 || report.groups[0].group != report.total.group)
        .then_some(&report.total);
    for row in report.groups.iter().chain(total) {
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
    for (kind, _) in SLA {
        let cell = row.sla.get(&kind).map_or_else(
            || "–".to_owned(),
            |c| match c.rate {
                Some(r) => format!("{:.1}% ({}/{})", r * 100.0, c.met, c.due),
                None => "–".to_owned(),
            },
        );
        let _ = write!(line, "  {cell:>16}");
    }
    line
}

/// The SLA clocks the table shows.
const SLA: [(ClockKind, &str); 3] = [
    (ClockKind::Routing, "routing"),
    (ClockKind::Response, "response"),
    (ClockKind::SalFollowUp, "follow-up"),
];

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

/// The plan as text: the figures used, then one line per month.
pub fn plan_table(answer: &PlanAnswer) -> String {
    let p = &answer.plan;
    let mut out = String::new();
    let source = |s: plan::Source| match s {
        plan::Source::Given => "given",
        plan::Source::Measured => "measured",
    };
    let _ = writeln!(
        out,
        "Plan over {} month(s) from {}; deal size {:.2} ({}); win rate {}",
        p.months.len(),
        p.months
            .first()
            .map_or(String::new(), |m| m.month.format("%Y-%m").to_string()),
        p.deal_size.value,
        source(p.deal_size.source),
        p.win_rate.map_or("unknown".to_owned(), |w| format!(
            "{:.1}% ({})",
            w.value * 100.0,
            source(w.source)
        )),
    );
    let tracked: Vec<&str> = p.tracked.iter().map(|s| s.as_str()).collect();
    let _ = writeln!(
        out,
        "Measured {} to {}; stages in the data: {}",
        answer.measured.from.format("%Y-%m-%d"),
        answer.measured.to.format("%Y-%m-%d"),
        tracked.join(", ")
    );
    for r in &p.rates {
        let lag = r
            .median_days
            .map_or(String::new(), |d| format!(", median {d:.1} d"));
        let _ = writeln!(out, "  {}→{}: {:.1}%{lag}", r.from, r.to, r.rate * 100.0);
    }
    let _ = writeln!(
        out,
        "\n{:<8} {:>6} {:>8} {:>8} {:>8}  {:<10}",
        "month", "deals", "mql", "sal", "sql", "mqls by"
    );
    let need =
        |m: &PlanMonth, i: usize| m.stages[i].needed.map_or("–".to_owned(), |n| n.to_string());
    for m in &p.months {
        let by = m.mqls_by.map_or("–".to_owned(), |d| d.to_string());
        let _ = writeln!(
            out,
            "{:<8} {:>6} {:>8} {:>8} {:>8}  {by:<10}",
            m.month.format("%Y-%m"),
            m.deals,
            need(m, 0),
            need(m, 1),
            need(m, 2),
        );
    }
    if let Some(first) = p.months.first() {
        let _ = writeln!(out, "\nRun rate per month and gap (needed − run rate):");
        for s in &first.stages {
            let figure = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1}"));
            let why = s
                .unknown_because
                .as_deref()
                .map_or(String::new(), |w| format!("  ({w})"));
            let _ = writeln!(
                out,
                "  {:<4} run {:>8}  gap {:>8}{why}",
                s.stage.as_str(),
                figure(s.run_rate),
                figure(s.gap)
            );
        }
    }
    if let Some(w) = &p.warning {
        let _ = writeln!(
            out,
            "\nPipeline gap: {} MQLs so far this month ({} projected) are {} short; expect {:.1} fewer {} from {} to {}.",
            w.mqls_so_far,
            w.mqls_projected,
            w.mql_shortfall,
            w.missing,
            match w.shows_as {
                Stage::Won => "deals",
                _ => "SQLs",
            },
            w.from,
            w.to
        );
    }
    out
}

/// The campaign return as text: each campaign's months, then its total.
pub fn roi_table(roi: &RoiAnswer) -> String {
    let mut out = String::new();
    let maturity = roi
        .maturity_days
        .map_or("never (nothing converted yet)".to_owned(), |d| {
            format!("{d:.1} days after its month")
        });
    let _ = writeln!(
        out,
        "Campaign return, {} to {} (as of {}); a cohort is judged {maturity} ({})",
        roi.period.from.format("%Y-%m"),
        roi.period.to.format("%Y-%m"),
        roi.as_of.format("%Y-%m-%d %H:%M UTC"),
        match roi.maturity {
            plan::Source::Given => "given",
            plan::Source::Measured => "p90 days from MQL to SQL, or to won, measured",
        }
    );
    let _ = writeln!(
        out,
        "\n{:<24} {:<7} {:>11} {:>6} {:>6} {:>6} {:>10} {:>10} {:>10}",
        "campaign", "month", "cost", "mqls", "sals", "sqls", "per mql", "per sal", "per sql"
    );
    let money = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
    let line = |out: &mut String, name: &str, month: &str, r: &Return| {
        let young = if r.too_young { "  too young" } else { "" };
        let _ = writeln!(
            out,
            "{:<24} {month:<7} {:>11.2} {:>6} {:>6} {:>6} {:>10} {:>10} {:>10}{young}",
            name.chars().take(24).collect::<String>(),
            r.cost,
            r.mqls,
            r.sals,
            r.sqls,
            money(r.cost_per_mql),
            money(r.cost_per_sal),
            money(r.cost_per_sql),
        );
    };
    for c in &roi.campaigns {
        for cohort in &c.cohorts {
            line(
                &mut out,
                &c.campaign,
                &cohort.month.format("%Y-%m").to_string(),
                &cohort.figures,
            );
        }
        line(&mut out, &c.campaign, "all", &c.total);
    }
    out
}
