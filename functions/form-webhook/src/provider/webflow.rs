//! Webflow: `x-webflow-timestamp` (ms) and `x-webflow-signature` = hex HMAC-SHA256(secret,
//! `timestamp + ":" + body`), refused when more than five minutes away from now. Two shapes:
//! v2 `{triggerType, payload{name, data, id, formId, submittedAt}}` and v1 `{name, site, data,
//! d, _id}`. Values can be JSON numbers. The delivery key is `payload.id` / `_id`.

use super::{json, Extracted, Incoming, Item, RawField};
use crate::{config::Secret, error::WebhookError, verify};
use serde_json::Value;

/// Webflow's documented tolerance for the signature timestamp.
const TOLERANCE_SECS: i64 = 300;

pub(crate) fn verify(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    let ts = req
        .headers
        .get("x-webflow-timestamp")
        .ok_or(WebhookError::BadSignature)?;
    let sig = req
        .headers
        .get("x-webflow-signature")
        .ok_or(WebhookError::BadSignature)?;
    verify::check_hex(secret, &[ts.trim().as_bytes(), b":", req.body], sig)?;
    verify::check_fresh(verify::parse_epoch(ts, true)?, req.now, TOLERANCE_SECS)
}

/// Parses a Webflow delivery, either shape.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let v = json::object(body)?;
    let (form, key, form_id, at) = match v.get("payload") {
        Some(p) => (
            p,
            json::at(p, "/id"),
            json::at(p, "/formId"),
            "/submittedAt",
        ),
        None => (&v, json::at(&v, "/_id"), json::at(&v, "/site"), "/d"),
    };
    let key = key.ok_or_else(|| json::missing("payload.id or _id"))?;

    let mut e = Extracted::form(key);
    e.form_id = form_id;
    e.form_name = json::at(form, "/name");
    e.occurred_at = json::at(form, at).and_then(|t| json::time(&t));
    if let Some(data) = form.get("data").and_then(Value::as_object) {
        for (k, val) in data {
            if let Some(text) = json::text(val) {
                e.fields.push(RawField::new(k.clone(), text));
            }
        }
    }
    Ok(vec![Item::Submission(Box::new(e))])
}
