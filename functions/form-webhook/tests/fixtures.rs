//! Replays every recorded delivery in `shared/fixtures/webhooks` through the handler, with each
//! sidecar's `received_at` as the clock, and checks what the fixtures README's table states:
//! the status, the extracted fields, and the dedupe outcome (a redelivery creates no second
//! lead, activity or message). Expected values are copied from the README, not from the code.

mod support;

use async_trait::async_trait;
use form_webhook::{
    lead_fetch::{self, FetchError, LeadFetcher},
    ItemOutcome,
};
use lifecycle::{ActivityKind, Email, Lead};
use ports::{JourneyStore, Topic};
use std::collections::HashSet;
use support::{fixture, Harness};

/// One row of the README table: the lead a correct system extracts.
struct Expect {
    file: &'static str,
    email: Option<&'static str>,
    name: &'static str,
    company: &'static str,
    title: Option<&'static str>,
    /// Accepted phone values (the README allows the raw value where no region is known).
    phone: &'static [&'static str],
    source: Option<&'static str>,
    medium: Option<&'static str>,
    campaign: Option<&'static str>,
    /// The README's delivery key parts, each of which the claimed key must hold (a key built
    /// of several ids joins them; Unbounce has none, see [`unbounce_key_is_a_digest`]).
    key: &'static [&'static str],
}

