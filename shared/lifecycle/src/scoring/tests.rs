//! Examples with hand-computed expectations. The property tests are in `proptests.rs`.

use super::{rules::MqlThresholds, *};
use crate::scoring::derive::ActivityKey;
use crate::{
    transition::{Actor, Reason},
    Activity, ActivityKind, CauseId, Email, Lead, LeadId, Stage, StageEvent, Timestamp,
};
use chrono::{TimeDelta, TimeZone, Utc};

pub(super) fn at(hours: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() + TimeDelta::hours(hours)
}

pub(super) fn activity(id: &str, kind: ActivityKind, when: Timestamp) -> Activity {
    Activity {
        id: id.to_owned(),
        lead_id: LeadId::new("lead-1"),
        kind,
        occurred_at: when,
        hand_raiser: false,
        attributes: Default::default(),
    }
}

fn with(mut a: Activity, name: &str, value: &str) -> Activity {
    a.attributes.insert(name.to_owned(), value.to_owned());
    a
}

/// A rule set from the JSON of its rules, with one score `mql` and no decay.
pub(super) fn rules(rules_json: &str) -> RuleSet {
    RuleSet::from_json(&format!(
        r#"{{ "version": 1, "scores": [{{ "name": "mql" }}], "mql_score": "mql",
            "rules": {rules_json},
            "grade": {{ "rules": [], "bands": {{ "a": 0, "b": 0, "c": 0, "d": 0, "e": 0 }} }},
            "mql": {{ "min_grade": "B", "min_score": 20, "hand_raiser_floor": "D" }} }}"#
    ))
    .unwrap()
}

fn score(rules: &RuleSet, activities: &[Activity], t: Timestamp) -> f64 {
    score_at(&derive(rules, activities, None), "mql", t)
}

#[test]
fn the_shipped_rules_load_and_round_trip() {
    let rules = default_rules();
    let again: RuleSet = serde_json::from_str(&serde_json::to_string(&rules).unwrap()).unwrap();
    assert_eq!(again, rules);
    assert!(rules.rules.len() >= 10);
}

#[test]
fn a_contact_at_zero_that_submits_a_nine_point_form_has_nine() {
    let rules = rules(r#"[{ "id": "form", "kinds": ["form_submitted"], "points": 9 }]"#);
    let form = activity("a1", ActivityKind::FormSubmitted, at(0));

    assert_eq!(score(&rules, &[], at(0)), 0.0);
    assert_eq!(score(&rules, &[form], at(0)), 9.0);
}

#[test]
fn a_returns_after_an_hour_rule_gives_nothing_before_the_hour() {
    let rules = rules(
        r#"[{ "id": "returning", "kinds": ["page_viewed"], "points": 5, "delay_seconds": 3600 }]"#,
    );
    let view = activity("a1", ActivityKind::PageViewed, at(10));

    assert_eq!(score(&rules, std::slice::from_ref(&view), at(10)), 0.0);
    assert_eq!(
        score(
            &rules,
            std::slice::from_ref(&view),
            at(10) + TimeDelta::minutes(59)
        ),
        0.0
    );
    assert_eq!(score(&rules, &[view], at(11)), 5.0);
}

#[test]
fn a_cap_allows_three_page_view_points_a_day() {
    let rules = rules(
        r#"[{ "id": "view", "kinds": ["page_viewed"], "points": 1,
              "cap": { "max_points": 3, "window": { "days": 1 } } }]"#,
    );
    // Five views on 2 March (UTC), two on 3 March.
    let views: Vec<Activity> = [1, 2, 3, 4, 5, 25, 26]
        .iter()
        .map(|h| activity(&format!("v{h}"), ActivityKind::PageViewed, at(*h)))
        .collect();

    let ledger = derive(&rules, &views, None);
    assert_eq!(score_at(&ledger, "mql", at(6)), 3.0);
    assert_eq!(score_at(&ledger, "mql", at(30)), 5.0);
    // The capped views are in the ledger, at zero, saying what the cap cut.
    let capped: Vec<_> = ledger.iter().filter(|e| e.capped_from.is_some()).collect();
    assert_eq!(capped.len(), 2);
    assert!(capped
        .iter()
        .all(|e| e.points == 0.0 && e.capped_from == Some(1.0)));
}

#[test]
fn a_cap_cuts_the_last_points_partly() {
    let rules = rules(
        r#"[{ "id": "dl", "kinds": ["content_downloaded"], "points": 4,
              "cap": { "max_points": 10, "window": "lifetime" } }]"#,
    );
    let downloads: Vec<Activity> = (0..3)
        .map(|i| {
            activity(
                &format!("d{i}"),
                ActivityKind::ContentDownloaded,
                at(i * 100),
            )
        })
        .collect();
    // 4 + 4 + 2 (the third is cut to what is left of 10).
    assert_eq!(score(&rules, &downloads, at(1000)), 10.0);
}

