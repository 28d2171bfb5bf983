//! The relay binary and the replay tool against real local parts: moto
//! serves the table and its stream, an EventBridge bus with a rule to an SQS
//! queue, and the failure queue. Deliveries are written by the function's
//! own store, read back from the stream through the DynamoDB Streams API,
//! and handed to the relay as a stream mapping would hand them.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use genesys_webhook::clock::unix_now as now;
use genesys_webhook::dedup::{DynamoStore, Record, Recorded, Store};
use genesys_webhook::outbox;
use genesys_webhook::relay::publish::PERMANENT_CODES;
use serde_json::{Value, json};
use support::bus::{self, BusProxy, SECRET_KEY, SOURCE, StreamReader};
use support::runtime_api::{Answer, Running, RuntimeApi};
use support::{LocalDynamo, TIMEOUTS};

const TABLE: &str = "deliveries";
const BUS: &str = "outbox";
const WEEK: i64 = 604_800;

/// A delivery as the function records it.
#[derive(Clone, Copy)]
struct Delivery<'a> {
    id: &'a str,
    door: &'static str,
    scheme: &'static str,
    body: &'a [u8],
    topic: Option<&'static str>,
    detail_type: Option<&'static str>,
}

impl<'a> Delivery<'a> {
    const fn plain(id: &'a str, body: &'a [u8]) -> Self {
        Self {
            id,
            door: "apigw-v2",
            scheme: "genesys",
            body,
            topic: None,
            detail_type: None,
        }
    }

    fn is_json(&self) -> bool {
        matches!(self.body.first(), Some(b'{' | b'['))
    }
}

/// One delivery from every front door, with JSON objects and arrays,
/// unicode escapes, whitespace kept as sent, text and binary bodies.
const DOORS: [Delivery<'static>; 6] = [
    Delivery {
        id: "door-apigw-v1",
        door: "apigw-v1",
        scheme: "genesys",
        body: br#"[{"id":1,"name":"Zo\u00eb"},{"id":2}]"#,
        topic: None,
        detail_type: None,
    },
    Delivery {
        id: "door-apigw-v2",
        door: "apigw-v2",
        scheme: "timestamped",
        body: br#"{"topicName":"v2.users.u1.presence","eventBody":{"presence":"AVAILABLE"}}"#,
        topic: Some("v2.users.u1.presence"),
        detail_type: None,
    },
    Delivery {
        id: "door-function-url",
        door: "function-url",
        scheme: "open-messaging",
        body: b"{\"id\" : \"m1\", \"type\":\"Text\",\"text\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\"\"}\n",
        topic: Some("Text"),
        detail_type: None,
    },
    Delivery {
        id: "door-alb-text",
        door: "alb",
        scheme: "standard-webhooks",
        body: "plain text, not JSON: Zoë".as_bytes(),
        topic: None,
        detail_type: None,
    },
    Delivery {
        id: "door-alb-binary",
        door: "alb",
        scheme: "genesys",
        body: &[0x00, 0xff, 0x10, b'{'],
        topic: None,
        detail_type: None,
    },
    Delivery {
        id: "door-eventbridge",
        door: "eventbridge",
        scheme: "partner-source",
        body: br#"{"topicName":"v2.users.u2.presence","eventBody":{"status":"Zo\u00eb"}}"#,
        topic: Some("v2.users.u2.presence"),
        detail_type: Some("v2.users.{id}.presence"),
    },
];

/// Text of the bodies above that no log line may hold.
const BODY_FRAGMENTS: [&str; 5] = ["Zo", "caf", "AVAILABLE", "plain text", "eventBody"];

struct Parts {
    db: LocalDynamo,
    store: DynamoStore,
    /// The queue the bus's rule sends every event to.
    bus_queue: String,
}

impl Parts {
    async fn start(ttl_seconds: i64) -> Self {
        let db = LocalDynamo::start().await;
        db.create_table(TABLE).await;
        let bus_queue = bus::bus_to_queue(&db.endpoint, BUS, "relayed").await;
        let store = DynamoStore::new(&db.sdk().await, TIMEOUTS, TABLE.into(), ttl_seconds);
        Self {
            db,
            store,
            bus_queue,
        }
    }

    async fn record(&self, d: &Delivery<'_>, at: i64) -> Recorded {
        self.store
            .record(&Record {
                delivery_id: d.id,
                body: d.body,
                front_door: d.door,
                scheme: d.scheme,
                topic: d.topic,
                detail_type: d.detail_type,
                integration: None,
                received_at: at,
            })
            .await
            .unwrap()
    }

    /// The events on the bus since the last call, by delivery id.
    async fn arrived(&self) -> BTreeMap<String, Vec<Value>> {
        let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for m in bus::drain(&self.db.endpoint, &self.bus_queue).await {
            let event: Value = serde_json::from_str(&m).unwrap();
            let id = event["detail"]["deliveryId"].as_str().unwrap().to_owned();
            by_id.entry(id).or_default().push(event);
        }
        by_id
    }

