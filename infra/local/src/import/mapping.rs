//! The column mapping of an import: which CSV column holds what, read from a small TOML file.
//!
//! ```toml
//! batch = "olist-mqls"            # names the import; importing the same batch again changes nothing
//! mode = "create"                 # create: every row is a new lead; update: rows add to known leads
//! date_formats = ["%Y-%m-%d"]     # tried in order after RFC 3339; dates without a zone are UTC
//!
//! [columns]
//! lead_id = "mql_id"              # required
//! created_at = "first_contact_date"
//! source = "origin"
//!
//! [stage_dates]                   # the date each stage was entered; blank = not reached
//! mql = "first_contact_date"
//! ```

use chrono::format::{Item, StrftimeItems};
use lifecycle::Stage;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Whether rows create leads or add to leads imported before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every row is a new lead; a lead id seen before is a duplicate.
    #[default]
    Create,
    /// Every row adds stages (and an owner) to a lead that exists.
    Update,
}

/// What to do with a stage dated before a stage the lead entered earlier along the funnel (or
/// after one it entered later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutOfOrder {
    /// Refuse the row, naming the columns (or the lead's stage) it contradicts.
    #[default]
    Reject,
    /// Import the row with the stage moved to the nearest date that keeps the history in order
    /// (the earlier stage's date), and list the row as adjusted. For exports known to hold a
    /// few such rows (Olist's closed deals hold one deal won two days before first contact).
    Clamp,
}

/// Columns holding lead fields. Only `lead_id` is required.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    /// The lead's id in the source system.
    pub lead_id: String,
    /// E-mail address.
    pub email: Option<String>,
    /// When the lead was created (entered `New`).
    pub created_at: Option<String>,
    /// Acquisition source.
    pub source: Option<String>,
    /// Campaign.
    pub campaign: Option<String>,
    /// Medium.
    pub medium: Option<String>,
    /// Form or landing page.
    pub form: Option<String>,
    /// Owning rep.
    pub owner: Option<String>,
    /// The lead's current stage, by name (see `stage_names` for aliases).
    pub stage: Option<String>,
    /// When the lead entered the stage in `stage`.
    pub stage_date: Option<String>,
    /// Disqualification or recycle reason code.
    pub reason: Option<String>,
    /// Company name.
    pub company: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Country.
    pub country: Option<String>,
}

/// A mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Names the import; the idempotency keys derive from it.
    pub batch: String,
    /// Create or update.
    #[serde(default)]
    pub mode: Mode,
    /// `chrono` formats tried in order after RFC 3339.
    #[serde(default = "default_formats")]
    pub date_formats: Vec<String>,
    /// Stage dates that go backwards: rejected (the default) or clamped.
    #[serde(default)]
    pub dates_out_of_order: OutOfOrder,
    /// Lead fields.
    pub columns: Columns,
    /// For each stage, the column with the date it was entered.
    #[serde(default)]
    pub stage_dates: BTreeMap<Stage, String>,
    /// Aliases for values of the `stage` column (`"Marketing Qualified Lead" = "mql"`).
    #[serde(default)]
    pub stage_names: BTreeMap<String, Stage>,
}

fn valid_format(format: &str) -> bool {
    !StrftimeItems::new(format).any(|item| matches!(item, Item::Error))
}

fn default_formats() -> Vec<String> {
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d",
        "%d/%m/%Y",
        "%m/%d/%Y %H:%M",
    ]
    .map(String::from)
    .to_vec()
}

/// The mapping file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// Not valid TOML, or a field of the wrong type, or an unknown key.
    #[error("mapping file is not valid: {0}")]
    Syntax(#[from] toml::de::Error),
    /// A column named by the mapping is not in the CSV header.
    #[error("column {column:?} named by the mapping ({field}) is not in the CSV header")]
    MissingColumn {
        /// The mapping field.
        field: String,
        /// The column it names.
        column: String,
    },
    /// The batch name is empty.
    #[error("the mapping's `batch` must not be empty")]
    EmptyBatch,
    /// A `date_formats` entry holds a specifier `chrono` does not know.
    #[error("date format {0:?} in `date_formats` is not a valid chrono format")]
    BadDateFormat(String),
}

impl Mapping {
    /// Parses a mapping file.
    pub fn parse(text: &str) -> Result<Self, MappingError> {
        let mapping: Mapping = toml::from_str(text)?;
        if mapping.batch.trim().is_empty() {
            return Err(MappingError::EmptyBatch);
        }
        // Checked here: a bad format would otherwise only show as every row's date failing.
        if let Some(bad) = mapping.date_formats.iter().find(|f| !valid_format(f)) {
            return Err(MappingError::BadDateFormat(bad.clone()));
        }
        Ok(mapping)
    }

    /// Every (field, column) the mapping names, for checking against the header.
    pub fn named_columns(&self) -> Vec<(String, &str)> {
        let c = &self.columns;
        let optional = [
            ("email", &c.email),
            ("created_at", &c.created_at),
            ("source", &c.source),
            ("campaign", &c.campaign),
            ("medium", &c.medium),
            ("form", &c.form),
            ("owner", &c.owner),
            ("stage", &c.stage),
            ("stage_date", &c.stage_date),
            ("reason", &c.reason),
            ("company", &c.company),
            ("title", &c.title),
            ("country", &c.country),
        ];
        let mut named = vec![("lead_id".to_owned(), c.lead_id.as_str())];
        named.extend(
            optional
                .iter()
                .filter_map(|(f, col)| col.as_deref().map(|col| (f.to_string(), col))),
        );
        named.extend(
            self.stage_dates
                .iter()
                .map(|(s, col)| (format!("stage_dates.{s}"), col.as_str())),
        );
        named
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "batch = \"b\"\n[columns]\nlead_id = \"id\"\n";

    #[test]
    fn an_unknown_date_specifier_is_refused_when_the_mapping_is_parsed() {
        let text = format!("date_formats = [\"%Y-%m-%d\", \"%Q\"]\n{BASE}");

        let err = Mapping::parse(&text).unwrap_err();

        assert!(
            matches!(&err, MappingError::BadDateFormat(f) if f == "%Q"),
            "{err}"
        );
        assert!(err.to_string().contains("%Q"), "{err}");
    }

    #[test]
    fn valid_date_formats_are_accepted() {
        let text = format!("date_formats = [\"%d.%m.%Y %H:%M\", \"%Y-%m-%d\"]\n{BASE}");

        assert!(Mapping::parse(&text).is_ok());
    }
}
