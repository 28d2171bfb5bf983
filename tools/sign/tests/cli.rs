//! `genesys-sign` answers as a well-kept CLI does, and stays quiet when the
//! reader of its output goes away.

use std::process::{Command, Stdio};

use genesys_sign::cli::assert_standard_flags;

const SIGN: &str = env!("CARGO_BIN_EXE_genesys-sign");

#[test]
fn help_version_and_usage_errors() {
    let version = env!("CARGO_PKG_VERSION");
    assert_standard_flags(SIGN, version, &[]);
    assert_standard_flags(SIGN, version, &["sign", "--bogus"]);
    assert_standard_flags(
        SIGN,
        version,
        &["sign", "--front-door", "alb", "--at", "noon", "b"],
    );
    for command in ["sign", "events", "catalog", "diagnose"] {
        let out = Command::new(SIGN)
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            stdout.contains(&format!("Usage: genesys-sign {command}")),
            "{stdout}"
        );
    }
}

fn body_file(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("genesys-sign-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, br#"{"channel":{"messageId":"m-1"}}"#).unwrap();
    path
}

/// `sign` with `args` over a sample body: its status and stdout.
fn sign(name: &str, args: &[&str]) -> (i32, String) {
    let body = body_file(name);
    let out = Command::new(SIGN)
        .arg("sign")
        .args(args)
        .arg(&body)
        .env_remove("WEBHOOK_SECRET")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(body);
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn unix_seconds_and_rfc_3339_sign_at_the_same_instant() {
    let door = ["--front-door", "apigw-v2", "--delivery-id", "d-1"];
    let (code, unix) = sign("unix", &[&door[..], &["--at", "1763985600"]].concat());
    assert_eq!(code, 0);
    for rfc in ["2025-11-24T12:00:00Z", "2025-11-24T07:00:00-05:00"] {
        let (code, text) = sign("rfc", &[&door[..], &["--at", rfc]].concat());
        assert_eq!(code, 0);
        assert_eq!(text, unix, "{rfc}");
    }
    let (_, other) = sign("later", &[&door[..], &["--at", "1763985601"]].concat());
    assert_ne!(other, unix, "the time reaches the signature");
}

#[test]
fn the_old_envelope_flag_still_names_the_front_door() {
    let at = ["--at", "1763985600", "--delivery-id", "d-1"];
    let (_, door) = sign("door", &[&at[..], &["--front-door", "alb"]].concat());
    let (code, envelope) = sign("envelope", &[&at[..], &["--envelope", "alb"]].concat());
    assert_eq!(code, 0);
    assert_eq!(envelope, door);
    let (_, other) = sign(
        "other",
        &[&at[..], &["--front-door", "function-url"]].concat(),
    );
    assert_ne!(other, door);
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let body = body_file("pipe");
    let mut child = Command::new(SIGN)
        .args(["sign", "--front-door", "alb"])
        .arg(&body)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before anything is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_file(body);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(out.status.code(), Some(0));
}
