//! How every Lambda logs: JSON lines on standard output (CloudWatch reads them as they are),
//! at the level Lambda's logging settings give.
//!
//! The level comes from `AWS_LAMBDA_LOG_LEVEL`, which Lambda sets from the function's
//! `LoggingConfig.ApplicationLogLevel` (`INFO` in `template.yaml`), else from `RUST_LOG`, else
//! `info`. `RUST_LOG` takes per-target directives (`info,journey_aws=debug`) but not
//! `EnvFilter`'s span and field filters: the filter is `tracing_subscriber`'s `Targets`, which
//! needs no regular expressions, so a function that has no other use for them does not carry a
//! regex engine in its bootstrap.

use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

/// Installs the JSON subscriber for the process. Lambda stamps each line with its own time, so
/// the lines carry none.
pub fn init() {
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, unreadable) = filter(lambda_level.as_deref(), rust_log.as_deref());

    tracing_subscriber::fmt()
        .json()
        .without_time()
        .with_max_level(LevelFilter::TRACE)
        .finish()
        .with(filter)
        .init();

    if let Some(setting) = unreadable {
        tracing::warn!(setting, "log level unreadable; logging at info");
    }
}

/// A setting's value, unless it is unset or blank.
fn set(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The filter of the two settings, and the name of the one that was set but unreadable.
fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> (Targets, Option<&'static str>) {
    let info = Targets::new().with_default(LevelFilter::INFO);

    if let Some(level) = set(lambda_level) {
        // Lambda's own level names; FATAL has no tracing level and means errors only.
        let level = if level.eq_ignore_ascii_case("fatal") {
            "error"
        } else {
            level
        };
        return match level.parse::<LevelFilter>() {
            Ok(level) => (Targets::new().with_default(level), None),
            Err(_) => (info, Some("AWS_LAMBDA_LOG_LEVEL")),
        };
    }
    if let Some(directives) = set(rust_log) {
        return match directives.parse::<Targets>() {
            Ok(targets) => (targets, None),
            Err(_) => (info, Some("RUST_LOG")),
        };
    }
    (info, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    /// Whether `filter` lets an event of `level` from `target` through.
    fn passes(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn lambda_level_wins_over_rust_log() {
        let (targets, unreadable) = filter(Some("WARN"), Some("debug"));
        assert_eq!(unreadable, None);
        assert!(passes(&targets, "routing", Level::WARN));
        assert!(!passes(&targets, "routing", Level::INFO));
    }

    #[test]
    fn lambda_fatal_means_errors_only() {
        let (targets, _) = filter(Some("FATAL"), None);
        assert!(passes(&targets, "api", Level::ERROR));
        assert!(!passes(&targets, "api", Level::WARN));
    }

    #[test]
    fn rust_log_takes_per_target_directives() {
        let (targets, unreadable) = filter(None, Some("warn,journey_aws=debug"));
        assert_eq!(unreadable, None);
        assert!(passes(&targets, "journey_aws::dynamo", Level::DEBUG));
        assert!(!passes(&targets, "routing", Level::INFO));
    }

    #[test]
    fn nothing_set_logs_at_info() {
        for (lambda, rust_log) in [(None, None), (Some(""), Some("  "))] {
            let (targets, unreadable) = filter(lambda, rust_log);
            assert_eq!(unreadable, None);
            assert!(passes(&targets, "sla_timers", Level::INFO));
            assert!(!passes(&targets, "sla_timers", Level::DEBUG));
        }
    }

    #[test]
    fn an_unreadable_setting_falls_back_to_info_and_is_named() {
        let (targets, unreadable) = filter(Some("LOUD"), None);
        assert_eq!(unreadable, Some("AWS_LAMBDA_LOG_LEVEL"));
        assert!(passes(&targets, "x", Level::INFO));
        assert!(!passes(&targets, "x", Level::DEBUG));

        let (_, unreadable) = filter(None, Some("info,routing=loud"));
        assert_eq!(unreadable, Some("RUST_LOG"));
    }
}