    /// Runs the relay binary over `events`, one invocation each, with the
    /// bus at `eventbridge`. Returns its answers and everything it logged.
    async fn relay(
        &self,
        eventbridge: &str,
        vars: &[(&str, &str)],
        events: &[Value],
    ) -> (Vec<Answer>, String) {
        let api = RuntimeApi::start().await;
        let mut all = vec![
            ("OUTBOX_BUS_NAME", BUS),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", eventbridge),
            ("AWS_ENDPOINT_URL_SQS", self.db.endpoint.as_str()),
            ("METRICS_NAMESPACE", "RelayTest"),
        ];
        all.extend_from_slice(vars);
        let child = Running::start(&mut bus::relay(&api, &all));
        let mut answers = Vec::new();
        for event in events {
            // Liveness, not speed: a relay that never answers fails here.
            let answer =
                tokio::time::timeout(Duration::from_secs(60), api.invoke(event.clone())).await;
            let Ok(answer) = answer else {
                panic!("the relay did not answer: {:?}", api.init_error().await);
            };
            answers.push(answer);
        }
        let logs = child.output().await;
        assert_clean(&logs);
        (answers, logs)
    }
}

/// No secret and no body in anything the process wrote.
fn assert_clean(logs: &str) {
    assert!(
        !logs.contains(SECRET_KEY),
        "a secret reached the log:\n{logs}"
    );
    for fragment in BODY_FRAGMENTS {
        assert!(
            !logs.contains(fragment),
            "a body reached the log ({fragment}):\n{logs}"
        );
    }
}

/// A tool's exit code, stdout and stderr, each clean once the message ids
/// it names (random hex, which may spell a body fragment) are left out.
async fn run(mut tool: tokio::process::Command) -> (Option<i32>, String, String) {
    let out = tool.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_clean(&without_uuids(&stdout));
    assert_clean(&without_uuids(&stderr));
    (out.status.code(), stdout, stderr)
}

