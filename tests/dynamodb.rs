//! The DynamoDB store against moto's DynamoDB server: exactly-once acceptance,
//! the item as outbox, and bounded failure when the store is gone.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use genesys_sign as sample;
use genesys_webhook::clock::unix_now as now;
use genesys_webhook::dedup::{DynamoStore, Record, Recorded, Store};
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::handler::Handler;
use genesys_webhook::verify::SchemeName;
use serde_json::{Value, json};
use support::{LocalDynamo, PATIENT, TIMEOUTS, dynamo_handler};

async fn handler_at(endpoint: &str, ttl: i64) -> Handler<DynamoStore> {
    dynamo_handler(endpoint, ttl, TIMEOUTS).await
}

fn event(body: &[u8], id: &str) -> Value {
    sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::ApiGatewayV2,
        body,
        Some(id),
        0,
    )
}

async fn status(h: &Handler<DynamoStore>, event: Value, at: i64) -> (u16, Value) {
    let reply = h.handle_at(&event.to_string(), at).await.unwrap();
    support::answer_of(&serde_json::to_value(reply).unwrap())
}

async fn get(
    db: &LocalDynamo,
    table: &str,
    id: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    db.client()
        .await
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn first_delivery_is_stored_with_exact_bytes_and_ttl_then_duplicates() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let h = handler_at(&db.endpoint, 86_400).await;
    let body = "{\"topicName\":\"v2.users.1.presence\",\"text\":\"Zoë ✓\"}\r\n".as_bytes();
    let at = now();

    let (code, answer) = status(&h, event(body, "d-1"), at).await;
    assert_eq!(
        (code, answer),
        (200, json!({"status": "accepted", "deliveryId": "d-1"}))
    );

    let item = get(&db, "deliveries", "d-1").await.expect("item written");
    assert_eq!(item["body"], AttributeValue::B(body.into()));
    assert_eq!(
        item["expires_at"],
        AttributeValue::N((at + 86_400).to_string())
    );
    assert_eq!(item["front_door"], AttributeValue::S("apigw-v2".into()));
    assert_eq!(item["scheme"], AttributeValue::S("genesys".into()));
    assert_eq!(
        item["topic"],
        AttributeValue::S("v2.users.1.presence".into())
    );
    // A collision is told from the held body itself, so no hash is stored.
    assert!(!item.contains_key("body_sha256"));
    let received = item["received_at"].as_s().unwrap();
    assert!(
        received.ends_with('Z') && received.contains('T'),
        "{received}"
    );

    let (code, answer) = status(&h, event(body, "d-1"), at + 5).await;
    assert_eq!(
        (code, answer),
        (200, json!({"status": "duplicate", "deliveryId": "d-1"}))
    );
    let again = get(&db, "deliveries", "d-1").await.unwrap();
    assert_eq!(
        again["expires_at"], item["expires_at"],
        "a duplicate never rewrites the item"
    );
}

#[tokio::test]
async fn an_expired_item_not_yet_deleted_lets_the_delivery_in_again() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let h = handler_at(&db.endpoint, 60).await;
    let at = now();
    assert_eq!(
        status(&h, event(b"{}", "d-2"), at).await.1["status"],
        "accepted"
    );
    assert_eq!(
        status(&h, event(b"{}", "d-2"), at + 60).await.1["status"],
        "duplicate"
    );
    assert_eq!(
        status(&h, event(b"{}", "d-2"), at + 61).await.1["status"],
        "accepted"
    );
    let item = get(&db, "deliveries", "d-2").await.unwrap();
    assert_eq!(
        item["expires_at"],
        AttributeValue::N((at + 121).to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_deliveries_of_twenty_ids_accept_exactly_twenty() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    // Several function instances, each with its own client, as on Lambda.
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(Arc::new(
            dynamo_handler(&db.endpoint, 86_400, PATIENT).await,
        ));
    }
    let at = now();
    let mut tasks = Vec::new();
    for n in 0..200 {
        let h = instances[n % instances.len()].clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("id-{}", n % 20);
            let body = format!("{{\"n\":{}}}", n % 20);
            status(&h, event(body.as_bytes(), &id), at).await
        }));
    }
    let (mut accepted, mut duplicate) = (0, 0);
    for t in tasks {
        let (code, answer) = t.await.unwrap();
        assert_eq!(code, 200, "{answer}");
        match answer["status"].as_str().unwrap() {
            "accepted" => accepted += 1,
            "duplicate" => duplicate += 1,
            other => panic!("{other}"),
        }
    }
    assert_eq!((accepted, duplicate), (20, 180));
    assert_eq!(db.count("deliveries").await, 20);
}

