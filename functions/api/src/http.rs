//! Small HTTP helpers: reading query parameters, headers and JSON bodies into typed values
//! (each failure a 400 naming the parameter), and building JSON responses.

use crate::error::{ApiError, ApiResult};
use lambda_http::{Body, Request, Response};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;

/// The query string as a map (the last value of a repeated name wins).
///
/// Read from the URI rather than from API Gateway's parsed parameters, so the handler behaves
/// the same behind API Gateway and behind the local server.
pub fn query(req: &Request) -> BTreeMap<String, String> {
    let raw = req.uri().query().unwrap_or("");
    form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

/// Parses an optional query parameter with `FromStr`. Present but empty is not valid.
pub fn param<T: std::str::FromStr>(
    q: &BTreeMap<String, String>,
    name: &str,
) -> ApiResult<Option<T>> {
    match q.get(name).map(|s| s.trim()) {
        None => Ok(None),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("query parameter `{name}` is not valid"))),
    }
}

/// Refuses a query parameter the operation does not take, so that a misspelt one is not
/// silently ignored and answered as if it had not been sent. The detail lists what the
/// operation takes; it does not echo the caller's text.
pub fn only(q: &BTreeMap<String, String>, known: &[&str]) -> ApiResult<()> {
    if q.keys().all(|k| known.contains(&k.as_str())) {
        return Ok(());
    }
    let takes = match known {
        [] => "no query parameters".to_owned(),
        _ => format!("only the query parameters {}", known.join(", ")),
    };
    Err(ApiError::BadRequest(format!(
        "this operation takes {takes}"
    )))
}

/// Parses an RFC 3339 timestamp or a plain date (midnight UTC) query parameter.
pub fn time_param(
    q: &BTreeMap<String, String>,
    name: &str,
) -> ApiResult<Option<lifecycle::Timestamp>> {
    let Some(raw) = q.get(name).map(|s| s.trim()) else {
        return Ok(None);
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&chrono::Utc)));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| Some(dt.and_utc()))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "query parameter `{name}` must be an RFC 3339 time or a YYYY-MM-DD date"
            ))
        })
}

/// The page size: `limit` (default 25), between 1 and `max`.
pub fn limit(q: &BTreeMap<String, String>, max: usize) -> ApiResult<usize> {
    let limit = param::<usize>(q, "limit")?.unwrap_or(25);
    if limit == 0 || limit > max {
        return Err(ApiError::BadRequest(format!(
            "query parameter `limit` must be between 1 and {max}"
        )));
    }
    Ok(limit)
}

/// A header as text, if present and printable.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The version named by `If-Match: "<version>"` (or `W/"<version>"`, or bare digits).
pub fn if_match(req: &Request) -> ApiResult<u64> {
    let raw = header(req, "if-match").ok_or(ApiError::PreconditionRequired)?;
    let tag = raw.trim().trim_start_matches("W/").trim_matches('"');
    tag.parse().map_err(|_| {
        ApiError::BadRequest("If-Match must be an ETag of the form \"<version>\"".to_owned())
    })
}

/// The `Idempotency-Key` header: 1 to 200 visible ASCII characters.
pub fn idempotency_key(req: &Request) -> ApiResult<String> {
    let key = header(req, "idempotency-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::BadRequest("an Idempotency-Key header is required".to_owned()))?;
    let ok = key.len() <= 200 && key.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 200 visible ASCII characters".to_owned(),
        ));
    }
    Ok(key.to_owned())
}

/// The ETag of a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// The body parsed as JSON into `T` (an empty body reads as `{}`).
///
/// Bytes that are not JSON are a 400; JSON that does not fit `T` (a missing or unknown field,
/// a wrong type, a month that does not exist) is a 422 naming the field as a JSON pointer, as
/// axum answers a `JsonSyntaxError` and a `JsonDataError`.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> ApiResult<T> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => b"{}",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
    };
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        json_media(req)?;
        bytes
    };

    // serde reads a struct from an array too (by position): every body here is an object.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Err(ApiError::invalid("", "the body must be a JSON object")),
            Err(e) => Err(body_error(String::new(), e)),
        };
    }

    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = pointer(&e.path().to_string());
        body_error(field, e.into_inner())
    })?;
    de.end().map_err(|e| body_error(String::new(), e))?;
    Ok(value)
}

/// A body sent as another media type (a form, plain text) is a 415, not read as JSON: a client
/// that sends a form did not mean this document. No `Content-Type` at all is read as JSON.
fn json_media(req: &Request) -> ApiResult<()> {
    let Some(raw) = header(req, "content-type") else {
        return Ok(());
    };
    let media = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/json" || media.ends_with("+json") {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(
        "send the body as application/json".into(),
    ))
}

/// A body that failed to decode, as a 400 (not JSON) or a 422 (JSON of the wrong shape).
///
/// serde_json's message names the line, column and expected type, never the value.
fn body_error(field: String, e: serde_json::Error) -> ApiError {
    match e.classify() {
        serde_json::error::Category::Data => ApiError::invalid(field, e.to_string()),
        _ => ApiError::BadRequest(format!("the body is not valid JSON for this request: {e}")),
    }
}

/// `pools[0].members[1].rep` (serde's and the core's way of naming a field) as the JSON
/// pointer `/pools/0/members/1/rep`; `.` (the root) as the empty pointer.
pub fn pointer(path: &str) -> String {
    path.split(['.', '['])
        .filter(|s| !s.is_empty())
        .map(|s| format!("/{}", s.trim_end_matches(']')))
        .collect()
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, value: &T) -> ApiResult<Response<Body>> {
    let text = serde_json::to_string(value).map_err(|e| ApiError::Internal(e.into()))?;
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(text))
        .map_err(|e| ApiError::Internal(e.into()))
}

/// A JSON response carrying an ETag.
pub fn json_tagged<T: Serialize>(
    status: u16,
    value: &T,
    version: u64,
) -> ApiResult<Response<Body>> {
    let mut resp = json(status, value)?;
    let tag = etag(version)
        .parse()
        .map_err(|e: lambda_http::http::header::InvalidHeaderValue| ApiError::Internal(e.into()))?;
    resp.headers_mut().insert("etag", tag);
    Ok(resp)
}
