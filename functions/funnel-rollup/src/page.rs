//! The funnel page (`GET /reports/funnel.html`): one self-contained HTML document drawing the
//! funnel, the monthly conversion trend and SLA compliance as inline SVG, made on the server.
//!
//! No scripts, fonts, stylesheets or images are fetched: everything is in the one response, so
//! it opens offline and under a strict content security policy. Each SVG scales to its
//! container (`viewBox`, `max-width: 100%`), so the page reads on a laptop and a phone.
//!
//! Every figure drawn also carries a `data-figure` attribute naming it (`entered.mql`,
//! `trend.2025-03`, `sla.routing`), so a test can read the rendered page back and compare it
//! with the JSON report. The API serves it with the same query parameters and the same
//! numbers as `GET /reports/funnel` ([`query`](crate::query)).

use chrono::NaiveDate;
use lifecycle::{
    funnel::{ClockKind, FunnelReport},
    Stage,
};
use std::fmt::Write as _;

/// One point of the conversion trend: a month and its cohort's MQL→SQL rate.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    /// The month, `YYYY-MM`.
    pub label: String,
    /// MQLs of the month that reached SQL, as a share; `None` for a month without MQLs.
    pub rate: Option<f64>,
}

/// The MQL→SQL cohort rate of each month, from the month's report.
pub fn trend(months: &[(NaiveDate, FunnelReport)]) -> Vec<TrendPoint> {
    months
        .iter()
        .map(|(month, r)| TrendPoint {
            label: month.format("%Y-%m").to_string(),
            rate: r
                .total
                .conversions
                .iter()
                .find(|c| (c.from, c.to) == (Stage::Mql, Stage::Sql))
                .and_then(|c| c.rate),
        })
        .collect()
}

// Narrow enough that text stays legible when a phone scales the drawing down.
const WIDTH: u32 = 480;

/// The page for `report` (its total row) and `trend`.
pub fn render(report: &FunnelReport, trend: &[TrendPoint]) -> String {
    let mut out = String::new();
    let title = format!(
        "Funnel {} to {}",
        report.period.from.format("%Y-%m-%d"),
        report.period.to.format("%Y-%m-%d")
    );
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body><main><h1>{t}</h1>\
         <p class=\"meta\">As of {as_of}, by {dim}.</p>",
        t = escape(&title),
        as_of = report.as_of.format("%Y-%m-%d %H:%M UTC"),
        dim = report.group_by.as_str(),
    );
    funnel_bars(&mut out, report);
    trend_line(&mut out, trend);
    sla_bars(&mut out, report);
    out.push_str("</main></body></html>\n");
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;padding:1rem;color:#1b1b1b}\
main{max-width:48rem;margin:auto}svg{width:100%;max-width:100%;height:auto;display:block}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}.meta{color:#555}\
text{font-size:17px;fill:#1b1b1b}.small{font-size:13px}.bar{fill:#2f6db5}.met{fill:#2e8540}.miss{fill:#d83933}\
.axis{stroke:#999;stroke-width:1}.line{fill:none;stroke:#2f6db5;stroke-width:3}";

fn funnel_bars(out: &mut String, report: &FunnelReport) {
    let row = 40;
    let height = row * Stage::FUNNEL.len() as u32 + 10;
    let max = Stage::FUNNEL
        .iter()
        .filter_map(|s| report.total.entered.get(s))
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let _ = write!(
        out,
        "<h2>Entered each stage</h2><svg viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" \
         aria-label=\"Leads that entered each stage\">"
    );
    for (i, stage) in Stage::FUNNEL.iter().enumerate() {
        let n = report.total.entered.get(stage).copied().unwrap_or(0);
        let y = i as u32 * row + 5;
        let full = WIDTH - 200;
        let w = (n as f64 / max as f64 * f64::from(full)).round() as u32;
        // Centred bars narrow down the page: the funnel shape.
        let x = 100 + (full - w) / 2;
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{ty}\">{name}</text>\
             <rect class=\"bar\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"30\"/>\
             <text x=\"{nx}\" y=\"{ty}\" data-figure=\"entered.{name}\">{n}</text>",
            ty = y + 20,
            name = stage.as_str(),
            nx = WIDTH - 90,
        );
    }
    out.push_str("</svg>");
}

fn trend_line(out: &mut String, trend: &[TrendPoint]) {
    let (height, top, bottom) = (220u32, 20u32, 180u32);
    let step = f64::from(WIDTH - 80) / trend.len().max(2).saturating_sub(1) as f64;
    let max = trend
        .iter()
        .filter_map(|p| p.rate)
        .fold(0.0_f64, f64::max)
        .max(0.01);
    let y_of = |rate: f64| f64::from(bottom) - rate / max * f64::from(bottom - top);
    let _ = write!(
        out,
        "<h2>MQL → SQL conversion by month of MQL</h2>\
         <svg viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"Conversion trend\">\
         <line class=\"axis\" x1=\"40\" y1=\"{bottom}\" x2=\"{x2}\" y2=\"{bottom}\"/>",
        x2 = WIDTH - 20,
    );
    let points: Vec<String> = trend
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let rate = p.rate?;
            Some(format!("{:.1},{:.1}", 40.0 + i as f64 * step, y_of(rate)))
        })
        .collect();
    let _ = write!(
        out,
        "<polyline class=\"line\" points=\"{}\"/>",
        points.join(" ")
    );
    for (i, p) in trend.iter().enumerate() {
        let x = 40.0 + i as f64 * step;
        let shown = p.rate.map_or("–".to_owned(), percent);
        let y = p.rate.map_or(f64::from(bottom) - 6.0, |r| y_of(r) - 8.0);
        let _ = write!(
            out,
            "<text class=\"small\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" \
             data-figure=\"trend.{label}\">{shown}</text>\
             <text class=\"small\" x=\"{x:.1}\" y=\"{ly}\" text-anchor=\"middle\" \
             transform=\"rotate(-35 {x:.1} {ly})\">{label}</text>",
            label = escape(&p.label),
            ly = bottom + 25,
        );
    }
    out.push_str("</svg>");
}

