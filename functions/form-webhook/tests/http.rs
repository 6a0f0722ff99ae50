//! The HTTP answers for bad input, through the handler without Lambda: every refusal is a 4xx
//! with a problem document and stores nothing; a signed delivery with missing data is kept.

mod support;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use form_webhook::{Headers, WebhookResponse, MAX_BODY_BYTES};
use hmac::{Hmac, KeyInit, Mac};
use lifecycle::Email;
use ports::JourneyStore;
use sha2::Sha256;
use support::{fixture, Harness};

/// Signs `body` as Typeform does, with the test secret.
fn typeform_sig(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(b"test-secret").unwrap();
    mac.update(body);
    format!("sha256={}", B64.encode(mac.finalize().into_bytes()))
}

async fn post(
    h: &Harness,
    provider: &str,
    headers: Vec<(&str, String)>,
    body: &[u8],
) -> WebhookResponse {
    let headers = Headers::new(
        headers
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    );
    let url = format!("https://leads.example.org/webhooks/{provider}");
    h.post("POST", provider, &url, &headers, body).await
}

fn json_ct() -> (&'static str, String) {
    ("Content-Type", "application/json".to_owned())
}

/// A minimal Typeform delivery with the given answers (JSON array text).
fn typeform_body(event_id: &str, answers: &str) -> Vec<u8> {
    format!(
        r#"{{"event_id":"{event_id}","form_response":{{"form_id":"f1","answers":{answers},"definition":{{"title":"Newsletter","fields":[]}}}}}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn unknown_provider_is_404() {
    let h = Harness::new();
    let r = post(&h, "formstack", vec![json_ct()], b"{}").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.content_type, "application/problem+json");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let h = Harness::new();
    let body = b"{}";
    let r = post(
        &h,
        "typeform",
        vec![
            ("Content-Type", "text/plain".into()),
            ("Typeform-Signature", typeform_sig(body)),
        ],
        body,
    )
    .await;
    assert_eq!(r.status, 415);
}

#[tokio::test]
async fn body_over_256_kib_is_413_even_when_signed() {
    let h = Harness::new();
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let r = post(
        &h,
        "typeform",
        vec![json_ct(), ("Typeform-Signature", typeform_sig(&body))],
        &body,
    )
    .await;
    assert_eq!(r.status, 413);
    let declared = post(
        &h,
        "typeform",
        vec![json_ct(), ("Content-Length", "999999999".into())],
        b"{}",
    )
    .await;
    assert_eq!(declared.status, 413, "refused on the declared length alone");
}

#[tokio::test]
async fn a_signed_body_that_is_not_json_is_400_with_a_position() {
    let h = Harness::new();
    let body = b"{\"event_id\": ";
    let r = post(
        &h,
        "typeform",
        vec![json_ct(), ("Typeform-Signature", typeform_sig(body))],
        body,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("line 1"), "{}", r.body);
    assert!(h.leads().await.is_empty());
}

