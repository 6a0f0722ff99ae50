//! The OpenAPI 3.1 document of the whole API, checked in as `openapi.json` beside this crate
//! and served at `/openapi.json`. A test holds it and [`crate::router::ROUTES`] to the same
//! set of operations, and schemathesis (`infra/scripts/schemathesis.sh`) checks the running
//! API against it.

use crate::error::{ApiError, ApiResult};
use lambda_http::{Body, Response};

/// The document, as checked in.
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// `GET /openapi.json`
pub fn serve() -> ApiResult<Response<Body>> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::Text(DOCUMENT.to_owned()))
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Every `(METHOD, path)` the document describes.
pub fn operations() -> Vec<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flat_map(|m| m.keys()) {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops.sort();
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_and_the_router_list_the_same_operations() {
        let mut routed: Vec<(String, String)> = crate::router::ROUTES
            .iter()
            .map(|(m, p, _)| (m.to_string(), p.to_string()))
            .collect();
        routed.sort();
        assert_eq!(operations(), routed);
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    }
}