const ROWS: &[Expect] = &[
    Expect {
        file: "typeform/form_response_normal.json",
        email: Some("priya.raman-holt@brightlake.example.com"),
        name: "Priya Raman-Holt",
        company: "Brightlake Logistics",
        title: Some("Head of Revenue Operations"),
        phone: &[],
        source: Some("linkedin"),
        medium: Some("paid_social"),
        campaign: Some("q1-2025-revops-webinar"),
        key: &["01JNE4Q8ZK3V7W9X2Y5B6C8D0F"],
    },
    Expect {
        file: "typeform/form_response_long_text.json",
        email: Some("m.oyelaran@harborfinch.example.org"),
        name: "Marcus Oyelaran",
        company: "Harbor & Finch Studio",
        title: Some("Operations Director"),
        phone: &[],
        source: None,
        medium: None,
        campaign: None,
        key: &["01JNE5A1B2C3D4E5F6G7H8J9K0"],
    },
    Expect {
        file: "tally/form_response_normal.json",
        email: Some("elena.vasquez@kestrelpeak.example.com"),
        name: "Elena Vasquez",
        company: "Kestrel Peak Software",
        title: Some("VP Engineering"),
        phone: &["+14155550142"],
        source: Some("google"),
        medium: Some("cpc"),
        campaign: Some("brand-search-us"),
        key: &["mRz8Ka"],
    },
    Expect {
        file: "tally/form_response_unicode.json",
        email: Some("misaki.hayashi@fjordline.example.org"),
        name: "美咲 林",
        company: "Fjordline Céramique Ltd.",
        title: Some("事業開発マネージャー"),
        phone: &["+81355501234"],
        source: Some("newsletter"),
        medium: Some("email"),
        campaign: Some("2025-03-jp-launch"),
        key: &["Qp3nVd"],
    },
    Expect {
        file: "jotform/submission_normal.multipart",
        email: Some("owen.castellanos@mosswood.example.com"),
        name: "Owen Castellanos",
        company: "Mosswood Dental Group",
        title: Some("Practice Manager"),
        phone: &["+15550100142"],
        source: Some("facebook"),
        medium: Some("paid_social"),
        campaign: Some("spring-assessment-2025"),
        key: &["6183947265118230041"],
    },
    Expect {
        file: "jotform/submission_missing_email.multipart",
        email: None,
        name: "Hannah Lindqvist",
        company: "Lindqvist Family Dentistry",
        title: Some("Owner"),
        phone: &["+447700900123", "07700 900123"],
        source: None,
        medium: None,
        campaign: None,
        key: &["6183947486225311078"],
    },
    Expect {
        file: "webflow/form_submission_v2_normal.json",
        email: Some("tomasz.w@ravenbrook.example.com"),
        name: "Tomasz Wiśniewski",
        company: "Ravenbrook Data",
        title: Some("CTO"),
        phone: &["+15550100187"],
        source: Some("g2"),
        medium: None,
        campaign: Some("comparison-page"),
        key: &["67c6d2e8f1a3b40012c5d6e7"],
    },
    Expect {
        file: "webflow/form_submission_v1_missing_email.json",
        email: None,
        name: "Idris Kamara",
        company: "Saltmarsh Freight",
        title: None,
        phone: &["+442079460321"],
        source: None,
        medium: None,
        campaign: None,
        key: &["67c6d2df9e8a7b0011f2e3a4"],
    },
    Expect {
        file: "hubspot/workflow_contact_normal.json",
        email: Some("aiyana.redcloud@sagebrush.example.com"),
        name: "Aiyana Redcloud",
        company: "Sagebrush Health Partners",
        title: Some("Director of Patient Access"),
        phone: &["+15550100176"],
        source: Some("google"),
        medium: Some("PAID_SEARCH"),
        campaign: Some("ehr-integration-2025"),
        key: &["90817263", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"],
    },
    Expect {
        file: "calendly/invitee_created_normal.json",
        email: Some("nia.okafor@lumenwise.example.com"),
        name: "Nia Okafor",
        company: "Lumenwise Energy",
        title: Some("Head of Procurement"),
        phone: &["+15550100158"],
        source: Some("website"),
        medium: Some("organic"),
        campaign: Some("pricing-page-cta"),
        key: &[
            "https://api.calendly.com/scheduled_events/GB7XK2M4P9Q1R3S5/invitees/4N8VJ2QX6R1T3Y5W",
        ],
    },
    Expect {
        file: "google-forms/apps_script_normal.json",
        email: Some("rahul.deshpande@cedarline.example.com"),
        name: "Rahul Deshpande",
        company: "Cedarline Systems",
        title: Some("Channel Partnerships Lead"),
        phone: &[],
        source: Some("partner-newsletter"),
        medium: None,
        campaign: Some("partner-q1"),
        key: &["2_ABaOnudEXAMPLEresponse0001"],
    },
    Expect {
        file: "gravity-forms/entry_all_fields_unicode.json",
        email: Some("zoe.ostergaard@alpinecraft.example.com"),
        name: "Zoë Østergaard-Núñez",
        company: "Alpinecraft Verleih GmbH",
        title: Some("Geschäftsführerin"),
        phone: &["+43155501234"],
        source: Some("bing"),
        medium: Some("cpc"),
        campaign: Some("ski-rental-b2b"),
        key: &["3", "1874"],
    },
    Expect {
        file: "netlify-forms/submission_created_mixed_case_email.json",
        email: Some("dana.whitfield@quillfield.example.com"),
        name: "Dana Whitfield",
        company: "Quillfield Labs",
        title: Some("Growth Lead"),
        phone: &[],
        source: Some("producthunt"),
        medium: None,
        campaign: Some("launch-week"),
        key: &["67c6d2f0a9b8c70008d4e5f6"],
    },
    Expect {
        file: "unbounce/form_submit_urlencoded.txt",
        email: Some("gabriel.moreau@verdantpath.example.org"),
        name: "Gabriel Moreau",
        company: "Verdant Path Travel",
        title: Some("Marketing Manager"),
        phone: &["+15550100133"],
        source: Some("google"),
        medium: Some("cpc"),
        campaign: Some("eu-tours-2025"),
        key: &[],
    },
    Expect {
        file: "generic-json/zapier_lead_normal.json",
        email: Some("leah.brandt@copperfield.example.com"),
        name: "Leah Brandt",
        company: "Copperfield Instruments",
        title: Some("Procurement Analyst"),
        // The README writes +4930555501870, one digit more than the fixture's own
        // "+49 30 5550 1870" holds; E.164 of the sent digits is +493055501870.
        phone: &["+493055501870"],
        source: Some("capterra"),
        medium: Some("referral"),
        campaign: Some("listing-2025"),
        key: &["zap-273649182-20250304T101528Z-0001"],
    },
];

fn check_lead(lead: &Lead, row: &Expect) {
    let f = row.file;
    assert_eq!(
        lead.email.as_ref().map(Email::as_str),
        row.email,
        "{f}: email"
    );
    assert_eq!(lead.profile.name.as_deref(), Some(row.name), "{f}: name");
    assert_eq!(
        lead.profile.company.as_deref(),
        Some(row.company),
        "{f}: company"
    );
    assert_eq!(lead.profile.title.as_deref(), row.title, "{f}: title");
    match lead.phone.as_ref() {
        None => assert!(row.phone.is_empty(), "{f}: phone missing"),
        Some(p) => assert!(row.phone.contains(&p.as_str()), "{f}: phone {}", p.as_str()),
    }
    assert_eq!(
        lead.attribution.source.as_deref(),
        row.source,
        "{f}: source"
    );
    assert_eq!(
        lead.attribution.medium.as_deref(),
        row.medium,
        "{f}: medium"
    );
    assert_eq!(
        lead.attribution.campaign.as_deref(),
        row.campaign,
        "{f}: campaign"
    );
    assert_eq!(lead.is_incomplete(), row.email.is_none(), "{f}: incomplete");
}

/// The key claimed for the (single) item of a delivery, from the response body.
fn claimed_key(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("JSON answer");
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "one item: {body}");
    items[0]["key"].as_str().expect("a key").to_owned()
}

