//! [`DynamoStore`]: the DynamoDB adapter of [`JourneyStore`] and [`DocumentStore`].
//!
//! Every read on a request path is a GetItem or a Query on a key or an index; nothing scans.
//! Reads of a lead, its history, counters and documents are strongly consistent. Reads through
//! a global secondary index (a lead by e-mail, leads newest first, a rep's open leads,
//! transitions by day, due documents) are eventually consistent, as DynamoDB indexes are: a
//! lead written a moment ago may be missing from them for a fraction of a second. That cannot
//! corrupt anything, because every write is conditional on the keyed items (the identity item,
//! the lead's version): a stale read becomes a [`CommitOutcome::Conflict`], and the caller
//! re-reads.
//!
//! Commits are one `TransactWriteItems` each; see [`crate::commit`].

use crate::{
    commit,
    error::store_error,
    extent::{self, Noted},
    item::{self, s, sortable, Item, PK, SK},
};
use async_trait::async_trait;
use aws_sdk_dynamodb::{operation::query::builders::QueryFluentBuilder, Client};
use lifecycle::{
    funnel::CounterKey, Activity, Email, Lead, LeadId, Phone, RepId, Timestamp, Transition,
};
use ports::{
    commit::Identity, Clock, Commit, CommitOutcome, Document, DocumentStore, Extent, JourneyStore,
    Message, Page, Queue, StoreError, SystemClock, MAX_PAGE,
};
use std::{collections::HashMap, sync::Arc};

/// Index names, as in `template.yaml` and `infra/TABLE.md`.
pub(crate) mod index {
    /// E-mail → lead.
    pub(crate) const BY_EMAIL: &str = "by_email";
    /// A rep's open leads.
    pub(crate) const BY_OWNER: &str = "by_owner";
    /// Every lead by creation time.
    pub(crate) const BY_CREATED: &str = "by_created";
    /// Transitions by the day they were recorded.
    pub(crate) const BY_DAY: &str = "by_day";
    /// Transitions by the day they took effect.
    pub(crate) const BY_EFFECTIVE_DAY: &str = "by_effective_day";
    /// Documents by their index value (SLA clocks by due time).
    pub(crate) const BY_DUE: &str = "by_due";
}

/// One of the two day-partitioned transition indexes: its name and key attributes.
struct DayIndex {
    name: &'static str,
    day_attr: &'static str,
    key_attr: &'static str,
}

/// Transitions by the UTC day they were recorded.
const RECORDED: DayIndex = DayIndex {
    name: index::BY_DAY,
    day_attr: "rec_day",
    key_attr: "rec_key",
};

/// Transitions by the UTC day they took effect.
const EFFECTIVE: DayIndex = DayIndex {
    name: index::BY_EFFECTIVE_DAY,
    day_attr: "eff_day",
    key_attr: "eff_key",
};

/// Length of [`sortable`] timestamps (`2026-01-02T03:04:05.000000000Z`).
const TS_LEN: usize = 30;

