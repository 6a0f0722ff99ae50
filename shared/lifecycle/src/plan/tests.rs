//! The plan on hand-computed funnels: a complete one, and one that skips SAL and SQL.

use super::*;
use chrono::{TimeZone, Utc};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn rate(from: Stage, to: Stage, rate: f64, median_days: f64) -> Rate {
    Rate {
        from,
        to,
        rate,
        median_days: Some(median_days),
    }
}

/// Every stage tracked: MQL→SAL 0.4, SAL→SQL 0.5, SQL→won 0.25 (so MQL→SQL 0.2, MQL→won 0.05).
fn full() -> Measured {
    Measured {
        tracked: vec![Stage::Mql, Stage::Sal, Stage::Sql, Stage::Won],
        rates: vec![
            rate(Stage::Mql, Stage::Sal, 0.4, 2.0),
            rate(Stage::Sal, Stage::Sql, 0.5, 8.0),
            rate(Stage::Sql, Stage::Won, 0.25, 30.0),
            rate(Stage::Mql, Stage::Sql, 0.2, 20.0),
            rate(Stage::Mql, Stage::Won, 0.05, 45.0),
        ],
        run_rate: vec![
            (Stage::Mql, 150.0),
            (Stage::Sal, 70.0),
            (Stage::Sql, 42.0),
            (Stage::Won, 9.0),
        ],
        won: 27,
    }
}

/// MQLs and deals only (as in the Olist data): MQL→won 842 / 8,000.
fn skipping() -> Measured {
    Measured {
        tracked: vec![Stage::Mql, Stage::Won],
        rates: vec![rate(Stage::Mql, Stage::Won, 842.0 / 8_000.0, 14.65)],
        run_rate: vec![
            (Stage::Mql, 667.0),
            (Stage::Sal, 0.0),
            (Stage::Sql, 0.0),
            (Stage::Won, 70.0),
        ],
        won: 842,
    }
}

fn input(measured: Measured) -> PlanInput {
    PlanInput {
        target_revenue: 1_200_000.0,
        start: date(2025, 3, 15),
        months: 12,
        deal_size: Estimate::Given { value: 10_000.0 },
        win_rate: None,
        measured,
        this_month: None,
    }
}

fn needed(m: &PlanMonth, stage: Stage) -> Option<u64> {
    m.stages.iter().find(|s| s.stage == stage).unwrap().needed
}

#[test]
fn the_funnel_runs_backwards_from_revenue_to_mqls_with_the_measured_win_rate() {
    let p = plan(&input(full())).unwrap();

    // 1.2 M / 12 = 100 k a month; / 10 k = 10 deals; / 0.25 = 40 SQLs; / 0.5 = 80 SALs;
    // / 0.4 = 200 MQLs. Run rate 150 MQLs: 50 short.
    assert_eq!(p.months.len(), 12);
    let m = &p.months[0];
    assert_eq!(
        (m.month, p.months[11].month),
        (date(2025, 3, 1), date(2026, 2, 1))
    );
    assert_eq!(m.deals, 10);
    let wanted = [
        (Stage::Mql, 200),
        (Stage::Sal, 80),
        (Stage::Sql, 40),
        (Stage::Won, 10),
    ];
    for (stage, n) in wanted {
        assert_eq!(needed(m, stage), Some(n), "{stage}");
    }
    assert_eq!(m.stages[0].gap, Some(50.0));
    assert_eq!(m.stages[2].gap, Some(-2.0));
    assert_eq!(
        p.win_rate,
        Some(Used {
            value: 0.25,
            source: Source::Measured
        })
    );
    // The median MQL→won lag is 45 days: March's MQLs were due by 15 January.
    assert_eq!(m.mqls_by, Some(date(2025, 1, 15)));
}

