//! Erasure: the person's data goes, the anonymous history stays, the reports do not change.

use crate::harness::{now, Api, Who};
use lifecycle::{
    funnel::{CounterKey, Dimension},
    Activity, ActivityKind, Email, Lead, LeadId, Phone, Stage,
};
use ports::{
    commit::Identity, Commit, Document, DocumentStore, DocumentWrite, Expect, JourneyStore,
    LeadWrite, Message, Topic,
};
use serde_json::json;

#[tokio::test]
async fn erasing_a_person_removes_their_data_and_leaves_the_reports_unchanged() {
    let api = Api::new().await;
    api.seed_l1().await;
    api.seed_lead(
        "L2",
        Some("rep-ana"),
        "google",
        "2030-01-03T09:00:00Z".parse().unwrap(),
    )
    .await;
    let dq = api
        .call("POST", "/leads/L1/disqualify", Who::RepAna)
        .key("dq")
        .if_match(1)
        .body(json!({ "reason": "competitor", "note": "Dana said they signed with Acme" }))
        .send(&api)
        .await;
    assert_eq!(dq.status, 200, "{}", dq.text);
    api.call("POST", "/leads/L2/accept", Who::RepAna)
        .key("acc")
        .if_match(1)
        .send(&api)
        .await;
    let report_path = "/reports/funnel?from=2030-01-01&to=2030-02-01&group_by=source";
    let before = api
        .call("GET", report_path, Who::Marketing)
        .send(&api)
        .await
        .text;
    let csv_before = api
        .call("GET", &format!("{report_path}&format=csv"), Who::Marketing)
        .send(&api)
        .await
        .text;
    let key = CounterKey {
        day: "2030-01-10".parse().unwrap(),
        stage: Stage::Disqualified,
        dimension: Dimension::Source,
        group: "google".into(),
    };
    assert_eq!(api.store.counter(&key).await.unwrap(), 1);

    let notes = api
        .store
        .list("reason_note", "L1/", None, 100)
        .await
        .unwrap();
    assert_eq!(notes.items.len(), 1, "the disqualification note is stored");

    let erased = api.call("DELETE", "/leads/L1", Who::Admin).send(&api).await;

    assert_eq!(erased.status, 200, "{}", erased.text);
    let lead = api.store.lead(&LeadId::new("L1")).await.unwrap().unwrap();
    assert_eq!((lead.email.is_none(), lead.phone.is_none()), (true, true));
    assert_eq!(lead.profile, lifecycle::Profile::default());
    assert_eq!(lead.stage(), Stage::Disqualified, "the journey stays");
    let detail = api.call("GET", "/leads/L1", Who::Admin).send(&api).await;
    assert_eq!(detail.status, 404, "the person is gone for the API");
    let listed = api.call("GET", "/leads", Who::Admin).send(&api).await.text;
    assert!(!listed.contains("\"L1\""), "{listed}");
    let notes = api
        .store
        .list("reason_note", "L1/", None, 100)
        .await
        .unwrap();
    assert!(notes.items.is_empty(), "the reason note is gone");
    let history = api.store.transitions(&LeadId::new("L1")).await.unwrap();
    let last = history.last().unwrap().reason.clone().unwrap();
    assert_eq!(last.code, "competitor", "the reason code stays");

    assert_eq!(
        api.call("GET", report_path, Who::Marketing)
            .send(&api)
            .await
            .text,
        before
    );
    assert_eq!(
        api.call("GET", &format!("{report_path}&format=csv"), Who::Marketing)
            .send(&api)
            .await
            .text,
        csv_before
    );
    assert_eq!(api.store.counter(&key).await.unwrap(), 1);
    let other = api.store.lead(&LeadId::new("L2")).await.unwrap().unwrap();
    assert!(other.email.is_some(), "only the one person is erased");
}