#[test]
fn half_life_halves_and_expiry_drops() {
    let rules = rules(
        r#"[{ "id": "web", "kinds": ["webinar_attended"], "points": 12,
              "decay": { "kind": "half_life", "days": 10 } },
            { "id": "dl", "kinds": ["content_downloaded"], "points": 8,
              "decay": { "kind": "expire", "days": 30 } }]"#,
    );
    let webinar = [activity("w", ActivityKind::WebinarAttended, at(0))];
    let download = [activity("d", ActivityKind::ContentDownloaded, at(0))];

    assert_eq!(score(&rules, &webinar, at(0)), 12.0);
    assert!((score(&rules, &webinar, at(24 * 10)) - 6.0).abs() < 1e-9);
    assert!((score(&rules, &webinar, at(24 * 20)) - 3.0).abs() < 1e-9);
    assert_eq!(score(&rules, &download, at(24 * 30 - 1)), 8.0);
    assert_eq!(score(&rules, &download, at(24 * 30)), 0.0);
}

#[test]
fn negative_points_for_unsubscribes_careers_pages_and_competitors() {
    let rules = default_rules();
    let activities = [
        with(
            activity("p", ActivityKind::PageViewed, at(0)),
            "path",
            "/en/careers/sre",
        ),
        activity("u", ActivityKind::Unsubscribed, at(1)),
        activity("u2", ActivityKind::Unsubscribed, at(2)),
    ];
    let ledger = derive(&rules, &activities, Some("competitor.example"));
    let points = |rule: &str| -> f64 {
        ledger
            .iter()
            .filter(|e| e.rule_id == rule)
            .map(|e| e.points)
            .sum()
    };

    assert_eq!(points("page_view"), 1.0);
    assert_eq!(points("careers_page"), -10.0);
    // A second unsubscribe adds nothing: the lifetime cap is 15.
    assert_eq!(points("unsubscribed"), -15.0);
    // The competitor rule matches every activity but counts once (lifetime cap 50).
    assert_eq!(points("competitor_domain"), -50.0);
}

#[test]
fn conditions_on_path_content_and_campaign_must_all_hold() {
    let rules = rules(
        r#"[{ "id": "wp", "kinds": ["content_downloaded"], "points": 7,
              "when": { "attributes": { "content_id": "wp-*", "campaign": "spring" } } }]"#,
    );
    let both = with(
        with(
            activity("a", ActivityKind::ContentDownloaded, at(0)),
            "content_id",
            "wp-42",
        ),
        "campaign",
        "Spring",
    );
    let one = with(
        activity("b", ActivityKind::ContentDownloaded, at(0)),
        "content_id",
        "wp-1",
    );

    assert_eq!(score(&rules, &[both], at(1)), 7.0);
    assert_eq!(score(&rules, &[one], at(1)), 0.0);
}

#[test]
fn several_named_scores_are_kept_apart() {
    let rules = default_rules();
    let pricing = [activity("p", ActivityKind::PricingViewed, at(0))];
    let ledger = derive(&rules, &pricing, None);

    assert_eq!(score_at(&ledger, "mql", at(0)), 10.0);
    assert_eq!(score_at(&ledger, "content_interest", at(0)), 5.0);
}

#[test]
fn invalid_rule_sets_list_every_problem() {
    let text = r#"{ "version": 0, "scores": [{ "name": "mql" }], "mql_score": "nope",
        "rules": [
          { "id": "x", "points": 1, "cap": { "max_points": -1, "window": { "days": 0 } } },
          { "id": "x", "score": "other", "points": 1 }
        ],
        "grade": { "rules": [], "bands": { "a": 0, "b": 10, "c": 0, "d": 0, "e": 0 } },
        "mql": { "min_grade": "B", "min_score": 20, "hand_raiser_floor": "D" } }"#;
    let Err(RuleSetError::Invalid(problems)) = RuleSet::from_json(text) else {
        panic!("expected an invalid rule set");
    };
    let all = problems.join("\n");
    for needle in [
        "version",
        "mql_score \"nope\"",
        "cap.max_points",
        "cap.window",
        "id is repeated",
        "score \"other\"",
        "grade.bands",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in {all}");
    }
}

/// Regression: `mql.min_score = -1e308` was stored, and every lead at the grade gate became an
/// MQL at the next sweep. Thresholds of zero or less, and points past a million, are refused.
#[test]
fn a_threshold_of_zero_or_less_and_absurd_points_are_refused() {
    let with = |min_score: &str, points: &str| {
        format!(
            r#"{{ "version": 1, "scores": [{{ "name": "mql" }}], "mql_score": "mql",
            "rules": [{{ "id": "x", "kinds": ["page_viewed"], "points": {points} }}],
            "grade": {{ "rules": [], "bands": {{ "a": 0, "b": 0, "c": 0, "d": 0, "e": 0 }} }},
            "mql": {{ "min_grade": "B", "min_score": {min_score}, "hand_raiser_floor": "D" }} }}"#
        )
    };
    let refused = |text: String| match RuleSet::from_json(&text) {
        Err(RuleSetError::Invalid(problems)) => problems.join("\n"),
        other => panic!("expected a refusal, got {other:?}"),
    };

    assert!(refused(with("-1e308", "1")).starts_with("mql.min_score"));
    assert!(refused(with("0", "1")).starts_with("mql.min_score"));
    assert!(refused(with("1e10", "1")).starts_with("mql.min_score"));
    assert!(refused(with("50", "1e308")).contains("points must be a number from"));
    assert!(RuleSet::from_json(&with("50", "-1000")).is_ok());
}

