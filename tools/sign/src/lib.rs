//! Signed sample deliveries in every front door's envelope, as a sender and
//! AWS would produce them: for the `genesys-sign` tool, `events/`, the tests
//! and the benchmarks.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

pub mod cli;

use genesys_webhook::config::{Config, SecretSource};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use genesys_webhook::dedup::{MemoryStore, Record, Recorded, Store};
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::error::{ConfigError, ConfigErrors, StoreError};
use genesys_webhook::handler::Handler;
use genesys_webhook::secrets::{Secret, SecretSet, Secrets};
use genesys_webhook::verify::{
    DigitalChannels, Genesys, Keyring, Keys, LiveKeyring, OpenMessaging, SchemeName,
    StandardWebhooks, Timestamped,
};

/// The secret every file in `events/` is signed with. For testing only.
pub const TEST_SECRET: &str = "genesys-webhook-test-secret";
/// The same secret in the `whsec_<base64>` form standard-webhooks requires.
pub const TEST_SECRET_STANDARD: &str = "whsec_Z2VuZXN5cy13ZWJob29rLXRlc3Qtc2VjcmV0";
/// The Unix time the committed samples are signed at (2025-11-24T12:00:00Z).
pub const SAMPLE_TIME: i64 = 1_763_985_600;
/// The partner event source the samples use.
pub const PARTNER_SOURCE: &str =
    "aws.partner/genesys.com/cloud/bb14bed0-f8f9-445d-b9d1-10cecb8569d6/genesys-webhook";

/// The sample secret for `scheme`.
pub fn test_secret(scheme: SchemeName) -> &'static str {
    match scheme {
        SchemeName::StandardWebhooks => TEST_SECRET_STANDARD,
        _ => TEST_SECRET,
    }
}

/// The configuration the samples are signed for: `scheme` with the test
/// secret and the table `deliveries`, then `extra` settings over those.
pub fn config(scheme: SchemeName, extra: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let base = [
        ("SIGNATURE_SCHEME", scheme.as_str()),
        ("WEBHOOK_SECRET", test_secret(scheme)),
        ("DEDUP_TABLE", "deliveries"),
    ];
    Config::from_lookup(|k| {
        extra
            .iter()
            .chain(&base)
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
}

/// A handler for `config` (with its secrets inline) over `store`.
pub fn handler<S: Store>(config: &Config, store: S) -> Result<Handler<S>, ConfigError> {
    let SecretSource::Inline(secrets) = &config.secrets else {
        return Err(ConfigError::new(
            "WEBHOOK_SECRET",
            "samples need the secret inline",
        ));
    };
    let keyring = Keyring::new(&config.scheme, &SecretSet::Single(secrets.clone()))?;
    Ok(Handler::new(config, LiveKeyring::fixed(keyring), store))
}

/// A handler for `scheme` with the test secret and `extra` settings over an
/// in-memory store that remembers ids for the configured TTL.
pub fn memory_handler(scheme: SchemeName, extra: &[(&str, &str)]) -> Handler<MemoryStore> {
    let c = config(scheme, extra).expect("sample settings are valid");
    handler(&c, MemoryStore::new(c.ttl_seconds)).expect("the test secret is inline")
}

/// Accepts everything and keeps nothing, where the store is not what is
/// measured.
pub struct Accepting;

impl Store for Accepting {
    async fn record(&self, _: &Record<'_>) -> Result<Recorded, StoreError> {
        Ok(Recorded::Accepted)
    }
}

/// Drives a future that never waits, as a handler over [`Accepting`] is.
pub fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("nothing here waits"),
    }
}

/// About `size` bytes of JSON arrays nested `depth` deep, filled with small
/// arrays of numbers: the shape that costs a re-layout most.
pub fn nested_arrays(size: usize, depth: usize) -> Vec<u8> {
    let mut body = "[".repeat(depth).into_bytes();
    while body.len() + depth + 8 < size {
        body.extend_from_slice(b"[1,[2]],");
    }
    body.push(b'0');
    body.extend(std::iter::repeat_n(b']', depth));
    body
}

/// Every front door by the name the tool and `events/` use.
pub const DOORS: [(&str, FrontDoor); 6] = [
    ("apigw-v1", FrontDoor::ApiGatewayV1),
    ("apigw-v2", FrontDoor::ApiGatewayV2),
    ("function-url", FrontDoor::FunctionUrl),
    ("alb", FrontDoor::Alb { multi_value: false }),
    ("alb-multi-value", FrontDoor::Alb { multi_value: true }),
    ("eventbridge", FrontDoor::EventBridge),
];

pub fn door_named(name: &str) -> Option<FrontDoor> {
    DOORS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

pub fn door_name(door: FrontDoor) -> &'static str {
    DOORS
        .iter()
        .find(|(_, d)| *d == door)
        .map_or("unknown", |(n, _)| n)
}

