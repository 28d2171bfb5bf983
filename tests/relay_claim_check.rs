//! The relay and replay over bodies kept in S3 behind a claim check, against
//! real local parts: moto serves the body bucket, the table and its stream,
//! the bus (behind the proxy that enforces EventBridge's limits) and the
//! failure queue. Items are written as the function writes them: the object
//! first, then the item holding its reference.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use genesys_sign as sample;
use genesys_webhook::clock::unix_now as now;
use genesys_webhook::dedup::{BodyBucket, DynamoStore, S3Bodies};
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::outbox::{self, BodyRef, Record};
use genesys_webhook::verify::SchemeName;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::bus::{self, BusProxy, SECRET_KEY, StreamReader};
use support::runtime_api::{Answer, Running, RuntimeApi};
use support::{LocalDynamo, PATIENT, answer_of, sdk_config, verdict};

const TABLE: &str = "deliveries";
const BUS: &str = "outbox";
const BUCKET: &str = "bodies-bucket";
const PREFIX: &str = "bodies/";
const WEEK: i64 = 604_800;
/// In every test body; no log line, parked message or summary may hold it.
const MARK: &str = "claim-check-body-text";

struct Parts {
    db: LocalDynamo,
    s3: aws_sdk_s3::Client,
    bus_queue: String,
    failed_queue: String,
    proxy: BusProxy,
    stream: StreamReader,
}

impl Parts {
    async fn start() -> Self {
        let db = LocalDynamo::start().await;
        db.create_table(TABLE).await;
        let bus_queue = bus::bus_to_queue(&db.endpoint, BUS, "relayed").await;
        let failed_queue = bus::create_queue(&db.endpoint, "failed").await;
        let conf = aws_sdk_s3::config::Builder::from(&sdk_config(&db.endpoint).await)
            .force_path_style(true)
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(conf);
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        let proxy = BusProxy::start(&db.endpoint, &[]).await;
        let stream = StreamReader::open(&db, TABLE).await;
        Self {
            db,
            s3,
            bus_queue,
            failed_queue,
            proxy,
            stream,
        }
    }

    /// Records `body` under `id` as the function does: inline, or with
    /// `object` (the recorded bytes, or others standing in for an altered
    /// object, or `None` for a missing one) in the bucket and its reference
    /// in the item.
    async fn record(
        &self,
        id: &str,
        body: &[u8],
        stored: Option<Option<&[u8]>>,
    ) -> Option<BodyRef> {
        let record = Record {
            delivery_id: id,
            body,
            front_door: "apigw-v2",
            scheme: "open-messaging",
            topic: Some("Text"),
            detail_type: None,
            integration: None,
            received_at: now(),
        };
        let claim = stored.map(|_| BodyRef::of(BUCKET, PREFIX, &record.key(), body));
        if let (Some(claim), Some(Some(object))) = (&claim, stored) {
            self.s3
                .put_object()
                .bucket(BUCKET)
                .key(&claim.key)
                .body(ByteStream::from(object.to_vec()))
                .send()
                .await
                .unwrap();
        }
        self.db
            .client()
            .await
            .put_item()
            .table_name(TABLE)
            .set_item(Some(outbox::item(&record, WEEK, claim.as_ref())))
            .send()
            .await
            .unwrap();
        claim
    }

    /// A 10 KB body stored under each of `ids`, with a small inline one,
    /// `inline`, after the first.
    async fn stored_beside_inline(&self, ids: &[&str]) {
        let body = json_body(10 * 1024);
        for (i, id) in ids.iter().enumerate() {
            self.record(id, &body, Some(Some(&body))).await;
            if i == 0 {
                self.record("inline", b"{}", None).await;
            }
        }
    }

    async fn object(&self, claim: &BodyRef) -> Vec<u8> {
        let got = self.s3.get_object().bucket(BUCKET).key(&claim.key).send();
        got.await.unwrap().body.collect().await.unwrap().to_vec()
    }