#[test]
fn a_malformed_rule_set_says_where() {
    let err = RuleSet::from_json("{\n  \"version\": 1,\n  \"colour\": 3\n}").unwrap_err();
    let RuleSetError::Parse { line, .. } = err else {
        panic!("expected a parse error");
    };
    assert_eq!(line, 3);
}

fn lead(title: &str, size: &str, email: &str) -> Lead {
    let mut lead = Lead::new(LeadId::new("lead-1"), at(0));
    lead.profile.title = Some(title.to_owned());
    lead.profile.company_size = Some(size.to_owned());
    lead.email = Some(Email::parse(email).unwrap());
    lead
}

#[test]
fn grades_say_which_rules_gave_them() {
    let rules = default_rules();
    // VP (director band, 20) + marketing function (10) + 51-200 (smb, 10) + free mail (-10) = 30.
    let l = lead("VP, Marketing", "51-200", "someone@gmail.com");
    let grade = rules.grade.grade(&FitFacts::of(&l), rules.version);

    assert_eq!(grade.points, 30.0);
    assert_eq!(grade.letter, GradeLetter::B);
    let ids: Vec<&str> = grade.rules_applied.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "title_director",
            "function_revenue",
            "company_smb",
            "free_mail"
        ]
    );
}

#[test]
fn seniority_counts_once_in_any_language() {
    let rules = default_rules();
    let cmo = lead(
        "Chief Marketing Officer and Director",
        "5000",
        "a@corp.example",
    );
    let gf = lead("Geschäftsführerin", "1.200 Mitarbeiter", "a@firma.example");
    let student = lead("Étudiante", "", "a@univ.example");

    // 30 (executive, not also director) + 10 (marketing) + 20 (enterprise) + 5 (business mail).
    assert_eq!(rules.grade.grade(&FitFacts::of(&cmo), 1).points, 65.0);
    // 30 + 20 (1,200 people) + 5.
    assert_eq!(rules.grade.grade(&FitFacts::of(&gf), 1).points, 55.0);
    // -15 (not a buyer) + 5: -10 is grade E.
    assert_eq!(
        rules.grade.grade(&FitFacts::of(&student), 1).letter,
        GradeLetter::E
    );
}

pub(super) fn thresholds() -> MqlThresholds {
    MqlThresholds {
        min_grade: GradeLetter::B,
        min_score: 20.0,
        hand_raiser_floor: GradeLetter::D,
    }
}

pub(super) fn entered(id: &str) -> crate::JourneyState {
    let mut journey = crate::JourneyState::default();
    journey
        .apply(&LeadId::new(id), &stage_event(Stage::New, "created", None))
        .unwrap();
    journey
}

fn stage_event(to: Stage, cause: &str, reason: Option<Reason>) -> StageEvent {
    StageEvent {
        to,
        cause: CauseId::new(cause),
        actor: Actor::System {
            component: "test".to_owned(),
        },
        reason,
        effective_at: at(0),
        recorded_at: at(0),
        dims: Default::default(),
    }
}

fn facts(grade: GradeLetter, score: f64, cause: &str, hours: i64) -> MqlFacts {
    MqlFacts {
        grade,
        score,
        score_crossed: true,
        hand_raiser: false,
        incomplete: false,
        cause: CauseId::new(cause),
        effective_at: at(hours),
        recorded_at: at(hours),
        rule_version: 1,
        dims: Default::default(),
    }
}

#[test]
fn the_mql_fires_once_per_cycle_and_again_after_a_recycle() {
    let id = LeadId::new("lead-1");
    let mut journey = entered("lead-1");

    let below = decide_mql(
        &journey,
        &id,
        &facts(GradeLetter::A, 19.0, "a1", 1),
        &thresholds(),
    );
    assert_eq!(below.trace.verdict, Verdict::NotQualified);

    let first = decide_mql(
        &journey,
        &id,
        &facts(GradeLetter::B, 20.0, "a2", 2),
        &thresholds(),
    );
    assert_eq!(first.trace.verdict, Verdict::Mql);
    let t = first.transition.unwrap();
    assert_eq!((t.from, t.to, t.cycle), (Some(Stage::New), Stage::Mql, 1));
    assert_eq!(
        t.actor,
        Actor::Rule {
            id: "mql.thresholds".to_owned(),
            version: 1
        }
    );
    journey.push(&t);

    let again = decide_mql(
        &journey,
        &id,
        &facts(GradeLetter::A, 90.0, "a3", 3),
        &thresholds(),
    );
    assert_eq!(again.trace.verdict, Verdict::AlreadyMql);
    assert!(again.transition.is_none());

    let mut recycle = stage_event(Stage::Recycled, "recycle", Some(Reason::code("no_budget")));
    recycle.effective_at = at(4);
    journey.apply(&id, &recycle).unwrap();
    let next = decide_mql(
        &journey,
        &id,
        &facts(GradeLetter::A, 90.0, "a4", 5),
        &thresholds(),
    );
    assert_eq!(next.trace.verdict, Verdict::Mql);
    assert_eq!(next.transition.unwrap().cycle, 2);
}

