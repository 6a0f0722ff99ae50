//! The Olist marketing funnel (8,000 real MQLs, 842 closed deals) imported through the product
//! and reported, checked against a computation that shares no code with it: plain line
//! splitting over the two CSV files.
//!
//! One deal is dated won before its lead's first contact; the deals mapping clamps such dates
//! to the first contact (`dates_out_of_order = "clamp"`), so the hand computation does the same:
//! days to won are `max(won, contact) − contact`.

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use embedded::EmbeddedStore;
use journey_e2e::{dataset, fixture};
use journey_local::{
    import::{import, mapping::Mapping},
    report::all_transitions,
};
use lifecycle::{
    funnel::{self, Conversion, Dimension, GroupRow, Period},
    Stage,
};
use ports::ManualClock;
use std::collections::HashMap;

/// What the files say, computed by hand.
struct Expected {
    /// origin ("" for blank) → (MQLs, won, days from first contact to won for each won lead)
    by_origin: HashMap<String, (u64, u64, Vec<f64>)>,
    /// Lines of the deals file whose won date is before the lead's first contact.
    backdated: Vec<u64>,
    /// First contact and won days of the whole data (the default report period's ends).
    first_day: NaiveDate,
    last_day: NaiveDate,
}

fn expected() -> Expected {
    let mqls = std::fs::read_to_string(dataset(
        "olist-marketing-funnel/olist_marketing_qualified_leads_dataset.csv",
    ))
    .unwrap();
    let deals = std::fs::read_to_string(dataset(
        "olist-marketing-funnel/olist_closed_deals_dataset.csv",
    ))
    .unwrap();

    // mql_id,first_contact_date,landing_page_id,origin — no quoted fields in this file.
    let mut lead = HashMap::new();
    let mut by_origin: HashMap<String, (u64, u64, Vec<f64>)> = HashMap::new();
    let mut days = Vec::new();
    for line in mqls.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let contact = NaiveDate::parse_from_str(f[1], "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        lead.insert(f[0].to_owned(), (f[3].to_owned(), contact));
        by_origin.entry(f[3].to_owned()).or_default().0 += 1;
        days.push(contact.date());
    }
    // mql_id,seller_id,sdr_id,sr_id,won_date,… — the first five fields are never quoted.
    let mut backdated = Vec::new();
    for (i, line) in deals.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.splitn(6, ',').collect();
        let won = NaiveDateTime::parse_from_str(f[4], "%Y-%m-%d %H:%M:%S").unwrap();
        let (origin, contact) = &lead[f[0]];
        if won < *contact {
            backdated.push(i as u64 + 1);
        }
        let won = won.max(*contact);
        days.push(won.date());
        let entry = by_origin.get_mut(origin).unwrap();
        entry.1 += 1;
        entry
            .2
            .push((won - *contact).num_seconds() as f64 / 86_400.0);
    }
    Expected {
        by_origin,
        backdated,
        first_day: *days.iter().min().unwrap(),
        last_day: *days.iter().max().unwrap(),
    }
}

/// The nearest-rank percentile: the smallest value with at least `q` of the values at or below.
fn nearest_rank(mut v: Vec<f64>, q: f64) -> Option<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = (q * v.len() as f64).ceil() as usize;
    v.get(rank.max(1) - 1).copied()
}

