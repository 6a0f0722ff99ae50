//! Counting the HTTP requests a client sends, for the request-cost benchmark.
//!
//! [`RequestCounter`] is an SDK interceptor: it sees every attempt just before it goes on the
//! wire (retries included) and tallies them by operation, read from the `X-Amz-Target` header
//! that DynamoDB's and SQS's JSON protocols carry.

use aws_sdk_dynamodb::config::{
    interceptors::BeforeTransmitInterceptorContextRef, ConfigBag, Intercept, RuntimeComponents,
};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// Counts requests by operation. Clones share the tally.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    tally: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl RequestCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests per operation since the last [`take`](Self::take).
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.tally.lock().unwrap_or_else(|p| p.into_inner()))
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
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        *tally.entry(operation).or_default() += 1;
        Ok(())
    }
}
