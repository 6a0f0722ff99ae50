//! Funnel definitions on small, hand-checked histories.

use super::*;
use crate::{
    journey::{JourneyState, StageEvent, StageOutcome},
    transition::{Actor, Dimensions},
    CauseId, LeadId,
};
use chrono::{TimeZone, Utc};

fn day(d: u32) -> crate::Timestamp {
    Utc.with_ymd_and_hms(2025, 1, d, 12, 0, 0).unwrap()
}

/// Builds one lead's transitions from (stage, day) steps, all with `source`.
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
            reason: stage
                .closes_cycle()
                .then(|| crate::Reason::code("no_budget")),
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

fn january() -> Period {
    Period {
        from: day(1),
        to: Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap(),
    }
}

fn conversion(row: &GroupRow, from: Stage, to: Stage) -> &Conversion {
    row.conversions
        .iter()
        .find(|c| c.from == from && c.to == to)
        .unwrap()
}

#[test]
fn entries_and_conversions_follow_the_definitions() {
    let mut all = Vec::new();
    all.extend(history(
        "a",
        "google",
        &[
            (Stage::New, 1),
            (Stage::Mql, 2),
            (Stage::Sal, 4),
            (Stage::Sql, 10),
        ],
    ));
    all.extend(history(
        "b",
        "google",
        &[(Stage::New, 1), (Stage::Mql, 3), (Stage::Sql, 5)],
    ));
    all.extend(history(
        "c",
        "linkedin",
        &[(Stage::New, 2), (Stage::Mql, 2)],
    ));
    all.extend(history("d", "linkedin", &[(Stage::New, 2)]));

    let r = report(&all, january(), Dimension::Source, day(31));

    assert_eq!(r.total.entered[&Stage::New], 4);
    assert_eq!(r.total.entered[&Stage::Mql], 3);
    assert_eq!(
        r.total.entered[&Stage::Sal],
        1,
        "b skipped SAL: not entered"
    );
    assert_eq!(r.total.entered[&Stage::Sql], 2);

    let mql_sql = conversion(&r.total, Stage::Mql, Stage::Sql);
    assert_eq!((mql_sql.cohort, mql_sql.converted), (3, 2));
    // a: day 2 → 10 = 8 days; b: day 3 → 5 = 2 days. Median of {2, 8} = 5; p90 = 8.
    assert_eq!(mql_sql.median_days, Some(5.0));
    assert_eq!(mql_sql.p90_days, Some(8.0));

    let mql_sal = conversion(&r.total, Stage::Mql, Stage::Sal);
    assert_eq!(
        (mql_sal.cohort, mql_sal.converted),
        (3, 2),
        "b passed SAL by skipping it"
    );

    let google = r.groups.iter().find(|g| g.group == "google").unwrap();
    assert_eq!(google.entered[&Stage::Mql], 2);
    assert_eq!(r.groups[0].group, "google", "largest MQL count first");
}

#[test]
fn only_transitions_inside_the_period_are_entries() {
    let all = history("a", "google", &[(Stage::New, 1), (Stage::Mql, 20)]);
    let early = Period {
        from: day(1),
        to: day(10),
    };

    let r = report(&all, early, Dimension::All, day(31));

    assert_eq!(r.total.entered.get(&Stage::Mql), None);
    let new_mql = conversion(&r.total, Stage::New, Stage::Mql);
    assert_eq!(
        (new_mql.cohort, new_mql.converted),
        (1, 1),
        "the cohort follows the lead beyond the period"
    );
}

#[test]
fn transitions_recorded_after_as_of_are_not_seen() {
    let mut all = history("a", "google", &[(Stage::New, 1), (Stage::Mql, 2)]);
    all[1].recorded_at = day(25);

    let r = report(&all, january(), Dimension::All, day(24));

    assert_eq!(r.total.entered.get(&Stage::Mql), None);
}

#[test]
fn a_second_cycle_is_a_second_cohort_member() {
    let all = history(
        "a",
        "google",
        &[
            (Stage::New, 1),
            (Stage::Mql, 2),
            (Stage::Disqualified, 3),
            (Stage::Mql, 5),
            (Stage::Sal, 6),
        ],
    );

    let r = report(&all, january(), Dimension::All, day(31));

    assert_eq!(r.total.entered[&Stage::Mql], 2);
    let mql_sal = conversion(&r.total, Stage::Mql, Stage::Sal);
    assert_eq!((mql_sal.cohort, mql_sal.converted), (2, 1));
}

