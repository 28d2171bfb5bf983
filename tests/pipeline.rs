//! The whole in-process pipeline, event JSON in → answer out, over the
//! in-memory store.

mod support;

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use genesys_sign::{self as sample, CATALOG, GENESYS_PARTNER_SAMPLE, SAMPLE_TIME, Variant};
use genesys_webhook::config::Config;
use genesys_webhook::dedup::{Record, Recorded, Store};
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::error::{InvocationError, StoreError};
use genesys_webhook::handler::Handler;
use genesys_webhook::secrets::SecretSet;
use genesys_webhook::verify::SchemeName;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn config(scheme: SchemeName, extra: &[(&str, &str)]) -> Config {
    sample::config(scheme, extra).unwrap()
}

/// (status, the JSON answer) `h` gives `event` at `now`, for HTTP and
/// partner answers alike.
async fn answer<S: Store>(h: &Handler<S>, event: &Value, now: i64) -> (u16, Value) {
    let answer = h.handle_at(&event.to_string(), now).await.unwrap();
    support::answer_of(&serde_json::to_value(answer).unwrap())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

#[tokio::test]
async fn every_file_in_events_gets_its_expected_answer() {
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let event: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if name == QUEUED_PARTNER_SAMPLE {
            queued_sample_is_recorded_once(&event).await;
            seen.insert(name);
            continue;
        }
        let (scheme, expect) = if name == GENESYS_PARTNER_SAMPLE {
            (SchemeName::Genesys, "accepted")
        } else {
            let s = CATALOG
                .iter()
                .find(|s| s.file == name)
                .unwrap_or_else(|| panic!("{name} is not in the sample catalog"));
            (s.scheme, s.expect)
        };
        let h = sample::memory_handler(scheme, &[]);
        let (_, body) = answer(&h, &event, SAMPLE_TIME).await;
        assert_eq!(support::verdict(&body), expect, "{name}");
        let stored = h.store().len();
        assert_eq!(stored, usize::from(expect == "accepted"), "{name}");
        if expect == "accepted" {
            let (_, again) = answer(&h, &event, SAMPLE_TIME + 1).await;
            assert_eq!(support::verdict(&again), "duplicate", "{name}");
        }
        seen.insert(name);
    }
    let mut want: BTreeSet<String> = CATALOG.iter().map(|s| s.file.to_owned()).collect();
    want.insert(GENESYS_PARTNER_SAMPLE.to_owned());
    want.insert(QUEUED_PARTNER_SAMPLE.to_owned());
    assert_eq!(seen, want);
}

/// Genesys's partner event sample as the partner queue hands it over.
const QUEUED_PARTNER_SAMPLE: &str = "sqs-partner-user-presence.json";

/// The queued sample is acknowledged and recorded, and acknowledged again as
/// a duplicate without a second item.
async fn queued_sample_is_recorded_once(event: &Value) {
    let h = sample::memory_handler(SchemeName::Genesys, &[]);
    for at in [SAMPLE_TIME, SAMPLE_TIME + 1] {
        let reply = h.handle_at(event.to_string(), at).await.unwrap();
        let reply = serde_json::to_value(reply).unwrap();
        assert_eq!(reply, json!({"batchItemFailures": []}));
        assert_eq!(h.store().len(), 1);
    }
}

#[test]
fn events_are_in_sync_with_the_signing_tool() {
    for s in CATALOG {
        let on_disk = std::fs::read_to_string(events_dir().join(s.file)).unwrap();
        assert!(
            on_disk == s.file_text(SAMPLE_TIME).unwrap(),
            "events/{} is stale: run `cargo run --bin genesys-sign -- events events`",
            s.file
        );
    }
}

