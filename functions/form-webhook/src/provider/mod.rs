//! The providers: one module each, which verifies a delivery on its raw bytes and parses it
//! into [`Item`]s, each a raw [`Extracted`] submission (fields as the provider named them), a
//! lead to fetch later (Meta), or an event that carries nothing to store.
//!
//! Field naming is the provider's; turning fields into an e-mail, a name or a campaign is the
//! job of [`crate::mapping`], so that a form's own labels and a per-form field map apply the
//! same way whatever the provider.

use crate::{config::Secret, error::WebhookError, Timestamp};
use lifecycle::ActivityKind;

pub mod calendly;
pub mod generic;
pub mod google_forms;
pub mod gravity_forms;
pub mod hubspot;
pub mod jotform;
mod jws;
pub mod meta;
pub mod netlify;
pub mod tally;
pub mod typeform;
pub mod unbounce;
pub mod webflow;

mod json;

/// A provider of form deliveries, named by the `{provider}` segment of the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Typeform.
    Typeform,
    /// Tally.
    Tally,
    /// Jotform (multipart, URL token).
    Jotform,
    /// Webflow, API v1 and v2 shapes.
    Webflow,
    /// HubSpot workflow webhooks and Webhooks API event arrays.
    Hubspot,
    /// Calendly `invitee.created`.
    Calendly,
    /// Meta (Facebook / Instagram) Lead Ads.
    MetaLeadgen,
    /// Google Forms through an Apps Script.
    GoogleForms,
    /// Gravity Forms (Webhooks add-on).
    GravityForms,
    /// Netlify Forms.
    Netlify,
    /// Unbounce (form-urlencoded).
    Unbounce,
    /// A project-defined flat JSON, for Zapier and Make.
    Generic,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 12] = [
        Provider::Typeform,
        Provider::Tally,
        Provider::Jotform,
        Provider::Webflow,
        Provider::Hubspot,
        Provider::Calendly,
        Provider::MetaLeadgen,
        Provider::GoogleForms,
        Provider::GravityForms,
        Provider::Netlify,
        Provider::Unbounce,
        Provider::Generic,
    ];

    /// The URL segment.
    pub fn slug(self) -> &'static str {
        match self {
            Provider::Typeform => "typeform",
            Provider::Tally => "tally",
            Provider::Jotform => "jotform",
            Provider::Webflow => "webflow",
            Provider::Hubspot => "hubspot",
            Provider::Calendly => "calendly",
            Provider::MetaLeadgen => "meta-leadgen",
            Provider::GoogleForms => "google-forms",
            Provider::GravityForms => "gravity-forms",
            Provider::Netlify => "netlify",
            Provider::Unbounce => "unbounce",
            Provider::Generic => "generic",
        }
    }

    /// The provider a URL segment names. `generic/<name>` names the generic format (the name
    /// tells one Zap or scenario from another and is kept as the form id fallback); no other
    /// provider takes a second segment, so `typeform/extra` names nothing and is a 404 rather
    /// than a Typeform delivery at a URL nobody configured.
    pub fn from_slug(slug: &str) -> Option<Provider> {
        let (head, name) = match slug.split_once('/') {
            Some((head, name)) => (head, Some(name)),
            None => (slug, None),
        };
        let provider = Provider::ALL.into_iter().find(|p| p.slug() == head)?;
        match name {
            None => Some(provider),
            Some(name) if provider == Provider::Generic && generic_name(name) => Some(provider),
            Some(_) => None,
        }
    }

    /// The environment variable holding the provider's secret.
    pub fn secret_var(self) -> String {
        format!(
            "WEBHOOK_SECRET_{}",
            self.slug().replace('-', "_").to_ascii_uppercase()
        )
    }

    /// Whether the provider sends this media type (`type/subtype`, lower-case, no parameters).
    pub fn accepts(self, media_type: &str) -> bool {
        match self {
            Provider::Jotform => media_type == "multipart/form-data",
            Provider::Unbounce => media_type == "application/x-www-form-urlencoded",
            _ => media_type == "application/json",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.slug())
    }
}

/// Request headers, looked up without regard to case.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Headers from name/value pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lower-cased, without parameters.
    pub fn media_type(&self) -> Option<String> {
        let ct = self.get("content-type")?;
        Some(
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase(),
        )
    }
}

/// One delivery as received, for verification and parsing.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The full URL the provider called (HubSpot signs it; token providers carry `?token=`).
    pub url: &'a str,
    /// The `{provider}` path segment as given (`generic/zapier-main`).
    pub path_provider: &'a str,
    /// The headers.
    pub headers: &'a Headers,
    /// The raw body.
    pub body: &'a [u8],
    /// The time of receipt, from the injected clock.
    pub now: Timestamp,
}