/// The headers a sender using `scheme` puts on `body`. `delivery_id` becomes
/// `X-Genesys-Delivery-Id`, or `webhook-id` under standard-webhooks; under
/// open-messaging and digital-channels, whose senders send no id, it is left
/// out.
pub fn signed_headers(
    scheme: SchemeName,
    secret: &str,
    body: &[u8],
    delivery_id: Option<&str>,
    at: i64,
) -> Result<Vec<(String, String)>, ConfigError> {
    let secrets = Secrets {
        current: Secret::new(secret),
        previous: None,
    };
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("User-Agent".to_owned(), "Genesys-Cloud".to_owned()),
    ];
    let mut push = |k: &str, v: String| headers.push((k.to_owned(), v));
    match scheme {
        SchemeName::Genesys => push(
            "X-Genesys-Signature",
            Genesys::sign(&Keys::new(&secrets), body),
        ),
        SchemeName::OpenMessaging => {
            push(
                "X-Hub-Signature-256",
                OpenMessaging::sign(&Keys::new(&secrets), body),
            );
            return Ok(headers);
        }
        SchemeName::DigitalChannels => {
            push(
                "X-Hub-Signature",
                DigitalChannels::sign(&Keys::new(&secrets), body),
            );
            push(
                "X-B3-TraceId",
                "80f198ee56343ba864fe8b2a57d3eff7".to_owned(),
            );
            return Ok(headers);
        }
        SchemeName::Timestamped => push(
            "X-Genesys-Signature",
            Timestamped::sign(&Keys::new(&secrets), at, body),
        ),
        SchemeName::StandardWebhooks => {
            let id = delivery_id.unwrap_or("msg_sample");
            let keys = StandardWebhooks::keys(&secrets)?;
            push("webhook-id", id.to_owned());
            push("webhook-timestamp", at.to_string());
            push(
                "webhook-signature",
                StandardWebhooks::sign(&keys, id, at, body),
            );
            return Ok(headers);
        }
    }
    if let Some(id) = delivery_id {
        push("X-Genesys-Delivery-Id", id.to_owned());
    }
    Ok(headers)
}

/// `body` signed with the test secret under `scheme` at `at`, in the event
/// `door` would hand the function.
pub fn signed_event(
    scheme: SchemeName,
    door: FrontDoor,
    body: &[u8],
    delivery_id: Option<&str>,
    at: i64,
) -> Value {
    let headers = signed_headers(scheme, test_secret(scheme), body, delivery_id, at)
        .expect("the test secrets are valid for their schemes");
    wrap(door, &headers, body, false, at)
}

/// `body` with `headers` in the event `door` would hand the function. Bodies
/// that are not UTF-8 are always sent base64, as AWS does.
pub fn wrap(
    door: FrontDoor,
    headers: &[(String, String)],
    body: &[u8],
    base64: bool,
    at: i64,
) -> Value {
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) if !base64 => (text.to_owned(), false),
        _ => (STANDARD.encode(body), true),
    };
    let millis = at * 1000;
    let lower: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
        .collect();
    let as_sent: Map<String, Value> = headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let multi = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter().map(|(k, v)| (k.clone(), json!([v]))).collect()
    };
    match door {
        FrontDoor::ApiGatewayV1 => json!({
            "resource": "/webhooks/genesys",
            "path": "/webhooks/genesys",
            "httpMethod": "POST",
            "headers": as_sent,
            "multiValueHeaders": multi(&as_sent),
            "queryStringParameters": null,
            "multiValueQueryStringParameters": null,
            "pathParameters": null,
            "stageVariables": null,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "a1b2c3d4e5",
                "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                "httpMethod": "POST",
                "identity": {"sourceIp": "52.1.2.3", "userAgent": "Genesys-Cloud"},
                "path": "/prod/webhooks/genesys",
                "protocol": "HTTP/1.1",
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "requestTimeEpoch": millis,
                "resourceId": "r3s0u7",
                "resourcePath": "/webhooks/genesys",
                "stage": "prod"
            },
            "body": body,
            "isBase64Encoded": is_base64
        }),
        FrontDoor::ApiGatewayV2 | FrontDoor::FunctionUrl => {
            let url = door == FrontDoor::FunctionUrl;
            let (domain, route, stage) = if url {
                (
                    "xk3mq7zl2yzfgpbvmhwm5a4t2e0bdxnr.lambda-url.us-east-1.on.aws",
                    "$default",
                    "$default",
                )
            } else {
                (
                    "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                    "POST /webhooks/genesys",
                    "$default",
                )
            };
            json!({
                "version": "2.0",
                "routeKey": route,
                "rawPath": "/webhooks/genesys",
                "rawQueryString": "",
                "headers": lower,
                "requestContext": {
                    "accountId": if url { "anonymous" } else { "123456789012" },
                    "apiId": domain.split('.').next(),
                    "domainName": domain,
                    "domainPrefix": domain.split('.').next(),
                    "http": {
                        "method": "POST",
                        "path": "/webhooks/genesys",
                        "protocol": "HTTP/1.1",
                        "sourceIp": "52.1.2.3",
                        "userAgent": "Genesys-Cloud"
                    },
                    "requestId": "JKJaXmPLvHcESHA=",
                    "routeKey": route,
                    "stage": stage,
                    "timeEpoch": millis
                },
                "body": body,
                "isBase64Encoded": is_base64
            })
        }
        FrontDoor::Alb { multi_value } => {
            let mut event = json!({
                "requestContext": {"elb": {"targetGroupArn":
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/genesys-webhook/6d0ecf831eec9f09"}},
                "httpMethod": "POST",
                "path": "/webhooks/genesys",
                "body": body,
                "isBase64Encoded": is_base64
            });
            if multi_value {
                event["multiValueQueryStringParameters"] = json!({});
                event["multiValueHeaders"] = Value::Object(multi(&lower));
            } else {
                event["queryStringParameters"] = json!({});
                event["headers"] = Value::Object(lower);
            }
            event
        }
        FrontDoor::EventBridge => partner_event(
            &body,
            "00000000-0000-4000-8000-000000000000",
            PARTNER_SOURCE,
            at,
        ),
    }
}