#[tokio::test]
async fn every_door_and_scheme_plain_and_base64_round_trips() {
    let bodies: [&[u8]; 3] = [
        b"{\"id\":\"1\",\"text\":\"Gr\xc3\xbc\xc3\x9fe \xe2\x9c\x93\"}\r\n",
        b"",
        b"\xff\xfe binary \x00",
    ];
    for scheme in SchemeName::ALL {
        for (name, door) in sample::DOORS {
            if door == FrontDoor::EventBridge {
                continue;
            }
            for body in bodies {
                for b64 in [false, true] {
                    let headers = sample::signed_headers(
                        scheme,
                        sample::test_secret(scheme),
                        body,
                        Some("msg_1"),
                        SAMPLE_TIME,
                    )
                    .unwrap();
                    let event = sample::wrap(door, &headers, body, b64, SAMPLE_TIME);
                    let h = sample::memory_handler(scheme, &[]);
                    let (status, reply) = answer(&h, &event, SAMPLE_TIME).await;
                    let what = format!("{scheme:?} {name} base64={b64} body={body:?}");
                    assert_eq!(
                        (status, support::verdict(&reply)),
                        (200, "accepted".into()),
                        "{what}"
                    );
                    let id = match scheme {
                        SchemeName::OpenMessaging | SchemeName::DigitalChannels => {
                            format!("sha256:{}", sha256_hex(body))
                        }
                        _ => "msg_1".to_owned(),
                    };
                    assert_eq!(h.store().get(&id).unwrap().body, body, "{what}");
                }
            }
        }
    }
}

#[tokio::test]
async fn header_casing_does_not_matter() {
    let body = b"{\"id\":\"1\"}";
    let sig =
        sample::signed_headers(SchemeName::Genesys, sample::TEST_SECRET, body, None, 0).unwrap();
    let (_, value) = sig
        .iter()
        .find(|(k, _)| k == "X-Genesys-Signature")
        .unwrap();
    for name in [
        "x-genesys-signature",
        "X-GENESYS-SIGNATURE",
        "x-GeNeSyS-sIgNaTuRe",
    ] {
        let event = sample::wrap(
            FrontDoor::ApiGatewayV1,
            &[(name.to_owned(), value.clone())],
            body,
            false,
            0,
        );
        let (status, _) =
            answer(&sample::memory_handler(SchemeName::Genesys, &[]), &event, 0).await;
        assert_eq!(status, 200, "{name}");
    }
}

#[tokio::test]
async fn cross_scheme_replay_is_rejected() {
    let body = b"{\"id\":\"1\"}";
    let h = sample::memory_handler(SchemeName::Timestamped, &[]);
    for scheme in [
        SchemeName::Genesys,
        SchemeName::OpenMessaging,
        SchemeName::StandardWebhooks,
    ] {
        let event = sample::signed_event(scheme, FrontDoor::ApiGatewayV2, body, None, SAMPLE_TIME);
        let (status, _) = answer(&h, &event, SAMPLE_TIME).await;
        assert_eq!(status, 401, "{scheme:?}");
    }
    // A captured timestamped signature offered as a body-only one, where the
    // signed message `{t}.{body}` is passed off as the body.
    let t = SAMPLE_TIME.to_string();
    let mut message = t.clone().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    let captured = sample::signed_headers(
        SchemeName::Timestamped,
        sample::TEST_SECRET,
        body,
        None,
        SAMPLE_TIME,
    )
    .unwrap();
    let sig = captured
        .iter()
        .find(|(k, _)| k == "X-Genesys-Signature")
        .unwrap()
        .1
        .clone();
    let digest = sig.rsplit("s=").next().unwrap().to_owned();
    let event = sample::wrap(
        FrontDoor::ApiGatewayV2,
        &[("X-Genesys-Signature".into(), digest)],
        &message,
        false,
        SAMPLE_TIME,
    );
    let genesys = sample::memory_handler(SchemeName::Genesys, &[]);
    let (status, _) = answer(&genesys, &event, SAMPLE_TIME).await;
    assert_eq!(
        status, 200,
        "the body-only scheme accepts what it was given, as designed"
    );
    let (status, _) = answer(&h, &event, SAMPLE_TIME).await;
    assert_eq!(status, 401, "but the timestamped deployment never does");
    assert!(h.store().is_empty());
}

#[tokio::test]
async fn stale_timestamps_are_401_stale_timestamp() {
    let event = sample::signed_event(
        SchemeName::Timestamped,
        FrontDoor::FunctionUrl,
        b"{}",
        None,
        SAMPLE_TIME,
    );
    let h = sample::memory_handler(SchemeName::Timestamped, &[]);
    let (status, body) = answer(&h, &event, SAMPLE_TIME + 301).await;
    assert_eq!((status, body), (401, json!({"error": "stale_timestamp"})));
}

