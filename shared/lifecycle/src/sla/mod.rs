//! Service-level agreements: promises with a clock, measured in business time.
//!
//! A team has a [`BusinessCalendar`] (time zone, weekly hours, holidays) and a set of
//! [`SlaPolicy`]s ("a hand raiser is accepted within 15 business minutes"). Three kinds of clock
//! run on a lead ([`ClockKind`]): *routing latency*, from MQL to assignment; *rep response*,
//! from assignment until the owner acts on the MQL; and *SAL follow-up*, from the accept until
//! the owner qualifies, disqualifies, rejects or recycles the lead. A [`SlaClock`] is due when its target has passed in
//! business time; the minute sweep asks each due clock for its [`EscalationStep`]s and carries
//! each out once, claiming the step's id.
//!
//! Everything here is pure: the time is always an argument.

pub mod calendar;
pub mod clock;
pub mod policy;

#[cfg(test)]
mod tests;

pub use calendar::{
    BusinessCalendar, CalendarError, CalendarSpec, OpenInterval, WallTime, WeeklyHours, Zone,
};
pub use clock::{ClockStart, ClockStatus, EscalationStep, SlaClock, StepKind};
pub use policy::{ClockKind, Escalation, LeadKind, PolicyError, SlaPolicies, SlaPolicy};
