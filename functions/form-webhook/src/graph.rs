//! The Graph API implementation of [`LeadFetcher`]: `GET /<version>/<leadgen_id>` with a page
//! access token, over the workspace's outbound HTTP client ([`http_notifier::JsonGetter`]).
//!
//! The token travels in the query string, as Graph expects it, so the URL is a secret: it is
//! built here, handed to the client and never logged, and no error carries it (the client's
//! errors name a status or a failure only). Graph's error bodies are not read either.
//!
//! Outages (5xx, 429, a timeout, a failed connection) are [`FetchError::Unavailable`], retried
//! through the queue; any other refusal (400 for an expired token, 404 for a deleted lead) is
//! [`FetchError::Gone`].

use crate::{
    config::Secret,
    lead_fetch::{FetchError, LeadFetcher},
};
use async_trait::async_trait;
use http_notifier::{GetError, JsonGetter};
use std::time::Duration;

/// The Graph API version called: v26.0 (introduced 29 July 2026). Meta keeps a version for
/// about two years; moving on is a one-line change here, checked against the lead's fields.
pub const GRAPH_BASE: &str = "https://graph.facebook.com/v26.0";

/// The lead's fields read by [`crate::provider::meta::parse_lead`]. `ad_id`, `form_id`,
/// `campaign_name`, `is_organic` and `platform` are not in Graph's default answer.
pub const LEAD_FIELDS: &str =
    "id,created_time,ad_id,form_id,campaign_name,is_organic,platform,field_data";

/// How long one fetch may take. Graph answers a lead read well within a second; the consumer's
/// Lambda timeout leaves room for a batch of slow ones.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads leads from the Graph API with one page (or system user) access token.
pub struct GraphLeadFetcher {
    http: JsonGetter,
    base: String,
    token: Secret,
}

impl GraphLeadFetcher {
    /// A fetcher against `base` (normally [`GRAPH_BASE`]; a test server's URL in tests).
    pub fn new(http: JsonGetter, base: impl Into<String>, token: Secret) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            token,
        }
    }

    fn url(&self, leadgen_id: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("fields", LEAD_FIELDS)
            .append_pair("access_token", self.token.expose())
            .finish();
        format!("{}/{leadgen_id}?{query}", self.base)
    }
}

/// Graph object ids are decimal. Anything else would change the path called, so it is refused
/// before a request is made.
fn is_graph_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

#[async_trait]
impl LeadFetcher for GraphLeadFetcher {
    async fn fetch(&self, leadgen_id: &str) -> Result<Vec<u8>, FetchError> {
        if !is_graph_id(leadgen_id) {
            return Err(FetchError::Gone("leadgen id is not a Graph id"));
        }
        match self.http.get(&self.url(leadgen_id)).await {
            Ok(body) => Ok(body.to_vec()),
            Err(e) => {
                tracing::warn!(error = %e, retryable = e.is_retryable(), "Graph API read failed");
                Err(classify(&e))
            }
        }
    }
}

fn classify(e: &GetError) -> FetchError {
    if e.is_retryable() {
        FetchError::Unavailable
    } else {
        FetchError::Gone("Graph API refused the read")
    }
}

/// The Meta token's key in `PROVIDER_TOKENS`, the JSON object of provider slug to API token.
pub const TOKEN_KEY: &str = "meta-leadgen";

/// Why no token could be read from `PROVIDER_TOKENS`. Never shows the value.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not a JSON object of strings.
    #[error("PROVIDER_TOKENS is not a JSON object of provider name to token")]
    NotAnObject,
    /// No (or an empty) `meta-leadgen` entry.
    #[error("PROVIDER_TOKENS has no `meta-leadgen` token")]
    Missing,
}

/// The Graph API token out of `PROVIDER_TOKENS`.
pub fn meta_token(provider_tokens: &str) -> Result<Secret, TokenError> {
    let tokens: std::collections::HashMap<String, Secret> =
        serde_json::from_str(provider_tokens).map_err(|_| TokenError::NotAnObject)?;
    tokens
        .get(TOKEN_KEY)
        .filter(|t| !t.expose().is_empty())
        .cloned()
        .ok_or(TokenError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_provider_tokens_and_never_shown() {
        let token = meta_token(r#"{"meta-leadgen": "EAAB-page-token"}"#).unwrap();
        assert_eq!(token.expose(), "EAAB-page-token");
        assert!(matches!(meta_token("{}"), Err(TokenError::Missing)));
        assert!(matches!(
            meta_token(r#"{"meta-leadgen": ""}"#),
            Err(TokenError::Missing)
        ));
        let err = meta_token(r#"{"meta-leadgen": 5, "x": "EAAB-secret"}"#).unwrap_err();
        assert!(!err.to_string().contains("EAAB"));
    }

    #[test]
    fn only_decimal_ids_are_graph_ids() {
        assert!(is_graph_id("2233445566778899"));
        for id in ["", "12/../me", "12?access_token=x", "abc", "1 2"] {
            assert!(!is_graph_id(id), "{id}");
        }
    }
}
