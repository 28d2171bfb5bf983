//! A passing test run prints none of the lines the library writes: they are
//! kept for the test to read. A failing test shows what a binary it started
//! wrote. Each test here runs its case in a copy of this binary and reads
//! what that copy printed.

mod support;

use genesys_sign as sample;
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::verify::SchemeName;
use support::runtime_api::{Running, RuntimeApi, function};

const IN_A_COPY: &str = "QUIET_TEST_IN_A_COPY";

/// Runs `test` alone in a copy of this binary, with `args`: whether it
/// passed, and all it printed.
fn in_a_copy(test: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1"])
        .args(args)
        .env(IN_A_COPY, "1")
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

#[tokio::test]
async fn a_delivery_and_a_log_line_reach_the_test_and_not_the_terminal() {
    if std::env::var_os(IN_A_COPY).is_some() {
        return deliver_and_log().await;
    }
    let (passed, printed) = in_a_copy(
        "a_delivery_and_a_log_line_reach_the_test_and_not_the_terminal",
        &["--nocapture"],
    );
    assert!(passed, "{printed}");
    assert!(printed.contains("1 passed"), "{printed}");
    let leaked: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with('{') || l.contains("quiet-marker"))
        .collect();
    assert!(leaked.is_empty(), "printed to the terminal: {leaked:#?}");
}

/// One accepted delivery and one tracing line, both found where the test
/// reads them.
async fn deliver_and_log() {
    let logs = support::captured_logs();
    tracing::warn!("quiet-marker");
    let h = sample::memory_handler(SchemeName::Genesys, &[]);
    let event = sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::ApiGatewayV2,
        b"{}",
        Some("quiet-1"),
        sample::SAMPLE_TIME,
    );
    let reply = h
        .handle_at(event.to_string(), sample::SAMPLE_TIME)
        .await
        .unwrap();
    assert_eq!(
        support::answer_of(&serde_json::to_value(reply).unwrap()).0,
        200
    );
    let text = logs.text();
    assert!(text.contains("quiet-marker"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with('{') && l.contains(r#""delivery_id":"quiet-1""#)),
        "{text}"
    );
}

#[tokio::test]
async fn a_failing_test_shows_what_its_binary_wrote() {
    if std::env::var_os(IN_A_COPY).is_some() {
        return fail_after_the_function_wrote().await;
    }
    let (passed, printed) = in_a_copy("a_failing_test_shows_what_its_binary_wrote", &[]);
    assert!(!passed, "{printed}");
    let shown = printed
        .split_once("--- what the binary wrote ---")
        .map(|(_, shown)| shown);
    assert!(
        shown.is_some_and(|shown| shown.contains("DEDUP_TABLE")),
        "{printed}"
    );
}

/// Fails once the function, missing a setting, has said which.
async fn fail_after_the_function_wrote() {
    let api = RuntimeApi::start().await;
    let child = Running::start(&mut function(&api, &[("WEBHOOK_SECRET", "x")]));
    for _ in 0..600 {
        if child.text().contains("DEDUP_TABLE") {
            panic!("this test fails on purpose, to show what the function wrote");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
