//! Signature checks shared by the providers.
//!
//! Every check runs on the raw request bytes, before anything is parsed, and every comparison of
//! a secret-derived value is constant-time (`subtle`, or `hmac`'s own `verify_slice`), so the
//! time an answer takes says nothing about how much of a forged signature was right.

use crate::{config::Secret, error::WebhookError as Rejection, Timestamp};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of the concatenation of `parts`, keyed with `secret`.
pub(crate) fn hmac_sha256(secret: &Secret, parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Checks a hex-encoded HMAC-SHA256 over `parts`.
pub(crate) fn check_hex(
    secret: &Secret,
    parts: &[&[u8]],
    given_hex: &str,
) -> Result<(), Rejection> {
    let given = hex::decode(given_hex.trim()).map_err(|_| Rejection::BadSignature)?;
    hmac_sha256(secret, parts)
        .verify_slice(&given)
        .map_err(|_| Rejection::BadSignature)
}

/// Checks a base64-encoded HMAC-SHA256 over `parts`.
pub(crate) fn check_base64(
    secret: &Secret,
    parts: &[&[u8]],
    given_b64: &str,
) -> Result<(), Rejection> {
    let given = B64
        .decode(given_b64.trim())
        .map_err(|_| Rejection::BadSignature)?;
    hmac_sha256(secret, parts)
        .verify_slice(&given)
        .map_err(|_| Rejection::BadSignature)
}

/// Compares a token sent by a provider that cannot sign with the configured secret.
pub(crate) fn check_token(secret: &Secret, given: &str) -> Result<(), Rejection> {
    let same: bool = secret.expose().as_bytes().ct_eq(given.as_bytes()).into();
    if same {
        Ok(())
    } else {
        Err(Rejection::BadSignature)
    }
}

/// Checks a plain SHA-256 digest (HubSpot's legacy v1/v2 signatures hash `secret + …`).
pub(crate) fn check_sha256_hex(parts: &[&[u8]], given_hex: &str) -> Result<(), Rejection> {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    let expected = h.finalize();
    let given = hex::decode(given_hex.trim()).map_err(|_| Rejection::BadSignature)?;
    let same: bool = expected.as_slice().ct_eq(&given).into();
    if same {
        Ok(())
    } else {
        Err(Rejection::BadSignature)
    }
}

/// Hex SHA-256 of `bytes` (Netlify's JWS carries the body's digest).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Refuses a signature timestamp further than `tolerance_secs` from `now`, either way.
pub(crate) fn check_fresh(
    signed_at_secs: i64,
    now: Timestamp,
    tolerance_secs: i64,
) -> Result<(), Rejection> {
    // abs_diff: a sender's timestamp may be any i64, and a subtraction could overflow.
    let skew = now.timestamp().abs_diff(signed_at_secs);
    if skew <= tolerance_secs.unsigned_abs() {
        Ok(())
    } else {
        Err(Rejection::Stale)
    }
}

/// Parses a timestamp header given in seconds or milliseconds.
pub(crate) fn parse_epoch(raw: &str, millis: bool) -> Result<i64, Rejection> {
    let n: i64 = raw.trim().parse().map_err(|_| Rejection::BadSignature)?;
    Ok(if millis { n.div_euclid(1000) } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("test-secret")
    }

    #[test]
    fn hex_hmac_accepts_the_right_digest_only() {
        // Independent value: Python `hmac.new(b"test-secret", b"abc", sha256).hexdigest()`.
        let python = "e4c4dadd6571f81a7b019d216db1ef3877b0c88faabc56a66f8897ee32857593";
        assert!(check_hex(&secret(), &[b"a", b"bc"], python).is_ok());
        let mac = hex::encode(
            hmac_sha256(&secret(), &[b"a", b"bc"])
                .finalize()
                .into_bytes(),
        );
        assert!(check_hex(&secret(), &[b"abc"], &mac).is_ok());
        assert!(check_hex(&secret(), &[b"abd"], &mac).is_err());
        assert!(check_hex(&secret(), &[b"abc"], "zz").is_err());
    }

    #[test]
    fn token_comparison_needs_an_exact_match() {
        assert!(check_token(&secret(), "test-secret").is_ok());
        assert!(check_token(&secret(), "test-secre").is_err());
        assert!(check_token(&secret(), "").is_err());
    }

    #[test]
    fn freshness_is_symmetric() {
        let now = chrono::DateTime::from_timestamp(1_000_000, 0).unwrap();
        assert!(check_fresh(1_000_000 - 180, now, 180).is_ok());
        assert!(check_fresh(1_000_000 + 180, now, 180).is_ok());
        assert_eq!(
            check_fresh(1_000_000 - 181, now, 180),
            Err(Rejection::Stale)
        );
    }

    #[test]
    fn a_timestamp_at_the_ends_of_i64_is_stale_not_a_panic() {
        let now = chrono::DateTime::from_timestamp(1_000_000, 0).unwrap();
        for t in [i64::MIN, i64::MIN + 1, i64::MAX] {
            assert_eq!(check_fresh(t, now, 180), Err(Rejection::Stale), "{t}");
        }
        assert_eq!(
            parse_epoch("-9223372036854775808", true),
            Ok(i64::MIN.div_euclid(1000))
        );
    }
}
