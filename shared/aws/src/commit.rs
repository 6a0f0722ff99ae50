//! Applying a [`Commit`] as one `TransactWriteItems`.
//!
//! The claims, the lead (conditional on its version), its identities, transitions, activities,
//! counter increments and documents go in one transaction, so they hold together or not at
//! all. Each claim is written with `ReturnValuesOnConditionCheckFailure = ALL_OLD`: when a
//! claim is already taken the cancelled transaction carries the stored claim, and with it the
//! first commit's outbox, so a duplicate costs one round trip.
//!
//! A cancelled transaction says, item by item, why it was cancelled (`CancellationReasons`).
//! The adapter reads them in order instead of guessing: a taken claim is a duplicate (it wins
//! over everything else, since nothing of a duplicate should be retried); a failed condition on
//! any other item is a conflict the caller resolves by re-reading; a transaction conflict or
//! throttling is a retryable error.
//!
//! Erasure's two operations are conditional like the rest: a released identity is a Delete
//! of the `EMAIL#`/`PHONE#` item conditional on it pointing at the lead (or being gone already),
//! and a rewritten activity is a Put over its item conditional on the item existing. Point-in-
//! time recovery keeps earlier versions of every item for its retention window (35 days at
//! most); an erased person's data stays in those backups until the window has passed.
//!
//! Limits: a transaction holds at most 100 items (and 4 MB). A commit is usually about 15
//! items (a claim, the lead, an identity, one or two transitions with six counters each, an
//! activity, a document); one that would exceed 100 is refused with [`StoreError::Invalid`]
//! before anything is sent, because splitting it would give up atomicity. Counter increments
//! on the same key are merged first, since a transaction may touch an item only once.

use crate::{
    error::store_error,
    item::{self, n, s, Item, PK, TTL},
};
use aws_sdk_dynamodb::{
    error::SdkError,
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        CancellationReason, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
        Update,
    },
    Client,
};
use lifecycle::{funnel::CounterKey, Timestamp};
use ports::{
    commit::Identity, Commit, CommitOutcome, DocumentWrite, Expect, LeadWrite, StoreError,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// DynamoDB's limit on the items of one transaction.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// What each item of a transaction is, to read its cancellation reason.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    Claim(String),
    Lead(String),
    Identity(String),
    Transition(String, u32),
    Activity,
    Release(String),
    Rewrite(String, String),
    Counter,
    Marker,
    Document(String, String),
}

/// A commit turned into transaction items.
#[derive(Debug)]
pub struct Plan {
    items: Vec<TransactWriteItem>,
    roles: Vec<Role>,
    /// The stored items written (for write-unit accounting), with what each one is.
    written: Vec<(&'static str, Item)>,
}

impl Plan {
    /// The items the transaction writes, each with its kind (`claim`, `lead`, …) and the size
    /// DynamoDB bills for it. Deletes are listed with the size of their key.
    pub fn written(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        self.written
            .iter()
            .map(|(kind, i)| (*kind, item::item_size(i)))
    }

