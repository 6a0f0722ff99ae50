//! Mapping SDK failures onto the ports' errors, in one place.
//!
//! The SDK error keeps its source (so the retry signal and request id survive in logs), and the
//! port error says whether a retry may help. Messages carry error codes, never the service's
//! free-text message: a validation message can quote a key, and our keys hold e-mails.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use ports::{QueueError, StoreError};
use std::error::Error as StdError;

/// Error codes that mean "slow down and try again".
const THROTTLING: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Error codes that mean the request itself is wrong.
const INVALID: &[&str] = &[
    "ValidationException",
    "ResourceNotFoundException",
    "ItemCollectionSizeLimitExceededException",
    "SerializationException",
    "AccessDeniedException",
    "UnrecognizedClientException",
];

/// A DynamoDB call failed.
pub(crate) fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown").to_owned();
            if THROTTLING.contains(&code.as_str()) {
                StoreError::Throttled(Box::new(err))
            } else if INVALID.contains(&code.as_str()) {
                StoreError::Invalid(code)
            } else {
                StoreError::Unavailable(Box::new(err))
            }
        }
        SdkError::ConstructionFailure(_) => StoreError::Invalid("request not built".into()),
        _ => StoreError::Unavailable(Box::new(err)),
    }
}

/// An SQS call failed.
pub(crate) fn queue_error<E, R>(err: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown");
            if is_sender_fault(code) {
                QueueError::Invalid(code.to_owned())
            } else {
                QueueError::Unavailable(Box::new(err))
            }
        }
        SdkError::ConstructionFailure(_) => QueueError::Invalid("request not built".into()),
        _ => QueueError::Unavailable(Box::new(err)),
    }
}

/// SQS codes for a request that will fail the same way every time.
pub(crate) fn is_sender_fault(code: &str) -> bool {
    !matches!(
        code,
        "RequestThrottled"
            | "ThrottlingException"
            | "ServiceUnavailable"
            | "InternalError"
            | "KmsThrottled"
            | "unknown"
    )
}
