//! The real binary as a Lambda custom runtime: polled events from a local
//! Runtime API, a moto DynamoDB table named by the SDK's standard
//! `AWS_ENDPOINT_URL_DYNAMODB`, one process per signature scheme.

mod support;

use genesys_sign::{self as sample, CATALOG};
use genesys_webhook::clock::unix_now as now;
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::verify::SchemeName;
use serde_json::{Value, json};
use support::LocalDynamo;
use support::runtime_api::{Answer, Running, RuntimeApi, function};

/// `accepted`/`duplicate`, the error code or reason, or the invocation
/// error's type, from any answer.
fn verdict(answer: &Answer) -> String {
    match answer {
        Ok(v) => support::verdict(&support::answer_of(v).1),
        Err(e) => format!("error:{}", e["errorType"].as_str().unwrap_or("?")),
    }
}

#[tokio::test]
async fn the_binary_accepts_deduplicates_and_rejects_on_every_front_door() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let mut doors_seen = std::collections::BTreeSet::new();

    for scheme in SchemeName::ALL {
        let api = RuntimeApi::start().await;
        let child = Running::start(&mut function(
            &api,
            &[
                ("SIGNATURE_SCHEME", scheme.as_str()),
                ("WEBHOOK_SECRET", sample::test_secret(scheme)),
                ("DEDUP_TABLE", "deliveries"),
                ("AWS_ENDPOINT_URL_DYNAMODB", &db.endpoint),
                ("METRICS_NAMESPACE", "E2E"),
            ],
        ));

        let samples: Vec<_> = CATALOG.iter().filter(|s| s.scheme == scheme).collect();
        let mut invocations = 0;
        for s in &samples {
            let event = s.event(now()).unwrap();
            let answer = api.invoke(event.clone()).await;
            invocations += 1;
            assert_eq!(
                verdict(&answer),
                s.expect,
                "{} under {}",
                s.file,
                scheme.as_str()
            );
            if s.expect == "accepted" {
                assert_eq!(verdict(&api.invoke(event).await), "duplicate", "{}", s.file);
                invocations += 1;
                doors_seen.insert(sample::door_name(s.door));
            }
        }

        let unknown = api.invoke(json!({"hello": "world"})).await;
        assert_eq!(verdict(&unknown), "error:UnknownEvent");
        // ...and the process keeps serving.
        let body = format!("{{\"after\":\"{}\"}}", scheme.as_str());
        let event = sample::signed_event(
            scheme,
            FrontDoor::FunctionUrl,
            body.as_bytes(),
            Some("msg_after"),
            now(),
        );
        let first = verdict(&api.invoke(event).await);
        assert!(first == "accepted" || first == "duplicate", "{first}");
        invocations += 1;

        let logs = child.output().await;
        let lines: Vec<Value> = logs
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let deliveries: Vec<&Value> = lines
            .iter()
            .filter(|l| l["message"] == "delivery")
            .collect();
        assert_eq!(
            deliveries.len(),
            invocations,
            "one log line per delivery:\n{logs}"
        );
        for line in &deliveries {
            assert!(
                line["requestId"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("req-")),
                "{line}"
            );
            assert!(line["scheme"].as_str().is_some(), "{line}");
            assert!(line["front_door"].as_str().is_some(), "{line}");
            match line["outcome"].as_str().unwrap() {
                "accepted" | "duplicate" => {
                    assert!(
                        line["delivery_id"].as_str().is_some()
                            && line["store_ms"].as_f64().is_some(),
                        "{line}"
                    );
                    assert!(line.get("reason").is_none(), "{line}");
                }
                "rejected" => assert!(line["reason"].as_str().is_some(), "{line}"),
                other => panic!("unexpected outcome {other}: {line}"),
            }
        }
        let metrics: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
        assert_eq!(
            metrics.len(),
            invocations,
            "one metrics document per delivery:\n{logs}"
        );
        assert_eq!(
            metrics, deliveries,
            "the metrics are the delivery's own line"
        );
        for (doc, line) in metrics.iter().zip(&deliveries) {
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "E2E");
            let name = directive["Metrics"][0]["Name"].as_str().unwrap();
            let want = match line["outcome"].as_str().unwrap() {
                "accepted" => "Accepted",
                "duplicate" => "Duplicate",
                _ => "Rejected",
            };
            assert_eq!(name, want, "{doc}");
            assert_eq!(doc[name], 1);
        }
        assert!(
            !logs.contains(sample::test_secret(scheme)),
            "a secret reached the log"
        );
        assert!(!logs.contains("Zoë"), "a body reached the log");
    }
    assert_eq!(
        doors_seen.into_iter().collect::<Vec<_>>(),
        [
            "alb",
            "alb-multi-value",
            "apigw-v1",
            "apigw-v2",
            "eventbridge",
            "function-url"
        ]
    );

    let accepted = CATALOG.iter().filter(|s| s.expect == "accepted").count();
    // Every accepted sample, plus msg_after: one item for the schemes that take
    // its id from a header, and one each under open-messaging and
    // digital-channels, keyed on their bodies.
    assert_eq!(db.count("deliveries").await, accepted + 3);
}

