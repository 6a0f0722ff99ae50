//! The extent of the stored transitions ([`JourneyStore::extent`](ports::JourneyStore)): the
//! first day one was recorded, the first and last day one took effect, kept in marker items.
//!
//! Partition `EXTENT` holds one item per UTC day a transition was recorded (`sk = R#<day>`)
//! and per day one took effect (`E#<day>`). A commit with transitions puts the markers of
//! their days that this store value has not put yet, in its own transaction (unconditional
//! puts: the same marker twice changes nothing), so a Lambda container writes each day's
//! markers once, with no request of their own. A commit too large to take them too writes
//! them first, as plain PutItems ([`crate::commit`]): if that commit then fails, a day is noted
//! with nothing on it (the extent is wider than the truth, which costs a reader one empty
//! Query), but no committed transition is ever outside the extent.
//!
//! Reading the extent is three Queries of one item each. Without it, the day-partitioned
//! indexes (`by_day`, `by_effective_day`) can only be walked from 1970: 20,000 Queries.

use crate::{
    error::store_error,
    item::{s, Item, PK, SK},
};
use aws_sdk_dynamodb::{types::AttributeValue, Client};
use chrono::NaiveDate;
use lifecycle::Transition;
use ports::{Extent, StoreError};
use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

/// The partition of the markers.
const PARTITION: &str = "EXTENT";
const RECORDED: &str = "R#";
const EFFECTIVE: &str = "E#";

/// The markers this store value has put (clones share them).
#[derive(Debug, Clone, Default)]
pub(crate) struct Noted(Arc<Mutex<BTreeSet<String>>>);

impl Noted {
    /// The markers of `transitions`' days this store value has not put yet, as items.
    pub(crate) fn missing(&self, transitions: &[Transition]) -> Vec<Item> {
        let wanted: BTreeSet<String> = transitions
            .iter()
            .flat_map(|t| {
                [
                    format!("{RECORDED}{}", t.recorded_at.date_naive()),
                    format!("{EFFECTIVE}{}", t.effective_at.date_naive()),
                ]
            })
            .collect();
        let noted = self.0.lock().unwrap_or_else(|p| p.into_inner());
        wanted.difference(&noted).map(|sk| marker(sk)).collect()
    }

    /// Remembers `markers` as put.
    pub(crate) fn put(&self, markers: &[Item]) {
        let mut noted = self.0.lock().unwrap_or_else(|p| p.into_inner());
        noted.extend(markers.iter().filter_map(|m| match m.get(SK) {
            Some(AttributeValue::S(sk)) => Some(sk.clone()),
            _ => None,
        }));
    }
}

/// The marker item with sort key `sk`.
fn marker(sk: &str) -> Item {
    Item::from([(PK.to_owned(), s(PARTITION)), (SK.to_owned(), s(sk))])
}

/// The extent from the markers (`None` before the first transition).
pub(crate) async fn read(client: &Client, table: &str) -> Result<Option<Extent>, StoreError> {
    let first_recorded = edge(client, table, RECORDED, true).await?;
    let first_effective = edge(client, table, EFFECTIVE, true).await?;
    let last_effective = edge(client, table, EFFECTIVE, false).await?;
    Ok(match (first_recorded, first_effective, last_effective) {
        (Some(first_recorded), Some(first_effective), Some(last_effective)) => Some(Extent {
            first_recorded,
            first_effective,
            last_effective,
        }),
        _ => None,
    })
}

/// The first (or last) day marked with `prefix`: one Query, one item.
async fn edge(
    client: &Client,
    table: &str,
    prefix: &str,
    first: bool,
) -> Result<Option<NaiveDate>, StoreError> {
    let out = client
        .query()
        .table_name(table)
        .consistent_read(true)
        .key_condition_expression("#pk = :pk AND begins_with(#sk, :p)")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#sk", SK)
        .expression_attribute_values(":pk", s(PARTITION))
        .expression_attribute_values(":p", s(prefix))
        .scan_index_forward(first)
        .limit(1)
        .send()
        .await
        .map_err(store_error)?;
    let Some(item) = out.items.unwrap_or_default().into_iter().next() else {
        return Ok(None);
    };
    day(&item, prefix).map(Some)
}

fn day(item: &Item, prefix: &str) -> Result<NaiveDate, StoreError> {
    let sk = match item.get(SK) {
        Some(AttributeValue::S(sk)) => sk.as_str(),
        _ => "",
    };
    sk.strip_prefix(prefix)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| StoreError::Corrupt {
            key: format!("{PARTITION}/{sk}"),
            source: "an extent marker without a day".into(),
        })
}
