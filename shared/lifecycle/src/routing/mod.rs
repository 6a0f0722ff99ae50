//! Routing: choosing the rep for an MQL, and saying why.
//!
//! Leads are shared within **pools** (teams); [`RoutingConfig`] holds the pools and the rules
//! that send a segment of leads (by country, company size, industry, grade) to a pool. Within
//! a pool, a lead goes to its account's owner when account matching is on and the owner is
//! eligible, otherwise to the next eligible member in the pool's **rotation**, otherwise to
//! the pool's **overflow queue**. A rep is **eligible** when active, not out of office, inside
//! working hours in their own time zone, under their caps, and the lead is in their territory.
//!
//! [`route`] is a pure function returning a [`RoutingDecision`] (the outcome, every candidate
//! with every reason they were excluded, and how ties were broken) together with the new
//! [`RotationState`]. The routing function stores both in one commit, with a version check on
//! the rotation document, so concurrent routers take turns one at a time.

pub mod config;
pub mod decision;
pub mod facts;
pub mod rep;
pub mod request;
pub mod rotation;

#[cfg(test)]
mod tests;

pub use config::{
    ConfigError, Dimension, Pool, PoolChoice, PoolMember, PoolRule, Returning, RoutingConfig,
    Segment, Strategy,
};
pub use decision::{
    assign_by_hand, route, route_batch, Candidate, Outcome, Role, Routed, RoutingContext,
    RoutingDecision, TieBreak,
};
pub use facts::LeadFacts;
pub use rep::{
    AvailabilityError, Exclusion, LoadCounter, OutOfOffice, RepAvailability, RepLoad, RepSnapshot,
};
pub use request::{Reassignment, RouteRequest};
pub use rotation::{RotationState, Standing, Turns};
