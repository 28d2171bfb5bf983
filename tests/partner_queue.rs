//! Partner events by way of the partner queue, against moto's SQS and
//! DynamoDB: recorded, failed store writes listed by `messageId`, a foreign
//! source acknowledged and not stored, and a refused event moved whole to the
//! failure queue by the queue's own redrive policy. And the EventBridge
//! door's refusals, which are now invocation errors.

mod support;

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use bytes::Bytes;
use genesys_sign as sample;
use genesys_webhook::clock::unix_now as now;
use genesys_webhook::dedup::DynamoStore;
use genesys_webhook::handler::Handler;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Value, json};
use support::bus::{LocalServer, aws_request, forward, respond, serve_http};
use support::runtime_api::{Running, RuntimeApi, function};
use support::{LocalDynamo, TIMEOUTS, dynamo_handler, sdk_config};

const FOREIGN: &str = "aws.partner/genesys.com.evil/cloud/x/y";

/// A partner event as the partner rule puts it on the queue: the event's JSON.
fn partner_event(id: &str, source: &str, detail: &str) -> String {
    sample::partner_event(detail, id, source, now()).to_string()
}

/// A batch as an SQS event source mapping hands it to the function.
fn batch(messages: &[(&str, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| sqs_record(id, "handle", body, json!({})))
        .collect();
    json!({ "Records": records })
}

fn sqs_record(message_id: &str, receipt: &str, body: &str, attributes: Value) -> Value {
    json!({"messageId": message_id, "receiptHandle": receipt, "body": body,
           "attributes": attributes, "messageAttributes": {}, "md5OfBody": "",
           "eventSource": "aws:sqs",
           "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:partner", "awsRegion": "us-east-1"})
}

/// The message ids a batch answer lists.
fn listed(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("a batch answer expected, got {answer}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

async fn answer(h: &Handler<DynamoStore>, event: &Value) -> Value {
    let reply = h.handle_at(event.to_string(), now()).await.unwrap();
    serde_json::to_value(reply).unwrap()
}

async fn item(
    db: &LocalDynamo,
    id: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    let got = db.client().await.get_item().table_name("deliveries");
    let got = got
        .key("pk", AttributeValue::S(id.into()))
        .consistent_read(true);
    got.send().await.unwrap().item
}

#[tokio::test]
async fn queued_partner_events_are_recorded_and_a_foreign_source_acknowledged() {
    let logs = support::captured_logs();
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let h = dynamo_handler(&db.endpoint, 86_400, TIMEOUTS).await;
    let presence = include_str!("../events/eventbridge-user-presence.json");
    let presence_id = "4cbedb0f-4dfd-4c8e-9e57-0acded092527";
    let event = batch(&[
        ("m-presence", presence.to_owned()),
        ("m-foreign", partner_event("e-foreign", FOREIGN, "{}")),
        ("m-not-json", "not an event".to_owned()),
        ("m-again", presence.to_owned()),
    ]);

    assert_eq!(listed(&answer(&h, &event).await), ["m-not-json"]);
    assert_eq!(db.count("deliveries").await, 1);
    let stored = item(&db, presence_id)
        .await
        .expect("the partner event is recorded");
    assert_eq!(
        stored["front_door"],
        AttributeValue::S("partner-queue".into())
    );
    assert_eq!(stored["scheme"], AttributeValue::S("partner-source".into()));
    let body: Value = serde_json::from_slice(stored["body"].as_b().unwrap().as_ref()).unwrap();
    let sent: Value = serde_json::from_str(presence).unwrap();
    assert_eq!(body, sent["detail"]);
    assert!(item(&db, "e-foreign").await.is_none());

    let text = logs.text();
    for (message_id, outcome) in [
        ("m-presence", "accepted"),
        ("m-foreign", "rejected"),
        ("m-not-json", "rejected"),
        ("m-again", "duplicate"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("\"message_id\":\"{message_id}\"")))
            .unwrap_or_else(|| panic!("no line for {message_id}"));
        let line: Value = serde_json::from_str(line).unwrap();
        assert_eq!(line["outcome"], outcome, "{message_id}");
        assert_eq!(line["front_door"], "partner-queue", "{message_id}");
    }
}

#[tokio::test]
async fn every_message_whose_store_write_failed_is_listed() {
    support::captured_logs();
    let db = LocalDynamo::start().await;
    let messages: Vec<(&str, String)> = ["m-1", "m-2", "m-3"]
        .into_iter()
        .map(|m| {
            (
                m,
                partner_event(&format!("e{m}"), sample::PARTNER_SOURCE, "{}"),
            )
        })
        .collect();
    // No table: every write fails, and every message is listed rather than
    // the invocation failing.
    let h = dynamo_handler(&db.endpoint, 86_400, TIMEOUTS).await;
    assert_eq!(
        listed(&answer(&h, &batch(&messages)).await),
        ["m-1", "m-2", "m-3"]
    );

    db.create_table("deliveries").await;
    let proxy = failing_writes(&db.endpoint, &["e-fail"]).await;
    let h = dynamo_handler(&proxy.endpoint, 86_400, TIMEOUTS).await;
    let event = batch(&[
        (
            "m-ok-1",
            partner_event("e-ok-1", sample::PARTNER_SOURCE, "{}"),
        ),
        (
            "m-fail",
            partner_event("e-fail", sample::PARTNER_SOURCE, "{}"),
        ),
        (
            "m-ok-2",
            partner_event("e-ok-2", sample::PARTNER_SOURCE, "{}"),
        ),
    ]);
    assert_eq!(listed(&answer(&h, &event).await), ["m-fail"]);
    assert!(item(&db, "e-ok-1").await.is_some());
    assert!(item(&db, "e-ok-2").await.is_some());
    assert!(item(&db, "e-fail").await.is_none());
}

/// A proxy in front of moto's DynamoDB that answers a `PutItem` naming one of
/// the given delivery ids with a 500, and passes everything else on.
async fn failing_writes(upstream: &str, fail: &[&str]) -> LocalServer {
    let upstream: SocketAddr = upstream.trim_start_matches("http://").parse().unwrap();
    let fail: Arc<HashSet<String>> = Arc::new(fail.iter().map(|s| s.to_string()).collect());
    serve_http(move |req| fail_or_forward(upstream, fail.clone(), req)).await
}

async fn fail_or_forward(
    upstream: SocketAddr,
    fail: Arc<HashSet<String>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body, put) = aws_request(req, "DynamoDB_20120810.PutItem").await;
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = request["Item"]["pk"]["S"].as_str().unwrap_or_default();
    if put && fail.contains(id) {
        let error = json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                           "message": "refused by the test proxy"});
        return Ok(respond(500, Bytes::from(error.to_string())));
    }
    let (status, answer) = forward(upstream, &parts, body).await;
    Ok(respond(status, answer))
}

