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
}
