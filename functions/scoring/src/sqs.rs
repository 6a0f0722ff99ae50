//! The Lambda side of the handler: an SQS batch in, the ids of the records that failed out
//! (`ReportBatchItemFailures`), so one bad record never holds up the rest. A record that keeps
//! failing is dead-lettered by the queue's redrive policy.

use crate::handler::Scorer;
use aws_adapters::lambda::SqsBatch;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;

/// Handles one SQS batch.
pub async fn handle_event(
    scorer: &Scorer,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let batch = SqsBatch::from_event(event.payload);
    let report = scorer.handle_batch(&batch.deliveries).await;
    tracing::info!(
        records = batch.deliveries.len(),
        failed = report.failed.len(),
        "batch handled"
    );
    Ok(batch.response(report.failed.iter().map(|(id, _)| id.as_str())))
}
