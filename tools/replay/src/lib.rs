//! What the operator tools (`genesys-replay`, `genesys-redrive`) share:
//! progress on stderr for a person at a terminal.

use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

/// A counter redrawn in place on a terminal, a line every few seconds
/// otherwise, and notes on lines of their own.
pub struct Progress {
    tty: bool,
    last_line: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            last_line: Instant::now(),
        }
    }
}

impl Progress {
    /// Shows `counts`, at most every few seconds when not on a terminal.
    pub fn show(&mut self, counts: &str) {
        if self.tty {
            eprint!("\r\x1b[K{counts}");
            let _ = std::io::stderr().flush();
        } else if self.last_line.elapsed() >= Duration::from_secs(5) {
            eprintln!("{counts}");
            self.last_line = Instant::now();
        }
    }

    /// A message on its own line, clear of the counter.
    pub fn note(&self, message: &str) {
        self.clear();
        eprintln!("{message}");
    }

    /// Clears the counter, before the closing line.
    pub fn clear(&self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }
}
