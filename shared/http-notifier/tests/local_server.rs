//! The adapter against a real HTTP server on 127.0.0.1 (plain HTTP: the TLS handshake is
//! rustls's, tested upstream; what is ours is the request and the classification).

use http_body_util::{BodyExt, Full};
use http_notifier::HttpNotifier;
use hyper::{body::Bytes, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use ports::{Notifier, NotifyError};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::net::TcpListener;

/// What the server received: (method, content type, body).
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// Serves every connection with `status` (or never answers when `hang`), recording requests.
async fn serve(status: u16, hang: bool) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hooks/T0/B0/secret",
        listener.local_addr().unwrap()
    );
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let record = record.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let record = record.clone();
                    async move {
                        let method = req.method().to_string();
                        let ctype = req.headers()["content-type"].to_str().unwrap().to_owned();
                        let body = req.into_body().collect().await?.to_bytes();
                        record.lock().unwrap().push((
                            method,
                            ctype,
                            String::from_utf8_lossy(&body).into(),
                        ));
                        if hang {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, seen)
}

fn notifier(timeout_ms: u64) -> HttpNotifier {
    HttpNotifier::new(Duration::from_millis(timeout_ms)).unwrap()
}

#[tokio::test]
async fn a_200_is_delivered_and_the_body_arrives_as_json() {
    let (url, seen) = serve(200, false).await;
    let body = serde_json::json!({ "text": "Ada Lovelace is an MQL" });

    notifier(2000).post(&url, &body).await.unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "POST");
    assert_eq!(seen[0].1, "application/json");
    assert_eq!(seen[0].2, r#"{"text":"Ada Lovelace is an MQL"}"#);
}

#[tokio::test]
async fn a_500_is_retryable() {
    let (url, _) = serve(500, false).await;
    let err = notifier(2000)
        .post(&url, &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Retryable(_)), "{err:?}");
}

#[tokio::test]
async fn a_429_is_retryable() {
    let (url, _) = serve(429, false).await;
    let err = notifier(2000)
        .post(&url, &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Retryable(_)), "{err:?}");
}

#[tokio::test]
async fn a_400_is_refused() {
    let (url, _) = serve(400, false).await;
    let err = notifier(2000)
        .post(&url, &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Refused(_)), "{err:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_is_retryable_after_the_timeout() {
    let (url, seen) = serve(200, true).await;
    let started = Instant::now();

    let err = notifier(300)
        .post(&url, &serde_json::json!({}))
        .await
        .unwrap_err();

    let took = started.elapsed();
    assert!(matches!(err, NotifyError::Retryable(_)), "{err:?}");
    assert!(took >= Duration::from_millis(300), "gave up after {took:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the request reached the server"
    );
}

#[tokio::test]
async fn nobody_listening_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let err = notifier(2000)
        .post(&url, &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Retryable(_)), "{err:?}");
}

#[tokio::test]
async fn an_unusable_url_is_refused_without_the_url_in_the_error() {
    for url in ["ftp://example.com/x", "not a url", "/relative/secret-token"] {
        let err = notifier(2000)
            .post(url, &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, NotifyError::Refused(_)), "{url}: {err:?}");
        let chain = format!("{err} {:?}", std::error::Error::source(&err));
        assert!(
            !chain.contains("secret-token") && !chain.contains("example.com"),
            "{chain}"
        );
    }
}
