//! Google Forms through an Apps Script (no native webhook). The script is ours, so the shape is
//! a project convention: `{formId, formTitle, responseId, timestamp, respondentEmail,
//! answers{<question title>: value}}`, signed `X-Webhook-Signature: sha256=<hex HMAC-SHA256>`.
//! The delivery key is `responseId`.

use super::{json, Extracted, FieldKind, Incoming, Item, RawField};
use crate::{config::Secret, error::WebhookError, verify};
use serde_json::Value;

pub(crate) fn verify(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    let header = req
        .headers
        .get("x-webhook-signature")
        .ok_or(WebhookError::BadSignature)?;
    let sig = header
        .strip_prefix("sha256=")
        .ok_or(WebhookError::BadSignature)?;
    verify::check_hex(secret, &[req.body], sig)
}

/// Parses an Apps Script delivery.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let v = json::object(body)?;
    let key = json::at(&v, "/responseId").ok_or_else(|| json::missing("responseId"))?;

    let mut e = Extracted::form(key);
    e.form_id = json::at(&v, "/formId");
    e.form_name = json::at(&v, "/formTitle");
    e.occurred_at = json::at(&v, "/timestamp").and_then(|t| json::time(&t));
    if let Some(email) = json::at(&v, "/respondentEmail") {
        e.fields
            .push(RawField::new("respondentEmail", email).kind(FieldKind::Email));
    }
    for (title, val) in v
        .get("answers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(text) = json::text(val) {
            e.fields
                .push(RawField::new(title.clone(), text).label(title.clone()));
        }
    }
    Ok(vec![Item::Submission(Box::new(e))])
}
