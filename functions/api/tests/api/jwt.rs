//! Production identities: the claims API Gateway's JWT authorizer passes on in the request
//! context of an HTTP API (payload format 2.0) event.

use crate::harness::Api;
use api::{auth::AuthMode, Deps};
use lambda_http::Body;
use serde_json::{json, Value};

/// An HTTP API event for `GET /leads/L1`, with `claims` from the authorizer (or none).
fn event(claims: Option<Value>, headers: Value) -> String {
    let mut ctx = json!({
        "accountId": "123456789012",
        "apiId": "api-id",
        "domainName": "api.example.test",
        "domainPrefix": "api",
        "http": {
            "method": "GET",
            "path": "/leads/L1",
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "test"
        },
        "requestId": "gw-req-1",
        "routeKey": "$default",
        "stage": "$default",
        "time": "10/Jan/2030:12:00:00 +0000",
        "timeEpoch": 1894276800000i64
    });
    if let Some(claims) = claims {
        ctx["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/leads/L1",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": ctx,
        "isBase64Encoded": false
    })
    .to_string()
}

async fn send(api: &Api, event: String) -> (u16, String, String) {
    let deps = Deps {
        auth: AuthMode::Jwt,
        ..api.deps.clone()
    };
    let req = lambda_http::request::from_str(&event).expect("a valid HTTP API event");
    let resp = api::handle(req, &deps).await;
    let body = match resp.body() {
        Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    (resp.status().as_u16(), body, id)
}

#[tokio::test]
async fn a_rep_identified_by_cognito_groups_reads_their_lead() {
    let api = Api::new().await;
    api.seed_l1().await;
    let claims = json!({ "sub": "rep-ana", "cognito:groups": "[rep]", "team": "emea" });

    let (status, body, id) = send(
        &api,
        event(Some(claims), json!({ "host": "api.example.test" })),
    )
    .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        id, "gw-req-1",
        "API Gateway's request id is the one we answer with"
    );
}

#[tokio::test]
async fn another_rep_is_refused_and_no_authorizer_is_unauthenticated() {
    let api = Api::new().await;
    api.seed_l1().await;
    let bo = json!({ "sub": "u-bo", "roles": "[rep]", "rep_id": "rep-bo" });
    // In production an X-Dev-User header means nothing.
    let dev =
        json!({ "host": "api.example.test", "x-dev-user": "{\"sub\":\"x\",\"roles\":\"admin\"}" });

    let (other, _, _) = send(&api, event(Some(bo), json!({ "host": "api.example.test" }))).await;
    let (anonymous, body, _) = send(&api, event(None, dev)).await;

    assert_eq!(other, 403);
    assert_eq!(anonymous, 401, "{body}");
}
