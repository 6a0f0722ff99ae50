//! Unbounce: `application/x-www-form-urlencoded` with top-level `page_id`, `page_name`,
//! `page_url`, and `data.json`, a JSON object in which every value is an array. Unsigned (the
//! shared secret is the URL's `?token=`). Unbounce sends no submission id: the delivery key is
//! `page_id` and a digest of e-mail, date and time submitted (a digest, so that the key never
//! shows the e-mail).

use super::{digest_key, json, Extracted, Item, RawField};
use crate::error::WebhookError;
use serde_json::Value;

/// Parses an Unbounce delivery.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, WebhookError> {
    let mut page_id = None;
    let mut page_name = None;
    let mut page_url = None;
    let mut data = None;
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "page_id" => page_id = Some(v.into_owned()),
            "page_name" => page_name = Some(v.into_owned()),
            "page_url" => page_url = Some(v.into_owned()),
            "data.json" => data = Some(v.into_owned()),
            _ => {}
        }
    }
    let data = data.ok_or_else(|| json::missing("data.json parameter"))?;
    let data = json::object(data.as_bytes())?;
    let first = |name: &str| data.get(name).and_then(first_value);
    let page = page_id
        .or_else(|| first("page_uuid"))
        .ok_or_else(|| json::missing("page_id"))?;
    let stamp = [
        first("email").unwrap_or_default(),
        first("date_submitted").unwrap_or_default(),
        first("time_submitted").unwrap_or_default(),
    ];

    let mut e = Extracted::form(format!(
        "{page}:{}",
        digest_key(&stamp.each_ref().map(String::as_str))
    ));
    e.form_id = Some(page);
    e.form_name = page_name;
    e.page_url = page_url;
    for (k, val) in data.as_object().into_iter().flatten() {
        if let Some(text) = first_value(val) {
            e.fields.push(RawField::new(k.clone(), text));
        }
    }
    Ok(vec![Item::Submission(Box::new(e))])
}

/// Unbounce sends every value as an array; a single answer is its first element.
fn first_value(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => json::text(&Value::Array(items.clone())),
        other => json::text(other),
    }
}
