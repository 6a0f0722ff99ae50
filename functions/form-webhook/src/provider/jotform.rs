//! Jotform: `multipart/form-data`, unsigned (the shared secret is the URL's `?token=`). The
//! answers are the `rawRequest` part, a JSON string keyed `q<N>_<name>`: names arrive as
//! `{first, last}`, phones as `{full}` (or `{area, phone}`). The delivery key is
//! `submissionID`.

use super::{json, Extracted, FieldKind, Headers, Item, RawField};
use crate::error::{ParseProblem, WebhookError};
use serde_json::Value;
use std::collections::HashMap;

/// Parses a Jotform delivery.
pub fn parse(headers: &Headers, body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let parts = multipart(headers, body)?;
    let key = parts
        .get("submissionID")
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| json::missing("submissionID part"))?;

    let mut e = Extracted::form(key.trim());
    e.form_id = parts.get("formID").map(|s| s.trim().to_owned());
    e.form_name = parts.get("formTitle").map(|s| s.trim().to_owned());
    let raw = parts
        .get("rawRequest")
        .ok_or_else(|| json::missing("rawRequest part"))?;
    let answers = json::object(raw.as_bytes())?;
    if let Some(map) = answers.as_object() {
        for (k, v) in map {
            push_answer(&mut e.fields, k, v);
        }
    }
    Ok(vec![Item::Submission(Box::new(e))])
}

/// Reads the text parts of a multipart body into a map (last one wins).
fn multipart(headers: &Headers, body: &[u8]) -> Result<HashMap<String, String>, WebhookError> {
    let bad = || WebhookError::Unparseable(ParseProblem::new("multipart/form-data body"));
    let content_type = headers.get("content-type").ok_or_else(bad)?;
    let boundary = multer::parse_boundary(content_type).map_err(|_| bad())?;
    let bytes = bytes::Bytes::copy_from_slice(body);
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut mp = multer::Multipart::new(stream, boundary);

    let read_all = async {
        let mut parts = HashMap::new();
        while let Some(field) = mp.next_field().await? {
            let name = field.name().unwrap_or_default().to_owned();
            let text = field.text().await?;
            parts.insert(name, text);
        }
        Ok::<_, multer::Error>(parts)
    };
    crate::sync::run_ready(read_all)
        .ok_or_else(bad)?
        .map_err(|_| bad())
}

/// Adds one `rawRequest` answer. Jotform's own bookkeeping keys (no `q<N>_` prefix) are
/// skipped.
fn push_answer(fields: &mut Vec<RawField>, key: &str, v: &Value) {
    let Some(name) = question_name(key) else {
        return;
    };
    match v {
        Value::Object(map) => {
            if let Some(full) = map.get("full").and_then(json::text) {
                fields.push(RawField::new(name, full).kind(FieldKind::Phone));
            } else if map.contains_key("first") || map.contains_key("last") {
                if let Some(first) = map.get("first").and_then(json::text) {
                    fields.push(RawField::new("first_name", first).label(name));
                }
                if let Some(last) = map.get("last").and_then(json::text) {
                    fields.push(RawField::new("last_name", last).label(name));
                }
            } else if let (Some(area), Some(phone)) = (
                map.get("area").and_then(json::text),
                map.get("phone").and_then(json::text),
            ) {
                fields.push(RawField::new(name, format!("{area} {phone}")).kind(FieldKind::Phone));
            }
        }
        other => {
            if let Some(text) = json::text(other) {
                fields.push(RawField::new(name, text));
            }
        }
    }
}

/// `q4_email` → `email`; keys without the `q<N>_` prefix are not answers.
fn question_name(key: &str) -> Option<&str> {
    let rest = key.strip_prefix('q')?;
    let (digits, name) = rest.split_once('_')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty())
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_keys_lose_their_number() {
        assert_eq!(question_name("q4_email"), Some("email"));
        assert_eq!(question_name("q11_utm_campaign"), Some("utm_campaign"));
        assert_eq!(question_name("slug"), None);
        assert_eq!(question_name("q_x"), None);
    }

    #[test]
    fn a_body_without_boundary_is_a_parse_error() {
        let h = Headers::new(vec![("Content-Type".into(), "multipart/form-data".into())]);
        assert!(matches!(
            parse(&h, b"whatever"),
            Err(WebhookError::Unparseable(_))
        ));
    }
}
