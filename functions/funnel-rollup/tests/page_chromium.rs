//! The funnel page in a real browser: headless Chromium (Debian's `chromium` package, installed
//! by `infra/scripts/install-chromium.sh`) loads the page, and the figures in the DOM it
//! rendered must equal the JSON report's. It also draws the page at a phone's and a laptop's
//! width.
//!
//! This test installs nothing. Without chromium it fails, saying how to install it.

use chrono::{TimeZone, Utc};
use funnel_rollup::page::{self, TrendPoint};
use lifecycle::{
    funnel::{report_with_clocks, ClockKind, ClockOutcome, Dimension, Period},
    transition::{Actor, Dimensions},
    CauseId, JourneyState, LeadId, Reason, Stage, StageEvent, StageOutcome, Timestamp, Transition,
};
use serde_json::Value;
use std::{path::Path, process::Command};

fn day(d: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2025, 1, d, 12, 0, 0).unwrap()
}

fn history(lead: &str, source: &str, steps: &[(Stage, u32)]) -> Vec<Transition> {
    let mut state = JourneyState::default();
    let mut out = Vec::new();
    for (i, (stage, d)) in steps.iter().enumerate() {
        let event = StageEvent {
            to: *stage,
            cause: CauseId::new(format!("{lead}-{i}")),
            actor: Actor::Import {
                batch: "test".into(),
            },
            reason: stage.closes_cycle().then(|| Reason::code("no_budget")),
            effective_at: day(*d),
            recorded_at: day(*d),
            dims: Dimensions {
                source: Some(source.into()),
                ..Dimensions::default()
            },
        };
        if let Ok(StageOutcome::Applied(t)) = state.apply(&LeadId::new(lead), &event) {
            out.push(t);
        }
    }
    out
}

fn chromium() -> &'static str {
    let found = Command::new("chromium").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "chromium is not installed: run infra/scripts/install-chromium.sh (Debian's chromium \
         package) before this test"
    );
    "chromium"
}

fn headless(args: &[&str], profile: &Path) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

/// The text of the element carrying `data-figure="name"` in the rendered DOM.
fn figure<'a>(dom: &'a str, name: &str) -> &'a str {
    let marker = format!("data-figure=\"{name}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} is not in the rendered page"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest.find('<').unwrap();
    &rest[start..end]
}

#[test]
fn chromium_renders_the_figures_of_the_json_report() {
    let mut all = history(
        "a",
        "google",
        &[
            (Stage::New, 1),
            (Stage::Mql, 2),
            (Stage::Sal, 4),
            (Stage::Sql, 10),
        ],
    );
    all.extend(history(
        "b",
        "linkedin",
        &[(Stage::New, 1), (Stage::Mql, 3), (Stage::Disqualified, 5)],
    ));
    all.extend(history("c", "google", &[(Stage::New, 2), (Stage::Mql, 20)]));
    let clocks = [
        ClockOutcome {
            clock: "a:1:routing_latency:0".into(),
            lead: LeadId::new("a"),
            kind: ClockKind::Routing,
            due_at: day(2),
            recorded_at: day(2),
            dims: Dimensions::default(),
            met: true,
        },
        ClockOutcome {
            clock: "b:1:routing_latency:0".into(),
            lead: LeadId::new("b"),
            kind: ClockKind::Routing,
            due_at: day(3),
            recorded_at: day(3),
            dims: Dimensions::default(),
            met: false,
        },
    ];
    let january = Period {
        from: day(1) - chrono::Duration::hours(12),
        to: Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap(),
    };
    let report = report_with_clocks(&all, &clocks, january, Dimension::Source, day(31));
    let trend = page::monthly_trend(&all, &[("2025-01".to_owned(), january)], day(31));
    let json: Value = serde_json::to_value(&report).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("funnel.html");
    std::fs::write(&html, page::render(&report, &trend)).unwrap();
    let url = format!("file://{}", html.display());
    let dump = headless(&["--dump-dom", &url], &dir.path().join("profile"));
    let dom = String::from_utf8_lossy(&dump.stdout);

    for stage in Stage::FUNNEL {
        let want = json["total"]["entered"][stage.as_str()]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(figure(&dom, &format!("entered.{stage}")), want.to_string());
    }
    let mql_sql = json["total"]["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["from"] == "mql" && c["to"] == "sql")
        .unwrap();
    let rate = mql_sql["rate"].as_f64().unwrap();
    assert_eq!(figure(&dom, "trend.2025-01"), page::percent(rate));
    let routing = &json["total"]["sla"]["routing"];
    assert_eq!(
        figure(&dom, "sla.routing"),
        format!(
            "{} ({}/{})",
            page::percent(routing["rate"].as_f64().unwrap()),
            routing["met"],
            routing["due"]
        )
    );
    assert_eq!(
        trend,
        vec![TrendPoint {
            label: "2025-01".into(),
            rate: Some(rate)
        }]
    );

    for (name, size) in [("phone", "390,844"), ("laptop", "1280,800")] {
        let png = dir.path().join(format!("{name}.png"));
        let shot = headless(
            &[
                &format!("--screenshot={}", png.display()),
                &format!("--window-size={size}"),
                &url,
            ],
            &dir.path().join("profile"),
        );
        let bytes = std::fs::read(&png).unwrap_or_else(|_| {
            panic!(
                "{name}: no screenshot: {}",
                String::from_utf8_lossy(&shot.stderr)
            )
        });
        assert!(bytes.starts_with(b"\x89PNG"), "{name}: not a PNG");
    }
}
