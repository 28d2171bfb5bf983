//! The relay's side of the local parts: an EventBridge bus with a rule that
//! forwards to an SQS queue (both served by the same moto server), the
//! table's stream records in the shape a stream mapping hands to Lambda, a
//! proxy in front of EventBridge that records `PutEvents`, refuses chosen
//! entries and enforces the limits moto does not, and the relay, replay and
//! redrive binaries.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

use super::runtime_api::{RuntimeApi, lambda_command};
use super::{LocalDynamo, sdk_config};

pub const SOURCE: &str = "genesys-webhook";
/// A value no log line may hold: the relay's AWS secret key.
pub const SECRET_KEY: &str = "relay-secret-key-never-logged";

/// An SQS queue that receives every event on `bus` from [`SOURCE`].
pub async fn bus_to_queue(endpoint: &str, bus: &str, queue: &str) -> String {
    let sdk = sdk_config(endpoint).await;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let url = create_queue(endpoint, queue).await;
    let arn = format!("arn:aws:sqs:us-east-1:123456789012:{queue}");
    events.create_event_bus().name(bus).send().await.unwrap();
    events
        .put_rule()
        .name(format!("{bus}-to-{queue}"))
        .event_bus_name(bus)
        .event_pattern(json!({ "source": [SOURCE] }).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(format!("{bus}-to-{queue}"))
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id(queue)
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    url
}

pub async fn create_queue(endpoint: &str, name: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(endpoint).await);
    let created = sqs.create_queue().queue_name(name).send().await.unwrap();
    created.queue_url.unwrap()
}

/// Every message waiting on the queue, as sent. Delivery is synchronous
/// in moto, so what a finished `PutEvents` routed is already there.
pub async fn drain(endpoint: &str, url: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(endpoint).await);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
            out.push(m.body.unwrap());
        }
    }
}

/// Reads a table's stream from its start, one `GetRecords` per shard per
/// call, as a stream mapping does.
pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    iterators: Vec<String>,
}

impl StreamReader {
    pub async fn open(db: &LocalDynamo, table: &str) -> Self {
        let arn = db
            .client()
            .await
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap()
            .table
            .unwrap()
            .latest_stream_arn
            .expect("the table has a stream");
        let client = aws_sdk_dynamodbstreams::Client::new(&db.sdk().await);
        let shards = client
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .unwrap()
            .stream_description
            .unwrap()
            .shards
            .unwrap_or_default();
        let mut iterators = Vec::new();
        for shard in shards {
            let it = client
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard.shard_id.unwrap())
                .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap();
            iterators.push(it.shard_iterator.unwrap());
        }
        Self {
            client,
            arn,
            iterators,
        }
    }

    /// The records written since the last call, each shaped as in the
    /// `Records` of a DynamoDB stream event.
    pub async fn next(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        for it in &mut self.iterators {
            let got = self
                .client
                .get_records()
                .shard_iterator(it.as_str())
                .send()
                .await
                .unwrap();
            if let Some(next) = got.next_shard_iterator {
                *it = next;
            }
            for r in got.records.unwrap_or_default() {
                out.push(lambda_record(r, &self.arn));
            }
        }
        out
    }
}

fn lambda_record(r: aws_sdk_dynamodbstreams::types::Record, arn: &str) -> Value {
    let d = r.dynamodb.unwrap();
    let image = |i: Option<std::collections::HashMap<_, _>>| {
        i.map(|m| serde_json::to_value(serde_dynamo::Item::from(m)).unwrap())
    };
    let mut change = json!({
        "ApproximateCreationDateTime": d.approximate_creation_date_time.map_or(0.0, |t| t.as_secs_f64()),
        "Keys": image(d.keys),
        "SequenceNumber": d.sequence_number,
        "SizeBytes": d.size_bytes.unwrap_or(0),
        "StreamViewType": d.stream_view_type.map(|v| v.as_str().to_owned()),
    });
    if let Some(new) = image(d.new_image) {
        change["NewImage"] = new;
    }
    json!({
        "eventID": r.event_id,
        "eventName": r.event_name.map(|e| e.as_str().to_owned()),
        "eventVersion": r.event_version,
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": arn,
        "dynamodb": change,
    })
}

/// The event a stream mapping sends for `records`.
pub fn stream_event(records: &[Value]) -> Value {
    json!({ "Records": records })
}