#[tokio::test]
async fn rotation_through_the_handler() {
    let h = sample::memory_handler(
        SchemeName::Genesys,
        &[
            ("WEBHOOK_SECRET", "new-secret"),
            ("WEBHOOK_SECRET_PREVIOUS", sample::TEST_SECRET),
        ],
    );
    let by_old = sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::ApiGatewayV2,
        b"{\"a\":1}",
        None,
        0,
    );
    let (status, _) = answer(&h, &by_old, 0).await;
    assert_eq!(status, 200);
    let headers =
        sample::signed_headers(SchemeName::Genesys, "new-secret", b"{\"a\":2}", None, 0).unwrap();
    let by_new = sample::wrap(FrontDoor::ApiGatewayV2, &headers, b"{\"a\":2}", false, 0);
    let (status, _) = answer(&h, &by_new, 0).await;
    assert_eq!(status, 200);
    let headers =
        sample::signed_headers(SchemeName::Genesys, "retired", b"{\"a\":3}", None, 0).unwrap();
    let by_retired = sample::wrap(FrontDoor::ApiGatewayV2, &headers, b"{\"a\":3}", false, 0);
    let (status, _) = answer(&h, &by_retired, 0).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn delivery_id_rules() {
    let body: &[u8] = b"{\"id\":\"same\",\"type\":\"Text\"}";
    let receipt: &[u8] = b"{\"id\":\"same\",\"type\":\"Receipt\"}";
    let h = sample::memory_handler(SchemeName::OpenMessaging, &[]);
    for b in [body, receipt] {
        let event = sample::signed_event(
            SchemeName::OpenMessaging,
            FrontDoor::FunctionUrl,
            b,
            None,
            0,
        );
        let (_, reply) = answer(&h, &event, 0).await;
        let id = format!("sha256:{}", sha256_hex(b));
        assert_eq!(reply, json!({"status": "accepted", "deliveryId": id}));
    }

    let h = sample::memory_handler(SchemeName::Genesys, &[]);
    let event = sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::ApiGatewayV1,
        body,
        Some("abc-1"),
        0,
    );
    let (_, reply) = answer(&h, &event, 0).await;
    assert_eq!(reply["deliveryId"], "abc-1");

    let h = sample::memory_handler(
        SchemeName::Genesys,
        &[("DELIVERY_ID_HEADER", "X-Request-Id")],
    );
    let mut headers =
        sample::signed_headers(SchemeName::Genesys, sample::TEST_SECRET, body, None, 0).unwrap();
    headers.push(("x-request-id".into(), "custom-7".into()));
    let event = sample::wrap(FrontDoor::ApiGatewayV2, &headers, body, false, 0);
    let (_, reply) = answer(&h, &event, 0).await;
    assert_eq!(reply["deliveryId"], "custom-7");

    let h = sample::memory_handler(SchemeName::StandardWebhooks, &[]);
    let event = sample::signed_event(
        SchemeName::StandardWebhooks,
        FrontDoor::ApiGatewayV2,
        body,
        Some("msg_42"),
        0,
    );
    let (_, reply) = answer(&h, &event, 0).await;
    assert_eq!(reply["deliveryId"], "msg_42");

    let h = sample::memory_handler(SchemeName::Genesys, &[]);
    let long = "x".repeat(257);
    let event = sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::ApiGatewayV2,
        body,
        Some(&long),
        0,
    );
    let (status, reply) = answer(&h, &event, 0).await;
    assert_eq!(
        (status, reply),
        (400, json!({"error": "malformed_request"}))
    );
    assert!(h.store().is_empty());
}

