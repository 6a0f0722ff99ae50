//! Small helpers for reading provider JSON: values as text, times, and parse errors that never
//! quote the input.

use crate::{
    error::{ParseProblem, WebhookError},
    Timestamp,
};
use serde_json::Value;

/// Parses `body` as JSON.
pub(crate) fn parse(body: &[u8], what: &'static str) -> Result<Value, WebhookError> {
    serde_json::from_slice(body)
        .map_err(|e| WebhookError::Unparseable(ParseProblem::json(what, &e)))
}

/// Parses `body` as a JSON object.
pub(crate) fn object(body: &[u8]) -> Result<Value, WebhookError> {
    let v = parse(body, "JSON object")?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(WebhookError::Unparseable(ParseProblem::new("JSON object")))
    }
}

/// A scalar as text: strings as they are, numbers without losing digits, booleans as
/// `true`/`false`; lists joined with ", ". Null, objects and empty strings are absent.
pub(crate) fn text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => number(n),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(text).collect();
            parts.join(", ")
        }
        Value::Null | Value::Object(_) => return None,
    };
    (!s.trim().is_empty()).then_some(s)
}

/// A JSON number as text. Integers keep every digit (a phone sent as a number); floats print
/// without an exponent when they hold an integer.
fn number(n: &serde_json::Number) -> String {
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e17 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

/// The text at a JSON pointer.
pub(crate) fn at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer).and_then(text)
}

/// An RFC 3339 time (or `YYYY-MM-DD HH:MM:SS` in UTC, as Gravity Forms sends).
pub(crate) fn time(raw: &str) -> Option<Timestamp> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(t.to_utc());
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%z") {
        return Some(t.to_utc());
    }
    chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

/// A time given as Unix seconds or milliseconds.
pub(crate) fn epoch(v: &Value, millis: bool) -> Option<Timestamp> {
    let n = v.as_i64().or_else(|| v.as_str()?.parse().ok())?;
    if millis {
        chrono::DateTime::from_timestamp_millis(n)
    } else {
        chrono::DateTime::from_timestamp(n, 0)
    }
}

/// A missing required member, e.g. a delivery with no id at all.
pub(crate) fn missing(what: &'static str) -> WebhookError {
    WebhookError::Unparseable(ParseProblem::new(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_every_digit_and_empties_are_absent() {
        assert_eq!(text(&json!(15550100187u64)).as_deref(), Some("15550100187"));
        assert_eq!(text(&json!(15550100187.0)).as_deref(), Some("15550100187"));
        assert_eq!(text(&json!("")), None);
        assert_eq!(text(&json!(null)), None);
        assert_eq!(
            text(&json!(["EMEA", "APAC"])).as_deref(),
            Some("EMEA, APAC")
        );
    }

    #[test]
    fn times_in_the_shapes_providers_send() {
        let want = chrono::DateTime::from_timestamp(1741083312, 0).unwrap();
        assert_eq!(time("2025-03-04 10:15:12"), Some(want));
        assert_eq!(time("2025-03-04T10:15:12Z"), Some(want));
        assert_eq!(time("2025-03-04T10:15:12+0000"), Some(want));
    }
}