fn check_key(body: &str, row: &Expect) {
    let key = claimed_key(body);
    for part in row.key {
        assert!(key.contains(part), "{}: key {key} lacks {part}", row.file);
    }
    if let Some(email) = row.email {
        let local = email.split('@').next().unwrap();
        assert!(
            !key.contains(local),
            "{}: the key shows the e-mail",
            row.file
        );
    }
}

async fn lead_for(h: &Harness, row: &Expect) -> Lead {
    match row.email {
        Some(e) => h
            .store
            .lead_by_email(&Email::parse(e).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{}: no lead for the e-mail", row.file)),
        None => h
            .leads()
            .await
            .into_iter()
            .find(|l| l.profile.name.as_deref() == Some(row.name))
            .unwrap_or_else(|| panic!("{}: no incomplete lead", row.file)),
    }
}

fn distinct_ids(messages: &[ports::Delivery]) -> HashSet<String> {
    messages.iter().map(|m| m.id.clone()).collect()
}

#[tokio::test]
async fn every_form_fixture_is_accepted_with_the_readme_extraction() {
    let h = Harness::new();
    for row in ROWS {
        let before = h.footprint().await;
        let response = h.replay(&fixture(row.file)).await;
        assert_eq!(response.status, 200, "{}: {}", row.file, response.body);
        assert!(
            response.body.contains("\"created\""),
            "{}: {}",
            row.file,
            response.body
        );

        check_key(&response.body, row);
        let lead = lead_for(&h, row).await;
        check_lead(&lead, row);
        let after = h.footprint().await;
        assert_eq!(after.0, before.0 + 1, "{}: one new lead", row.file);
        assert_eq!(after.1, before.1 + 1, "{}: one activity", row.file);
        assert_eq!(after.2, before.2 + 1, "{}: the New transition", row.file);
    }
    let messages = h.take_messages(Topic::Activities).await;
    assert_eq!(
        messages.len(),
        ROWS.len(),
        "one activity message per delivery"
    );
    assert_eq!(distinct_ids(&messages).len(), ROWS.len());
}

#[tokio::test]
async fn unbounce_key_is_a_digest_that_recognises_the_redelivery() {
    // README: no submission id, so key = page_id + email + date/time submitted. The key must
    // not show the e-mail (keys are logged), and the same submission must get the same key.
    let h = Harness::new();
    let f = fixture("unbounce/form_submit_urlencoded.txt");
    let first = h.replay(&f).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let key = claimed_key(&first.body);
    assert!(!key.contains('@') && !key.contains("gabriel"), "{key}");
    let before = h.footprint().await;
    let again = h.replay(&f).await;
    assert_eq!(again.status, 200);
    assert_eq!(claimed_key(&again.body), key);
    assert!(
        again.body.contains(r#""status":"duplicate""#),
        "{}",
        again.body
    );
    assert_eq!(h.footprint().await, before);
}

/// The files some test of this suite replays, beside [`ROWS`] and [`REDELIVERIES`].
const OTHERS: &[&str] = &[
    "typeform/form_response_bad_signature.json",
    "facebook-lead-ads/leadgen_normal.lead.json",
];

#[test]
fn every_fixture_file_is_replayed_by_this_suite() {
    // A fixture added to the shared folder must not go untested silently.
    let mut covered: HashSet<&str> = ROWS.iter().map(|r| r.file).collect();
    covered.extend(REDELIVERIES.iter().flat_map(|(a, b, _, _)| [*a, *b]));
    covered.extend(OTHERS);
    let mut missing = Vec::new();
    for dir in std::fs::read_dir(support::FIXTURES).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".headers.json") {
                continue;
            }
            let rel = format!("{}/{name}", dir.file_name().unwrap().to_string_lossy());
            if !covered.contains(rel.as_str()) {
                missing.push(rel);
            }
        }
    }
    assert!(missing.is_empty(), "fixtures no test replays: {missing:?}");
    // 22 requests plus the Graph API answer (README: 19 JSON, 2 multipart, 1 urlencoded).
    assert_eq!(covered.len(), 23);
}

