//! The subscriber for the rare lines that are not a delivery's own (init,
//! store and secret warnings). Built here rather than by the runtime, whose
//! env-filter brings a regex engine into the binary for what one level does.

use std::env;

use tracing::level_filters::LevelFilter;

use crate::sink::{self, Lines};

/// Sends every line to stdout. Uses the level Lambda's advanced logging
/// controls set (or `RUST_LOG`, a level name only), and writes JSON when the
/// log format is JSON.
pub fn init() {
    sink::write_lines_to_stdout();
    let level = level(
        env::var("AWS_LAMBDA_LOG_LEVEL").ok(),
        env::var("RUST_LOG").ok(),
    );
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_writer(|| Lines);
    let json = env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = if json {
        subscriber.json().try_init()
    } else {
        subscriber.try_init()
    };
}

/// Lambda's setting wins; anything unreadable means INFO, as on Lambda.
fn level(lambda: Option<String>, rust_log: Option<String>) -> LevelFilter {
    lambda
        .or(rust_log)
        .and_then(|level| level.parse().ok())
        .unwrap_or(LevelFilter::INFO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_level_wins_and_an_unreadable_one_means_info() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(level(some("WARN"), some("debug")), LevelFilter::WARN);
        assert_eq!(level(None, some("error")), LevelFilter::ERROR);
        assert_eq!(level(some("TRACE"), None), LevelFilter::TRACE);
        assert_eq!(
            level(None, some("info,aws_smithy=debug")),
            LevelFilter::INFO
        );
        assert_eq!(level(None, None), LevelFilter::INFO);
    }
}