#[tokio::test]
async fn missing_signature_is_401() {
    let h = Harness::new();
    let r = post(&h, "typeform", vec![json_ct()], &typeform_body("e1", "[]")).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_stale_timestamp_is_401_even_with_a_good_signature() {
    let h = Harness::new();
    let mut f = fixture("webflow/form_submission_v2_normal.json");
    f.received_at += chrono::Duration::minutes(10);
    let r = h.replay(&f).await;
    assert_eq!(r.status, 401);
    assert!(r.body.contains("stale-signature"), "{}", r.body);
    assert!(h.leads().await.is_empty());

    // Calendly's tolerance is three minutes: 3 min 1 s after `t=` is refused.
    let mut c = fixture("calendly/invitee_created_normal.json");
    c.received_at = chrono::DateTime::from_timestamp(1741083310 + 181, 0).unwrap();
    assert_eq!(h.replay(&c).await.status, 401);
}

#[tokio::test]
async fn a_wrong_url_token_is_401() {
    let h = Harness::new();
    let mut f = fixture("unbounce/form_submit_urlencoded.txt");
    f.url = f.url.replace("token=test-secret", "token=test-secreT");
    assert_eq!(h.replay(&f).await.status, 401);
}

#[tokio::test]
async fn a_signed_delivery_with_no_answers_is_200_and_kept() {
    let h = Harness::new();
    let body = typeform_body("e-empty", "[]");
    let r = post(
        &h,
        "typeform",
        vec![json_ct(), ("Typeform-Signature", typeform_sig(&body))],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let leads = h.leads().await;
    assert_eq!(leads.len(), 1);
    assert!(leads[0].is_incomplete());
}

#[tokio::test]
async fn a_french_email_label_yields_the_email() {
    let h = Harness::new();
    let body = r#"{"eventId":"ev-fr","data":{"submissionId":"fr1","formId":"frm","formName":"Contact",
        "fields":[{"key":"question_1","label":"Adresse e-mail","type":"INPUT_TEXT","value":" Jean.Dupont@Example.FR "},
                  {"key":"question_2","label":"Prénom","type":"INPUT_TEXT","value":"Jean"},
                  {"key":"question_3","label":"Nom de famille","type":"INPUT_TEXT","value":"Dupont"},
                  {"key":"question_4","label":"Société","type":"INPUT_TEXT","value":""}]}}"#;
    let mut mac = Hmac::<Sha256>::new_from_slice(b"test-secret").unwrap();
    mac.update(body.as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    let r = post(
        &h,
        "tally",
        vec![json_ct(), ("Tally-Signature", sig)],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let lead = h
        .store
        .lead_by_email(&Email::parse("jean.dupont@example.fr").unwrap())
        .await
        .unwrap()
        .expect("lead by the French-labelled e-mail");
    assert_eq!(lead.profile.name.as_deref(), Some("Jean Dupont"));
    assert_eq!(lead.profile.company, None, "an empty answer is absent");
}

#[tokio::test]
async fn a_second_person_on_the_same_form_never_overwrites_the_first() {
    let h = Harness::new();
    let first = typeform_body(
        "e-a",
        r#"[{"type":"email","email":"ann@example.com","field":{"id":"1","ref":"email","type":"email"}},
            {"type":"text","text":"Ann","field":{"id":"2","ref":"full_name","type":"short_text"}}]"#,
    );
    let second = typeform_body(
        "e-b",
        r#"[{"type":"email","email":"bob@example.com","field":{"id":"1","ref":"email","type":"email"}},
            {"type":"text","text":"Bob","field":{"id":"2","ref":"full_name","type":"short_text"}}]"#,
    );
    for body in [&first, &second] {
        let r = post(
            &h,
            "typeform",
            vec![json_ct(), ("Typeform-Signature", typeform_sig(body))],
            body,
        )
        .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(h.leads().await.len(), 2);
    let ann = h
        .store
        .lead_by_email(&Email::parse("ann@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ann.profile.name.as_deref(), Some("Ann"));
}

#[tokio::test]
async fn a_phone_only_lead_is_completed_when_its_email_arrives() {
    let h = Harness::new();
    let phone_only = typeform_body(
        "e-p1",
        r#"[{"type":"phone_number","phone_number":"+15550100199","field":{"id":"1","ref":"phone","type":"phone_number"}}]"#,
    );
    let with_email = typeform_body(
        "e-p2",
        r#"[{"type":"phone_number","phone_number":"+1 555 010 0199","field":{"id":"1","ref":"phone","type":"phone_number"}},
            {"type":"email","email":"cara@example.com","field":{"id":"2","ref":"email","type":"email"}}]"#,
    );
    for body in [&phone_only, &with_email] {
        let r = post(
            &h,
            "typeform",
            vec![json_ct(), ("Typeform-Signature", typeform_sig(body))],
            body,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let leads = h.leads().await;
    assert_eq!(leads.len(), 1, "matched on the phone");
    let lead = &leads[0];
    assert_eq!(
        lead.email.as_ref().map(Email::as_str),
        Some("cara@example.com")
    );
    assert_eq!(h.activities().await.len(), 2);
    assert_eq!(h.transitions().await.len(), 1, "entered the journey once");
}

#[tokio::test]
async fn meta_subscription_handshake_echoes_the_challenge() {
    let h = Harness::new();
    let headers = Headers::default();
    let base = "https://leads.example.org/webhooks/meta-leadgen?hub.mode=subscribe";
    let ok = h
        .post(
            "GET",
            "meta-leadgen",
            &format!("{base}&hub.verify_token=verify-me&hub.challenge=42"),
            &headers,
            b"",
        )
        .await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "42"));
    let bad = h
        .post(
            "GET",
            "meta-leadgen",
            &format!("{base}&hub.verify_token=nope&hub.challenge=42"),
            &headers,
            b"",
        )
        .await;
    assert_eq!(bad.status, 401);
}

#[tokio::test]
async fn hand_raisers_are_marked_by_form_setting_or_form_name() {
    let mut config = support::config();
    config
        .add_forms_json(
            r#"[{"provider":"typeform","form_id":"demo-form","hand_raiser":true},
                {"provider":"typeform","form_id":"sales-named","hand_raiser":false}]"#,
        )
        .unwrap();
    let h = Harness::with_config(config);
    // (form id, form title, expected hand raiser): the setting wins over the title.
    let cases = [
        ("demo-form", "Newsletter", true),
        ("sales-named", "Contact sales", false),
        ("unset-1", "Contact Sales", true),
        ("unset-2", "Newsletter", false),
    ];
    for (i, (form, title, _)) in cases.iter().enumerate() {
        let body = format!(
            r#"{{"event_id":"hr-{i}","form_response":{{"form_id":"{form}","answers":[{{"type":"email","email":"hr{i}@example.com","field":{{"id":"1","ref":"email","type":"email"}}}}],"definition":{{"title":"{title}","fields":[]}}}}}}"#
        );
        let r = post(
            &h,
            "typeform",
            vec![
                json_ct(),
                ("Typeform-Signature", typeform_sig(body.as_bytes())),
            ],
            body.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for (i, (form, _, expected)) in cases.iter().enumerate() {
        let lead = h
            .store
            .lead_by_email(&Email::parse(&format!("hr{i}@example.com")).unwrap())
            .await
            .unwrap()
            .unwrap();
        let activities = h.store.activities(&lead.id).await.unwrap();
        assert_eq!(activities[0].hand_raiser, *expected, "{form}");
    }
}

/// HubSpot's v3 signature is over the URL with `%3A`, `%40` and the like decoded, so a webhook
/// URL whose query carries them (a token with `:`) verifies only when they are decoded first.
#[tokio::test]
async fn hubspot_v3_signs_the_url_with_its_documented_escapes_decoded() {
    let h = Harness::new();
    let f = fixture("hubspot/workflow_contact_normal.json");
    h.clock.set(f.received_at);
    let url = "https://leads.example.org/webhooks/hubspot?tag=a%3Ab%40c%20d";
    let signed_over = "https://leads.example.org/webhooks/hubspot?tag=a:b@c%20d";
    let ts = (f.received_at.timestamp() * 1000).to_string();
    let v3 = |signed_url: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"test-secret").unwrap();
        for part in [
            b"POST".as_slice(),
            signed_url.as_bytes(),
            &f.body,
            ts.as_bytes(),
        ] {
            mac.update(part);
        }
        B64.encode(mac.finalize().into_bytes())
    };
    let headers = |sig: String| {
        Headers::new(vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-HubSpot-Request-Timestamp".into(), ts.clone()),
            ("X-HubSpot-Signature-v3".into(), sig),
        ])
    };

    let raw = h
        .post("POST", "hubspot", url, &headers(v3(url)), &f.body)
        .await;
    assert_eq!(raw.status, 401, "signed over the escaped URL");
    assert!(h.leads().await.is_empty());

    let decoded = h
        .post("POST", "hubspot", url, &headers(v3(signed_over)), &f.body)
        .await;
    assert_eq!(decoded.status, 200);
    assert_eq!(h.leads().await.len(), 1);
}