/// The redelivery pairs: (first delivery, redelivery, messages the pair leaves queued).
const REDELIVERIES: &[(&str, &str, Topic, usize)] = &[
    (
        "typeform/form_response_normal.json",
        "typeform/form_response_redelivery.json",
        Topic::Activities,
        1,
    ),
    (
        "calendly/invitee_created_normal.json",
        "calendly/invitee_created_redelivery.json",
        Topic::Activities,
        1,
    ),
    (
        "hubspot/webhooks_batch_attempt0.json",
        "hubspot/webhooks_batch_attempt1_duplicate.json",
        Topic::Activities,
        1,
    ),
    (
        "facebook-lead-ads/leadgen_normal.json",
        "facebook-lead-ads/leadgen_duplicate.json",
        Topic::LeadFetch,
        1,
    ),
];

#[tokio::test]
async fn a_redelivery_answers_200_and_changes_nothing() {
    for (first, again, topic, queued) in REDELIVERIES {
        let h = Harness::new();
        let r1 = h.replay(&fixture(first)).await;
        assert_eq!(r1.status, 200, "{first}: {}", r1.body);
        let before = h.footprint().await;

        let r2 = h.replay(&fixture(again)).await;
        assert_eq!(r2.status, 200, "{again}: {}", r2.body);
        assert!(
            r2.body.contains("\"status\":\"duplicate\""),
            "{again}: {}",
            r2.body
        );
        assert_eq!(h.footprint().await, before, "{again} changed something");
        assert_eq!(
            h.take_messages(*topic).await.len(),
            *queued,
            "{again}: no second message"
        );
    }
}

#[tokio::test]
async fn a_body_edited_after_signing_is_401_and_nothing_is_stored() {
    let h = Harness::new();
    let r = h
        .replay(&fixture("typeform/form_response_bad_signature.json"))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(h.footprint().await, (0, 0, 0));
    assert!(h.take_messages(Topic::Activities).await.is_empty());
}

