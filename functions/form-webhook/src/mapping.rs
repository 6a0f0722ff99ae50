//! Field mapping: which answer is the e-mail, the name, the company, the campaign.
//!
//! Each raw field is matched, first rule first:
//! 1. the form's own field map ([`FormMap::fields`]: provider key → [`Slot`]), which is how a
//!    Gravity Forms field id or an unusual question name is named;
//! 2. the provider's field type (an e-mail input is the e-mail, a phone input the phone);
//! 3. the key, then the label, looked up in a default vocabulary of question names in several
//!    languages (so "Adresse e-mail", "Vorname" or "Job title" need no configuration).
//!
//! Names are compared after [`normalise_name`]: lower case, camelCase split, punctuation and
//! parenthesised notes dropped ("Phone (optional)" is "phone"). For each slot the first
//! non-empty field wins. Everything, mapped or not, is kept as an answer for the record.

use crate::provider::{Extracted, FieldKind, RawField};
use serde::Deserialize;
use std::collections::HashMap;

/// Where an answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// The e-mail address.
    Email,
    /// The phone number.
    Phone,
    /// The whole name.
    FullName,
    /// The given name.
    FirstName,
    /// The family name.
    LastName,
    /// The company.
    Company,
    /// The job title.
    Title,
    /// The country.
    Country,
    /// Company size or head count.
    CompanySize,
    /// Industry.
    Industry,
    /// `utm_source`.
    UtmSource,
    /// `utm_medium`.
    UtmMedium,
    /// `utm_campaign`.
    UtmCampaign,
    /// A page URL carrying UTM parameters.
    PageUrl,
    /// Free text (kept as an answer only).
    Message,
    /// Explicitly not mapped.
    Ignore,
}

/// The settings of one form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FormMap {
    /// Provider key → slot. For Gravity Forms, mapping a name field's id to `full_name` also
    /// maps its `.3` (first) and `.6` (last) inputs.
    #[serde(default)]
    pub fields: HashMap<String, Slot>,
    /// ISO 3166-1 alpha-2 country of the form's audience, used to read national phone numbers.
    #[serde(default)]
    pub country: Option<String>,
    /// Whether a submission of this form asks for sales (demo, contact sales). `None` falls
    /// back to the form-name heuristic in [`is_hand_raiser_name`].
    #[serde(default)]
    pub hand_raiser: Option<bool>,
}

/// The values found for each slot, raw (not yet normalised).
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Mapped {
    values: HashMap<Slot, String>,
}

impl Mapped {
    /// The raw value of a slot.
    pub fn get(&self, slot: Slot) -> Option<&str> {
        self.values.get(&slot).map(String::as_str)
    }

    fn offer(&mut self, slot: Slot, value: &str) {
        if slot != Slot::Ignore && !value.trim().is_empty() {
            self.values.entry(slot).or_insert_with(|| value.to_owned());
        }
    }
}

/// Maps the fields of a submission into slots.
pub fn map_fields(e: &Extracted, form: Option<&FormMap>) -> Mapped {
    let mut mapped = Mapped::default();
    for f in &e.fields {
        if let Some(slot) = slot_of(f, form) {
            mapped.offer(slot, &f.value);
        }
    }
    mapped
}

fn slot_of(f: &RawField, form: Option<&FormMap>) -> Option<Slot> {
    if let Some(slot) = form.and_then(|m| configured(m, &f.key)) {
        return Some(slot);
    }
    match f.kind {
        FieldKind::Email => return Some(Slot::Email),
        FieldKind::Phone => return Some(Slot::Phone),
        _ => {}
    }
    vocabulary(&normalise_name(&f.key)).or_else(|| {
        f.label
            .as_deref()
            .and_then(|l| vocabulary(&normalise_name(l)))
    })
}

/// The configured slot of a key, including Gravity Forms' sub-inputs of a name field.
fn configured(map: &FormMap, key: &str) -> Option<Slot> {
    if let Some(slot) = map.fields.get(key) {
        return Some(*slot);
    }
    let (base, input) = key.split_once('.')?;
    match (map.fields.get(base)?, input) {
        (Slot::FullName, "3") => Some(Slot::FirstName),
        (Slot::FullName, "6") => Some(Slot::LastName),
        (Slot::FullName, _) => Some(Slot::Ignore),
        _ => None,
    }
}

/// Lower case, camelCase split into words, parenthesised notes and punctuation dropped,
/// single spaces. `"Phone (optional)"` → `"phone"`, `"jobTitle"` → `"job title"`,
/// `"utm_source"` → `"utm source"`, `"Adresse e-mail"` → `"adresse e mail"`.
pub fn normalise_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut depth = 0u32;
    let mut prev_lower = false;
    for c in raw.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            c if c.is_alphanumeric() => {
                if c.is_uppercase() && prev_lower {
                    out.push(' ');
                }
                prev_lower = c.is_lowercase() || c.is_numeric();
                out.extend(c.to_lowercase());
            }
            _ => {
                prev_lower = false;
                out.push(' ');
            }
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The default vocabulary: normalised question names, in English, French, German, Spanish,
/// Italian, Portuguese, Dutch and Japanese, and the field names common providers use.
fn vocabulary(name: &str) -> Option<Slot> {
    VOCABULARY
        .iter()
        .find(|(_, names)| names.contains(&name))
        .map(|(slot, _)| *slot)
}

