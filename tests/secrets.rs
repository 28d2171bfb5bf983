//! Secrets that rotate while an instance is warm, read from moto's Secrets
//! Manager: no delivery signed with a secret in use is refused, a forged
//! flood reads the secret at most once per recheck interval, and a failed
//! read keeps the secrets held.

mod support;

use aws_sdk_secretsmanager::Client;
use genesys_sign as sample;
use genesys_webhook::dedup::MemoryStore;
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::handler::Handler;
use genesys_webhook::secrets::{SecretRefresh, SecretsManager};
use genesys_webhook::verify::{Keyring, LiveKeyring, SchemeName};
use serde_json::Value;
use std::time::Duration;
use support::LocalDynamo;

const T0: i64 = 1_800_000_000;
const REFRESH: SecretRefresh = SecretRefresh {
    max_age_seconds: 300,
    recheck_seconds: 30,
    timeout: Duration::from_secs(2),
};

async fn put(sm: &Client, value: &str) {
    sm.put_secret_value()
        .secret_id("webhook")
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

/// A handler whose secrets were read from the secret `webhook` at `T0`.
async fn handler(db: &LocalDynamo) -> Handler<MemoryStore> {
    let config = sample::config(SchemeName::OpenMessaging, &[]).unwrap();
    let source = SecretsManager::new(&db.sdk().await, "webhook".into(), REFRESH.timeout);
    let keyring = Keyring::new(&config.scheme, &source.fetch().await.unwrap()).unwrap();
    let keys = LiveKeyring::refreshed_from(keyring, source, REFRESH, T0);
    Handler::new(&config, keys, MemoryStore::new(86_400))
}

async fn secrets_manager(db: &LocalDynamo, first: &str) -> Client {
    let sm = Client::new(&db.sdk().await);
    sm.create_secret()
        .name("webhook")
        .secret_string(first)
        .send()
        .await
        .unwrap();
    sm
}

/// The error code or status a delivery of `body` signed with `secret` at `at`
/// gets.
async fn deliver(h: &Handler<MemoryStore>, secret: &str, body: &str, at: i64) -> String {
    let headers =
        sample::signed_headers(SchemeName::OpenMessaging, secret, body.as_bytes(), None, at)
            .unwrap();
    let event = sample::wrap(FrontDoor::FunctionUrl, &headers, body.as_bytes(), false, at);
    let reply = h.handle_at(&event.to_string(), at).await.unwrap();
    let (_, answer): (u16, Value) = support::answer_of(&serde_json::to_value(reply).unwrap());
    support::verdict(&answer)
}

#[tokio::test]
async fn a_rotation_refuses_no_delivery_and_the_old_secret_stops_once_removed() {
    let db = LocalDynamo::start().await;
    let sm = secrets_manager(&db, r#"{"current":"old-secret"}"#).await;
    let h = handler(&db).await;
    let mut n = 0;
    let mut send = async |secret: &str, at: i64| {
        n += 1;
        deliver(&h, secret, &format!("{{\"n\":{n}}}"), at).await
    };
    assert_eq!(send("old-secret", T0).await, "accepted");

    // Step 1: the new secret goes in beside the old one.
    put(&sm, r#"{"current":"new-secret","previous":"old-secret"}"#).await;
    // Genesys still signs with the old one; this instance has not re-read.
    assert_eq!(send("old-secret", T0 + 1).await, "accepted");
    // Step 2: Genesys switches. The mismatch makes the instance read again.
    assert_eq!(send("new-secret", T0 + 2).await, "accepted");
    for t in 3..40 {
        let secret = if t % 2 == 0 {
            "old-secret"
        } else {
            "new-secret"
        };
        assert_eq!(send(secret, T0 + t).await, "accepted", "at +{t}s");
    }

    // Step 3: the old secret is dropped (blanked, as a rotation ends).
    put(&sm, r#"{"current":"new-secret","previous":""}"#).await;
    assert_eq!(send("new-secret", T0 + 41).await, "accepted");
    // Until the held secrets are older than the refresh age, the old one
    // still verifies: nothing Genesys had in flight is refused.
    assert_eq!(send("old-secret", T0 + 42).await, "accepted");
    // After it, the instance has read the secret again, and the old one fails.
    assert_eq!(send("new-secret", T0 + 2 + 300).await, "accepted");
    assert_eq!(send("old-secret", T0 + 2 + 301).await, "invalid_signature");
}

#[tokio::test]
async fn a_forged_flood_reads_the_secret_at_most_once_per_recheck_and_a_failed_read_keeps_the_secrets()
 {
    let logs = support::captured_logs();
    let db = LocalDynamo::start().await;
    let sm = secrets_manager(&db, "held-secret").await;
    let h = handler(&db).await;
    // Every read from now on fails, and each failure is logged.
    sm.delete_secret()
        .secret_id("webhook")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let failures = || logs.text().matches("secret refresh failed").count();
    let before = failures();

    for i in 0..50 {
        let at = T0 + i % 30;
        assert_eq!(deliver(&h, "forged", "{}", at).await, "invalid_signature");
    }
    assert_eq!(
        failures() - before,
        1,
        "one read for a flood inside the interval"
    );
    assert_eq!(
        deliver(&h, "forged", "{}", T0 + 30).await,
        "invalid_signature"
    );
    assert_eq!(
        failures() - before,
        2,
        "one more once the interval has passed"
    );

    // The secrets held still verify, through the failed reads and past the
    // refresh age.
    assert_eq!(
        deliver(&h, "held-secret", "{\"a\":1}", T0 + 31).await,
        "accepted"
    );
    assert_eq!(
        deliver(&h, "held-secret", "{\"a\":2}", T0 + 400).await,
        "accepted"
    );
    let text = logs.text();
    assert!(!text.contains("held-secret"), "a secret reached the log");
}
