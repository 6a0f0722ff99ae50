//! The SLA timers function: run every minute by a schedule, it finds the SLA clocks whose next
//! step is due and carries each step out exactly once (see [`sweep`]).
//!
//! Clocks are started by the routing function (an MQL's) and by the API's accept (an SAL's, with
//! the writes [`follow_up_writes`] gives), and stopped by the API when the owner acts (with the
//! writes [`stop_writes`] gives); this function only escalates them. A clock whose
//! document cannot be read is parked ([`park`]) rather than retried every minute.

pub mod park;
pub mod start;
mod step;
pub mod stop;
pub mod sweep;

pub use park::{ParkedClock, Unparked, SLA_PARKED};
pub use start::follow_up_writes;
pub use stop::stop_writes;
pub use sweep::{SweepError, SweepLimits, SweepReport, Sweeper};
