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
        if !directives.split(',').all(readable_directive) {
            return (info, Some("RUST_LOG"));
        }
        return match directives.parse::<Targets>() {
            Ok(targets) => (targets, None),
            Err(_) => (info, Some("RUST_LOG")),
        };
    }
    (info, None)
}

/// One `RUST_LOG` directive: a level (`warn`) or a target and its level (`routing=debug`).
///
/// `Targets` itself reads a bare word as a target enabled at every level, so a misspelt level
/// (`warning`) would silence everything else without a word, and it reads `EnvFilter`'s span
/// and field filters (`routing[lead]=debug`) as odd target names. Both are refused here, so
/// the caller logs at `info` and says which setting it could not read.
fn readable_directive(directive: &str) -> bool {
    let directive = directive.trim();
    if directive.is_empty() {
        return true;
    }
    if directive.contains(['[', ']', '{', '}']) {
        return false;
    }
    let level = match directive.split_once('=') {
        Some((target, level)) if !target.trim().is_empty() => level,
        Some(_) => return false,
        None => directive,
    };
    level.trim().parse::<LevelFilter>().is_ok()
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

    #[test]
    fn span_and_field_directives_are_named_unreadable() {
        for d in [
            "warn,routing[lead]=debug",
            "warn,[{id}]=debug",
            "routing=debug,[span]",
        ] {
            let (_, unreadable) = filter(None, Some(d));
            assert_eq!(unreadable, Some("RUST_LOG"), "{d}");
        }
    }

    #[test]
    fn lambda_levels_all_read() {
        for (name, on, off) in [
            ("TRACE", Level::TRACE, None),
            ("DEBUG", Level::DEBUG, Some(Level::TRACE)),
            ("INFO", Level::INFO, Some(Level::DEBUG)),
            ("WARN", Level::WARN, Some(Level::INFO)),
            ("ERROR", Level::ERROR, Some(Level::WARN)),
            (" warn ", Level::WARN, Some(Level::INFO)),
        ] {
            let (t, unreadable) = filter(Some(name), Some("trace"));
            assert_eq!(unreadable, None, "{name}");
            assert!(passes(&t, "x", on), "{name}");
            if let Some(off) = off {
                assert!(!passes(&t, "x", off), "{name}");
            }
        }
    }

    #[test]
    fn a_target_only_rust_log_silences_every_other_target() {
        let (t, _) = filter(None, Some("journey_aws=debug"));
        assert!(passes(&t, "journey_aws", Level::DEBUG));
        assert!(!passes(&t, "api", Level::ERROR));
    }

    #[test]
    fn a_misspelt_rust_log_level_is_named_unreadable() {
        // "warning" and "inf" are no levels; Targets reads a bare word as a target at TRACE,
        // with no default, so every other target would be silenced without a warning.
        for d in ["warning", "inf", "Information"] {
            let (t, unreadable) = filter(None, Some(d));
            assert_eq!(unreadable, Some("RUST_LOG"), "{d}");
            assert!(passes(&t, "api", Level::ERROR), "{d}");
        }
    }
}