fn sla_bars(out: &mut String, report: &FunnelReport) {
    out.push_str("<h2>SLA compliance</h2>");
    if report.total.sla.is_empty() {
        out.push_str("<p data-figure=\"sla.none\">No SLA clocks were due in this period.</p>");
        return;
    }
    let row = 40;
    let height = row * report.total.sla.len() as u32 + 10;
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"SLA compliance\">"
    );
    for (i, (kind, c)) in report.total.sla.iter().enumerate() {
        let y = i as u32 * row + 5;
        // The label column fits "SAL follow-up" at 17 px.
        let full = f64::from(WIDTH - 280);
        let met_w = c.rate.unwrap_or(0.0) * full;
        let (name, label) = match kind {
            ClockKind::Routing => ("routing", "routing"),
            ClockKind::Response => ("response", "response"),
            ClockKind::SalFollowUp => ("sal_follow_up", "SAL follow-up"),
        };
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{ty}\">{label}</text>\
             <rect class=\"miss\" x=\"120\" y=\"{y}\" width=\"{full:.1}\" height=\"30\"/>\
             <rect class=\"met\" x=\"120\" y=\"{y}\" width=\"{met_w:.1}\" height=\"30\"/>\
             <text x=\"{nx}\" y=\"{ty}\" data-figure=\"sla.{name}\">{rate} ({met}/{due})</text>",
            ty = y + 20,
            nx = WIDTH - 150,
            rate = c.rate.map_or("–".to_owned(), percent),
            met = c.met,
            due = c.due,
        );
    }
    out.push_str("</svg>");
}

/// A share as a percentage with one decimal (`0.1053` → `10.5%`).
pub fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }

    #[test]
    fn percentages_have_one_decimal() {
        assert_eq!(percent(0.10525), "10.5%");
        assert_eq!(percent(1.0), "100.0%");
    }
}
