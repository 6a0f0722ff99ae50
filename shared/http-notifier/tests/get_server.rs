//! `JsonGetter` against a real HTTP server on 127.0.0.1: the body of a 2xx comes back whole,
//! one over the cap is refused, and the classification of a status is the documented one.

use http_body_util::Full;
use http_notifier::{get::MAX_BODY_BYTES, GetError, JsonGetter};
use hyper::{body::Bytes, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves every request with `status` and `body`.
async fn serve(status: u16, body: Bytes) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/123?token=t", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let body = body.clone();
                    async move {
                        let mut response = Response::new(Full::new(body));
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
    url
}

fn getter() -> JsonGetter {
    JsonGetter::new(Duration::from_secs(2)).unwrap()
}

#[tokio::test]
async fn a_200_body_comes_back_whole() {
    let url = serve(200, Bytes::from_static(br#"{"id":"123"}"#)).await;
    assert_eq!(&getter().get(&url).await.unwrap()[..], br#"{"id":"123"}"#);
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_and_one_at_the_cap_is_not() {
    let url = serve(200, Bytes::from(vec![b' '; MAX_BODY_BYTES + 1])).await;
    let err = getter().get(&url).await.unwrap_err();
    assert!(matches!(err, GetError::TooLarge), "{err}");
    assert!(!err.is_retryable());

    let url = serve(200, Bytes::from(vec![b' '; MAX_BODY_BYTES])).await;
    assert_eq!(getter().get(&url).await.unwrap().len(), MAX_BODY_BYTES);
}

#[tokio::test]
async fn statuses_are_classified_and_errors_do_not_show_the_url() {
    for (status, retryable) in [
        (502, true),
        (429, true),
        (408, true),
        (400, false),
        (404, false),
    ] {
        let url = serve(status, Bytes::from_static(b"{}")).await;
        let err = getter().get(&url).await.unwrap_err();
        assert_eq!(err.is_retryable(), retryable, "{status}");
        assert!(!err.to_string().contains("token="), "{status}");
    }
}
