//! Signs a body and wraps it in a front door's event, for trying the
//! function locally; writes the sample events in `events/`; and says why a
//! captured event's signature fails, as the function's log would.

use std::process::ExitCode;

use genesys_sign::{self as sample, CATALOG, SAMPLE_TIME};
use genesys_webhook::clock::unix_now;
use genesys_webhook::config::SecretSource;
use genesys_webhook::envelope::{self, Decoded};
use genesys_webhook::verify::diagnose::diagnose;
use genesys_webhook::verify::{SchemeName, scheme_for};

const USAGE: &str = "\
usage:
  genesys-sign sign [--scheme SCHEME] --envelope DOOR [--secret S] [--base64]
                    [--delivery-id ID] [--at UNIX_SECONDS] BODY_FILE
  genesys-sign events DIR [--at UNIX_SECONDS]   write every sample event into DIR
  genesys-sign catalog                          list the samples: file, door, scheme, expected
  genesys-sign diagnose [--scheme SCHEME] [--secret S] [--at UNIX_SECONDS] EVENT_FILE
                    verify a captured event (any front door's JSON) and print
                    `valid` or the reason the function would log; exit 1 if not valid

SCHEME: open-messaging | genesys | timestamped | standard-webhooks | digital-channels
DOOR:   apigw-v1 | apigw-v2 | function-url | alb | alb-multi-value | eventbridge
The secret defaults to $WEBHOOK_SECRET, then to the documented test secret.
--at defaults to now for `sign` and `diagnose`, to the committed sample time
for `events`. `sign` and `diagnose` use open-messaging, the function's default,
unless --scheme says otherwise.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("genesys-sign: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let (command, rest) = args.split_first().ok_or("no command")?;
    let mut opts = Options::default();
    let mut positional = Vec::new();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--scheme" => opts.scheme = Some(value()?),
            "--envelope" => opts.envelope = Some(value()?),
            "--secret" => opts.secret = Some(value()?),
            "--delivery-id" => opts.delivery_id = Some(value()?),
            "--at" => opts.at = Some(value()?.parse().map_err(|_| "--at takes Unix seconds")?),
            "--base64" => opts.base64 = true,
            "-h" | "--help" => return Err("help".into()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => positional.push(arg.clone()),
        }
    }
    let done = |r: Result<(), String>| r.map(|()| ExitCode::SUCCESS);
    match (command.as_str(), positional.as_slice()) {
        ("sign", [body_file]) => done(sign(&opts, body_file)),
        ("events", [dir]) => done(write_events(dir, opts.at.unwrap_or(SAMPLE_TIME))),
        ("diagnose", [event_file]) => diagnose_event(&opts, event_file),
        ("catalog", []) => {
            for s in CATALOG {
                println!(
                    "{}\t{}\t{}\t{}",
                    s.file,
                    sample::door_name(s.door),
                    s.scheme.as_str(),
                    s.expect
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(format!(
            "cannot run {command} with {} argument(s)",
            positional.len()
        )),
    }
}

#[derive(Default)]
struct Options {
    scheme: Option<String>,
    envelope: Option<String>,
    secret: Option<String>,
    delivery_id: Option<String>,
    at: Option<i64>,
    base64: bool,
}

impl Options {
    fn scheme(&self) -> Result<SchemeName, String> {
        match self.scheme.as_deref() {
            None => Ok(SchemeName::DEFAULT),
            Some(scheme) => SchemeName::parse(scheme).ok_or(format!("unknown scheme {scheme}")),
        }
    }

    fn secret(&self, scheme: SchemeName) -> String {
        self.secret
            .clone()
            .or_else(|| std::env::var("WEBHOOK_SECRET").ok())
            .unwrap_or_else(|| sample::test_secret(scheme).to_owned())
    }
}

fn sign(opts: &Options, body_file: &str) -> Result<(), String> {
    let scheme = opts.scheme()?;
    let door = opts.envelope.as_deref().ok_or("--envelope is required")?;
    let door = sample::door_named(door).ok_or(format!("unknown envelope {door}"))?;
    let body = std::fs::read(body_file).map_err(|e| format!("{body_file}: {e}"))?;
    let secret = opts.secret(scheme);
    let at = opts.at.unwrap_or_else(unix_now);
    let headers = sample::signed_headers(scheme, &secret, &body, opts.delivery_id.as_deref(), at)
        .map_err(|e| e.to_string())?;
    let event = sample::wrap(door, &headers, &body, opts.base64, at);
    println!(
        "{}",
        serde_json::to_string_pretty(&event).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// Reads `event_file` as the function would, with its own settings for
/// `--scheme` and the secret, and prints what its log line would give as the
/// reason. Never prints the secret.
fn diagnose_event(opts: &Options, event_file: &str) -> Result<ExitCode, String> {
    let scheme = opts.scheme()?;
    let secret = opts.secret(scheme);
    let config =
        sample::config(scheme, &[("WEBHOOK_SECRET", &secret)]).map_err(|e| e.to_string())?;
    let SecretSource::Inline(secrets) = &config.secrets else {
        return Err("the secret must be given inline".into());
    };
    let event = std::fs::read(event_file).map_err(|e| format!("{event_file}: {e}"))?;
    let at = opts.at.unwrap_or_else(unix_now);
    let delivery = match envelope::decode(&event, &config.limits) {
        None => return Err(format!("{event_file}: not an event any front door sends")),
        Some(Decoded::Partner(_)) => {
            println!("valid (a partner event: unsigned, trusted through its source)");
            return Ok(ExitCode::SUCCESS);
        }
        Some(Decoded::Refused { reject, .. }) => {
            println!("{reject}");
            return Ok(ExitCode::FAILURE);
        }
        Some(Decoded::Http(d)) => d,
    };
    let verifier = scheme_for(&config.scheme, secrets).map_err(|e| e.to_string())?;
    match verifier.verify(&delivery, at) {
        Ok(()) => {
            println!("valid");
            Ok(ExitCode::SUCCESS)
        }
        Err(reject) => {
            match diagnose(&config.scheme, verifier.keys(), &delivery, &reject, at, &[]) {
                Some(why) => println!("{} ({why})", reject.code.as_str()),
                None => println!("{reject}"),
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

fn write_events(dir: &str, at: i64) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    for s in CATALOG {
        let path = std::path::Path::new(dir).join(s.file);
        let text = s.file_text(at).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
