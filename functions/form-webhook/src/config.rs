//! Configuration: the secret of each provider and the per-form settings (field maps, country,
//! hand raiser).
//!
//! Secrets come from the environment, never from code: `WEBHOOK_SECRETS`, a JSON object of
//! provider slug to secret (what the template resolves from Secrets Manager at deploy time), and
//! `WEBHOOK_SECRET_<PROVIDER>` (e.g. `WEBHOOK_SECRET_TYPEFORM`), which wins for its provider. They are wrapped in [`Secret`], whose `Debug`
//! and `Display` never show the value, so a config struct can be logged safely. A provider with
//! no secret configured refuses every delivery: failing closed is the only way a forged delivery
//! cannot get in through a forgotten setting.

use crate::{mapping::FormMap, provider::Provider, Timestamp};
use ports::DocumentStore;
use serde::Deserialize;
use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
};

/// A secret value. Its `Debug` is redacted; read it with [`Secret::expose`] only where it is used.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret read from configuration.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret, for a signature check.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything the function is configured with.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The secret (signing key or shared token) of each provider.
    pub secrets: HashMap<Provider, Secret>,
    /// Per-form settings, by `(provider, form id)`.
    pub forms: HashMap<(Provider, String), FormMap>,
    /// The token Meta echoes in its subscription handshake (`WEBHOOK_META_VERIFY_TOKEN`).
    pub meta_verify_token: Option<Secret>,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `WEBHOOK_FORMS` is not valid JSON of the expected shape.
    #[error("failed to read the form settings: {0}")]
    Forms(#[source] serde_json::Error),
    /// A form setting names a provider that does not exist.
    #[error("form settings name an unknown provider `{0}`")]
    UnknownProvider(String),
    /// `WEBHOOK_SECRETS` is not a JSON object of strings (the error never shows the value).
    #[error("WEBHOOK_SECRETS is not a JSON object of provider name to secret")]
    Secrets,
    /// `WEBHOOK_SECRETS` names a provider that does not exist: a typo would otherwise leave the
    /// intended provider refusing everything, silently.
    #[error("WEBHOOK_SECRETS names an unknown provider `{0}`")]
    UnknownSecret(String),
}

/// One entry of the `WEBHOOK_FORMS` JSON array.
#[derive(Deserialize)]
struct FormEntry {
    provider: String,
    form_id: String,
    #[serde(flatten)]
    map: FormMap,
}

