//! What can go wrong while routing, and whether trying again may help.

use lifecycle::LeadId;
use ports::{QueueError, StoreError};

/// A routing failure. Messages carry ids and collection names only.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// The message body is not a route request: retrying cannot help.
    #[error("message is not a route request")]
    BadMessage(#[source] serde_json::Error),
    /// The lead does not exist (the request was sent after the lead was committed, so this is
    /// a bug or a deleted store, not a race).
    #[error("lead {0} not found")]
    LeadMissing(LeadId),
    /// No routing configuration is stored yet. Retried, so the lead waits (and ends in the
    /// dead-letter queue, not lost) until an operator stores one.
    #[error("no routing configuration is stored")]
    NoConfig,
    /// A stored document does not decode.
    #[error("stored document {collection}/{key} is invalid")]
    BadDocument {
        /// Its collection.
        collection: String,
        /// Its key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The stored routing configuration fails validation.
    #[error("stored routing configuration is invalid")]
    BadConfig(#[source] lifecycle::routing::ConfigError),
    /// A value could not be encoded (a bug).
    #[error("failed to encode a document")]
    Encode(#[source] serde_json::Error),
    /// Other routers kept winning the race for the same documents; SQS will redeliver.
    #[error("too many concurrent updates, giving up for now")]
    Contended,
    /// The store failed.
    #[error("store failed")]
    Store(#[from] StoreError),
    /// The queue failed (re-sending a duplicate's messages).
    #[error("queue failed")]
    Queue(#[from] QueueError),
}

impl RoutingError {
    /// Whether handling the same message again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RoutingError::NoConfig | RoutingError::Contended => true,
            RoutingError::Store(e) => e.is_retryable(),
            RoutingError::Queue(e) => e.is_retryable(),
            RoutingError::BadMessage(_)
            | RoutingError::LeadMissing(_)
            | RoutingError::BadDocument { .. }
            | RoutingError::BadConfig(_)
            | RoutingError::Encode(_) => false,
        }
    }
}