/// The DynamoDB adapter. Cheap to clone; build it once per cold start.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    outbox: Arc<dyn Queue>,
    clock: Arc<dyn Clock>,
    noted: Noted,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// A store on `table`, sending commit outboxes through `outbox` (the SQS adapter).
    pub fn new(client: Client, table: impl Into<String>, outbox: Arc<dyn Queue>) -> Self {
        Self {
            client,
            table: table.into(),
            outbox,
            clock: Arc::new(SystemClock),
            noted: Noted::default(),
        }
    }

    /// The same store reading "now" (for expiry) from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether a document has expired. TTL deletion runs up to days late, so an expired
    /// document is hidden on read rather than trusted to be gone.
    fn expired(&self, doc: &Document) -> bool {
        doc.expires_at.is_some_and(|at| at <= self.clock.now())
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.table)
    }

    async fn get_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(out.item)
    }

    /// Every item of a lead's partition whose sort key starts with `prefix`, in key order.
    async fn lead_partition<T>(&self, id: &LeadId, prefix: &str) -> Result<Vec<T>, StoreError>
    where
        T: serde::de::DeserializeOwned,
    {
        let query = self
            .query()
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :p)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(item::lead_pk(id)))
            .expression_attribute_values(":p", s(prefix));
        let items = all_pages(query).await?;
        items.iter().map(item::body).collect()
    }

    /// One day's slice of [`JourneyStore::transitions_recorded`]: at most `want` transitions of
    /// `day` in `[lo, hi]`, after `after`; also says whether more remain in that day.
    async fn on_day(
        &self,
        ix: &DayIndex,
        day: chrono::NaiveDate,
        (lo, hi): (&str, &str),
        after: Option<&str>,
        want: usize,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let mut query = self
            .query()
            .index_name(ix.name)
            .key_condition_expression("#d = :d AND #k BETWEEN :lo AND :hi")
            .expression_attribute_names("#d", ix.day_attr)
            .expression_attribute_names("#k", ix.key_attr)
            .expression_attribute_values(":d", s(format!("T#{day}")))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi));
        if let Some(key) = after {
            query = query.set_exclusive_start_key(Some(day_start_key(ix, day, key)?));
        }
        take_with_peek(query, want).await
    }
}

#[async_trait]
impl JourneyStore for DynamoStore {
    async fn lead(&self, id: &LeadId) -> Result<Option<Lead>, StoreError> {
        let item = self.get_item(item::lead_key(id)).await?;
        item.as_ref().map(item::body).transpose()
    }

    /// One Query on `by_email` (eventually consistent; see the module docs).
    async fn lead_by_email(&self, email: &Email) -> Result<Option<Lead>, StoreError> {
        let query = self
            .query()
            .index_name(index::BY_EMAIL)
            .key_condition_expression("#e = :e")
            .expression_attribute_names("#e", "email")
            .expression_attribute_values(":e", s(email.as_str()))
            .limit(1);
        let (items, _) = page(query).await?;
        items.first().map(item::body).transpose()
    }

    /// Two strongly consistent GetItems: the phone's identity item, then the lead.
    async fn lead_by_phone(&self, phone: &Phone) -> Result<Option<Lead>, StoreError> {
        let key = item::identity_key(&Identity::Phone(phone.clone()));
        let Some(identity) = self.get_item(key).await? else {
            return Ok(None);
        };
        let lead_id = LeadId::new(item::str_attr(&identity, "lead_id")?);
        self.lead(&lead_id).await
    }

    async fn transitions(&self, id: &LeadId) -> Result<Vec<Transition>, StoreError> {
        self.lead_partition(id, item::TRANSITION_PREFIX).await
    }

    async fn activities(&self, id: &LeadId) -> Result<Vec<Activity>, StoreError> {
        self.lead_partition(id, item::ACTIVITY_PREFIX).await
    }

