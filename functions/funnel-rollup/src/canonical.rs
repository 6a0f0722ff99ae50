//! Canonical JSON: the one byte form a snapshot is hashed and compared in.
//!
//! The JSON Canonicalization Scheme (RFC 8785, through `serde_json_canonicalizer`): object
//! keys in sorted order whatever map type built the value, no whitespace, and every number in
//! its shortest form that reads back as the same `f64`. Two runs that compute the same figures
//! therefore produce the same bytes, and a stored snapshot, read back from any store (whose
//! JSON keeps each `f64` exactly), canonicalises to the same bytes and hashes the same.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The canonical text of `value`.
pub fn to_string(value: &Value) -> String {
    // A `Value` holds only finite numbers and string keys, which is all JCS needs.
    serde_json_canonicalizer::to_string(value).expect("a JSON value always canonicalises")
}

/// The SHA-256 of the canonical text, as lower-case hex.
pub fn hash(value: &Value) -> String {
    hex::encode(Sha256::digest(to_string(value).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_numbers_are_shortest() {
        let value = json!({"b": [1, 0.5, -2], "a": {"z": null, "y": "é\n"}, "c": 1.0, "d": 1e21});

        assert_eq!(
            to_string(&value),
            r#"{"a":{"y":"é\n","z":null},"b":[1,0.5,-2],"c":1,"d":1e+21}"#
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
