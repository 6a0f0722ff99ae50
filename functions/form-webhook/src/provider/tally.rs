//! Tally: `Tally-Signature: <base64 HMAC-SHA256(secret, body)>`, no timestamp. Answers are
//! `data.fields[] {key, label, type, value}`; choice values are option ids resolved through
//! `options[]`. The delivery key is `data.submissionId` (one per response), else `eventId`.

use super::{json, Extracted, FieldKind, Incoming, Item, RawField};
use crate::{config::Secret, error::WebhookError, verify};
use serde_json::Value;

pub(crate) fn verify(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    let sig = req
        .headers
        .get("tally-signature")
        .ok_or(WebhookError::BadSignature)?;
    verify::check_base64(secret, &[req.body], sig)
}

/// Parses a Tally delivery.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let v = json::object(body)?;
    let data = v.get("data").unwrap_or(&Value::Null);
    let key = json::at(data, "/submissionId")
        .or_else(|| json::at(data, "/responseId"))
        .or_else(|| json::at(&v, "/eventId"))
        .ok_or_else(|| json::missing("data.submissionId"))?;

    let mut e = Extracted::form(key);
    e.form_id = json::at(data, "/formId");
    e.form_name = json::at(data, "/formName");
    e.occurred_at = json::at(data, "/createdAt").and_then(|t| json::time(&t));
    let fields = data.get("fields").and_then(Value::as_array);
    e.fields = fields.into_iter().flatten().filter_map(field).collect();
    Ok(vec![Item::Submission(Box::new(e))])
}

fn field(f: &Value) -> Option<RawField> {
    let key = json::at(f, "/key")?;
    let kind_name = json::at(f, "/type").unwrap_or_default();
    let value = match f.get("options").and_then(Value::as_array) {
        Some(options) => resolve_options(f.get("value")?, options)?,
        None => json::text(f.get("value")?)?,
    };
    let kind = match kind_name.as_str() {
        "INPUT_EMAIL" => FieldKind::Email,
        "INPUT_PHONE_NUMBER" => FieldKind::Phone,
        "HIDDEN_FIELDS" => FieldKind::Hidden,
        "TEXTAREA" => FieldKind::LongText,
        _ => FieldKind::Other,
    };
    let mut raw = RawField::new(key, value).kind(kind);
    raw.label = json::at(f, "/label");
    Some(raw)
}

/// Choice answers name option ids; the text is what the person picked.
fn resolve_options(value: &Value, options: &[Value]) -> Option<String> {
    let text_of = |id: &Value| {
        options
            .iter()
            .find(|o| o.get("id") == Some(id))
            .and_then(|o| json::at(o, "/text"))
            .or_else(|| json::text(id))
    };
    let picked: Vec<String> = match value {
        Value::Array(ids) => ids.iter().filter_map(text_of).collect(),
        other => text_of(other).into_iter().collect(),
    };
    (!picked.is_empty()).then(|| picked.join(", "))
}
