//! Counting the HTTP requests a client sends, for the request-cost benchmark.
//!
//! [`RequestCounter`] is an SDK interceptor: it sees every attempt just before it goes on the
//! wire (retries included) and tallies them by operation, read from the `X-Amz-Target` header
//! that DynamoDB's and SQS's JSON protocols carry.
//!
//! It also counts *round trips*: the waves in which requests are on the wire. A wave starts
//! when a request is sent while none is in flight and lasts until the last one of it is
//! answered, so two requests sent together are one round trip and a request that waits for
//! another's answer is a second. (A request sent just after its partner was answered counts as
//! a wave of its own, so the figure errs high, never low.)

use aws_sdk_dynamodb::config::{
    interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef},
    ConfigBag, Intercept, RuntimeComponents,
};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// Counts requests by operation, and round trips. Clones share the tally.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    tally: Arc<Mutex<Tally>>,
}

#[derive(Debug, Default)]
struct Tally {
    requests: BTreeMap<String, usize>,
    in_flight: usize,
    waves: usize,
}

impl RequestCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests per operation since the last [`take`](Self::take) (or [`take_all`]).
    ///
    /// [`take_all`]: Self::take_all
    pub fn take(&self) -> BTreeMap<String, usize> {
        self.take_all().0
    }

    /// Requests per operation and round trips since the last take.
    pub fn take_all(&self) -> (BTreeMap<String, usize>, usize) {
        let mut tally = self.lock();
        let waves = std::mem::take(&mut tally.waves);
        (std::mem::take(&mut tally.requests), waves)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("unknown");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        let mut tally = self.lock();
        *tally.requests.entry(operation).or_default() += 1;
        if tally.in_flight == 0 {
            tally.waves += 1;
        }
        tally.in_flight += 1;
        Ok(())
    }

    /// Called after every attempt, answered or failed, so a wave always ends.
    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let mut tally = self.lock();
        tally.in_flight = tally.in_flight.saturating_sub(1);
        Ok(())
    }
}
