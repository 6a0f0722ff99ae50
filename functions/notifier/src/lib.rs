//! The notifier function: takes [`Notice`](routing::Notice)s off the notifications queue
//! (a lead assigned or overflowed, an SLA reminder or breach), writes the message a rep or a
//! manager needs to act well, and posts it to their channel through the outbound notification
//! port ([`ports::Notifier`]).
//!
//! A notice carries ids only. The notifier looks up the rest ([`brief`]): who the lead is
//! (name, title, company, e-mail, phone: the one place personal data leaves the system, to the
//! rep's own channel, never to a log), what they did lately, why they are an MQL (the grade,
//! the score and the thresholds of the MQL decision), and when the SLA is due. [`render`]
//! turns that into a Slack-compatible body (`text` and `blocks`) or a generic JSON body, and
//! [`handler`] delivers it once per notice, with retries.
//!
//! Routing has committed the assignment before the notice was queued, so nothing here can
//! hold an assignment up: a notice that cannot be delivered ends in the queue's dead-letter
//! queue, and the lead stays with its rep.

pub mod brief;
pub mod error;
pub mod handler;
pub mod render;
pub mod sqs;
pub mod targets;

pub use error::NotifyFailure;
pub use handler::{BatchReport, Dispatcher, Outcome, RetryPolicy};
