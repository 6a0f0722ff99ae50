//! The single-table layout: how each port record becomes a DynamoDB item and back.
//!
//! Every item has a partition key `pk` and a sort key `sk`; the prefixes say what the item is.
//! A lead's own item, transitions and activities share the partition `LEAD#<id>`, so a
//! timeline is one Query. Identities, claims, counters and documents have their own partitions.
//! Six global secondary indexes answer the questions a key cannot (see `infra/TABLE.md`):
//!
//! | index        | partition key | sort key     | items                     |
//! |--------------|---------------|--------------|---------------------------|
//! | `by_email`   | `email`       | –            | leads with an e-mail      |
//! | `by_owner`   | `open_owner`  | `updated_at` | owned leads still open    |
//! | `by_created` | `kind`        | `created`    | every lead (newest first) |
//! | `by_day`     | `rec_day`     | `rec_key`    | transitions, by day recorded |
//! | `by_effective_day` | `eff_day` | `eff_key` | transitions, by day they took effect |
//! | `by_due`     | `idx_coll`    | `idx`        | documents with an index   |
//!
//! Record bodies are stored as one JSON string attribute (`body`): the adapter never filters
//! on a field inside it, so typed attributes would only add mapping code. The attributes that
//! keys, conditions and indexes need are written beside it.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::SecondsFormat;
use lifecycle::{funnel::CounterKey, Activity, Lead, LeadId, Timestamp, Transition};
use ports::{Document, Message, StoreError};
use std::collections::HashMap;

/// A DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// Partition key attribute.
pub(crate) const PK: &str = "pk";
/// Sort key attribute.
pub(crate) const SK: &str = "sk";
/// The TTL attribute (epoch seconds); the table's TTL setting names it.
pub(crate) const TTL: &str = "expires_at";
/// The `by_owner` partition key: the rep of an open lead ([`ports::open_owner`]).
pub(crate) const OPEN_OWNER: &str = "open_owner";
/// The `by_owner` sort key: when the open lead last changed.
pub(crate) const UPDATED_AT: &str = "updated_at";

/// Sort key of a lead's own item; `#` sorts before `A#` and `T#`.
const LEAD_SK: &str = "#LEAD";
/// Sort key of identity and claim items.
const ONE_SK: &str = "#";

/// The partition of a lead.
pub(crate) fn lead_pk(id: &LeadId) -> String {
    format!("LEAD#{id}")
}

/// The key of a lead's own item.
pub(crate) fn lead_key(id: &LeadId) -> Item {
    key(lead_pk(id), LEAD_SK.to_owned())
}

/// The key of an identity item (`EMAIL#…` or `PHONE#…`).
pub(crate) fn identity_key(identity: &ports::commit::Identity) -> Item {
    let pk = match identity {
        ports::commit::Identity::Email(e) => format!("EMAIL#{}", e.as_str()),
        ports::commit::Identity::Phone(p) => format!("PHONE#{}", p.as_str()),
    };
    key(pk, ONE_SK.to_owned())
}

/// The key of an idempotency claim.
pub(crate) fn claim_key(claim: &str) -> Item {
    key(format!("CLAIM#{claim}"), ONE_SK.to_owned())
}

/// The key of a counter: one partition per day, so a day's counters are one Query.
pub(crate) fn counter_key(k: &CounterKey) -> Item {
    key(
        format!("CTR#{}", k.day),
        format!("{}#{}#{}", k.stage.as_str(), k.dimension.as_str(), k.group),
    )
}

/// The partition of a document collection.
pub(crate) fn doc_pk(collection: &str) -> String {
    format!("DOC#{collection}")
}

/// The sort key of a document; prefixed so that an empty key is still a valid sort key.
pub(crate) fn doc_sk(key: &str) -> String {
    format!("K#{key}")
}

/// The key of a document.
pub(crate) fn document_key(collection: &str, key_: &str) -> Item {
    key(doc_pk(collection), doc_sk(key_))
}

/// Sort key prefix of transitions within a lead's partition.
pub(crate) const TRANSITION_PREFIX: &str = "T#";
/// Sort key prefix of activities within a lead's partition.
pub(crate) const ACTIVITY_PREFIX: &str = "A#";

