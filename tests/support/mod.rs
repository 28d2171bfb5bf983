//! Real local parts for the integration tests: moto's DynamoDB server and a
//! Lambda Runtime API, both on 127.0.0.1 and stopped when dropped.
#![allow(dead_code)]

pub mod bus;
pub mod runtime_api;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use genesys_webhook::config::Timeouts;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The Python that serves moto: `PYTHON` if set, else the repository's
/// `.venv`, which `scripts/venv.sh` creates or brings up to date once per
/// test process, so `cargo test` needs nothing installed beforehand.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(python) = std::env::var_os("PYTHON") {
            return python.into();
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new("bash")
            .arg(root.join("scripts/venv.sh"))
            .arg(root.join(".venv"))
            .arg(root.join("requirements-local.txt"))
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs scripts/venv.sh");
        assert!(
            out.status.success(),
            "scripts/venv.sh could not set up .venv for moto's server"
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("python")
    })
}

/// moto's DynamoDB server, started by `scripts/local_dynamodb.py` on a free
/// port. It exits when its standard input closes, so it never outlives us.
pub struct LocalDynamo {
    child: Child,
    pub endpoint: String,
}

impl LocalDynamo {
    pub async fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/local_dynamodb.py");
        let mut child = Command::new(python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the tests' Python environment runs moto's server");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).await.unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("moto's server did not start; see its output above"));
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    pub async fn sdk(&self) -> SdkConfig {
        sdk_config(&self.endpoint).await
    }

    pub async fn client(&self) -> Client {
        Client::new(&self.sdk().await)
    }

    /// How many items `table` holds.
    pub async fn count(&self, table: &str) -> usize {
        let scan = self.client().await.scan().table_name(table).send().await;
        scan.unwrap().count as usize
    }

    /// A table laid out as template.yaml lays it out: key `pk`, TTL on
    /// `expires_at`, a NEW_IMAGE stream.
    pub async fn create_table(&self, name: &str) {
        let client = self.client().await;
        client
            .create_table()
            .table_name(name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("expires_at")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
}

pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// Everything logged in this test binary, from every thread: tracing's
/// lines and each delivery's own line, which the library keeps in memory
/// because no test chooses a sink. Each test that reads tracing's lines calls
/// this before it logs anything, so no log call site is first seen with no
/// subscriber installed.
pub fn captured_logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| genesys_webhook::sink::Lines)
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per binary");
        Captured
    })
}

pub struct Captured;

impl Captured {
    pub fn text(&self) -> String {
        genesys_webhook::sink::kept()
    }
}

/// Tight store bounds, so fault tests answer quickly.
pub const TIMEOUTS: Timeouts = Timeouts::millis(1_500, 500, 300, 2);

/// Wide store bounds for tests about exactly-once under concurrency: the
/// local server answers one request at a time, so requests queue there.
pub const PATIENT: Timeouts = Timeouts::millis(60_000, 30_000, 30_000, 3);

/// A handler for the genesys scheme over the table `deliveries` at `endpoint`.
pub async fn dynamo_handler(
    endpoint: &str,
    ttl_seconds: i64,
    timeouts: Timeouts,
) -> genesys_webhook::handler::Handler<genesys_webhook::dedup::DynamoStore> {
    use genesys_webhook::verify::SchemeName;
    let c = genesys_sign::config(SchemeName::Genesys, &[]).unwrap();
    let sdk = sdk_config(endpoint).await;
    let store =
        genesys_webhook::dedup::DynamoStore::new(&sdk, timeouts, c.table.clone(), ttl_seconds);
    genesys_sign::handler(&c, store).unwrap()
}

/// The status code and JSON body of any answer the function gives, serialized:
/// an HTTP answer's own, or 200 and the object itself for a partner event.
pub fn answer_of(reply: &serde_json::Value) -> (u16, serde_json::Value) {
    match reply.get("statusCode") {
        Some(code) => (
            code.as_u64().unwrap() as u16,
            serde_json::from_str(reply["body"].as_str().unwrap()).unwrap(),
        ),
        None => (200, reply.clone()),
    }
}

/// `accepted`/`duplicate`, or the error code or reason, from an answer body.
pub fn verdict(body: &serde_json::Value) -> String {
    ["error", "reason", "status"]
        .iter()
        .find_map(|k| body.get(*k).and_then(serde_json::Value::as_str))
        .unwrap()
        .to_owned()
}