impl Config {
    /// Reads the secrets from `WEBHOOK_SECRETS` and `WEBHOOK_SECRET_<PROVIDER>` and the form
    /// settings from
    /// `WEBHOOK_FORMS` (a JSON array of `{provider, form_id, fields, country, hand_raiser}`).
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_vars(&vars)
    }

    /// As [`Config::from_env`], from a given set of variables (for tests and the local runner).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut config = Config::default();
        if let Some(json) = vars.get("WEBHOOK_SECRETS") {
            config.add_secrets_json(json)?;
        }
        for provider in Provider::ALL {
            if let Some(value) = vars.get(&provider.secret_var()) {
                if !value.is_empty() {
                    config.secrets.insert(provider, Secret::new(value.clone()));
                }
            }
        }
        config.meta_verify_token = vars
            .get("WEBHOOK_META_VERIFY_TOKEN")
            .filter(|v| !v.is_empty())
            .map(|v| Secret::new(v.clone()));
        if let Some(json) = vars.get("WEBHOOK_FORMS") {
            config.add_forms_json(json)?;
        }
        Ok(config)
    }

    /// Adds the secrets of a JSON object of provider slug to secret; an empty one is no secret.
    pub fn add_secrets_json(&mut self, json: &str) -> Result<(), ConfigError> {
        let entries: HashMap<String, Secret> =
            serde_json::from_str(json).map_err(|_| ConfigError::Secrets)?;
        for (slug, secret) in entries {
            let provider = Provider::from_slug(&slug)
                .filter(|p| p.slug() == slug)
                .ok_or(ConfigError::UnknownSecret(slug))?;
            if !secret.expose().is_empty() {
                self.secrets.insert(provider, secret);
            }
        }
        Ok(())
    }

    /// Adds the per-form settings of a JSON array.
    pub fn add_forms_json(&mut self, json: &str) -> Result<(), ConfigError> {
        let entries: Vec<FormEntry> = serde_json::from_str(json).map_err(ConfigError::Forms)?;
        for entry in entries {
            let provider = Provider::from_slug(&entry.provider)
                .ok_or_else(|| ConfigError::UnknownProvider(entry.provider.clone()))?;
            self.forms.insert((provider, entry.form_id), entry.map);
        }
        Ok(())
    }

    /// This configuration with `stored`'s form settings laid over the environment's: a form
    /// both name is set as `stored` says (the API's is the newer word).
    pub fn with_stored(&self, stored: &StoredForms) -> Config {
        let mut config = self.clone();
        for form in &stored.mappings {
            if let Some(provider) = Provider::from_slug(&form.provider) {
                config
                    .forms
                    .insert((provider, form.form.clone()), form.map.clone());
            }
        }
        config
    }

    /// The settings of one form, if any.
    pub fn form(&self, provider: Provider, form_id: Option<&str>) -> Option<&FormMap> {
        let id = form_id?;
        self.forms.get(&(provider, id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let vars = HashMap::from([(
            "WEBHOOK_SECRET_TYPEFORM".to_owned(),
            "hunter2-value".to_owned(),
        )]);
        let config = Config::from_vars(&vars).unwrap();
        assert!(config.secrets.contains_key(&Provider::Typeform));
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn secrets_are_read_from_the_json_object_and_a_single_variable_wins() {
        let json = r#"{"typeform": "tf-secret", "meta-leadgen": "meta-secret", "tally": ""}"#;
        let vars = HashMap::from([
            ("WEBHOOK_SECRETS".to_owned(), json.to_owned()),
            ("WEBHOOK_SECRET_TYPEFORM".to_owned(), "override".to_owned()),
        ]);
        let config = Config::from_vars(&vars).unwrap();
        assert_eq!(config.secrets[&Provider::Typeform].expose(), "override");
        assert_eq!(
            config.secrets[&Provider::MetaLeadgen].expose(),
            "meta-secret"
        );
        assert!(
            !config.secrets.contains_key(&Provider::Tally),
            "empty is none"
        );
    }

    #[test]
    fn a_bad_secrets_object_is_an_error_that_hides_the_values() {
        for json in [
            r#"{"typo-form": "s3cret-x"}"#,
            r#"{"generic/zap": "s3cret-x"}"#,
        ] {
            let vars = HashMap::from([("WEBHOOK_SECRETS".to_owned(), json.to_owned())]);
            let err = Config::from_vars(&vars).unwrap_err();
            assert!(matches!(err, ConfigError::UnknownSecret(_)), "{json}");
        }
        let vars = HashMap::from([(
            "WEBHOOK_SECRETS".to_owned(),
            r#"{"typeform": 1, "x": "s3cret-x"}"#.to_owned(),
        )]);
        let err = Config::from_vars(&vars).unwrap_err();
        assert!(!err.to_string().contains("s3cret"));
    }

    #[test]
    fn form_settings_are_read_per_provider_and_form() {
        let json = r#"[{"provider":"gravity-forms","form_id":"3","country":"AT",
            "fields":{"2":"email","1":"full_name"}}]"#;
        let vars = HashMap::from([("WEBHOOK_FORMS".to_owned(), json.to_owned())]);
        let config = Config::from_vars(&vars).unwrap();
        let form = config.form(Provider::GravityForms, Some("3")).unwrap();
        assert_eq!(form.country.as_deref(), Some("AT"));
        assert!(config.form(Provider::GravityForms, Some("4")).is_none());
    }

    #[test]
    fn an_unknown_provider_in_form_settings_is_an_error() {
        let mut config = Config::default();
        let err = config.add_forms_json(r#"[{"provider":"nope","form_id":"1"}]"#);
        assert!(matches!(err, Err(ConfigError::UnknownProvider(p)) if p == "nope"));
    }
}

/// Where the API stores the form settings (`PUT /config/form_mappings`), and where the
/// webhook reads them.
pub const STORED_COLLECTION: &str = "config";
/// See [`STORED_COLLECTION`].
pub const STORED_KEY: &str = "form_mappings";

/// The form settings stored through the API: `{"mappings": [{"provider", "form", "fields",
/// "country"?, "hand_raiser"?}]}`, each entry as a `WEBHOOK_FORMS` entry with the form id
/// under `form`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredForms {
    /// One entry per provider and form.
    pub mappings: Vec<StoredForm>,
}

/// One form's stored settings.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredForm {
    /// The provider's slug (`typeform`, `gravity-forms`, …).
    pub provider: String,
    /// The form's id at the provider.
    pub form: String,
    /// Its field map, country and hand-raiser setting.
    #[serde(flatten)]
    pub map: FormMap,
}