#[test]
fn hand_raisers_need_the_floor_and_incomplete_leads_wait() {
    let id = LeadId::new("lead-1");
    let journey = entered("lead-1");
    let mut raised = facts(GradeLetter::D, 0.0, "demo", 1);
    raised.hand_raiser = true;

    let fired = decide_mql(&journey, &id, &raised, &thresholds());
    assert_eq!(fired.trace.verdict, Verdict::Mql);
    assert_eq!(
        fired.transition.unwrap().actor,
        Actor::Rule {
            id: "mql.hand_raiser".to_owned(),
            version: 1
        }
    );

    raised.grade = GradeLetter::E;
    assert_eq!(
        decide_mql(&journey, &id, &raised, &thresholds())
            .trace
            .verdict,
        Verdict::NotQualified
    );

    raised.grade = GradeLetter::A;
    raised.incomplete = true;
    let waiting = decide_mql(&journey, &id, &raised, &thresholds());
    assert_eq!(waiting.trace.verdict, Verdict::WaitingForEmail);
    assert!(waiting.transition.is_none());
}

#[test]
fn a_disqualified_lead_does_not_requalify_by_score() {
    let id = LeadId::new("lead-1");
    let mut journey = entered("lead-1");
    journey
        .apply(
            &id,
            &stage_event(Stage::Disqualified, "dq", Some(Reason::code("not_a_fit"))),
        )
        .unwrap();

    let decision = decide_mql(
        &journey,
        &id,
        &facts(GradeLetter::A, 99.0, "a1", 1),
        &thresholds(),
    );
    assert_eq!(decision.trace.verdict, Verdict::Disqualified);
    assert!(decision.transition.is_none());
}

