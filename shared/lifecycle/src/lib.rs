//! The lead lifecycle: the project's vocabulary as types, and the rules that move a lead
//! through its journey.
//!
//! A **lead** is one person, known by a normalised e-mail ([`Email`]) or, until an e-mail
//! arrives, by a phone number (such a lead is *incomplete*). Everything that happens to a lead's
//! stage is an append-only [`Transition`]; the lead's current position, its cycles and the
//! "became X at" timestamps are a pure fold of those transitions ([`JourneyState`]), so the
//! stored stage and the history can never disagree.
//!
//! This crate does no I/O and never reads a clock: every function that needs the time takes it
//! as an argument. Functions load state, call the core, and write what it returns atomically.

pub mod activity;
pub mod contact;
pub mod funnel;
pub mod ids;
pub mod journey;
pub mod lead;
pub mod notify;
pub mod plan;
pub mod routing;
pub mod scoring;
pub mod sla;
pub mod stage;
pub mod transition;

pub use activity::{Activity, ActivityKind};
pub use contact::{Email, EmailError, Phone};
pub use ids::{CauseId, LeadId, RepId};
pub use journey::{JourneyError, JourneyState, StageEvent, StageOutcome};
pub use lead::{Attribution, Lead, Profile};
pub use stage::Stage;
pub use transition::{Actor, Reason, Transition};

/// A point in time, always UTC. Business calendars convert at their edges.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
