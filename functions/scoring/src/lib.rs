//! The scoring function: it takes activities off the `activities` queue and decides who is an
//! MQL.
//!
//! For each message it loads the lead, the lead's activities and its score ledger, asks the
//! core ([`lifecycle::scoring`]) for the grade, the re-derived ledger, the scores and the MQL
//! decision, and writes all of it in one [`ports::Commit`] that also claims the activity, so a
//! redelivered message changes nothing. An MQL is appended as a transition, counted in the
//! funnel counters, and announced on the `mqls` queue (ids only).
//!
//! Beside the queue handler this crate holds the tracking endpoint ([`tracking`]), which turns
//! page views, e-mail events and the like into activities; the explain view of a lead's ledger
//! ([`explain`]); the rescore batch job ([`rescore`]); the per-minute sweep ([`scheduled`]) that
//! wakes leads whose delayed points start to count ([`wake`]) and runs a rescore after a rule
//! change; and the X Education import that measures how well a rule set ranks real leads
//! ([`xeducation`]).

pub mod auc;
pub mod documents;
pub mod error;
pub mod explain;
pub mod handler;
pub mod rescore;
pub mod scheduled;
pub mod sqs;
pub mod tracking;
pub mod wake;
pub mod wiring;
pub mod xeducation;

pub use error::ScoringError;
pub use handler::{ActivityMessage, BatchReport, RecordOutcome, Scorer};
