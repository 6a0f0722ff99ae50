//! Opaque pagination cursors.
//!
//! A cursor is a small JSON value, base64url-encoded, so clients pass it back without looking
//! inside. A cursor that does not decode is the caller's mistake (400), never ours.

use crate::error::{ApiError, ApiResult};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{de::DeserializeOwned, Serialize};

/// Encodes a position as a cursor.
pub fn encode<T: Serialize>(position: &T) -> String {
    // Serialising plain data (strings, numbers) into JSON cannot fail.
    let json = serde_json::to_vec(position).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes the `cursor` query parameter, if any.
pub fn decode<T: DeserializeOwned>(raw: Option<&String>) -> ApiResult<Option<T>> {
    let Some(raw) = raw.map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::BadRequest("query parameter `cursor` is not a cursor we issued".into());
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map(Some).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let c = encode(&(Some("abc".to_owned()), 3usize));
        let back: Option<(Option<String>, usize)> = decode(Some(&c)).unwrap();
        assert_eq!(back, Some((Some("abc".to_owned()), 3)));
        assert!(decode::<(Option<String>, usize)>(Some(&"!!".to_owned())).is_err());
        assert!(decode::<(Option<String>, usize)>(Some(&"e30".to_owned())).is_err());
    }
}