/// Regression: a `leadgen_id` goes into the Graph API's path, and `1/../me` was queued to be
/// fetched as is. Anything but digits is claimed and not fetched; the ids beside it still are.
#[tokio::test]
async fn a_meta_leadgen_id_that_is_not_a_graph_id_is_not_fetched() {
    let h = Harness::new();
    let body = br#"{"object":"page","entry":[{"id":"1","time":1,"changes":[
        {"field":"leadgen","value":{"leadgen_id":"1/../me","page_id":"1"}},
        {"field":"leadgen","value":{"leadgen_id":"2233445566","page_id":"1"}}]}]}"#;
    let mut mac = Hmac::<Sha256>::new_from_slice(b"test-secret").unwrap();
    mac.update(body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));

    let r = post(
        &h,
        "meta-leadgen",
        vec![json_ct(), ("X-Hub-Signature-256", sig)],
        body,
    )
    .await;

    assert_eq!(r.status, 200, "{}", r.body);
    let fetches = h.take_messages(ports::Topic::LeadFetch).await;
    assert_eq!(fetches.len(), 1);
    assert!(
        fetches[0].body.contains("\"leadgen_id\":\"2233445566\""),
        "{}",
        fetches[0].body
    );
    assert!(r.body.contains("ignored"), "{}", r.body);
}

