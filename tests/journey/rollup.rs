//! The Olist funnel through the nightly rollup: monthly period and cohort reports, and the
//! stored daily snapshots, checked against plain iteration over the two CSV files (no code
//! shared with the product), to the unit. The snapshots must also equal a rebuild from every
//! transition. One deal is dated before its lead's first contact and is imported at the first
//! contact (`dates_out_of_order = "clamp"`); the hand computation does the same.

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use embedded::EmbeddedStore;
use funnel_rollup::snapshot::{self, Snapshot};
use journey_e2e::{dataset, fixture};
use journey_local::{
    import::{import, mapping::Mapping},
    report::all_transitions,
};
use lifecycle::{
    funnel::{self, Conversion, Dimension, GroupRow, Period},
    Stage, Timestamp,
};
use ports::DocumentStore;
use std::collections::{BTreeMap, HashMap};

/// (year, month) of a date.
type Month = (i32, u32);

/// Figures per (month, origin) computed from the files; origin "" is blank.
#[derive(Default)]
struct ByHand {
    /// MQLs whose first contact fell in the month (period view and cohort size).
    mqls: BTreeMap<(Month, String), u64>,
    /// Deals won in the month, by the lead's origin (period view).
    won_in_month: BTreeMap<(Month, String), u64>,
    /// For the MQLs of the month, days from first contact to won, of those won (cohort view).
    cohort_days: BTreeMap<(Month, String), Vec<f64>>,
    /// MQLs per first-contact day.
    mqls_by_day: BTreeMap<NaiveDate, u64>,
    /// Deals per won day.
    won_by_day: BTreeMap<NaiveDate, u64>,
    /// Deals per first-contact day of their lead.
    cohort_won_by_day: BTreeMap<NaiveDate, u64>,
}

fn by_hand() -> ByHand {
    let read = |f: &str| std::fs::read_to_string(dataset(&format!("olist-marketing-funnel/{f}")));
    let mqls = read("olist_marketing_qualified_leads_dataset.csv").unwrap();
    let deals = read("olist_closed_deals_dataset.csv").unwrap();
    let mut out = ByHand::default();

    // mql_id,first_contact_date,landing_page_id,origin
    let mut leads = HashMap::new();
    for line in mqls.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let date = NaiveDate::parse_from_str(f[1], "%Y-%m-%d").unwrap();
        let key = ((date.year(), date.month()), f[3].to_owned());
        *out.mqls.entry(key.clone()).or_default() += 1;
        *out.mqls_by_day.entry(date).or_default() += 1;
        leads.insert(f[0].to_owned(), (key, date.and_hms_opt(0, 0, 0).unwrap()));
    }
    // mql_id,seller_id,sdr_id,sr_id,won_date,…
    for line in deals.lines().skip(1) {
        let f: Vec<&str> = line.splitn(6, ',').collect();
        let won = NaiveDateTime::parse_from_str(f[4], "%Y-%m-%d %H:%M:%S").unwrap();
        let ((cohort_month, origin), contact) = &leads[f[0]];
        // A deal dated before first contact is imported at the first contact (clamped).
        let won = won.max(*contact);
        let won_month = (won.year(), won.month());
        *out.won_in_month
            .entry((won_month, origin.clone()))
            .or_default() += 1;
        *out.won_by_day.entry(won.date()).or_default() += 1;
        *out.cohort_won_by_day.entry(contact.date()).or_default() += 1;
        out.cohort_days
            .entry((*cohort_month, origin.clone()))
            .or_default()
            .push((won - *contact).num_seconds() as f64 / 86_400.0);
    }
    out
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

fn month_period((y, m): Month) -> Period {
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Period {
        from: Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(next.0, next.1, 1, 0, 0, 0).unwrap(),
    }
}

fn mql_to_won(row: &GroupRow) -> &Conversion {
    row.conversions
        .iter()
        .find(|c| (c.from, c.to) == (Stage::Mql, Stage::Won))
        .unwrap()
}

fn group_name(origin: &str) -> &str {
    if origin.is_empty() {
        funnel::NONE
    } else {
        origin
    }
}