impl Incoming<'_> {
    /// The value of a query parameter of the URL.
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.url.split_once('?')?.1;
        let query = query.split('#').next().unwrap_or(query);
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// How a field's value is typed by the provider, when it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An e-mail input.
    Email,
    /// A phone input.
    Phone,
    /// A hidden field (UTM and other tracking).
    Hidden,
    /// A long free-text answer.
    LongText,
    /// Anything else.
    Other,
}

/// One answer as the provider sent it.
#[derive(Clone, PartialEq, Eq)]
pub struct RawField {
    /// The provider's key (field ref, input name, question id).
    pub key: String,
    /// The question's label as shown to the person, when the provider sends it.
    pub label: Option<String>,
    /// The provider's type for the field.
    pub kind: FieldKind,
    /// The answer as text (lists joined with ", ").
    pub value: String,
}

impl RawField {
    /// A field with a key and a value only.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            label: None,
            kind: FieldKind::Other,
            value: value.into(),
        }
    }

    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the kind.
    pub fn kind(mut self, kind: FieldKind) -> Self {
        self.kind = kind;
        self
    }
}

/// Debug shows keys and labels only: values are personal data.
impl std::fmt::Debug for RawField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawField")
            .field("key", &self.key)
            .field("kind", &self.kind)
            .field("value_len", &self.value.len())
            .finish()
    }
}

/// What the provider itself says about where the lead came from, below any UTM field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderAttribution {
    /// Source (HubSpot `hs_analytics_source_data_1`, Meta `platform`).
    pub source: Option<String>,
    /// Medium (HubSpot `hs_analytics_source`, Meta paid / organic).
    pub medium: Option<String>,
    /// Campaign (Meta `campaign_name`).
    pub campaign: Option<String>,
}

/// A submission as extracted from one provider's payload, before mapping and normalising.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    /// The provider's delivery key (per the fixtures README), unique per submission. Never
    /// holds personal data: where a provider has no id, it is a digest.
    pub delivery_key: String,
    /// The form's id at the provider.
    pub form_id: Option<String>,
    /// The form's name or title.
    pub form_name: Option<String>,
    /// When the person submitted, per the provider; `None` means at receipt.
    pub occurred_at: Option<Timestamp>,
    /// The answers.
    pub fields: Vec<RawField>,
    /// A URL carrying UTM parameters (landing page, referrer).
    pub page_url: Option<String>,
    /// Provider attribution, used when no UTM field is present.
    pub attribution: ProviderAttribution,
    /// An IANA time zone the person is in (Calendly), to know a phone's country.
    pub time_zone: Option<String>,
    /// What the person did.
    pub activity: ActivityKind,
    /// Whether the provider's event is itself a hand raiser (a booked demo).
    pub hand_raiser: bool,
}

impl Extracted {
    /// An empty form submission under `delivery_key`.
    pub fn form(delivery_key: impl Into<String>) -> Self {
        Self {
            delivery_key: delivery_key.into(),
            form_id: None,
            form_name: None,
            occurred_at: None,
            fields: Vec::new(),
            page_url: None,
            attribution: ProviderAttribution::default(),
            time_zone: None,
            activity: ActivityKind::FormSubmitted,
            hand_raiser: false,
        }
    }
}

/// A lead to fetch from the provider's API (Meta sends ids only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FetchRequest {
    /// The delivery key (`leadgen_id`).
    pub delivery_key: String,
    /// The lead's id at the provider.
    pub leadgen_id: String,
    /// The form's id at the provider.
    pub form_id: Option<String>,
    /// The page's id at the provider.
    pub page_id: Option<String>,
}

/// One thing a delivery carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A submission to store.
    Submission(Box<Extracted>),
    /// A lead to fetch later.
    Fetch(FetchRequest),
    /// An event with nothing to store (e.g. a HubSpot `contact.creation` with no e-mail); its
    /// key is still claimed so a redelivery is recognised.
    Ignored {
        /// The delivery key.
        delivery_key: String,
        /// Why it carries nothing.
        reason: &'static str,
    },
}

impl Item {
    /// The item with its delivery key kept when it is a plain id (at most 128 letters, digits
    /// and `. _ ~ : / = + -`), else replaced by `sha256:` and a digest of it. The key is the
    /// sender's text: it becomes the claim, the activity's cause and message ids, and so reaches
    /// every function's logs; a key with a line break forged log lines, and one built from an
    /// e-mail put personal data in them. A digest keeps redeliveries recognised.
    pub fn with_safe_key(mut self) -> Item {
        let key = match &mut self {
            Item::Submission(e) => &mut e.delivery_key,
            Item::Fetch(f) => &mut f.delivery_key,
            Item::Ignored { delivery_key, .. } => delivery_key,
        };
        if !plain_key(key) {
            *key = format!("sha256:{}", digest_key(&[key.as_str()]));
        }
        self
    }