#[test]
fn percentiles_use_the_stated_methods() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[1.0, 2.0, 9.0]), Some(2.0));
    assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), Some(3.0));
    let ten: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(nearest_rank(&ten, 0.9), Some(9.0));
    assert_eq!(nearest_rank(&[5.0], 0.9), Some(5.0));
}

/// a: a straight run; b: disqualified, recycled and back; c: disqualified for another reason.
fn mixed_histories() -> Vec<Transition> {
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
        "google",
        &[
            (Stage::New, 1),
            (Stage::Mql, 3),
            (Stage::Disqualified, 5),
            (Stage::Recycled, 6),
            (Stage::Mql, 8),
        ],
    ));
    let mut c = history(
        "c",
        "linkedin",
        &[(Stage::New, 2), (Stage::Mql, 2), (Stage::Disqualified, 3)],
    );
    c[2].reason = Some(crate::Reason::code("competitor"));
    all.extend(c);
    all
}

fn spread(count: u64, median: f64, p90: f64) -> Spread {
    Spread {
        count,
        median_days: Some(median),
        p90_days: Some(p90),
    }
}

#[test]
fn time_in_stage_runs_from_entry_to_the_next_transition() {
    let r = report(&mixed_histories(), january(), Dimension::All, day(31));

    let stays = &r.total.time_in_stage;
    // New: a 1 day, b 2 days, c 0 days → median 1, p90 (rank 3 of 3) 2.
    assert_eq!(stays[&Stage::New], spread(3, 1.0, 2.0));
    // MQL: a 2, b 2 (day 3 → 5), c 1; b's second MQL is still open and not counted.
    assert_eq!(stays[&Stage::Mql], spread(3, 2.0, 2.0));
    assert_eq!(stays[&Stage::Sal], spread(1, 6.0, 6.0));
    assert_eq!(
        stays[&Stage::Disqualified],
        spread(1, 1.0, 1.0),
        "c's is open"
    );
    assert_eq!(stays[&Stage::Recycled], spread(1, 2.0, 2.0));
    assert_eq!(stays.get(&Stage::Sql), None, "a is still an SQL");
}

#[test]
fn stays_that_began_before_the_period_are_not_counted() {
    let from_day_3 = Period {
        from: day(3),
        to: january().to,
    };

    let r = report(&mixed_histories(), from_day_3, Dimension::All, day(31));

    assert_eq!(r.total.time_in_stage.get(&Stage::New), None);
    // Only b's first MQL (day 3 → 5) began on or after day 3.
    assert_eq!(r.total.time_in_stage[&Stage::Mql], spread(1, 2.0, 2.0));
}

#[test]
fn reasons_and_recycling_follow_the_definitions() {
    let r = report(&mixed_histories(), january(), Dimension::Source, day(31));

    let reasons: Vec<(&str, u64)> = r
        .total
        .disqualified_reasons
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(reasons, [("competitor", 1), ("no_budget", 1)]);

    // MQL cohort: a, b (cycle 1), b (cycle 2), c = 4. Recycled: b1. Disqualified: b1, c.
    // Back again: b1 (its cycle 2 is an MQL).
    let total = &r.total.recycling;
    assert_eq!(
        (
            total.mql_cohort,
            total.recycled,
            total.disqualified,
            total.requalified
        ),
        (4, 1, 2, 1)
    );
    assert_eq!(total.recycled_rate, Some(0.25));
    assert_eq!(total.disqualified_rate, Some(0.5));
    assert_eq!(total.requalified_rate, Some(1.0));

    let linkedin = r.groups.iter().find(|g| g.group == "linkedin").unwrap();
    assert_eq!(
        (
            linkedin.recycling.mql_cohort,
            linkedin.recycling.disqualified
        ),
        (1, 1)
    );
    assert_eq!(
        linkedin.recycling.requalified_rate, None,
        "nothing recycled"
    );
    assert_eq!(linkedin.disqualified_reasons["competitor"], 1);
}

/// A clock outcome recorded at its due time, for `rep` in `team`, from `source`.
fn outcome(
    lead: &str,
    kind: ClockKind,
    due_at: crate::Timestamp,
    met: bool,
    (rep, team, source): (Option<&str>, Option<&str>, &str),
) -> ClockOutcome {
    ClockOutcome {
        clock: format!("{lead}:1:{kind:?}:0"),
        lead: LeadId::new(lead),
        kind,
        due_at,
        met,
        recorded_at: due_at,
        dims: Dimensions {
            source: Some(source.to_owned()),
            rep: rep.map(crate::RepId::new),
            team: team.map(str::to_owned),
            ..Dimensions::default()
        },
    }
}

