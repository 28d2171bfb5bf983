//! `genesys-sign diagnose` on captured events: the reason the function would
//! log, and never the secret.

use std::process::Command;

use genesys_sign::{self as sample, SAMPLE_TIME, TEST_SECRET};
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::verify::SchemeName;

const BODY: &[u8] = b"{\"type\":\"Text\",\"text\":\"captured\"}";

/// Runs `genesys-sign command args FILE`, with FILE holding `contents`.
fn run(command: &str, name: &str, args: &[&str], contents: &[u8]) -> std::process::Output {
    let path = std::env::temp_dir().join(format!(
        "genesys-sign-{}-{command}-{name}",
        std::process::id()
    ));
    std::fs::write(&path, contents).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_genesys-sign"))
        .arg(command)
        .args(args)
        .arg(&path)
        .env_remove("WEBHOOK_SECRET")
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    out
}

/// Runs `diagnose` with `args` on `event`, as a file; (exit code, stdout).
fn diagnose(name: &str, event: &serde_json::Value, args: &[&str]) -> (i32, String) {
    let event = serde_json::to_string_pretty(event).unwrap();
    let out = run("diagnose", name, args, event.as_bytes());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    for text in [&stdout, &stderr] {
        assert!(!text.contains(TEST_SECRET), "{text}");
        assert!(!text.contains("captured"), "{text}");
    }
    (out.status.code().unwrap(), stdout)
}

fn at(t: i64) -> String {
    t.to_string()
}

#[test]
fn a_valid_event_is_valid() {
    let event = sample::signed_event(
        SchemeName::OpenMessaging,
        FrontDoor::ApiGatewayV1,
        BODY,
        None,
        SAMPLE_TIME,
    );
    let args = ["--scheme", "open-messaging", "--secret", TEST_SECRET];
    assert_eq!(diagnose("valid", &event, &args), (0, "valid\n".into()));
}

#[test]
fn a_hex_digest_under_open_messaging_is_named() {
    let mut headers =
        sample::signed_headers(SchemeName::Genesys, TEST_SECRET, BODY, None, SAMPLE_TIME).unwrap();
    for (k, _) in &mut headers {
        if k == "X-Genesys-Signature" {
            *k = "X-Hub-Signature-256".into();
        }
    }
    let event = sample::wrap(FrontDoor::FunctionUrl, &headers, BODY, true, SAMPLE_TIME);
    let args = ["--scheme", "open-messaging", "--secret", TEST_SECRET];
    assert_eq!(
        diagnose("hex", &event, &args),
        (
            1,
            "invalid_signature (digest is hex where open-messaging expects base64; it matches \
             once decoded)\n"
                .into()
        )
    );
}

#[test]
fn a_stale_timestamp_says_by_how_much_and_the_default_scheme_is_open_messaging() {
    let event = sample::signed_event(
        SchemeName::Timestamped,
        FrontDoor::ApiGatewayV2,
        BODY,
        None,
        SAMPLE_TIME,
    );
    let late = at(SAMPLE_TIME + 612);
    let args = [
        "--scheme",
        "timestamped",
        "--secret",
        TEST_SECRET,
        "--at",
        &late,
    ];
    assert_eq!(
        diagnose("stale", &event, &args),
        (
            1,
            "stale_timestamp (timestamp 612 s in the past, tolerance 300 s)\n".into()
        )
    );
    let args = ["--secret", TEST_SECRET, "--at", &late];
    let (code, out) = diagnose("default", &event, &args);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "missing_signature (matches under timestamped (x-genesys-signature), but this \
         deployment pins open-messaging)\n"
    );
}

#[test]
fn a_wrong_secret_matches_nothing() {
    let event = sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::Alb { multi_value: true },
        BODY,
        Some("d-1"),
        SAMPLE_TIME,
    );
    let args = ["--scheme", "genesys", "--secret", "not-the-secret"];
    let (code, out) = diagnose("wrong", &event, &args);
    assert_eq!(
        (code, out.as_str()),
        (1, "invalid_signature (no secret matches)\n")
    );
}

/// Runs `genesys-sign sign` with `args` over `BODY`; the event it prints.
fn sign(name: &str, args: &[&str]) -> serde_json::Value {
    let out = run("sign", name, args, BODY);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn sign_and_diagnose_default_to_open_messaging() {
    let event = sign(
        "default",
        &["--front-door", "apigw-v2", "--at", &at(SAMPLE_TIME)],
    );
    assert!(
        event["headers"]["x-hub-signature-256"].is_string(),
        "{event}"
    );
    assert_eq!(
        diagnose("signed-default", &event, &["--at", &at(SAMPLE_TIME)]),
        (0, "valid\n".into())
    );
}

#[test]
fn digital_channels_signs_and_names_a_sha256_digest_in_its_header() {
    let args = ["--scheme", "digital-channels"];
    let event = sign("digital", &[&args[..], &["--front-door", "alb"]].concat());
    let signature = event["headers"]["x-hub-signature"].as_str().unwrap();
    assert!(
        signature.starts_with("sha1=") && signature.len() == 45,
        "{signature}"
    );
    assert_eq!(diagnose("digital", &event, &args), (0, "valid\n".into()));

    let mut headers =
        sample::signed_headers(SchemeName::Genesys, TEST_SECRET, BODY, None, SAMPLE_TIME).unwrap();
    for (k, _) in &mut headers {
        if k == "X-Genesys-Signature" {
            *k = "X-Hub-Signature".into();
        }
    }
    let event = sample::wrap(FrontDoor::ApiGatewayV1, &headers, BODY, false, SAMPLE_TIME);
    assert_eq!(
        diagnose("digital-sha256", &event, &args),
        (
            1,
            "invalid_signature (digest is an HMAC-SHA-256 where digital-channels expects \
             HMAC-SHA-1; it matches the body under SHA-256)\n"
                .into()
        )
    );
}