    /// One Query per UTC day of the range on `by_day`. The cursor is `<day>|<rec_key>` of the
    /// last transition returned.
    async fn transitions_recorded(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Transition>, StoreError> {
        self.transitions_by_day(&RECORDED, (from, to), cursor, limit)
            .await
    }

    /// One Query per UTC day of the range on `by_effective_day`. The cursor is
    /// `<day>|<eff_key>` of the last transition returned.
    async fn transitions_effective(
        &self,
        from: Timestamp,
        to: Timestamp,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Transition>, StoreError> {
        self.transitions_by_day(&EFFECTIVE, (from, to), cursor, limit)
            .await
    }

    /// Three one-item Queries on the extent markers (see [`crate::extent`]).
    async fn extent(&self) -> Result<Option<Extent>, StoreError> {
        extent::read(&self.client, &self.table).await
    }

    /// One Query on `by_created`, newest first. The cursor is the last lead's `created` value.
    async fn leads(&self, cursor: Option<String>, limit: usize) -> Result<Page<Lead>, StoreError> {
        let limit = page_limit(limit)?;
        let mut query = self
            .query()
            .index_name(index::BY_CREATED)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", "kind")
            .expression_attribute_values(":k", s("LEAD"))
            .scan_index_forward(false);
        if let Some(created) = cursor.as_deref() {
            query = query.set_exclusive_start_key(Some(created_start_key(created)?));
        }
        let (items, more) = take_with_peek(query, limit).await?;
        let next = match (more, items.last()) {
            (true, Some(last)) => Some(item::str_attr(last, "created")?.to_owned()),
            _ => None,
        };
        let leads = items.iter().map(item::body).collect::<Result<_, _>>()?;
        Ok(Page { items: leads, next })
    }

    /// One Query on `by_owner`, ascending. The cursor is the last lead's
    /// `<updated_at>#<lead id>`.
    async fn open_leads_of(
        &self,
        rep: &RepId,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Lead>, StoreError> {
        let limit = page_limit(limit)?;
        let mut query = self
            .query()
            .index_name(index::BY_OWNER)
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", item::OPEN_OWNER)
            .expression_attribute_values(":o", s(rep.as_str()));
        if let Some(after) = cursor.as_deref() {
            query = query.set_exclusive_start_key(Some(owner_start_key(rep, after)?));
        }
        let (items, more) = take_with_peek(query, limit).await?;
        let next = match (more, items.last()) {
            (true, Some(last)) => Some(format!(
                "{}#{}",
                item::str_attr(last, item::UPDATED_AT)?,
                item::lead_id_of(last)?
            )),
            _ => None,
        };
        let leads = items.iter().map(item::body).collect::<Result<_, _>>()?;
        Ok(Page { items: leads, next })
    }

    async fn counter(&self, key: &CounterKey) -> Result<i64, StoreError> {
        match self.get_item(item::counter_key(key)).await? {
            Some(found) => item::num_attr(&found, "n"),
            None => Ok(0),
        }
    }

    async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        let commit = commit.with_journey_events();
        let markers = self.noted.missing(&commit.transitions);
        let now = self.clock.now();
        let outcome = commit::apply(&self.client, &self.table, &commit, now, &markers).await?;
        if outcome == CommitOutcome::Committed {
            self.noted.put(&markers);
        }
        if outcome == CommitOutcome::Committed && !commit.outbox.is_empty() {
            // The transaction holds; if sending fails now, the caller's retry of the same event
            // meets its own claim, gets `Duplicate { outbox }` and sends again.
            self.outbox
                .send(&commit.outbox)
                .await
                .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        }
        Ok(outcome)
    }

    /// One strongly consistent GetItem. TTL deletes an expired claim only eventually, so the
    /// expiry is checked here, as the commit's condition checks it.
    async fn held_claim(&self, key: &str) -> Result<Option<Vec<Message>>, StoreError> {
        let Some(found) = self.get_item(item::claim_key(key)).await? else {
            return Ok(None);
        };
        let now = self.clock.now().timestamp();
        let expired = match found.get(item::TTL) {
            Some(_) => item::num_attr(&found, item::TTL)? <= now,
            None => false,
        };
        if expired {
            return Ok(None);
        }
        item::outbox(&found).map(Some)
    }
}

impl DynamoStore {
    /// Transitions whose index time (recorded or effective, per `ix`) is in `[from, to)`, in
    /// that time's order: one Query per UTC day, a page at a time.
    async fn transitions_by_day(
        &self,
        ix: &DayIndex,
        (from, to): (Timestamp, Timestamp),
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Transition>, StoreError> {
        let limit = page_limit(limit)?;
        if from >= to {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let (lo, hi) = (sortable(&from), sortable(&to));
        let last_day = (to - chrono::Duration::nanoseconds(1)).date_naive();
        let (mut day, mut after) = match cursor.as_deref().map(parse_day_cursor).transpose()? {
            Some((day, key)) => (day, Some(key)),
            None => (from.date_naive(), None),
        };

        let mut found: Vec<Item> = Vec::new();
        loop {
            let want = limit - found.len();
            let (items, more) = self
                .on_day(ix, day, (&lo, &hi), after.as_deref(), want)
                .await?;
            found.extend(items);
            let full_here = more
                || (found.len() == limit && self.any_after(ix, day, last_day, &lo, &hi).await?);
            if full_here {
                let last = found
                    .last()
                    .map(|i| item::str_attr(i, ix.key_attr))
                    .transpose()?;
                let next = last.map(|k| format!("{day}|{k}"));
                return Ok(Page {
                    items: decode(&found)?,
                    next,
                });
            }
            match day
                .succ_opt()
                .filter(|d| *d <= last_day && found.len() < limit)
            {
                Some(d) => (day, after) = (d, None),
                None => {
                    return Ok(Page {
                        items: decode(&found)?,
                        next: None,
                    })
                }
            }
        }
    }

    /// Whether any transition in the range falls on a day after `day` in `ix`. Only asked when
    /// a page fills exactly at the end of a day, so the last page reliably has no cursor.
    async fn any_after(
        &self,
        ix: &DayIndex,
        day: chrono::NaiveDate,
        last_day: chrono::NaiveDate,
        lo: &str,
        hi: &str,
    ) -> Result<bool, StoreError> {
        let mut next = day.succ_opt();
        while let Some(d) = next.filter(|d| *d <= last_day) {
            let (items, _) = self.on_day(ix, d, (lo, hi), None, 1).await?;
            if !items.is_empty() {
                return Ok(true);
            }
            next = d.succ_opt();
        }
        Ok(false)
    }
}

#[async_trait]
impl DocumentStore for DynamoStore {
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Document>, StoreError> {
        let found = self.get_item(item::document_key(collection, key)).await?;
        let doc: Option<Document> = found.as_ref().map(item::body).transpose()?;
        Ok(doc.filter(|d| !self.expired(d)))
    }

    async fn list(
        &self,
        collection: &str,
        prefix: &str,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Page<Document>, StoreError> {
        let limit = page_limit(limit)?;
        let mut query = self
            .query()
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :p)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(item::doc_pk(collection)))
            .expression_attribute_values(":p", s(item::doc_sk(prefix)));
        if let Some(after) = cursor.as_deref() {
            query = query.set_exclusive_start_key(Some(item::document_key(collection, after)));
        }
        let (items, more) = take_with_peek(query, limit).await?;
        let docs: Vec<Document> = items.iter().map(item::body).collect::<Result<_, _>>()?;
        let next = match (more, docs.last()) {
            (true, Some(last)) => Some(last.key.clone()),
            _ => None,
        };
        Ok(Page {
            items: docs.into_iter().filter(|d| !self.expired(d)).collect(),
            next,
        })
    }

    /// One Query on `by_due`, ascending.
    async fn due(
        &self,
        collection: &str,
        upper: &str,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        let limit = page_limit(limit)?;
        let query = self
            .query()
            .index_name(index::BY_DUE)
            .key_condition_expression("#c = :c AND #i <= :u")
            .expression_attribute_names("#c", "idx_coll")
            .expression_attribute_names("#i", "idx")
            .expression_attribute_values(":c", s(collection))
            .expression_attribute_values(":u", s(upper));
        let (items, _) = take_with_peek(query, limit).await?;
        let docs: Vec<Document> = items.iter().map(item::body).collect::<Result<_, _>>()?;
        Ok(docs.into_iter().filter(|d| !self.expired(d)).collect())
    }
}

/// A listing's limit: 0 is the caller's bug, more than [`MAX_PAGE`] is capped.
fn page_limit(limit: usize) -> Result<usize, StoreError> {
    match limit {
        0 => Err(StoreError::Invalid(
            "a listing limit must be at least 1".into(),
        )),
        n => Ok(n.min(MAX_PAGE)),
    }
}

fn decode(items: &[Item]) -> Result<Vec<Transition>, StoreError> {
    items.iter().map(item::body).collect()
}

/// DynamoDB takes an `i32` limit.
fn clamp(limit: usize) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX).max(1)
}

/// One page of a query.
async fn page(query: QueryFluentBuilder) -> Result<(Vec<Item>, Option<Item>), StoreError> {
    let out = query.send().await.map_err(store_error)?;
    Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
}

/// Every page of a query.
async fn all_pages(query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = query.get_exclusive_start_key().clone();
    loop {
        let (mut batch, last) = page(query.clone().set_exclusive_start_key(start)).await?;
        items.append(&mut batch);
        match last {
            Some(key) => start = Some(key),
            None => return Ok(items),
        }
    }
}

/// Up to `want` items, reading one more to learn whether any remain. Follows DynamoDB's own
/// pages (a page stops at 1 MB whatever the limit).
async fn take_with_peek(
    query: QueryFluentBuilder,
    want: usize,
) -> Result<(Vec<Item>, bool), StoreError> {
    // The caller's start key (a cursor), then DynamoDB's own page boundaries.
    let mut items = Vec::new();
    let mut start = query.get_exclusive_start_key().clone();
    loop {
        let ask = clamp(want + 1 - items.len());
        let (mut batch, last) =
            page(query.clone().limit(ask).set_exclusive_start_key(start)).await?;
        items.append(&mut batch);
        if items.len() > want {
            items.truncate(want);
            return Ok((items, true));
        }
        match last {
            Some(key) => start = Some(key),
            None => return Ok((items, false)),
        }
    }
}

/// Splits a `transitions_recorded` or `transitions_effective` cursor.
fn parse_day_cursor(cursor: &str) -> Result<(chrono::NaiveDate, String), StoreError> {
    let bad = || StoreError::Invalid("malformed cursor".into());
    let (day, key) = cursor.split_once('|').ok_or_else(bad)?;
    let day = day.parse().map_err(|_| bad())?;
    Ok((day, key.to_owned()))
}

/// A day index's start key after `key` (`<ts>#<lead>#<seq:010>`): the index keys plus the
/// table keys, which the key determines.
fn day_start_key(ix: &DayIndex, day: chrono::NaiveDate, key: &str) -> Result<Item, StoreError> {
    let bad = || StoreError::Invalid("malformed cursor".into());
    let rest = key.get(TS_LEN + 1..).ok_or_else(bad)?;
    let (lead, seq) = rest.rsplit_once('#').ok_or_else(bad)?;
    Ok(HashMap::from([
        (PK.to_owned(), s(item::lead_pk(&LeadId::new(lead)))),
        (
            SK.to_owned(),
            s(format!("{}{seq}", item::TRANSITION_PREFIX)),
        ),
        (ix.day_attr.to_owned(), s(format!("T#{day}"))),
        (ix.key_attr.to_owned(), s(key)),
    ]))
}

/// The `by_created` start key after a lead's `created` value (`<ts>#<lead id>`).
fn created_start_key(created: &str) -> Result<Item, StoreError> {
    let lead = created
        .get(TS_LEN + 1..)
        .ok_or_else(|| StoreError::Invalid("malformed cursor".into()))?;
    let mut key = item::lead_key(&LeadId::new(lead));
    key.insert("kind".to_owned(), s("LEAD"));
    key.insert("created".to_owned(), s(created));
    Ok(key)
}

/// The `by_owner` start key after a lead's `<updated_at>#<lead id>`: the index keys plus the
/// table keys, which the cursor determines.
fn owner_start_key(rep: &RepId, after: &str) -> Result<Item, StoreError> {
    let bad = || StoreError::Invalid("malformed cursor".into());
    let (updated, lead) = (
        after.get(..TS_LEN).ok_or_else(bad)?,
        after.get(TS_LEN + 1..),
    );
    let lead = lead.filter(|l| !l.is_empty()).ok_or_else(bad)?;
    let mut key = item::lead_key(&LeadId::new(lead));
    key.insert(item::OPEN_OWNER.to_owned(), s(rep.as_str()));
    key.insert(item::UPDATED_AT.to_owned(), s(updated));
    Ok(key)
}