#[test]
fn a_rescore_keeps_the_old_entries_and_equals_a_fresh_score() {
    let v1 = rules(r#"[{ "id": "form", "kinds": ["form_submitted"], "points": 9 }]"#);
    let mut v2 = rules(r#"[{ "id": "form", "kinds": ["form_submitted"], "points": 4 }]"#);
    v2.version = 2;
    let activities = [
        activity("f1", ActivityKind::FormSubmitted, at(0)),
        activity("f2", ActivityKind::FormSubmitted, at(1)),
    ];
    let mut ledger = ScoreLedger::new(LeadId::new("lead-1"), 1);
    ledger.update(&v1, &activities, None, at(2));
    assert_eq!(ledger.score_at("mql", at(2)), 18.0);

    let rescore = ledger.update(&v2, &activities, None, at(3)).unwrap();

    assert_eq!((rescore.from_version, rescore.to_version), (1, 2));
    assert_eq!((rescore.before["mql"], rescore.after["mql"]), (18.0, 8.0));
    assert_eq!(ledger.score_at("mql", at(3)), 8.0);
    // Two old entries and their two reversals, both at version 1.
    assert_eq!(ledger.history.len(), 4);
    assert!(ledger.history.iter().all(|e| e.rule_version == 1));
    assert_eq!(ledger.history.iter().map(|e| e.points).sum::<f64>(), 0.0);
    assert!(ledger.entries.iter().all(|e| e.rule_version == 2));
}

#[test]
fn evaluate_records_the_trace_and_folds_the_score() {
    let rules = rules(r#"[{ "id": "form", "kinds": ["form_submitted"], "points": 25 }]"#);
    let mut lead = lead("CEO", "", "a@corp.example");
    lead.journey = entered("lead-1");
    let form = activity("f1", ActivityKind::FormSubmitted, at(0));
    let mut ledger = ScoreLedger::new(lead.id.clone(), 1);

    let eval = evaluate(
        &rules,
        &lead,
        std::slice::from_ref(&form),
        &mut ledger,
        &Trigger::activity(&form),
        at(1),
    );

    assert_eq!(eval.mql_score, 25.0);
    assert_eq!(eval.mql_score, ledger.score_at("mql", at(1)));
    assert_eq!(eval.decision.trace.verdict, Verdict::Mql);
    assert_eq!(ledger.mql_traces.len(), 1);
    assert_eq!(
        ledger.grade.as_ref().map(|g| g.letter),
        Some(eval.grade.letter)
    );
    assert_eq!(eval.decision.transition.unwrap().cause, cause_of(&form));
}

#[test]
fn points_per_unit_and_numeric_thresholds() {
    let rules = rules(
        r#"[{ "id": "minutes", "kinds": ["page_viewed"], "points": 2,
              "per": { "attribute": "seconds", "unit": 60 },
              "cap": { "max_points": 10, "window": { "days": 1 } } },
            { "id": "long", "kinds": ["page_viewed"], "points": 7,
              "when": { "at_least": { "seconds": 300 } } }]"#,
    );
    let short = with(
        activity("a", ActivityKind::PageViewed, at(1)),
        "seconds",
        "150",
    );
    let long = with(
        activity("b", ActivityKind::PageViewed, at(2)),
        "seconds",
        "400",
    );
    let unknown = activity("c", ActivityKind::PageViewed, at(3));

    // 150 s: two whole minutes, 4 points. 400 s: six minutes, 12 points, cut to the 6 left of
    // the day's 10; and 7 for a long visit. No seconds: nothing.
    assert_eq!(score(&rules, std::slice::from_ref(&short), at(5)), 4.0);
    assert_eq!(score(&rules, &[short, long, unknown], at(5)), 17.0);
}

#[test]
fn the_mql_takes_effect_when_the_score_first_reached_the_threshold() {
    // Threshold 20 (see `rules`): 15 at hour 0, 30 at hour 5; handled together at hour 9.
    let rules = rules(r#"[{ "id": "form", "kinds": ["form_submitted"], "points": 15 }]"#);
    let mut lead = lead("CEO", "", "a@corp.example");
    lead.journey = entered("lead-1");
    let forms = [
        activity("f1", ActivityKind::FormSubmitted, at(0)),
        activity("f2", ActivityKind::FormSubmitted, at(5)),
    ];
    let mut ledger = ScoreLedger::new(lead.id.clone(), 1);

    let eval = evaluate(
        &rules,
        &lead,
        &forms,
        &mut ledger,
        &Trigger::activity(&forms[0]),
        at(9),
    );

    let t = eval.decision.transition.unwrap();
    assert_eq!(t.effective_at, at(5));
    assert_eq!(t.recorded_at, at(9));
    assert_eq!(eval.decision.trace.effective_at, at(5));
}

/// A lead that became an MQL at hour 0 (a 25-point form, threshold 20) and was recycled at
/// hour 10, its score still 25.
fn recycled_lead(rules: &RuleSet) -> (Lead, ScoreLedger, Activity) {
    let mut lead = lead("CEO", "", "a@corp.example");
    lead.journey = entered("lead-1");
    let form = activity("f1", ActivityKind::FormSubmitted, at(0));
    let mut ledger = ScoreLedger::new(lead.id.clone(), 1);
    let first = evaluate(
        rules,
        &lead,
        std::slice::from_ref(&form),
        &mut ledger,
        &Trigger::activity(&form),
        at(1),
    );
    lead.journey.push(&first.decision.transition.unwrap());
    let mut recycle = stage_event(Stage::Recycled, "recycle", Some(Reason::code("nurture")));
    recycle.effective_at = at(10);
    lead.journey.apply(&lead.id.clone(), &recycle).unwrap();
    (lead, ledger, form)
}

#[test]
fn after_a_recycle_a_score_that_stayed_high_makes_no_new_mql() {
    // The audit's case: after the recycle an unsubscribe (-1) leaves the score at 24, still at
    // the threshold of 20. Before the fix this fired an MQL in cycle 2 dated at the recycle.
    let rules = rules(
        r#"[{ "id": "form", "kinds": ["form_submitted"], "points": 25 },
            { "id": "unsub", "kinds": ["unsubscribed"], "points": -1 }]"#,
    );
    let (lead, mut ledger, form) = recycled_lead(&rules);

    let unsubscribe = activity("u1", ActivityKind::Unsubscribed, at(12));
    let again = evaluate(
        &rules,
        &lead,
        &[form, unsubscribe.clone()],
        &mut ledger,
        &Trigger::activity(&unsubscribe),
        at(12),
    );

    assert_eq!(again.mql_score, 24.0);
    assert!(again.decision.transition.is_none());
    assert_eq!(again.decision.trace.verdict, Verdict::NotCrossedInCycle);
    assert!(!again.decision.trace.thresholds_met);
}

#[test]
fn after_a_recycle_the_score_must_cross_again_from_below() {
    let rules = rules(
        r#"[{ "id": "form", "kinds": ["form_submitted"], "points": 25 },
            { "id": "unsub", "kinds": ["unsubscribed"], "points": -10 }]"#,
    );
    let (lead, mut ledger, form) = recycled_lead(&rules);
    let unsubscribe = activity("u1", ActivityKind::Unsubscribed, at(12));
    let second_form = activity("f2", ActivityKind::FormSubmitted, at(14));
    let all = [form, unsubscribe.clone(), second_form.clone()];

    // 15 after the unsubscribe: below the threshold; 40 after the second form: crossed.
    let below = evaluate(
        &rules,
        &lead,
        &all[..2],
        &mut ledger,
        &Trigger::activity(&unsubscribe),
        at(12),
    );
    assert_eq!(below.decision.trace.verdict, Verdict::NotQualified);
    let crossed = evaluate(
        &rules,
        &lead,
        &all,
        &mut ledger,
        &Trigger::activity(&second_form),
        at(15),
    );

    let t = crossed.decision.transition.unwrap();
    assert_eq!(
        (t.cycle, t.effective_at, t.recorded_at),
        (2, at(14), at(15))
    );
    assert_eq!(t.cause.as_str(), "scoring:f2");
}

