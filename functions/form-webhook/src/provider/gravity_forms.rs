//! Gravity Forms (Webhooks add-on, "All Fields"): the Entry object, values keyed by field id
//! (`"2"`, multi-input `"1.3"`/`"1.6"`), with no labels. Which id is which question is the
//! form's own: it comes from the per-form field map ([`crate::mapping::FormMap`]). Unsigned;
//! the shared secret is the `X-Webhook-Token` header. The delivery key is `form_id/id`.

use super::{json, Extracted, Item, RawField};
use crate::error::WebhookError;

/// Parses a Gravity Forms entry.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let v = json::object(body)?;
    let id = json::at(&v, "/id").ok_or_else(|| json::missing("id"))?;
    let form_id = json::at(&v, "/form_id").ok_or_else(|| json::missing("form_id"))?;

    let mut e = Extracted::form(format!("{form_id}/{id}"));
    e.form_id = Some(form_id);
    e.page_url = json::at(&v, "/source_url");
    e.occurred_at = json::at(&v, "/date_created").and_then(|t| json::time(&t));
    for (k, val) in v.as_object().into_iter().flatten() {
        if is_field_id(k) {
            if let Some(text) = json::text(val) {
                e.fields.push(RawField::new(k.clone(), text));
            }
        }
    }
    Ok(vec![Item::Submission(Box::new(e))])
}

/// Field values have numeric keys (`7`, `1.3`); the rest is entry metadata.
fn is_field_id(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}