pub fn sequence_number(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn delivery_id(record: &Value) -> String {
    record["dynamodb"]["Keys"]["pk"]["S"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A proxy in front of EventBridge. It records every `PutEvents` request's
/// entries; answers for the entries whose delivery id it was told to refuse
/// with the chosen `ErrorCode` and `ErrorMessage`; refuses, as EventBridge
/// does, a `DetailType` that is empty or over 128 characters; and passes
/// only the others on.
pub struct BusProxy {
    pub endpoint: String,
    pub requests: Arc<Mutex<Vec<Vec<Value>>>>,
    answers: Answers,
    server: tokio::task::JoinHandle<()>,
}

/// Delivery id -> (`ErrorCode`, `ErrorMessage`).
type Answers = Arc<Mutex<HashMap<String, (String, String)>>>;

impl BusProxy {
    /// A proxy that answers `InternalFailure` for the delivery ids in `refuse`.
    pub async fn start(upstream: &str, refuse: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream: SocketAddr = upstream.trim_start_matches("http://").parse().unwrap();
        let answers: Answers = Arc::default();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let held = answers.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let answers = held.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        proxy(upstream, answers.clone(), recorded.clone(), req)
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let proxy = Self {
            endpoint,
            requests,
            answers,
            server,
        };
        for id in refuse {
            proxy.refuse(id, "InternalFailure", "refused by the test proxy");
        }
        proxy
    }

    /// From now on the entry of `delivery_id` is answered `code`, `message`.
    pub fn refuse(&self, delivery_id: &str, code: &str, message: &str) {
        self.answers
            .lock()
            .unwrap()
            .insert(delivery_id.into(), (code.into(), message.into()));
    }

    /// From now on the entry of `delivery_id` is passed on.
    pub fn accept(&self, delivery_id: &str) {
        self.answers.lock().unwrap().remove(delivery_id);
    }

    /// Every entry of every `PutEvents` so far, in order.
    pub fn entries(&self) -> Vec<Value> {
        self.requests.lock().unwrap().concat()
    }

    /// How many times an entry of `delivery_id` was sent.
    pub fn sent(&self, delivery_id: &str) -> usize {
        self.entries()
            .iter()
            .filter(|e| entry_delivery_id(e).as_deref() == Some(delivery_id))
            .count()
    }
}

impl Drop for BusProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn entry_delivery_id(entry: &Value) -> Option<String> {
    let detail: Value = serde_json::from_str(entry["Detail"].as_str()?).ok()?;
    detail["deliveryId"].as_str().map(str::to_owned)
}

/// The answer EventBridge gives an entry it refuses, if it refuses it.
fn refusal(answers: &Answers, entry: &Value) -> Option<(String, String)> {
    let chars = entry["DetailType"]
        .as_str()
        .map_or(0, |d| d.chars().count());
    if !(1..=128).contains(&chars) {
        return Some((
            "InvalidArgument".into(),
            format!("Parameter DetailType is not valid: {chars} characters, 1 to 128 allowed"),
        ));
    }
    let id = entry_delivery_id(entry)?;
    answers.lock().unwrap().get(&id).cloned()
}

async fn proxy(
    upstream: SocketAddr,
    answers: Answers,
    recorded: Arc<Mutex<Vec<Vec<Value>>>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let is_put_events = parts
        .headers
        .get("x-amz-target")
        .is_some_and(|t| t == "AWSEvents.PutEvents");
    if !is_put_events {
        let (status, answer) = forward(upstream, &parts, body).await;
        return Ok(respond(status, answer));
    }
    let mut request: Value = serde_json::from_slice(&body).unwrap();
    let entries = request["Entries"].as_array().cloned().unwrap_or_default();
    recorded.lock().unwrap().push(entries.clone());
    let refused: Vec<Option<(String, String)>> =
        entries.iter().map(|e| refusal(&answers, e)).collect();
    let passed: Vec<Value> = entries
        .iter()
        .zip(&refused)
        .filter(|(_, r)| r.is_none())
        .map(|(e, _)| e.clone())
        .collect();
    let mut answered = Vec::new();
    let mut failed = 0;
    if !passed.is_empty() {
        request["Entries"] = Value::Array(passed);
        let (status, answer) = forward(upstream, &parts, Bytes::from(request.to_string())).await;
        if status != 200 {
            return Ok(respond(status, answer));
        }
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        failed = answer["FailedEntryCount"].as_u64().unwrap_or(0);
        answered = answer["Entries"].as_array().cloned().unwrap_or_default();
    }
    let mut answered = answered.into_iter();
    let merged: Vec<Value> = refused
        .into_iter()
        .map(|r| match r {
            Some((code, message)) => {
                failed += 1;
                json!({"ErrorCode": code, "ErrorMessage": message})
            }
            None => answered.next().unwrap(),
        })
        .collect();
    let answer = json!({"FailedEntryCount": failed, "Entries": merged});
    Ok(respond(200, Bytes::from(answer.to_string())))
}

/// Sends one request on to `upstream` and returns its status and body.
pub async fn forward(
    upstream: SocketAddr,
    parts: &http::request::Parts,
    body: Bytes,
) -> (u16, Bytes) {
    let stream = TcpStream::connect(upstream).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone());
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_LENGTH {
            req = req.header(name, value);
        }
    }
    let req = req
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

/// A request's parts and whole body, and whether it calls the AWS JSON
/// operation `target` (its `X-Amz-Target`).
pub async fn aws_request(
    req: Request<Incoming>,
    target: &str,
) -> (http::request::Parts, Bytes, bool) {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let calls = parts
        .headers
        .get("x-amz-target")
        .is_some_and(|t| t == target);
    (parts, body, calls)
}

/// An HTTP/1 server on a free local port, stopped when dropped.
pub struct LocalServer {
    pub endpoint: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves every request with `handle`.
pub async fn serve_http<F, Fut>(handle: F) -> LocalServer
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(handle.clone());
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    LocalServer { endpoint, server }
}

pub fn respond(status: u16, body: Bytes) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(body))
        .unwrap()
}

