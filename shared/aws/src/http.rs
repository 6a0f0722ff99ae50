//! The HTTPS client the SDK clients send their requests through: hyper's pooled client over
//! HTTP/1.1, rustls on ring with the system's root certificates, plain HTTP for an emulator.
//!
//! Why not the SDK's own client (`aws-smithy-http-client`): it always compiles in HTTP/2 (the
//! `h2` crate and hyper's HTTP/2 half), about 0.2 MB of every bootstrap, and DynamoDB and SQS
//! are spoken over HTTP/1.1 anyway. This one is the same hyper client the notifier uses, so
//! each binary carries one HTTP stack. What it keeps from the SDK's client: the connect and
//! read timeouts of the SDK's timeout configuration, a connection pool shared by every client
//! built from one `SdkConfig`, and errors sorted the way the SDK's retry policy reads them
//! (timeouts and dropped connections are retried, a malformed request is not).
//!
//! Known shortcoming: no proxy support (`HTTPS_PROXY` is not read); a Lambda reaches DynamoDB
//! and SQS directly or through VPC endpoints, which need none.

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
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{connect::HttpConnector as TcpConnector, Client},
    rt::TokioExecutor,
};
use rustls::ClientConfig;
use std::{
    error::Error as StdError,
    sync::{Arc, Mutex},
    time::Duration,
};

type Pool = Client<HttpsConnector<TcpConnector>, SdkBody>;

/// The pools built so far, by connect timeout.
type Pools = Arc<Mutex<Vec<(Option<Duration>, Pool)>>>;

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
        let pool = Client::builder(TokioExecutor::new()).build(https);
        pools.push((connect_timeout, pool.clone()));
        pool
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
    if error.is_connect() || has_source::<std::io::Error>(&error) || lost_connection(&error) {
        return if timed_out(&error) {
            ConnectorError::timeout(error.into())
        } else {
            ConnectorError::io(error.into())
        };
    }
    ConnectorError::other(error.into(), None)
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
}
