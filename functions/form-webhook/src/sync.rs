//! Running an async parser whose input is already in memory, without a runtime.
//!
//! `multer` is async, but a webhook body is a buffer we already hold, so every poll makes
//! progress. Driving the future with a no-op waker keeps the parsers synchronous (and so
//! fuzzable and benchmarkable without tokio).

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

/// Polls `fut` until it is ready. Gives up (`None`) if it keeps asking to wait, which an
/// in-memory input never should; a bound beats spinning forever.
pub(crate) fn run_ready<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1024 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
    }
    None
}