#[tokio::test]
async fn same_id_with_different_content_is_logged_as_a_collision() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let h = handler_at(&db.endpoint, 86_400).await;
    let logs = support::captured_logs();

    let at = now();
    assert_eq!(
        status(&h, event(b"{\"v\":\"first-body\"}", "d-3"), at)
            .await
            .1["status"],
        "accepted"
    );
    assert_eq!(
        status(&h, event(b"{\"v\":\"first-body\"}", "d-3"), at)
            .await
            .1["status"],
        "duplicate"
    );
    let collision = |l: &&str| l.contains("collision") && l.contains("d-3");
    assert!(
        !logs.text().lines().any(|l| collision(&l)),
        "{}",
        logs.text()
    );

    let (code, answer) = status(&h, event(b"{\"v\":\"second-body\"}", "d-3"), at).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("duplicate")));
    let text = logs.text();
    let line = text.lines().find(collision).expect("collision logged");
    assert!(line.contains("WARN"), "{line}");
    assert!(!text.contains("second-body") && !text.contains("first-body"));
    assert!(!text.contains(sample::TEST_SECRET));
    let item = get(&db, "deliveries", "d-3").await.unwrap();
    assert_eq!(
        item["body"],
        AttributeValue::B(b"{\"v\":\"first-body\"}".as_slice().into())
    );
}

#[tokio::test]
async fn a_refused_connection_is_503_store_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let h = handler_at(&format!("http://127.0.0.1:{port}"), 86_400).await;
    let (code, answer) = status(&h, event(b"{}", "d-4"), now()).await;
    assert_eq!((code, answer), (503, json!({"error": "store_unavailable"})));
}

#[tokio::test]
async fn a_store_that_accepts_and_never_answers_is_503_within_the_bound() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let h = handler_at(&endpoint, 86_400).await;
    let started = Instant::now();
    // Liveness, not speed: without the configured timeouts this never returns.
    let answered = tokio::time::timeout(
        Duration::from_secs(20),
        status(&h, event(b"{}", "d-5"), now()),
    )
    .await
    .expect("the store's time bound did not apply");
    assert_eq!(answered, (503, json!({"error": "store_unavailable"})));
    eprintln!(
        "hanging store answered after {:?} (bound {:?})",
        started.elapsed(),
        TIMEOUTS.operation
    );
    held.abort();
}

#[tokio::test]
async fn partner_events_are_recorded_and_a_store_failure_is_an_invocation_error() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let h = handler_at(&db.endpoint, 86_400).await;
    let detail = include_str!("../events/eventbridge-user-presence.json");
    let event: Value = serde_json::from_str(detail).unwrap();
    let reply =
        serde_json::to_value(h.handle_at(&event.to_string(), now()).await.unwrap()).unwrap();
    assert_eq!(
        reply,
        json!({"status": "accepted", "deliveryId": event["id"]})
    );
    let item = get(&db, "deliveries", event["id"].as_str().unwrap())
        .await
        .unwrap();
    let stored: Value = serde_json::from_slice(item["body"].as_b().unwrap().as_ref()).unwrap();
    assert_eq!(stored, event["detail"]);
    assert_eq!(item["front_door"], AttributeValue::S("eventbridge".into()));
    assert_eq!(
        item["topic"],
        AttributeValue::S(event["detail"]["topicName"].as_str().unwrap().into())
    );

    let gone = handler_at("http://127.0.0.1:9", 86_400).await;
    assert!(gone.handle_at(&event.to_string(), now()).await.is_err());
}

#[tokio::test]
async fn the_stream_carries_one_insert_per_accepted_delivery_with_its_body() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let h = handler_at(&db.endpoint, 86_400).await;
    let at = now();
    for (id, body) in [
        ("s-1", "{\"a\":1}"),
        ("s-2", "{\"a\":2}"),
        ("s-1", "{\"a\":1}"),
    ] {
        status(&h, event(body.as_bytes(), id), at).await;
    }

    let mut stream = support::bus::StreamReader::open(&db, "deliveries").await;
    let inserts: Vec<_> = stream
        .next()
        .await
        .into_iter()
        .map(|r| {
            let image = &r["dynamodb"]["NewImage"];
            let body = image["body"]["B"]
                .as_str()
                .map(|b| STANDARD.decode(b).unwrap());
            (
                r["eventName"].as_str().map(str::to_owned),
                image["pk"]["S"].as_str().map(str::to_owned),
                body,
            )
        })
        .collect();
    assert_eq!(
        inserts,
        vec![
            (
                Some("INSERT".into()),
                Some("s-1".into()),
                Some(b"{\"a\":1}".to_vec())
            ),
            (
                Some("INSERT".into()),
                Some("s-2".into()),
                Some(b"{\"a\":2}".to_vec())
            ),
        ]
    );
}

#[tokio::test]
async fn an_item_over_dynamodbs_limit_is_too_large_and_nothing_is_stored() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let sdk = db.sdk().await;
    let store = DynamoStore::new(&sdk, TIMEOUTS, "deliveries".into(), 86_400);
    let body = vec![b'a'; 410 * 1024];
    let record = Record {
        delivery_id: "d-big",
        body: &body,
        front_door: "apigw-v2",
        scheme: "genesys",
        topic: None,
        detail_type: None,
        integration: None,
        received_at: now(),
    };
    assert_eq!(store.record(&record).await.unwrap(), Recorded::TooLarge);
    assert_eq!(db.count("deliveries").await, 0);
}
