//! jsonwebtoken's cryptography for the one algorithm the webhooks need: HS256, Netlify's.
//!
//! jsonwebtoken takes its cryptography from a process-wide `CryptoProvider`. The crate's own
//! providers (features `aws_lc_rs` and `rust_crypto`) each hold a factory for every algorithm
//! it knows, so all of them are linked into any binary that verifies one token: with aws-lc
//! that was the whole C library, curve tables included, about a megabyte of each bootstrap
//! that links the webhook, for one HMAC. This provider signs and verifies HS256 with the `hmac`
//! and `sha2` crates that every other provider's signature check already uses, and answers any
//! other algorithm with `InvalidAlgorithm`, which the Netlify check reads as a bad signature.

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{
    crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier},
    errors::{ErrorKind, Result},
    signature::{self, Signer, Verifier},
    Algorithm, DecodingKey, EncodingKey,
};
use sha2::Sha256;
use std::sync::Once;

/// HS256 and nothing else. No JWK support: the webhooks read no key sets.
static HS256_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes [`HS256_ONLY`] the process's provider, on first call. A provider installed earlier by
/// another user of jsonwebtoken in the same process is left in place.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = HS256_ONLY.install_default();
    });
}

/// An HMAC-SHA256 keyed with the token secret.
struct Hs256(Hmac<Sha256>);

