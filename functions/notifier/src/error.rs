//! What can go wrong while handling a notice, and whether the queue should try it again.

use ports::{NotifyError, StoreError};

/// A notice that could not be handled. Messages carry ids and collection names only.
#[derive(Debug, thiserror::Error)]
pub enum NotifyFailure {
    /// The message body is not a notice: retrying cannot help.
    #[error("message is not a notice")]
    BadMessage(#[source] serde_json::Error),
    /// The lead named by the notice does not exist (erased, or a bug upstream).
    #[error("lead {0} not found")]
    LeadMissing(String),
    /// A stored document does not decode.
    #[error("stored document {0} is invalid")]
    BadDocument(String),
    /// The store failed.
    #[error("store failed")]
    Store(#[from] StoreError),
    /// Every in-process try failed with a retryable error (timeout, 5xx, 429); the queue
    /// delivers the notice again later.
    #[error("delivery failed {attempts} times")]
    Undelivered {
        /// Tries made.
        attempts: u32,
        /// The last error.
        #[source]
        source: NotifyError,
    },
    /// The receiver refused the message (a 4xx other than 429, or an unusable URL): the
    /// target needs fixing.
    #[error("delivery refused by the target")]
    Refused(#[source] NotifyError),
}

impl NotifyFailure {
    /// Whether handling the same message again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyFailure::Store(e) => e.is_retryable(),
            NotifyFailure::Undelivered { .. } => true,
            NotifyFailure::BadMessage(_)
            | NotifyFailure::LeadMissing(_)
            | NotifyFailure::BadDocument(_)
            | NotifyFailure::Refused(_) => false,
        }
    }

    /// A short class for logs and the local queue's failure reason.
    pub fn class(&self) -> &'static str {
        match self {
            NotifyFailure::BadMessage(_) => "bad_message",
            NotifyFailure::LeadMissing(_) => "lead_missing",
            NotifyFailure::BadDocument(_) => "bad_document",
            NotifyFailure::Store(_) => "store",
            NotifyFailure::Undelivered { .. } => "undelivered",
            NotifyFailure::Refused(_) => "refused",
        }
    }
}
