//! The HTTPS client the SDK clients send their requests through: hyper's pooled client over
//! HTTP/1.1, rustls on ring with the system's root certificates, plain HTTP for an emulator.
//!
//! Why not the SDK's own client (`aws-smithy-http-client`): it always compiles in HTTP/2 (the
//! `h2` crate and hyper's HTTP/2 half; `h2` alone was 0.15 MB of the webhook's bootstrap), and
//! DynamoDB and SQS are spoken over HTTP/1.1 anyway (`infra/README.md`, "Bootstrap sizes"). This one is the same hyper client the notifier uses, so each binary carries one
//! HTTP stack. What it keeps from the SDK's client: the connect timeout (TCP and TLS handshake
//! together) and read timeout of the SDK's timeout configuration, a connection pool shared by
//! every client built from one `SdkConfig`, and errors sorted the way the SDK's retry policy
//! reads them (timeouts and lost connections are retried, a malformed request is not).
//!
//! Known shortcomings, both deliberate: no proxy support (`HTTPS_PROXY` is not read; a Lambda
//! reaches DynamoDB and SQS directly or through VPC endpoints); and a connection that has just
//! failed a request (a timeout, a 5xx) is not taken out of the pool, as the SDK's client does
//! through its connection-poisoning hook. A dead connection is still dropped by hyper when it
//! is next used, and the SDK retries that request on a fresh one.

use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    },
    orchestrator::{HttpRequest, HttpResponse},
    result::ConnectorError,
    runtime_components::RuntimeComponents,
};
use aws_smithy_types::body::SdkBody;
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::{
    client::legacy::{connect::HttpConnector as TcpConnector, Client},
    rt::{TokioExecutor, TokioIo, TokioTimer},
};
use rustls::ClientConfig;
use std::{
    error::Error as StdError,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

type Pool = Client<TimedConnect, SdkBody>;

/// The pools built so far, by connect timeout.
type Pools = Arc<Mutex<Vec<(Option<Duration>, Pool)>>>;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Builds the client. Fails only when the system's root certificates cannot be read.
pub(crate) fn https_client() -> Result<SharedHttpClient, std::io::Error> {
    let tls =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_native_roots()?
            .with_no_client_auth();

    Ok(SharedHttpClient::new(Http1Client {
        tls,
        pools: Arc::default(),
    }))
}

/// One pool per connect timeout the SDK asks for (in practice one: every client shares the
/// timeout configuration), built on first use.
#[derive(Debug, Clone)]
struct Http1Client {
    tls: ClientConfig,
    pools: Pools,
}

impl Http1Client {
    fn pool(&self, connect_timeout: Option<Duration>) -> Pool {
        let mut pools = self
            .pools
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, pool)) = pools.iter().find(|(t, _)| *t == connect_timeout) {
            return pool.clone();
        }

        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(self.tls.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let connect = TimedConnect {
            inner: https,
            limit: connect_timeout,
        };
        // The timer lets the pool close idle connections in the background.
        let pool = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connect);
        pools.push((connect_timeout, pool.clone()));
        pool
    }
}

/// The HTTPS connector under one time limit for the TCP connect and the TLS handshake
/// together: the TCP connector's own timeout ends at the TCP connect, and a server that accepts
/// and then stalls the handshake would otherwise hold the attempt until the SDK's attempt
/// timeout. The limit surfaces as an I/O error of kind `TimedOut`, which [`classify`] reads.
#[derive(Clone)]
struct TimedConnect {
    inner: HttpsConnector<TcpConnector>,
    limit: Option<Duration>,
}

type Stream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

impl tower_service::Service<http::Uri> for TimedConnect {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            let Some(limit) = limit else {
                return connecting.await;
            };
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect and TLS handshake timed out",
                ))),
            }
        })
    }
}

impl HttpClient for Http1Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Http1Connector {
            pool: self.pool(settings.connect_timeout()),
            read_timeout: settings.read_timeout(),
        })
    }
}

/// Sends one request on the shared pool.
#[derive(Debug)]
struct Http1Connector {
    pool: Pool,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Http1Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let pool = self.pool.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let sent = pool.request(request);
            let response = match read_timeout {
                None => sent.await,
                Some(limit) => tokio::time::timeout(limit, sent)
                    .await
                    .map_err(|elapsed| ConnectorError::timeout(elapsed.into()))?,
            };

            let response = response.map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// Sorts a failed exchange for the SDK's retry policy: a connection that could not be made or
/// was lost, or a timeout, is transient (retried); anything else is not.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    if caller_error(&error) {
        return ConnectorError::user(error.into());
    }
    if error.is_connect() || has_source::<std::io::Error>(&error) || lost_connection(&error) {
        return if timed_out(&error) {
            ConnectorError::timeout(error.into())
        } else {
            ConnectorError::io(error.into())
        };
    }
    ConnectorError::other(error.into(), None)
}