#[test]
fn after_a_recycle_a_score_that_decayed_below_and_rose_again_crosses() {
    // The form's points expire after a day: the score falls to 0 with no activity at all
    // (between two moments the ledger looks at), and a form on day 3 makes it cross again.
    let rules = rules(
        r#"[{ "id": "form", "kinds": ["form_submitted"], "points": 25,
              "decay": { "kind": "expire", "days": 1 } }]"#,
    );
    let (lead, mut ledger, form) = recycled_lead(&rules);
    let again = activity("f2", ActivityKind::FormSubmitted, at(72));

    let eval = evaluate(
        &rules,
        &lead,
        &[form, again.clone()],
        &mut ledger,
        &Trigger::activity(&again),
        at(73),
    );

    let t = eval.decision.transition.unwrap();
    assert_eq!((t.cycle, t.effective_at), (2, at(72)));
}

#[test]
fn a_delayed_rule_makes_an_mql_when_its_points_start_to_count() {
    // 60 points that count one hour after the view; the MQL needs 50.
    let mut rules = rules(
        r#"[{ "id": "returning", "kinds": ["page_viewed"], "points": 60, "delay_seconds": 3600 }]"#,
    );
    rules.mql.min_score = 50.0;
    let mut lead = lead("CEO", "", "a@corp.example");
    lead.journey = entered("lead-1");
    let view = activity("v1", ActivityKind::PageViewed, at(0));
    let mut ledger = ScoreLedger::new(lead.id.clone(), 1);

    let first = evaluate(
        &rules,
        &lead,
        std::slice::from_ref(&view),
        &mut ledger,
        &Trigger::activity(&view),
        at(0),
    );
    assert!(first.decision.transition.is_none());
    assert_eq!(first.mql_score, 0.0);
    // The decision is due again when the points start to count.
    assert_eq!(first.wake_at, Some(at(1)));

    // Nothing else happens; the wake-up comes two hours late.
    let woken = evaluate(
        &rules,
        &lead,
        std::slice::from_ref(&view),
        &mut ledger,
        &Trigger::wake(&lead.id, at(1)),
        at(3),
    );
    let t = woken.decision.transition.unwrap();
    assert_eq!(
        (t.to, t.effective_at, t.recorded_at),
        (Stage::Mql, at(1), at(3))
    );
    assert_eq!(
        t.cause.as_str(),
        format!("wake:lead-1:{}", at(1).timestamp())
    );
    assert_eq!(woken.wake_at, None, "an MQL needs no more wake-ups");
}

#[test]
fn a_rescore_never_dates_an_mql_before_the_rules_changed() {
    // Under v1 the form's 10 points are below 20; v2 makes it 30, from hour 50 on.
    let v1 = rules(r#"[{ "id": "form", "kinds": ["form_submitted"], "points": 10 }]"#);
    let mut v2 = rules(r#"[{ "id": "form", "kinds": ["form_submitted"], "points": 30 }]"#);
    v2.version = 2;
    let mut lead = lead("CEO", "", "a@corp.example");
    lead.journey = entered("lead-1");
    let form = activity("f1", ActivityKind::FormSubmitted, at(0));
    let mut ledger = ScoreLedger::new(lead.id.clone(), 1);
    let before = evaluate(
        &v1,
        &lead,
        std::slice::from_ref(&form),
        &mut ledger,
        &Trigger::activity(&form),
        at(1),
    );
    assert!(before.decision.transition.is_none());

    let rescored = evaluate(
        &v2,
        &lead,
        std::slice::from_ref(&form),
        &mut ledger,
        &Trigger::rescore(&lead.id, 2, at(50)),
        at(50),
    );

    // The new rules would have crossed at hour 0, but they did not exist then: the periods
    // before hour 50 keep the counts they had.
    let t = rescored.decision.transition.unwrap();
    assert_eq!((t.effective_at, t.recorded_at), (at(50), at(50)));
    assert_eq!(t.cause.as_str(), "rescore:lead-1:v2");
    assert_eq!(ledger.rules_adopted_at(), Some(at(50)));
}

#[test]
fn activities_in_order_are_appended_and_a_late_one_re_derives_from_its_place() {
    let rules = rules(
        r#"[{ "id": "view", "kinds": ["page_viewed"], "points": 1,
              "cap": { "max_points": 2, "window": { "days": 1 } } },
            { "id": "form", "kinds": ["form_submitted"], "points": 5 }]"#,
    );
    let all: Vec<Activity> = [(1, "v1"), (2, "v2"), (3, "f1"), (5, "v3"), (30, "v4")]
        .iter()
        .map(|(h, id)| {
            let kind = if id.starts_with('f') {
                ActivityKind::FormSubmitted
            } else {
                ActivityKind::PageViewed
            };
            activity(id, kind, at(*h))
        })
        .collect();
    let mut ledger = ScoreLedger::new(LeadId::new("lead-1"), 1);
    // Everything but v2 arrives, in order; each one is appended.
    let mut stored: Vec<Activity> = Vec::new();
    for a in all.iter().filter(|a| a.id != "v2") {
        stored.push(a.clone());
        ledger.record(&rules, &stored, Some(&ActivityKey::of(a)), None, at(40));
    }
    // v3 got the second view point of 2 March; v4 is on 3 March.
    assert_eq!(ledger.score_at("mql", at(40)), 1.0 + 5.0 + 1.0 + 1.0);
    assert_eq!(ledger.derivation.through, Some(ActivityKey::of(&all[4])));

    // v2 arrives late: the day's cap now goes to v1 and v2, and v3 is capped to nothing.
    stored.push(all[1].clone());
    ledger.record(
        &rules,
        &stored,
        Some(&ActivityKey::of(&all[1])),
        None,
        at(41),
    );

    assert_eq!(ledger.entries, derive(&rules, &all, None));
    assert_eq!(ledger.score_at("mql", at(41)), 2.0 + 5.0 + 1.0);
    let v3 = ledger
        .entries
        .iter()
        .find(|e| e.activity_id == "v3")
        .unwrap();
    assert_eq!((v3.points, v3.capped_from), (0.0, Some(1.0)));
    // Delivered again, it changes nothing.
    let again = ledger.clone();
    ledger.record(
        &rules,
        &stored,
        Some(&ActivityKey::of(&all[1])),
        None,
        at(42),
    );
    assert_eq!(ledger, again);
}

