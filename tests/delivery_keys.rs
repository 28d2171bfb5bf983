//! Delivery ids are kept per integration: one id under two integrations is
//! two deliveries, the same id twice under one is a duplicate, and a
//! single-secret deployment keys items by the bare id as before. Through the
//! handler, in memory and against moto's DynamoDB.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use genesys_sign as sample;
use genesys_webhook::clock::unix_now as now;
use genesys_webhook::dedup::{DynamoStore, MemoryStore, Store};
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::handler::Handler;
use genesys_webhook::outbox::{self, OutboxItem};
use genesys_webhook::secrets::SecretSet;
use genesys_webhook::verify::{Keyring, LiveKeyring, SchemeName};
use serde_json::{Value, json};
use support::{LocalDynamo, TIMEOUTS, answer_of, sdk_config};

const SALES: &str = "sales-secret-value-0123";
const SUPPORT: &str = "support-secret-value-0123";

/// A handler for `scheme` serving the integrations `sales` and `support`.
fn handler<S: Store>(scheme: SchemeName, store: S) -> Handler<S> {
    let config = sample::config(scheme, &[]).unwrap();
    let secret = json!({"integrations": {
        "sales": {"current": SALES},
        "support": {"current": SUPPORT},
    }});
    let secrets = SecretSet::from_secret_string(&secret.to_string()).unwrap();
    let keyring = Keyring::new(&config.scheme, &secrets).unwrap();
    Handler::new(&config, LiveKeyring::fixed(keyring), store)
}

/// `body` signed with `secret` to the integration `name`'s webhook URL.
fn delivery(scheme: SchemeName, name: &str, secret: &str, body: &[u8], id: Option<&str>) -> Value {
    let headers = sample::signed_headers(scheme, secret, body, id, now()).unwrap();
    let mut event = sample::wrap(FrontDoor::FunctionUrl, &headers, body, false, now());
    event["rawPath"] = json!(format!("/webhooks/genesys/{name}"));
    event
}

async fn answer<S: Store>(h: &Handler<S>, event: Value) -> (u16, Value) {
    let reply = h.handle_at(event.to_string(), now()).await.unwrap();
    answer_of(&serde_json::to_value(reply).unwrap())
}

/// Open Messaging's id is the body's hash, which anyone can compute: the
/// holder of one integration's secret must not claim it for another.
async fn one_body_under_two_integrations<S: Store>(h: &Handler<S>) -> String {
    let scheme = SchemeName::OpenMessaging;
    let body = br#"{"id":"m-1","type":"Receipt","status":"Delivered"}"#;
    let (code, first) = answer(h, delivery(scheme, "sales", SALES, body, None)).await;
    assert_eq!((code, first["status"].as_str()), (200, Some("accepted")));
    let id = first["deliveryId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sha256:"), "{id}");
    let (code, second) = answer(h, delivery(scheme, "support", SUPPORT, body, None)).await;
    assert_eq!(
        (code, second),
        (200, json!({"status": "accepted", "deliveryId": id}))
    );
    let (code, again) = answer(h, delivery(scheme, "sales", SALES, body, None)).await;
    assert_eq!(
        (code, again),
        (200, json!({"status": "duplicate", "deliveryId": id}))
    );
    id
}

/// A delivery-id header that two integrations both send.
async fn one_header_id_under_two_integrations<S: Store>(h: &Handler<S>) {
    let scheme = SchemeName::Genesys;
    let id = Some("d-shared");
    for (name, secret, body) in [
        ("sales", SALES, b"{\"n\":1}"),
        ("support", SUPPORT, b"{\"n\":2}"),
    ] {
        let (_, a) = answer(h, delivery(scheme, name, secret, body, id)).await;
        assert_eq!(a, json!({"status": "accepted", "deliveryId": "d-shared"}));
    }
    let (_, a) = answer(h, delivery(scheme, "support", SUPPORT, b"{\"n\":2}", id)).await;
    assert_eq!(a["status"], "duplicate");
}

#[tokio::test]
async fn in_memory_one_id_under_two_integrations_is_two_deliveries() {
    let h = handler(SchemeName::OpenMessaging, MemoryStore::new(86_400));
    let id = one_body_under_two_integrations(&h).await;
    assert_eq!(h.store().len(), 2);
    for name in ["sales", "support"] {
        assert!(h.store().get(&format!("{name}/{id}")).is_some(), "{name}");
    }
    assert!(h.store().get(&id).is_none());

    let h = handler(SchemeName::Genesys, MemoryStore::new(86_400));
    one_header_id_under_two_integrations(&h).await;
    assert_eq!(h.store().len(), 2);
}

#[tokio::test]
async fn in_dynamodb_one_id_under_two_integrations_is_two_items_read_back_bare() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let store = |sdk| DynamoStore::new(&sdk, TIMEOUTS, "deliveries".into(), 86_400);
    let h = handler(
        SchemeName::OpenMessaging,
        store(sdk_config(&db.endpoint).await),
    );
    let id = one_body_under_two_integrations(&h).await;
    assert_eq!(db.count("deliveries").await, 2);
    let client = db.client().await;
    for name in ["sales", "support"] {
        let item = client
            .get_item()
            .table_name("deliveries")
            .key(
                outbox::DELIVERY_ID,
                AttributeValue::S(format!("{name}/{id}")),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("no item for {name}"));
        let read = OutboxItem::from_sdk(item).unwrap();
        assert_eq!(read.delivery_id, id, "the relay publishes the bare id");
        assert_eq!(read.integration.as_deref(), Some(name));
    }

    let h = handler(SchemeName::Genesys, store(sdk_config(&db.endpoint).await));
    one_header_id_under_two_integrations(&h).await;
    assert_eq!(db.count("deliveries").await, 4);
}

#[tokio::test]
async fn a_single_secret_deployment_keys_items_by_the_bare_id() {
    let db = LocalDynamo::start().await;
    db.create_table("deliveries").await;
    let h = support::dynamo_handler(&db.endpoint, 86_400, TIMEOUTS).await;
    let event = sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::FunctionUrl,
        b"{}",
        Some("d-1"),
        now(),
    );
    assert_eq!(answer(&h, event.clone()).await.1["status"], "accepted");
    assert_eq!(answer(&h, event).await.1["status"], "duplicate");
    let item = db
        .client()
        .await
        .get_item()
        .table_name("deliveries")
        .key(outbox::DELIVERY_ID, AttributeValue::S("d-1".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item;
    assert!(item.is_some_and(|i| !i.contains_key(outbox::INTEGRATION)));
}
