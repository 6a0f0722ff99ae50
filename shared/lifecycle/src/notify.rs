//! Notification targets: where a message for a rep, a team or a scheduled report goes.
//!
//! A **target** is a URL that takes a JSON POST, in one of two shapes: a Slack-compatible
//! incoming webhook (`{"text": …, "blocks": […]}`, which Slack, Mattermost, Rocket.Chat and
//! Microsoft Teams' Slack-compatible connectors accept) or a generic JSON body for any other
//! receiver. The target is configuration; sending is the notifier's job, over the
//! `ports::Notifier` port.

use serde::{Deserialize, Serialize};

/// The longest URL accepted (what browsers and most proxies handle).
pub const MAX_URL_LEN: usize = 2048;

/// Where and in which shape to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NotifyTarget {
    /// A Slack incoming webhook (or anything that takes Slack's `text` and `blocks`).
    Slack {
        /// The webhook URL.
        url: String,
    },
    /// Any URL that takes a generic JSON body.
    Json {
        /// The URL.
        url: String,
    },
}

/// Why a target is refused. Messages never repeat the URL: a webhook URL is a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an `http://` or `https://` URL.
    #[error("the URL must start with https:// (or http://)")]
    Scheme,
    /// No host after the scheme.
    #[error("the URL has no host")]
    NoHost,
    /// Spaces, control characters or a fragment.
    #[error("the URL contains spaces, control characters or a '#'")]
    Characters,
    /// Longer than [`MAX_URL_LEN`].
    #[error("the URL is longer than 2048 characters")]
    TooLong,
}

impl NotifyTarget {
    /// The URL.
    pub fn url(&self) -> &str {
        match self {
            NotifyTarget::Slack { url } | NotifyTarget::Json { url } => url,
        }
    }

    /// Checks the URL's shape (scheme, host, characters, length). It does not resolve or
    /// reach the host: that is only known when a message is sent.
    pub fn validate(&self) -> Result<(), TargetError> {
        let url = self.url();
        if url.len() > MAX_URL_LEN {
            return Err(TargetError::TooLong);
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(TargetError::Scheme)?;
        if url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
        {
            return Err(TargetError::Characters);
        }
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        if host.is_empty() || host.starts_with(':') {
            return Err(TargetError::NoHost);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack(url: &str) -> NotifyTarget {
        NotifyTarget::Slack { url: url.into() }
    }

    #[test]
    fn https_and_http_urls_with_a_host_are_accepted() {
        assert_eq!(
            slack("https://hooks.slack.com/services/T0/B0/x").validate(),
            Ok(())
        );
        assert_eq!(slack("http://127.0.0.1:8080/hook?a=1").validate(), Ok(()));
    }

    #[test]
    fn other_urls_are_refused_with_the_reason() {
        assert_eq!(
            slack("ftp://example.com/").validate(),
            Err(TargetError::Scheme)
        );
        assert_eq!(
            slack("hooks.slack.com/x").validate(),
            Err(TargetError::Scheme)
        );
        assert_eq!(slack("https:///path").validate(), Err(TargetError::NoHost));
        assert_eq!(slack("https://:443/").validate(), Err(TargetError::NoHost));
        assert_eq!(
            slack("https://a b/").validate(),
            Err(TargetError::Characters)
        );
        assert_eq!(
            slack("https://a/#frag").validate(),
            Err(TargetError::Characters)
        );
        let long = format!("https://a/{}", "x".repeat(MAX_URL_LEN));
        assert_eq!(slack(&long).validate(), Err(TargetError::TooLong));
    }

    #[test]
    fn the_wire_shape_is_tagged_by_kind() {
        let t: NotifyTarget =
            serde_json::from_str(r#"{"kind":"json","url":"https://x.example/in"}"#).unwrap();
        assert_eq!(
            t,
            NotifyTarget::Json {
                url: "https://x.example/in".into()
            }
        );
        assert!(serde_json::from_str::<NotifyTarget>(r#"{"kind":"email","url":"x"}"#).is_err());
    }
}