#[tokio::test]
async fn an_added_id_header_cannot_record_an_open_messaging_delivery_twice() {
    let body: &[u8] = b"{\"id\":\"m-1\",\"type\":\"Text\",\"text\":\"hi\"}";
    let h = sample::memory_handler(SchemeName::OpenMessaging, &[]);
    let hash_id = format!("sha256:{}", sha256_hex(body));
    let signed = sample::signed_headers(
        SchemeName::OpenMessaging,
        sample::TEST_SECRET,
        body,
        None,
        0,
    )
    .unwrap();
    let mut outcomes = Vec::new();
    for added in [None, Some("replay-1"), Some("replay-2")] {
        let mut headers = signed.clone();
        if let Some(id) = added {
            headers.push(("X-Genesys-Delivery-Id".into(), id.into()));
        }
        let event = sample::wrap(FrontDoor::FunctionUrl, &headers, body, false, 0);
        let (status, reply) = answer(&h, &event, 0).await;
        assert_eq!((status, &reply["deliveryId"]), (200, &json!(hash_id)));
        outcomes.push(reply["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(outcomes, ["accepted", "duplicate", "duplicate"]);
    assert_eq!(h.store().len(), 1);
}

#[tokio::test]
async fn oversize_and_bad_base64_answers() {
    let h = sample::memory_handler(SchemeName::Genesys, &[("MAX_BODY_BYTES", "1024")]);
    let big = vec![b'a'; 1025];
    for b64 in [false, true] {
        let headers =
            sample::signed_headers(SchemeName::Genesys, sample::TEST_SECRET, &big, None, 0)
                .unwrap();
        let event = sample::wrap(FrontDoor::ApiGatewayV2, &headers, &big, b64, 0);
        let (status, reply) = answer(&h, &event, 0).await;
        assert_eq!(
            (status, reply),
            (413, json!({"error": "payload_too_large"})),
            "base64={b64}"
        );
    }
    let mut event = sample::signed_event(
        SchemeName::Genesys,
        FrontDoor::Alb { multi_value: false },
        b"{}",
        None,
        0,
    );
    event["isBase64Encoded"] = json!(true);
    event["body"] = json!("not base64!");
    let (status, reply) = answer(&h, &event, 0).await;
    assert_eq!(
        (status, reply),
        (400, json!({"error": "malformed_request"}))
    );
    assert!(h.store().is_empty());
}

#[tokio::test]
async fn unknown_events_are_invocation_errors_and_the_handler_keeps_serving() {
    let h = sample::memory_handler(SchemeName::Genesys, &[]);
    for event in [
        json!(null),
        json!(42),
        json!("text"),
        json!([]),
        json!({}),
        json!({"Records": []}),
    ] {
        let err = h.handle_at(&event.to_string(), 0).await.unwrap_err();
        assert!(matches!(err, InvocationError::UnknownEvent), "{event}");
    }
    let event = sample::signed_event(SchemeName::Genesys, FrontDoor::ApiGatewayV2, b"{}", None, 0);
    let (status, _) = answer(&h, &event, 0).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn partner_events_from_other_sources_are_never_stored() {
    let h = sample::memory_handler(SchemeName::Genesys, &[]);
    for source in [
        "aws.partner/genesys.com.evil/cloud/x/y",
        "aws.partner/genesys.co/cloud/x/y",
        "custom.genesys",
        "",
    ] {
        let event = sample::partner_event("{\"a\":1}", "e-1", source, 0);
        let (_, reply) = answer(&h, &event, 0).await;
        assert_eq!(
            reply,
            json!({"status": "rejected", "reason": "forbidden_source"}),
            "{source}"
        );
    }
    assert!(h.store().is_empty());
    let event = sample::partner_event("{\"topicName\":\"t\"}", "e-1", sample::PARTNER_SOURCE, 0);
    let (_, reply) = answer(&h, &event, 0).await;
    assert_eq!(reply, json!({"status": "accepted", "deliveryId": "e-1"}));
    assert_eq!(h.store().get("e-1").unwrap().body, b"{\"topicName\":\"t\"}");
}

#[tokio::test]
async fn same_id_different_content_is_a_duplicate() {
    let h = sample::memory_handler(SchemeName::Genesys, &[]);
    for body in [b"{\"v\":1}", b"{\"v\":2}"] {
        let event = sample::signed_event(
            SchemeName::Genesys,
            FrontDoor::ApiGatewayV2,
            body,
            Some("id-1"),
            0,
        );
        h.handle_at(&event.to_string(), 0).await.unwrap();
    }
    assert_eq!(h.store().get("id-1").unwrap().body, b"{\"v\":1}");
}

/// A store that is down: what the handler does when DynamoDB cannot answer.
struct DownStore;

impl Store for DownStore {
    async fn record(&self, _: &Record<'_>) -> Result<Recorded, StoreError> {
        Err(StoreError("connection refused".into()))
    }
}

#[tokio::test]
async fn store_down_is_503_with_retry_after_or_an_invocation_error() {
    let c = config(SchemeName::Genesys, &[("RETRY_AFTER_SECONDS", "9")]);
    let h = sample::handler(&c, DownStore).unwrap();
    let event = sample::signed_event(SchemeName::Genesys, FrontDoor::ApiGatewayV2, b"{}", None, 0);
    let reply = serde_json::to_value(h.handle_at(&event.to_string(), 0).await.unwrap()).unwrap();
    assert_eq!(reply["statusCode"], 503);
    assert_eq!(reply["headers"]["retry-after"], "9");
    assert_eq!(
        reply["body"],
        json!({"error": "store_unavailable"}).to_string()
    );

    let event = sample::partner_event("{}", "e-1", sample::PARTNER_SOURCE, 0);
    assert!(matches!(
        h.handle_at(&event.to_string(), 0).await,
        Err(InvocationError::Store(_))
    ));
}

#[test]
fn tampered_sample_differs_from_the_signed_body() {
    let s = CATALOG
        .iter()
        .find(|s| s.variant == Variant::Tampered)
        .unwrap();
    let event = s.event(SAMPLE_TIME).unwrap();
    assert_ne!(event["body"].as_str().unwrap(), s.body);
}

#[test]
fn base64_samples_really_are_base64() {
    for s in CATALOG.iter().filter(|s| s.base64) {
        let event = s.event(SAMPLE_TIME).unwrap();
        assert_eq!(event["isBase64Encoded"], true, "{}", s.file);
        let decoded = STANDARD.decode(event["body"].as_str().unwrap()).unwrap();
        assert_eq!(decoded, s.body.as_bytes(), "{}", s.file);
    }
}

#[test]
fn secrets_never_show_in_debug_output() {
    let c = config(SchemeName::Genesys, &[]);
    assert!(!format!("{c:?}").contains(sample::TEST_SECRET));
    let s = SecretSet::from_secret_string(sample::TEST_SECRET).unwrap();
    assert!(!format!("{s:?}").contains(sample::TEST_SECRET));
}

/// A store that can never hold the delivery, as DynamoDB refuses an item over
/// 400 KB.
struct FullStore;

impl Store for FullStore {
    async fn record(&self, _: &Record<'_>) -> Result<Recorded, StoreError> {
        Ok(Recorded::TooLarge)
    }
}

#[tokio::test]
async fn an_item_the_store_can_never_hold_is_final_413_not_503() {
    let c = config(SchemeName::Genesys, &[]);
    let h = sample::handler(&c, FullStore).unwrap();
    let event = sample::signed_event(SchemeName::Genesys, FrontDoor::ApiGatewayV2, b"{}", None, 0);
    let (status, body) = answer(&h, &event, 0).await;
    assert_eq!((status, body), (413, json!({"error": "payload_too_large"})));
    // A partner event is never refused into the void: an invocation error on
    // the EventBridge door, a listed message on the partner queue.
    let event = sample::partner_event("{}", "e-1", sample::PARTNER_SOURCE, 0);
    let refused = h.handle_at(event.to_string(), 0).await;
    assert!(
        matches!(&refused, Err(InvocationError::PartnerRefused(r)) if r.code.as_str() == "payload_too_large"),
        "{refused:?}"
    );
    let queued = json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs",
                                     "body": event.to_string()}]});
    let reply = serde_json::to_value(h.handle_at(queued.to_string(), 0).await.unwrap()).unwrap();
    assert_eq!(
        reply,
        json!({"batchItemFailures": [{"itemIdentifier": "m-1"}]})
    );
}