fn key(pk: String, sk: String) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// A string attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A timestamp that sorts as text: RFC 3339, UTC, always with nanoseconds, the precision of a
/// [`Timestamp`]. With less, a range's end would be cut (a window ending one nanosecond after a
/// transition would not hold it) and the keys of times a nanosecond apart would tie.
pub(crate) fn sortable(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The lead's item. Index attributes are written only when they apply, so an item appears
/// in an index exactly when it should (a sparse index).
pub(crate) fn lead_item(lead: &Lead) -> Result<Item, StoreError> {
    let mut item = lead_key(&lead.id);
    item.insert("body".into(), s(to_json(lead)?));
    item.insert("version".into(), n(lead.version));
    item.insert("kind".into(), s("LEAD"));
    item.insert(
        "created".into(),
        s(format!("{}#{}", sortable(&lead.created_at), lead.id)),
    );
    if let Some(email) = &lead.email {
        item.insert("email".into(), s(email.as_str()));
    }
    if let Some(owner) = ports::open_owner(lead) {
        item.insert(OPEN_OWNER.into(), s(owner.as_str()));
        item.insert(UPDATED_AT.into(), s(sortable(&lead.updated_at)));
    }
    Ok(item)
}

/// The lead id of a lead's item (its `pk` is `LEAD#<id>`).
pub(crate) fn lead_id_of(item: &Item) -> Result<&str, StoreError> {
    str_attr(item, PK)?
        .strip_prefix("LEAD#")
        .ok_or_else(|| corrupt(item, "a lead item without a LEAD# key"))
}

/// An identity item: the lead an e-mail or phone points at.
pub(crate) fn identity_item(identity: &ports::commit::Identity, lead: &LeadId) -> Item {
    let mut item = identity_key(identity);
    item.insert("lead_id".into(), s(lead.as_str()));
    item
}

/// A transition's item, in its lead's partition and in the `by_day` and `by_effective_day`
/// indexes.
pub(crate) fn transition_item(t: &Transition) -> Result<Item, StoreError> {
    let mut item = key(
        lead_pk(&t.lead_id),
        format!("{TRANSITION_PREFIX}{:010}", t.seq),
    );
    item.insert("body".into(), s(to_json(t)?));
    item.insert(
        "rec_day".into(),
        s(format!("T#{}", t.recorded_at.date_naive())),
    );
    item.insert("rec_key".into(), s(recorded_key(t)));
    item.insert(
        "eff_day".into(),
        s(format!("T#{}", t.effective_at.date_naive())),
    );
    item.insert("eff_key".into(), s(effective_key(t)));
    Ok(item)
}

/// The `by_day` sort key: recorded time, then lead and seq to make it unique and stable.
pub(crate) fn recorded_key(t: &Transition) -> String {
    format!("{}#{}#{:010}", sortable(&t.recorded_at), t.lead_id, t.seq)
}

/// The `by_effective_day` sort key: effective time, then lead and seq.
pub(crate) fn effective_key(t: &Transition) -> String {
    format!("{}#{}#{:010}", sortable(&t.effective_at), t.lead_id, t.seq)
}

/// An activity's item; sorted by when it happened, then by id.
pub(crate) fn activity_item(a: &Activity) -> Result<Item, StoreError> {
    let sk = format!("{ACTIVITY_PREFIX}{}#{}", sortable(&a.occurred_at), a.id);
    let mut item = key(lead_pk(&a.lead_id), sk);
    item.insert("body".into(), s(to_json(a)?));
    Ok(item)
}

/// A claim's item: remembers the commit's outbox for a duplicate to send again.
pub(crate) fn claim_item(claim: &ports::Claim, outbox: &[Message]) -> Result<Item, StoreError> {
    let mut item = claim_key(&claim.key);
    item.insert("outbox".into(), s(to_json(outbox)?));
    if let Some(at) = claim.expires_at {
        item.insert(TTL.into(), n(at.timestamp()));
    }
    Ok(item)
}

/// A document's item; `idx_coll`/`idx` only when the document has an index value.
pub(crate) fn document_item(doc: &Document) -> Result<Item, StoreError> {
    let mut item = document_key(&doc.collection, &doc.key);
    item.insert("version".into(), n(doc.version));
    item.insert("body".into(), s(to_json(doc)?));
    if let Some(index) = &doc.index {
        item.insert("idx_coll".into(), s(doc.collection.as_str()));
        item.insert("idx".into(), s(index.as_str()));
    }
    if let Some(at) = doc.expires_at {
        item.insert(TTL.into(), n(at.timestamp()));
    }
    Ok(item)
}

/// Decodes the JSON `body` of an item.
pub(crate) fn body<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let text = str_attr(item, "body")?;
    serde_json::from_str(text).map_err(|e| corrupt(item, e))
}

