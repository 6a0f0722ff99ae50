//! Normalising a mapped submission into a [`Submission`]: the e-mail trimmed and lower-cased
//! (the identity key), the phone in E.164 when its country is knowable, names exactly as sent
//! in Unicode NFC, and source / medium / campaign from UTM fields, then the provider's own
//! attribution, then the page URL's query.

use crate::{
    mapping::{self, FormMap, Mapped, Slot},
    provider::{Extracted, FieldKind, Provider},
    Timestamp,
};
use lifecycle::{ActivityKind, Email, Phone};
use phonenumber::country;
use serde::Serialize;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Free-text answers longer than this (in bytes) are cut, and the submission says so. The body
/// limit is 256 KiB, so only an answer that is most of a body is ever cut.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// One answer as kept for the record (stored, never logged).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The provider's key.
    pub key: String,
    /// The question's label, when sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The answer (NFC).
    pub value: String,
}

/// A submission, normalised and ready for intake. Holds personal data: its `Debug` shows
/// ids only.
#[derive(Clone, PartialEq)]
pub struct Submission {
    /// The provider.
    pub provider: Provider,
    /// The provider's delivery key.
    pub delivery_key: String,
    /// The form's id at the provider.
    pub form_id: Option<String>,
    /// The form's name.
    pub form_name: Option<String>,
    /// When the person submitted.
    pub occurred_at: Timestamp,
    /// The normalised e-mail; `None` makes the lead incomplete.
    pub email: Option<Email>,
    /// The phone: E.164 when the country was knowable, otherwise as sent.
    pub phone: Option<Phone>,
    /// The name, NFC, first and last joined by one space.
    pub name: Option<String>,
    /// The company.
    pub company: Option<String>,
    /// The job title.
    pub title: Option<String>,
    /// The country as given.
    pub country: Option<String>,
    /// Company size as given.
    pub company_size: Option<String>,
    /// Industry as given.
    pub industry: Option<String>,
    /// Acquisition source.
    pub source: Option<String>,
    /// Medium.
    pub medium: Option<String>,
    /// Campaign.
    pub campaign: Option<String>,
    /// Whether the person asked for sales.
    pub hand_raiser: bool,
    /// What the person did.
    pub activity: ActivityKind,
    /// Every answer, for the record.
    pub answers: Vec<Answer>,
    /// Whether an answer was cut at [`MAX_ANSWER_BYTES`].
    pub free_text_truncated: bool,
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submission")
            .field("provider", &self.provider)
            .field("delivery_key", &self.delivery_key)
            .field("form_id", &self.form_id)
            .field("has_email", &self.email.is_some())
            .field("has_phone", &self.phone.is_some())
            .field("hand_raiser", &self.hand_raiser)
            .finish_non_exhaustive()
    }
}

/// Maps and normalises one extracted submission.
pub fn normalise(
    provider: Provider,
    e: &Extracted,
    form: Option<&FormMap>,
    received_at: Timestamp,
) -> Submission {
    let m = mapping::map_fields(e, form);
    let (answers, free_text_truncated) = answers(e);
    let country = clean(m.get(Slot::Country));
    let region = phone_region(country.as_deref(), e.time_zone.as_deref(), form);
    let url_utm = e
        .page_url
        .as_deref()
        .or(m.get(Slot::PageUrl))
        .map(utm_from_url);
    let from_url = |name: &str| url_utm.as_ref().and_then(|u| u.get(name).cloned());

    Submission {
        provider,
        delivery_key: e.delivery_key.clone(),
        form_id: e.form_id.clone(),
        form_name: e.form_name.clone(),
        occurred_at: e.occurred_at.unwrap_or(received_at),
        email: email(&m, e),
        phone: clean(m.get(Slot::Phone))
            .filter(|p| dialable(p))
            .map(|p| phone(&p, region)),
        name: name(&m),
        company: nfc(m.get(Slot::Company)),
        title: nfc(m.get(Slot::Title)),
        country,
        company_size: nfc(m.get(Slot::CompanySize)),
        industry: nfc(m.get(Slot::Industry)),
        source: clean(m.get(Slot::UtmSource))
            .or_else(|| clean(e.attribution.source.as_deref()))
            .or_else(|| from_url("utm_source")),
        medium: clean(m.get(Slot::UtmMedium))
            .or_else(|| clean(e.attribution.medium.as_deref()))
            .or_else(|| from_url("utm_medium")),
        campaign: clean(m.get(Slot::UtmCampaign))
            .or_else(|| clean(e.attribution.campaign.as_deref()))
            .or_else(|| from_url("utm_campaign")),
        hand_raiser: hand_raiser(e, form),
        activity: e.activity,
        answers,
        free_text_truncated,
    }
}