    /// Runs the relay binary over one event of the records written since the
    /// last call, S3 at `s3`. Returns its answer and everything it logged.
    async fn relay(&mut self, s3: &str, vars: &[(&str, &str)]) -> (Vec<Value>, Answer, String) {
        let records = self.stream.next().await;
        let api = RuntimeApi::start().await;
        let mut all = vec![
            ("OUTBOX_BUS_NAME", BUS),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", self.proxy.endpoint.as_str()),
            ("AWS_ENDPOINT_URL_SQS", self.db.endpoint.as_str()),
            ("AWS_ENDPOINT_URL_S3", s3),
            ("FAILED_DELIVERIES_QUEUE_URL", self.failed_queue.as_str()),
        ];
        all.extend_from_slice(vars);
        let child = Running::start(&mut bus::relay(&api, &all));
        // Liveness, not speed: a relay that never answers fails here.
        let answer = tokio::time::timeout(
            Duration::from_secs(60),
            api.invoke(bus::stream_event(&records)),
        )
        .await
        .expect("the relay answered");
        let logs = child.output().await;
        assert_clean(&logs);
        (records, answer, logs)
    }

    /// What the relay put on the bus, by delivery id: each entry's `Detail`
    /// as sent, once per time it was sent.
    fn sent(&self) -> HashMap<String, Vec<String>> {
        let mut by_id: HashMap<String, Vec<String>> = HashMap::new();
        for e in self.proxy.entries() {
            let raw = e["Detail"].as_str().unwrap().to_owned();
            let detail: Value = serde_json::from_str(&raw).unwrap();
            let id = detail["deliveryId"].as_str().unwrap().to_owned();
            by_id.entry(id).or_default().push(raw);
        }
        by_id
    }

    /// Delivery ids of the events that reached the bus's rule target.
    async fn arrived(&self) -> Vec<String> {
        let mut ids: Vec<String> = bus::drain(&self.db.endpoint, &self.bus_queue)
            .await
            .iter()
            .map(|m| {
                let event: Value = serde_json::from_str(m).unwrap();
                event["detail"]["deliveryId"].as_str().unwrap().to_owned()
            })
            .collect();
        ids.sort();
        ids
    }

    async fn parked(&self) -> Vec<Value> {
        let messages = bus::drain(&self.db.endpoint, &self.failed_queue).await;
        for m in &messages {
            assert!(!m.contains(MARK), "a body reached the failure queue: {m}");
        }
        messages
            .iter()
            .map(|m| serde_json::from_str(m).unwrap())
            .collect()
    }
}

fn assert_clean(text: &str) {
    assert!(!text.contains(SECRET_KEY), "a secret reached the log");
    assert!(!text.contains(MARK), "a body reached the log:\n{text}");
}

/// A JSON object of about `bytes` bytes.
fn json_body(bytes: usize) -> Vec<u8> {
    let filler = "x".repeat(bytes.saturating_sub(MARK.len() + 20));
    format!("{{\"text\":\"{MARK} {filler}\"}}").into_bytes()
}

