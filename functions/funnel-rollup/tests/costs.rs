//! Campaign costs: CSV rows with line-numbered errors, stored and summed per campaign.

use chrono::NaiveDate;
use embedded::EmbeddedStore;
use funnel_rollup::costs::{self, CampaignCost, RowError};
use ports::CommitOutcome;

fn month(y: i32, m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, 1).unwrap()
}

#[test]
fn good_rows_are_kept_and_bad_rows_named_by_line() {
    let file = "campaign,month,amount\n\
                spring,2025-03,1200.50\n\
                ,2025-03,10\n\
                spring,March,10\n\
                fall,2025-04,-3\n\
                fall,2025-04\n\
                fall, 2025-04 , 300\n";

    let parsed = costs::parse_csv(file.as_bytes());

    assert_eq!(
        parsed.costs,
        vec![
            CampaignCost {
                campaign: "spring".into(),
                month: month(2025, 3),
                amount: 1200.5
            },
            CampaignCost {
                campaign: "fall".into(),
                month: month(2025, 4),
                amount: 300.0
            },
        ]
    );
    let lines: Vec<(u64, &str)> = parsed
        .errors
        .iter()
        .map(|RowError { line, problem, .. }| (*line, problem.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (3, "campaign is empty"),
            (4, "month is not YYYY-MM"),
            (5, "amount is not a non-negative number"),
            (6, "expected 3 fields (campaign,month,amount), found 2"),
        ]
    );
}

/// Regression: with `\r\n` line ends every bad row was numbered one line short, and with bare
/// `\r` every row was "line 1".
#[test]
fn crlf_and_cr_files_name_the_same_lines_as_lf() {
    let lf = "campaign,month,amount\nspring,2025-03,1\n,2025-03,10\nspring,March,10\n";
    for text in [
        lf.to_owned(),
        lf.replace('\n', "\r\n"),
        lf.replace('\n', "\r"),
    ] {
        let parsed = costs::parse_csv(text.as_bytes());

        let lines: Vec<(u64, u64)> = parsed
            .errors
            .iter()
            .map(|e| (e.line, e.last_line))
            .collect();
        assert_eq!(lines, [(3, 3), (4, 4)], "{text:?}");
        assert_eq!(parsed.costs.len(), 1);
    }
}

/// Regression: a quote never closed swallowed the rows after it without naming them.
#[test]
fn an_unclosed_quote_names_the_lines_it_swallowed() {
    let file = "campaign,month,amount\r\n\"spring,2025-03,1\r\nfall,2025-03,2\r\n";

    let parsed = costs::parse_csv(file.as_bytes());

    assert!(parsed.costs.is_empty());
    let e = &parsed.errors[0];
    assert_eq!((e.line, e.last_line), (2, 3));
    assert!(e.problem.contains("never closed"), "{}", e.problem);
}

#[tokio::test]
async fn stored_costs_are_summed_per_campaign_and_a_reimport_replaces() {
    let store = EmbeddedStore::in_memory().unwrap();
    let first = costs::parse_csv(
        "campaign,month,amount\nspring,2025-03,100\nspring,2025-04,50\nfall,2025-04,7\n".as_bytes(),
    );
    assert_eq!(
        costs::store(&store, &store, &first.costs).await.unwrap(),
        CommitOutcome::Committed
    );
    let again = costs::parse_csv("campaign,month,amount\nspring,2025-03,120\n".as_bytes());
    costs::store(&store, &store, &again.costs).await.unwrap();

    let totals = costs::totals(&store, &[month(2025, 3), month(2025, 4)])
        .await
        .unwrap();
    let march = costs::totals(&store, &[month(2025, 3)]).await.unwrap();

    assert_eq!(totals["spring"], 170.0, "120 (replaced 100) + 50");
    assert_eq!(totals["fall"], 7.0);
    assert_eq!((march["spring"], march.get("fall")), (120.0, None));
}

/// Regression: a campaign and month given twice in one CSV made the upload's commit conflict
/// with itself, and nothing was stored, the good rows neither. The second row is refused now,
/// naming the first, and the rest stored.
#[tokio::test]
async fn a_cost_given_twice_is_refused_by_line_and_the_rest_stored() {
    let store = EmbeddedStore::in_memory().unwrap();
    let file = "campaign,month,amount\nd1,2025-06,10\nd1,2025-06,20\nd2,2025-06,30\n";

    let parsed = costs::parse_csv(file.as_bytes());
    let outcome = costs::store(&store, &store, &parsed.costs).await.unwrap();

    let refused: Vec<(u64, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.problem.as_str()))
        .collect();
    assert_eq!(refused, [(3, "the same campaign and month as line 2")]);
    assert_eq!(outcome, CommitOutcome::Committed);
    let june = costs::totals(&store, &[month(2025, 6)]).await.unwrap();
    assert_eq!((june["d1"], june["d2"]), (10.0, 30.0));
}

#[test]
fn a_cost_given_twice_in_json_names_both_places() {
    let cost = |campaign: &str, amount: f64| CampaignCost {
        campaign: campaign.into(),
        month: month(2025, 6),
        amount,
    };

    let problems = costs::check(&[cost("d1", 10.0), cost("d2", 1.0), cost("d1", 20.0)]);

    assert_eq!(
        problems,
        [(2, "the same campaign and month as /costs/0".to_owned())]
    );
}

/// Regression: two months of 1e308 summed to infinity and the campaign's cost read `null`.
#[test]
fn an_amount_over_a_trillion_is_refused() {
    let parsed =
        costs::parse_csv("campaign,month,amount\nbig,2025-06,1e308\nok,2025-06,1e12\n".as_bytes());
    let json = costs::check(&[CampaignCost {
        campaign: "big".into(),
        month: month(2025, 6),
        amount: 2e12,
    }]);

    let refused: Vec<(u64, &str)> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.problem.as_str()))
        .collect();
    assert_eq!(refused, [(2, "amount is more than 1e12")]);
    assert_eq!(parsed.costs.len(), 1);
    assert_eq!(json, [(0, "amount is more than 1e12".to_owned())]);
}
