//! The scoring function against the embedded store: one test binary.

mod common;
mod handler;
mod rescore;
mod sweep;
mod tracking;
mod xeducation;
