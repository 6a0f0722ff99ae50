//! Canonical JSON: the one byte form a snapshot is hashed and compared in.
//!
//! Object keys are written in sorted order whatever map type built the value, there is no
//! whitespace, and every non-integer number is written with exactly six decimals. Two runs that
//! compute the same figures therefore produce the same bytes, and a stored snapshot can be
//! re-canonicalised after a round trip through any store and still hash the same.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The canonical text of `value`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value);
    out
}

/// The SHA-256 of the canonical text, as lower-case hex.
pub fn hash(value: &Value) -> String {
    hex::encode(Sha256::digest(to_string(value).as_bytes()))
}

fn write(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number(out, n),
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, key);
                out.push(':');
                write(out, &map[key]);
            }
            out.push('}');
        }
    }
}

fn number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else {
        // A JSON number that is neither i64 nor u64 is a finite f64.
        let f = n.as_f64().unwrap_or_default();
        let _ = write!(out, "{f:.6}");
    }
}

fn string(out: &mut String, s: &str) {
    // serde_json's string escaping is already canonical (the shortest escapes).
    out.push_str(&Value::String(s.to_owned()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_floats_have_six_decimals() {
        let value = json!({"b": [1, 0.5, -2], "a": {"z": null, "y": "é\n"}, "c": 1.0});

        assert_eq!(
            to_string(&value),
            r#"{"a":{"y":"é\n","z":null},"b":[1,0.500000,-2],"c":1.000000}"#
        );
    }

    #[test]
    fn a_round_trip_through_text_keeps_the_bytes() {
        let value = json!({"rate": 1.0 / 3.0, "n": 7});
        let first = to_string(&value);

        let reparsed: Value = serde_json::from_str(&first).unwrap();

        assert_eq!(to_string(&reparsed), first);
        assert_eq!(hash(&reparsed), hash(&value));
        assert_eq!(hash(&value).len(), 64);
    }
}
