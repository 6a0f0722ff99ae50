//! Netlify Forms (`submission_created`): `X-Webhook-Signature` is a JWS (HS256, the JWS
//! secret) whose claims are `{"iss": "netlify", "sha256": <hex SHA-256 of the body>}`. Fields
//! are in `data{<input name>: value}` plus top-level `email`, `name`, `company`. The delivery
//! key is `id`.

use super::{json, Extracted, FieldKind, Incoming, Item, RawField};
use crate::{config::Secret, error::WebhookError, verify};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

#[derive(Deserialize)]
struct Claims {
    sha256: String,
}

pub(crate) fn verify(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    let token = req
        .headers
        .get("x-webhook-signature")
        .ok_or(WebhookError::BadSignature)?;
    let mut validation = Validation::new(Algorithm::HS256);
    // Netlify's token has no expiry; it is bound to the body by its digest instead.
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.set_issuer(&["netlify"]);
    let key = DecodingKey::from_secret(secret.expose().as_bytes());
    super::jws::install();
    let claims = decode::<Claims>(token.trim(), &key, &validation)
        .map_err(|_| WebhookError::BadSignature)?
        .claims;

    let digest = verify::sha256_hex(req.body);
    let same: bool = digest
        .as_bytes()
        .ct_eq(claims.sha256.to_ascii_lowercase().as_bytes())
        .into();
    if same {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// Inputs Netlify adds to `data` that are not answers.
const NOT_ANSWERS: [&str; 3] = ["ip", "user_agent", "referrer"];

/// Parses a Netlify submission.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let v = json::object(body)?;
    let key = json::at(&v, "/id").ok_or_else(|| json::missing("id"))?;

    let mut e = Extracted::form(key);
    e.form_id = json::at(&v, "/form_id");
    e.form_name = json::at(&v, "/form_name");
    e.occurred_at = json::at(&v, "/created_at").and_then(|t| json::time(&t));
    e.page_url = json::at(&v, "/data/referrer");
    for (k, val) in v
        .get("data")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if !NOT_ANSWERS.contains(&k.as_str()) {
            if let Some(text) = json::text(val) {
                e.fields.push(RawField::new(k.clone(), text));
            }
        }
    }
    for k in ["email", "name", "first_name", "last_name", "company"] {
        if let Some(text) = json::at(&v, &format!("/{k}")) {
            let kind = if k == "email" {
                FieldKind::Email
            } else {
                FieldKind::Other
            };
            e.fields.push(RawField::new(k, text).kind(kind));
        }
    }
    Ok(vec![Item::Submission(Box::new(e))])
}