/// The mapped e-mail if it parses; a malformed one is absent (it stays in the answers).
fn email(m: &Mapped, e: &Extracted) -> Option<Email> {
    if let Some(found) = m.get(Slot::Email).and_then(|raw| Email::parse(raw).ok()) {
        return Some(found);
    }
    // A second e-mail input (Google's respondentEmail left empty, the answer filled in).
    e.fields
        .iter()
        .filter(|f| f.kind == FieldKind::Email)
        .find_map(|f| Email::parse(&f.value).ok())
}

/// Trimmed, NFC; empty is absent.
fn clean(raw: Option<&str>) -> Option<String> {
    let t = raw?.trim();
    (!t.is_empty()).then(|| to_nfc(t))
}

/// NFC of `text`. Most answers are NFC already: ASCII always is (checked a word at a time),
/// and the quick check confirms most other text without decomposing and recomposing it.
fn to_nfc(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => text.to_owned(),
        _ => text.nfc().collect(),
    }
}

fn nfc(raw: Option<&str>) -> Option<String> {
    clean(raw)
}

/// The full name, or first and last joined by one space. Never re-cased or transliterated.
fn name(m: &Mapped) -> Option<String> {
    let first = clean(m.get(Slot::FirstName));
    let last = clean(m.get(Slot::LastName));
    match (first, last) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(f), None) => clean(m.get(Slot::FullName)).or(Some(f)),
        (None, Some(l)) => clean(m.get(Slot::FullName)).or(Some(l)),
        (None, None) => clean(m.get(Slot::FullName)),
    }
}

fn hand_raiser(e: &Extracted, form: Option<&FormMap>) -> bool {
    if e.hand_raiser {
        return true;
    }
    match form.and_then(|f| f.hand_raiser) {
        Some(configured) => configured,
        None => e
            .form_name
            .as_deref()
            .is_some_and(mapping::is_hand_raiser_name),
    }
}

fn answers(e: &Extracted) -> (Vec<Answer>, bool) {
    let mut truncated = false;
    let list = e
        .fields
        .iter()
        .map(|f| {
            let mut value = to_nfc(&f.value);
            if value.len() > MAX_ANSWER_BYTES {
                let mut cut = MAX_ANSWER_BYTES;
                while !value.is_char_boundary(cut) {
                    cut -= 1;
                }
                value.truncate(cut);
                truncated = true;
            }
            Answer {
                key: f.key.clone(),
                label: f.label.clone(),
                value,
            }
        })
        .collect();
    (list, truncated)
}

/// The country to read a national phone number in: the answer's own country, else the
/// person's time zone, else the form's configured country.
fn phone_region(
    answer_country: Option<&str>,
    time_zone: Option<&str>,
    form: Option<&FormMap>,
) -> Option<country::Id> {
    let from_code = |c: &str| c.trim().to_ascii_uppercase().parse::<country::Id>().ok();
    answer_country
        .and_then(from_code)
        .or_else(|| time_zone.and_then(zone_country).and_then(from_code))
        .or_else(|| form.and_then(|f| f.country.as_deref()).and_then(from_code))
}

/// The country of common IANA time zones. A short list, not a database: zones not listed
/// leave the country unknown (and the phone as sent) unless the form names its country.
fn zone_country(zone: &str) -> Option<&'static str> {
    const ZONES: &[(&str, &str)] = &[
        ("America/New_York", "US"),
        ("America/Chicago", "US"),
        ("America/Denver", "US"),
        ("America/Phoenix", "US"),
        ("America/Los_Angeles", "US"),
        ("America/Anchorage", "US"),
        ("Pacific/Honolulu", "US"),
        ("America/Detroit", "US"),
        ("America/Toronto", "CA"),
        ("America/Vancouver", "CA"),
        ("America/Mexico_City", "MX"),
        ("America/Sao_Paulo", "BR"),
        ("Europe/London", "GB"),
        ("Europe/Dublin", "IE"),
        ("Europe/Paris", "FR"),
        ("Europe/Berlin", "DE"),
        ("Europe/Vienna", "AT"),
        ("Europe/Zurich", "CH"),
        ("Europe/Madrid", "ES"),
        ("Europe/Rome", "IT"),
        ("Europe/Amsterdam", "NL"),
        ("Europe/Brussels", "BE"),
        ("Europe/Stockholm", "SE"),
        ("Europe/Warsaw", "PL"),
        ("Asia/Tokyo", "JP"),
        ("Asia/Singapore", "SG"),
        ("Asia/Kolkata", "IN"),
        ("Australia/Sydney", "AU"),
    ];
    ZONES.iter().find(|(z, _)| *z == zone).map(|(_, c)| *c)
}

