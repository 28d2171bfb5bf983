//! Where every line the library writes goes: each delivery's line, the
//! relay's metrics and tracing's lines. The process chooses once; the
//! binaries choose stdout in [`crate::logging::init`]. Until one does, lines
//! are kept in memory for the process to read, so a test run prints none;
//! past [`KEPT_AT_MOST`] they are dropped, so a process that never chooses
//! cannot grow without end.

use std::io::Write as _;
use std::sync::{Mutex, OnceLock, PoisonError};

type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;

static SINK: OnceLock<Sink> = OnceLock::new();
static KEPT: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Far above what any test writes (the busiest, about 4 MiB).
pub const KEPT_AT_MOST: usize = 64 << 20;

/// Sends every line to `sink` from now on. The first call wins.
pub fn write_lines_to(sink: impl Fn(&[u8]) + Send + Sync + 'static) {
    let _ = SINK.set(Box::new(sink));
}

/// Sends every line to stdout, one write per line, so that a line is never
/// split between two log events.
pub fn write_lines_to_stdout() {
    write_lines_to(|line| {
        let _ = std::io::stdout().lock().write_all(line);
    });
}

/// Writes one whole line, its newline included.
pub fn write_line(line: &[u8]) {
    match SINK.get() {
        Some(sink) => sink(line),
        None => keep(
            &mut KEPT.lock().unwrap_or_else(PoisonError::into_inner),
            line,
            KEPT_AT_MOST,
        ),
    }
}

/// Adds `line` to `kept` unless that would take it past `at_most` bytes.
fn keep(kept: &mut Vec<u8>, line: &[u8], at_most: usize) {
    if kept.len() + line.len() <= at_most {
        kept.extend_from_slice(line);
    }
}

/// Every line written while no sink was chosen.
pub fn kept() -> String {
    let kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
    String::from_utf8_lossy(&kept).into_owned()
}

/// tracing's writer: tracing writes each event with one call, so each call
/// is one line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lines;

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_line(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No test in this binary chooses a sink, so every line stays here.
    #[test]
    fn lines_are_kept_until_a_sink_is_chosen() {
        write_line(b"{\"kept\":\"first\"}\n");
        let mut lines = Lines;
        lines.write_all(b"{\"kept\":\"second\"}\n").unwrap();
        let kept = kept();
        assert!(kept.contains("{\"kept\":\"first\"}\n"), "{kept}");
        assert!(kept.contains("{\"kept\":\"second\"}\n"), "{kept}");
    }

    #[test]
    fn lines_past_the_bound_are_dropped_whole() {
        let mut kept = Vec::new();
        for line in [&b"12345\n"[..], b"678\n", b"9\n"] {
            keep(&mut kept, line, 9);
        }
        assert_eq!(kept, b"12345\n9\n");
    }
}