async fn imported(now: Timestamp) -> EmbeddedStore {
    let store = EmbeddedStore::in_memory().unwrap();
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
        let file = std::fs::File::open(dataset(file)).unwrap();
        let summary = import(&store, file, &m, &ports::ManualClock::new(now))
            .await
            .unwrap();
        assert!(
            summary.errors.is_empty(),
            "{mapping}: {} errors",
            summary.errors.len()
        );
    }
    store
}

#[tokio::test]
async fn olist_monthly_period_and_cohort_reports_equal_the_files() {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let store = imported(now).await;
    let transitions = all_transitions(&store).await.unwrap();
    let hand = by_hand();

    let mut months: Vec<Month> = hand.mqls.keys().map(|(m, _)| *m).collect();
    months.extend(hand.won_in_month.keys().map(|(m, _)| *m));
    months.sort();
    months.dedup();
    let mut checked = 0;
    for month in months {
        let r = funnel::report(&transitions, month_period(month), Dimension::Source, now);
        let row = |origin: &str| r.groups.iter().find(|g| g.group == group_name(origin));

        // Every group the report shows is one the files show, for this month.
        for g in &r.groups {
            let origin = if g.group == funnel::NONE {
                ""
            } else {
                &g.group
            };
            let known = hand.mqls.contains_key(&(month, origin.to_owned()))
                || hand.won_in_month.contains_key(&(month, origin.to_owned()));
            assert!(known, "{month:?}: unexpected group {}", g.group);
        }
        for ((m, origin), mqls) in hand.mqls.iter().filter(|((m, _), _)| *m == month) {
            let g = row(origin).unwrap_or_else(|| panic!("{m:?} {origin}: no row"));
            let days = hand.cohort_days.get(&(*m, origin.clone())).cloned();
            let c = mql_to_won(g);
            assert_eq!(g.entered[&Stage::Mql], *mqls, "{m:?} {origin}: period MQLs");
            assert_eq!(c.cohort, *mqls, "{m:?} {origin}: cohort size");
            let won = days.as_ref().map_or(0, |d| d.len() as u64);
            assert_eq!(c.converted, won, "{m:?} {origin}: cohort won");
            // Each MQL stay that began this month ended at the deal (nothing else follows an
            // MQL in this data); the others are still open.
            let stays = g.time_in_stage.get(&Stage::Mql).map_or(0, |s| s.count);
            assert_eq!(stays, won, "{m:?} {origin}: MQL stays");
            let want = days.and_then(median);
            assert!(
                c.median_days
                    .zip(want)
                    .is_none_or(|(g, w)| (g - w).abs() < 1e-9)
                    && c.median_days.is_some() == want.is_some(),
                "{m:?} {origin}: median {:?} vs {want:?}",
                c.median_days
            );
            checked += 1;
        }
        for ((m, origin), won) in hand.won_in_month.iter().filter(|((m, _), _)| *m == month) {
            let g = row(origin).unwrap_or_else(|| panic!("{m:?} {origin}: no row"));
            assert_eq!(g.entered[&Stage::Won], *won, "{m:?} {origin}: period won");
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} figures checked");
}

/// Every stored day (grouping `all`) against the hand computation; returns their canonical
/// bytes by key.
async fn check_days(store: &EmbeddedStore, hand: &ByHand) -> BTreeMap<String, String> {
    let mut days: Vec<NaiveDate> = hand.mqls_by_day.keys().copied().collect();
    days.extend(hand.won_by_day.keys());
    days.sort();
    days.dedup();
    let mut stored = BTreeMap::new();
    for day in &days {
        let key = snapshot::key(*day, Dimension::All);
        let doc = store.get(snapshot::COLLECTION, &key).await.unwrap();
        let s: Snapshot = serde_json::from_value(doc.expect("a stored day").body).unwrap();
        let entered = |stage| s.report.total.entered.get(&stage).copied().unwrap_or(0);
        let want = |m: &BTreeMap<NaiveDate, u64>| m.get(day).copied().unwrap_or(0);
        assert_eq!(entered(Stage::Mql), want(&hand.mqls_by_day), "{day}: MQLs");
        assert_eq!(entered(Stage::Won), want(&hand.won_by_day), "{day}: won");
        let c = mql_to_won(&s.report.total);
        assert_eq!(c.cohort, want(&hand.mqls_by_day), "{day}: cohort");
        assert_eq!(
            c.converted,
            want(&hand.cohort_won_by_day),
            "{day}: cohort won"
        );
        stored.insert(key, s.canonical());
    }
    stored
}

#[tokio::test]
async fn olist_nightly_snapshots_equal_the_files_and_a_rebuild() {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let store = imported(now).await;
    let upto = now + chrono::Duration::seconds(1);

    let summary = funnel_rollup::run(&store, &store, upto).await.unwrap();

    let mut hand = by_hand();
    let mut days: Vec<NaiveDate> = hand.mqls_by_day.keys().copied().collect();
    days.extend(hand.won_by_day.keys());
    days.sort();
    days.dedup();
    assert_eq!(summary.days, days.len());
    assert_eq!(summary.written, days.len() * Dimension::ALL.len());
    assert_eq!(summary.restated, 0);
    let stored = check_days(&store, &hand).await;

    let transitions = all_transitions(&store).await.unwrap();
    let rebuilt: BTreeMap<String, String> = snapshot::rebuild(&transitions, &[], upto)
        .into_iter()
        .filter(|s| s.dimension == Dimension::All)
        .map(|s| (s.key(), s.canonical()))
        .collect();
    assert_eq!(rebuilt, stored);

    // A deal learnt a day later, for the first MQL of the file without one, won ten days after
    // its first contact: the stored nightly must still equal the files, with that deal added.
    let (lead, contact) = first_without_a_deal();
    let won_at = contact + chrono::Duration::days(10);
    let late = format!(
        "mql_id,sr_id,won_date\n{lead},late-rep,{}\n",
        won_at.format("%Y-%m-%d %H:%M:%S")
    );
    let deals =
        Mapping::parse(&std::fs::read_to_string(fixture("olist-deals.toml")).unwrap()).unwrap();
    let later = ports::ManualClock::new(now + chrono::Duration::days(1));
    let summary = import(&store, late.as_bytes(), &deals, &later)
        .await
        .unwrap();
    assert_eq!(summary.updated, 1, "{:?}", summary.errors);
    let next = funnel_rollup::run(&store, &store, now + chrono::Duration::days(2))
        .await
        .unwrap();

    *hand.won_by_day.entry(won_at.date()).or_default() += 1;
    *hand.cohort_won_by_day.entry(contact.date()).or_default() += 1;
    check_days(&store, &hand).await;
    assert_eq!(next.changed, 1);
    let restated: BTreeMap<String, String> = store
        .list(funnel_rollup::nightly::RESTATEMENTS, "all/", None, 100)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|d| {
            let day = d.body["day"].as_str().unwrap().to_owned();
            (day, d.body["kind"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        restated,
        BTreeMap::from([
            (contact.date().to_string(), "matured".to_owned()),
            (won_at.date().to_string(), "late".to_owned()),
        ])
    );
}

/// The first MQL of the file that has no deal, and its first contact (midnight UTC).
fn first_without_a_deal() -> (String, NaiveDateTime) {
    let read = |f: &str| std::fs::read_to_string(dataset(&format!("olist-marketing-funnel/{f}")));
    let deals = read("olist_closed_deals_dataset.csv").unwrap();
    let won: std::collections::HashSet<&str> = deals
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let mqls = read("olist_marketing_qualified_leads_dataset.csv").unwrap();
    let line = mqls
        .lines()
        .skip(1)
        .find(|l| !won.contains(l.split(',').next().unwrap()))
        .unwrap();
    let f: Vec<&str> = line.split(',').collect();
    let contact = NaiveDate::parse_from_str(f[1], "%Y-%m-%d").unwrap();
    (f[0].to_owned(), contact.and_hms_opt(0, 0, 0).unwrap())
}
