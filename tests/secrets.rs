//! Secrets that rotate while an instance is warm, read from moto's Secrets
//! Manager: no delivery signed with a secret in use is refused, a forged
//! flood reads the secret at most once per recheck interval, and a failed
//! read keeps the secrets held. An integration added to the secret is served
//! within the recheck interval, and a flood of unknown names costs at most one
//! read per interval. Every secret form docs/secret.schema.json documents, and
//! every one connect-genesys writes, reads as documented.

mod support;

use aws_sdk_secretsmanager::Client;
use genesys_sign as sample;
use genesys_webhook::dedup::MemoryStore;
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::handler::Handler;
use genesys_webhook::secrets::SecretSet;
use genesys_webhook::secrets::{SecretRefresh, SecretsManager};
use genesys_webhook::verify::{Keyring, LiveKeyring, SchemeName};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::LocalDynamo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
    handler_through(&db.endpoint).await
}

/// The same, reading Secrets Manager at `endpoint`.
async fn handler_through(endpoint: &str) -> Handler<MemoryStore> {
    let config = sample::config(SchemeName::OpenMessaging, &[]).unwrap();
    let sdk = support::sdk_config(endpoint).await;
    let source = SecretsManager::new(&sdk, "webhook".into(), REFRESH.timeout);
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
    deliver_to(h, "/webhooks/genesys", secret, body, at).await
}

/// The same, to the URL path `path`.
async fn deliver_to(
    h: &Handler<MemoryStore>,
    path: &str,
    secret: &str,
    body: &str,
    at: i64,
) -> String {
    let headers =
        sample::signed_headers(SchemeName::OpenMessaging, secret, body.as_bytes(), None, at)
            .unwrap();
    let mut event = sample::wrap(FrontDoor::FunctionUrl, &headers, body.as_bytes(), false, at);
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
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

/// A TCP proxy in front of moto that counts the `GetSecretValue` requests
/// passing through it.
struct ReadCounter {
    endpoint: String,
    reads: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl ReadCounter {
    async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let reads = Arc::new(AtomicUsize::new(0));
        let counted = reads.clone();
        let server = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&upstream).await.unwrap();
                tokio::spawn(pipe(client, server, counted.clone()));
            }
        });
        Self {
            endpoint,
            reads,
            server,
        }
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl Drop for ReadCounter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Copies both ways, counting the operation's target header in what the
/// client sends (the SDK names it in `x-amz-target` on every request).
async fn pipe(client: TcpStream, server: TcpStream, reads: Arc<AtomicUsize>) {
    const TARGET: &[u8] = b"secretsmanager.GetSecretValue";
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let upstream = async move {
        let mut seen: Vec<u8> = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = client_rx.read(&mut buf).await {
            seen.extend_from_slice(&buf[..n]);
            let found = seen.windows(TARGET.len()).filter(|w| *w == TARGET).count();
            reads.fetch_add(found, Ordering::SeqCst);
            // Keep only a tail too short to hold a whole target, so none is
            // counted twice and none split across reads is missed.
            let keep = if found > 0 {
                0
            } else {
                (TARGET.len() - 1).min(seen.len())
            };
            seen.drain(..seen.len() - keep);
            if server_tx.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
    };
    tokio::join!(upstream, downstream);
}

#[tokio::test]
async fn an_added_integration_is_served_within_the_recheck_interval_and_unknown_names_cost_one_read_per_interval()
 {
    let db = LocalDynamo::start().await;
    let sm = secrets_manager(&db, r#"{"integrations":{"sales":"sales-secret-1234"}}"#).await;
    let counter = ReadCounter::start(&db.endpoint).await;
    let h = handler_through(&counter.endpoint).await;
    assert_eq!(counter.reads(), 1, "the read at init");
    let support = "/webhooks/genesys/support";
    let mut n = 0;
    let mut send = async |path: &str, secret: &str, at: i64| {
        n += 1;
        deliver_to(&h, path, secret, &format!("{{\"n\":{n}}}"), at).await
    };

    // Unknown: read again once, still unknown.
    assert_eq!(
        send(support, "support-secret-1234", T0).await,
        "unknown_integration"
    );
    assert_eq!(counter.reads(), 2);

    // `support` is added, as connect-genesys adds it.
    put(
        &sm,
        r#"{"integrations":{"sales":"sales-secret-1234","support":{"current":"support-secret-1234"}}}"#,
    )
    .await;
    // Inside the interval of that read, no delivery reads again.
    for t in 1..30 {
        assert_eq!(
            send(support, "support-secret-1234", T0 + t).await,
            "unknown_integration",
            "at +{t}s"
        );
    }
    assert_eq!(counter.reads(), 2);
    // Once the interval has passed, it is read and served.
    assert_eq!(
        send(support, "support-secret-1234", T0 + 30).await,
        "accepted"
    );
    assert_eq!(counter.reads(), 3);
    assert_eq!(
        send("/webhooks/genesys/sales", "sales-secret-1234", T0 + 31).await,
        "accepted"
    );

    // A flood of unknown names, three a second: one read for each interval
    // (the next is due 30 s after that last read).
    for interval in 1..=3 {
        let start = T0 + 30 + 30 * interval;
        for i in 0..90 {
            let path = format!("/webhooks/genesys/unknown-{i}");
            assert_eq!(
                send(&path, "whatever", start + i / 3).await,
                "unknown_integration"
            );
        }
        assert_eq!(
            counter.reads(),
            3 + interval as usize,
            "interval {interval}"
        );
    }
}

fn read_json(relative: &str) -> Value {
    let path = format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// What the function reads from a secret, in the words of
/// docs/secret.examples.json: how many secrets one pair holds, or each
/// integration's.
fn reads(set: &SecretSet) -> Value {
    match set {
        SecretSet::Single(s) => json!({"single": s.iter().count()}),
        SecretSet::Integrations(by_name) => json!({"integrations": by_name
            .iter()
            .map(|(name, s)| (name.clone(), json!(s.iter().count())))
            .collect::<serde_json::Map<_, _>>()}),
    }
}

#[test]
fn every_documented_example_reads_as_documented() {
    let examples = read_json("docs/secret.examples.json");
    let examples = examples.as_array().unwrap();
    assert!(examples.len() > 10);
    for example in examples {
        let secret = example["secret"].as_str().unwrap();
        match SecretSet::from_secret_string(secret) {
            Ok(set) => assert_eq!(reads(&set), example["reads"], "{secret}"),
            Err(e) => {
                assert!(example.get("invalid").is_some(), "{secret}: {e}");
                assert_eq!(e.var, "WEBHOOK_SECRET_ARN");
            }
        }
    }
}

#[test]
fn every_secret_connect_genesys_writes_is_read() {
    let written = read_json("tools/connect-genesys/tests/fixtures/written-secrets.json");
    let written = written.as_array().unwrap();
    assert!(!written.is_empty());
    for w in written {
        let secret = w["secret"].as_str().unwrap();
        let set = SecretSet::from_secret_string(secret)
            .unwrap_or_else(|e| panic!("{}: {e}", w["written_by"]));
        assert_eq!(reads(&set), w["reads"], "{}", w["written_by"]);
    }
}