const VOCABULARY: &[(Slot, &[&str])] = &[
    (
        Slot::Email,
        &[
            "email",
            "e mail",
            "mail",
            "email address",
            "e mail address",
            "work email",
            "business email",
            "your email",
            "company email",
            "respondent email",
            "adresse e mail",
            "adresse email",
            "adresse mail",
            "courriel",
            "adresse courriel",
            "e mail adresse",
            "email adresse",
            "ihre e mail adresse",
            "correo",
            "correo electrónico",
            "correo electronico",
            "indirizzo email",
            "indirizzo e mail",
            "endereço de email",
            "endereço de e mail",
            "e mailadres",
            "メールアドレス",
        ],
    ),
    (
        Slot::Phone,
        &[
            "phone",
            "phone number",
            "telephone",
            "telephone number",
            "mobile",
            "mobile phone",
            "mobile number",
            "cell",
            "cell phone",
            "work phone",
            "business phone",
            "text reminder number",
            "téléphone",
            "numéro de téléphone",
            "portable",
            "telefon",
            "telefonnummer",
            "handynummer",
            "teléfono",
            "telefono",
            "número de teléfono",
            "telefone",
            "telefoonnummer",
            "電話番号",
        ],
    ),
    (
        Slot::FullName,
        &[
            "name",
            "full name",
            "fullname",
            "your name",
            "contact name",
            "nom",
            "nom complet",
            "votre nom",
            "vollständiger name",
            "ihr name",
            "nombre completo",
            "nome completo",
            "naam",
            "お名前",
            "氏名",
        ],
    ),
    (
        Slot::FirstName,
        &[
            "first name",
            "firstname",
            "first",
            "given name",
            "forename",
            "prénom",
            "prenom",
            "vorname",
            "nombre",
            "nome",
            "voornaam",
            "名",
        ],
    ),
    (
        Slot::LastName,
        &[
            "last name",
            "lastname",
            "last",
            "surname",
            "family name",
            "nom de famille",
            "nachname",
            "apellido",
            "apellidos",
            "cognome",
            "sobrenome",
            "achternaam",
            "姓",
        ],
    ),
    (
        Slot::Company,
        &[
            "company",
            "company name",
            "organization",
            "organisation",
            "organization name",
            "organisation name",
            "business name",
            "employer",
            "entreprise",
            "société",
            "societe",
            "nom de l entreprise",
            "firma",
            "unternehmen",
            "firmenname",
            "empresa",
            "azienda",
            "bedrijf",
            "bedrijfsnaam",
            "会社名",
        ],
    ),
    (
        Slot::Title,
        &[
            "title",
            "job title",
            "jobtitle",
            "job",
            "role",
            "your role",
            "position",
            "job role",
            "poste",
            "fonction",
            "intitulé du poste",
            "berufsbezeichnung",
            "position im unternehmen",
            "cargo",
            "puesto",
            "ruolo",
            "functie",
            "役職",
        ],
    ),
    (
        Slot::Country,
        &["country", "pays", "land", "país", "pais", "paese", "国"],
    ),
    (
        Slot::CompanySize,
        &[
            "company size",
            "employees",
            "number of employees",
            "how many employees",
            "team size",
            "taille de l entreprise",
            "mitarbeiter",
            "unternehmensgröße",
        ],
    ),
    (
        Slot::Industry,
        &["industry", "secteur", "branche", "sector", "industria"],
    ),
    (Slot::UtmSource, &["utm source"]),
    (Slot::UtmMedium, &["utm medium"]),
    (Slot::UtmCampaign, &["utm campaign"]),
    (
        Slot::PageUrl,
        &[
            "page url",
            "landing page",
            "landing page url",
            "source url",
            "page uri",
        ],
    ),
    (
        Slot::Message,
        &["message", "comments", "comment", "notes", "nachricht"],
    ),
];

/// The default for forms with no `hand_raiser` setting: a form whose name asks for a demo or
/// for sales. A heuristic, stated as such: configure `hand_raiser` per form to be sure.
pub fn is_hand_raiser_name(form_name: &str) -> bool {
    let name = normalise_name(form_name);
    const SIGNALS: [&str; 6] = [
        "demo",
        "contact sales",
        "talk to sales",
        "speak to sales",
        "book a meeting",
        "request a call",
    ];
    SIGNALS.iter().any(|s| name.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_compared_in_a_normal_form() {
        assert_eq!(normalise_name("Phone (optional)"), "phone");
        assert_eq!(normalise_name("jobTitle"), "job title");
        assert_eq!(normalise_name("utm_source"), "utm source");
        assert_eq!(normalise_name("Adresse e-mail"), "adresse e mail");
        assert_eq!(
            normalise_name("What's your full name?"),
            "what s your full name"
        );
    }

    #[test]
    fn a_french_email_label_yields_the_email() {
        let mut e = Extracted::form("k");
        e.fields
            .push(RawField::new("question_x1", "jean@example.fr").label("Adresse e-mail"));
        let mapped = map_fields(&e, None);
        assert_eq!(mapped.get(Slot::Email), Some("jean@example.fr"));
    }

    #[test]
    fn the_form_map_beats_the_vocabulary_and_the_first_value_wins() {
        let mut e = Extracted::form("k");
        e.fields.push(RawField::new("company", "From vocabulary"));
        e.fields.push(RawField::new("q9", "Configured"));
        let form = FormMap {
            fields: HashMap::from([
                ("q9".to_owned(), Slot::Title),
                ("company".to_owned(), Slot::Ignore),
            ]),
            ..FormMap::default()
        };
        let mapped = map_fields(&e, Some(&form));
        assert_eq!(mapped.get(Slot::Company), None);
        assert_eq!(mapped.get(Slot::Title), Some("Configured"));
    }

    #[test]
    fn hand_raiser_names() {
        assert!(is_hand_raiser_name("Demo request form"));
        assert!(is_hand_raiser_name("Contact Sales"));
        assert!(!is_hand_raiser_name("Partner programme interest"));
    }
}
