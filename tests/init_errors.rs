//! The real binaries refusing their settings at init: every problem in one
//! ERROR line, each once, and a non-zero exit with no `Debug` dump.

mod support;

use serde_json::Value;
use support::runtime_api::{RuntimeApi, function, lambda_command};

/// The one line a binary wrote before exiting, checked for a failed exit.
async fn only_line(cmd: &mut tokio::process::Command) -> Value {
    let out = cmd.spawn().unwrap().wait_with_output().await.unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(!text.contains("ConfigError"), "{text}");
    let line: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["level"], "ERROR", "{text}");
    line
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

fn assert_each_once(message: &str, vars: &[&str]) {
    for var in vars {
        assert_eq!(message.matches(&format!("{var}:")).count(), 1, "{message}");
    }
}

#[tokio::test]
async fn the_function_reports_every_bad_setting_once() {
    let api = RuntimeApi::start().await;
    let line = only_line(&mut function(
        &api,
        &[
            ("WEBHOOK_SECRET", "do-not-print-me"),
            ("SIGNATURE_SCHEME", "auto"),
            ("STORE_TIMEOUT_MS", "1000"),
            ("STORE_ATTEMPT_TIMEOUT_MS", "2000"),
            ("ALLOWED_SOURCE_CIDRS", "52.0.0.0/8,not-a-network"),
        ],
    ))
    .await;
    let message = message(&line);
    assert!(message.starts_with("init failed: "), "{message}");
    assert_each_once(
        message,
        &[
            "SIGNATURE_SCHEME",
            "ALLOWED_SOURCE_CIDRS",
            "DEDUP_TABLE",
            "STORE_ATTEMPT_TIMEOUT_MS",
        ],
    );
    assert!(message.contains("\"not-a-network\""), "{message}");
    assert!(message.contains("STORE_TIMEOUT_MS (1000)"), "{message}");
    assert!(!line.to_string().contains("do-not-print-me"), "{line}");
}

#[tokio::test]
async fn the_relay_reports_every_bad_setting_once() {
    let api = RuntimeApi::start().await;
    let mut relay = lambda_command(env!("CARGO_BIN_EXE_genesys-relay"), "genesys-relay", &api);
    relay
        .env("OUTBOX_ATTEMPT_TIMEOUT_MS", "9000")
        .env("OUTBOX_MAX_ATTEMPTS", "0");
    let line = only_line(&mut relay).await;
    let message = message(&line);
    assert!(message.starts_with("init failed: "), "{message}");
    assert_each_once(
        message,
        &[
            "OUTBOX_BUS_NAME",
            "OUTBOX_MAX_ATTEMPTS",
            "OUTBOX_ATTEMPT_TIMEOUT_MS",
        ],
    );
    assert!(message.contains("OUTBOX_TIMEOUT_MS (5000)"), "{message}");
}