#[tokio::test]
async fn erasing_twice_finds_nothing_the_second_time_and_an_unknown_lead_is_404() {
    let api = Api::new().await;
    api.seed_l1().await;

    let first = api.call("DELETE", "/leads/L1", Who::Admin).send(&api).await;
    let again = api.call("DELETE", "/leads/L1", Who::Admin).send(&api).await;
    let unknown = api
        .call("DELETE", "/leads/nope", Who::Admin)
        .send(&api)
        .await;

    assert_eq!(
        (first.status, again.status, unknown.status),
        (200, 404, 404)
    );
}

/// Every text value in every table of the embedded store's file, lower-cased: what a person
/// with `sqlite3` (or a backup of the file) would find.
fn everything_stored(path: &std::path::Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut values = Vec::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                if let rusqlite::types::ValueRef::Text(t) = row.get_ref(i).unwrap() {
                    values.push(String::from_utf8_lossy(t).to_lowercase());
                }
            }
        }
    }
    values
}

fn found(stored: &[String], needle: &str) -> bool {
    let needle = needle.to_lowercase();
    stored.iter().any(|v| v.contains(&needle))
}

/// L1 as the pipeline would leave it: a phone (an identity), a company and title of its own, a
/// form submission with free-text answers (its activity, claim and outbox message), a tracked
/// page view whose URL quotes the e-mail, and a score ledger.
async fn give_l1_a_history(api: &Api, l1: &Lead) {
    let mut lead = l1.clone();
    lead.phone = Some(Phone::new("+14155550101"));
    lead.profile.company = Some("Larkspur Analytics".into());
    lead.profile.title = Some("Chief Llama Officer".into());
    lead.version = 2;
    let form = Activity {
        id: "webhook:typeform:evt-1".into(),
        lead_id: l1.id.clone(),
        kind: ActivityKind::FormSubmitted,
        occurred_at: "2030-01-02T09:00:00Z".parse().unwrap(),
        hand_raiser: false,
        attributes: [
            ("provider", "typeform"),
            ("form", "demo"),
            ("source", "google"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into(),
    };
    let visit = Activity {
        id: "track:site:pv-1".into(),
        kind: ActivityKind::PricingViewed,
        occurred_at: "2030-01-02T09:05:00Z".parse().unwrap(),
        attributes: [
            ("path", "/pricing?email=person.l1@example.com"),
            ("tracked_by", "site"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into(),
        ..form.clone()
    };
    let answers = json!({
        "answers": {
            "email": "person.l1@example.com",
            "name": "Person L1",
            "phone": "+1 (415) 555-0101",
            "message": "Dana here: please call about the Larkspur rollout",
        },
    });
    let ledger = json!({
        "lead_id": "L1",
        "rule_version": 1,
        "entries": [{ "activity_id": "track:site:pv-1", "rule_id": "pricing", "points": 10.0 }],
    });
    let mut commit = Commit::claiming("webhook:typeform:evt-1", None);
    commit.lead = Some(LeadWrite {
        lead,
        expect: Expect::Version(1),
        new_identities: vec![Identity::Phone(Phone::new("+14155550101"))],
    });
    commit.activities = vec![form, visit];
    commit.documents = [
        ("form_submission", "webhook:typeform:evt-1", answers),
        ("score_ledger", "L1", ledger),
    ]
    .map(|(collection, key, body)| DocumentWrite::Put {
        doc: Document {
            collection: collection.into(),
            key: key.into(),
            version: 1,
            index: None,
            body,
            expires_at: None,
        },
        expect: Expect::Absent,
    })
    .into();
    commit.outbox.push(Message {
        topic: Topic::Activities,
        id: "webhook:typeform:evt-1".into(),
        body: json!({ "lead_id": "L1", "activity_id": "webhook:typeform:evt-1" }).to_string(),
        delay_seconds: 0,
    });
    api.commit(commit).await;
}

#[tokio::test]
async fn nothing_personal_remains_anywhere_and_the_report_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journey.db");
    let api = Api::on_file(&path).await;
    let l1 = api.seed_l1().await;
    api.seed_lead(
        "L2",
        Some("rep-ana"),
        "google",
        "2030-01-03T09:00:00Z".parse().unwrap(),
    )
    .await;
    give_l1_a_history(&api, &l1).await;
    let dq = api
        .call("POST", "/leads/L1/disqualify", Who::RepAna)
        .key("dq")
        .if_match(2)
        .body(json!({ "reason": "competitor", "note": "Dana said they signed with Acme" }))
        .send(&api)
        .await;
    assert_eq!(dq.status, 200, "{}", dq.text);
    let personal = [
        "person.l1@example.com",
        "Person L1",
        "4155550101",
        "555-0101",
        "Larkspur",
        "Llama",
        "Dana",
    ];
    let before = everything_stored(&path);
    for needle in personal {
        assert!(found(&before, needle), "{needle} is stored before erasure");
    }
    let report_path = "/reports/funnel?from=2030-01-01&to=2030-02-01&group_by=source";
    let report = api
        .call("GET", report_path, Who::Marketing)
        .send(&api)
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    let csv_path = format!("{report_path}&format=csv");
    let csv = api
        .call("GET", &csv_path, Who::Marketing)
        .send(&api)
        .await
        .text;

    let erased = api.call("DELETE", "/leads/L1", Who::Admin).send(&api).await;

    assert_eq!(erased.status, 200, "{}", erased.text);
    let after = everything_stored(&path);
    for needle in personal {
        assert!(
            !found(&after, needle),
            "{needle} is still stored after erasure"
        );
    }
    assert!(
        found(&after, "person.l2@example.com"),
        "the other person stays"
    );
    let again = api
        .call("GET", report_path, Who::Marketing)
        .send(&api)
        .await;
    assert_eq!(again.text, report.text, "the report's JSON changed");
    let csv_again = api
        .call("GET", &csv_path, Who::Marketing)
        .send(&api)
        .await
        .text;
    assert_eq!(csv_again, csv, "the report's CSV changed");

    let id = LeadId::new("L1");
    let email = Email::parse("person.l1@example.com").unwrap();
    assert_eq!(api.store.lead_by_email(&email).await.unwrap(), None);
    let phone = Phone::new("+14155550101");
    assert_eq!(api.store.lead_by_phone(&phone).await.unwrap(), None);
    let activities = api.store.activities(&id).await.unwrap();
    let kept: Vec<_> = activities
        .iter()
        .map(|a| {
            (
                a.id.as_str(),
                a.attributes.keys().cloned().collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            (
                "webhook:typeform:evt-1",
                vec!["form".into(), "provider".into(), "source".into()]
            ),
            ("track:site:pv-1", vec!["tracked_by".to_owned()]),
        ],
        "the activities stay, with their attribution only"
    );
    let answers = api
        .store
        .get("form_submission", "webhook:typeform:evt-1")
        .await
        .unwrap();
    assert!(answers.is_none(), "the form answers are gone");
    let ledger = api.store.get("score_ledger", "L1").await.unwrap();
    assert!(ledger.is_some(), "the anonymous ledger stays");
    for path in ["/leads/L1", "/leads/L1/timeline", "/leads/L1/score"] {
        let reply = api.call("GET", path, Who::Admin).send(&api).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text);
    }

    // The e-mail is free again: a new submission makes a new lead with it.
    let mut newcomer = Lead::new(LeadId::new("L3"), now());
    newcomer.email = Some(email.clone());
    newcomer.version = 1;
    api.commit(Commit {
        lead: Some(LeadWrite {
            lead: newcomer,
            expect: Expect::Absent,
            new_identities: vec![Identity::Email(email.clone())],
        }),
        ..Commit::default()
    })
    .await;
    let owner = api.store.lead_by_email(&email).await.unwrap().map(|l| l.id);
    assert_eq!(owner, Some(LeadId::new("L3")));
}
