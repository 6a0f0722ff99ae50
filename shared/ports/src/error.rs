//! Errors an adapter can answer with. Each says whether retrying may help, so a handler can
//! tell SQS to retry a record or an HTTP caller to come back, instead of guessing.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or timed out; retrying may succeed.
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Throughput exceeded or a transaction conflicted with another in flight; retry with
    /// back-off.
    #[error("store throttled or busy")]
    Throttled(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored item could not be decoded: a bug or a corrupted item, not worth retrying.
    #[error("stored item {key} is corrupt")]
    Corrupt {
        /// Which item.
        key: String,
        /// What was wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The request was refused as invalid (too large, malformed key): a bug in the caller.
    #[error("store refused the request: {0}")]
    Invalid(String),
}

impl StoreError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Throttled(_))
    }
}

/// A queue failure.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached; retrying may succeed.
    #[error("queue unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The message was refused (too large, malformed): a bug in the caller.
    #[error("queue refused the message: {0}")]
    Invalid(String),
}

impl QueueError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Unavailable(_))
    }
}