    /// How many items the transaction holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the commit writes nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Applies `commit` to `table`, with `markers`: unconditional puts of items that only record
/// that something happened (the extent markers). They go in the same transaction when it has
/// room for them, else each as a PutItem just before it; either way they are stored before or
/// with the commit, never after.
pub(crate) async fn apply(
    client: &Client,
    table: &str,
    commit: &Commit,
    now: Timestamp,
    markers: &[Item],
) -> Result<CommitOutcome, StoreError> {
    let mut plan = plan(table, commit, now)?;
    if plan.is_empty() {
        return Ok(CommitOutcome::Committed);
    }
    if plan.len() + markers.len() <= MAX_TRANSACTION_ITEMS {
        for marker in markers {
            plan.push_put(put(table, marker.clone()), Role::Marker, "marker")?;
        }
    } else {
        for marker in markers {
            client
                .put_item()
                .table_name(table)
                .set_item(Some(marker.clone()))
                .send()
                .await
                .map_err(store_error)?;
        }
    }
    apply_plan(client, table, plan).await
}

async fn apply_plan(client: &Client, table: &str, plan: Plan) -> Result<CommitOutcome, StoreError> {
    let result = client
        .transact_write_items()
        .set_transact_items(Some(plan.items))
        .send()
        .await;
    match result {
        Ok(_) => Ok(CommitOutcome::Committed),
        Err(SdkError::ServiceError(e)) => match e.err() {
            TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                let reasons = cancelled.cancellation_reasons();
                classify(client, table, &plan.roles, reasons).await
            }
            _ => Err(store_error(SdkError::ServiceError(e))),
        },
        Err(other) => Err(store_error(other)),
    }
}

/// Builds the transaction for `commit` without sending it. `now` decides which claims and
/// documents have expired (an expired one counts as absent, whether or not TTL swept it yet).
pub fn plan(table: &str, commit: &Commit, now: Timestamp) -> Result<Plan, StoreError> {
    commit.check_releases_and_rewrites()?;
    let now = now.timestamp();
    let mut plan = Plan {
        items: Vec::new(),
        roles: Vec::new(),
        written: Vec::new(),
    };
    for claim in &commit.claims {
        let put = expect(
            put(table, item::claim_item(claim, &commit.outbox)?),
            Expect::Absent,
            Some(now),
        )
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        plan.push_put(put, Role::Claim(claim.key.clone()), "claim")?;
    }
    if let Some(write) = &commit.lead {
        plan_lead(&mut plan, table, write)?;
    }
    for t in &commit.transitions {
        let put = put(table, item::transition_item(t)?)
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK);
        plan.push_put(
            put,
            Role::Transition(t.lead_id.to_string(), t.seq),
            "transition",
        )?;
    }
    plan_releases(&mut plan, table, commit)?;
    plan_activities(&mut plan, table, commit)?;
    plan_rewrites(&mut plan, table, commit)?;
    plan_counters(&mut plan, table, commit)?;
    for write in &commit.documents {
        plan_document(&mut plan, table, write, now)?;
    }

    if plan.items.len() > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::Invalid(format!(
            "commit has {} items; a DynamoDB transaction holds at most {MAX_TRANSACTION_ITEMS}",
            plan.items.len()
        )));
    }
    Ok(plan)
}

impl Plan {
    fn push_put(
        &mut self,
        put: aws_sdk_dynamodb::types::builders::PutBuilder,
        role: Role,
        kind: &'static str,
    ) -> Result<(), StoreError> {
        let put = put.build().map_err(invalid)?;
        self.written.push((kind, put.item().clone()));
        self.items
            .push(TransactWriteItem::builder().put(put).build());
        self.roles.push(role);
        Ok(())
    }
}

fn put(table: &str, item: Item) -> aws_sdk_dynamodb::types::builders::PutBuilder {
    Put::builder().table_name(table).set_item(Some(item))
}

fn plan_lead(plan: &mut Plan, table: &str, write: &LeadWrite) -> Result<(), StoreError> {
    let lead = &write.lead;
    let expected_version = match write.expect {
        Expect::Absent => Some(1),
        Expect::Version(v) => Some(v + 1),
        Expect::Any => None,
    };
    if expected_version.is_some_and(|v| v != lead.version) {
        return Err(StoreError::Invalid(format!(
            "lead {} written with version {} against {:?}",
            lead.id, lead.version, write.expect
        )));
    }

    let lead_put = expect(put(table, item::lead_item(lead)?), write.expect, None);
    plan.push_put(lead_put, Role::Lead(lead.id.to_string()), "lead")?;
    // The same identity twice would touch one item twice, which a transaction refuses.
    let mut seen = HashSet::new();
    for identity in write.new_identities.iter().filter(|i| seen.insert(*i)) {
        let identity_put = put(table, item::identity_item(identity, &lead.id))
            .condition_expression("attribute_not_exists(#pk) OR #l = :l")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#l", "lead_id")
            .expression_attribute_values(":l", s(lead.id.as_str()));
        let kind = match identity {
            Identity::Email(_) => "identity (e-mail)",
            Identity::Phone(_) => "identity (phone)",
        };
        plan.push_put(identity_put, Role::Identity(lead.id.to_string()), kind)?;
    }
    Ok(())
}