/// Regression: on the Olist data (no SAL or SQL) the API answered `"mql": null`.
#[test]
fn skipped_stages_plan_mqls_from_the_rate_the_data_has() {
    let mut i = input(skipping());
    i.target_revenue = 120_000.0;
    i.months = 1;

    let p = plan(&i).unwrap();

    // 12 deals / (842 / 8,000) = 114.01… → 115 MQLs; no SAL or SQL in the data.
    let m = &p.months[0];
    assert_eq!(needed(m, Stage::Mql), Some(115));
    assert_eq!((needed(m, Stage::Sal), needed(m, Stage::Sql)), (None, None));
    assert!(m.stages[1]
        .unknown_because
        .as_deref()
        .unwrap()
        .contains("no lead entered sal"));
    assert_eq!(p.win_rate, None);
}

#[test]
fn a_given_win_rate_plans_sqls_and_mqls_still_follow_the_measured_rates() {
    let mut i = input(skipping());
    i.target_revenue = 120_000.0;
    i.months = 1;
    i.win_rate = Some(Estimate::Given { value: 0.3 });

    let m = plan(&i).unwrap().months.remove(0);

    // 12 / 0.3 = 40 SQLs; SQL is not tracked, so MQLs still come from MQL→won.
    assert_eq!(
        (needed(&m, Stage::Sql), needed(&m, Stage::Mql)),
        (Some(40), Some(115))
    );
}

#[test]
fn figures_are_rounded_up_once_not_at_every_step() {
    let mut m = full();
    m.rates = vec![
        rate(Stage::Mql, Stage::Sal, 0.35, 1.0),
        rate(Stage::Sal, Stage::Sql, 0.7, 1.0),
    ];
    let mut i = input(m);
    i.target_revenue = 100_000.0;
    i.months = 1;
    i.deal_size = Estimate::Given { value: 30_000.0 };
    i.win_rate = Some(Estimate::Given { value: 0.3 });

    let m = plan(&i).unwrap().months.remove(0);

    // 3.33… deals → 4; SQLs 3.33…/0.3 = 11.11… → 12; SALs 11.11…/0.7 = 15.87… → 16;
    // MQLs 15.87…/0.35 = 45.35… → 46 (step-wise rounding would give 14, 20 and 58).
    assert_eq!(m.deals, 4);
    assert_eq!(
        [Stage::Mql, Stage::Sal, Stage::Sql].map(|s| needed(&m, s)),
        [Some(46), Some(16), Some(12)]
    );
}

#[test]
fn a_measured_deal_size_is_revenue_won_over_deals_won() {
    let mut i = input(full());
    i.deal_size = Estimate::Measured {
        part: 540_000.0,
        whole: 27.0,
    };

    let p = plan(&i).unwrap();

    // 540 k / 27 deals = 20 k; 100 k a month = 5 deals, 20 SQLs, 40 SALs, 100 MQLs.
    assert_eq!(
        p.deal_size,
        Used {
            value: 20_000.0,
            source: Source::Measured
        }
    );
    assert_eq!(needed(&p.months[0], Stage::Mql), Some(100));
}

#[test]
fn this_months_mql_shortfall_warns_when_the_sqls_will_be_missing() {
    let mut i = input(full());
    // Ten days into April (30 days), 50 MQLs: 150 projected, 200 needed.
    let as_of = Utc.with_ymd_and_hms(2025, 4, 11, 0, 0, 0).unwrap();
    i.this_month = Some(ThisMonth { as_of, mqls: 50 });

    let w = plan(&i).unwrap().warning.unwrap();

    // 50 short × MQL→SQL 0.2 = 10 SQLs, 20 days (the median MQL→SQL lag) later.
    assert_eq!(
        (w.month, w.mqls_projected, w.mql_shortfall),
        (date(2025, 4, 1), 150, 50)
    );
    assert_eq!(w.shows_as, Stage::Sql);
    assert!((w.missing - 10.0).abs() < 1e-9);
    assert_eq!((w.from, w.to), (date(2025, 4, 21), date(2025, 5, 21)));
}

