//! The stage machine's rules, one test each, and the properties the design promises.

use super::*;
use crate::RepId;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;

fn at(minute: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2025, 3, 4, 9, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

fn event(to: Stage, cause: &str, minute: i64) -> StageEvent {
    StageEvent {
        to,
        cause: CauseId::new(cause),
        actor: Actor::Rep {
            id: RepId::new("rep-1"),
        },
        reason: to.closes_cycle().then(|| Reason::code("no_budget")),
        effective_at: at(minute),
        recorded_at: at(minute),
        dims: Dimensions::default(),
    }
}

fn lead() -> LeadId {
    LeadId::new("lead-1")
}

/// Applies events in order, returning the state and every transition produced.
fn run(events: &[StageEvent]) -> (JourneyState, Vec<Transition>) {
    let mut state = JourneyState::default();
    let mut log = Vec::new();
    for e in events {
        if let Ok(StageOutcome::Applied(t)) = state.apply(&lead(), e) {
            log.push(t);
        }
    }
    (state, log)
}

#[test]
fn a_lead_enters_at_new_and_moves_forward() {
    let (state, log) = run(&[
        event(Stage::New, "c0", 0),
        event(Stage::Mql, "c1", 1),
        event(Stage::Sal, "c2", 2),
        event(Stage::Sql, "c3", 3),
    ]);

    assert_eq!(state.stage, Some(Stage::Sql));
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].from, None);
    assert_eq!(log[3].from, Some(Stage::Sal));
    assert_eq!(
        log.iter().map(|t| t.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(state.current().unwrap().entered_at(Stage::Sal), Some(at(2)));
}

#[test]
fn nothing_happens_before_the_lead_enters() {
    let state = JourneyState::default();
    assert_eq!(
        state.decide(&lead(), &event(Stage::Mql, "c1", 1)),
        Err(JourneyError::NotStarted)
    );
}

#[test]
fn skipping_a_stage_is_allowed_and_recorded() {
    let (state, log) = run(&[event(Stage::New, "c0", 0), event(Stage::Sal, "c1", 1)]);

    assert_eq!(state.stage, Some(Stage::Sal));
    assert_eq!(log[1].skipped, vec![Stage::Mql]);
    assert!(
        state.current().unwrap().reached(Stage::Mql),
        "a skipped stage counts as passed"
    );
    assert_eq!(state.current().unwrap().entered_at(Stage::Mql), None);
}

#[test]
fn the_same_cause_twice_changes_nothing() {
    let mut state = JourneyState::default();
    state.apply(&lead(), &event(Stage::New, "c0", 0)).unwrap();
    state.apply(&lead(), &event(Stage::Mql, "c1", 1)).unwrap();
    let before = state.clone();

    let again = state.apply(&lead(), &event(Stage::Sql, "c1", 5)).unwrap();

    assert_eq!(again, StageOutcome::AlreadyApplied);
    assert_eq!(state, before);
}

#[test]
fn an_mql_fires_once_per_cycle() {
    let (state, log) = run(&[
        event(Stage::New, "c0", 0),
        event(Stage::Mql, "score-crossed", 1),
        event(Stage::Mql, "demo-booked", 2),
    ]);
    assert_eq!(log.len(), 2);
    assert_eq!(state.current().unwrap().entered_at(Stage::Mql), Some(at(1)));
}

#[test]
fn a_late_event_fills_in_history_without_moving_the_lead() {
    // The SQL decision arrives before the acceptance it implies.
    let (state, log) = run(&[
        event(Stage::New, "c0", 0),
        event(Stage::Mql, "c1", 1),
        event(Stage::Sql, "c3", 3),
        event(Stage::Sal, "c2", 2),
    ]);

    assert_eq!(state.stage, Some(Stage::Sql));
    let late = log.last().unwrap();
    assert!(late.late);
    assert_eq!((late.from, late.to), (Some(Stage::Mql), Stage::Sal));
    assert_eq!(state.current().unwrap().entered_at(Stage::Sal), Some(at(2)));
}

#[test]
fn disqualify_and_recycle_need_a_reason() {
    let (state, _) = run(&[event(Stage::New, "c0", 0), event(Stage::Mql, "c1", 1)]);
    let mut dq = event(Stage::Disqualified, "c2", 2);
    dq.reason = None;
    assert_eq!(
        state.decide(&lead(), &dq),
        Err(JourneyError::ReasonRequired(Stage::Disqualified))
    );

    dq.reason = Some(Reason::code("  "));
    assert_eq!(
        state.decide(&lead(), &dq),
        Err(JourneyError::ReasonRequired(Stage::Disqualified))
    );
}

#[test]
fn a_won_lead_cannot_be_disqualified_or_recycled() {
    let (state, _) = run(&[event(Stage::New, "c0", 0), event(Stage::Won, "c1", 1)]);
    for to in [Stage::Disqualified, Stage::Recycled] {
        let outcome = state.decide(&lead(), &event(to, "c2", 2));
        assert_eq!(
            outcome,
            Err(JourneyError::NotAllowed {
                from: Stage::Won,
                to
            })
        );
    }
}

#[test]
fn a_disqualified_lead_that_qualifies_again_starts_cycle_two() {
    let (state, log) = run(&[
        event(Stage::New, "c0", 0),
        event(Stage::Mql, "c1", 1),
        event(Stage::Sal, "c2", 2),
        event(Stage::Disqualified, "c3", 3),
    ]);
    let cycle_one = state.cycles[0].clone();

    let mut state = state;
    let outcome = state.apply(&lead(), &event(Stage::Mql, "c4", 10)).unwrap();

    let StageOutcome::Applied(t) = outcome else {
        panic!("expected a transition")
    };
    assert_eq!(
        (t.cycle, t.from, t.to),
        (2, Some(Stage::Disqualified), Stage::Mql)
    );
    assert_eq!(state.cycle(), 2);
    assert_eq!(state.cycles[0], cycle_one, "cycle 1's history is unchanged");
    assert_eq!(log.len(), 4);
}

#[test]
fn recycling_then_qualifying_starts_a_new_cycle() {
    let (state, _) = run(&[
        event(Stage::New, "c0", 0),
        event(Stage::Mql, "c1", 1),
        event(Stage::Recycled, "c2", 2),
        event(Stage::Sal, "c3", 3),
    ]);
    assert_eq!(state.stage, Some(Stage::Sal));
    assert_eq!(state.cycle(), 2);
    assert_eq!(state.cycles[0].closed_by, Some(Stage::Recycled));
}

#[test]
fn an_event_from_before_the_cycle_closed_stays_in_that_cycle() {
    let (state, log) = run(&[
        event(Stage::New, "c0", 0),
        event(Stage::Mql, "c1", 1),
        event(Stage::Disqualified, "c3", 5),
        event(Stage::Sal, "c2", 3),
    ]);
    assert_eq!(state.stage, Some(Stage::Disqualified));
    assert_eq!(state.cycle(), 1);
    assert!(log.last().unwrap().late);
    assert_eq!(state.cycles[0].entered_at(Stage::Sal), Some(at(3)));
}

// --- properties --------------------------------------------------------------------------

fn any_stage() -> impl Strategy<Value = Stage> {
    prop::sample::select(Stage::ALL.to_vec())
}

fn any_events() -> impl Strategy<Value = Vec<StageEvent>> {
    prop::collection::vec((any_stage(), 0u8..20, 0i64..500), 0..25).prop_map(|raw| {
        let mut events = vec![event(Stage::New, "enter", 0)];
        events.extend(
            raw.into_iter()
                .map(|(s, c, m)| event(s, &format!("c{c}"), m + 1)),
        );
        events
    })
}

/// Regression: a tracking event dated year 1 made an MQL before the lead's `New`, and the
/// funnel report a negative median lag. A stage now takes effect no earlier than its cycle
/// opened: the first cycle's `New`, or the close of the cycle before.
#[test]
fn nothing_takes_effect_before_its_cycle_opened() {
    let (_, first) = run(&[
        event(Stage::New, "c0", 0),
        event(Stage::Mql, "ancient", -1_000_000),
        event(Stage::Sal, "c2", 5),
        event(Stage::Recycled, "c3", 10),
        event(Stage::Mql, "c4", 20),
        event(Stage::Sal, "before-the-recycle", 8),
    ]);

    let effective: Vec<(Stage, u32, Timestamp)> = first
        .iter()
        .map(|t| (t.to, t.cycle, t.effective_at))
        .collect();
    assert_eq!(
        effective,
        [
            (Stage::New, 1, at(0)),
            (Stage::Mql, 1, at(0)),
            (Stage::Sal, 1, at(5)),
            (Stage::Recycled, 1, at(10)),
            (Stage::Mql, 2, at(20)),
            // A move forward of the open cycle 2, dated before cycle 2 opened at the recycle.
            (Stage::Sal, 2, at(10)),
        ]
    );

    let (_, late) = run(&[
        event(Stage::New, "c0", 0),
        event(Stage::Sal, "c1", 5),
        event(Stage::Mql, "late-and-ancient", -1_000_000),
    ]);
    assert_eq!((late[2].late, late[2].effective_at), (true, at(0)));
}

proptest! {
    /// No transition takes effect before the lead entered the journey.
    #[test]
    fn nothing_takes_effect_before_new(events in any_events()) {
        let (_, log) = run(&events);
        if let Some(new) = log.first() {
            for t in &log {
                prop_assert!(t.effective_at >= new.effective_at, "{t:?} before {new:?}");
            }
        }
    }

    /// Within a cycle, the lead's funnel position never moves backward.
    #[test]
    fn stages_never_move_backward_within_a_cycle(events in any_events()) {
        let mut state = JourneyState::default();
        let mut last: Option<(u32, Stage)> = None;
        for e in &events {
            let _ = state.apply(&lead(), e);
            let (Some(stage), cycle) = (state.stage, state.cycle()) else { continue };
            if let (Some((c, s)), Some(r)) = (last, stage.rank()) {
                if c == cycle && s.rank().is_some() {
                    prop_assert!(r >= s.rank().unwrap(), "{s} -> {stage} in cycle {cycle}");
                }
            }
            last = Some((cycle, stage));
        }
    }

    /// Applying any event a second time changes nothing.
    #[test]
    fn applying_the_same_cause_twice_changes_nothing(events in any_events()) {
        let (once, _) = run(&events);
        let doubled: Vec<_> = events.iter().flat_map(|e| [e.clone(), e.clone()]).collect();
        let (twice, _) = run(&doubled);
        prop_assert_eq!(once, twice);
    }

    /// The state is exactly the fold of the transitions it produced.
    #[test]
    fn state_equals_the_fold_of_its_transitions(events in any_events()) {
        let (state, log) = run(&events);
        prop_assert_eq!(JourneyState::fold(&log), state);
    }

    /// Forward funnel events of one cycle give the same final stage and the same "became X at"
    /// times whatever order they arrive in.
    #[test]
    fn forward_events_commute(order in Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
                              times in prop::collection::vec(1i64..1000, 4)) {
        let stages = [Stage::Mql, Stage::Sal, Stage::Sql, Stage::Won];
        let clean: Vec<_> = (0..4).map(|i| event(stages[i], &format!("s{i}"), times[i])).collect();
        let shuffled: Vec<_> = order.iter().map(|&i| clean[i].clone()).collect();

        let (a, _) = run(&[vec![event(Stage::New, "enter", 0)], clean].concat());
        let (b, _) = run(&[vec![event(Stage::New, "enter", 0)], shuffled].concat());

        prop_assert_eq!(a.stage, b.stage);
        prop_assert_eq!(&a.cycles, &b.cycles);
    }
}
