//! SQS batches as Lambda hands them over: the records as the ports' [`Delivery`]s, and the
//! partial batch response (`ReportBatchItemFailures`) that names the failed ones.
//!
//! A delivery is identified by the id its sender gave the message (the [`ID_ATTRIBUTE`] the
//! [`SqsQueue`](crate::SqsQueue) sets), not by SQS's message id: a message sent again after a
//! crashed commit gets a new SQS id but keeps its own, and consumers dedupe on that. Lambda
//! wants failures named by SQS's id, so the batch remembers which SQS records carry each id.

use crate::ID_ATTRIBUTE;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use ports::Delivery;
use std::collections::BTreeMap;

/// One SQS batch, read.
#[derive(Debug, Default)]
pub struct SqsBatch {
    /// The records, in order.
    pub deliveries: Vec<Delivery>,
    /// The SQS message ids of the records of each delivery id.
    sqs_ids: BTreeMap<String, Vec<String>>,
}

impl SqsBatch {
    /// The deliveries of `event`; a record without an SQS id (SQS always sets one) is
    /// skipped, since it could not be reported as failed.
    pub fn from_event(event: SqsEvent) -> Self {
        let mut batch = Self::default();
        for message in event.records {
            let Some((delivery, sqs_id)) = delivery(message) else {
                tracing::error!("SQS record without a message id skipped");
                continue;
            };
            batch
                .sqs_ids
                .entry(delivery.id.clone())
                .or_default()
                .push(sqs_id);
            batch.deliveries.push(delivery);
        }
        batch
    }

    /// The response that hands the records of the `failed` delivery ids back to the queue.
    pub fn response<'a>(&self, failed: impl IntoIterator<Item = &'a str>) -> SqsBatchResponse {
        let batch_item_failures = failed
            .into_iter()
            .flat_map(|id| self.sqs_ids.get(id).into_iter().flatten())
            .map(|sqs_id| BatchItemFailure {
                item_identifier: sqs_id.clone(),
            })
            .collect();
        SqsBatchResponse {
            batch_item_failures,
        }
    }
}

/// The delivery of one record, and SQS's id for it.
fn delivery(message: SqsMessage) -> Option<(Delivery, String)> {
    let sqs_id = message.message_id?;
    let id = message
        .message_attributes
        .get(ID_ATTRIBUTE)
        .and_then(|a| a.string_value.clone())
        .unwrap_or_else(|| sqs_id.clone());
    let receive_count = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let delivery = Delivery {
        id,
        body: message.body.unwrap_or_default(),
        receive_count,
        receipt: message.receipt_handle.unwrap_or_default(),
    };
    Some((delivery, sqs_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(records: serde_json::Value) -> SqsEvent {
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    #[test]
    fn records_are_named_by_their_sender_id_and_failures_by_the_sqs_id() {
        let batch = SqsBatch::from_event(event(serde_json::json!([
            { "messageId": "sqs-1", "receiptHandle": "r1", "body": "a",
              "attributes": { "ApproximateReceiveCount": "3" },
              "messageAttributes": { "id": { "stringValue": "notice-1", "dataType": "String" } } },
            { "messageId": "sqs-2", "receiptHandle": "r2", "body": "b",
              "attributes": {}, "messageAttributes": {} },
            { "messageId": "sqs-3", "receiptHandle": "r3", "body": "a",
              "attributes": {},
              "messageAttributes": { "id": { "stringValue": "notice-1", "dataType": "String" } } },
            { "receiptHandle": "r4", "body": "c", "attributes": {}, "messageAttributes": {} }
        ])));

        let ids: Vec<(&str, u32)> = batch
            .deliveries
            .iter()
            .map(|d| (d.id.as_str(), d.receive_count))
            .collect();
        assert_eq!(ids, [("notice-1", 3), ("sqs-2", 1), ("notice-1", 1)]);
        assert_eq!(batch.deliveries[0].receipt, "r1");

        let failed: Vec<String> = batch
            .response(["notice-1"])
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        assert_eq!(
            failed,
            ["sqs-1", "sqs-3"],
            "both records of a resent message"
        );
    }
}
