//! Documents: versioned JSON records for everything that is not a lead or a transition
//! (configuration, reps and pools, routing cursors and decisions, SLA clocks, score ledgers,
//! report snapshots).
//!
//! A document lives in a *collection* under a *key*. It may carry an *index* value, a string
//! that sorts the collection (an SLA clock's due time as RFC 3339, a rep's open-lead key), so
//! that a caller can ask for "the documents of this collection whose index is at most X"
//! without scanning. Typed wrappers live in the functions that own each collection.

use crate::commit::Expect;
use lifecycle::Timestamp;
use serde::{Deserialize, Serialize};

/// One stored document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The collection, e.g. `config`, `rep`, `sla_clock`.
    pub collection: String,
    /// The key within the collection.
    pub key: String,
    /// Version, bumped on every write (1 for the first).
    pub version: u64,
    /// Optional sortable index value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// The body.
    pub body: serde_json::Value,
    /// When the store may drop the document (TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// A write of one document, conditional on what is stored now.
#[derive(Debug, Clone, PartialEq)]
pub enum DocumentWrite {
    /// Store `doc` (its `version` is the new version) if the stored one matches `expect`.
    Put {
        /// The new document.
        doc: Document,
        /// The condition.
        expect: Expect,
    },
    /// Delete a document if the stored one matches `expect`.
    Delete {
        /// The collection.
        collection: String,
        /// The key.
        key: String,
        /// The condition.
        expect: Expect,
    },
}

impl DocumentWrite {
    /// The collection and key written.
    pub fn target(&self) -> (&str, &str) {
        match self {
            DocumentWrite::Put { doc, .. } => (&doc.collection, &doc.key),
            DocumentWrite::Delete {
                collection, key, ..
            } => (collection, key),
        }
    }
}

/// The largest page a listing returns; a larger `limit` is capped to it, and a `limit` of 0 is
/// refused as [`StoreError::Invalid`](crate::StoreError::Invalid).
pub const MAX_PAGE: usize = 1000;

/// One page of a listing, with an opaque cursor for the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` at the end.
    pub next: Option<String>,
}