    /// The item's delivery key.
    pub fn delivery_key(&self) -> &str {
        match self {
            Item::Submission(e) => &e.delivery_key,
            Item::Fetch(f) => &f.delivery_key,
            Item::Ignored { delivery_key, .. } => delivery_key,
        }
    }
}

/// Verifies a delivery with the provider's own scheme. `secret` is the configured secret.
pub fn verify(provider: Provider, req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    match provider {
        Provider::Typeform => typeform::verify(req, secret),
        Provider::Tally => tally::verify(req, secret),
        Provider::Jotform | Provider::Unbounce => url_token(req, secret),
        Provider::Webflow => webflow::verify(req, secret),
        Provider::Hubspot => hubspot::verify(req, secret),
        Provider::Calendly => calendly::verify(req, secret),
        Provider::MetaLeadgen => meta::verify(req, secret),
        Provider::GoogleForms => google_forms::verify(req, secret),
        Provider::GravityForms => header_token(req, secret),
        Provider::Netlify => netlify::verify(req, secret),
        Provider::Generic => generic::verify(req, secret),
    }
}

/// Parses a verified delivery into its items, each with a delivery key fit for logs and ids
/// (see [`Item::with_safe_key`]).
pub fn parse(provider: Provider, req: &Incoming<'_>) -> Result<Vec<Item>, WebhookError> {
    let items = parse_raw(provider, req)?;
    Ok(items.into_iter().map(Item::with_safe_key).collect())
}

fn parse_raw(provider: Provider, req: &Incoming<'_>) -> Result<Vec<Item>, WebhookError> {
    match provider {
        Provider::Typeform => typeform::parse(req.body),
        Provider::Tally => tally::parse(req.body),
        Provider::Jotform => jotform::parse(req.headers, req.body),
        Provider::Webflow => webflow::parse(req.body),
        Provider::Hubspot => hubspot::parse(req.body),
        Provider::Calendly => calendly::parse(req.body),
        Provider::MetaLeadgen => meta::parse(req.body),
        Provider::GoogleForms => google_forms::parse(req.body),
        Provider::GravityForms => gravity_forms::parse(req.body),
        Provider::Netlify => netlify::parse(req.body),
        Provider::Unbounce => unbounce::parse(req.body),
        Provider::Generic => generic::parse(req.path_provider, req.body),
    }
}

/// Providers that cannot sign carry the shared secret as `?token=` in the URL.
fn url_token(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    let token = req.query("token").ok_or(WebhookError::BadSignature)?;
    crate::verify::check_token(secret, &token)
}

/// Providers that cannot sign but can send a custom header carry `X-Webhook-Token`.
pub(crate) fn header_token(req: &Incoming<'_>, secret: &Secret) -> Result<(), WebhookError> {
    let token = req
        .headers
        .get("x-webhook-token")
        .ok_or(WebhookError::BadSignature)?;
    crate::verify::check_token(secret, token)
}

/// A digest standing in for a delivery key when a provider sends no id. Hex of SHA-256, so a
/// key built from personal data (Unbounce's e-mail) never shows it.
pub(crate) fn digest_key(parts: &[&str]) -> String {
    let joined = parts.join("\u{1f}");
    crate::verify::sha256_hex(joined.as_bytes())[..32].to_owned()
}

/// Whether `name` may follow `generic/`: one path segment of at most 64 letters, digits, `-`,
/// `_` or `.`, since it becomes the form id of every lead the sender delivers.
fn generic_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether a delivery key may be used as sent (see [`Item::with_safe_key`]).
fn plain_key(key: &str) -> bool {
    (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_~:/=+".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(key: &str) -> Item {
        Item::Ignored {
            delivery_key: key.to_owned(),
            reason: "test",
        }
    }

    #[test]
    fn provider_ids_are_kept_and_anything_else_is_digested() {
        for plain in [
            "01JNE4Q8ZK3V7W9X2Y5B6C8D0F",
            "3/1874",
            "body:ab12",
            "https://x/y=1",
        ] {
            assert_eq!(ignored(plain).with_safe_key().delivery_key(), plain);
        }
        let forged = "evt\n2026-12-04T00:00:00Z ERROR forged jane.doe@victim.example.com";
        for raw in [forged, "jane.doe@victim.example.com", "", &"k".repeat(129)] {
            let safe = ignored(raw).with_safe_key();
            let key = safe.delivery_key();
            assert!(key.starts_with("sha256:") && key.len() == 7 + 32, "{key}");
            assert!(plain_key(key));
            // The same key always digests the same way, so a redelivery is still a duplicate.
            assert_eq!(ignored(raw).with_safe_key(), safe);
        }
    }
}