/// hyper's word that the fault is the request's own (its body stream failed, say), which no
/// retry mends.
fn caller_error(error: &(dyn StdError + 'static)) -> bool {
    source_chain(error)
        .filter_map(|e| e.downcast_ref::<hyper::Error>())
        .any(hyper::Error::is_user)
}

/// hyper's own word that the connection closed or was cut short mid-exchange.
fn lost_connection(error: &(dyn StdError + 'static)) -> bool {
    source_chain(error)
        .filter_map(|e| e.downcast_ref::<hyper::Error>())
        .any(|e| e.is_incomplete_message() || e.is_closed() || e.is_canceled() || e.is_timeout())
}

/// A connect timeout surfaces as an I/O error of kind `TimedOut`.
fn timed_out(error: &(dyn StdError + 'static)) -> bool {
    source_chain(error).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
    })
}

fn has_source<T: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    source_chain(error).any(|e| e.is::<T>())
}

fn source_chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| e.source())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    fn connector(read_timeout: Option<Duration>) -> SharedHttpConnector {
        let client = https_client().expect("system roots");
        let mut settings = HttpConnectorSettings::builder().connect_timeout(Duration::from_secs(2));
        if let Some(t) = read_timeout {
            settings = settings.read_timeout(t);
        }
        let components = RuntimeComponentsBuilder::for_tests()
            .build()
            .expect("test components");
        client.http_connector(&settings.build(), &components)
    }

    fn get(url: &str) -> HttpRequest {
        let request = http::Request::builder()
            .uri(url)
            .body(SdkBody::empty())
            .unwrap();
        HttpRequest::try_from(request).unwrap()
    }

    /// A one-shot server on a free port that reads a request, then runs `answer` on the socket.
    async fn server<F, Fut>(answer: F) -> String
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            answer(socket).await;
        });
        url
    }

    #[tokio::test]
    async fn a_response_comes_back_with_status_headers_and_body() {
        let url = server(|mut s| async move {
            let reply =
                b"HTTP/1.1 201 Created\r\nx-amzn-requestid: abc\r\ncontent-length: 5\r\n\r\nhello";
            s.write_all(reply).await.unwrap();
        })
        .await;

        let response = connector(None).call(get(&url)).await.expect("a response");

        assert_eq!(response.status().as_u16(), 201);
        assert_eq!(response.headers().get("x-amzn-requestid"), Some("abc"));
        assert_eq!(response.body().bytes(), None, "the body streams");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        assert_eq!(&body.to_bytes()[..], b"hello");
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
        // Bind, read the port, and close: nothing listens there any more.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();

        let error = connector(None)
            .call(get(&format!("http://127.0.0.1:{port}/")))
            .await
            .expect_err("nothing listens");

        assert!(error.is_io(), "{error:?}");
    }

    #[tokio::test]
    async fn a_connection_dropped_before_the_answer_is_an_io_error() {
        let url = server(|s| async move { drop(s) }).await;

        let error = connector(None)
            .call(get(&url))
            .await
            .expect_err("no answer");

        assert!(error.is_io(), "{error:?}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_hits_the_read_timeout() {
        let url = server(|s| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        })
        .await;

        let started = std::time::Instant::now();
        let error = connector(Some(Duration::from_millis(200)))
            .call(get(&url))
            .await
            .expect_err("no answer in time");

        assert!(error.is_timeout(), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn a_garbled_answer_is_not_retried_as_transient() {
        let url = server(|mut s| async move {
            s.write_all(b"this is not HTTP\r\n\r\n").await.unwrap();
        })
        .await;

        let error = connector(None).call(get(&url)).await.expect_err("not HTTP");

        assert!(!error.is_io() && !error.is_timeout(), "{error:?}");
    }

    /// A server that accepts `n` connections on one port, answering every request on each with
    /// `reply` (keep-alive), and counts the connections it accepted.
    async fn counting_server(
        reply: &'static [u8],
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    let mut seen = Vec::new();
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            if socket.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    async fn body_of(response: HttpResponse) -> Vec<u8> {
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    #[tokio::test]
    async fn a_chunked_answer_is_read_whole() {
        let url = server(|mut s| async move {
            s.write_all(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            )
            .await
            .unwrap();
        })
        .await;

        let response = connector(None).call(get(&url)).await.expect("a response");

        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(body_of(response).await, b"hello world");
    }

    #[tokio::test]
    async fn a_5xx_is_a_response_not_a_connector_error() {
        let url = server(|mut s| async move {
            let body = br#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}"#;
            let head = format!(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(body).await.unwrap();
        })
        .await;

        let response = connector(None)
            .call(get(&url))
            .await
            .expect("a 500 is an answer");

        assert_eq!(response.status().as_u16(), 500);
        assert_eq!(
            response.headers().get("content-type"),
            Some("application/x-amz-json-1.0")
        );
        assert!(body_of(response).await.starts_with(b"{\"__type\""));
    }

    #[tokio::test]
    async fn a_large_body_arrives_intact() {
        // 3 MiB of a known pattern, in content-length framing.
        let expected: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        let payload = expected.clone();
        let url = server(move |mut s| async move {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                payload.len()
            );
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(&payload).await.unwrap();
        })
        .await;

        let response = connector(None).call(get(&url)).await.expect("a response");

        assert_eq!(body_of(response).await, expected);
    }

    #[tokio::test]
    async fn a_post_sends_its_json_body_with_its_length() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<Vec<u8>>();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Read until the header and the whole 27-byte body are in.
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    if got.len() >= end + 4 + 27 || n == 0 {
                        break;
                    }
                }
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .await
                .unwrap();
            let _ = tx.send(got);
        });
        let json = br#"{"TableName":"journey-test"}"#;
        assert_eq!(json.len(), 28);
        let request = http::Request::builder()
            .method("POST")
            .uri(&url)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .body(SdkBody::from(&json[..]))
            .unwrap();

        let response = connector(None)
            .call(HttpRequest::try_from(request).unwrap())
            .await
            .expect("a response");
        assert_eq!(response.status().as_u16(), 200);

        let got = String::from_utf8(rx.await.unwrap()).unwrap();
        let lower = got.to_ascii_lowercase();
        assert!(got.starts_with("POST / HTTP/1.1\r\n"), "{got}");
        assert!(lower.contains("\r\ncontent-length: 28\r\n"), "{got}");
        assert!(!lower.contains("transfer-encoding"), "{got}");
        assert!(lower.contains("\r\nhost: 127.0.0.1:"), "{got}");
        assert!(
            lower.contains("\r\nx-amz-target: dynamodb_20120810.getitem\r\n"),
            "{got}"
        );
        assert!(got.ends_with(r#"{"TableName":"journey-test"}"#), "{got}");
    }

    #[tokio::test]
    async fn connectors_of_one_client_share_one_keep_alive_connection() {
        let (url, accepted) =
            counting_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        let client = https_client().unwrap();
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_secs(2))
            .build();
        let components = RuntimeComponentsBuilder::for_tests().build().unwrap();

        for _ in 0..5 {
            // A new connector per attempt, as the orchestrator asks for one.
            let c = client.http_connector(&settings, &components);
            let response = c.call(get(&url)).await.unwrap();
            assert_eq!(body_of(response).await, b"ok");
        }

        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_requests_are_all_answered_and_their_connections_pooled() {
        let (url, accepted) =
            counting_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        let c = Arc::new(connector(None));
        let wave = |n: usize| {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..n {
                let (c, url) = (c.clone(), url.clone());
                calls.spawn(async move { body_of(c.call(get(&url)).await.unwrap()).await });
            }
            calls.join_all()
        };

        let bodies = wave(20).await;
        assert!(bodies.iter().all(|b| b == b"ok"));
        let first_wave = accepted.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=20).contains(&first_wave), "{first_wave}");

        // A second wave, no larger, reuses the idle connections of the first.
        wave(first_wave).await;
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            first_wave
        );
    }

    #[tokio::test]
    async fn the_connect_timeout_bounds_the_tls_handshake() {
        // A TCP listener that accepts and then never answers the TLS ClientHello.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(socket);
        });

        // connect timeout 2 s (from `connector`), no read timeout: as `sdk_config` sets them.
        let started = std::time::Instant::now();
        let outcome =
            tokio::time::timeout(Duration::from_secs(6), connector(None).call(get(&url))).await;

        let error = outcome
            .expect("the connect timeout (2 s) should end a handshake that never completes")
            .expect_err("no handshake");
        assert!(error.is_timeout(), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn a_server_that_closes_an_idle_keep_alive_connection_is_survived() {
        // First connection: answer once (keep-alive implied), then close. Second: answer.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            for _ in 0..2 {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                drop(socket);
            }
        });
        let c = connector(None);
        assert_eq!(body_of(c.call(get(&url)).await.unwrap()).await, b"ok");
        tokio::time::sleep(Duration::from_millis(100)).await;

        let second = c.call(get(&url)).await;

        assert_eq!(body_of(second.expect("a fresh connection")).await, b"ok");
    }

    #[tokio::test]
    async fn a_url_without_a_host_is_not_retried() {
        let request = http::Request::builder()
            .uri("/no-host")
            .body(SdkBody::empty())
            .unwrap();
        let error = connector(None)
            .call(HttpRequest::try_from(request).unwrap())
            .await
            .expect_err("no host");
        assert!(!error.is_io() && !error.is_timeout(), "{error:?}");
    }

    #[tokio::test]
    async fn a_response_header_that_is_not_utf8_is_an_error_not_a_panic() {
        let url = server(|mut s| async move {
            s.write_all(b"HTTP/1.1 200 OK\r\nx-odd: \xff\xfe\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
        })
        .await;
        let response = connector(None)
            .call(get(&url))
            .await
            .expect("passed through");
        assert_eq!(response.headers().get("x-odd"), None);
        assert_eq!(response.headers().get("content-length"), Some("0"));
    }
}
