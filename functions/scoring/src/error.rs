//! The scoring handler's errors, each classed as worth retrying or not.

use lifecycle::{scoring::RuleSetError, LeadId};
use ports::{QueueError, StoreError};

/// Why one message could not be scored. Messages name ids only, never personal data.
#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    /// The body is not an activity message: retrying cannot help.
    #[error("message body is not an activity message")]
    Malformed(#[source] serde_json::Error),
    /// The lead is not (yet) visible; the write that sent the message may still be settling.
    #[error("lead {0} not found")]
    LeadMissing(LeadId),
    /// The activity is not (yet) among the lead's activities. (Shown by a digest of its id,
    /// which a tracking caller chooses.)
    #[error("activity {} of lead {lead} not found", digest(.activity))]
    ActivityMissing {
        /// The lead.
        lead: LeadId,
        /// The activity id.
        activity: String,
    },
    /// The stored ledger could not be read back: a bug or a corrupted document.
    #[error("score ledger of lead {0} is corrupt")]
    CorruptLedger(LeadId, #[source] serde_json::Error),
    /// The stored rule set is invalid.
    #[error("stored scoring rules are invalid")]
    BadRules(#[source] RuleSetError),
    /// The rule set could not be loaded for the batch (the class and retryability of the
    /// underlying failure, logged once for the batch).
    #[error("scoring rules could not be loaded ({class})")]
    RulesUnavailable {
        /// The class of the failure.
        class: &'static str,
        /// Whether it may succeed later.
        retryable: bool,
    },
    /// The lead kept changing under us.
    #[error("lead {0} changed under every one of {1} attempts")]
    Contention(LeadId, u32),
    /// The store failed.
    #[error("store failed")]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error("queue failed")]
    Queue(#[from] QueueError),
}

impl ScoringError {
    /// Whether handling the same message again may succeed. A message that fails for a reason
    /// that is not retryable still fails (the queue's redrive moves it to the dead-letter
    /// queue); it is logged as poison with its reason.
    pub fn is_retryable(&self) -> bool {
        match self {
            ScoringError::LeadMissing(_)
            | ScoringError::ActivityMissing { .. }
            | ScoringError::Contention(..) => true,
            ScoringError::RulesUnavailable { retryable, .. } => *retryable,
            ScoringError::Store(e) => e.is_retryable(),
            ScoringError::Queue(e) => e.is_retryable(),
            ScoringError::Malformed(_)
            | ScoringError::CorruptLedger(..)
            | ScoringError::BadRules(_) => false,
        }
    }

    /// A short class for logs and dead-letter reasons.
    pub fn class(&self) -> &'static str {
        match self {
            ScoringError::Malformed(_) => "malformed_message",
            ScoringError::LeadMissing(_) => "lead_missing",
            ScoringError::ActivityMissing { .. } => "activity_missing",
            ScoringError::CorruptLedger(..) => "corrupt_ledger",
            ScoringError::BadRules(_) => "bad_rules",
            ScoringError::RulesUnavailable { class, .. } => class,
            ScoringError::Contention(..) => "contention",
            ScoringError::Store(_) => "store",
            ScoringError::Queue(_) => "queue",
        }
    }
}

/// A short digest of an id chosen outside the system (a tracking event's id), for logs: the
/// first 12 hex digits of its SHA-256. Equal ids give equal digests, so a log can still follow
/// one activity, but whatever a caller put in the id does not reach the log.
pub fn digest(id: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(id.as_bytes());
    hash.iter().take(6).map(|b| format!("{b:02x}")).collect()
}