/// A partner event whose `detail` is `detail_json`.
pub fn partner_event(detail_json: &str, id: &str, source: &str, at: i64) -> Value {
    let detail: Value =
        serde_json::from_str(detail_json).unwrap_or_else(|_| json!({"raw": detail_json}));
    let detail_type = detail
        .get("topicName")
        .and_then(Value::as_str)
        .unwrap_or("v2.detail.events")
        .to_owned();
    let time = genesys_webhook::outbox::timestamp(at);
    json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": [],
        "detail": detail
    })
}

/// How a sample differs from an honest delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Signed,
    /// Signed, then the body changed by one byte.
    Tampered,
    Unsigned,
    /// A partner event from a source outside the allowed prefix.
    ForeignSource,
}

/// One committed sample in `events/`.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub file: &'static str,
    pub door: FrontDoor,
    pub scheme: SchemeName,
    pub body: &'static str,
    pub base64: bool,
    pub delivery_id: Option<&'static str>,
    pub variant: Variant,
    /// `accepted`, or the error code the function answers.
    pub expect: &'static str,
}

const OUTBOUND: &str = include_str!("../../../events/bodies/open-messaging-outbound.json");
const ATTACHMENT: &str =
    include_str!("../../../events/bodies/open-messaging-outbound-attachment.json");
const RECEIPT: &str = include_str!("../../../events/bodies/open-messaging-receipt.json");
const NOTIFICATION: &str = include_str!("../../../events/bodies/notification-crlf.json");
const DIGITAL: &str = include_str!("../../../events/bodies/digital-channels-outgoing.json");
const INTERACTION: &str = include_str!("../../../events/bodies/digital-channels-interaction.json");

/// Genesys's own partner event sample, committed verbatim rather than generated.
pub const GENESYS_PARTNER_SAMPLE: &str = "eventbridge-user-presence.json";

const fn sample(
    file: &'static str,
    door: FrontDoor,
    scheme: SchemeName,
    body: &'static str,
    base64: bool,
    delivery_id: Option<&'static str>,
) -> Sample {
    Sample {
        file,
        door,
        scheme,
        body,
        base64,
        delivery_id,
        variant: Variant::Signed,
        expect: "accepted",
    }
}

const fn rejected(mut s: Sample, variant: Variant, expect: &'static str) -> Sample {
    s.variant = variant;
    s.expect = expect;
    s
}

use FrontDoor as D;
use SchemeName as S;