#[test]
fn sla_compliance_counts_clocks_due_in_the_period_by_kind_and_group() {
    let at = |d: u32, m: u32| Utc.with_ymd_and_hms(2025, m, d, 13, 0, 0).unwrap();
    let none = (None, None, "google");
    let clocks = [
        outcome("a", ClockKind::Routing, at(2, 1), true, none),
        outcome("b", ClockKind::Routing, at(3, 1), false, none),
        outcome("c", ClockKind::Response, at(2, 1), true, (None, None, "")),
        outcome("x", ClockKind::Response, at(5, 1), true, (None, None, "")),
        outcome("a", ClockKind::Response, at(2, 2), false, none),
    ];

    let r = report_with_clocks(
        &mixed_histories(),
        &clocks,
        january(),
        Dimension::Source,
        day(31),
    );

    let routing = &r.total.sla[&ClockKind::Routing];
    assert_eq!((routing.due, routing.met, routing.rate), (2, 1, Some(0.5)));
    let response = &r.total.sla[&ClockKind::Response];
    assert_eq!((response.due, response.met), (2, 2), "February's is out");
    let google = r.groups.iter().find(|g| g.group == "google").unwrap();
    assert_eq!(google.sla[&ClockKind::Routing].due, 2);
    let unknown = r.groups.iter().find(|g| g.group == NONE).unwrap();
    assert_eq!(unknown.sla[&ClockKind::Response].met, 2);
    assert!(unknown.entered.is_empty());
}

/// Rep A (team emea): three response clocks, two met; rep B (emea): one met; rep C (amer):
/// one breached; one routing clock in emea, breached, for nobody.
fn team_clocks() -> Vec<ClockOutcome> {
    let at = |d: u32| Utc.with_ymd_and_hms(2025, 1, d, 9, 15, 0).unwrap();
    let a = (Some("rep-a"), Some("emea"), "google");
    vec![
        outcome("l1", ClockKind::Response, at(6), true, a),
        outcome("l2", ClockKind::Response, at(7), true, a),
        outcome("l3", ClockKind::Response, at(8), false, a),
        outcome(
            "l4",
            ClockKind::Response,
            at(8),
            true,
            (Some("rep-b"), Some("emea"), "google"),
        ),
        outcome(
            "l5",
            ClockKind::Response,
            at(9),
            false,
            (Some("rep-c"), Some("amer"), "google"),
        ),
        outcome(
            "l3",
            ClockKind::Routing,
            at(8),
            false,
            (None, Some("emea"), "google"),
        ),
    ]
}

#[test]
fn sla_compliance_by_rep_counts_the_clocks_each_rep_ran() {
    let r = report_with_clocks(&[], &team_clocks(), january(), Dimension::Rep, day(31));

    let rep = |name: &str| &r.groups.iter().find(|g| g.group == name).unwrap().sla;
    let a = &rep("rep-a")[&ClockKind::Response];
    assert_eq!((a.due, a.met), (3, 2));
    assert_eq!(format!("{:.1}", a.rate.unwrap() * 100.0), "66.7");
    assert_eq!(rep("rep-b")[&ClockKind::Response].rate, Some(1.0));
    assert_eq!(rep("rep-c")[&ClockKind::Response].rate, Some(0.0));
    let nobody = rep(NONE);
    assert_eq!(
        nobody[&ClockKind::Routing].due,
        1,
        "routing runs for no rep"
    );
    assert!(!nobody.contains_key(&ClockKind::Response));
}

#[test]
fn sla_compliance_by_team_counts_the_pools_clocks_of_both_kinds() {
    let r = report_with_clocks(&[], &team_clocks(), january(), Dimension::Team, day(31));

    let team = |name: &str| &r.groups.iter().find(|g| g.group == name).unwrap().sla;
    let emea = &team("emea")[&ClockKind::Response];
    assert_eq!((emea.due, emea.met, emea.rate), (4, 3, Some(0.75)));
    assert_eq!(team("emea")[&ClockKind::Routing].rate, Some(0.0));
    let amer = &team("amer")[&ClockKind::Response];
    assert_eq!((amer.due, amer.met), (1, 0));
    let total = &r.total.sla[&ClockKind::Response];
    assert_eq!((total.due, total.met, total.rate), (5, 3, Some(0.6)));
}

