//! Contact details that identify a lead: the normalised e-mail (the identity key) and the
//! phone number (the fallback identity of an *incomplete* lead).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A normalised e-mail address: surrounding white space trimmed, the whole address lower-cased.
///
/// The lower-cased form is the identity key of a lead, so two submissions that differ only in
/// case or padding are the same person. Validation is deliberately shallow (one `@`, something
/// on both sides, a dot in the domain, no white space): providers have already asked the person
/// to type it, and rejecting a deliverable address loses a lead.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why a text is not an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but white space.
    #[error("e-mail is empty")]
    Empty,
    /// Not of the shape `local@domain.tld`.
    #[error("e-mail is not of the form local@domain")]
    Malformed,
}

impl Email {
    /// Normalises and validates `raw`.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }

        let lower = trimmed.to_lowercase();
        let (local, domain) = lower.split_once('@').ok_or(EmailError::Malformed)?;
        let well_formed = !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !lower.chars().any(char::is_whitespace);
        if !well_formed {
            return Err(EmailError::Malformed);
        }
        Ok(Self(lower))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`, used for free-mail and account matching.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug output never shows the address: debug lines end up in logs, and an e-mail is personal
/// data.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}

/// A phone number: E.164 (`+15550100142`) when the country was knowable at intake, otherwise the
/// digits as sent. Normalising is the intake's job (it knows the form's country); the core only
/// carries the value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Wraps an already normalised number.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the number is in E.164 form.
    pub fn is_e164(&self) -> bool {
        let digits = self.0.strip_prefix('+').unwrap_or("");
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    }
}

/// Redacted for the same reason as [`Email`]'s.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        let e = Email::parse("  Dana.Whitfield@Quillfield.Example.COM ").unwrap();
        assert_eq!(e.as_str(), "dana.whitfield@quillfield.example.com");
        assert_eq!(e.domain(), "quillfield.example.com");
    }

    #[test]
    fn email_without_at_or_domain_dot_is_rejected() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        assert_eq!(Email::parse("nobody"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("a@b"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("a@@b.com"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("a b@c.com"), Err(EmailError::Malformed));
    }

    #[test]
    fn debug_never_shows_the_address() {
        let e = Email::parse("secret.person@example.com").unwrap();
        assert!(!format!("{e:?}").contains("secret"));
        assert!(!format!("{:?}", Phone::new("+15550100142")).contains("555"));
    }

    proptest! {
        #[test]
        fn parsing_is_idempotent(raw in "[ ]{0,2}[A-Za-z0-9._%+-]{1,12}@[A-Za-z0-9-]{1,10}\\.[A-Za-z]{2,5}[ ]{0,2}") {
            let once = Email::parse(&raw).unwrap();
            let twice = Email::parse(once.as_str()).unwrap();
            prop_assert_eq!(&once, &twice);
            prop_assert_eq!(once.as_str(), raw.trim().to_lowercase());
        }
    }
}
