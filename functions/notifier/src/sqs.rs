//! The Lambda side: an SQS batch in, the failed records out (`ReportBatchItemFailures`).
//!
//! A notice is identified by the id its sender gave it (the `id` message attribute the SQS
//! adapter sets), not by SQS's own message id: a notice re-sent after a crashed commit gets a
//! new SQS id but keeps its own, and the notifier dedupes on that. Failures are reported with
//! SQS's id, which is what Lambda expects.

use crate::handler::Dispatcher;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use ports::Delivery;
use std::collections::BTreeMap;

/// Handles one SQS batch.
pub async fn handle_event(
    dispatcher: &Dispatcher,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut sqs_ids = BTreeMap::new();
    let deliveries: Vec<Delivery> = event
        .payload
        .records
        .into_iter()
        .filter_map(|m| {
            let (delivery, sqs_id) = to_delivery(m)?;
            sqs_ids.insert(delivery.id.clone(), sqs_id);
            Some(delivery)
        })
        .collect();

    let report = dispatcher
        .handle_batch(&deliveries, chrono::Utc::now())
        .await;
    let batch_item_failures = report
        .failed
        .into_iter()
        .filter_map(|(id, _)| sqs_ids.get(&id).cloned())
        .map(|item_identifier| BatchItemFailure { item_identifier })
        .collect();
    Ok(SqsBatchResponse {
        batch_item_failures,
    })
}

/// The delivery of a record, and SQS's id for it.
fn to_delivery(message: SqsMessage) -> Option<(Delivery, String)> {
    let Some(sqs_id) = message.message_id else {
        // Without an id the record cannot be reported as failed; SQS always sets it.
        tracing::error!("SQS record without a message id skipped");
        return None;
    };
    let id = message
        .message_attributes
        .get(aws_adapters::ID_ATTRIBUTE)
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

    fn record(attributes: serde_json::Value) -> SqsMessage {
        serde_json::from_value(serde_json::json!({
            "messageId": "0c7b-sqs-id",
            "receiptHandle": "AQEB-receipt",
            "body": "{\"kind\":\"lead_assigned\"}",
            "attributes": { "ApproximateReceiveCount": "3" },
            "messageAttributes": attributes,
            "eventSource": "aws:sqs",
        }))
        .unwrap()
    }

    #[test]
    fn the_notice_id_comes_from_the_id_attribute_and_failures_use_the_sqs_id() {
        let attrs =
            serde_json::json!({ "id": { "stringValue": "assigned:L1:1:0", "dataType": "String" } });
        let (delivery, sqs_id) = to_delivery(record(attrs)).unwrap();
        assert_eq!(delivery.id, "assigned:L1:1:0");
        assert_eq!(sqs_id, "0c7b-sqs-id");
        assert_eq!(delivery.receive_count, 3);
        assert_eq!(delivery.receipt, "AQEB-receipt");
    }

    #[test]
    fn without_the_attribute_the_sqs_id_is_the_notice_id() {
        let (delivery, _) = to_delivery(record(serde_json::json!({}))).unwrap();
        assert_eq!(delivery.id, "0c7b-sqs-id");
    }
}