/// `bytes` bytes that are not JSON nor text.
fn binary_body(bytes: usize) -> Vec<u8> {
    let mut body = MARK.as_bytes().to_vec();
    body.extend((0..bytes - MARK.len()).map(|i| (i % 256) as u8));
    body
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn failures(answer: &Answer) -> Vec<String> {
    answer.as_ref().expect("item failures, not an error")["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

fn metrics(logs: &str) -> Value {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l.get("_aws").is_some())
        .expect("a metrics document")
}

/// The `bodyRef` of a published detail, and that it holds no body.
fn reference(raw: &str) -> Value {
    let detail: Value = serde_json::from_str(raw).unwrap();
    assert!(detail.get("body").is_none() && detail.get("bodyBase64").is_none());
    detail["bodyRef"].clone()
}

/// The whole path: the function keeps a 4 MB HTTP API body and a 3 MB
/// base64 Function URL body in the bucket, and the relay publishes each once,
/// by reference, with the SHA-256 of the exact bytes it was given.
#[tokio::test]
async fn deliveries_the_function_kept_in_s3_reach_the_bus_once_by_reference() {
    let mut parts = Parts::start().await;
    let c = sample::config(SchemeName::Genesys, &[("BODY_BUCKET", BUCKET)]).unwrap();
    assert_eq!(c.table, TABLE);
    let sdk = sdk_config(&parts.db.endpoint).await;
    let name = c.body_bucket.clone().expect("the bucket is configured");
    let store = DynamoStore::new(&sdk, PATIENT, c.table.clone(), WEEK).with_bodies(BodyBucket {
        bodies: S3Bodies::new(&sdk, PATIENT),
        name,
    });
    let function = sample::handler(&c, store).unwrap();

    let plain = json_body(4 * 1024 * 1024);
    let http_api = sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::ApiGatewayV2,
        &plain,
        Some("e2e-4mb"),
        now(),
    );
    let binary = binary_body(3 * 1024 * 1024);
    let headers = sample::signed_headers(
        SchemeName::Genesys,
        sample::TEST_SECRET,
        &binary,
        Some("e2e-3mb"),
        now(),
    )
    .unwrap();
    let function_url = sample::wrap(FrontDoor::FunctionUrl, &headers, &binary, true, now());
    for event in [&http_api, &function_url, &http_api] {
        let reply = function.handle_at(event.to_string(), now()).await.unwrap();
        let (status, body) = answer_of(&serde_json::to_value(reply).unwrap());
        assert_eq!(status, 200, "{}", verdict(&body));
    }

    let moto = parts.db.endpoint.clone();
    let (_, answer, _) = parts.relay(&moto, &[]).await;
    assert_eq!(failures(&answer), Vec::<String>::new());
    let sent = parts.sent();
    assert_eq!(sent.len(), 2, "{:?}", sent.keys());
    for (id, body) in [("e2e-4mb", &plain), ("e2e-3mb", &binary)] {
        assert_eq!(sent[id].len(), 1, "{id}: published once");
        let got = reference(&sent[id][0]);
        assert_eq!(got["size"], body.len(), "{id}");
        assert_eq!(got["sha256"], sha256(body), "{id}");
        let key = got["key"].as_str().unwrap();
        let object = parts.s3.get_object().bucket(BUCKET).key(key).send();
        let object = object.await.unwrap().body.collect().await.unwrap();
        assert_eq!(
            &object.to_vec(),
            body,
            "{id}: the object is the exact bytes"
        );
    }
    assert_eq!(parts.arrived().await, ["e2e-3mb", "e2e-4mb"]);
    assert!(parts.parked().await.is_empty());
}

#[tokio::test]
async fn large_bodies_go_once_by_reference_one_that_fits_inline_and_small_ones_unchanged() {
    let mut parts = Parts::start().await;
    let four = json_body(4 * 1024 * 1024);
    let three = binary_body(3 * 1024 * 1024);
    let six_hundred = json_body(600 * 1024);
    let small = br#"{"text":"small"}"#;
    let big4 = parts
        .record("big-4mb", &four, Some(Some(&four)))
        .await
        .unwrap();
    let big3 = parts
        .record("big-3mb", &three, Some(Some(&three)))
        .await
        .unwrap();
    parts
        .record("mid-600kb", &six_hundred, Some(Some(&six_hundred)))
        .await;
    parts.record("small", small, None).await;

    let moto = parts.db.endpoint.clone();
    let (_, answer, logs) = parts.relay(&moto, &[]).await;
    assert_eq!(failures(&answer), Vec::<String>::new());

    let sent = parts.sent();
    assert_eq!(sent.len(), 4, "{:?}", sent.keys());
    assert!(sent.values().all(|s| s.len() == 1), "each entry sent once");
    for (id, body, claim) in [("big-4mb", &four, &big4), ("big-3mb", &three, &big3)] {
        let got = reference(&sent[id][0]);
        assert_eq!(
            got,
            json!({"bucket": BUCKET, "key": claim.key, "size": body.len(), "sha256": sha256(body)}),
            "{id}"
        );
        assert_eq!(
            &parts.object(claim).await,
            body,
            "{id}: the object is the exact bytes"
        );
    }
    let mid = &sent["mid-600kb"][0];
    let text = std::str::from_utf8(&six_hundred).unwrap();
    assert!(
        mid.ends_with(&format!(",\"body\":{text}}}")),
        "inline, byte for byte"
    );
    assert!(!mid.contains("bodyRef"));
    assert!(sent["small"][0].ends_with(r#","body":{"text":"small"}}"#));
    assert_eq!(
        parts.arrived().await,
        ["big-3mb", "big-4mb", "mid-600kb", "small"]
    );
    let m = metrics(&logs);
    assert_eq!(
        (m["Relayed"].as_u64(), m["RelayParked"].as_u64()),
        (Some(4), Some(0))
    );
    assert!(parts.parked().await.is_empty());
}

#[tokio::test]
async fn a_missing_or_altered_object_is_parked_and_its_neighbours_published_once() {
    let mut parts = Parts::start().await;
    let body = json_body(50 * 1024);
    let mut altered = body.clone();
    altered[100] = b'y';
    let large = binary_body(2 * 1024 * 1024);
    let mut large_altered = large.clone();
    large_altered[large.len() - 1] ^= 1;
    let longer = [body.as_slice(), b" "].concat();
    parts.record("before", b"[1]", None).await;
    let missing = parts.record("missing", &body, Some(None)).await.unwrap();
    parts.record("altered", &body, Some(Some(&altered))).await;
    parts.record("longer", &body, Some(Some(&longer))).await;
    parts
        .record("large-altered", &large, Some(Some(&large_altered)))
        .await;
    parts.record("stored-ok", &body, Some(Some(&body))).await;
    parts.record("after", b"[2]", None).await;

    let moto = parts.db.endpoint.clone();
    let (_, answer, logs) = parts.relay(&moto, &[]).await;
    assert_eq!(failures(&answer), Vec::<String>::new(), "{logs}");

    let sent = parts.sent();
    let mut ids: Vec<&str> = sent.keys().map(String::as_str).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["after", "before", "stored-ok"]);
    assert!(sent.values().all(|s| s.len() == 1));
    let text = std::str::from_utf8(&body).unwrap();
    assert!(sent["stored-ok"][0].ends_with(&format!(",\"body\":{text}}}")));

    let mut parked: Vec<(String, String, String)> = parts
        .parked()
        .await
        .iter()
        .map(|m| {
            assert_eq!(m["bucket"], BUCKET);
            assert!(m["key"].as_str().unwrap().starts_with(PREFIX));
            assert!(m["entry"]["detail"]["bodyRef"].is_object());
            (
                m["deliveryId"].as_str().unwrap().to_owned(),
                m["reason"].as_str().unwrap().to_owned(),
                m["errorCode"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    parked.sort();
    let want = [
        ("altered", "body_tampered", "Sha256Mismatch"),
        ("large-altered", "body_tampered", "Sha256Mismatch"),
        ("longer", "body_tampered", "SizeMismatch"),
        ("missing", "body_missing", "NoSuchKey"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(parked, want);
    let m = metrics(&logs);
    assert_eq!(m["RelayParked"], 4);
    assert_eq!(m["RelayBodyFaults"], 4);
    assert_eq!(m["Relayed"], 3);
    assert!(logs.contains(&missing.key), "the log names the missing key");
}

#[tokio::test]
async fn with_s3_out_of_reach_stored_bodies_are_retried_and_nothing_of_theirs_published() {
    let mut parts = Parts::start().await;
    parts.stored_beside_inline(&["s-1", "s-2"]).await;
    let (hole, held) = bus::black_hole().await;

    // Bounds the bus's call shares: tight enough to end soon, wide enough
    // for a busy machine to publish the inline neighbour.
    let tight = [
        ("OUTBOX_TIMEOUT_MS", "3000"),
        ("OUTBOX_ATTEMPT_TIMEOUT_MS", "1000"),
        ("OUTBOX_CONNECT_TIMEOUT_MS", "500"),
        ("OUTBOX_MAX_ATTEMPTS", "2"),
    ];
    let (records, answer, logs) = parts.relay(&hole, &tight).await;
    held.abort();
    let stored: Vec<String> = records
        .iter()
        .filter(|r| bus::delivery_id(r) != "inline")
        .map(bus::sequence_number)
        .collect();
    assert_eq!(failures(&answer), stored);
    assert_eq!(parts.sent().keys().collect::<Vec<_>>(), ["inline"]);
    assert!(parts.parked().await.is_empty());
    assert!(
        logs.contains("not fetched"),
        "one call's bound, not two:\n{logs}"
    );
    assert_eq!(metrics(&logs)["RelayFailed"], 2);

    // The retried batch, with S3 back: each stored body published once.
    let stream_records = records
        .into_iter()
        .filter(|r| stored.contains(&bus::sequence_number(r)));
    let api = RuntimeApi::start().await;
    let moto = parts.db.endpoint.clone();
    let vars = [
        ("OUTBOX_BUS_NAME", BUS),
        (
            "AWS_ENDPOINT_URL_EVENTBRIDGE",
            parts.proxy.endpoint.as_str(),
        ),
        ("AWS_ENDPOINT_URL_SQS", moto.as_str()),
        ("AWS_ENDPOINT_URL_S3", moto.as_str()),
    ];
    let child = Running::start(&mut bus::relay(&api, &vars));
    let again = api
        .invoke(bus::stream_event(&stream_records.collect::<Vec<_>>()))
        .await;
    assert_clean(&child.output().await);
    assert_eq!(failures(&again), Vec::<String>::new());
    let sent = parts.sent();
    assert_eq!((sent["s-1"].len(), sent["s-2"].len()), (1, 1));
}

#[tokio::test]
async fn replay_reads_stored_bodies_as_the_relay_does() {
    let parts = Parts::start().await;
    let four = json_body(4 * 1024 * 1024);
    let six_hundred = binary_body(600 * 1024);
    let big = parts
        .record("r-big", &four, Some(Some(&four)))
        .await
        .unwrap();
    parts
        .record("r-mid", &six_hundred, Some(Some(&six_hundred)))
        .await;
    parts.record("r-missing", &four, Some(None)).await;
    let replay = |s3: &str, ids: &[&str]| {
        let mut args = vec!["--table", TABLE, "--bus", BUS];
        args.extend(["--failure-queue", parts.failed_queue.as_str()]);
        for id in ids {
            args.extend(["--id", id]);
        }
        let mut tool = bus::replay(&parts.db.endpoint, &parts.proxy.endpoint, &args);
        tool.env("AWS_ENDPOINT_URL_S3", s3);
        async move {
            let out = tool.output().await.unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_clean(&stdout);
            assert_clean(&stderr);
            (out.status.code(), stdout, stderr)
        }
    };

    let (code, stdout, stderr) = replay(&parts.db.endpoint, &["r-big", "r-mid", "r-missing"]).await;
    assert!(
        stdout.ends_with("found 3, published 2, parked 1, not found 0, failed 0\n"),
        "{stdout}{stderr}"
    );
    assert_eq!(code, Some(0));
    assert!(
        stderr.contains("parked: r-missing: body_missing"),
        "{stderr}"
    );
    let sent = parts.sent();
    let got = reference(&sent["r-big"][0]);
    assert_eq!(got["sha256"], sha256(&four));
    assert_eq!(got["key"], big.key);
    let mid: Value = serde_json::from_str(&sent["r-mid"][0]).unwrap();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(mid["bodyBase64"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, six_hundred, "inline, the exact bytes");
    let parked = parts.parked().await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0]["reason"], "body_missing");

    let (hole, held) = bus::black_hole().await;
    let before = parts.proxy.entries().len();
    let (code, stdout, stderr) = replay(&hole, &["r-big"]).await;
    held.abort();
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.ends_with("found 1, published 0, parked 0, not found 0, failed 1\n"),
        "{stdout}{stderr}"
    );
    assert_eq!(parts.proxy.entries().len(), before, "nothing published");
    assert!(parts.parked().await.is_empty());
}

/// moto enforces no IAM. In AWS, S3 answers a role with `s3:GetObject`
/// alone `403 AccessDenied` for a missing key, as for a read the role or
/// key does not allow; this stand-in answers every request so.
#[tokio::test]
async fn an_object_s3_refuses_to_hand_over_is_parked_not_retried() {
    let mut parts = Parts::start().await;
    parts.stored_beside_inline(&["denied"]).await;
    let denied = bus::serve_http(|_| async {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        Ok::<_, std::convert::Infallible>(bus::respond(403, xml.into()))
    })
    .await;

    let (_, answer, logs) = parts.relay(&denied.endpoint, &[]).await;
    assert_eq!(failures(&answer), Vec::<String>::new(), "{logs}");
    assert_eq!(parts.sent().keys().collect::<Vec<_>>(), ["inline"]);
    let parked = parts.parked().await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0]["deliveryId"], "denied");
    assert_eq!(parked[0]["reason"], "body_unreadable");
    assert_eq!(parked[0]["errorCode"], "AccessDenied");
    assert_eq!(metrics(&logs)["RelayBodyFaults"], 1);
}
