//! HubSpot, two senders on one URL.
//!
//! * Workflow "Send webhook": the contact record (`vid`, `properties{name: {value}}`,
//!   `form-submissions[]` with the page URL). Key `vid` + the submission's `conversion-id`.
//! * Webhooks API: a JSON array of events (`eventId`, `subscriptionType`, `objectId`,
//!   `propertyName`/`propertyValue`). Key `eventId`, one item per event: an e-mail property
//!   change becomes a submission; other events carry no identity and are only claimed.
//!
//! Signatures: v3 (`X-HubSpot-Signature-v3` = base64 HMAC-SHA256(secret, method + URL + body +
//! timestamp), timestamp within five minutes) when present; otherwise the legacy
//! `X-HubSpot-Signature` (v1 = hex SHA-256(secret + body), v2 = hex SHA-256(secret + method +
//! URL + body)), which has no timestamp and so cannot refuse a replay; the dedupe key still
//! makes a replay change nothing.

use super::{json, Extracted, FieldKind, Incoming, Item, ProviderAttribution, RawField};
use crate::{config::Secret, error::WebhookError, verify};
use serde_json::Value;

/// HubSpot's documented maximum age of a v3 signature.
const TOLERANCE_SECS: i64 = 300;

pub(crate) fn verify(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    if let Some(v3) = req.headers.get("x-hubspot-signature-v3") {
        let ts = req
            .headers
            .get("x-hubspot-request-timestamp")
            .ok_or(WebhookError::BadSignature)?
            .trim();
        let url = v3_uri(req.url);
        let parts: [&[u8]; 4] = [
            req.method.as_bytes(),
            url.as_bytes(),
            req.body,
            ts.as_bytes(),
        ];
        verify::check_base64(secret, &parts, v3)?;
        return verify::check_fresh(verify::parse_epoch(ts, true)?, req.now, TOLERANCE_SECS);
    }

    let legacy = req
        .headers
        .get("x-hubspot-signature")
        .ok_or(WebhookError::BadSignature)?;
    let s = secret.expose().as_bytes();
    match req
        .headers
        .get("x-hubspot-signature-version")
        .map(str::trim)
    {
        Some("v2") => verify::check_sha256_hex(
            &[s, req.method.as_bytes(), req.url.as_bytes(), req.body],
            legacy,
        ),
        _ => verify::check_sha256_hex(&[s, req.body], legacy),
    }
}

/// The URL as HubSpot signs it for v3: the escapes of `: / ? @ ! $ ' ( ) * , ;` decoded (its
/// documented list, matched without regard to the hex digits' case), every other escape kept.
fn v3_uri(url: &str) -> std::borrow::Cow<'_, str> {
    const DECODED: &[u8] = b":/?@!$'()*,;";
    if !url.contains('%') {
        return url.into();
    }
    let bytes = url.as_bytes();
    let mut out = String::with_capacity(url.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok())
            .filter(|b| DECODED.contains(b));
        match escaped {
            Some(b) => {
                out.push(char::from(b));
                i += 3;
            }
            None => {
                // `url` is valid UTF-8 and only ASCII escapes are replaced, so copying up to the
                // next `%` keeps every character whole.
                let next = url[i + 1..].find('%').map_or(url.len(), |n| i + 1 + n);
                out.push_str(&url[i..next]);
                i = next;
            }
        }
    }
    out.into()
}

/// Parses either HubSpot shape.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    match json::parse(body, "JSON object or array")? {
        Value::Array(events) => Ok(events.iter().filter_map(event).collect()),
        record @ Value::Object(_) => Ok(vec![contact(&record)?]),
        _ => Err(json::missing("JSON object or array")),
    }
}

fn contact(v: &Value) -> Result<Item, WebhookError> {
    let vid = json::at(v, "/vid").ok_or_else(|| json::missing("vid"))?;
    let submission = v
        .get("form-submissions")
        .and_then(Value::as_array)
        .and_then(|s| s.first());
    let prop = |name: &str| json::at(v, &format!("/properties/{name}/value"));
    let conversion = submission
        .and_then(|s| json::at(s, "/conversion-id"))
        .or_else(|| prop("lastmodifieddate"))
        .unwrap_or_default();

    let mut e = Extracted::form(format!("{vid}:{conversion}"));
    if let Some(s) = submission {
        e.form_id = json::at(s, "/form-id");
        e.form_name = json::at(s, "/title");
        e.page_url = json::at(s, "/page-url");
        e.occurred_at = s.get("timestamp").and_then(|t| json::epoch(t, true));
    }
    e.attribution = ProviderAttribution {
        source: prop("hs_analytics_source_data_1"),
        medium: prop("hs_analytics_source"),
        campaign: None,
    };
    if let Some(props) = v.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            if let Some(text) = p.get("value").and_then(json::text) {
                e.fields.push(RawField::new(name.clone(), text));
            }
        }
    }
    Ok(Item::Submission(Box::new(e)))
}

fn event(ev: &Value) -> Option<Item> {
    let key = json::at(ev, "/eventId")?;
    let is_email_change = json::at(ev, "/subscriptionType").as_deref()
        == Some("contact.propertyChange")
        && json::at(ev, "/propertyName").as_deref() == Some("email");
    let email = json::at(ev, "/propertyValue").filter(|_| is_email_change);
    let Some(email) = email else {
        return Some(Item::Ignored {
            delivery_key: key,
            reason: "event carries no e-mail; details need a CRM read",
        });
    };

    let mut e = Extracted::form(key);
    e.form_id = json::at(ev, "/sourceId");
    e.occurred_at = ev.get("occurredAt").and_then(|t| json::epoch(t, true));
    e.fields
        .push(RawField::new("email", email).kind(FieldKind::Email));
    if let Some(object) = json::at(ev, "/objectId") {
        e.fields.push(RawField::new("hubspot_object_id", object));
    }
    Some(Item::Submission(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::v3_uri;

    #[test]
    fn v3_decodes_only_the_documented_escapes() {
        assert_eq!(
            v3_uri("https://h.example/webhooks/hubspot?a=b%3Ac%2fd%40e%20f%25g%3B"),
            "https://h.example/webhooks/hubspot?a=b:c/d@e%20f%25g;"
        );
        assert_eq!(
            v3_uri("https://h.example/x?q=%E2%82%AC%2"),
            "https://h.example/x?q=%E2%82%AC%2"
        );
        assert_eq!(v3_uri("https://h.example/é%21"), "https://h.example/é!");
        assert_eq!(v3_uri("%"), "%");
    }
}
