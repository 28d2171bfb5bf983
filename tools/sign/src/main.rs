//! Signs a body and wraps it in a front door's event, for trying the
//! function locally; writes the sample events in `events/`; and says why a
//! captured event's signature fails, as the function's log would.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use genesys_sign::cli::{self, Instant, instant, out};
use genesys_sign::{self as sample, CATALOG, SAMPLE_TIME};
use genesys_webhook::clock::unix_now;
use genesys_webhook::config::SecretSource;
use genesys_webhook::envelope::{self, Decoded};
use genesys_webhook::verify::diagnose::diagnose;
use genesys_webhook::verify::{SchemeName, scheme_for};

/// The names the flags take, under every command's help.
const NAMES: &str = "\
SCHEME: open-messaging | genesys | timestamped | standard-webhooks | digital-channels
DOOR:   apigw-v1 | apigw-v2 | function-url | alb | alb-multi-value | eventbridge
TIME:   RFC 3339 (2025-11-24T12:00:00Z) or Unix seconds (1763985600)
The secret defaults to $WEBHOOK_SECRET, then to the documented test secret.";

/// Signs sample deliveries for genesys-webhook and says why a captured
/// event's signature fails.
#[derive(Parser)]
#[command(
    name = "genesys-sign",
    version,
    after_help = NAMES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signs BODY_FILE and prints it wrapped in a front door's event.
    #[command(after_help = NAMES)]
    Sign {
        #[command(flatten)]
        opts: Options,
        /// The front door whose event wraps the body (DOOR).
        #[arg(long, value_name = "DOOR", alias = "envelope")]
        front_door: String,
        /// Base64-encodes the body in the event, as a door does for binary.
        #[arg(long)]
        base64: bool,
        /// The delivery id the headers carry, under the schemes whose senders send one.
        #[arg(long, value_name = "ID")]
        delivery_id: Option<String>,
        /// The body to sign, as the sender sends it.
        body_file: PathBuf,
    },
    /// Writes every sample event into DIR.
    #[command(after_help = NAMES)]
    Events {
        /// When the samples are signed [default: the committed sample time].
        #[arg(long, value_name = "TIME", value_parser = instant)]
        at: Option<Instant>,
        /// Where the events are written; made if missing.
        dir: PathBuf,
    },
    /// Lists the samples: file, door, scheme, expected answer.
    Catalog,
    /// Verifies a captured event (any front door's JSON) and prints `valid`
    /// or the reason the function would log; exits 1 if not valid.
    #[command(after_help = NAMES)]
    Diagnose {
        #[command(flatten)]
        opts: Options,
        /// The captured event, as the front door handed it to the function.
        event_file: PathBuf,
    },
}

/// What `sign` and `diagnose` share.
#[derive(Args)]
struct Options {
    /// The signature scheme (SCHEME).
    #[arg(long, value_name = "SCHEME", default_value = SchemeName::DEFAULT.as_str(), value_parser = scheme)]
    scheme: SchemeName,
    /// The secret to sign or verify with.
    #[arg(long, value_name = "S")]
    secret: Option<String>,
    /// The time to sign or verify at [default: now].
    #[arg(long, value_name = "TIME", value_parser = instant)]
    at: Option<Instant>,
}

fn scheme(text: &str) -> Result<SchemeName, String> {
    SchemeName::parse(text).ok_or_else(|| format!("unknown scheme {text}"))
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("genesys-sign: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<ExitCode, String> {
    let done = |r: Result<(), String>| r.map(|()| ExitCode::SUCCESS);
    match command {
        Command::Sign {
            opts,
            front_door,
            base64,
            delivery_id,
            body_file,
        } => done(sign(
            &opts,
            &front_door,
            base64,
            delivery_id.as_deref(),
            &body_file,
        )),
        Command::Events { at, dir } => done(write_events(&dir, at.map_or(SAMPLE_TIME, |t| t.secs))),
        Command::Diagnose { opts, event_file } => diagnose_event(&opts, &event_file),
        Command::Catalog => {
            for s in CATALOG {
                out(format_args!(
                    "{}\t{}\t{}\t{}",
                    s.file,
                    sample::door_name(s.door),
                    s.scheme.as_str(),
                    s.expect
                ))
                .map_err(stdout_failed)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn stdout_failed(e: std::io::Error) -> String {
    format!("stdout: {e}")
}

impl Options {
    fn secret(&self) -> String {
        self.secret
            .clone()
            .or_else(|| std::env::var("WEBHOOK_SECRET").ok())
            .unwrap_or_else(|| sample::test_secret(self.scheme).to_owned())
    }

    fn at(&self) -> i64 {
        self.at.map_or_else(unix_now, |t| t.secs)
    }
}

fn sign(
    opts: &Options,
    door: &str,
    base64: bool,
    delivery_id: Option<&str>,
    body_file: &Path,
) -> Result<(), String> {
    let door = sample::door_named(door).ok_or(format!("unknown front door {door}"))?;
    let body = read(body_file)?;
    let at = opts.at();
    let headers = sample::signed_headers(opts.scheme, &opts.secret(), &body, delivery_id, at)
        .map_err(|e| e.to_string())?;
    let event = sample::wrap(door, &headers, &body, base64, at);
    let text = serde_json::to_string_pretty(&event).map_err(|e| e.to_string())?;
    out(format_args!("{text}")).map_err(stdout_failed)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads `event_file` as the function would, with its own settings for
/// `--scheme` and the secret, and prints what its log line would give as the
/// reason. Never prints the secret.
fn diagnose_event(opts: &Options, event_file: &Path) -> Result<ExitCode, String> {
    let secret = opts.secret();
    let config =
        sample::config(opts.scheme, &[("WEBHOOK_SECRET", &secret)]).map_err(|e| e.to_string())?;
    let SecretSource::Inline(secrets) = &config.secrets else {
        return Err("the secret must be given inline".into());
    };
    let event = read(event_file)?;
    let at = opts.at();
    let said = |line: fmt::Arguments, code| out(line).map(|()| code).map_err(stdout_failed);
    let delivery = match envelope::decode(&event, &config.limits) {
        None => {
            return Err(format!(
                "{}: not an event any front door sends",
                event_file.display()
            ));
        }
        Some(Decoded::Partner(_)) => {
            return said(
                format_args!("valid (a partner event: unsigned, trusted through its source)"),
                ExitCode::SUCCESS,
            );
        }
        Some(Decoded::Refused { reject, .. }) => {
            return said(format_args!("{reject}"), ExitCode::FAILURE);
        }
        Some(Decoded::Http(d)) => d,
    };
    let verifier = scheme_for(&config.scheme, secrets).map_err(|e| e.to_string())?;
    match verifier.verify(&delivery, at) {
        Ok(()) => said(format_args!("valid"), ExitCode::SUCCESS),
        Err(reject) => {
            match diagnose(&config.scheme, verifier.keys(), &delivery, &reject, at, &[]) {
                Some(why) => said(
                    format_args!("{} ({why})", reject.code.as_str()),
                    ExitCode::FAILURE,
                ),
                None => said(format_args!("{reject}"), ExitCode::FAILURE),
            }
        }
    }
}

fn write_events(dir: &Path, at: i64) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for s in CATALOG {
        let path = dir.join(s.file);
        let text = s.file_text(at).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
