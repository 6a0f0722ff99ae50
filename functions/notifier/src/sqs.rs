//! The Lambda side: an SQS batch in, the failed records out (`ReportBatchItemFailures`).
//!
//! A notice is identified by the id its sender gave it, not by SQS's own message id, so a
//! notice re-sent after a crashed commit is still sent once; [`SqsBatch`] reads the batch that
//! way and names failures by SQS's id, which is what Lambda expects.

use crate::handler::Dispatcher;
use aws_adapters::lambda::SqsBatch;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;

/// Handles one SQS batch.
pub async fn handle_event(
    dispatcher: &Dispatcher,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let batch = SqsBatch::from_event(event.payload);
    let report = dispatcher
        .handle_batch(&batch.deliveries, chrono::Utc::now())
        .await;
    Ok(batch.response(report.failed.iter().map(|(id, _)| id.as_str())))
}