#[test]
fn without_sqls_in_the_data_the_shortfall_shows_as_missing_deals() {
    let mut i = input(skipping());
    i.target_revenue = 120_000.0;
    i.months = 1;
    let as_of = Utc.with_ymd_and_hms(2025, 4, 16, 0, 0, 0).unwrap();
    i.this_month = Some(ThisMonth { as_of, mqls: 40 });

    let w = plan(&i).unwrap().warning.unwrap();

    // 15 days: 40 → 80 projected; 115 needed: 35 short × 0.10525 = 3.68 deals, 14.65 days on.
    assert_eq!(
        (w.mqls_projected, w.mql_shortfall, w.shows_as),
        (80, 35, Stage::Won)
    );
    assert!((w.missing - 35.0 * 0.10525).abs() < 1e-9);
    assert_eq!(w.from, date(2025, 4, 15));
}

#[test]
fn no_warning_when_the_month_is_on_pace() {
    let mut i = input(full());
    let as_of = Utc.with_ymd_and_hms(2025, 4, 16, 0, 0, 0).unwrap();
    i.this_month = Some(ThisMonth { as_of, mqls: 100 });

    assert_eq!(plan(&i).unwrap().warning, None);
}

#[test]
fn impossible_inputs_are_refused_with_the_field_named() {
    let mut i = input(full());
    i.win_rate = Some(Estimate::Measured {
        part: 3.0,
        whole: 0.0,
    });
    assert_eq!(plan(&i), Err(PlanError::NotPositive("win_rate")));

    let mut i = input(full());
    i.win_rate = Some(Estimate::Given { value: 1.5 });
    assert_eq!(plan(&i), Err(PlanError::AboveOne("win_rate")));

    let mut i = input(full());
    i.months = 0;
    assert_eq!(plan(&i), Err(PlanError::NoMonths));

    let mut i = input(full());
    i.deal_size = Estimate::Given { value: f64::NAN };
    assert_eq!(plan(&i), Err(PlanError::NotPositive("deal_size")));

    // Regression: a target of 1e300 with a deal size of 1e-300 answered 18446744073709551615
    // deals a month (u64::MAX, a saturated cast).
    let mut i = input(full());
    i.target_revenue = 1e300;
    i.deal_size = Estimate::Given { value: 1e-300 };
    assert_eq!(plan(&i), Err(PlanError::TooLarge));
    let mut i = input(full());
    i.win_rate = Some(Estimate::Given { value: 5e-324 });
    assert_eq!(plan(&i), Err(PlanError::TooLarge), "SQLs = deals / 5e-324");
}

#[test]
fn measurements_take_rates_only_between_stages_the_data_has() {
    use crate::{
        funnel::{self, Dimension, Period},
        journey::{JourneyState, StageEvent, StageOutcome},
        transition::{Actor, Dimensions},
        CauseId, LeadId,
    };
    let at = |d: u32| Utc.with_ymd_and_hms(2025, 1, d, 0, 0, 0).unwrap();
    let mut all = Vec::new();
    for (lead, steps) in [
        (
            "a",
            vec![(Stage::New, 1), (Stage::Mql, 1), (Stage::Won, 11)],
        ),
        ("b", vec![(Stage::New, 2), (Stage::Mql, 2)]),
    ] {
        let mut state = JourneyState::default();
        for (i, (stage, d)) in steps.into_iter().enumerate() {
            let event = StageEvent {
                to: stage,
                cause: CauseId::new(format!("{lead}-{i}")),
                actor: Actor::Import { batch: "t".into() },
                reason: None,
                effective_at: at(d),
                recorded_at: at(d),
                dims: Dimensions::default(),
            };
            if let Ok(StageOutcome::Applied(t)) = state.apply(&LeadId::new(lead), &event) {
                all.push(t);
            }
        }
    }
    let january = Period {
        from: at(1),
        to: at(1) + Duration::days(31),
    };

    let m = Measured::from_report(&funnel::report(&all, january, Dimension::All, at(31)));

    // The won deal skipped SAL and SQL: the cohort view counts it as reaching both, but
    // neither stage is in the data, so only MQL→won is a rate.
    assert_eq!(m.tracked, [Stage::Mql, Stage::Won]);
    assert_eq!(m.rates, [rate(Stage::Mql, Stage::Won, 0.5, 10.0)]);
    assert_eq!(m.won, 1);
    let per_month = 2.0 / (31.0 / MONTH_DAYS);
    assert!((m.run_rate[0].1 - per_month).abs() < 1e-9);
}