impl StoredForms {
    /// What is wrong with the settings, each as a JSON pointer and a message: a provider that
    /// does not exist, an empty or repeated form, a country that is no ISO 3166 code. (A slot
    /// that does not exist fails to decode before this.)
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, form) in self.mappings.iter().enumerate() {
            let at = |field: &str| format!("/mappings/{i}/{field}");
            let provider =
                Provider::from_slug(&form.provider).filter(|p| p.slug() == form.provider);
            if provider.is_none() {
                out.push((at("provider"), "is not a provider's slug".to_owned()));
            }
            if form.form.trim().is_empty() {
                out.push((at("form"), "must be a form id".to_owned()));
            } else if !seen.insert((form.provider.clone(), form.form.clone())) {
                out.push((at("form"), "is given twice for this provider".to_owned()));
            }
            let country = form.map.country.as_deref();
            if country.is_some_and(|c| {
                c.trim()
                    .to_ascii_uppercase()
                    .parse::<phonenumber::country::Id>()
                    .is_err()
            }) {
                out.push((
                    at("country"),
                    "must be an ISO 3166-1 alpha-2 code".to_owned(),
                ));
            }
        }
        out
    }
}

/// Where a delivery's form settings come from: the environment's (`WEBHOOK_FORMS`), with those
/// stored through the API (`config/form_mappings` in `docs`, see [`StoredForms`]) laid over
/// them when a store is given. The webhook and the Meta lead fetch both map with it, so a form
/// set through the API is set the same way for both.
#[derive(Clone)]
pub struct ConfigSource {
    base: Arc<Config>,
    stored: Option<Arc<Stored>>,
}

/// The stored settings' store, and the configuration they made when last read.
struct Stored {
    docs: Arc<dyn DocumentStore>,
    read: Mutex<Option<(Timestamp, Arc<Config>)>>,
}

/// How long stored form settings are used before they are read again: a change through the
/// API reaches deliveries within a minute, and a delivery costs no extra read in between.
const STORED_FOR_SECS: i64 = 60;

impl From<Config> for ConfigSource {
    fn from(config: Config) -> Self {
        Self {
            base: Arc::new(config),
            stored: None,
        }
    }
}

impl ConfigSource {
    /// The environment's configuration: the secrets and Meta's verify token, which the stored
    /// settings never change.
    pub fn base(&self) -> &Config {
        &self.base
    }

    /// The same source, also reading the settings stored in `docs`, at most once a minute; a
    /// form they name is set as they say, over `WEBHOOK_FORMS`.
    pub fn with_stored_forms(mut self, docs: Arc<dyn DocumentStore>) -> Self {
        self.stored = Some(Arc::new(Stored {
            docs,
            read: Mutex::new(None),
        }));
        self
    }

    /// The configuration a delivery at `now` is mapped with.
    pub async fn at(&self, now: Timestamp) -> Arc<Config> {
        let Some(stored) = &self.stored else {
            return self.base.clone();
        };
        if let Some(config) = stored.fresh(now) {
            return config;
        }

        // Two deliveries may both read at the turn of a minute; either result is right.
        let config = match load_stored(stored.docs.as_ref()).await {
            Ok(Some(forms)) => Arc::new(self.base.with_stored(&forms)),
            Ok(None) => self.base.clone(),
            // The settings were valid when the API stored them; a store that fails now should
            // not refuse deliveries: they are mapped by the environment's settings meanwhile.
            Err(why) => {
                tracing::warn!(why, "stored form settings not read; using WEBHOOK_FORMS");
                self.base.clone()
            }
        };
        *stored.read.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, config.clone()));
        config
    }
}

impl Stored {
    /// The configuration last read, unless it is older than [`STORED_FOR_SECS`].
    fn fresh(&self, now: Timestamp) -> Option<Arc<Config>> {
        let read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        read.as_ref()
            .filter(|(at, _)| now.signed_duration_since(*at).num_seconds().abs() < STORED_FOR_SECS)
            .map(|(_, config)| config.clone())
    }
}

/// The stored form settings, if any; the error names only its kind.
async fn load_stored(docs: &dyn DocumentStore) -> Result<Option<StoredForms>, &'static str> {
    let doc = docs
        .get(STORED_COLLECTION, STORED_KEY)
        .await
        .map_err(|_| "store")?;
    let Some(doc) = doc else {
        return Ok(None);
    };
    serde_json::from_value(doc.body)
        .map(Some)
        .map_err(|_| "undecodable")
}
