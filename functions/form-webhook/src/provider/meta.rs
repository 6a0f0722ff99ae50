//! Meta (Facebook / Instagram) Lead Ads.
//!
//! The webhook is signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>`
//! (over the escaped-unicode bytes as sent) and carries ids only:
//! `entry[].changes[{field: "leadgen", value{leadgen_id, form_id, page_id}}]`. Each change is a
//! [`FetchRequest`]; the lead itself is read later from the Graph API (`GET /{leadgen_id}`,
//! `field_data[{name, values[]}]`) by [`parse_lead`]. Meta has no event id: the delivery key is
//! `leadgen_id`.

use super::{json, Extracted, FetchRequest, Incoming, Item, ProviderAttribution, RawField};
use crate::{config::Secret, error::WebhookError, verify};
use serde_json::Value;

pub(crate) fn verify(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    let header = req
        .headers
        .get("x-hub-signature-256")
        .ok_or(WebhookError::BadSignature)?;
    let sig = header
        .strip_prefix("sha256=")
        .ok_or(WebhookError::BadSignature)?;
    verify::check_hex(secret, &[req.body], sig)
}

/// Parses a leadgen notification into one fetch per lead.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let v = json::object(body)?;
    let entries = v.get("entry").and_then(Value::as_array);
    let changes = entries
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("changes").and_then(Value::as_array))
        .flatten()
        .filter(|c| c.get("field").and_then(Value::as_str) == Some("leadgen"));

    let items: Vec<Item> = changes
        .filter_map(|c| {
            let value = c.get("value")?;
            let leadgen_id = json::at(value, "/leadgen_id")?;
            // The id goes into the Graph API's path: anything but a Graph id (digits) could
            // name another object (`1/../me`), so it is claimed and not fetched.
            if !graph_id(&leadgen_id) {
                return Some(Item::Ignored {
                    delivery_key: leadgen_id,
                    reason: "leadgen_id is not a Graph id",
                });
            }
            Some(Item::Fetch(FetchRequest {
                delivery_key: leadgen_id.clone(),
                leadgen_id,
                form_id: json::at(value, "/form_id"),
                page_id: json::at(value, "/page_id"),
            }))
        })
        .collect();
    if items.is_empty() {
        return Err(json::missing("entry[].changes[] with a leadgen_id"));
    }
    Ok(items)
}

/// Whether `id` is a Graph object id: 1 to 32 ASCII digits.
fn graph_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// Parses the Graph API's answer for one lead.
pub fn parse_lead(body: &[u8], fetch: &FetchRequest) -> Result<Extracted, WebhookError> {
    let v = json::object(body)?;
    let mut e = Extracted::form(fetch.delivery_key.clone());
    e.form_id = json::at(&v, "/form_id").or_else(|| fetch.form_id.clone());
    e.occurred_at = json::at(&v, "/created_time").and_then(|t| json::time(&t));
    e.attribution = ProviderAttribution {
        source: json::at(&v, "/platform").map(|p| platform_name(&p)),
        medium: v
            .get("is_organic")
            .and_then(Value::as_bool)
            .map(|organic| if organic { "organic" } else { "paid" }.to_owned()),
        campaign: json::at(&v, "/campaign_name"),
    };

    let data = v.get("field_data").and_then(Value::as_array);
    for f in data.into_iter().flatten() {
        let name = json::at(f, "/name");
        let value = f.get("values").and_then(json::text);
        if let (Some(name), Some(value)) = (name, value) {
            e.fields.push(RawField::new(name, value));
        }
    }
    Ok(e)
}

/// Meta's platform codes as source names.
fn platform_name(code: &str) -> String {
    match code {
        "ig" => "instagram".to_owned(),
        "fb" => "facebook".to_owned(),
        "msg" => "messenger".to_owned(),
        "an" => "audience_network".to_owned(),
        other => other.to_owned(),
    }
}