#[tokio::test]
async fn the_source_allowlist_is_checked_on_every_http_door_and_never_trusts_the_client() {
    let allow = [("ALLOWED_SOURCE_CIDRS", "52.0.0.0/8, 2600:1f18::/32")];
    let h = sample::memory_handler(SchemeName::Genesys, &allow);
    let outside = |door: FrontDoor, ip: &str| {
        let body = format!(r#"{{"door":"{door:?}"}}"#);
        let mut e = sample::signed_event(SchemeName::Genesys, door, body.as_bytes(), None, 0);
        match door {
            FrontDoor::ApiGatewayV1 => e["requestContext"]["identity"]["sourceIp"] = json!(ip),
            FrontDoor::Alb { .. } => {
                e["headers"]["x-forwarded-for"] = json!(format!("52.1.1.1, {ip}"))
            }
            _ => e["requestContext"]["http"]["sourceIp"] = json!(ip),
        }
        e
    };
    for door in [
        FrontDoor::ApiGatewayV1,
        FrontDoor::ApiGatewayV2,
        FrontDoor::FunctionUrl,
        FrontDoor::Alb { multi_value: false },
    ] {
        // The client put an allowed address first; only the door's own counts.
        let (status, reply) = answer(&h, &outside(door, "9.9.9.9"), 0).await;
        assert_eq!(
            (status, reply),
            (403, json!({"error": "forbidden_source"})),
            "{door:?}"
        );
        let (status, _) = answer(&h, &outside(door, "2600:1f18::7"), 0).await;
        assert_eq!(status, 200, "{door:?} from an allowed IPv6 address");
    }
    assert_eq!(h.store().len(), 4);
    // No address at all is outside a non-empty allowlist.
    let mut e = sample::signed_event(SchemeName::Genesys, FrontDoor::ApiGatewayV2, b"{}", None, 0);
    e["requestContext"]["http"]
        .as_object_mut()
        .unwrap()
        .remove("sourceIp");
    assert_eq!(answer(&h, &e, 0).await.0, 403);
    // Partner events are not affected.
    let event = sample::partner_event("{}", "e-1", sample::PARTNER_SOURCE, 0);
    assert_eq!(answer(&h, &event, 0).await.1["status"], "accepted");
}

/// The `reason` each kind of mismatch leaves in the delivery's log line,
/// through the whole handler. The caller gets only the code.
#[tokio::test]
async fn every_mismatch_is_logged_with_its_reason() {
    let logs = support::captured_logs();
    let body: &[u8] = b"{\"type\":\"Text\",\"text\":\"reason-test\"}";
    let at = SAMPLE_TIME;
    let signed = |scheme, secret: &str, signed_body: &[u8], t| {
        sample::signed_headers(scheme, secret, signed_body, Some("msg_r"), t).unwrap()
    };
    let hex = {
        let h = signed(SchemeName::Genesys, sample::TEST_SECRET, body, at);
        h.into_iter()
            .map(|(k, v)| match k.as_str() {
                "X-Genesys-Signature" => ("X-Hub-Signature-256".to_owned(), v),
                _ => (k, v),
            })
            .collect::<Vec<_>>()
    };
    let pretty =
        serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(body).unwrap()).unwrap();
    /// Pinned scheme, extra settings, headers sent, answer code, logged reason.
    type ReasonCase<'a> = (
        SchemeName,
        &'a [(&'a str, &'a str)],
        Vec<(String, String)>,
        &'a str,
        &'a str,
    );
    let cases: [ReasonCase; 6] = [
        (
            SchemeName::OpenMessaging,
            &[],
            hex,
            "invalid_signature",
            "digest is hex where open-messaging expects base64; it matches once decoded",
        ),
        (
            SchemeName::Genesys,
            &[],
            signed(SchemeName::Genesys, sample::TEST_SECRET, &pretty, at),
            "invalid_signature",
            "matches the body re-serialized (pretty-printed, keys sorted): something between \
             Genesys and AWS re-stringified the JSON",
        ),
        (
            SchemeName::Genesys,
            &[("WEBHOOK_SECRET", "genesys-webhook-test-secret \n")],
            signed(SchemeName::Genesys, sample::TEST_SECRET, body, at),
            "invalid_signature",
            "matches the secret with surrounding whitespace removed: a pasted secret",
        ),
        (
            SchemeName::Timestamped,
            &[],
            signed(SchemeName::Genesys, sample::TEST_SECRET, body, at),
            "invalid_signature",
            "matches under genesys (x-genesys-signature), but this deployment pins timestamped",
        ),
        (
            SchemeName::Timestamped,
            &[],
            signed(SchemeName::Timestamped, sample::TEST_SECRET, body, at - 612),
            "stale_timestamp",
            "timestamp 612 s in the past, tolerance 300 s",
        ),
        (
            SchemeName::Genesys,
            &[],
            signed(SchemeName::Genesys, "another-secret", body, at),
            "invalid_signature",
            "no secret matches",
        ),
    ];
    for (scheme, extra, headers, code, reason) in cases {
        let h = sample::memory_handler(scheme, extra);
        let event = sample::wrap(FrontDoor::ApiGatewayV2, &headers, body, false, at);
        let (status, answer) = answer(&h, &event, at).await;
        assert_eq!((status, answer), (401, json!({"error": code})), "{reason}");
        let logged = format!("{code} ({reason})");
        assert!(
            logs.text().contains(&logged),
            "{logged:?} not in the log:\n{}",
            logs.text()
        );
    }
    assert!(!logs.text().contains("reason-test"));
}
