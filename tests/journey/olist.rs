//! The Olist marketing funnel (8,000 real MQLs, 842 closed deals) imported through the product
//! and reported, checked against a computation that shares no code with it: plain line
//! splitting over the two CSV files.

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
use std::collections::HashMap;

/// What the files say, computed by hand.
struct Expected {
    /// origin ("" for blank) → (MQLs, won, days from first contact to won for each won lead)
    by_origin: HashMap<String, (u64, u64, Vec<f64>)>,
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
    for line in mqls.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let contact = NaiveDate::parse_from_str(f[1], "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        lead.insert(f[0].to_owned(), (f[3].to_owned(), contact));
        by_origin.entry(f[3].to_owned()).or_default().0 += 1;
    }
    // mql_id,seller_id,sdr_id,sr_id,won_date,… — the first five fields are never quoted.
    for line in deals.lines().skip(1) {
        let f: Vec<&str> = line.splitn(6, ',').collect();
        let won = NaiveDateTime::parse_from_str(f[4], "%Y-%m-%d %H:%M:%S").unwrap();
        let (origin, contact) = &lead[f[0]];
        let entry = by_origin.get_mut(origin).unwrap();
        entry.1 += 1;
        entry
            .2
            .push((won - *contact).num_seconds() as f64 / 86_400.0);
    }
    Expected { by_origin }
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

#[tokio::test]
async fn olist_funnel_equals_an_independent_count() {
    let store = EmbeddedStore::in_memory().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for (mapping, file) in [
        (
            "olist-mqls.toml",
            "olist-marketing-funnel/olist_marketing_qualified_leads_dataset.csv",
        ),
        (
            "olist-deals.toml",
            "olist-marketing-funnel/olist_closed_deals_dataset.csv",
        ),
    ] {
        let m = Mapping::parse(&std::fs::read_to_string(fixture(mapping)).unwrap()).unwrap();
        let summary = import(&store, std::fs::File::open(dataset(file)).unwrap(), &m, now)
            .await
            .unwrap();
        assert!(
            summary.errors.is_empty(),
            "{mapping}: {:?}",
            &summary.errors[..summary.errors.len().min(5)]
        );
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

    // Then every group against the independent computation, to the unit.
    let expected = expected();
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
        let (got, want) = (c.median_days, median(days));
        assert!(
            got.zip(want).is_none_or(|(g, w)| (g - w).abs() < 1e-9)
                && got.is_some() == want.is_some(),
            "{name}: {got:?} vs {want:?}"
        );
    }
}
