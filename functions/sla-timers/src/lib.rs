//! The SLA timers function: run every minute by a schedule, it finds the SLA clocks whose next
//! step is due and carries each step out exactly once (see [`sweep`]).
//!
//! Clocks are started by the routing function and stopped by the API when the owner acts
//! (with the writes [`stop_writes`] gives); this function only escalates them.

pub mod stop;
pub mod sweep;

pub use stop::stop_writes;
pub use sweep::{SweepError, SweepReport, Sweeper};