fn close(got: Option<f64>, want: Option<f64>) -> bool {
    match (got, want) {
        (Some(g), Some(w)) => (g - w).abs() < 1e-9,
        (g, w) => g.is_none() && w.is_none(),
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    (n > 0).then(|| {
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    })
}

fn mql_to_won(row: &GroupRow) -> &Conversion {
    row.conversions
        .iter()
        .find(|c| (c.from, c.to) == (Stage::Mql, Stage::Won))
        .unwrap()
}

const FILES: [(&str, &str); 2] = [
    (
        "olist-mqls.toml",
        "olist-marketing-funnel/olist_marketing_qualified_leads_dataset.csv",
    ),
    (
        "olist-deals.toml",
        "olist-marketing-funnel/olist_closed_deals_dataset.csv",
    ),
];

#[tokio::test]
async fn olist_funnel_equals_an_independent_count() {
    let store = EmbeddedStore::in_memory().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let expected = expected();
    for (mapping, file) in FILES {
        let m = Mapping::parse(&std::fs::read_to_string(fixture(mapping)).unwrap()).unwrap();
        let file = std::fs::File::open(dataset(file)).unwrap();
        let summary = import(&store, file, &m, &ManualClock::new(now))
            .await
            .unwrap();
        assert!(
            summary.errors.is_empty(),
            "{mapping}: {:?}",
            &summary.errors[..summary.errors.len().min(5)]
        );
        if mapping == "olist-deals.toml" {
            let lines: Vec<u64> = summary.adjusted.iter().map(|a| a.line).collect();
            assert_eq!(lines, expected.backdated, "the backdated deals, by line");
        }
    }

    let transitions = all_transitions(&store).await.unwrap();
    let all_time = Period {
        from: Utc.with_ymd_and_hms(2017, 1, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0).unwrap(),
    };
    let report = funnel::report(&transitions, all_time, Dimension::Source, now);

    // The published figures first (dataset README): 8,000 MQLs, 842 won, 10.53 %.
    assert_eq!(report.total.entered[&Stage::Mql], 8_000);
    assert_eq!(report.total.entered[&Stage::Won], 842);
    let total = mql_to_won(&report.total);
    assert_eq!((total.cohort, total.converted), (8_000, 842));
    assert_eq!(format!("{:.2}", total.rate.unwrap() * 100.0), "10.53");
    let organic = report
        .groups
        .iter()
        .find(|g| g.group == "organic_search")
        .unwrap();
    assert_eq!(organic.entered[&Stage::Mql], 2_296);

    // The whole data: MQL→won median and p90 (nearest rank), and time in stage. Every lead's
    // New and MQL take effect at first contact, so each New stay is 0 days, an MQL stay ends at
    // the deal (the same days as MQL→won), and an MQL without a deal is still open.
    let all_days: Vec<f64> = expected
        .by_origin
        .values()
        .flat_map(|(_, _, d)| d.clone())
        .collect();
    assert!(close(total.median_days, median(all_days.clone())));
    assert!(close(total.p90_days, nearest_rank(all_days.clone(), 0.9)));
    let stays = &report.total.time_in_stage;
    assert_eq!(
        (stays[&Stage::New].count, stays[&Stage::New].p90_days),
        (8_000, Some(0.0))
    );
    let mql = &stays[&Stage::Mql];
    assert_eq!(mql.count, 842);
    assert!(close(mql.median_days, median(all_days.clone())));
    assert!(close(mql.p90_days, nearest_rank(all_days, 0.9)));
    assert!(
        !stays.contains_key(&Stage::Won),
        "won ends the journey: no stay"
    );

    // Then every group against the independent computation, to the unit.
    assert_eq!(report.groups.len(), expected.by_origin.len());
    for (origin, (mqls, won, days)) in expected.by_origin {
        let name = if origin.is_empty() {
            funnel::NONE.to_owned()
        } else {
            origin
        };
        let row = report
            .groups
            .iter()
            .find(|g| g.group == name)
            .unwrap_or_else(|| panic!("no group {name}"));
        let c = mql_to_won(row);
        assert_eq!(row.entered[&Stage::Mql], mqls, "{name}");
        assert_eq!(
            row.entered.get(&Stage::Won).copied().unwrap_or(0),
            won,
            "{name}"
        );
        assert_eq!((c.cohort, c.converted), (mqls, won), "{name}");
        assert!(close(c.median_days, median(days.clone())), "{name}: median");
        assert!(
            close(c.p90_days, nearest_rank(days.clone(), 0.9)),
            "{name}: p90"
        );
        let stay = row.time_in_stage.get(&Stage::Mql);
        assert_eq!(stay.map_or(0, |s| s.count), won, "{name}: MQL stays");
        assert!(close(
            stay.and_then(|s| s.p90_days),
            nearest_rank(days, 0.9)
        ));
    }
}

/// The command line on the real files: `journey import` twice, then `journey report` with its
/// default period (the data's first day to the day after its last) as JSON, CSV and a table.
#[tokio::test]
async fn the_command_line_reports_olist_by_its_default_period_in_every_format() {
    use clap::Parser;
    use journey_local::cli::{run, Cli};
    let db = std::env::temp_dir().join(format!("journey-olist-cli-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let db = db.to_str().unwrap().to_owned();
    let journey = |args: &[&str]| {
        let mut all = vec!["journey", "--db", &db];
        all.extend(args);
        Cli::try_parse_from(all).unwrap()
    };
    for (mapping, file) in FILES {
        let (m, f) = (fixture(mapping), dataset(file));
        let cli = journey(&[
            "import",
            "--strict",
            "--mapping",
            m.to_str().unwrap(),
            f.to_str().unwrap(),
        ]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            run(cli, &mut out, &mut err).await.unwrap(),
            0,
            "{}",
            String::from_utf8_lossy(&err)
        );
    }
    let report = |format: &'static str| {
        let cli = journey(&["report", "--format", format]);
        async move {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            run(cli, &mut out, &mut err).await.unwrap();
            String::from_utf8(out).unwrap()
        }
    };
    let expected = expected();
    let won: u64 = expected.by_origin.values().map(|(_, w, _)| w).sum();
    let mqls: u64 = expected.by_origin.values().map(|(m, _, _)| m).sum();

    let json: serde_json::Value = serde_json::from_str(&report("json").await).unwrap();
    let csv = report("csv").await;
    let table = report("table").await;

    let day = |d: NaiveDate| format!("{d}T00:00:00Z");
    assert_eq!(json["period"]["from"], day(expected.first_day));
    assert_eq!(
        json["period"]["to"],
        day(expected.last_day.succ_opt().unwrap())
    );
    assert_eq!(json["source"], "transitions");
    assert_eq!(
        (
            json["total"]["entered"]["mql"].as_u64(),
            json["total"]["entered"]["won"].as_u64()
        ),
        (Some(mqls), Some(won))
    );
    let organic = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "organic_search")
        .unwrap();
    assert_eq!(
        organic["entered"]["mql"].as_u64(),
        Some(expected.by_origin["organic_search"].0)
    );

    // The CSV: the API's columns (SLA included), the total first.
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let total: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cell = |name: &str| total[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(header.last(), Some(&"sla_sal_follow_up_rate"));
    assert_eq!(
        (cell("group"), cell("entered_mql"), cell("entered_won")),
        ("all", "8000", "842")
    );
    assert_eq!(
        cell("mql_to_won_rate"),
        format!("{:.4}", won as f64 / mqls as f64)
    );
    let all_days: Vec<f64> = expected
        .by_origin
        .values()
        .flat_map(|(_, _, d)| d.clone())
        .collect();
    assert_eq!(
        cell("mql_to_won_p90_days"),
        format!("{:.4}", nearest_rank(all_days, 0.9).unwrap())
    );
    assert_eq!(
        csv.lines().count(),
        2 + expected.by_origin.len(),
        "header, total, one per origin"
    );

    // The table: the total row, and the conversion as a one-decimal percentage.
    let all_row = table.lines().find(|l| l.starts_with("all ")).unwrap();
    assert!(
        all_row.contains(" 8000 ") && all_row.contains(" 842 "),
        "{all_row}"
    );
    assert!(
        all_row.contains(&format!("{:.1}%", won as f64 / mqls as f64 * 100.0)),
        "{all_row}"
    );
    let _ = std::fs::remove_file(&db);
}