#[tokio::test]
async fn with_no_scheme_set_the_binary_verifies_open_messaging_and_ignores_added_ids() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let api = RuntimeApi::start().await;
    let child = Running::start(&mut function(
        &api,
        &[
            ("WEBHOOK_SECRET", sample::TEST_SECRET),
            ("DEDUP_TABLE", "deliveries"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &db.endpoint),
        ],
    ));
    let body = br#"{"id":"m-1","type":"Text","text":"captured"}"#;
    let open = sample::signed_event(
        SchemeName::OpenMessaging,
        FrontDoor::ApiGatewayV2,
        body,
        None,
        now(),
    );
    assert_eq!(verdict(&api.invoke(open.clone()).await), "accepted");
    // A captured delivery sent again under fresh delivery-id headers.
    for id in ["replay-1", "replay-2"] {
        let mut replayed = open.clone();
        replayed["headers"]["x-genesys-delivery-id"] = json!(id);
        assert_eq!(verdict(&api.invoke(replayed).await), "duplicate", "{id}");
    }
    let folklore = sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::ApiGatewayV2,
        body,
        Some("d-1"),
        now(),
    );
    assert_eq!(
        verdict(&api.invoke(folklore).await),
        "missing_signature",
        "the old default's header verifies nothing"
    );
    let logs = child.output().await;
    assert!(logs.contains(r#""scheme":"open-messaging""#), "{logs}");
    assert_eq!(db.count("deliveries").await, 1);
}

#[tokio::test]
async fn a_bad_setting_stops_init_and_names_the_variable() {
    let api = RuntimeApi::start().await;
    let child = function(&api, &[("WEBHOOK_SECRET", "do-not-print-me")])
        .spawn()
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("DEDUP_TABLE"), "{text}");
    assert!(!text.contains("do-not-print-me"), "{text}");
}

#[tokio::test]
async fn an_unreachable_table_at_init_does_not_stop_the_function() {
    let api = RuntimeApi::start().await;
    let child = Running::start(&mut function(
        &api,
        &[
            ("SIGNATURE_SCHEME", "genesys"),
            ("WEBHOOK_SECRET", sample::TEST_SECRET),
            ("DEDUP_TABLE", "deliveries"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9"),
            ("STORE_TIMEOUT_MS", "500"),
            ("STORE_ATTEMPT_TIMEOUT_MS", "250"),
            ("STORE_CONNECT_TIMEOUT_MS", "250"),
        ],
    ));
    let s = CATALOG
        .iter()
        .find(|s| s.file == "apigw-v2.genesys.json")
        .unwrap();
    let answer = api.invoke(s.event(now()).unwrap()).await.unwrap();
    assert_eq!(answer["statusCode"], 503);
    assert_eq!(answer["headers"]["retry-after"], "5");
    let logs = child.output().await;
    assert!(logs.contains("not reachable at init"), "{logs}");
}

#[tokio::test]
async fn two_integrations_in_one_deployment_each_verify_with_their_own_secret() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let sm = aws_sdk_secretsmanager::Client::new(&db.sdk().await);
    let secret = json!({"integrations": {
        "sales": {"current": "sales-secret-value"},
        "support": {"current": "support-secret-value", "previous": ""}
    }});
    let arn = sm
        .create_secret()
        .name("webhook")
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let api = RuntimeApi::start().await;
    let child = Running::start(&mut function(
        &api,
        &[
            ("SIGNATURE_SCHEME", "open-messaging"),
            ("WEBHOOK_SECRET_ARN", &arn),
            ("DEDUP_TABLE", "deliveries"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &db.endpoint),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &db.endpoint),
        ],
    ));

    let deliver = async |path: &str, secret: &str, body: &str| {
        let headers = sample::signed_headers(
            SchemeName::OpenMessaging,
            secret,
            body.as_bytes(),
            None,
            now(),
        )
        .unwrap();
        let mut event = sample::wrap(
            FrontDoor::FunctionUrl,
            &headers,
            body.as_bytes(),
            false,
            now(),
        );
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["path"] = json!(path);
        let answer = api.invoke(event).await;
        (
            answer
                .as_ref()
                .map(|v| v["statusCode"].as_u64().unwrap_or(0))
                .unwrap_or(0),
            verdict(&answer),
        )
    };
    let sales = "/webhooks/genesys/sales";
    let support = "/webhooks/genesys/support";
    assert_eq!(
        deliver(sales, "sales-secret-value", r#"{"n":1}"#).await,
        (200, "accepted".into())
    );
    assert_eq!(
        deliver(support, "support-secret-value", r#"{"n":2}"#).await,
        (200, "accepted".into())
    );
    // Each integration's secret verifies only its own path.
    assert_eq!(
        deliver(support, "sales-secret-value", r#"{"n":3}"#).await,
        (401, "invalid_signature".into())
    );
    // A name the secret does not hold, and the plain path, store nothing.
    assert_eq!(
        deliver(
            "/webhooks/genesys/other",
            "sales-secret-value",
            r#"{"n":4}"#
        )
        .await,
        (404, "unknown_integration".into())
    );
    assert_eq!(
        deliver("/webhooks/genesys", "sales-secret-value", r#"{"n":5}"#).await,
        (404, "unknown_integration".into())
    );
    assert_eq!(db.count("deliveries").await, 2);

    let item = db
        .client()
        .await
        .scan()
        .table_name("deliveries")
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    let mut names: Vec<_> = item
        .iter()
        .filter_map(|i| i.get("integration")?.as_s().ok().cloned())
        .collect();
    names.sort();
    assert_eq!(names, ["sales", "support"]);

    let logs = child.output().await;
    assert!(logs.contains("\"integration\":\"sales\""), "{logs}");
    assert!(
        logs.contains("matches the secret of another integration, sales"),
        "the mismatch names the integration whose secret signed it: {logs}"
    );
    for secret in ["sales-secret-value", "support-secret-value"] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
}
