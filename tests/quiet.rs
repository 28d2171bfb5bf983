//! A passing test run prints none of the lines the library writes: they are
//! kept for the test to read. This binary runs one delivery and one log line
//! in a copy of itself with the harness's own capture off, and reads what
//! that copy printed.

mod support;

use genesys_sign as sample;
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::verify::SchemeName;

const IN_A_COPY: &str = "QUIET_TEST_IN_A_COPY";
const TEST: &str = "a_delivery_and_a_log_line_reach_the_test_and_not_the_terminal";

#[tokio::test]
async fn a_delivery_and_a_log_line_reach_the_test_and_not_the_terminal() {
    if std::env::var_os(IN_A_COPY).is_some() {
        return deliver_and_log().await;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(IN_A_COPY, "1")
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
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
