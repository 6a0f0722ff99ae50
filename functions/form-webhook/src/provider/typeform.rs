//! Typeform: `Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, body)>`, no timestamp.
//! Answers are in `form_response.answers[]`, each with its value under a key named by its
//! `type`; question titles come from `definition.fields[]`; UTM from `form_response.hidden`.
//! The delivery key is `event_id`.

use super::{json, Extracted, FieldKind, Incoming, Item, RawField};
use crate::{config::Secret, error::WebhookError, verify};
use serde_json::Value;

pub(crate) fn verify(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    let header = req
        .headers
        .get("typeform-signature")
        .ok_or(WebhookError::BadSignature)?;
    let sig = header
        .strip_prefix("sha256=")
        .ok_or(WebhookError::BadSignature)?;
    verify::check_base64(secret, &[req.body], sig)
}

/// Parses a Typeform delivery.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let v = json::object(body)?;
    let key = json::at(&v, "/event_id")
        .or_else(|| json::at(&v, "/form_response/token"))
        .ok_or_else(|| json::missing("event_id"))?;
    let resp = v.get("form_response").unwrap_or(&Value::Null);

    let mut e = Extracted::form(key);
    e.form_id = json::at(resp, "/form_id");
    e.form_name = json::at(resp, "/definition/title");
    e.occurred_at = json::at(resp, "/submitted_at").and_then(|t| json::time(&t));
    e.fields = answers(resp);
    if let Some(hidden) = resp.get("hidden").and_then(Value::as_object) {
        for (k, val) in hidden {
            if let Some(text) = json::text(val) {
                e.fields
                    .push(RawField::new(k.clone(), text).kind(FieldKind::Hidden));
            }
        }
    }
    Ok(vec![Item::Submission(Box::new(e))])
}

fn answers(resp: &Value) -> Vec<RawField> {
    let titles = resp.pointer("/definition/fields").and_then(Value::as_array);
    let title_of = |id: &str| {
        titles?
            .iter()
            .find(|f| f.get("id").and_then(Value::as_str) == Some(id))
            .and_then(|f| json::at(f, "/title"))
    };

    let list = resp.get("answers").and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .filter_map(|a| {
            let kind_name = a.get("type").and_then(Value::as_str)?;
            let value = answer_value(a, kind_name)?;
            let id = json::at(a, "/field/id").unwrap_or_default();
            let key = json::at(a, "/field/ref").unwrap_or_else(|| id.clone());
            let field_type = json::at(a, "/field/type").unwrap_or_default();
            let mut f = RawField::new(key, value).kind(kind_of(kind_name, &field_type));
            f.label = title_of(&id);
            Some(f)
        })
        .collect()
}

fn answer_value(a: &Value, kind: &str) -> Option<String> {
    match kind {
        "choice" => json::at(a, "/choice/label").or_else(|| json::at(a, "/choice/other")),
        "choices" => json::at(a, "/choices/labels"),
        "payment" => json::at(a, "/payment/amount"),
        _ => a.get(kind).and_then(json::text),
    }
}

fn kind_of(answer_type: &str, field_type: &str) -> FieldKind {
    match (answer_type, field_type) {
        ("email", _) => FieldKind::Email,
        ("phone_number", _) => FieldKind::Phone,
        (_, "long_text") => FieldKind::LongText,
        _ => FieldKind::Other,
    }
}
