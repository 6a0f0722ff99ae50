//! Clocks: where adapters get "now" from.
//!
//! The core never reads a clock; adapters do (a queue's visibility timeout, a claim's or a
//! document's expiry). They take it from a [`Clock`] so that the local stack and the tests can
//! run on a simulated clock ([`ManualClock`]) and replay a week of SLA timers in a second,
//! while production uses the system clock ([`SystemClock`]).

use lifecycle::Timestamp;
use std::sync::Mutex;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The time now.
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// A clock that stands still until it is set or advanced.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `at` (backwards too: a test may need it).
    pub fn set(&self, at: Timestamp) {
        *self.lock() = at;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.lock();
        *now += by;
    }

    // A panic while the lock was held cannot leave a half-written timestamp behind, so a
    // poisoned lock is still safe to use.
    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = chrono::DateTime::from_timestamp(1_893_456_000, 0).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);

        clock.advance(chrono::Duration::seconds(90));
        assert_eq!(clock.now().to_rfc3339(), "2030-01-01T00:01:30+00:00");

        clock.set(start);
        assert_eq!(clock.now(), start);
    }
}
