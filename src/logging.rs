//! Logging set up the way Lambda's advanced logging controls expect, without a regex engine in the binary.
//!
//! `AWS_LAMBDA_LOG_FORMAT=JSON` gives one JSON object per line (with the request span's fields); the level
//! comes from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO. Only a bare level is read (`debug`, `WARN`):
//! per-target directives would need tracing-subscriber's env-filter, whose regex engine costs ~0.5 MB.

use tracing_subscriber::filter::LevelFilter;

/// The level a variable's value names; the first bare level of a directive list (`info,hyper=warn`).
pub fn level(value: Option<&str>) -> LevelFilter {
    value
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|d| !d.contains('='))
        // Lambda's advanced logging controls have a FATAL level that tracing has not: it is ERROR here.
        .find_map(|d| if d.eq_ignore_ascii_case("fatal") { Some(LevelFilter::ERROR) } else { d.parse::<LevelFilter>().ok() })
        .unwrap_or(LevelFilter::INFO)
}

/// Installs the global subscriber, writing to stdout as Lambda collects it.
pub fn init() {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let level = level(var("AWS_LAMBDA_LOG_LEVEL").or_else(|| var("RUST_LOG")).as_deref());
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_max_level(level).with_target(false).without_time().with_ansi(false);
    // Fails only if a subscriber is installed already (tests), which is fine.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_from_lambda_or_rust_log_values() {
        assert_eq!(level(Some("DEBUG")), LevelFilter::DEBUG);
        assert_eq!(level(Some("warn")), LevelFilter::WARN);
        assert_eq!(level(Some("hyper=trace,error")), LevelFilter::ERROR);
        assert_eq!(level(Some("nonsense")), LevelFilter::INFO);
        assert_eq!(level(Some("FATAL")), LevelFilter::ERROR);
        assert_eq!(level(Some("fatal")), LevelFilter::ERROR);
        assert_eq!(level(None), LevelFilter::INFO);
    }
}
