//! How values are written to and read from columns: times as sortable text, bodies as JSON
//! text, and page cursors as opaque tokens.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use lifecycle::Timestamp;
use ports::{StoreError, MAX_PAGE};
use serde::{de::DeserializeOwned, Serialize};

/// A time as fixed-width RFC 3339 text (`2030-01-01T00:00:00.000000000Z`): comparing the text
/// compares the times, so SQL can filter and sort on it.
pub(crate) fn time(t: Timestamp) -> String {
    // Text sorts like time only for four-digit years; a query bound such as
    // `DateTime::MAX_UTC` ("+262142-…") would otherwise sort before every stored time.
    t.clamp(earliest(), latest())
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn earliest() -> Timestamp {
    chrono::DateTime::parse_from_rfc3339("0000-01-01T00:00:00Z")
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

fn latest() -> Timestamp {
    chrono::DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999999999Z")
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

/// A time read back from a column written by [`time`]; `key` names the row in the error.
pub(crate) fn parse_time(key: &str, text: &str) -> Result<Timestamp, StoreError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| StoreError::Corrupt {
            key: key.to_owned(),
            source: Box::new(e),
        })
}

/// A value as JSON text. Our types always serialise; a failure is a bug worth a clear error.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(format!("unserialisable: {e}")))
}

/// A stored body, decoded; `key` names the row in the error (ids only).
pub(crate) fn from_json<T: DeserializeOwned>(key: &str, body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        source: Box::new(e),
    })
}

/// Checks a caller's page size and caps it at [`MAX_PAGE`].
pub(crate) fn page_limit(limit: usize) -> Result<usize, StoreError> {
    match limit {
        0 => Err(StoreError::Invalid("page limit must be at least 1".into())),
        n => Ok(n.min(MAX_PAGE)),
    }
}

/// A cursor: the sort key of the last item returned, as URL-safe base64 of a JSON array.
/// Opaque to callers; only this store reads it back.
pub(crate) fn cursor<T: Serialize>(last_key: &T) -> Result<String, StoreError> {
    Ok(URL_SAFE_NO_PAD.encode(to_json(last_key)?))
}

/// The sort key a cursor holds; a cursor that was not made by [`cursor`] is refused.
pub(crate) fn parse_cursor<T: DeserializeOwned>(cursor: &str) -> Result<T, StoreError> {
    let malformed = || StoreError::Invalid("malformed page cursor".into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_bounds_still_sort_around_real_times() {
        let now = chrono::DateTime::from_timestamp(1_893_456_000, 0).unwrap();
        assert!(time(chrono::DateTime::<chrono::Utc>::MIN_UTC) < time(now));
        assert!(time(chrono::DateTime::<chrono::Utc>::MAX_UTC) > time(now));
    }

    #[test]
    fn time_text_is_fixed_width_and_sorts_like_time() {
        let early = chrono::DateTime::from_timestamp(1_893_456_000, 5).unwrap();
        let late = chrono::DateTime::from_timestamp(1_893_456_001, 0).unwrap();
        assert_eq!(time(early), "2030-01-01T00:00:00.000000005Z");
        assert_eq!(time(late), "2030-01-01T00:00:01.000000000Z");
        assert!(time(early) < time(late));
    }

    #[test]
    fn cursor_round_trips_and_garbage_is_refused() {
        let key = (
            "2030-01-01T00:00:00.000000000Z".to_owned(),
            "lead-1".to_owned(),
            3u32,
        );
        let token = cursor(&key).unwrap();
        assert_eq!(parse_cursor::<(String, String, u32)>(&token).unwrap(), key);
        assert!(matches!(
            parse_cursor::<(String, String, u32)>("not a cursor!"),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn limit_is_capped_and_zero_refused() {
        assert_eq!(page_limit(5).unwrap(), 5);
        assert_eq!(page_limit(1_000_000).unwrap(), MAX_PAGE);
        assert!(page_limit(0).is_err());
    }
}
