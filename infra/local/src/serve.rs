//! `journey serve`: the [`Stack`] behind an HTTP/1.1 server on the loopback address, with the
//! queues pumped and the schedules ticking in the same process.
//!
//! The server only ever binds 127.0.0.1: the API trusts the `X-Dev-User` header there
//! ([`api::auth::AuthMode::DevHeader`]), so anyone who can reach the port can be anyone.
//!
//! Two background tasks stand in for what AWS does around the functions: one drains the
//! queues every [`PUMP_EVERY`], and at once after each successful request (Lambda's event
//! source mappings), one runs the schedules every minute (EventBridge). Tests serve the same
//! stack without them ([`serve_http`]) and call [`Stack::drain`] and [`Stack::run_schedules`]
//! themselves, on a manual clock.

use crate::stack::Stack;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Bytes, server::conn::http1, service::service_fn, StatusCode};
use hyper_util::rt::TokioIo;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::Notify};

/// How often the queues are drained.
pub const PUMP_EVERY: Duration = Duration::from_millis(500);
/// How often the schedules run (the SLA sweep's rate in the template).
pub const TICK_EVERY: Duration = Duration::from_secs(60);
/// The largest request body read: API Gateway's payload limit (each function checks its own,
/// smaller, limit after that).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// Binds `port` (0: any free port) on 127.0.0.1.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Readable log lines on the terminal (stderr, so reports on stdout stay clean); `RUST_LOG`
/// filters them (default `info`). The Lambda binaries log JSON instead.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (a test that served twice) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Serves `stack` on `listener` with the queue pump and the schedules, until Ctrl-C.
pub async fn run(stack: Arc<Stack>, listener: TcpListener) -> anyhow::Result<()> {
    let wake = Arc::new(Notify::new());
    let pump = tokio::spawn(pump(stack.clone(), wake.clone()));
    let ticks = tokio::spawn(tick(stack.clone()));
    tokio::select! {
        served = serve_with(stack, listener, Some(wake)) => served?,
        _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
    }
    pump.abort();
    ticks.abort();
    Ok(())
}

/// Answers HTTP requests on `listener` with `stack`, one task per connection, for ever. The
/// queues are left to the caller ([`Stack::drain`]).
pub async fn serve_http(stack: Arc<Stack>, listener: TcpListener) -> std::io::Result<()> {
    serve_with(stack, listener, None).await
}

/// As [`serve_http`], waking `wake` when a request may have queued work.
async fn serve_with(
    stack: Arc<Stack>,
    listener: TcpListener,
    wake: Option<Arc<Notify>>,
) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let stack = stack.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let (stack, wake) = (stack.clone(), wake.clone());
                async move {
                    let resp = answer(&stack, req).await;
                    if let Some(wake) = wake.filter(|_| resp.status().is_success()) {
                        wake.notify_one();
                    }
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// One request: hyper → [`Stack::handle`] → hyper.
async fn answer(
    stack: &Stack,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let resp = stack
        .handle(hyper::Request::from_parts(parts, bytes.to_vec()))
        .await;
    resp.map(|b| Full::new(Bytes::from(b)))
}

fn plain(status: StatusCode, text: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp
}

async fn pump(stack: Arc<Stack>, wake: Arc<Notify>) {
    let mut every = tokio::time::interval(PUMP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Any successful request may have queued work (an API action re-sends a duplicate's
        // messages too), so every one wakes the pump; an idle drain costs two small reads.
        tokio::select! {
            _ = every.tick() => {}
            _ = wake.notified() => {}
        }
        match stack.drain().await {
            Ok(d) if d.scored + d.routed + d.failed > 0 => {
                tracing::info!(
                    scored = d.scored,
                    routed = d.routed,
                    failed = d.failed,
                    "queues drained"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "queue pump failed; trying again"),
        }
    }
}

async fn tick(stack: Arc<Stack>) {
    let mut every = tokio::time::interval(TICK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let now = stack.now();
        match stack.run_schedules(now).await {
            Ok(t) => {
                if let Some(r) = t.rollup {
                    tracing::info!(days = r.days, written = r.written, "nightly rollup done");
                }
            }
            Err(e) => tracing::warn!(error = format!("{e:#}"), "schedules failed"),
        }
    }
}
