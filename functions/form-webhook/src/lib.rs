//! The `form-webhook` function: `POST /webhooks/{provider}` from API Gateway.
//!
//! Each delivery goes through the same steps, in this order, each in its own module:
//!
//! 1. [`http`]: size (256 KiB), content type and provider checks, then the answer;
//! 2. [`provider`]: the provider's own signature scheme on the raw bytes (`verify` holds the
//!    shared HMAC and constant-time helpers), then parsing into raw submissions;
//! 3. [`mapping`] and [`normalise`]: answers into e-mail, phone, name, company, title and
//!    attribution, per form;
//! 4. [`intake`]: the lead found or created, the activity and the `New` transition written in
//!    one commit with the delivery's idempotency claim, and the activity enqueued for scoring.
//!
//! Meta Lead Ads deliveries carry ids only: [`lead_fetch`] reads the lead later, from a queue
//! message, through the [`lead_fetch::LeadFetcher`] port; `graph` (feature `graph`) holds its
//! Graph API implementation and `src/bin/lead-fetch.rs` consumes the queue in AWS.
//!
//! Nothing here reads the wall clock except [`SystemClock`] (the injected [`Clock`] of `ports`), and nothing logs personal
//! data: log lines carry the provider, the delivery key and outcome names.

pub mod config;
pub mod error;
#[cfg(feature = "graph")]
pub mod graph;
pub mod http;
pub mod intake;
pub mod lead_fetch;
pub mod mapping;
pub mod normalise;
pub mod provider;
mod sync;
mod verify;

pub use config::{Config, ConfigSource, Secret};
pub use error::WebhookError;
pub use http::{Service, WebhookRequest, WebhookResponse, MAX_BODY_BYTES};
pub use intake::{Intake, ItemOutcome};
pub use normalise::Submission;
pub use ports::{Clock, ManualClock, SystemClock};
pub use provider::{Headers, Provider};

/// A point in time, UTC.
pub type Timestamp = lifecycle::Timestamp;