/// Everything in `events/` except [`GENESYS_PARTNER_SAMPLE`].
pub const CATALOG: &[Sample] = &[
    sample(
        "apigw-v1.genesys.json",
        D::ApiGatewayV1,
        S::Genesys,
        NOTIFICATION,
        false,
        Some("7e1c9b52-3a40-4d8e-9f61-0b2d4c6e8a01"),
    ),
    sample(
        "apigw-v1.genesys.base64.json",
        D::ApiGatewayV1,
        S::Genesys,
        NOTIFICATION,
        true,
        Some("7e1c9b52-3a40-4d8e-9f61-0b2d4c6e8a02"),
    ),
    sample(
        "apigw-v2.genesys.json",
        D::ApiGatewayV2,
        S::Genesys,
        NOTIFICATION,
        false,
        Some("7e1c9b52-3a40-4d8e-9f61-0b2d4c6e8a03"),
    ),
    sample(
        "apigw-v2.open-messaging.base64.json",
        D::ApiGatewayV2,
        S::OpenMessaging,
        ATTACHMENT,
        true,
        None,
    ),
    sample(
        "function-url.open-messaging.json",
        D::FunctionUrl,
        S::OpenMessaging,
        OUTBOUND,
        false,
        None,
    ),
    sample(
        "function-url.open-messaging.receipt.json",
        D::FunctionUrl,
        S::OpenMessaging,
        RECEIPT,
        false,
        None,
    ),
    sample(
        "alb.timestamped.json",
        D::Alb { multi_value: false },
        S::Timestamped,
        NOTIFICATION,
        false,
        Some("7e1c9b52-3a40-4d8e-9f61-0b2d4c6e8a04"),
    ),
    sample(
        "apigw-v2.timestamped.base64.json",
        D::ApiGatewayV2,
        S::Timestamped,
        OUTBOUND,
        true,
        Some("7e1c9b52-3a40-4d8e-9f61-0b2d4c6e8a05"),
    ),
    sample(
        "alb-multi-value.standard-webhooks.json",
        D::Alb { multi_value: true },
        S::StandardWebhooks,
        NOTIFICATION,
        false,
        Some("msg_2pVvJ9tXkQ3mW8rY5nB1cE7aL0"),
    ),
    sample(
        "apigw-v1.standard-webhooks.base64.json",
        D::ApiGatewayV1,
        S::StandardWebhooks,
        OUTBOUND,
        true,
        Some("msg_2pVvJ9tXkQ3mW8rY5nB1cE7aL1"),
    ),
    sample(
        "apigw-v1.digital-channels.json",
        D::ApiGatewayV1,
        S::DigitalChannels,
        DIGITAL,
        false,
        None,
    ),
    sample(
        "function-url.digital-channels.base64.json",
        D::FunctionUrl,
        S::DigitalChannels,
        INTERACTION,
        true,
        None,
    ),
    sample(
        "eventbridge.notification.json",
        D::EventBridge,
        S::Genesys,
        NOTIFICATION,
        false,
        Some("3f0b8e1d-6c2a-4f7e-b9d3-5a1c7e9f2b40"),
    ),
    rejected(
        sample(
            "apigw-v2.genesys.tampered.json",
            D::ApiGatewayV2,
            S::Genesys,
            NOTIFICATION,
            false,
            Some("7e1c9b52-3a40-4d8e-9f61-0b2d4c6e8a06"),
        ),
        Variant::Tampered,
        "invalid_signature",
    ),
    rejected(
        sample(
            "function-url.open-messaging.unsigned.json",
            D::FunctionUrl,
            S::OpenMessaging,
            OUTBOUND,
            false,
            None,
        ),
        Variant::Unsigned,
        "missing_signature",
    ),
    rejected(
        sample(
            "alb.digital-channels.tampered.json",
            D::Alb { multi_value: false },
            S::DigitalChannels,
            DIGITAL,
            false,
            None,
        ),
        Variant::Tampered,
        "invalid_signature",
    ),
    rejected(
        sample(
            "eventbridge.foreign-source.json",
            D::EventBridge,
            S::Genesys,
            NOTIFICATION,
            false,
            Some("3f0b8e1d-6c2a-4f7e-b9d3-5a1c7e9f2b41"),
        ),
        Variant::ForeignSource,
        "forbidden_source",
    ),
];

impl Sample {
    /// The sample's event, signed at `at` with the test secret.
    pub fn event(&self, at: i64) -> Result<Value, ConfigError> {
        if self.door == FrontDoor::EventBridge {
            let source = match self.variant {
                Variant::ForeignSource => "aws.partner/genesys.com.evil/cloud/x/y",
                _ => PARTNER_SOURCE,
            };
            return Ok(partner_event(
                self.body,
                self.delivery_id.unwrap_or_default(),
                source,
                at,
            ));
        }
        let body = self.body.as_bytes();
        let mut headers = signed_headers(
            self.scheme,
            test_secret(self.scheme),
            body,
            self.delivery_id,
            at,
        )?;
        if self.variant == Variant::Unsigned {
            headers.retain(|(k, _)| !k.to_ascii_lowercase().contains("signature"));
        }
        let sent = match self.variant {
            Variant::Tampered => self.body.replacen("\"2\"", "\"3\"", 1),
            _ => self.body.to_owned(),
        };
        Ok(wrap(self.door, &headers, sent.as_bytes(), self.base64, at))
    }

    /// The sample as committed: pretty JSON and a final newline.
    pub fn file_text(&self, at: i64) -> Result<String, ConfigError> {
        let mut text = serde_json::to_string_pretty(&self.event(at)?).unwrap_or_default();
        text.push('\n');
        Ok(text)
    }
}
