//! The API's integration tests, one binary: each test builds a fresh API on an in-memory
//! embedded store and drives it through `api::handle`.

mod actions;
mod assign;
mod consumers;
mod erasure;
mod failures;
mod harness;
mod jwt;
mod reads;
mod reports;
mod roles;
mod routing;
mod sal_clock;
mod score;
