//! The metrics survive every log level the template offers. Each delivery's
//! metrics are its log line, and Lambda's JSON log filter drops a line whose
//! `level` is below the function's ApplicationLogLevel (a missing or unknown
//! level counts as INFO). The binary runs under each level template.yaml
//! allows, its output goes through that filter, and every delivery's metrics
//! document must come out the other side.

mod support;

use genesys_sign as sample;
use genesys_webhook::clock::unix_now as now;
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::verify::SchemeName;
use serde_json::Value;
use support::LocalDynamo;
use support::runtime_api::{Running, RuntimeApi, function};

/// Lambda's application log levels, lowest first.
const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

fn rank(level: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level))
}

/// The template as JSON, through cfn-lint's own decoder, which reads the
/// short-form tags (`!Ref`, `!Sub`, ...).
fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
    let out = std::process::Command::new(std::env::var("PYTHON").unwrap_or("python3".into()))
        .args([
            "-c",
            "import json, sys; from cfnlint.decode import decode; \
             t, errors = decode(sys.argv[1]); assert not errors, errors; \
             print(json.dumps(t, default=str))",
            path,
        ])
        .output()
        .expect("python3 with cfn-lint is needed (the repo's .venv)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What CloudWatch Logs keeps of `output` under `configured`: each line
/// whose level is at or above it, a line without a readable level as INFO.
fn lambda_filter<'a>(output: &'a str, configured: &str) -> Vec<&'a str> {
    let floor = rank(configured).expect("a Lambda log level");
    let info = rank("INFO").unwrap();
    output
        .lines()
        .filter(|line| {
            let level = serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v.get("level")?.as_str().and_then(rank));
            level.unwrap_or(info) >= floor
        })
        .collect()
}

#[test]
fn every_function_takes_its_level_from_the_one_parameter() {
    let t = template();
    for name in ["WebhookFunction", "RelayFunction"] {
        let logging = &t["Resources"][name]["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"], "JSON", "{name}");
        assert_eq!(
            logging["ApplicationLogLevel"],
            serde_json::json!({"Ref": "LogLevel"}),
            "{name}"
        );
    }
}

#[test]
fn the_filter_drops_below_the_level_and_reads_no_level_as_info() {
    let out = "{\"level\":\"DEBUG\",\"n\":1}\n{\"n\":2}\nplain text\n{\"level\":\"ERROR\",\"n\":3}\n{\"level\":\"bogus\",\"n\":4}";
    assert_eq!(lambda_filter(out, "TRACE").len(), 5);
    assert_eq!(lambda_filter(out, "INFO").len(), 4);
    assert_eq!(
        lambda_filter(out, "WARN"),
        ["{\"level\":\"ERROR\",\"n\":3}"]
    );
}

#[tokio::test]
async fn every_allowed_level_keeps_every_delivery_metrics_document() {
    let allowed: Vec<String> = template()["Parameters"]["LogLevel"]["AllowedValues"]
        .as_array()
        .expect("LogLevel has AllowedValues")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert!(!allowed.is_empty());
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let scheme = SchemeName::OpenMessaging;

    for level in &allowed {
        let api = RuntimeApi::start().await;
        let child = Running::start(&mut function(
            &api,
            &[
                ("AWS_LAMBDA_LOG_LEVEL", level),
                ("SIGNATURE_SCHEME", scheme.as_str()),
                ("WEBHOOK_SECRET", sample::test_secret(scheme)),
                ("DEDUP_TABLE", "deliveries"),
                ("AWS_ENDPOINT_URL_DYNAMODB", &db.endpoint),
                ("METRICS_NAMESPACE", "LogLevels"),
            ],
        ));
        let body = format!("{{\"level\":\"{level}\"}}");
        let signed = |secret: &str| {
            let headers = sample::signed_headers(scheme, secret, body.as_bytes(), None, now());
            sample::wrap(
                FrontDoor::FunctionUrl,
                &headers.unwrap(),
                body.as_bytes(),
                false,
                now(),
            )
        };
        let mut statuses = Vec::new();
        for event in [
            signed(sample::test_secret(scheme)),
            signed(sample::test_secret(scheme)),
            signed("not-the-secret-at-all"),
        ] {
            let answer = api.invoke(event).await.unwrap();
            statuses.push(answer["statusCode"].as_u64().unwrap());
        }
        assert_eq!(statuses, [200, 200, 401], "under {level}");

        let logs = child.output().await;
        let metrics: Vec<String> = lambda_filter(&logs, level)
            .into_iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter_map(|doc| {
                let directive = doc["_aws"]["CloudWatchMetrics"].get(0)?;
                assert_eq!(directive["Namespace"], "LogLevels", "{doc}");
                let name = directive["Metrics"][0]["Name"].as_str()?.to_owned();
                assert_eq!(doc[&name], 1, "{doc}");
                Some(name)
            })
            .collect();
        assert_eq!(
            metrics,
            ["Accepted", "Duplicate", "Rejected"],
            "the metrics CloudWatch keeps under LogLevel {level}:\n{logs}"
        );
    }
}