/// The function's binary with a 1 KiB body limit, over moto's table.
async fn spawn_function(api: &RuntimeApi, db: &LocalDynamo) -> Running {
    Running::start(&mut function(
        api,
        &[
            ("SIGNATURE_SCHEME", "genesys"),
            ("WEBHOOK_SECRET", sample::TEST_SECRET),
            ("DEDUP_TABLE", "deliveries"),
            ("MAX_BODY_BYTES", "1024"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &db.endpoint),
        ],
    ))
}

#[tokio::test]
async fn a_partner_event_refused_for_size_moves_whole_to_the_failure_queue() {
    const RECEIVES: u32 = 3;
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&db.endpoint).await);
    let failed = support::bus::create_queue(&db.endpoint, "failed").await;
    let failed_arn = sqs
        .get_queue_attributes()
        .queue_url(&failed)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let redrive = json!({"deadLetterTargetArn": failed_arn, "maxReceiveCount": RECEIVES});
    let partner = sqs
        .create_queue()
        .queue_name("partner")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        // A failed message is visible again at once, so the test need not wait.
        .attributes(QueueAttributeName::VisibilityTimeout, "0")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    let large = partner_event(
        "e-large",
        sample::PARTNER_SOURCE,
        &json!({"pad": "p".repeat(2_000)}).to_string(),
    );
    let small = partner_event("e-small", sample::PARTNER_SOURCE, "{\"a\":1}");
    for body in [&large, &small] {
        sqs.send_message()
            .queue_url(&partner)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let api = RuntimeApi::start().await;
    let child = spawn_function(&api, &db).await;
    // As a mapping does: receive, invoke, delete what the answer does not list.
    let mut invocations = 0;
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&partner)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        assert!(invocations < 10, "the message never left the partner queue");
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                    .collect();
                sqs_record(
                    m.message_id().unwrap(),
                    m.receipt_handle().unwrap(),
                    m.body().unwrap(),
                    Value::Object(attributes),
                )
            })
            .collect();
        let answer = api
            .invoke(json!({ "Records": records }))
            .await
            .expect("a batch is answered, not failed");
        invocations += 1;
        let listed = listed(&answer);
        for m in &messages {
            if !listed.iter().any(|id| Some(id.as_str()) == m.message_id()) {
                let handle = m.receipt_handle().unwrap();
                sqs.delete_message()
                    .queue_url(&partner)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    let log = child.output().await;

    assert_eq!(invocations, RECEIVES, "{log}");
    assert_eq!(support::bus::drain(&db.endpoint, &failed).await, [large]);
    assert!(item(&db, "e-small").await.is_some(), "{log}");
    assert_eq!(db.count("deliveries").await, 1);
    let refusals = log
        .lines()
        .filter(|l| l.contains("payload_too_large"))
        .count();
    assert_eq!(refusals, RECEIVES as usize, "{log}");
}

#[tokio::test]
async fn the_eventbridge_door_refuses_into_an_invocation_error_except_a_foreign_source() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let api = RuntimeApi::start().await;
    let child = spawn_function(&api, &db).await;
    let event =
        |id: &str, source: &str, detail: &str| sample::partner_event(detail, id, source, now());

    let large = event(
        "e-large",
        sample::PARTNER_SOURCE,
        &json!({"pad": "p".repeat(2_000)}).to_string(),
    );
    let mut no_id = event("e-1", sample::PARTNER_SOURCE, "{}");
    no_id.as_object_mut().unwrap().remove("id");
    for (refused, reason) in [(large, "payload_too_large"), (no_id, "malformed_request")] {
        let error = api.invoke(refused).await.expect_err(reason);
        assert_eq!(error["errorType"], "PartnerEventRefused", "{error}");
        assert!(
            error["errorMessage"].as_str().unwrap().contains(reason),
            "{error}"
        );
    }
    let foreign = api.invoke(event("e-2", FOREIGN, "{}")).await.unwrap();
    assert_eq!(
        foreign,
        json!({"status": "rejected", "reason": "forbidden_source"})
    );
    let accepted = api
        .invoke(event("e-3", sample::PARTNER_SOURCE, "{}"))
        .await
        .unwrap();
    assert_eq!(accepted, json!({"status": "accepted", "deliveryId": "e-3"}));
    let log = child.output().await;
    assert_eq!(db.count("deliveries").await, 1, "{log}");
}

#[tokio::test]
async fn a_batch_larger_than_the_mapping_sends_is_written_whole() {
    support::captured_logs();
    let h = sample::memory_handler(genesys_webhook::verify::SchemeName::Genesys, &[]);
    let ids: Vec<String> = (0..25).map(|i| format!("m-{i}")).collect();
    let messages: Vec<(&str, String)> = ids
        .iter()
        .map(|m| {
            let body = partner_event(&format!("e{m}"), sample::PARTNER_SOURCE, "{}");
            (m.as_str(), body)
        })
        .collect();
    let reply = h.handle_at(batch(&messages).to_string(), now()).await;
    let reply = serde_json::to_value(reply.unwrap()).unwrap();
    assert!(listed(&reply).is_empty(), "{reply}");
    assert_eq!(h.store().len(), 25);
}