#[tokio::test]
async fn hubspot_batch_claims_both_events_and_keeps_the_email() {
    let h = Harness::new();
    let r = h
        .replay(&fixture("hubspot/webhooks_batch_attempt0.json"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("3317750021") && r.body.contains("3317750022"));
    let email = Email::parse("rafael.souza@tidewater.example.org").unwrap();
    assert!(h.store.lead_by_email(&email).await.unwrap().is_some());
    assert_eq!(h.leads().await.len(), 1);
}

#[tokio::test]
async fn calendly_booking_is_a_hand_raising_demo_booked_activity() {
    let h = Harness::new();
    h.replay(&fixture("calendly/invitee_created_normal.json"))
        .await;
    let activities = h.activities().await;
    assert_eq!(activities.len(), 1);
    assert_eq!(activities[0].kind, ActivityKind::DemoBooked);
    assert!(activities[0].hand_raiser);
    let sent = h.take_messages(Topic::Activities).await;
    assert!(sent[0].body.contains("\"hand_raiser\":true"));
}

#[tokio::test]
async fn long_free_text_is_kept_in_full() {
    let h = Harness::new();
    h.replay(&fixture("typeform/form_response_long_text.json"))
        .await;
    let doc = h
        .submission("webhook:typeform:01JNE5A1B2C3D4E5F6G7H8J9K0")
        .await
        .expect("answers kept");
    assert_eq!(doc["free_text_truncated"], false);
    let answers = doc["answers"].as_array().unwrap();
    let use_case = answers.iter().find(|a| a["key"] == "use_case").unwrap();
    // README: a `long_text` answer of 6,016 characters.
    assert_eq!(use_case["value"].as_str().unwrap().chars().count(), 6016);
}

#[tokio::test]
async fn tally_choice_ids_resolve_to_option_text() {
    let h = Harness::new();
    h.replay(&fixture("tally/form_response_normal.json")).await;
    let doc = h.submission("webhook:tally:mRz8Ka").await.unwrap();
    let answers = doc["answers"].as_array().unwrap();
    let seats = answers
        .iter()
        .find(|a| a["key"] == "question_sTu901")
        .unwrap();
    assert_eq!(seats["value"], "25-100");
}

/// The Graph API, faked: answers with the recorded `.lead.json`, or fails the first `n` calls.
struct FakeGraph {
    failures: std::sync::Mutex<u32>,
}

#[async_trait]
impl LeadFetcher for FakeGraph {
    async fn fetch(&self, leadgen_id: &str) -> Result<Vec<u8>, FetchError> {
        let mut left = self.failures.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return Err(FetchError::Unavailable);
        }
        assert_eq!(leadgen_id, "2233445566778899");
        let path = format!(
            "{}/facebook-lead-ads/leadgen_normal.lead.json",
            support::FIXTURES
        );
        Ok(std::fs::read(path).unwrap())
    }
}

#[tokio::test]
async fn meta_lead_is_fetched_later_and_a_failed_fetch_is_retried() {
    let h = Harness::new();
    let hook = fixture("facebook-lead-ads/leadgen_normal.json");
    let r = h.replay(&hook).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        h.leads().await.is_empty(),
        "200 at once, before the lead is read"
    );
    let fetches = h.take_messages(Topic::LeadFetch).await;
    assert_eq!(fetches.len(), 1);
    assert!(fetches[0].body.contains("2233445566778899"));

    let intake = h.intake();
    let graph = FakeGraph {
        failures: std::sync::Mutex::new(1),
    };
    let config = support::config();
    let body = &fetches[0].body;
    let first = lead_fetch::handle(&intake, &graph, &config, body, hook.received_at).await;
    assert!(
        first.is_err_and(|e| e.is_retryable()),
        "outage is retryable"
    );
    assert!(h.leads().await.is_empty());

    // The queue delivers the message again.
    let second = lead_fetch::handle(&intake, &graph, &config, body, hook.received_at)
        .await
        .unwrap();
    assert!(matches!(second, ItemOutcome::Created(_)));
    let row = Expect {
        file: "facebook-lead-ads/leadgen_normal.lead.json",
        email: Some("siobhan.nibhriain@oakhollow.example.org"),
        name: "Siobhán Ní Bhriain",
        company: "Oak Hollow Veterinary",
        title: Some("Clinic Director"),
        phone: &["+447700900456"],
        source: Some("instagram"),
        medium: Some("paid"),
        campaign: Some("UK SMB Lead Gen - Spring"),
        key: &["2233445566778899"],
    };
    check_lead(&lead_for(&h, &row).await, &row);

    // A duplicate queue message changes nothing.
    let third = lead_fetch::handle(&intake, &graph, &config, body, hook.received_at)
        .await
        .unwrap();
    assert_eq!(third, ItemOutcome::Duplicate);
    assert_eq!(h.footprint().await, (1, 1, 1));
}
