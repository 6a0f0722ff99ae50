//! The generic format for Zapier and Make: a flat, project-defined JSON object (nested objects
//! are read leaf by leaf, each leaf's name being its key). The Zap or scenario sends
//! `X-Webhook-Token` and, when it can compute one, `X-Webhook-Signature: sha256=<hex
//! HMAC-SHA256(secret, body)>`; a signature that is present must verify, else the token must
//! match. The delivery key is `event_id`, else a digest of the body (a redelivery of the same
//! bytes is then still recognised).

use super::{digest_key, json, Extracted, FieldKind, Incoming, Item, RawField};
use crate::{config::Secret, error::WebhookError, verify};
use serde_json::{Map, Value};

pub(crate) fn verify(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    match req.headers.get("x-webhook-signature") {
        Some(header) => {
            let sig = header
                .strip_prefix("sha256=")
                .ok_or(WebhookError::BadSignature)?;
            verify::check_hex(secret, &[req.body], sig)
        }
        None => super::header_token(req, secret),
    }
}

/// Parses a generic delivery. `path` is the URL's provider segment (`generic/<name>`).
pub fn parse(path: &str, body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let v = json::object(body)?;
    let key = json::at(&v, "/event_id").unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        format!("body:{}", digest_key(&[&text]))
    });

    let mut e = Extracted::form(key);
    e.form_id =
        json::at(&v, "/form_id").or_else(|| path.split_once('/').map(|(_, n)| n.to_owned()));
    e.form_name = json::at(&v, "/form_name");
    e.occurred_at = json::at(&v, "/submitted_at").and_then(|t| json::time(&t));
    e.page_url = json::at(&v, "/page_url");
    if let Some(map) = v.as_object() {
        leaves(map, 0, &mut e.fields);
    }
    Ok(vec![Item::Submission(Box::new(e))])
}

/// Bookkeeping members that are not answers.
const NOT_ANSWERS: [&str; 6] = [
    "event_id",
    "form_id",
    "form_name",
    "submitted_at",
    "source",
    "page_url",
];

/// Nesting deeper than this is not a lead's answers; it is ignored rather than recursed into.
const MAX_DEPTH: usize = 4;

fn leaves(map: &Map<String, Value>, depth: usize, out: &mut Vec<RawField>) {
    for (k, v) in map {
        match v {
            Value::Object(inner) if depth < MAX_DEPTH => leaves(inner, depth + 1, out),
            _ if depth == 0 && NOT_ANSWERS.contains(&k.as_str()) => {}
            other => {
                if let Some(text) = json::text(other) {
                    let kind = if k == "email" {
                        FieldKind::Email
                    } else {
                        FieldKind::Other
                    };
                    out.push(RawField::new(k.clone(), text).kind(kind));
                }
            }
        }
    }
}
