//! Routing tests. Fair-share expectations are counted by hand from the pool sizes and weights;
//! eligibility is checked against the reps' raw data, not against the decision's own reasons.

use super::*;
use crate::{
    sla::{BusinessCalendar, CalendarSpec, OpenInterval, WallTime, WeeklyHours, Zone},
    LeadId, RepId, Timestamp,
};
use chrono::{DateTime, Duration};
use proptest::prelude::{any, prop, prop_assert, proptest, Just, Strategy as _};
use std::collections::{BTreeMap, BTreeSet};

fn utc(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn now() -> Timestamp {
    utc("2025-06-16T12:00:00Z")
}

fn pool(reps: &[&str]) -> Pool {
    Pool {
        id: "emea".into(),
        strategy: config::Strategy::RoundRobin,
        members: reps.iter().map(|r| PoolMember::new(*r)).collect(),
        account_match: true,
        returning: Returning::RejoinLevel,
        overflow_queue: "emea_overflow".into(),
        manager: None,
        notify: None,
    }
}

fn available(reps: &[&str]) -> BTreeMap<RepId, RepSnapshot> {
    reps.iter()
        .map(|r| {
            let availability = RepAvailability::active(*r);
            (
                RepId::new(*r),
                RepSnapshot {
                    availability,
                    load: RepLoad::default(),
                },
            )
        })
        .collect()
}

fn lead(n: usize) -> LeadFacts {
    LeadFacts::unknown(LeadId::new(format!("lead-{n}")))
}

fn route_one(
    pool: &Pool,
    reps: &BTreeMap<RepId, RepSnapshot>,
    rotation: &RotationState,
    n: usize,
) -> Routed {
    let ctx = RoutingContext::new(reps, rotation, now());
    route(&lead(n), None, pool, ctx)
}

/// Routes `n` leads one by one, storing the rotation after each; counts per rep.
fn run(
    pool: &Pool,
    reps: &BTreeMap<RepId, RepSnapshot>,
    rotation: &mut RotationState,
    n: usize,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for i in 0..n {
        let routed = route_one(pool, reps, rotation, i);
        let rep = routed
            .decision
            .assignee()
            .expect("someone is eligible")
            .to_string();
        *counts.entry(rep).or_insert(0) += 1;
        *rotation = routed.rotation;
    }
    counts
}

fn spread(counts: &BTreeMap<String, usize>) -> usize {
    counts.values().max().unwrap() - counts.values().min().unwrap()
}

#[test]
fn ten_thousand_equal_turns_are_within_one_whatever_the_member_order() {
    let names = [
        "rep-d", "rep-a", "rep-c", "rep-e", "rep-b", "rep-g", "rep-f",
    ];
    let reps = available(&names);
    let orders: [&[&str]; 3] = [
        &names,
        &[
            "rep-a", "rep-b", "rep-c", "rep-d", "rep-e", "rep-f", "rep-g",
        ],
        &[
            "rep-g", "rep-f", "rep-e", "rep-d", "rep-c", "rep-b", "rep-a",
        ],
    ];

    for order in orders {
        let mut rotation = RotationState::new("emea");
        let counts = run(&pool(order), &reps, &mut rotation, 10_000);
        // 10,000 / 7 = 1428 rem 4: four reps get 1429, three 1428.
        assert_eq!(counts.len(), 7);
        assert!(
            counts.values().all(|c| *c == 1428 || *c == 1429),
            "{counts:?}"
        );
    }
}

#[test]
fn a_rep_added_later_starts_level_and_nobody_elses_count_resets() {
    let reps = available(&["a", "b", "c", "d"]);
    let mut rotation = RotationState::new("emea");
    run(&pool(&["a", "b", "c"]), &reps, &mut rotation, 300);
    let before: Vec<u64> = ["a", "b", "c"]
        .iter()
        .map(|r| rotation.reps[&RepId::new(*r)].assigned)
        .collect();
    assert_eq!(before, [100, 100, 100]);

    // d joins (listed first): from now on the four share equally; d gets no back-log of 100.
    let counts = run(&pool(&["d", "a", "b", "c"]), &reps, &mut rotation, 4_001);
    assert!(spread(&counts) <= 1, "{counts:?}");
    assert_eq!(
        rotation.reps[&RepId::new("a")].assigned,
        100 + counts["a"] as u64
    );

    // c leaves: a, b and d carry on from where they were.
    let counts = run(&pool(&["a", "b", "d"]), &reps, &mut rotation, 3_000);
    assert_eq!(
        counts.values().copied().collect::<Vec<_>>(),
        [1000, 1000, 1000]
    );
}

#[test]
fn leftover_leads_of_uneven_batches_do_not_always_go_to_the_same_rep() {
    // Ten batches of ten leads over three reps: each batch gives one rep a fourth lead. With
    // the rotation carried over, that extra lead moves round: a, b, c, a, ...
    let reps = available(&["a", "b", "c"]);
    let p = pool(&["a", "b", "c"]);
    let mut rotation = RotationState::new("emea");
    let mut extra = BTreeMap::new();
    for _ in 0..10 {
        let counts = run(&p, &reps, &mut rotation, 10);
        let (rep, _) = counts.iter().find(|(_, c)| **c == 4).unwrap();
        *extra.entry(rep.clone()).or_insert(0) += 1;
    }
    assert_eq!(
        extra.values().copied().collect::<Vec<_>>(),
        [4, 3, 3],
        "{extra:?}"
    );
}

#[test]
fn a_batch_is_spread_like_the_same_leads_arriving_one_by_one() {
    let mut reps = available(&["a", "b", "c"]);
    let mut p = pool(&["a", "b", "c"]);
    p.members[1].max_per_day = Some(2);
    let leads: Vec<(LeadFacts, Option<RepId>)> = (0..8).map(|i| (lead(i), None)).collect();
    let rotation = RotationState::new("emea");

    let ctx = RoutingContext::new(&reps, &rotation, now());
    let (batch, batch_rotation) = route_batch(&leads, &p, ctx);

    // One by one: each lead is routed after the previous decision and its load were stored.
    let mut rotation_now = rotation.clone();
    let mut singles = Vec::new();
    for (facts, _) in &leads {
        let ctx = RoutingContext::new(&reps, &rotation_now, now());
        let routed = route(facts, None, &p, ctx);
        let rep = routed.decision.assignee().unwrap().clone();
        let load = &mut reps.get_mut(&rep).unwrap().load;
        load.assigned_today += 1;
        load.open_leads += 1;
        rotation_now = routed.rotation;
        singles.push(rep.to_string());
    }

    let batch_reps: Vec<String> = batch
        .iter()
        .map(|d| d.assignee().unwrap().to_string())
        .collect();
    assert_eq!(batch_reps, singles);
    assert_eq!(batch_rotation, rotation_now);
    // b stops at its cap of 2; a and c share the other 6.
    assert_eq!(batch_reps, ["a", "b", "c", "a", "b", "c", "a", "c"]);
}

#[test]
fn weights_share_turns_in_proportion() {
    let reps = available(&["heavy", "light"]);
    let mut p = pool(&["light", "heavy"]);
    p.strategy = config::Strategy::WeightedRoundRobin;
    p.members[1].weight = 3;
    let mut rotation = RotationState::new("emea");
    let counts = run(&p, &reps, &mut rotation, 4_000);
    assert_eq!(counts["heavy"], 3_000);
    assert_eq!(counts["light"], 1_000);
}

fn away(reps: &mut BTreeMap<RepId, RepSnapshot>, rep: &str) {
    let window = OutOfOffice {
        from: now() - Duration::days(1),
        until: now() + Duration::days(7),
    };
    reps.get_mut(&RepId::new(rep))
        .unwrap()
        .availability
        .out_of_office
        .push(window);
}

fn holiday_then_return(returning: Returning) -> Vec<String> {
    let mut reps = available(&["a", "b", "c"]);
    let mut p = pool(&["a", "b", "c"]);
    p.returning = returning;
    let mut rotation = RotationState::new("emea");
    run(&p, &reps, &mut rotation, 30);

    away(&mut reps, "c");
    let while_away = run(&p, &reps, &mut rotation, 30);
    assert!(!while_away.contains_key("c"));

    reps.get_mut(&RepId::new("c"))
        .unwrap()
        .availability
        .out_of_office
        .clear();
    (0..30)
        .map(|i| {
            let routed = route_one(&p, &reps, &rotation, i);
            rotation = routed.rotation;
            routed.decision.assignee().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_rep_back_from_holiday_rejoins_level_or_catches_up_as_configured() {
    // Level: of the 30 leads after c's return each rep gets a third, give or take one.
    let level = holiday_then_return(Returning::RejoinLevel);
    for rep in ["a", "b", "c"] {
        let got = level.iter().filter(|r| *r == rep).count();
        assert!((9..=11).contains(&got), "{rep} got {got}: {level:?}");
    }

    // Catch up: a and b had 15 leads each while c was away, so c gets the next 15 in a row.
    let catch_up = holiday_then_return(Returning::CatchUp);
    assert!(catch_up[..15].iter().all(|r| r == "c"), "{catch_up:?}");
    assert_ne!(catch_up[15..18].iter().filter(|r| *r == "c").count(), 3);
}

#[test]
fn everyone_out_or_at_cap_overflows_with_every_reason_recorded() {
    let mut reps = available(&["a", "b", "c"]);
    let mut p = pool(&["a", "b", "c", "gone"]);
    away(&mut reps, "a");
    reps.get_mut(&RepId::new("a")).unwrap().availability.active = false;
    p.members[1].max_open = Some(5);
    reps.get_mut(&RepId::new("b")).unwrap().load.open_leads = 5;
    p.members[2].max_per_day = Some(3);
    reps.get_mut(&RepId::new("c")).unwrap().load.assigned_today = 3;

    let rotation = RotationState::new("emea");
    let routed = route_one(&p, &reps, &rotation, 0);
    let d = &routed.decision;
    assert_eq!(
        d.outcome,
        Outcome::Overflow {
            queue: "emea_overflow".into()
        }
    );
    assert_eq!(d.tie_break, TieBreak::Nobody);
    assert_eq!(routed.rotation, rotation);

    let reasons: BTreeMap<&str, &[Exclusion]> = d
        .candidates
        .iter()
        .map(|c| (c.rep.as_str(), c.excluded.as_slice()))
        .collect();
    let back = now() + Duration::days(7);
    assert_eq!(
        reasons["a"],
        [Exclusion::Inactive, Exclusion::OutOfOffice { until: back }]
    );
    assert_eq!(
        reasons["b"],
        [Exclusion::OpenLeadCap {
            cap: 5,
            open_leads: 5
        }]
    );
    assert_eq!(
        reasons["c"],
        [Exclusion::DailyCap {
            cap: 3,
            assigned_today: 3
        }]
    );
    assert_eq!(reasons["gone"], [Exclusion::UnknownRep]);
}

/// A person may give a lead to a rep the rotation would have passed over for the hour or the
/// territory, and the decision records it; never to a rep who is inactive, unknown, out of
/// office or at a cap (the design's invariant holds for hand assignments too).
#[test]
fn a_rep_named_by_hand_gets_the_lead_after_hours_but_never_away_or_at_a_cap() {
    let mut reps = available(&["night", "full", "busy", "away", "x"]);
    let mut p = pool(&["night", "full", "busy", "away"]);
    p.members[1].max_open = Some(5);
    p.members[2].max_per_day = Some(3);
    // 12:00 UTC on a Monday is 05:00 in Los Angeles: her hours open at 09:00, 16:00 UTC.
    reps.get_mut(&RepId::new("night"))
        .unwrap()
        .availability
        .working_hours = Some(hours("America/Los_Angeles"));
    reps.get_mut(&RepId::new("full")).unwrap().load.open_leads = 5;
    reps.get_mut(&RepId::new("busy"))
        .unwrap()
        .load
        .assigned_today = 3;
    away(&mut reps, "away");
    reps.get_mut(&RepId::new("x")).unwrap().availability.active = false;
    let by = crate::Actor::User { id: "u-mgr".into() };
    let named = |rep: &str| {
        let rep = RepId::new(rep);
        assign_by_hand(&lead(0), &p, (&rep, reps.get(&rep)), by.clone(), now())
    };

    let d = named("night").unwrap();
    assert_eq!(
        d.outcome,
        Outcome::Rep {
            rep: "night".into()
        }
    );
    assert_eq!(d.tie_break, TieBreak::Manual { actor: by.clone() });
    assert_eq!(d.candidates.len(), 1);
    assert_eq!(d.candidates[0].role, Role::Chosen);
    assert_eq!(
        d.candidates[0].excluded,
        [Exclusion::OutsideWorkingHours {
            opens_at: utc("2025-06-16T16:00:00Z")
        }],
        "the override is on record"
    );
    assert_eq!(
        named("full"),
        Err(Exclusion::OpenLeadCap {
            cap: 5,
            open_leads: 5
        })
    );
    assert_eq!(
        named("busy"),
        Err(Exclusion::DailyCap {
            cap: 3,
            assigned_today: 3
        })
    );
    assert_eq!(
        named("away"),
        Err(Exclusion::OutOfOffice {
            until: now() + Duration::days(7)
        })
    );
    assert_eq!(named("x"), Err(Exclusion::Inactive));
    assert_eq!(named("nobody"), Err(Exclusion::UnknownRep));
}

fn hours(zone: &str) -> BusinessCalendar {
    let day = OpenInterval::new(WallTime::hm(9, 0).unwrap(), WallTime::hm(17, 0).unwrap());
    let spec = CalendarSpec {
        time_zone: Zone::parse(zone).unwrap(),
        weekly: WeeklyHours::weekdays(&[day]),
        holidays: BTreeSet::new(),
    };
    BusinessCalendar::new(spec).unwrap()
}

#[test]
fn working_hours_are_read_in_each_reps_own_zone() {
    let mut reps = available(&["berlin", "la"]);
    reps.get_mut(&RepId::new("berlin"))
        .unwrap()
        .availability
        .working_hours = Some(hours("Europe/Berlin"));
    reps.get_mut(&RepId::new("la"))
        .unwrap()
        .availability
        .working_hours = Some(hours("America/Los_Angeles"));
    let p = pool(&["berlin", "la"]);
    let rotation = RotationState::new("emea");
    let at = |t| RoutingContext::new(&reps, &rotation, utc(t));

    // Mon 2025-06-16 15:30Z is 17:30 in Berlin (closed until Tue 09:00 CEST = 07:00Z) and
    // 08:30 in Los Angeles (opens 09:00 PDT = 16:00Z): nobody.
    let d = route(&lead(0), None, &p, at("2025-06-16T15:30:00Z")).decision;
    assert_eq!(d.assignee(), None);
    assert_eq!(
        d.candidates[0].excluded,
        [Exclusion::OutsideWorkingHours {
            opens_at: utc("2025-06-17T07:00:00Z")
        }]
    );
    assert_eq!(
        d.candidates[1].excluded,
        [Exclusion::OutsideWorkingHours {
            opens_at: utc("2025-06-16T16:00:00Z")
        }]
    );

    // 16:30Z is 09:30 in Los Angeles.
    let d = route(&lead(0), None, &p, at("2025-06-16T16:30:00Z")).decision;
    assert_eq!(d.assignee(), Some(&RepId::new("la")));
    assert_eq!(d.tie_break, TieBreak::EarliestTurn);
}

#[test]
fn an_account_owner_gets_the_lead_when_eligible_without_taking_a_turn() {
    let mut reps = available(&["a", "b", "owner"]);
    let p = pool(&["a", "b"]);
    let rotation = RotationState::new("emea");
    let owner = RepId::new("owner");
    let ctx = RoutingContext::new(&reps, &rotation, now());

    let routed = route(&lead(0), Some(&owner), &p, ctx);
    assert_eq!(routed.decision.assignee(), Some(&owner));
    assert_eq!(routed.decision.tie_break, TieBreak::AccountOwner);
    assert_eq!(routed.rotation, rotation);

    let mut no_match = p.clone();
    no_match.account_match = false;
    let routed = route(&lead(0), Some(&owner), &no_match, ctx);
    assert_eq!(routed.decision.assignee(), Some(&RepId::new("a")));

    away(&mut reps, "owner");
    let ctx = RoutingContext::new(&reps, &rotation, now());
    let d = route(&lead(0), Some(&owner), &p, ctx).decision;
    assert_eq!(d.assignee(), Some(&RepId::new("a")));
    assert_eq!(d.candidates[0].role, Role::AccountOwner);
    assert!(matches!(
        d.candidates[0].excluded[..],
        [Exclusion::OutOfOffice { .. }]
    ));
    assert_eq!(
        d.tie_break,
        TieBreak::LowestRepId {
            tied: vec![RepId::new("a"), RepId::new("b")]
        }
    );
}

fn facts(country: &str, size: &str, industry: &str, grade: &str) -> LeadFacts {
    let mut lead = crate::Lead::new(LeadId::new("l1"), now());
    lead.profile.country = Some(country.into());
    lead.profile.company_size = Some(size.into());
    lead.profile.industry = Some(industry.into());
    lead.grade = Some(grade.into());
    LeadFacts::from_lead(&lead)
}

#[test]
fn segments_pick_pools_and_territories_pick_members() {
    let json = r#"{
        "pools": [
            {"id": "enterprise", "members": [{"rep": "e1"}], "overflow_queue": "ent_overflow"},
            {"id": "smb", "overflow_queue": "smb_overflow", "members": [
                {"rep": "us", "territory": {"countries": ["US", "CA"]}},
                {"rep": "eu", "territory": {"countries": ["de", "fr"]}}
            ]}
        ],
        "rules": [{"id": "big_a", "segment": {"min_employees": 1000, "grades": ["A", "B"]}, "pool": "enterprise"}],
        "default_pool": "smb"
    }"#;
    let config: RoutingConfig = serde_json::from_str(json).unwrap();
    config.validate().unwrap();

    let big = facts("de", "1,000-5,000", "Software", "a");
    assert_eq!(big.employees, Some(1000));
    let choice = config.select_pool(&big).unwrap();
    assert_eq!(
        (choice.pool.id.as_str(), choice.rule),
        ("enterprise", Some("big_a"))
    );

    let small = facts(" de ", "51-200", "Retail", "A");
    let choice = config.select_pool(&small).unwrap();
    assert_eq!((choice.pool.id.as_str(), choice.rule), ("smb", None));

    let reps = available(&["us", "eu"]);
    let rotation = RotationState::new("smb");
    let ctx = RoutingContext::new(&reps, &rotation, now());
    let d = route(&small, None, choice.pool, ctx).decision;
    assert_eq!(d.assignee(), Some(&RepId::new("eu")));
    let us = d
        .candidates
        .iter()
        .find(|c| c.rep.as_str() == "us")
        .unwrap();
    assert_eq!(
        us.excluded,
        [Exclusion::OutsideTerritory {
            dimension: Dimension::Country
        }]
    );

    let nowhere = LeadFacts::unknown(LeadId::new("l2"));
    assert_eq!(
        route(&nowhere, None, choice.pool, ctx).decision.assignee(),
        None
    );
}

#[test]
fn bad_configurations_are_refused_with_the_place_named() {
    let base = RoutingConfig {
        pools: vec![pool(&["a", "b"])],
        rules: vec![],
        default_pool: "emea".into(),
    };
    base.validate().unwrap();

    let mut c = base.clone();
    c.default_pool = "apac".into();
    assert_eq!(
        c.validate(),
        Err(ConfigError::UnknownPool("default_pool".into()))
    );

    let mut c = base.clone();
    c.pools[0].members.push(PoolMember::new("a"));
    assert_eq!(
        c.validate(),
        Err(ConfigError::DuplicateMember("pool emea member a".into()))
    );

    let mut c = base.clone();
    c.pools[0].members[0].weight = 0;
    assert!(matches!(
        c.validate(),
        Err(ConfigError::Weight { weight: 0, .. })
    ));

    let mut c = base.clone();
    c.pools[0].overflow_queue = " ".into();
    assert_eq!(
        c.validate(),
        Err(ConfigError::NoOverflowQueue("emea".into()))
    );

    let mut c = base.clone();
    let segment = Segment {
        min_employees: Some(500),
        max_employees: Some(50),
        ..Segment::default()
    };
    c.rules.push(PoolRule {
        id: "r1".into(),
        segment,
        pool: "emea".into(),
    });
    assert_eq!(c.validate(), Err(ConfigError::SizeRange("rule r1".into())));

    let mut c = base;
    c.rules.push(PoolRule {
        id: "r2".into(),
        segment: Segment::default(),
        pool: "nope".into(),
    });
    assert_eq!(
        c.validate(),
        Err(ConfigError::UnknownPool("rule r2".into()))
    );
}

#[test]
fn a_decision_explains_itself_and_round_trips_as_json() {
    let mut reps = available(&["a", "b"]);
    away(&mut reps, "b");
    let rotation = RotationState::new("emea");
    let d = route_one(&pool(&["b", "a"]), &reps, &rotation, 0).decision;
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(
        json["outcome"],
        serde_json::json!({"to": "rep", "rep": "a"})
    );
    assert_eq!(
        json["candidates"][1]["excluded"][0]["reason"],
        "out_of_office"
    );
    assert_eq!(json["tie_break"]["by"], "earliest_turn");
    assert_eq!(serde_json::from_value::<RoutingDecision>(json).unwrap(), d);
}

#[test]
fn a_reassignment_never_goes_back_to_a_previous_owner() {
    let reps = available(&["a", "b", "c"]);
    let p = pool(&["a", "b", "c"]);
    let rotation = RotationState::new("emea");
    let lapsed = [RepId::new("a"), RepId::new("b")];
    let ctx = RoutingContext::new(&reps, &rotation, now()).reassigning(&lapsed);
    let d = route(&lead(0), Some(&RepId::new("a")), &p, ctx).decision;
    assert_eq!(d.assignee(), Some(&RepId::new("c")));
    assert_eq!(d.candidates[0].excluded, [Exclusion::PreviousOwner]);

    let only_lapsed = pool(&["a", "b"]);
    let d = route(&lead(0), None, &only_lapsed, ctx).decision;
    assert_eq!(
        d.outcome,
        Outcome::Overflow {
            queue: "emea_overflow".into()
        }
    );
}

#[test]
fn the_daily_count_belongs_to_the_reps_local_day() {
    let mut rep = RepAvailability::active("la");
    rep.working_hours = Some(hours("America/Los_Angeles"));
    let mut counter = LoadCounter::default();
    // 2025-06-17 06:00Z is still Monday 2025-06-16 (23:00 PDT) in Los Angeles.
    let monday_night = utc("2025-06-17T06:00:00Z");
    let monday = rep.local_day(monday_night);
    assert_eq!(monday.to_string(), "2025-06-16");
    counter.assigned(monday);
    counter.assigned(monday);
    assert_eq!(
        counter.load_on(monday),
        RepLoad {
            assigned_today: 2,
            open_leads: 2
        }
    );

    // 08:00Z is 01:00 PDT on Tuesday: a new day, the open leads stay.
    let tuesday = rep.local_day(utc("2025-06-17T08:00:00Z"));
    assert_eq!(
        counter.load_on(tuesday),
        RepLoad {
            assigned_today: 0,
            open_leads: 2
        }
    );
    counter.assigned(tuesday);
    counter.closed();
    assert_eq!(
        counter.load_on(tuesday),
        RepLoad {
            assigned_today: 1,
            open_leads: 2
        }
    );
}

#[test]
fn route_requests_have_one_key_per_attempt() {
    let json = r#"{"lead":"01J","cycle":2,"lead_kind":"hand_raiser","requested_at":"2025-06-16T12:00:00Z"}"#;
    let first: RouteRequest = serde_json::from_str(json).unwrap();
    assert_eq!(first.claim_key(), "route:01J:2:0");
    assert!(first.previous_owners().is_empty());

    let again = RouteRequest {
        reassignment: Some(Reassignment {
            attempt: 1,
            previous_owners: vec![RepId::new("a")],
            clock: "01J:2:rep_response:0".into(),
        }),
        ..first
    };
    assert_eq!(again.claim_key(), "route:01J:2:1");
    assert_eq!(again.previous_owners(), [RepId::new("a")]);
}

// ---- properties ----

#[derive(Debug, Clone)]
struct RepCase {
    active: bool,
    away: bool,
    in_hours: bool,
    day_cap: Option<u32>,
    assigned_today: u32,
}

fn rep_case() -> impl proptest::strategy::Strategy<Value = RepCase> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(0u32..4),
        0u32..4,
    )
        .prop_map(
            |(active, away, in_hours, day_cap, assigned_today)| RepCase {
                active,
                away,
                in_hours,
                day_cap,
                assigned_today,
            },
        )
}

fn can_take(c: &RepCase) -> bool {
    c.active && !c.away && c.in_hours && c.day_cap.is_none_or(|cap| c.assigned_today < cap)
}

proptest! {
    #[test]
    fn only_an_eligible_rep_is_ever_assigned_and_otherwise_the_lead_overflows(
        cases in prop::collection::vec(rep_case(), 1..6),
        prior in 0usize..20,
    ) {
        let names: Vec<String> = (0..cases.len()).map(|i| format!("rep-{i}")).collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut p = pool(&name_refs);
        let mut reps = available(&name_refs);
        // Mon 2025-06-16 12:00Z is 14:00 in Berlin and 05:00 in Los Angeles.
        for (i, case) in cases.iter().enumerate() {
            let snap = reps.get_mut(&RepId::new(names[i].as_str())).unwrap();
            snap.availability.active = case.active;
            if case.away {
                let window = OutOfOffice { from: now() - Duration::hours(1), until: now() + Duration::hours(1) };
                snap.availability.out_of_office.push(window);
            }
            let zone = if case.in_hours { "Europe/Berlin" } else { "America/Los_Angeles" };
            snap.availability.working_hours = Some(hours(zone));
            snap.load.assigned_today = case.assigned_today;
            p.members[i].max_per_day = case.day_cap;
        }

        // Some history, so that turns differ.
        let mut rotation = RotationState::new("emea");
        for i in 0..prior {
            let rep = RepId::new(names[i % names.len()].as_str());
            let standing = rotation.standing(&rep, Returning::RejoinLevel);
            rotation.take_turn(&rep, standing, 1);
        }

        let d = route_one(&p, &reps, &rotation, 0).decision;
        match d.assignee() {
            Some(rep) => {
                let i = names.iter().position(|n| n == rep.as_str()).unwrap();
                prop_assert!(can_take(&cases[i]), "assigned {rep} in {:?}", cases[i]);
            }
            None => prop_assert!(!cases.iter().any(can_take)),
        }
    }
}

proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    #[test]
    fn equal_turns_stay_within_one_for_any_team_and_member_order(
        order in (2usize..9).prop_flat_map(|n| Just((0..n).collect::<Vec<_>>()).prop_shuffle()),
        leads in 1usize..400,
    ) {
        let names: Vec<String> = order.iter().map(|i| format!("rep-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let reps = available(&refs);
        let mut rotation = RotationState::new("emea");
        let counts = run(&pool(&refs), &reps, &mut rotation, leads);

        // Every rep is counted, zeros included, when there are fewer leads than reps.
        let got: Vec<usize> = refs.iter().map(|r| counts.get(*r).copied().unwrap_or(0)).collect();
        let (lo, hi) = (leads / refs.len(), leads.div_ceil(refs.len()));
        prop_assert!(got.iter().all(|c| *c == lo || *c == hi), "{got:?} for {leads} leads");
    }
}