/// Regression: `"phone": true` was kept as the phone "true", and a phone is the identity of a
/// lead with no e-mail, so a second stranger answering `true` was matched to the first lead.
#[tokio::test]
async fn an_answer_that_is_no_phone_number_joins_nobody() {
    let h = Harness::new();
    for (event, name) in [("p1", "Ada"), ("p2", "Bo")] {
        let body = format!(r#"{{"event_id":"{event}","name":"{name}","phone":true}}"#);
        let r = post(
            &h,
            "generic/zap",
            vec![json_ct(), ("X-Webhook-Token", "test-secret".into())],
            body.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    let leads = h.leads().await;
    assert_eq!(leads.len(), 2, "two people, two leads");
    assert!(leads.iter().all(|l| l.phone.is_none()), "{leads:?}");
}

/// Form settings stored through the API (`config/form_mappings`) map a form the environment
/// does not know, and a change reaches deliveries after at most a minute.
#[tokio::test]
async fn form_settings_stored_through_the_api_map_the_next_deliveries() {
    let mut h = Harness::new();
    h.service = h.service.clone().with_stored_forms(h.store.clone());
    let map = |fields: serde_json::Value| serde_json::json!([{ "provider": "generic", "form": "f9", "fields": fields, "country": "DE" }]);
    let deliver = |event: &str, mail: &str| {
        format!(
            r#"{{"event_id":"{event}","form_id":"f9","q_mail":"{mail}","q_tel":"030 1234567"}}"#
        )
    };
    let headers = || vec![json_ct(), ("X-Webhook-Token", "test-secret".to_owned())];
    h.store_form_settings(
        map(serde_json::json!({ "q_mail": "email", "q_tel": "phone" })),
        1,
    )
    .await;

    let first = deliver("e1", "ada@example.org");
    let r = post(&h, "generic/zap", headers(), first.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ada = h
        .store
        .lead_by_email(&Email::parse("ada@example.org").unwrap())
        .await;
    let ada = ada.unwrap().expect("the stored map names the e-mail");
    assert_eq!(
        ada.phone.map(|p| p.as_str().to_owned()),
        Some("+49301234567".into())
    );

    // The map loses its e-mail field: unseen for a minute, then in force.
    h.store_form_settings(map(serde_json::json!({ "q_tel": "phone" })), 2)
        .await;
    let soon = deliver("e2", "bo@example.org");
    post(&h, "generic/zap", headers(), soon.as_bytes()).await;
    h.clock.advance(chrono::Duration::seconds(61));
    let later = deliver("e3", "cy@example.org");
    post(&h, "generic/zap", headers(), later.as_bytes()).await;

    let found = |mail: &'static str| {
        let store = h.store.clone();
        async move {
            store
                .lead_by_email(&Email::parse(mail).unwrap())
                .await
                .unwrap()
        }
    };
    assert!(found("bo@example.org").await.is_some(), "within the minute");
    assert!(found("cy@example.org").await.is_none(), "after it");
}
