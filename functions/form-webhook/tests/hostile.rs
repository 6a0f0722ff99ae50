//! Hostile input through the HTTP service: what a broken or malicious sender can post. Every
//! answer must be the 4xx (or 200) the issue names, never a panic and never a 5xx, and a
//! refused delivery must leave the store as it was.

mod support;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use form_webhook::{Headers, WebhookRequest, WebhookResponse, MAX_BODY_BYTES};
use hmac::{Hmac, KeyInit, Mac};
use std::sync::Arc;
use support::{fixture, Harness};

const SECRET: &[u8] = b"test-secret";

/// `Typeform-Signature` of `body`: base64 HMAC-SHA256 with the test secret (README scheme).
fn typeform_sig(body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(body);
    format!("sha256={}", B64.encode(mac.finalize().into_bytes()))
}

/// A correctly signed Typeform POST of `body` with the given content type.
async fn typeform(h: &Harness, content_type: &str, body: &[u8]) -> WebhookResponse {
    let headers = Headers::new(vec![
        ("Content-Type".into(), content_type.into()),
        ("Typeform-Signature".into(), typeform_sig(body)),
    ]);
    let url = "https://leads.example.org/webhooks/typeform";
    h.post("POST", "typeform", url, &headers, body).await
}

/// A small valid Typeform delivery with an e-mail answer.
fn typeform_body(event_id: &str, email: &str) -> String {
    format!(
        r#"{{"event_id":"{event_id}","form_response":{{"form_id":"f1","answers":[{{"type":"email","email":"{email}","field":{{"id":"1","ref":"email","type":"email"}}}}]}}}}"#
    )
}

/// Neither a panic (the test would abort) nor a 5xx, and the status is the expected one.
fn assert_answer(r: &WebhookResponse, status: u16, what: &str) {
    assert!(r.status < 500, "{what}: a 5xx for bad input: {}", r.body);
    assert_eq!(r.status, status, "{what}: {}", r.body);
}

#[tokio::test]
async fn a_truncated_multipart_body_is_400_and_stores_nothing() {
    let h = Harness::new();
    let mut f = fixture("jotform/submission_normal.multipart");
    // Cut in the middle of the `rawRequest` part: no closing boundary ever comes.
    let cut = f.body.len() / 2;
    f.body.truncate(cut);
    assert_answer(&h.replay(&f).await, 400, "truncated multipart");

    // Only the first boundary line, then nothing.
    let mut g = fixture("jotform/submission_normal.multipart");
    let first_line = g.body.iter().position(|b| *b == b'\n').unwrap() + 1;
    g.body.truncate(first_line);
    assert_answer(&h.replay(&g).await, 400, "boundary only");
    assert_eq!(h.footprint().await, (0, 0, 0));
}

#[tokio::test]
async fn a_multipart_body_with_another_boundary_is_400() {
    let h = Harness::new();
    let mut f = fixture("jotform/submission_normal.multipart");
    f.headers = Headers::new(vec![(
        "Content-Type".into(),
        "multipart/form-data; boundary=not-the-one-in-the-body".into(),
    )]);
    assert_answer(&h.replay(&f).await, 400, "boundary mismatch");
    f.headers = Headers::new(vec![("Content-Type".into(), "multipart/form-data".into())]);
    assert_answer(&h.replay(&f).await, 400, "no boundary at all");
    assert_eq!(h.footprint().await, (0, 0, 0));
}

#[tokio::test]
async fn invalid_utf8_in_signed_json_is_400() {
    let h = Harness::new();
    let mut body = typeform_body("e-utf8", "ann@example.com").into_bytes();
    // Replace the `a` of the e-mail with a lone continuation byte and a truncated sequence.
    let at = body.windows(3).position(|w| w == b"ann").unwrap();
    body.splice(at..at + 1, [0x80, 0xE2, 0x82]);
    let r = typeform(&h, "application/json", &body).await;
    assert_answer(&r, 400, "invalid UTF-8");
    assert_eq!(h.footprint().await, (0, 0, 0));
}