/// Adds the condition that `expect` asks for. `now` makes an expired (TTL not yet swept) item
/// count as absent.
fn expect(
    put: aws_sdk_dynamodb::types::builders::PutBuilder,
    expect: Expect,
    now: Option<i64>,
) -> aws_sdk_dynamodb::types::builders::PutBuilder {
    let (condition, values) = condition(expect, now);
    let Some(condition) = condition else {
        return put;
    };
    let mut put = put
        .condition_expression(condition)
        .expression_attribute_names("#pk", PK);
    for (name, value) in values {
        put = put.expression_attribute_values(name, value);
    }
    if matches!(expect, Expect::Version(_)) {
        put = put.expression_attribute_names("#v", "version");
    }
    if now.is_some() && matches!(expect, Expect::Absent) {
        put = put.expression_attribute_names("#ttl", TTL);
    }
    put
}

/// The condition expression of an [`Expect`], with its values.
fn condition(
    expect: Expect,
    now: Option<i64>,
) -> (
    Option<String>,
    Vec<(&'static str, aws_sdk_dynamodb::types::AttributeValue)>,
) {
    match (expect, now) {
        (Expect::Any, _) => (None, Vec::new()),
        (Expect::Absent, None) => (Some("attribute_not_exists(#pk)".into()), Vec::new()),
        (Expect::Absent, Some(now)) => (
            Some("attribute_not_exists(#pk) OR #ttl <= :now".into()),
            vec![(":now", n(now))],
        ),
        (Expect::Version(v), _) => (
            Some("attribute_exists(#pk) AND #v = :v".into()),
            vec![(":v", n(v))],
        ),
    }
}

fn plan_activities(plan: &mut Plan, table: &str, commit: &Commit) -> Result<(), StoreError> {
    // The same activity twice would touch one item twice, which a transaction refuses.
    let mut seen = HashSet::new();
    for activity in &commit.activities {
        let item = item::activity_item(activity)?;
        let sk = item::str_attr(&item, item::SK)?.to_owned();
        if seen.insert(sk) {
            plan.push_put(put(table, item), Role::Activity, "activity")?;
        }
    }
    Ok(())
}

/// Each released identity is a Delete conditional on pointing at its lead or at nothing, so
/// releasing twice is harmless and releasing another lead's identity is a conflict.
fn plan_releases(plan: &mut Plan, table: &str, commit: &Commit) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    for release in commit
        .released_identities
        .iter()
        .filter(|r| seen.insert(*r))
    {
        let key = item::identity_key(&release.identity);
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(key.clone()))
            .condition_expression("attribute_not_exists(#pk) OR #l = :l")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#l", "lead_id")
            .expression_attribute_values(":l", s(release.lead_id.as_str()))
            .build()
            .map_err(invalid)?;
        plan.written.push(("identity release", key));
        plan.items
            .push(TransactWriteItem::builder().delete(delete).build());
        plan.roles.push(Role::Release(release.lead_id.to_string()));
    }
    Ok(())
}

/// Each rewritten activity is a Put over the stored item (same key: lead, time and id),
/// conditional on it existing, so a rewrite never creates an activity.
fn plan_rewrites(plan: &mut Plan, table: &str, commit: &Commit) -> Result<(), StoreError> {
    for activity in &commit.rewritten_activities {
        let put = put(table, item::activity_item(activity)?)
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK);
        let role = Role::Rewrite(activity.lead_id.to_string(), activity.id.clone());
        plan.push_put(put, role, "activity rewrite")?;
    }
    Ok(())
}