/// The stored outbox of a claim item (empty when the attribute is missing).
pub(crate) fn outbox(item: &Item) -> Result<Vec<Message>, StoreError> {
    match item.get("outbox") {
        None => Ok(Vec::new()),
        Some(_) => {
            let text = str_attr(item, "outbox")?;
            serde_json::from_str(text).map_err(|e| corrupt(item, e))
        }
    }
}

/// A string attribute of an item.
pub(crate) fn str_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(corrupt(
            item,
            format!("attribute {name} missing or not a string"),
        )),
    }
}

/// A number attribute of an item, as `i64`.
pub(crate) fn num_attr(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|e| corrupt(item, e)),
        _ => Err(corrupt(
            item,
            format!("attribute {name} missing or not a number"),
        )),
    }
}

/// The error for an item that cannot be decoded, named by its key (ids only, no body).
pub(crate) fn corrupt(
    item: &Item,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> StoreError {
    let part = |name| match item.get(name) {
        Some(AttributeValue::S(v)) => redact_key(v),
        _ => "?".to_owned(),
    };
    StoreError::Corrupt {
        key: format!("{}/{}", part(PK), part(SK)),
        source: source.into(),
    }
}

/// Identity keys hold an e-mail or a phone: never let one into an error message.
fn redact_key(key: &str) -> String {
    if key.starts_with("EMAIL#") || key.starts_with("PHONE#") {
        format!("{}#<redacted>", &key[..5])
    } else {
        key.to_owned()
    }
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(format!("not serialisable: {e}")))
}

/// The size DynamoDB bills for an item: each attribute's name in UTF-8 bytes plus its value
/// (strings in UTF-8 bytes, numbers about one byte per two significant digits plus one, booleans
/// and nulls one byte). Write units are this size in 1 KB steps, doubled inside a transaction.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(v) => v.len(),
        AttributeValue::N(v) => number_size(v),
        AttributeValue::B(v) => v.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(vs) => vs.iter().map(String::len).sum(),
        AttributeValue::Ns(vs) => vs.iter().map(|v| number_size(v)).sum(),
        AttributeValue::L(vs) => 3 + vs.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// Numbers: one byte per two significant digits, plus one.
fn number_size(v: &str) -> usize {
    let digits: String = v.chars().filter(char::is_ascii_digit).collect();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1);
    significant.div_ceil(2) + 1
}

/// Write units of a transactional write of an item of `size` bytes.
pub fn transactional_write_units(size: usize) -> usize {
    2 * size.div_ceil(1024).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_and_number_sizes_follow_the_published_rules() {
        // Published rules: a string counts its UTF-8 bytes, a number about one byte per two
        // significant digits plus one; each attribute name counts its UTF-8 bytes.
        let item = HashMap::from([
            ("pk".to_owned(), s("LEAD#01")),  // 2 + 7
            ("version".to_owned(), n(12345)), // 7 + (5 digits -> 3) + 1
            ("é".to_owned(), s("ü")),         // 2 + 2
        ]);
        assert_eq!(item_size(&item), 9 + 11 + 4);
    }

    #[test]
    fn transactional_writes_cost_two_units_per_started_kilobyte() {
        assert_eq!(transactional_write_units(1), 2);
        assert_eq!(transactional_write_units(1024), 2);
        assert_eq!(transactional_write_units(1025), 4);
    }

    #[test]
    fn identity_keys_are_redacted_in_corruption_errors() {
        let item = HashMap::from([
            (PK.to_owned(), s("EMAIL#dana@example.com")),
            (SK.to_owned(), s("#")),
        ]);
        let err = corrupt(&item, "bad");
        assert!(!err.to_string().contains("dana"));
        assert!(!format!("{err:?}").contains("dana"));
    }
}