#[test]
fn an_outcome_recorded_after_as_of_is_left_out() {
    let clocks = team_clocks();
    // l5's breach (due 9 January) is recorded on the 9th; as of the 8th at noon nobody knew
    // it, nor l3's and l4's (due the 8th at 09:15 and recorded then: those count).
    let as_of = Utc.with_ymd_and_hms(2025, 1, 8, 12, 0, 0).unwrap();

    let r = report_with_clocks(&[], &clocks, january(), Dimension::All, as_of);

    let response = &r.total.sla[&ClockKind::Response];
    assert_eq!((response.due, response.met), (4, 3));
}

fn in_campaign(mut ts: Vec<Transition>, campaign: &str) -> Vec<Transition> {
    for t in &mut ts {
        t.dims.campaign = Some(campaign.to_owned());
    }
    ts
}

#[test]
fn campaign_returns_divide_each_months_cost_by_its_cohort_and_flag_each_young_cohort() {
    let month = |m: u32| NaiveDate::from_ymd_opt(2025, m, 1).unwrap();
    let at = |m: u32, d: u32| Utc.with_ymd_and_hms(2025, m, d, 12, 0, 0).unwrap();
    let mut all = in_campaign(
        history(
            "a",
            "google",
            &[
                (Stage::New, 1),
                (Stage::Mql, 2),
                (Stage::Sal, 4),
                (Stage::Sql, 10),
            ],
        ),
        "spring",
    );
    all.extend(in_campaign(
        history(
            "b",
            "google",
            &[(Stage::New, 1), (Stage::Mql, 3), (Stage::Sql, 5)],
        ),
        "spring",
    ));
    all.extend(in_campaign(
        history("c", "google", &[(Stage::New, 1), (Stage::Mql, 2)]),
        "spring",
    ));
    all.extend(history("d", "google", &[(Stage::New, 1), (Stage::Mql, 2)]));
    // A February MQL of spring, recorded in February.
    let mut e = in_campaign(
        history("e", "google", &[(Stage::New, 1), (Stage::Mql, 2)]),
        "spring",
    );
    for (t, d) in e.iter_mut().zip([1, 2]) {
        t.effective_at = at(2, d);
        t.recorded_at = at(2, d);
    }
    all.extend(e);
    let costs = BTreeMap::from([
        (("spring".to_owned(), month(1)), 900.0),
        (("spring".to_owned(), month(2)), 100.0),
        (("fall".to_owned(), month(1)), 200.0),
    ]);
    let february = Period {
        from: january().to,
        to: Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap(),
    };
    let as_of = at(3, 5); // 36.5 days after January, 4.5 after February.
    let jan = report(&all, january(), Dimension::Campaign, as_of);
    let feb = report(&all, february, Dimension::Campaign, as_of);

    let rows = campaign_returns(&[(month(1), &jan), (month(2), &feb)], &costs, 10.0, as_of);

    let names: Vec<&str> = rows.iter().map(|r| r.campaign.as_str()).collect();
    assert_eq!(
        names,
        ["fall", "spring"],
        "leads without a campaign have no cost"
    );
    // spring, January: MQLs a, b, c = 3; SAL a and b (b skipped it) = 2; SQL a, b = 2.
    let spring = &rows[1];
    let january_cohort = &spring.cohorts[0].figures;
    assert_eq!(
        (
            january_cohort.mqls,
            january_cohort.sals,
            january_cohort.sqls
        ),
        (3, 2, 2)
    );
    assert_eq!(
        (january_cohort.cost_per_mql, january_cohort.cost_per_sql),
        (Some(300.0), Some(450.0))
    );
    assert!(
        !january_cohort.too_young,
        "36.5 days since January ended ≥ 10"
    );
    // February: e alone, 100; only 4.5 days old.
    let february_cohort = &spring.cohorts[1].figures;
    assert_eq!(
        (february_cohort.mqls, february_cohort.cost_per_mql),
        (1, Some(100.0))
    );
    assert!(february_cohort.too_young);
    assert_eq!(
        spring.cohorts[1].judge_from,
        february.to + chrono::Duration::days(10)
    );
    // The campaign adds up both, and is too young while one cohort is.
    assert_eq!((spring.total.cost, spring.total.mqls), (1000.0, 4));
    assert_eq!(spring.total.cost_per_mql, Some(250.0));
    assert!(spring.total.too_young);
    let fall = &rows[0];
    assert_eq!(
        (fall.total.cost, fall.total.cost_per_mql),
        (200.0, None),
        "no MQLs"
    );
    assert_eq!(fall.cohorts.len(), 1, "only the month with a cost");
}

