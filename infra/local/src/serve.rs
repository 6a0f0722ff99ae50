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
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::{body::Bytes, server::conn::http1, service::service_fn, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::Notify};

/// How often the queues are drained.
pub const PUMP_EVERY: Duration = Duration::from_millis(500);
/// How often the schedules run (the rate of the SLA and scoring sweeps in the template).
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
    // A second call (a test that served twice) keeps the first subscriber. Colour codes only
    // on a terminal: piped into a file or `grep`, they are noise.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Serves `stack` on `listener` with the queue pump and the schedules, until Ctrl-C.
pub async fn run(stack: Arc<Stack>, listener: TcpListener) -> anyhow::Result<()> {
    let wake = Arc::new(Notify::new());
    let pump = tokio::spawn(pump(stack.clone(), wake.clone()));
    let ticks = tokio::spawn(tick(stack.clone()));
    tokio::select! {
        served = serve_with(stack.clone(), listener, Some(wake), HEADER_TIMEOUT) => served?,
        _ = stop_signal() => tracing::info!("stopping"),
    }
    pump.abort();
    ticks.abort();
    stack.store().checkpoint().await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what `kill` and service managers send): either stops `serve` with the
/// store checkpointed.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Answers HTTP requests on `listener` with `stack`, one task per connection, for ever. The
/// queues are left to the caller ([`Stack::drain`]).
pub async fn serve_http(stack: Arc<Stack>, listener: TcpListener) -> std::io::Result<()> {
    serve_with(stack, listener, None, HEADER_TIMEOUT).await
}

/// How long a request's headers may take to arrive: a client that opens a connection and
/// sends half a request line would otherwise hold it, and its task, for ever.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// As [`serve_http`], waking `wake` when a request may have queued work, and closing a
/// connection whose request headers take longer than `header_timeout`.
async fn serve_with(
    stack: Arc<Stack>,
    listener: TcpListener,
    wake: Option<Arc<Notify>>,
    header_timeout: Duration,
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
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// How long a request's body may take to arrive. A client that announces 100 bytes and sends
/// two would otherwise hold its connection, and its task, for ever.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// One request: hyper → [`Stack::handle`] → hyper.
async fn answer<B>(stack: &Stack, req: hyper::Request<B>) -> hyper::Response<Full<Bytes>>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    answer_within(stack, req, BODY_TIMEOUT).await
}

async fn answer_within<B>(
    stack: &Stack,
    req: hyper::Request<B>,
    body_timeout: Duration,
) -> hyper::Response<Full<Bytes>>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
        return too_large();
    }
    // A webhook over its own limit is answered from `Content-Length` alone, as the function
    // answers it behind API Gateway: the body is never read (a client that announces 300 KB
    // and sends 2 bytes is not left waiting).
    let webhook = parts.uri.path().starts_with("/webhooks/");
    if webhook && declared.is_some_and(|n| n > form_webhook::MAX_BODY_BYTES as u64) {
        let resp = stack
            .handle(hyper::Request::from_parts(parts, Vec::new()))
            .await;
        return resp.map(|b| Full::new(Bytes::from(b)));
    }

    let read = tokio::time::timeout(
        body_timeout,
        Limited::new(body, MAX_REQUEST_BYTES).collect(),
    );
    let bytes = match read.await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(_)) => return unreadable(),
        Err(_) => return too_slow(body_timeout),
    };
    let resp = stack
        .handle(hyper::Request::from_parts(parts, bytes.to_vec()))
        .await;
    resp.map(|b| Full::new(Bytes::from(b)))
}

/// The 400 for a body the connection could not deliver (a broken chunked encoding).
fn unreadable() -> hyper::Response<Full<Bytes>> {
    problem(
        StatusCode::BAD_REQUEST,
        "bad-request",
        "The request is malformed",
        "the body could not be read (a broken chunked encoding?)".to_owned(),
    )
}

/// The 408 for a body that did not arrive in time.
fn too_slow(after: Duration) -> hyper::Response<Full<Bytes>> {
    problem(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        "The request body did not arrive in time",
        format!("the body was not complete after {} s", after.as_secs_f64()),
    )
}

/// The 413 for a body over [`MAX_REQUEST_BYTES`], typed as the webhook's own 413.
fn too_large() -> hyper::Response<Full<Bytes>> {
    problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        "The request body is too large",
        format!("the body is over the {MAX_REQUEST_BYTES} byte limit"),
    )
}