/// Page views every `minutes`, `n` of them from `at(0)`, each with a path and 45 seconds.
fn page_views(n: usize, minutes: i64) -> Vec<Activity> {
    (0..n)
        .map(|i| {
            let a = activity(
                &format!("view-{i:05}"),
                ActivityKind::PageViewed,
                at(0) + TimeDelta::minutes(minutes * i as i64),
            );
            with(with(a, "path", "/product"), "seconds", "45")
        })
        .collect()
}

#[test]
fn ten_thousand_activities_keep_the_ledger_under_120_kb_and_equal_to_its_fold() {
    // The audit's case: 1,000 page views made 540 KB of ledger, past DynamoDB's 400 KB item.
    // Ten thousand, one every 15 minutes for 104 days, each appended as it arrives and the
    // ledger compacted after each as the handler does, under the shipped rules.
    let rules = default_rules();
    let views = page_views(10_000, 15);
    let mut ledger = ScoreLedger::new(LeadId::new("lead-1"), rules.version);
    for view in &views {
        assert!(ledger.append(&rules, view, Some("corp.example")));
        ledger.compact(&rules, view.occurred_at);
    }

    let bytes = serde_json::to_vec(&ledger).unwrap().len();
    assert!(bytes < 120_000, "{bytes} bytes");
    assert!(ledger.entries.len() <= Bounds::DEFAULT.max_entries);
    // The fold of the compacted ledger is the fold of every entry the rules give, from the
    // time its carried lines are exact.
    let full = derive(&rules, &views, Some("corp.example"));
    let end = views.last().unwrap().occurred_at;
    assert!(ledger.derivation.carried_from.unwrap() <= end);
    for t in [end, end + TimeDelta::days(1), end + TimeDelta::days(200)] {
        let (compacted, exact) = (ledger.score_at("mql", t), score_at(&full, "mql", t));
        assert!(
            (compacted - exact).abs() < 1e-9 * exact.abs().max(1.0),
            "{compacted} vs {exact}"
        );
    }
}

#[test]
fn a_late_activity_before_the_carried_entries_derives_the_ledger_again() {
    let rules = default_rules();
    let mut views = page_views(1_000, 10);
    let late = views.remove(3);
    let mut ledger = ScoreLedger::new(LeadId::new("lead-1"), rules.version);
    let now = views.last().unwrap().occurred_at;
    ledger.record(&rules, &views, None, None, now);
    ledger.compact(&rules, now);
    assert!(ledger.derivation.carried_through.is_some());

    views.push(late.clone());
    ledger.record(&rules, &views, Some(&ActivityKey::of(&late)), None, now);

    // Derived again from scratch (not yet compacted again): exactly the clean derivation.
    assert_eq!(ledger.entries, derive(&rules, &views, None));
    assert!(ledger.carried.is_empty());
}

