//! The routing function: takes route requests off the MQL queue (new MQLs from scoring,
//! reassignments from the SLA sweep), decides who gets each lead with the core's
//! [`route`](lifecycle::routing::route), and commits the decision atomically with the lead's
//! new owner, the pool's rotation, the reps' loads, the SLA clocks and the notices.
//!
//! [`Router::plan_by_hand`] builds the commit of an assignment a person makes by naming the
//! rep (see [`manual`]).
//!
//! [`Router::dry_run`] answers "who would get this lead, and why" from the same reads and the
//! same core call, without writing anything.

pub mod docs;
pub mod error;
pub mod handler;
pub mod manual;
pub mod notice;

pub use error::RoutingError;
pub use handler::{RouteOutcome, Router, SkipReason};
pub use manual::{HandAssignment, HandError, HandPlan, Refusal};
pub use notice::Notice;