/// A refusal made before the request reached a function, as a problem document shaped like
/// the API's (`api::error`), so a client reads every refusal the same way. No request id.
fn problem(
    status: StatusCode,
    kind: &str,
    title: &str,
    detail: String,
) -> hyper::Response<Full<Bytes>> {
    let body = serde_json::json!({
        "type": format!("{}{kind}", api::error::PROBLEM_BASE),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/problem+json"),
    );
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
            Ok(d) if d.fetched + d.scored + d.routed + d.notified + d.failed > 0 => {
                tracing::info!(
                    fetched = d.fetched,
                    scored = d.scored,
                    routed = d.routed,
                    notified = d.notified,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::StackConfig;
    use embedded::EmbeddedStore;
    use ports::SystemClock;

    #[tokio::test]
    async fn a_body_over_the_limit_is_answered_with_a_problem_document() {
        let config = StackConfig::local(&Default::default(), "s").unwrap();
        let stack = Stack::new(
            EmbeddedStore::in_memory().unwrap(),
            Arc::new(SystemClock),
            config,
        );
        let body = Full::new(Bytes::from(vec![b'x'; MAX_REQUEST_BYTES + 1]));
        let req = hyper::Request::post("/webhooks/generic")
            .body(body)
            .unwrap();

        let resp = answer(&stack, req).await;

        assert_eq!(resp.status(), 413);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["type"], "https://lead-journey.dev/problems/too-large");
        assert_eq!(doc["status"], 413);
        assert!(
            doc["title"].is_string() && doc["detail"].is_string(),
            "{doc}"
        );
    }

    /// Regression: a client that sent half a request's headers held its connection (and its
    /// task) for ever; 250 of them were all still open after 90 s.
    #[tokio::test]
    async fn a_connection_whose_headers_never_end_is_closed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let config = StackConfig::local(&Default::default(), "s").unwrap();
        let stack = Arc::new(Stack::new(
            EmbeddedStore::in_memory().unwrap(),
            Arc::new(SystemClock),
            config,
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let timeout = Duration::from_millis(300);
        let server = tokio::spawn(serve_with(stack, listener, None, timeout));

        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /leads HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut rest)).await;

        assert!(closed.is_ok(), "the connection is still open after 10 s");
        server.abort();
    }

    /// A body that never delivers a byte, or fails at once (a broken chunked encoding).
    struct Stuck(bool);

    impl hyper::body::Body for Stuck {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            match self.0 {
                true => std::task::Poll::Ready(Some(Err(std::io::Error::other("bad chunk")))),
                false => std::task::Poll::Pending,
            }
        }
    }

    fn stack() -> Stack {
        let config = StackConfig::local(&Default::default(), "s").unwrap();
        Stack::new(
            EmbeddedStore::in_memory().unwrap(),
            Arc::new(SystemClock),
            config,
        )
    }

    /// Regression: `Content-Length: 300000` with a body that never came left the client
    /// waiting; the webhook's 413 is answered from the header alone.
    #[tokio::test]
    async fn a_webhook_announced_over_its_limit_is_refused_without_reading_the_body() {
        let req = hyper::Request::post("/webhooks/generic")
            .header("content-length", "300000")
            .body(Stuck(false))
            .unwrap();

        let resp = tokio::time::timeout(Duration::from_secs(5), answer(&stack(), req)).await;

        assert_eq!(resp.expect("answered at once").status(), 413);
    }

    /// Regression: `Content-Length: 100` and two bytes held the connection for ever.
    #[tokio::test]
    async fn a_body_that_stops_arriving_is_a_408() {
        let req = hyper::Request::post("/leads/x/accept")
            .header("content-length", "100")
            .body(Stuck(false))
            .unwrap();

        let resp = answer_within(&stack(), req, Duration::from_millis(50)).await;

        assert_eq!(resp.status(), 408);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }

    /// Regression: a broken chunked body was answered 413 "over the limit".
    #[tokio::test]
    async fn a_body_the_connection_cannot_deliver_is_a_400() {
        let req = hyper::Request::post("/leads/x/accept")
            .body(Stuck(true))
            .unwrap();

        let resp = answer(&stack(), req).await;

        assert_eq!(resp.status(), 400);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }
}