fn without_uuids(text: &str) -> String {
    let is_uuid = |w: &str| {
        w.len() == 36
            && w.char_indices().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    text.split_inclusive(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .map(|w| {
            let token = w.trim_end_matches(|c: char| !(c.is_ascii_hexdigit() || c == '-'));
            if is_uuid(token) { &w[token.len()..] } else { w }
        })
        .collect()
}

fn json_lines(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The fields of the log lines whose message is `message`.
fn logged(logs: &str, message: &str) -> Vec<Value> {
    json_lines(logs)
        .into_iter()
        .filter(|l| l["fields"]["message"] == message)
        .map(|l| l["fields"].clone())
        .collect()
}

/// The EMF documents the relay wrote.
fn metrics(logs: &str) -> Vec<Value> {
    json_lines(logs)
        .into_iter()
        .filter(|l| l.get("_aws").is_some())
        .collect()
}

fn failures(answer: &Answer) -> Vec<String> {
    let ok = answer
        .as_ref()
        .expect("the relay answered with item failures");
    ok["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_front_door_arrives_once_with_its_body_as_recorded() {
    let parts = Parts::start(WEEK).await;
    let at = now() - 5;
    for d in &DOORS {
        assert_eq!(parts.record(d, at).await, Recorded::Accepted);
    }
    assert!(matches!(
        parts.record(&DOORS[0], at + 1).await,
        Recorded::Duplicate { .. }
    ));
    let records = StreamReader::open(&parts.db, TABLE).await.next().await;
    assert_eq!(records.len(), DOORS.len());
    let proxy = BusProxy::start(&parts.db.endpoint, &[]).await;

    let (answers, logs) = parts
        .relay(&proxy.endpoint, &[], &[bus::stream_event(&records)])
        .await;
    assert_eq!(failures(&answers[0]), Vec::<String>::new());

    let arrived = parts.arrived().await;
    assert_eq!(
        arrived.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        DOORS.iter().map(|d| d.id).collect::<BTreeSet<_>>()
    );
    let sent: BTreeMap<String, Value> = proxy
        .entries()
        .into_iter()
        .map(|e| {
            let detail: Value = serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap();
            (detail["deliveryId"].as_str().unwrap().to_owned(), e)
        })
        .collect();
    for d in &DOORS {
        let events = &arrived[d.id];
        assert_eq!(events.len(), 1, "{} arrived {} times", d.id, events.len());
        let event = &events[0];
        let detail = &event["detail"];
        assert_eq!(event["source"], SOURCE);
        assert_eq!(
            event["detail-type"],
            d.detail_type
                .or(d.topic)
                .unwrap_or("genesys-webhook.delivery")
        );
        assert_eq!(detail["receivedAt"], outbox::timestamp(at));
        assert_eq!(detail["frontDoor"], d.door);
        assert_eq!(detail["scheme"], d.scheme);
        assert_eq!(detail["topic"], json!(d.topic));

        // What the relay put on the bus, byte for byte.
        let entry = &sent[d.id];
        assert_eq!(entry["EventBusName"], BUS);
        assert_eq!(entry["Time"], json!(at));
        let raw = entry["Detail"].as_str().unwrap();
        if d.is_json() {
            let body = std::str::from_utf8(d.body).unwrap();
            assert!(raw.ends_with(&format!(",\"body\":{body}}}")), "{raw}");
            let parsed: Value = serde_json::from_slice(d.body).unwrap();
            assert_eq!(detail["body"], parsed, "{}", d.id);
            assert!(detail.get("bodyBase64").is_none());
        } else {
            let b64 = detail["bodyBase64"].as_str().unwrap();
            assert_eq!(STANDARD.decode(b64).unwrap(), d.body, "{}", d.id);
            assert!(detail.get("body").is_none());
        }
    }
    let escaped = sent["door-function-url"]["Detail"].as_str().unwrap();
    assert!(
        escaped.contains(r#""caf\u00e9 \ud83d\ude00 \"q\""}"#),
        "{escaped}"
    );

    let batches = logged(&logs, "batch");
    assert_eq!(batches.len(), 1, "{logs}");
    assert_eq!(batches[0]["records"], 6);
    assert_eq!(batches[0]["relayed"], 6);
    assert_eq!(batches[0]["failed"], 0);
    let docs = metrics(&logs);
    assert_eq!(docs.len(), 1, "{logs}");
    assert_eq!(
        docs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "RelayTest"
    );
    assert_eq!(docs[0]["Relayed"], 6);
    assert_eq!(docs[0]["RelayFailed"], 0);
    assert_eq!(docs[0]["OutboxLagMs"].as_array().unwrap().len(), 6);
    assert!(docs[0]["OutboxLagMs"][0].as_u64().unwrap() >= 5_000);
}

#[tokio::test]
async fn a_delivery_accepted_again_after_expiry_arrives_again_and_removes_are_ignored() {
    let parts = Parts::start(60).await;
    let mut stream = StreamReader::open(&parts.db, TABLE).await;
    let again = Delivery::plain("again", br#"{"n":1}"#);
    let gone = Delivery::plain("gone", br#"{"n":2}"#);
    let first = now() - 1_000;
    parts.record(&again, first).await;
    parts.record(&gone, first).await;
    let inserts = stream.next().await;

    // Expired but not yet deleted: the write overwrites it, a MODIFY.
    let later = now();
    assert_eq!(parts.record(&again, later).await, Recorded::Accepted);
    parts
        .db
        .client()
        .await
        .delete_item()
        .table_name(TABLE)
        .key(
            outbox::DELIVERY_ID,
            aws_sdk_dynamodb::types::AttributeValue::S("gone".into()),
        )
        .send()
        .await
        .unwrap();
    let changes = stream.next().await;
    let names: Vec<&str> = changes
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["MODIFY", "REMOVE"]);
    let removes_only = [changes[1].clone()];

    let (answers, logs) = parts
        .relay(
            &parts.db.endpoint,
            &[],
            &[
                bus::stream_event(&inserts),
                bus::stream_event(&changes),
                bus::stream_event(&removes_only),
            ],
        )
        .await;
    for a in &answers {
        assert_eq!(failures(a), Vec::<String>::new());
    }

    let arrived = parts.arrived().await;
    assert_eq!(arrived.len(), 2);
    let received: Vec<&str> = arrived["again"]
        .iter()
        .map(|e| e["detail"]["receivedAt"].as_str().unwrap())
        .collect();
    assert_eq!(
        received,
        [outbox::timestamp(first), outbox::timestamp(later)]
    );
    assert_eq!(arrived["gone"].len(), 1);

    let batches = logged(&logs, "batch");
    let counts: Vec<(u64, u64)> = batches
        .iter()
        .map(|b| {
            (
                b["relayed"].as_u64().unwrap(),
                b["skipped"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [(2, 0), (1, 1), (0, 1)]);
}

#[tokio::test]
async fn exactly_the_entries_eventbridge_refused_are_reported() {
    let parts = Parts::start(WEEK).await;
    let ids: Vec<String> = (0..12).map(|i| format!("p-{i:02}")).collect();
    for id in &ids {
        parts
            .record(&Delivery::plain(id, br#"{"ok":true}"#), now())
            .await;
    }
    let records = StreamReader::open(&parts.db, TABLE).await.next().await;
    let refused = ["p-03", "p-07", "p-11"];
    let proxy = BusProxy::start(&parts.db.endpoint, &refused).await;

    let (answers, logs) = parts
        .relay(&proxy.endpoint, &[], &[bus::stream_event(&records)])
        .await;

    let want: Vec<String> = records
        .iter()
        .filter(|r| refused.contains(&bus::delivery_id(r).as_str()))
        .map(bus::sequence_number)
        .collect();
    assert_eq!(want.len(), 3);
    assert_eq!(failures(&answers[0]), want);
    let sizes: Vec<usize> = proxy
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, [10, 2]);
    let arrived = parts.arrived().await;
    assert_eq!(arrived.len(), 9);
    assert!(refused.iter().all(|id| !arrived.contains_key(*id)));

    let failed = logged(&logs, "relay failed");
    let logged_ids: Vec<&str> = failed
        .iter()
        .map(|f| f["delivery_id"].as_str().unwrap())
        .collect();
    assert_eq!(logged_ids, refused);
    assert!(failed.iter().all(|f| f["reason"] == "InternalFailure"));
    assert_eq!(metrics(&logs)[0]["RelayFailed"], 3);
    assert_eq!(metrics(&logs)[0]["Relayed"], 9);
}

#[tokio::test]
async fn an_unreachable_bus_fails_the_whole_batch_within_its_bounds() {
    let parts = Parts::start(WEEK).await;
    for id in ["u-1", "u-2", "u-3"] {
        parts.record(&Delivery::plain(id, b"{}"), now()).await;
    }
    let records = StreamReader::open(&parts.db, TABLE).await.next().await;
    let (hole, held) = bus::black_hole().await;

    let (answers, logs) = parts
        .relay(
            &hole,
            &[
                ("OUTBOX_TIMEOUT_MS", "1000"),
                ("OUTBOX_ATTEMPT_TIMEOUT_MS", "300"),
                ("OUTBOX_CONNECT_TIMEOUT_MS", "200"),
                ("OUTBOX_MAX_ATTEMPTS", "2"),
            ],
            &[bus::stream_event(&records)],
        )
        .await;
    held.abort();

    let error = answers[0]
        .as_ref()
        .expect_err("a batch that failed whole is an error");
    assert_eq!(error["errorType"], "RelayFailed");
    assert_eq!(logged(&logs, "relay failed").len(), 3, "{logs}");
    assert_eq!(metrics(&logs)[0]["RelayFailed"], 3);
    assert!(parts.arrived().await.is_empty());
}

#[tokio::test]
async fn an_entry_too_large_for_the_bus_goes_whole_to_the_failure_queue() {
    let parts = Parts::start(WEEK).await;
    let failed_queue = bus::create_queue(&parts.db.endpoint, "failed").await;
    let big_body = format!("{{\"text\":\"caf\\u00e9 {}\"}}", "x".repeat(4_000));
    parts
        .record(&Delivery::plain("o-big", big_body.as_bytes()), now())
        .await;
    parts
        .record(&Delivery::plain("o-small", b"[1]"), now())
        .await;
    let records = StreamReader::open(&parts.db, TABLE).await.next().await;

    let (answers, logs) = parts
        .relay(
            &parts.db.endpoint,
            &[
                ("OUTBOX_MAX_EVENT_BYTES", "2048"),
                ("FAILED_DELIVERIES_QUEUE_URL", failed_queue.as_str()),
            ],
            &[bus::stream_event(&records)],
        )
        .await;

    assert_eq!(failures(&answers[0]), Vec::<String>::new());
    let arrived = parts.arrived().await;
    assert_eq!(arrived.keys().collect::<Vec<_>>(), ["o-small"]);
    let parked = bus::drain(&parts.db.endpoint, &failed_queue).await;
    assert_eq!(parked.len(), 1);
    assert!(parked[0].contains(&format!(",\"body\":{big_body}}}")));
    let message: Value = serde_json::from_str(&parked[0]).unwrap();
    assert_eq!(message["reason"], "too_large");
    assert_eq!(message["entry"]["deliveryId"], "o-big");
    assert_eq!(message["entry"]["source"], SOURCE);
    assert_eq!(message["entry"]["detail"]["frontDoor"], "apigw-v2");
    assert!(message["entryBytes"].as_u64().unwrap() > 2048);
    assert_eq!(metrics(&logs)[0]["RelayOversize"], 1);
    assert_eq!(metrics(&logs)[0]["Relayed"], 1);
}

#[tokio::test]
async fn replay_publishes_exactly_the_items_asked_for_as_the_relay_does() {
    let parts = Parts::start(WEEK).await;
    let t = now();
    let items = [
        (Delivery::plain("r-1", br#"{"r":1}"#), t - 7_200),
        (DOORS[5], t - 3_600),
        (DOORS[3], t - 1_800),
        (Delivery::plain("r-4", br#"[4]"#), t),
    ];
    for (d, at) in &items {
        parts.record(d, *at).await;
    }
    let proxy = BusProxy::start(&parts.db.endpoint, &[]).await;
    let replay = |args: Vec<String>| {
        let mut all = vec![
            "--table".to_owned(),
            TABLE.into(),
            "--bus".into(),
            BUS.into(),
        ];
        all.extend(args);
        let endpoint = parts.db.endpoint.clone();
        let eventbridge = proxy.endpoint.clone();
        async move {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            run(bus::replay(&endpoint, &eventbridge, &args)).await
        }
    };
    let ids = |arrived: BTreeMap<String, Vec<Value>>| {
        arrived
            .into_iter()
            .flat_map(|(id, events)| events.into_iter().map(move |_| id.clone()))
            .collect::<Vec<_>>()
    };

    let (code, stdout, _) = replay(vec![
        "--id".into(),
        "r-1".into(),
        "--id".into(),
        "door-alb-text".into(),
    ])
    .await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.ends_with("found 2, published 2, parked 0, not found 0, failed 0\n"),
        "{stdout}"
    );
    assert_eq!(ids(parts.arrived().await), ["door-alb-text", "r-1"]);

    let window = |from: i64, to: i64| {
        vec![
            "--from".to_owned(),
            outbox::timestamp(from),
            "--to".into(),
            outbox::timestamp(to),
        ]
    };
    let (code, stdout, _) = replay(window(t - 3_600, t - 1_800)).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.ends_with("found 2, published 2, parked 0, not found 0, failed 0\n"),
        "{stdout}"
    );
    assert_eq!(
        ids(parts.arrived().await),
        ["door-alb-text", "door-eventbridge"]
    );

    let mut dry = window(t - 3_601, t);
    dry.push("--dry-run".into());
    let (code, stdout, _) = replay(dry).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.ends_with("found 3, published 0, parked 0, not found 0, failed 0 (dry run)\n"),
        "{stdout}"
    );
    assert!(
        ["door-eventbridge", "door-alb-text", "r-4"]
            .iter()
            .all(|id| stdout.contains(id))
    );
    assert!(parts.arrived().await.is_empty());

    let (code, stdout, stderr) = replay(vec!["--id".into(), "nowhere".into()]).await;
    assert_eq!(code, Some(1));
    assert!(
        stdout.ends_with("found 0, published 0, parked 0, not found 1, failed 0\n"),
        "{stdout}"
    );
    assert!(stderr.contains("not found: nowhere"), "{stderr}");

    // The relay, over the same items, puts the same entries on the bus.
    let records = StreamReader::open(&parts.db, TABLE).await.next().await;
    let replayed = proxy.entries();
    proxy.requests.lock().unwrap().clear();
    let (answers, _) = parts
        .relay(&proxy.endpoint, &[], &[bus::stream_event(&records)])
        .await;
    assert_eq!(failures(&answers[0]), Vec::<String>::new());
    let relayed = proxy.entries();
    assert_eq!(relayed.len(), 4);
    for entry in &replayed {
        assert!(
            relayed.contains(entry),
            "replay sent {entry}, the relay did not"
        );
    }
}

/// With integrations the key is `<name>/<id>`; the relay and replay both
/// publish the bare id beside the integration, and replay finds an id under
/// the integration it names.
#[tokio::test]
async fn one_id_under_two_integrations_is_published_bare_by_the_relay_and_replay() {
    let parts = Parts::start(WEEK).await;
    let t = now();
    for (integration, body) in [("sales", br#"{"n":1}"#), ("support", br#"{"n":2}"#)] {
        let recorded = parts
            .store
            .record(&Record {
                delivery_id: "d-shared",
                body,
                front_door: "function-url",
                scheme: "open-messaging",
                topic: None,
                detail_type: None,
                integration: Some(integration),
                received_at: t,
            })
            .await
            .unwrap();
        assert_eq!(recorded, Recorded::Accepted, "{integration}");
    }
    let published = |arrived: BTreeMap<String, Vec<Value>>| {
        arrived
            .into_iter()
            .flat_map(|(id, events)| {
                events
                    .into_iter()
                    .map(move |e| (id.clone(), e["detail"]["integration"].to_string()))
            })
            .collect::<BTreeSet<_>>()
    };

    let records = StreamReader::open(&parts.db, TABLE).await.next().await;
    let (answers, _) = parts
        .relay(&parts.db.endpoint, &[], &[bus::stream_event(&records)])
        .await;
    assert_eq!(failures(&answers[0]), Vec::<String>::new());
    assert_eq!(
        published(parts.arrived().await),
        BTreeSet::from([
            ("d-shared".to_owned(), r#""sales""#.to_owned()),
            ("d-shared".to_owned(), r#""support""#.to_owned()),
        ])
    );

    let args = [
        "--table",
        TABLE,
        "--bus",
        BUS,
        "--integration",
        "support",
        "--id",
        "d-shared",
    ];
    let out = bus::replay(&parts.db.endpoint, &parts.db.endpoint, &args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.ends_with("found 1, published 1, parked 0, not found 0, failed 0\n"),
        "{stdout}"
    );
    assert_eq!(
        published(parts.arrived().await),
        BTreeSet::from([("d-shared".to_owned(), r#""support""#.to_owned())])
    );
}

/// The codes AWS documents as permanent, and one it does not document.
fn permanent() -> Vec<&'static str> {
    let mut codes = PERMANENT_CODES.to_vec();
    codes.push("CodeNotYetDocumented");
    codes
}

/// The records a stream mapping hands the relay again after `answer`: from
/// the lowest sequence number reported, on.
fn retried(records: &[Value], answer: &Answer) -> Vec<Value> {
    let reported = failures(answer);
    records
        .iter()
        .skip_while(|r| !reported.contains(&bus::sequence_number(r)))
        .cloned()
        .collect()
}

#[tokio::test]
async fn each_permanent_code_is_parked_once_throttling_is_retried_and_neighbours_publish_once() {
    let parts = Parts::start(WEEK).await;
    let failed_queue = bus::create_queue(&parts.db.endpoint, "failed").await;
    let permanent = permanent();
    let mut ids = Vec::new();
    for (i, _) in permanent.iter().enumerate() {
        ids.push(format!("n-{i}"));
        ids.push(format!("perm-{i}"));
    }
    ids.push("throttled".into());
    for id in &ids {
        parts
            .record(&Delivery::plain(id, br#"{"ok":true}"#), now())
            .await;
    }
    let records = StreamReader::open(&parts.db, TABLE).await.next().await;
    let proxy = BusProxy::start(&parts.db.endpoint, &[]).await;
    for (i, code) in permanent.iter().enumerate() {
        proxy.refuse(
            &format!("perm-{i}"),
            code,
            &format!("{code}: why, in EventBridge's words"),
        );
    }
    proxy.refuse("throttled", "ThrottlingException", "Rate exceeded");
    let vars = [("FAILED_DELIVERIES_QUEUE_URL", failed_queue.as_str())];

    let (first, logs) = parts
        .relay(&proxy.endpoint, &vars, &[bus::stream_event(&records)])
        .await;
    let throttled_seq: Vec<String> = records
        .iter()
        .filter(|r| bus::delivery_id(r) == "throttled")
        .map(bus::sequence_number)
        .collect();
    assert_eq!(failures(&first[0]), throttled_seq);
    assert_eq!(metrics(&logs)[0]["RelayParked"], permanent.len());
    assert_eq!(metrics(&logs)[0]["RelayFailed"], 1);
    assert_eq!(metrics(&logs)[0]["Relayed"], permanent.len());

    proxy.accept("throttled");
    let again = retried(&records, &first[0]);
    assert_eq!(again.len(), 1);
    let (second, _) = parts
        .relay(&proxy.endpoint, &vars, &[bus::stream_event(&again)])
        .await;
    assert_eq!(failures(&second[0]), Vec::<String>::new());

    let arrived = parts.arrived().await;
    for (i, _) in permanent.iter().enumerate() {
        assert_eq!(arrived[&format!("n-{i}")].len(), 1, "n-{i}");
        assert!(!arrived.contains_key(&format!("perm-{i}")));
        assert_eq!(proxy.sent(&format!("perm-{i}")), 1, "perm-{i} was retried");
        assert_eq!(proxy.sent(&format!("n-{i}")), 1, "n-{i} was sent again");
    }
    assert_eq!(arrived["throttled"].len(), 1);
    assert_eq!(proxy.sent("throttled"), 2);

    let parked: BTreeMap<String, Value> = bus::drain(&parts.db.endpoint, &failed_queue)
        .await
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_str(m).unwrap();
            (v["deliveryId"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    assert_eq!(parked.len(), permanent.len());
    for (i, code) in permanent.iter().enumerate() {
        let m = &parked[&format!("perm-{i}")];
        assert_eq!(m["reason"], "refused");
        assert_eq!(m["errorCode"], *code);
        assert_eq!(
            m["errorMessage"],
            format!("{code}: why, in EventBridge's words")
        );
        assert_eq!(m["entry"]["deliveryId"], format!("perm-{i}"));
        assert_eq!(m["entry"]["source"], SOURCE);
        assert_eq!(m["entry"]["detail"]["body"], json!({"ok": true}));
        assert!(!m.to_string().contains(SECRET_KEY));
    }
    let logged_parked = logged(&logs, "parked on the failure queue");
    assert_eq!(logged_parked.len(), permanent.len());
    assert!(logged_parked.iter().all(|l| l["code"].is_string()));
}

#[tokio::test]
async fn a_200_character_topic_is_published_with_a_detail_type_that_fits() {
    let parts = Parts::start(WEEK).await;
    let uuid = "8f2b0c4e-1d3a-4b5c-9e6f-0a1b2c3d4e5f";
    let mut topic = format!("v2.detail.events.conversation.{uuid}.participant.{uuid}.wrapup.");
    topic.push_str(&"x".repeat(200 - topic.len()));
    assert_eq!(topic.chars().count(), 200);
    let topic: &'static str = topic.leak();
    let long = Delivery {
        topic: Some(topic),
        ..Delivery::plain("long-topic", br#"{"n":1}"#)
    };
    parts.record(&long, now()).await;
    let records = StreamReader::open(&parts.db, TABLE).await.next().await;
    let proxy = BusProxy::start(&parts.db.endpoint, &[]).await;

    let (answers, _) = parts
        .relay(&proxy.endpoint, &[], &[bus::stream_event(&records)])
        .await;

    assert_eq!(failures(&answers[0]), Vec::<String>::new());
    let arrived = parts.arrived().await;
    let event = &arrived["long-topic"][0];
    let detail_type = event["detail-type"].as_str().unwrap();
    assert!(detail_type.chars().count() <= 128, "{detail_type}");
    assert!(
        detail_type.starts_with("v2.detail.events.conversation.{id}.participant.{id}.wrapup.x"),
        "{detail_type}"
    );
    assert_eq!(event["detail"]["topic"], topic);
}

#[tokio::test]
async fn replay_tells_published_parked_and_not_found_apart() {
    let parts = Parts::start(WEEK).await;
    let failed_queue = bus::create_queue(&parts.db.endpoint, "failed").await;
    for id in ["ok", "bad"] {
        parts
            .record(&Delivery::plain(id, br#"{"r":1}"#), now())
            .await;
    }
    let proxy = BusProxy::start(&parts.db.endpoint, &[]).await;
    proxy.refuse("bad", "MalformedDetail", "Detail is malformed.");
    let replay = |args: &[&str]| {
        let mut all = vec!["--table", TABLE, "--bus", BUS];
        all.extend_from_slice(args);
        run(bus::replay(&parts.db.endpoint, &proxy.endpoint, &all))
    };

    let (code, stdout, stderr) = replay(&["--id", "ok", "--id", "bad", "--id", "nowhere"]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stdout.ends_with("found 2, published 1, parked 0, not found 1, failed 1\n"),
        "{stdout}"
    );
    assert!(
        stderr.contains("failed: bad: MalformedDetail: Detail is malformed.; no --failure-queue"),
        "{stderr}"
    );

    let (code, stdout, stderr) = replay(&[
        "--failure-queue",
        &failed_queue,
        "--id",
        "ok",
        "--id",
        "bad",
    ])
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.ends_with("found 2, published 1, parked 1, not found 0, failed 0\n"),
        "{stdout}"
    );
    assert!(stderr.contains("parked: bad: MalformedDetail"), "{stderr}");
    let parked = bus::drain(&parts.db.endpoint, &failed_queue).await;
    assert_eq!(parked.len(), 1);
    let m: Value = serde_json::from_str(&parked[0]).unwrap();
    assert_eq!(m["deliveryId"], "bad");
    assert_eq!(m["errorCode"], "MalformedDetail");
    assert_eq!(m["errorMessage"], "Detail is malformed.");
    assert_eq!(m["entry"]["detail"]["body"], json!({"r": 1}));
    assert_eq!(parts.arrived().await["ok"].len(), 2);

    let (code, stdout, _) = replay(&["--failure-queue", &failed_queue, "--id", "nowhere"]).await;
    assert_eq!(code, Some(1));
    assert!(
        stdout.ends_with("found 0, published 0, parked 0, not found 1, failed 0\n"),
        "{stdout}"
    );
}

/// Messages waiting, visible, on the queue at `url`.
async fn depth(endpoint: &str, url: &str) -> usize {
    let sqs = aws_sdk_sqs::Client::new(&support::sdk_config(endpoint).await);
    let got = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let attributes = got.attributes.unwrap_or_default();
    attributes[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
        .parse()
        .unwrap()
}

async fn send(endpoint: &str, url: &str, body: &str) {
    let sqs = aws_sdk_sqs::Client::new(&support::sdk_config(endpoint).await);
    sqs.send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

/// A CloudFormation stack in moto whose only purpose is its outputs.
fn create_stack(endpoint: &str, name: &str, outputs: &[(&str, &str)]) {
    let outputs: serde_json::Map<String, Value> = outputs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!({ "Value": v })))
        .collect();
    let template = json!({
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": format!("{name}-placeholder")}}},
        "Outputs": outputs,
    });
    let script = "import sys, boto3\n\
        cf = boto3.client('cloudformation', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                          aws_access_key_id='test', aws_secret_access_key='test')\n\
        cf.create_stack(StackName=sys.argv[2], TemplateBody=sys.argv[3])\n";
    let status =
        std::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .args(["-c", script, endpoint, name, &template.to_string()])
            .status()
            .expect("python3 with boto3 (moto's) creates the stack");
    assert!(status.success(), "the stack was not created");
}

#[tokio::test]
async fn redrive_puts_back_what_can_succeed_and_deletes_only_after_success() {
    let parts = Parts::start(WEEK).await;
    let failed_queue = bus::create_queue(&parts.db.endpoint, "failed").await;
    let partner_queue = bus::create_queue(&parts.db.endpoint, "partner").await;
    let moto = parts.db.endpoint.clone();

    // Two entries the bus refuses, parked by the relay itself.
    for id in ["park-me", "still-bad"] {
        parts
            .record(&Delivery::plain(id, br#"{"p":1}"#), now())
            .await;
    }
    let records = StreamReader::open(&parts.db, TABLE).await.next().await;
    let proxy = BusProxy::start(&moto, &[]).await;
    proxy.refuse("park-me", "InvalidArgument", "fixed later");
    proxy.refuse("still-bad", "MalformedDetail", "never taken");
    let (answers, _) = parts
        .relay(
            &proxy.endpoint,
            &[("FAILED_DELIVERIES_QUEUE_URL", failed_queue.as_str())],
            &[bus::stream_event(&records)],
        )
        .await;
    assert_eq!(failures(&answers[0]), Vec::<String>::new());
    let parked_detail = proxy
        .entries()
        .into_iter()
        .find(|e| e["Detail"].as_str().unwrap().contains("park-me"))
        .unwrap()["Detail"]
        .clone();
    assert!(parts.arrived().await.is_empty());

    // The other shapes the failure queue holds.
    let raw_event = include_str!("../events/eventbridge-user-presence.json");
    let inner = raw_event.replace("4cbedb0f-4dfd-4c8e-9e57-0acded092527", "async-event-1");
    let inner_compact = serde_json::from_str::<Value>(&inner).unwrap().to_string();
    let on_failure = format!(
        r#"{{"version":"1.0","timestamp":"2026-11-24T12:05:00.000Z","requestContext":{{"requestId":"r-1","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:webhook:$LATEST","condition":"RetriesExhausted","approximateInvokeCount":3}},"requestPayload":{inner_compact},"responseContext":{{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"}},"responsePayload":{{"errorType":"StoreUnavailable","errorMessage":"store unavailable"}}}}"#
    );
    let stream_record = r#"{"requestContext":{"requestId":"r-2","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:relay","condition":"RetryAttemptsExhausted","approximateInvokeCount":10},"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":"2026-11-24T12:10:00.000Z","DDBStreamBatchInfo":{"shardId":"shardId-1","startSequenceNumber":"100","endSequenceNumber":"200","approximateArrivalOfFirstRecord":"2026-11-24T12:00:04Z","approximateArrivalOfLastRecord":"2026-11-24T12:03:10Z","batchSize":2,"streamArn":"arn:aws:dynamodb:us-east-1:123456789012:table/deliveries/stream/1"}}"#;
    for body in [
        raw_event,
        on_failure.as_str(),
        stream_record,
        "not a message we know",
    ] {
        send(&moto, &failed_queue, body).await;
    }
    assert_eq!(depth(&moto, &failed_queue).await, 6);
    let flags = |partner: &str| {
        vec![
            "--failure-queue".to_owned(),
            failed_queue.clone(),
            "--partner-queue".into(),
            partner.to_owned(),
            "--bus".into(),
            BUS.into(),
        ]
    };
    // Runs redrive, checks its exit code and closing line, returns stderr.
    let redrive = |args: Vec<String>, want_code: i32, summary: &'static str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let running = run(bus::redrive(&moto, &proxy.endpoint, &args));
        async move {
            let (code, stdout, stderr) = running.await;
            assert_eq!(code, Some(want_code), "{stderr}");
            assert!(stdout.ends_with(&format!("{summary}\n")), "{stdout}");
            stderr
        }
    };

    // A dry run changes nothing.
    let mut dry = flags(&partner_queue);
    dry.push("--dry-run".into());
    let stderr = redrive(
        dry,
        0,
        "received 6, to the bus 2, to the partner queue 2, still refused 0, stream records 1, unknown 1, failed 0 (dry run)",
    )
    .await;
    assert!(
        stderr.contains("--from 2026-11-24T12:00:04Z --to 2026-11-24T12:03:10Z"),
        "{stderr}"
    );
    assert_eq!(depth(&moto, &failed_queue).await, 6);
    assert_eq!(depth(&moto, &partner_queue).await, 0);
    assert_eq!(proxy.entries().len(), 2);

    // The partner queue out of reach and the bus still refusing: nothing is
    // deleted.
    let missing = partner_queue.replace("/partner", "/missing");
    let stderr = redrive(
        flags(&missing),
        1,
        "received 6, to the bus 0, to the partner queue 0, still refused 2, stream records 1, unknown 1, failed 2",
    )
    .await;
    assert!(
        stderr.contains("still refused: InvalidArgument: fixed later"),
        "{stderr}"
    );
    assert_eq!(depth(&moto, &failed_queue).await, 6);

    // With the cause fixed, from the stack's outputs: each goes back once.
    proxy.accept("park-me");
    create_stack(
        &moto,
        "webhook",
        &[
            ("FailedDeliveriesQueueUrl", &failed_queue),
            ("PartnerEventsQueueUrl", &partner_queue),
            ("OutboxBusName", BUS),
        ],
    );
    redrive(
        vec!["--stack".into(), "webhook".into()],
        0,
        "received 6, to the bus 1, to the partner queue 2, still refused 1, stream records 1, unknown 1, failed 0",
    )
    .await;
    let arrived = parts.arrived().await;
    assert_eq!(arrived.keys().collect::<Vec<_>>(), ["park-me"]);
    assert_eq!(arrived["park-me"].len(), 1);
    let republished = proxy
        .entries()
        .into_iter()
        .rfind(|e| e["Detail"].as_str().unwrap().contains("park-me"))
        .unwrap();
    assert_eq!(proxy.sent("park-me"), 3);
    assert_eq!(republished["Detail"], parked_detail);
    assert_eq!(republished["Source"], SOURCE);
    let mut partner = bus::drain(&moto, &partner_queue).await;
    partner.sort();
    let mut want = vec![raw_event.to_owned(), inner_compact];
    want.sort();
    assert_eq!(partner, want);
    assert_eq!(depth(&moto, &failed_queue).await, 3);

    // Run again: nothing is put back twice; the stream record goes on request.
    let mut again = flags(&partner_queue);
    again.push("--delete-stream-records".into());
    redrive(
        again,
        0,
        "received 3, to the bus 0, to the partner queue 0, still refused 1, stream records 1, unknown 1, failed 0",
    )
    .await;
    assert!(parts.arrived().await.is_empty());
    assert!(bus::drain(&moto, &partner_queue).await.is_empty());
    let left = bus::drain(&moto, &failed_queue).await;
    assert_eq!(left.len(), 2);
    assert!(left.iter().any(|m| m.contains("still-bad")));
    assert!(left.contains(&"not a message we know".to_owned()));
}