impl Hs256 {
    fn new(secret: &[u8]) -> Result<Self> {
        let mac =
            Hmac::<Sha256>::new_from_slice(secret).map_err(|_| ErrorKind::InvalidKeyFormat)?;
        Ok(Self(mac))
    }
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self
            .0
            .clone()
            .chain_update(message)
            .finalize()
            .into_bytes()
            .to_vec())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    /// Constant-time: `verify_slice` compares the tags without an early exit.
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        self.0
            .clone()
            .chain_update(message)
            .verify_slice(tag)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if *algorithm != Algorithm::HS256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(Hs256::new(key.try_get_hmac_secret()?)?))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::HS256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(Hs256::new(key.try_get_hmac_secret()?)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, encode, Header, Validation};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        iss: String,
        sha256: String,
    }

    /// Signed outside this code: Python's `hmac` over the base64url header and claims
    /// `{"alg":"HS256","typ":"JWT"}` and `{"iss":"netlify","sha256":"abc"}`, key `test-secret`.
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
        eyJpc3MiOiJuZXRsaWZ5Iiwic2hhMjU2IjoiYWJjIn0.\
        6-plhHfNktII9iqCJDi4oi3J9Zp129Yns9BzWO5MqnM";

    fn validation() -> Validation {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation
    }

    fn read(token: &str, secret: &[u8]) -> Result<Claims> {
        install();
        decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation()).map(|t| t.claims)
    }

    #[test]
    fn verifies_a_token_signed_elsewhere() {
        let claims = read(TOKEN, b"test-secret").expect("valid token");
        assert_eq!(claims.iss, "netlify");
        assert_eq!(claims.sha256, "abc");
    }

    #[test]
    fn refuses_a_wrong_secret_or_a_changed_signature() {
        assert!(read(TOKEN, b"other-secret").is_err());

        // The signature's first character changed: six bits of the tag.
        let tampered = TOKEN.replace(".6-pl", ".7-pl");
        assert_ne!(tampered, TOKEN);
        assert!(read(&tampered, b"test-secret").is_err());
    }

    #[test]
    fn signs_what_it_verifies_and_nothing_but_hs256() {
        install();
        let claims = Claims {
            iss: "netlify".into(),
            sha256: "abc".into(),
        };
        let key = EncodingKey::from_secret(b"test-secret");
        let token = encode(&Header::new(Algorithm::HS256), &claims, &key).expect("HS256 signs");
        assert_eq!(read(&token, b"test-secret").expect("round trip"), claims);

        let refused = encode(&Header::new(Algorithm::HS512), &claims, &key);
        assert!(matches!(
            refused.map_err(|e| e.into_kind()),
            Err(ErrorKind::InvalidAlgorithm)
        ));
    }

    // Hostile tokens: each constant was signed outside this crate, with Python's `hmac`.
    // Tokens signed with Python's hmac (key `test-secret` unless said), claims as in TOKEN.

    const HS384: &str = "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJuZXRsaWZ5Iiwic2hhMjU2IjoiYWJjIn0.d9eDzjUNrXtXzEg-j2bugSbMlq9x6ZdO8Y1caA9aB1sSnhngZJz5Xvbe6Iz_U85G";
    const HS512: &str = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJuZXRsaWZ5Iiwic2hhMjU2IjoiYWJjIn0.s6ShHZYK9RqEI0gG9QvDBcHUu9FYrKlNVEuwnp3X4GMjeHMr-S5GSsP3MNIB1SB5QAwLURTPCTyW8ZQ1G73yFg";
    /// Header says RS256, signature is HMAC-SHA256 with the secret (the classic confusion).
    const RS256_HMAC: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJuZXRsaWZ5Iiwic2hhMjU2IjoiYWJjIn0.sIquT1cPI7wedaeLOcSKuCTuDZMNYakeqVqx6SioZEw";
    const NONE: &str =
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJuZXRsaWZ5Iiwic2hhMjU2IjoiYWJjIn0.";
    /// Claims `sha256: "abd"` under TOKEN's signature.
    const TAMPERED: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJuZXRsaWZ5Iiwic2hhMjU2IjoiYWJkIn0.6-plhHfNktII9iqCJDi4oi3J9Zp129Yns9BzWO5MqnM";
    /// TOKEN signed with the empty key.
    const EMPTY_KEY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJuZXRsaWZ5Iiwic2hhMjU2IjoiYWJjIn0.6tEWB0gaui10p995HOKbcMMNtZYZJEzW7hw6xag_8YI";

    fn kind(token: &str, secret: &[u8]) -> ErrorKind {
        read(token, secret).expect_err(token).into_kind()
    }

    #[test]
    fn other_algorithms_never_verify() {
        assert!(matches!(
            kind(HS384, b"test-secret"),
            ErrorKind::InvalidAlgorithm
        ));
        assert!(matches!(
            kind(HS512, b"test-secret"),
            ErrorKind::InvalidAlgorithm
        ));
        assert!(matches!(
            kind(RS256_HMAC, b"test-secret"),
            ErrorKind::InvalidAlgorithm
        ));
        // "none" is no jsonwebtoken Algorithm: the header does not parse.
        assert!(read(NONE, b"test-secret").is_err());
        assert!(read(NONE, b"").is_err());
    }

    #[test]
    fn a_tampered_payload_does_not_verify() {
        assert!(matches!(
            kind(TAMPERED, b"test-secret"),
            ErrorKind::InvalidSignature
        ));
    }

    #[test]
    fn a_truncated_or_padded_or_noncanonical_signature_does_not_verify() {
        let (head, _) = TOKEN.rsplit_once('.').unwrap();
        for sig in [
            "",
            "6-plhHfNktII9iqCJDi4og", // first 16 bytes of the tag
            "6-plhHfNktII9iqCJDi4oi3J9Zp129Yns9BzWO5MqnM=", // padded
            "6-plhHfNktII9iqCJDi4oi3J9Zp129Yns9BzWO5MqnN", // last char's spare bits set
            "6+plhHfNktII9iqCJDi4oi3J9Zp129Yns9BzWO5MqnM", // standard alphabet
            "6-plhHfNktII9iqCJDi4oi3J9Zp129Yns9BzWO5MqnMAA", // a byte more
        ] {
            let token = format!("{head}.{sig}");
            assert!(read(&token, b"test-secret").is_err(), "{sig:?} verified");
        }
    }

    #[test]
    fn malformed_tokens_are_errors_not_panics() {
        let long = "a".repeat(1 << 20);
        let cases = [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{TOKEN}."),
            format!(".{TOKEN}"),
            "eyJhbGciOiJIUzI1NiJ9..".into(),
            "e30.e30.".into(), // {} header
            "bnVsbA.bnVsbA.".into(), // null header
            "W10.W10.".into(), // [] header
            "eyJhbGciOjF9.e30.".into(), // {"alg":1}
            "\u{0}\u{fffd}.\u{7f}.x".into(),
            format!("{long}.{long}.{long}"),
            format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{long}.6-plhHfNktII9iqCJDi4oi3J9Zp129Yns9BzWO5MqnM"),
        ];
        for token in &cases {
            for secret in [&b"test-secret"[..], b"", &[0xffu8; 4096][..]] {
                assert!(
                    read(token, secret).is_err(),
                    "{:?}",
                    &token[..token.len().min(40)]
                );
            }
        }
    }

    #[test]
    fn the_empty_key_is_a_key_like_any_other() {
        // HMAC takes any key length: a token signed with the empty key verifies under it.
        // What keeps this from mattering is that config never hands netlify an empty secret.
        assert!(read(EMPTY_KEY, b"").is_ok());
        assert!(read(EMPTY_KEY, b"test-secret").is_err());
        assert!(read(TOKEN, b"").is_err());
    }

    #[test]
    fn a_long_key_is_hashed_first_and_still_verifies() {
        // RFC 2104: keys longer than the block (64 bytes) are hashed. Signed by Python.
        let key = [b'k'; 100];
        let claims = Claims {
            iss: "netlify".into(),
            sha256: "abc".into(),
        };
        install();
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&key),
        )
        .unwrap();
        assert_eq!(
            token.rsplit_once('.').unwrap().1,
            "8VwBFERrAI-1MrASYufBBiWPYN6fDDdqhwM_WLNhg7Y"
        );
        assert_eq!(read(&token, &key).unwrap(), claims);
    }
}