fn plan_counters(plan: &mut Plan, table: &str, commit: &Commit) -> Result<(), StoreError> {
    let mut merged: BTreeMap<&CounterKey, i64> = BTreeMap::new();
    for delta in &commit.counters {
        *merged.entry(&delta.key).or_default() += delta.delta;
    }
    for (key, delta) in merged {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(item::counter_key(key)))
            .update_expression("ADD #n :d")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":d", n(delta))
            .build()
            .map_err(invalid)?;
        let mut stored = item::counter_key(key);
        stored.insert("n".into(), n(delta));
        plan.written.push(("counter", stored));
        plan.items
            .push(TransactWriteItem::builder().update(update).build());
        plan.roles.push(Role::Counter);
    }
    Ok(())
}

fn plan_document(
    plan: &mut Plan,
    table: &str,
    write: &DocumentWrite,
    now: i64,
) -> Result<(), StoreError> {
    let (collection, key) = write.target();
    let role = Role::Document(collection.to_owned(), key.to_owned());
    match write {
        DocumentWrite::Put { doc, expect: e } => {
            let put = expect(put(table, item::document_item(doc)?), *e, Some(now));
            plan.push_put(put, role, "document")
        }
        DocumentWrite::Delete { expect: e, .. } => {
            let (condition, values) = condition(*e, Some(now));
            let mut delete = Delete::builder()
                .table_name(table)
                .set_key(Some(item::document_key(collection, key)))
                .set_condition_expression(condition.clone());
            if condition.is_some() {
                delete = delete.expression_attribute_names("#pk", PK);
            }
            if matches!(e, Expect::Version(_)) {
                delete = delete.expression_attribute_names("#v", "version");
            }
            if matches!(e, Expect::Absent) {
                delete = delete.expression_attribute_names("#ttl", TTL);
            }
            for (name, value) in values {
                delete = delete.expression_attribute_values(name, value);
            }
            let delete = delete.build().map_err(invalid)?;
            plan.written
                .push(("document delete", item::document_key(collection, key)));
            plan.items
                .push(TransactWriteItem::builder().delete(delete).build());
            plan.roles.push(role);
            Ok(())
        }
    }
}

/// What a cancelled transaction means, decided from its reason codes alone.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// The claim (position, key) was taken.
    Duplicate(usize, String),
    /// The item at this position failed its condition.
    Conflict(usize),
    /// Retry with back-off (transaction conflict, throttling).
    Busy(String),
    /// The request is wrong.
    Invalid(String),
    /// Anything else.
    Other(String),
}

/// Reads the reason codes, one per item in order: a taken claim first (nothing of a duplicate
/// is worth retrying), then any failed condition, then the retryable codes.
fn verdict(roles: &[Role], codes: &[&str]) -> Verdict {
    let code = |i: usize| codes.get(i).copied().unwrap_or("None");
    let failed = |i: &usize| code(*i) == "ConditionalCheckFailed";

    let positions = 0..roles.len();
    let taken = positions
        .clone()
        .filter(failed)
        .find_map(|i| match &roles[i] {
            Role::Claim(key) => Some((i, key.clone())),
            _ => None,
        });
    if let Some((i, key)) = taken {
        return Verdict::Duplicate(i, key);
    }
    if let Some(i) = positions.clone().find(failed) {
        return Verdict::Conflict(i);
    }

    let seen: Vec<&str> = positions.map(code).filter(|c| *c != "None").collect();
    let summary = format!("transaction cancelled: {}", seen.join(","));
    let any = |wanted: &[&str]| seen.iter().any(|c| wanted.contains(c));
    if any(&[
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    ]) {
        Verdict::Busy(summary)
    } else if any(&["ValidationError", "ItemCollectionSizeLimitExceeded"]) {
        Verdict::Invalid(summary)
    } else {
        Verdict::Other(summary)
    }
}