/// An address that accepts connections and never answers.
pub async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    (endpoint, held)
}

/// The relay binary as a Lambda custom runtime polling `api`, with the AWS
/// settings a function has and `vars` on top.
pub fn relay(api: &RuntimeApi, vars: &[(&str, &str)]) -> Command {
    let mut cmd = lambda_command(env!("CARGO_BIN_EXE_genesys-relay"), "genesys-relay", api);
    cmd.envs(aws_env()).envs(vars.iter().copied());
    cmd
}

fn aws_env() -> [(&'static str, &'static str); 4] {
    [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

/// The replay binary, with the table, the failure queue (both in moto) and
/// the bus at `eventbridge`.
pub fn replay(moto: &str, eventbridge: &str, args: &[&str]) -> Command {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let mut cmd = tool(&BINARY, "genesys-replay");
    cmd.env("AWS_ENDPOINT_URL_DYNAMODB", moto)
        .env("AWS_ENDPOINT_URL_SQS", moto)
        .env("AWS_ENDPOINT_URL_EVENTBRIDGE", eventbridge)
        .args(args);
    cmd
}

/// The redrive binary, with the queues and stacks in moto and the bus at
/// `eventbridge`.
pub fn redrive(moto: &str, eventbridge: &str, args: &[&str]) -> Command {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let mut cmd = tool(&BINARY, "genesys-redrive");
    cmd.env("AWS_ENDPOINT_URL_SQS", moto)
        .env("AWS_ENDPOINT_URL_CLOUDFORMATION", moto)
        .env("AWS_ENDPOINT_URL_EVENTBRIDGE", eventbridge)
        .args(args);
    cmd
}

/// A tool's binary (package and binary named alike), built on first use: it
/// belongs to another package of the workspace, so cargo does not build it
/// for these tests. Building it together with this test target gives both
/// the same dependency features, so only the tool itself is compiled.
fn tool(built: &OnceLock<PathBuf>, name: &str) -> Command {
    let binary = built.get_or_init(|| {
        // Without what cargo sets for a running test: build scripts that
        // watch those variables would otherwise rebuild half the tree.
        let set_for_tests = |k: &str| {
            k.starts_with("CARGO_PKG_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                ]
                .contains(&k)
        };
        let status = std::process::Command::new(env!("CARGO"))
            .env_clear()
            .envs(std::env::vars().filter(|(k, _)| !set_for_tests(k)))
            .args(["build", "--quiet", "-p", "genesys-webhook", "-p", name])
            .args(["--bin", name, "--test", env!("CARGO_CRATE_NAME")])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "{name} did not build");
        PathBuf::from(env!("CARGO_BIN_EXE_genesys-relay")).with_file_name(name)
    });
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .envs(aws_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}
