//! Ports: the storage, queue and outbound-notification interfaces the functions are written against.
//!
//! Two families of adapters implement them: the embedded store (SQLite in one file, with
//! in-process queues) that runs everything on a laptop, and DynamoDB + SQS in production. Both
//! must pass the same conformance suite, so a function cannot tell which one it runs on.
//!
//! The central write is a [`Commit`]: the lead (with its optimistic-concurrency version), its
//! new transitions, activities, counter deltas, documents, the idempotency claims of the
//! events that caused them, and the messages to send on. An adapter applies a commit all or
//! nothing, and answers [`CommitOutcome::Duplicate`] when a claim was already taken, so that a
//! redelivered webhook or SQS message changes nothing.

pub mod clock;
pub mod commit;
pub mod document;
pub mod error;
pub mod events;
pub mod notify;
pub mod queue;
pub mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use clock::{Clock, ManualClock, SystemClock};
pub use commit::{Claim, Commit, CommitOutcome, Expect, IdentityRelease, LeadWrite};
pub use document::{Document, DocumentWrite, Page, MAX_PAGE};
pub use error::{QueueError, StoreError};
pub use events::JourneyEvent;
pub use notify::{Notifier, NotifyError};
pub use queue::{Delivery, Message, Queue, QueueConsumer, Topic};
pub use store::{open_owner, DocumentStore, Extent, JourneyStore};