/// Regression: `GET /reports/roi?maturity_days=106751991168` (found by schemathesis) panicked
/// in chrono: the maturity was beyond its range, and the judging day beyond its calendar.
#[test]
fn a_maturity_beyond_the_calendar_keeps_every_cohort_young() {
    let all = in_campaign(
        history("a", "google", &[(Stage::New, 1), (Stage::Mql, 2)]),
        "spring",
    );
    let as_of = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let jan = report(&all, january(), Dimension::Campaign, as_of);
    let month = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();

    for days in [106_751_991_168.0, 1e300, f64::INFINITY] {
        let rows = campaign_returns(&[(month, &jan)], &BTreeMap::new(), days, as_of);

        let cohort = &rows[0].cohorts[0];
        assert!(cohort.figures.too_young, "{days}");
        assert_eq!(cohort.judge_from, crate::Timestamp::MAX_UTC, "{days}");
    }
}

#[test]
fn maturity_is_the_p90_to_sql_or_to_won_without_sqls() {
    let mut all = history(
        "a",
        "google",
        &[(Stage::New, 1), (Stage::Mql, 2), (Stage::Sql, 12)],
    );
    all.extend(history(
        "b",
        "google",
        &[(Stage::New, 1), (Stage::Mql, 2), (Stage::Sql, 4)],
    ));
    let with_sqls = report(&all, january(), Dimension::All, day(31));
    assert_eq!(maturity_days(&with_sqls), Some(10.0));

    let deals = history(
        "c",
        "x",
        &[(Stage::New, 1), (Stage::Mql, 2), (Stage::Won, 9)],
    );
    let without = report(&deals, january(), Dimension::All, day(31));
    assert_eq!(maturity_days(&without), Some(7.0));
}

/// The day of `d` as a period.
fn one_day(d: u32) -> Period {
    let from = Utc.with_ymd_and_hms(2025, 1, d, 0, 0, 0).unwrap();
    Period {
        from,
        to: from + chrono::Duration::days(1),
    }
}

#[test]
fn merged_daily_reports_equal_the_report_of_the_whole_period() {
    let mut all = Vec::new();
    all.extend(history(
        "a",
        "google",
        &[
            (Stage::New, 1),
            (Stage::Mql, 2),
            (Stage::Sal, 4),
            (Stage::Sql, 10),
        ],
    ));
    all.extend(history(
        "b",
        "google",
        &[
            (Stage::New, 1),
            (Stage::Mql, 3),
            (Stage::Disqualified, 5),
            (Stage::Recycled, 6),
            (Stage::Mql, 8),
        ],
    ));
    all.extend(history(
        "c",
        "linkedin",
        &[(Stage::New, 2), (Stage::Mql, 2), (Stage::Won, 9)],
    ));
    all.extend(history(
        "d",
        "",
        &[(Stage::New, 3), (Stage::Mql, 7), (Stage::Sal, 7)],
    ));
    let clocks = [ClockOutcome {
        clock: "a:1:routing:0".into(),
        lead: LeadId::new("a"),
        kind: ClockKind::Routing,
        due_at: day(2),
        met: true,
        recorded_at: day(2),
        dims: Dimensions {
            source: Some("google".into()),
            ..Dimensions::default()
        },
    }];
    let period = Period {
        from: one_day(1).from,
        to: one_day(11).from,
    };
    let as_of = day(20);

    for group_by in [Dimension::All, Dimension::Source] {
        let days: Vec<(FunnelReport, ReportSamples)> = (1..11)
            .map(|d| report_with_samples(&all, &clocks, one_day(d), group_by, as_of))
            .collect();
        let parts: Vec<(&FunnelReport, &ReportSamples)> =
            days.iter().map(|(r, s)| (r, s)).collect();

        let merged = merge(&parts, period, group_by, as_of);

        assert_eq!(
            merged,
            report_with_clocks(&all, &clocks, period, group_by, as_of),
            "{group_by:?}"
        );
    }
}
