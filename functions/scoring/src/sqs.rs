//! The Lambda side of the handler: an SQS batch in, the ids of the records that failed out
//! (`ReportBatchItemFailures`), so one bad record never holds up the rest. A record that keeps
//! failing is dead-lettered by the queue's redrive policy.

use crate::handler::Scorer;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use ports::Delivery;

/// Handles one SQS batch.
pub async fn handle_event(
    scorer: &Scorer,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let deliveries: Vec<Delivery> = event
        .payload
        .records
        .into_iter()
        .filter_map(to_delivery)
        .collect();

    let report = scorer.handle_batch(&deliveries).await;
    tracing::info!(
        records = deliveries.len(),
        failed = report.failed.len(),
        "batch handled"
    );
    Ok(SqsBatchResponse {
        batch_item_failures: report
            .failed
            .into_iter()
            .map(|(id, _)| BatchItemFailure {
                item_identifier: id,
            })
            .collect(),
    })
}

fn to_delivery(message: SqsMessage) -> Option<Delivery> {
    let Some(id) = message.message_id else {
        // Without an id the record cannot be reported as failed; SQS always sets it.
        tracing::error!("SQS record without a message id skipped");
        return None;
    };
    let receive_count = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    Some(Delivery {
        id,
        body: message.body.unwrap_or_default(),
        receive_count,
        receipt: message.receipt_handle.unwrap_or_default(),
    })
}
