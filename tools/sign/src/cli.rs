//! What the workspace's command-line tools share, so each behaves as a
//! well-kept CLI: help and version on stdout, a usage error on one line,
//! quiet on a closed pipe, and one form for times.

use std::fmt;
use std::io::Write as _;

use clap::Parser;
use clap::error::ErrorKind;

/// Exit status of a usage error, as clap and the shells use it.
pub const USAGE_STATUS: i32 = 2;

/// The command line as `T`; help and version go to stdout with status 0,
/// a usage error to stderr as one line with status 2.
pub fn parse<T: Parser>() -> T {
    T::try_parse().unwrap_or_else(|e| {
        if !e.use_stderr() {
            // Help into a closed pipe: nothing more to say.
            let _ = e.print();
            std::process::exit(0);
        }
        let program = T::command().get_name().to_owned();
        if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            usage_error(&program, "no command given");
        }
        // clap's message is its first paragraph; usage and tips follow.
        let rendered = e.render().to_string();
        let message: Vec<&str> = rendered
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect();
        let message = message.join(" ");
        usage_error(
            &program,
            message.strip_prefix("error: ").unwrap_or(&message),
        )
    })
}

/// Reports a usage error the parser cannot see, as [`parse`] reports its
/// own.
pub fn usage_error(program: &str, message: &str) -> ! {
    eprintln!("{program}: {message} (see {program} --help)");
    std::process::exit(USAGE_STATUS)
}

/// Writes a line to stdout. A closed stdout is a reader that has what it
/// wanted: the line is dropped and the run goes on, its exit status
/// unchanged. Any other failure to write is returned.
pub fn out(line: fmt::Arguments) -> std::io::Result<()> {
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// An error and its sources on one line, `outer: inner: root`: what a
/// person can act on, without the SDK's Debug form of the error.
pub fn cause(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// A moment given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instant {
    /// Unix seconds, rounded down.
    pub secs: i64,
    /// Whether the moment lies after `secs`, within that second.
    pub fraction: bool,
}

/// Parses a time as RFC 3339 (`2026-11-24T12:00:00Z`) or Unix seconds
/// (`1763985600`), for every flag that takes one.
pub fn instant(text: &str) -> Result<Instant, String> {
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(Instant {
            secs,
            fraction: false,
        });
    }
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|_| "neither an RFC 3339 time nor Unix seconds".to_owned())?;
    Ok(Instant {
        secs: t.timestamp(),
        fraction: t.timestamp_subsec_nanos() > 0,
    })
}

/// Runs `binary` as a person would try it first, and checks it answers as
/// a well-kept CLI does: `--help`, `-h` and `--version` on stdout with
/// status 0, the version `version`, and `bad` (a usage error) as one line on stderr with status 2.
/// For each tool's own tests.
pub fn assert_standard_flags(binary: &str, version: &str, bad: &[&str]) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(binary)
            .args(args)
            .output()
            .expect("the tool runs");
        let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
        (out.status.code(), text(out.stdout), text(out.stderr))
    };
    let name = std::path::Path::new(binary)
        .file_stem()
        .and_then(|n| n.to_str())
        .expect("a binary name");
    for flag in ["--help", "-h"] {
        let (code, stdout, stderr) = run(&[flag]);
        assert_eq!(code, Some(0), "{name} {flag}: {stderr}");
        assert!(stdout.contains(&format!("Usage: {name}")), "{stdout}");
        assert!(stderr.is_empty(), "{stderr}");
    }
    let (code, stdout, stderr) = run(&["--version"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("{name} {version}\n"));
    let (code, stdout, stderr) = run(bad);
    assert_eq!(code, Some(USAGE_STATUS), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("{name}: ")) && stderr.contains("--help"),
        "{stderr}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_is_its_chain_on_one_line() {
        let inner = std::io::Error::other("connection refused");
        assert_eq!(
            cause(&Chained(inner)),
            "dispatch failure: connection refused"
        );
    }

    #[derive(Debug)]
    struct Chained(std::io::Error);

    impl fmt::Display for Chained {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("dispatch failure")
        }
    }

    impl std::error::Error for Chained {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn unix_seconds_and_rfc_3339_name_the_same_instant() {
        let at = |s| instant(s).unwrap();
        assert_eq!(at("1763985600"), at("2025-11-24T12:00:00Z"));
        assert_eq!(at("1763985600"), at("2025-11-24T13:00:00+01:00"));
        assert_eq!(
            at("2025-11-24T12:00:00.5Z"),
            Instant {
                secs: 1_763_985_600,
                fraction: true
            }
        );
        for bad in ["", "yesterday", "2025-11-24", "1763985600.5", "12:00:00Z"] {
            assert!(instant(bad).is_err(), "{bad}");
        }
    }
}