/// Whether an answer can be a phone number at all: at least five digits (the shortest
/// subscriber numbers have five). A phone is an identity key, the fallback match for a lead with
/// no e-mail, so `true`, `n/a` or `0` kept as sent would join strangers into one lead.
fn dialable(raw: &str) -> bool {
    raw.bytes().filter(u8::is_ascii_digit).count() >= 5
}

/// E.164 when the number carries `+` or the country is known and the digits fit that
/// country's possible lengths; otherwise the value as sent. Validity against the numbering
/// plan is not required: reserved fictional ranges (US 555-01xx) are real formats.
pub fn phone(raw: &str, region: Option<country::Id>) -> Phone {
    let trimmed = raw.trim();
    let explicit = trimmed.starts_with('+');
    if !explicit && region.is_none() {
        return Phone::new(trimmed);
    }
    let parsed = phonenumber::parse(if explicit { None } else { region }, trimmed).ok();
    let fits = parsed.as_ref().is_some_and(|n| {
        // Leading zeros are kept apart from the value (Italian numbers); count them too.
        let national = n.national();
        let len = usize::from(national.zeros()) + national.value().to_string().len();
        // A number in no region's plan (US 555) has no region of its own: use the one it was
        // read in, or the main region of its calling code.
        let id = n.country().id().or(region);
        let meta = match id {
            Some(id) => phonenumber::metadata::DATABASE.by_id(id.as_ref()),
            None => phonenumber::metadata::DATABASE
                .by_code(&n.code().value())
                .and_then(|all| all.into_iter().find(|m| m.is_main_country_for_code())),
        };
        meta.is_some_and(|m| possible_lengths(m).any(|l| l == len))
    });
    match parsed {
        Some(n) if fits => Phone::new(n.format().mode(phonenumber::Mode::E164).to_string()),
        _ => Phone::new(trimmed),
    }
}

/// The national lengths a region's numbers can have, over every number type (the metadata's
/// general descriptor leaves its list empty).
fn possible_lengths(m: &phonenumber::metadata::Metadata) -> impl Iterator<Item = usize> + '_ {
    let d = m.descriptors();
    let kinds = [
        Some(d.general()),
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.uan(),
        d.pager(),
    ];
    kinds
        .into_iter()
        .flatten()
        .flat_map(|k| k.possible_length().iter().map(|&l| usize::from(l)))
}

/// The `utm_*` parameters of a URL's query.
pub fn utm_from_url(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or(query);
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, v)| k.starts_with("utm_") && !v.trim().is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_with_fewer_than_five_digits_is_no_phone() {
        for not_a_phone in ["true", "n/a", "0", "-", "1234", "call me"] {
            assert!(!dialable(not_a_phone), "{not_a_phone}");
        }
        for number in ["(555) 010-0142", "+43 1 5550 1234", "12345"] {
            assert!(dialable(number), "{number}");
        }
    }

    #[test]
    fn national_numbers_need_a_country() {
        assert_eq!(phone("(555) 010-0142", None).as_str(), "(555) 010-0142");
        assert_eq!(
            phone("(555) 010-0142", Some(country::Id::US)).as_str(),
            "+15550100142"
        );
        assert_eq!(
            phone("07700 900123", Some(country::Id::GB)).as_str(),
            "+447700900123"
        );
        assert_eq!(phone("+43 1 5550 1234", None).as_str(), "+43155501234");
    }

    #[test]
    fn a_number_that_does_not_fit_the_country_is_kept_as_sent() {
        assert_eq!(
            phone("07700 900123", Some(country::Id::US)).as_str(),
            "07700 900123"
        );
    }

    #[test]
    fn utm_parameters_come_from_the_query() {
        let u = utm_from_url("https://x.example.com/p?utm_source=bing&utm_medium=cpc&x=1#f");
        assert_eq!(u.get("utm_source").map(String::as_str), Some("bing"));
        assert_eq!(u.get("utm_medium").map(String::as_str), Some("cpc"));
        assert_eq!(u.get("x"), None);
    }

    #[test]
    fn names_are_nfc_and_never_recased() {
        // "Zoe" + combining diaeresis becomes the precomposed "Zoë"; case is left alone.
        assert_eq!(clean(Some(" Zoe\u{308} ")).as_deref(), Some("Zo\u{eb}"));
        assert_eq!(clean(Some("mcDONALD")).as_deref(), Some("mcDONALD"));
    }
}