#[test]
fn history_pairs_past_the_bound_are_dropped_without_changing_the_fold() {
    let mut ledger = ScoreLedger::new(LeadId::new("lead-1"), 1);
    let views = page_views(150, 60);
    let first = rules(r#"[{ "id": "view", "kinds": ["page_viewed"], "points": 2 }]"#);
    ledger.update(&first, &views, None, at(1));
    let mut second = rules(r#"[{ "id": "view", "kinds": ["page_viewed"], "points": 3 }]"#);
    second.version = 2;
    ledger.update(&second, &views, None, at(2));
    let t = at(24 * 30);
    let before = ledger.score_at("mql", t);
    assert_eq!(ledger.history.len(), 300);

    ledger.compact(&second, at(2));

    assert_eq!(ledger.history.len(), Bounds::DEFAULT.max_history);
    assert_eq!(ledger.history_dropped, 50);
    assert_eq!(ledger.score_at("mql", t), before);
    assert_eq!(before, 450.0);
}

#[test]
fn fit_points_count_toward_a_score_that_counts_them() {
    // The shipped MQL score counts fit: a CEO (30) at a 5,000-person company (20) with a
    // business address (5) starts at 55 with no behaviour at all, which is not enough for the
    // MQL (100): fit lowers the bar, it does not replace behaviour.
    let rules = default_rules();
    let mut lead = lead("CEO", "5000", "a@corp.example");
    lead.journey = entered("lead-1");
    let mut ledger = ScoreLedger::new(lead.id.clone(), rules.version);
    let view = activity("v1", ActivityKind::PageViewed, at(1));

    let eval = evaluate(
        &rules,
        &lead,
        std::slice::from_ref(&view),
        &mut ledger,
        &Trigger::activity(&view),
        at(1),
    );

    assert_eq!(eval.grade.points, 55.0);
    // 55 of fit and 1 for the page view (no seconds: no time-on-site points).
    assert_eq!(eval.mql_score, 56.0);
    assert!(eval.decision.transition.is_none());
    assert_eq!(ledger.fit.len(), 1);
    assert_eq!(ledger.fit[0].effective_at, lead.created_at);
    assert_eq!(
        ledger.score_at("content_interest", at(1)),
        0.0,
        "not a fit score"
    );

    // The company turns out to be small (5): the difference counts from now on only.
    lead.profile.company_size = Some("12".into());
    let later = activity("v2", ActivityKind::PageViewed, at(30));
    evaluate(
        &rules,
        &lead,
        &[view, later.clone()],
        &mut ledger,
        &Trigger::activity(&later),
        at(30),
    );
    assert_eq!(ledger.fit.len(), 2);
    assert_eq!(ledger.fit[1].points, -15.0);
    assert_eq!(ledger.fit[1].effective_at, at(30));
    let decayed = |h: i64| ledger.score_at("mql", at(h)) - score_at(&ledger.entries, "mql", at(h));
    assert_eq!((decayed(29), decayed(30)), (55.0, 40.0));
}

#[test]
fn free_and_disposable_addresses_grade_lower_than_business_ones() {
    let rules = default_rules();
    let points = |email: &str| {
        let l = lead("VP, Marketing", "51-200", email);
        rules.grade.grade(&FitFacts::of(&l), rules.version)
    };
    // 20 (director) + 10 (marketing) + 10 (51-200), then the address.
    assert_eq!(points("a@corp.example").points, 45.0);
    for free in [
        "a@yahoo.de",
        "a@hotmail.de",
        "a@gmx.at",
        "a@mail.com",
        "a@126.com",
    ] {
        assert_eq!(points(free).points, 30.0, "{free}");
        assert_eq!(points(free).rules_applied.last().unwrap().id, "free_mail");
    }
    let throwaway = points("a@mailinator.com");
    assert_eq!(throwaway.points, 20.0);
    assert_eq!(
        throwaway.rules_applied.last().unwrap().id,
        "disposable_mail"
    );
}

#[test]
fn a_hand_raiser_without_an_email_qualifies_once_the_email_arrives() {
    let rules = rules(r#"[{ "id": "view", "kinds": ["page_viewed"], "points": 1 }]"#);
    let mut lead = lead("CEO", "", "a@corp.example");
    lead.email = None;
    lead.journey = entered("lead-1");
    let demo = activity("d1", ActivityKind::DemoBooked, at(0));
    let mut ledger = ScoreLedger::new(lead.id.clone(), 1);
    let waiting = evaluate(
        &rules,
        &lead,
        std::slice::from_ref(&demo),
        &mut ledger,
        &Trigger::activity(&demo),
        at(1),
    );
    assert_eq!(waiting.decision.trace.verdict, Verdict::WaitingForEmail);

    lead.email = Some(Email::parse("a@corp.example").unwrap());
    let view = activity("v1", ActivityKind::PageViewed, at(5));
    let activities = [demo, view.clone()];
    let fired = evaluate(
        &rules,
        &lead,
        &activities,
        &mut ledger,
        &Trigger::activity(&view),
        at(6),
    );

    let t = fired.decision.transition.unwrap();
    assert_eq!(
        t.actor,
        Actor::Rule {
            id: "mql.hand_raiser".to_owned(),
            version: 1
        }
    );
    assert_eq!((t.effective_at, t.cause.as_str()), (at(5), "scoring:v1"));
    let verdicts: Vec<Verdict> = ledger.mql_traces.iter().map(|t| t.verdict).collect();
    assert_eq!(verdicts, [Verdict::WaitingForEmail, Verdict::Mql]);
}