#[tokio::test]
async fn deeply_nested_signed_json_is_400_without_a_stack_overflow() {
    let h = Harness::new();
    let depth = 100_000;
    // Arrays at the top, and objects where an answer is expected.
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert_answer(
        &typeform(&h, "application/json", arrays.as_bytes()).await,
        400,
        "nested arrays",
    );
    let answer = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let body = format!(r#"{{"event_id":"e-deep","form_response":{{"answers":[{answer}]}}}}"#);
    assert!(body.len() < MAX_BODY_BYTES * 4);
    let r = typeform(&h, "application/json", body.as_bytes()).await;
    // 100 000 levels is over 256 KiB: refused on size first. The same at a depth that fits.
    assert_answer(&r, 413, "nested objects over the limit");
    let depth = 20_000;
    let answer = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let body = format!(r#"{{"event_id":"e-deep","form_response":{{"answers":[{answer}]}}}}"#);
    assert!(body.len() <= MAX_BODY_BYTES);
    let r = typeform(&h, "application/json", body.as_bytes()).await;
    assert_answer(&r, 400, "nested objects");
    assert_eq!(h.footprint().await, (0, 0, 0));
}

#[tokio::test]
async fn a_huge_header_neither_breaks_verification_nor_the_answer() {
    let h = Harness::new();
    let body = typeform_body("e-hdr", "hdr@example.com");
    let huge = "A".repeat(1 << 20);
    let url = "https://leads.example.org/webhooks/typeform";

    // A megabyte of signature: refused as a bad signature.
    let forged = Headers::new(vec![
        ("Content-Type".into(), "application/json".into()),
        ("Typeform-Signature".into(), format!("sha256={huge}")),
    ]);
    let r = h
        .post("POST", "typeform", url, &forged, body.as_bytes())
        .await;
    assert_answer(&r, 401, "huge signature");

    // A megabyte of an unrelated header beside a good signature: accepted.
    let noisy = Headers::new(vec![
        ("X-Junk".into(), huge.clone()),
        ("Content-Type".into(), "application/json".into()),
        ("Typeform-Signature".into(), typeform_sig(body.as_bytes())),
    ]);
    let r = h
        .post("POST", "typeform", url, &noisy, body.as_bytes())
        .await;
    assert_answer(&r, 200, "huge unrelated header");

    // A megabyte of content type: not the provider's media type.
    let odd = Headers::new(vec![
        ("Content-Type".into(), format!("application/json{huge}")),
        ("Typeform-Signature".into(), typeform_sig(body.as_bytes())),
    ]);
    let r = h.post("POST", "typeform", url, &odd, body.as_bytes()).await;
    assert_answer(&r, 415, "huge content type");
    assert_eq!(h.leads().await.len(), 1);
}

#[tokio::test]
async fn a_body_of_exactly_256_kib_is_accepted_and_one_byte_more_is_413() {
    let h = Harness::new();
    let mut body = typeform_body("e-size", "size@example.com").into_bytes();
    // Trailing white space is valid JSON: pad to the limit exactly.
    body.resize(MAX_BODY_BYTES, b' ');
    assert_eq!(body.len(), 262_144);
    let r = typeform(&h, "application/json", &body).await;
    assert_answer(&r, 200, "exactly 256 KiB");

    let mut over = typeform_body("e-size-2", "size2@example.com").into_bytes();
    over.resize(MAX_BODY_BYTES + 1, b' ');
    let r = typeform(&h, "application/json", &over).await;
    assert_answer(&r, 413, "256 KiB + 1");
    assert_eq!(h.leads().await.len(), 1, "only the first one stored");
}

#[tokio::test]
async fn a_valid_signature_under_a_wrong_content_type_is_415_and_stores_nothing() {
    let h = Harness::new();
    let body = typeform_body("e-ct", "ct@example.com");
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "",
    ] {
        let r = typeform(&h, ct, body.as_bytes()).await;
        assert_answer(&r, 415, ct);
    }
    // No content type at all.
    let headers = Headers::new(vec![(
        "Typeform-Signature".into(),
        typeform_sig(body.as_bytes()),
    )]);
    let url = "https://leads.example.org/webhooks/typeform";
    let r = h
        .post("POST", "typeform", url, &headers, body.as_bytes())
        .await;
    assert_answer(&r, 415, "no content type");

    // A recorded multipart delivery sent as JSON, its URL token still right.
    let mut f = fixture("jotform/submission_normal.multipart");
    f.headers = Headers::new(vec![("Content-Type".into(), "application/json".into())]);
    assert_answer(&h.replay(&f).await, 415, "multipart sent as JSON");
    assert_eq!(h.footprint().await, (0, 0, 0));

    // Case and parameters of the right media type do not matter.
    let r = typeform(&h, "Application/JSON; charset=utf-8", body.as_bytes()).await;
    assert_answer(&r, 200, "media type with parameters");
}

#[tokio::test]
async fn other_methods_and_odd_paths_are_4xx() {
    let h = Harness::new();
    let body = typeform_body("e-m", "m@example.com");
    let headers = Headers::new(vec![
        ("Content-Type".into(), "application/json".into()),
        ("Typeform-Signature".into(), typeform_sig(body.as_bytes())),
    ]);
    let url = "https://leads.example.org/webhooks/typeform";
    for method in ["PUT", "DELETE", "GET", "PATCH"] {
        let r = h
            .post(method, "typeform", url, &headers, body.as_bytes())
            .await;
        assert_answer(&r, 405, method);
    }
    // Only the generic format takes a second segment, and only a plain name.
    let long_name = format!("generic/{}", "z".repeat(65));
    for provider in [
        "",
        "/",
        "../typeform",
        "TYPEFORM",
        "typeform\0",
        "typeform/extra",
        "typeform/",
        "generic/",
        "generic/a/b",
        "generic/a b",
        &long_name,
    ] {
        let r = h
            .post("POST", provider, url, &headers, body.as_bytes())
            .await;
        assert_answer(&r, 404, provider);
    }
    // Meta's handshake with nothing in the query.
    let r = h
        .post(
            "GET",
            "meta-leadgen",
            "https://leads.example.org/webhooks/meta-leadgen",
            &Headers::default(),
            b"",
        )
        .await;
    assert_answer(&r, 401, "empty handshake");
    assert_eq!(h.footprint().await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_delivery_twice_at_once_makes_exactly_one_lead() {
    for file in [
        "typeform/form_response_normal.json",
        "jotform/submission_normal.multipart",
        "hubspot/webhooks_batch_attempt0.json",
    ] {
        let h = Harness::new();
        let f = Arc::new(fixture(file));
        h.clock.set(f.received_at);
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (service, f, start) = (h.service.clone(), f.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    service
                        .handle(&WebhookRequest {
                            method: &f.method,
                            provider: &f.provider,
                            url: &f.url,
                            headers: &f.headers,
                            body: &f.body,
                        })
                        .await
                })
            })
            .collect();
        let mut bodies = Vec::new();
        for t in tasks {
            let r = t.await.expect("no panic");
            assert_answer(&r, 200, file);
            bodies.push(r.body);
        }
        // Per item, exactly one of the two deliveries did the work; a batch's items may be
        // split between them, so the answers' overall status can be "accepted" twice.
        let mut outcomes: std::collections::HashMap<String, Vec<String>> = Default::default();
        for body in &bodies {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            for item in v["items"].as_array().unwrap() {
                outcomes
                    .entry(item["key"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(item["outcome"].as_str().unwrap().to_owned());
            }
        }
        for (key, seen) in &outcomes {
            let done = seen.iter().filter(|o| *o != "duplicate").count();
            assert_eq!((seen.len(), done), (2, 1), "{file}: {key}: {seen:?}");
        }
        let (leads, activities, transitions) = h.footprint().await;
        assert_eq!((leads, transitions), (1, 1), "{file}: exactly one lead");
        assert_eq!(activities, 1, "{file}: exactly one activity");
    }
}

/// Regression: 16 different deliveries for one person at once got two 503s ("too many
/// concurrent updates"): each round of commits has one winner, and five attempts were too few
/// for the last of sixteen. All land now, on one lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_deliveries_for_one_person_at_once_all_land_on_one_lead() {
    let h = Arc::new(Harness::new());
    let start = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (h, start) = (h.clone(), start.clone());
            tokio::spawn(async move {
                let body = typeform_body(&format!("burst-{i}"), "same@corp.example");
                start.wait().await;
                typeform(&h, "application/json", body.as_bytes()).await
            })
        })
        .collect();

    for t in tasks {
        assert_answer(&t.await.expect("no panic"), 200, "a delivery of the burst");
    }
    let leads = h.leads().await;
    assert_eq!(leads.len(), 1);
    assert_eq!(h.activities().await.len(), 16);
}
