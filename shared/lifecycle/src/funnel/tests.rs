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