/// Turns a cancelled transaction into the commit's outcome.
async fn classify(
    client: &Client,
    table: &str,
    roles: &[Role],
    reasons: &[CancellationReason],
) -> Result<CommitOutcome, StoreError> {
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
    match verdict(roles, &codes) {
        Verdict::Duplicate(i, key) => {
            let stored = match reasons[i].item() {
                Some(found) => found.clone(),
                None => reread_claim(client, table, &key).await?,
            };
            Ok(CommitOutcome::Duplicate {
                key,
                outbox: item::outbox(&stored)?,
            })
        }
        Verdict::Conflict(i) => Ok(CommitOutcome::Conflict {
            what: describe(&roles[i]),
        }),
        Verdict::Busy(summary) => Err(StoreError::Throttled(summary.into())),
        Verdict::Invalid(summary) => Err(StoreError::Invalid(summary)),
        Verdict::Other(summary) => Err(StoreError::Unavailable(summary.into())),
    }
}

/// Older emulators do not return the item of a failed condition; read it instead (one more
/// round trip, never on AWS).
async fn reread_claim(client: &Client, table: &str, key: &str) -> Result<Item, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(item::claim_key(key)))
        .consistent_read(true)
        .send()
        .await
        .map_err(store_error)?;
    Ok(out.item.unwrap_or_else(HashMap::new))
}

/// What conflicted, for the log: ids only (an identity conflict never names the e-mail).
fn describe(role: &Role) -> String {
    match role {
        Role::Claim(key) => format!("claim {key}"),
        Role::Lead(id) => format!("lead {id}: version moved"),
        Role::Identity(id) => format!("identity of lead {id} points at another lead"),
        Role::Transition(id, seq) => format!("transition {id}#{seq} exists"),
        Role::Release(id) => format!("identity released for lead {id} points at another lead"),
        Role::Rewrite(id, activity) => format!("activity {activity} of lead {id} is not stored"),
        Role::Activity | Role::Counter | Role::Marker => "unconditional write".to_owned(),
        Role::Document(c, k) => format!("document {c}/{k}"),
    }
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("transaction item not built: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Vec<Role> {
        vec![
            Role::Claim("webhook:a:1".into()),
            Role::Lead("L1".into()),
            Role::Identity("L1".into()),
            Role::Counter,
        ]
    }

    #[test]
    fn a_taken_claim_is_a_duplicate_even_when_the_lead_also_failed() {
        let codes = [
            "ConditionalCheckFailed",
            "ConditionalCheckFailed",
            "None",
            "None",
        ];
        assert_eq!(
            verdict(&roles(), &codes),
            Verdict::Duplicate(0, "webhook:a:1".into())
        );
    }

    #[test]
    fn a_failed_lead_or_identity_condition_is_a_conflict_on_that_item() {
        let lead = ["None", "ConditionalCheckFailed", "None", "None"];
        assert_eq!(verdict(&roles(), &lead), Verdict::Conflict(1));
        let identity = ["None", "None", "ConditionalCheckFailed", "None"];
        assert_eq!(verdict(&roles(), &identity), Verdict::Conflict(2));
        assert_eq!(
            describe(&roles()[2]),
            "identity of lead L1 points at another lead"
        );
    }

    #[test]
    fn a_transaction_conflict_or_throttling_is_retryable() {
        let codes = ["None", "TransactionConflict", "None", "None"];
        assert!(matches!(verdict(&roles(), &codes), Verdict::Busy(_)));
        let codes = ["None", "None", "None", "ThrottlingError"];
        assert!(matches!(verdict(&roles(), &codes), Verdict::Busy(_)));
    }

    #[test]
    fn a_validation_error_is_the_callers_mistake() {
        let codes = ["None", "ValidationError", "None", "None"];
        assert!(matches!(verdict(&roles(), &codes), Verdict::Invalid(_)));
    }
}
