//! Hostile input: a catalogue of events an attacker or a broken proxy could
//! send, each with its defined answer. None panics and none is stored; no
//! secret, signature value or body reaches a log line.

mod support;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use genesys_sign::{self as sample, CATALOG, SAMPLE_TIME};
use genesys_webhook::config::Config;
use genesys_webhook::dedup::MemoryStore;
use genesys_webhook::envelope::FrontDoor;
use genesys_webhook::error::InvocationError;
use genesys_webhook::verify::SchemeName;
use serde_json::{Value, json};

const NOW: i64 = SAMPLE_TIME;
const BODY: &[u8] =
    b"{\"topicName\":\"v2.users.1.presence\",\"secretish\":\"Z\xc3\xb6e-body-marker\"}";

/// What a case must be answered with.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    /// HTTP status and error code.
    Http(u16, &'static str),
    /// A partner event's rejection reason.
    Partner(&'static str),
    /// A partner event refused into an invocation error, so Lambda's
    /// on-failure destination keeps it whole.
    PartnerError(&'static str),
    /// An invocation error: the event is not from any front door.
    Invocation,
    /// Not even JSON the runtime could hand over (its own error).
    Unparseable,
}

const BAD_SIG: Want = Want::Http(401, "invalid_signature");
const MISSING: Want = Want::Http(401, "missing_signature");
const MALFORMED: Want = Want::Http(400, "malformed_request");
const TOO_LARGE: Want = Want::Http(413, "payload_too_large");

/// The body limit the size cases run under: small, so the events stay small.
const SMALL_LIMIT: usize = 1024;

/// One hostile event, the deployment it meets, and the answer it must get.
struct Case {
    name: String,
    scheme: SchemeName,
    /// `MAX_BODY_BYTES`; `None` keeps the default.
    max_body: Option<usize>,
    /// Text rather than JSON, so a case can be what the runtime cannot parse.
    event: String,
    want: Want,
}

impl Case {
    fn new(name: impl Into<String>, scheme: SchemeName, event: Value, want: Want) -> Self {
        Self::text(name, scheme, event.to_string(), want)
    }

    fn text(name: impl Into<String>, scheme: SchemeName, event: String, want: Want) -> Self {
        Self {
            name: name.into(),
            scheme,
            max_body: None,
            event,
            want,
        }
    }

    fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = Some(bytes);
        self
    }
}

fn config(scheme: SchemeName, max_body: Option<usize>) -> Config {
    let max_body = max_body.map(|m| m.to_string());
    let extra: Vec<(&str, &str)> = max_body
        .iter()
        .map(|m| ("MAX_BODY_BYTES", m.as_str()))
        .collect();
    sample::config(scheme, &extra).unwrap()
}

fn headers(scheme: SchemeName, body: &[u8]) -> Vec<(String, String)> {
    sample::signed_headers(
        scheme,
        sample::test_secret(scheme),
        body,
        Some("msg_1"),
        NOW,
    )
    .unwrap()
}

fn signed(scheme: SchemeName, door: FrontDoor) -> Value {
    sample::wrap(door, &headers(scheme, BODY), BODY, false, NOW)
}

fn with_header(scheme: SchemeName, name: &str, value: Value) -> Value {
    let mut e = signed(scheme, FrontDoor::ApiGatewayV2);
    e["headers"][name] = value;
    e
}

fn signature_value(scheme: SchemeName) -> String {
    let name = match scheme {
        SchemeName::OpenMessaging => "x-hub-signature-256",
        SchemeName::StandardWebhooks => "webhook-signature",
        SchemeName::DigitalChannels => "x-hub-signature",
        _ => "x-genesys-signature",
    };
    signed(scheme, FrontDoor::ApiGatewayV2)["headers"][name]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The hex digest of the Genesys signature of `BODY`, without its prefix.
fn genesys_digest() -> String {
    signature_value(SchemeName::Genesys)
        .trim_start_matches("sha256=")
        .to_owned()
}

fn catalogue() -> Vec<Case> {
    [
        header_cases(),
        body_cases(),
        timestamp_cases(),
        standard_webhooks_cases(),
        open_messaging_cases(),
        digital_channels_cases(),
        forged_cost_cases(),
        size_cases(),
        partner_event_cases(),
        not_event_cases(),
        signature_header_rules(),
        header_map_limit_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn header_cases() -> Vec<Case> {
    use SchemeName::Genesys;
    let hex = signature_value(Genesys);
    let digest = genesys_digest();
    let signature = |value: Value| with_header(Genesys, "x-genesys-signature", value);

    let mut many = signed(Genesys, FrontDoor::ApiGatewayV2);
    many["headers"]["x-genesys-signature"] = json!("sha256=00");
    for i in 0..2000 {
        many["headers"][format!("x-junk-{i}")] = json!("v".repeat(50));
    }
    let mut dup = signed(Genesys, FrontDoor::ApiGatewayV1);
    dup["multiValueHeaders"]["X-Genesys-Signature"] = json!([hex.clone(), hex.clone()]);
    let mut dup_case = signed(Genesys, FrontDoor::ApiGatewayV1);
    dup_case["multiValueHeaders"]["x-genesys-signature"] = json!(["sha256=00"]);
    let mut empty_list = signed(Genesys, FrontDoor::Alb { multi_value: true });
    empty_list["multiValueHeaders"]["x-genesys-signature"] = json!([]);
    let mut map_is_string = signed(Genesys, FrontDoor::ApiGatewayV2);
    map_is_string["headers"] = json!("x-genesys-signature: a");

    vec![
        Case::new(
            "signature header of 10 KB",
            Genesys,
            signature(json!("a".repeat(10_000))),
            BAD_SIG,
        ),
        Case::new(
            "signature header of 4097 bytes",
            Genesys,
            signature(json!(format!("sha256={}", "0".repeat(4090)))),
            BAD_SIG,
        ),
        Case::new(
            "two thousand junk headers and a bad signature",
            Genesys,
            many,
            BAD_SIG,
        ),
        Case::new(
            "signature header twice in multiValueHeaders",
            Genesys,
            dup,
            BAD_SIG,
        ),
        Case::new(
            "signature header in two casings",
            Genesys,
            dup_case,
            BAD_SIG,
        ),
        Case::new(
            "empty multi-value signature list",
            Genesys,
            empty_list,
            MISSING,
        ),
        Case::new(
            "non-ASCII signature header",
            Genesys,
            signature(json!("sha256=ÿÿ")),
            BAD_SIG,
        ),
        Case::new(
            "control character in a header",
            Genesys,
            signature(json!("sha256=\u{0}abc")),
            BAD_SIG,
        ),
        Case::new("header map is a string", Genesys, map_is_string, MALFORMED),
        Case::new(
            "empty signature header",
            Genesys,
            signature(json!("")),
            MISSING,
        ),
        Case::new("prefix only", Genesys, signature(json!("sha256=")), BAD_SIG),
        Case::new(
            "space inside the digest",
            Genesys,
            signature(json!(format!("sha256= {digest}"))),
            BAD_SIG,
        ),
        Case::new(
            "digest of 31 bytes",
            Genesys,
            signature(json!(&digest[..62])),
            BAD_SIG,
        ),
        Case::new(
            "digest of 33 bytes",
            Genesys,
            signature(json!(format!("{digest}00"))),
            BAD_SIG,
        ),
        Case::new(
            "digest in URL-safe base64",
            Genesys,
            signature(json!(URL_SAFE.encode([0xfb; 32]))),
            BAD_SIG,
        ),
        Case::new(
            "sha1 prefix",
            Genesys,
            signature(json!(format!("sha1={digest}"))),
            BAD_SIG,
        ),
        Case::new(
            "two digests comma-joined",
            Genesys,
            signature(json!(format!("{hex},{hex}"))),
            BAD_SIG,
        ),
        Case::new(
            "delivery id of 300 bytes",
            Genesys,
            with_header(Genesys, "x-genesys-delivery-id", json!("i".repeat(300))),
            MALFORMED,
        ),
        Case::new(
            "non-ASCII delivery id",
            Genesys,
            with_header(Genesys, "x-genesys-delivery-id", json!("id-ü")),
            MALFORMED,
        ),
    ]
}

fn body_cases() -> Vec<Case> {
    use SchemeName::Genesys;
    let mut cases = Vec::new();

    let mut swapped = signed(Genesys, FrontDoor::ApiGatewayV2);
    swapped["body"] = json!("{\"topicName\":\"forged\"}");
    cases.push(Case::new("signed body swapped", Genesys, swapped, BAD_SIG));
    let mut null_body = signed(Genesys, FrontDoor::ApiGatewayV1);
    null_body["body"] = Value::Null;
    cases.push(Case::new("body null", Genesys, null_body, BAD_SIG));
    let mut number_body = signed(Genesys, FrontDoor::ApiGatewayV2);
    number_body["body"] = json!(12345);
    cases.push(Case::new(
        "body is a number",
        Genesys,
        number_body,
        MALFORMED,
    ));
    let mut bom = signed(Genesys, FrontDoor::ApiGatewayV2);
    bom["body"] = json!(format!("\u{feff}{}", String::from_utf8_lossy(BODY)));
    cases.push(Case::new("byte-order mark added", Genesys, bom, BAD_SIG));

    let b64 = STANDARD.encode(BODY);
    for (name, body) in [
        (
            "base64 with a newline",
            format!("{}\n{}", &b64[..8], &b64[8..]),
        ),
        (
            "base64 with a space",
            format!("{} {}", &b64[..4], &b64[4..]),
        ),
        ("base64 padded twice", format!("{b64}==")),
        (
            "base64 in the URL-safe alphabet",
            URL_SAFE.encode([0xfb, 0xff, 0xfe, 0x3e, 0x3f, 0x00]),
        ),
        ("base64 truncated", b64[..b64.len() - 1].to_owned()),
        (
            "base64 with a data: prefix",
            format!("data:application/json;base64,{b64}"),
        ),
    ] {
        let mut e = signed(Genesys, FrontDoor::FunctionUrl);
        e["isBase64Encoded"] = json!(true);
        e["body"] = json!(body);
        cases.push(Case::new(name, Genesys, e, MALFORMED));
    }

    let mut flagged_plain = signed(Genesys, FrontDoor::ApiGatewayV2);
    flagged_plain["isBase64Encoded"] = json!(true);
    cases.push(Case::new(
        "plain body flagged base64",
        Genesys,
        flagged_plain,
        MALFORMED,
    ));
    let mut flag_string = signed(Genesys, FrontDoor::ApiGatewayV2);
    flag_string["isBase64Encoded"] = json!("yes");
    cases.push(Case::new(
        "base64 flag is a string",
        Genesys,
        flag_string,
        MALFORMED,
    ));
    cases
}

fn timestamp_cases() -> Vec<Case> {
    use SchemeName::{Genesys, Timestamped};
    let signature = |value: String| with_header(Timestamped, "x-genesys-signature", json!(value));
    let sig = signature_value(Timestamped);
    let s = sig.split(",s=").nth(1).unwrap().to_owned();

    let mut cases: Vec<Case> = [
        ("timestamp with a plus sign", format!("t=+{NOW},s={s}")),
        ("negative timestamp", format!("t=-{NOW},s={s}")),
        ("decimal timestamp", format!("t={NOW}.5,s={s}")),
        (
            "timestamp overflowing i64",
            format!("t=99999999999999999999999,s={s}"),
        ),
        ("timestamp in milliseconds", format!("t={}000,s={s}", NOW)),
        ("timestamp in hex", format!("t=0x{NOW:x},s={s}")),
        ("empty timestamp", format!("t=,s={s}")),
        ("timestamp twice", format!("t={NOW},t={NOW},s={s}")),
        ("no timestamp", format!("s={s}")),
        ("timestamp but no signature", format!("t={NOW}")),
        (
            "body-only signature under timestamped",
            signature_value(Genesys),
        ),
        (
            "nine signatures, the real one last",
            format!(
                "t={NOW},{},s={s}",
                vec![format!("s={}", "0".repeat(64)); 8].join(",")
            ),
        ),
        ("a 3000-entry header of commas", ",".repeat(3000)),
    ]
    .into_iter()
    .map(|(name, value)| Case::new(name, Timestamped, signature(value), BAD_SIG))
    .collect();

    cases.push(Case::new(
        "hundreds of signatures",
        Timestamped,
        signature(format!("t={NOW},{}", vec![format!("s={s}"); 300].join(","))),
        BAD_SIG,
    ));
    cases.push(Case::new(
        "timestamp an hour ahead",
        Timestamped,
        sample::wrap(
            FrontDoor::ApiGatewayV2,
            &sample::signed_headers(Timestamped, sample::TEST_SECRET, BODY, None, NOW + 3600)
                .unwrap(),
            BODY,
            false,
            NOW,
        ),
        Want::Http(401, "stale_timestamp"),
    ));
    cases
}

fn standard_webhooks_cases() -> Vec<Case> {
    use SchemeName::StandardWebhooks;
    let sw = signature_value(StandardWebhooks);
    let zeros = format!("v1,{}", STANDARD.encode([0u8; 32]));
    let header = |name: &str, value: Value| with_header(StandardWebhooks, name, value);

    vec![
        Case::new(
            "hundreds of v1 signatures",
            StandardWebhooks,
            header("webhook-signature", json!(vec![sw.clone(); 300].join(" "))),
            BAD_SIG,
        ),
        Case::new(
            "nine v1 signatures, the real one last",
            StandardWebhooks,
            header(
                "webhook-signature",
                json!(format!("{} {sw}", vec![zeros; 8].join(" "))),
            ),
            BAD_SIG,
        ),
        Case::new(
            "webhook-id changed",
            StandardWebhooks,
            header("webhook-id", json!("msg_2")),
            BAD_SIG,
        ),
        Case::new(
            "webhook-timestamp in milliseconds",
            StandardWebhooks,
            header("webhook-timestamp", json!(format!("{NOW}000"))),
            BAD_SIG,
        ),
        Case::new(
            "webhook-signature without version",
            StandardWebhooks,
            header("webhook-signature", json!(sw.trim_start_matches("v1,"))),
            BAD_SIG,
        ),
    ]
}

fn open_messaging_cases() -> Vec<Case> {
    use SchemeName::OpenMessaging;
    vec![Case::new(
        "open-messaging hex digest",
        OpenMessaging,
        with_header(
            OpenMessaging,
            "x-hub-signature-256",
            json!(format!("sha256={}", genesys_digest())),
        ),
        BAD_SIG,
    )]
}

/// Every HTTP door, by the name the signing kit gives it.
fn http_doors() -> impl Iterator<Item = (&'static str, FrontDoor)> {
    sample::DOORS
        .into_iter()
        .filter(|(_, d)| *d != FrontDoor::EventBridge)
}

/// A digital-channels delivery of `BODY` through `door` that fails: signed
/// with another key, carrying the body's HMAC-SHA256 in the SHA-1 header,
/// without the header, or with the body changed after signing.
fn digital_channels_forgeries(door: FrontDoor) -> Vec<(&'static str, Value, Want)> {
    use SchemeName::DigitalChannels;
    let with = |value: Option<String>, body: &[u8]| {
        let mut headers = headers(DigitalChannels, BODY);
        headers.retain(|(k, _)| k != "X-Hub-Signature");
        headers.extend(value.map(|v| ("X-Hub-Signature".to_owned(), v)));
        sample::wrap(door, &headers, body, false, NOW)
    };
    let wrong_key = sample::signed_headers(DigitalChannels, "another-app-secret", BODY, None, NOW)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "X-Hub-Signature")
        .map(|(_, v)| v);
    let tampered = String::from_utf8_lossy(BODY).replace("presence", "presents");
    vec![
        ("signed with another key", with(wrong_key, BODY), BAD_SIG),
        (
            "a SHA-256 digest in the SHA-1 header",
            with(Some(format!("sha1={}", genesys_digest())), BODY),
            BAD_SIG,
        ),
        ("no X-Hub-Signature", with(None, BODY), MISSING),
        (
            "body changed after signing",
            with(Some(signature_value(DigitalChannels)), tampered.as_bytes()),
            BAD_SIG,
        ),
    ]
}

fn digital_channels_cases() -> Vec<Case> {
    use SchemeName::DigitalChannels;
    let mut cases: Vec<Case> = http_doors()
        .flat_map(|(name, door)| {
            digital_channels_forgeries(door)
                .into_iter()
                .map(move |(what, event, want)| {
                    Case::new(
                        format!("digital-channels {name}: {what}"),
                        DigitalChannels,
                        event,
                        want,
                    )
                })
        })
        .collect();
    let sig = signature_value(DigitalChannels);
    let hex = sig.trim_start_matches("sha1=").to_owned();
    let header = |v: String| with_header(DigitalChannels, "x-hub-signature", json!(v));
    for (what, value) in [
        ("digest without sha1=", hex.clone()),
        ("sha256= prefix on a SHA-1 digest", format!("sha256={hex}")),
        ("empty digest", "sha1=".to_owned()),
        ("digest one byte short", format!("sha1={}", &hex[..38])),
        ("non-hex digest", format!("sha1={}", "z".repeat(40))),
        (
            "URL-safe base64 digest",
            format!("sha1={}", URL_SAFE.encode([0xfb_u8; 20])),
        ),
        ("sha1= repeated", format!("sha1=sha1={hex}")),
    ] {
        cases.push(Case::new(
            format!("digital-channels {what}"),
            DigitalChannels,
            header(value),
            BAD_SIG,
        ));
    }
    let mut twice = signed(DigitalChannels, FrontDoor::ApiGatewayV1);
    twice["multiValueHeaders"]["X-Hub-Signature"] = json!([sig.clone(), sig]);
    cases.push(Case::new(
        "digital-channels signature sent twice",
        DigitalChannels,
        twice,
        BAD_SIG,
    ));
    cases
}

/// A forged 60 KB body of nested arrays, the shape that once made the
/// mismatch diagnosis cost a hundred valid deliveries; and one nested past
/// any parser's recursion limit.
fn forged_cost_cases() -> Vec<Case> {
    use SchemeName::*;
    let mut cases = Vec::new();
    for (what, body) in [
        (
            "60 KB of nested arrays",
            sample::nested_arrays(60 * 1024, 100),
        ),
        ("nested 20,000 deep", sample::nested_arrays(40_002, 20_000)),
        (
            "16 KiB nested 32 deep",
            sample::nested_arrays(16 * 1024, 32),
        ),
    ] {
        for scheme in [OpenMessaging, Genesys, DigitalChannels] {
            let headers =
                sample::signed_headers(scheme, "not-the-secret", &body, None, NOW).unwrap();
            cases.push(Case::new(
                format!("{} forged, {what}", scheme.as_str()),
                scheme,
                sample::wrap(FrontDoor::ApiGatewayV2, &headers, &body, false, NOW),
                BAD_SIG,
            ));
        }
    }
    cases
}

fn size_cases() -> Vec<Case> {
    use SchemeName::Genesys;
    let big = vec![b'a'; SMALL_LIMIT + 1];
    let over = sample::wrap(
        FrontDoor::ApiGatewayV2,
        &headers(Genesys, &big),
        &big,
        true,
        NOW,
    );
    let mut huge = signed(Genesys, FrontDoor::ApiGatewayV2);
    huge["isBase64Encoded"] = json!(true);
    huge["body"] = json!("A".repeat(1 << 20));
    let mut big_detail = sample::partner_event("{}", "e-big", sample::PARTNER_SOURCE, NOW);
    big_detail["detail"] = json!({"pad": "p".repeat(2000)});

    vec![
        Case::new(
            "base64 body decoding to over the limit",
            Genesys,
            over,
            TOO_LARGE,
        )
        .max_body(SMALL_LIMIT),
        Case::new(
            "1 MiB of base64 against a 1 KiB limit",
            Genesys,
            huge,
            TOO_LARGE,
        )
        .max_body(SMALL_LIMIT),
        Case::new(
            "partner detail over the limit",
            Genesys,
            big_detail,
            Want::PartnerError("payload_too_large"),
        )
        .max_body(SMALL_LIMIT),
    ]
}

fn partner_event_cases() -> Vec<Case> {
    use SchemeName::Genesys;
    let event = |id: &str, source: &str| sample::partner_event("{}", id, source, NOW);

    let mut cases: Vec<Case> = [
        "aws.partner/genesys.com.evil/cloud/x/y",
        "aws.partner/genesys.comx/cloud/x/y",
        "AWS.PARTNER/GENESYS.COM/cloud/x/y",
        " aws.partner/genesys.com/cloud/x/y",
        "aws.partner/genesys.co/cloud/x/y",
        "aws.events",
        "",
    ]
    .into_iter()
    .map(|source| {
        Case::new(
            format!("partner source {source:?}"),
            Genesys,
            event("e-1", source),
            Want::Partner("forbidden_source"),
        )
    })
    .collect();

    let mut no_id = event("e-1", sample::PARTNER_SOURCE);
    no_id.as_object_mut().unwrap().remove("id");
    let mut long_id = event("e-1", sample::PARTNER_SOURCE);
    long_id["id"] = json!("e".repeat(300));
    let mut bad_time = event("e-1", sample::PARTNER_SOURCE);
    bad_time["time"] = json!("yesterday");
    let mut deep = json!("x");
    for _ in 0..100 {
        deep = json!({"d": deep});
    }
    let mut deep_event = event("e-deep", "aws.partner/genesys.com.evil/x");
    deep_event["detail"] = deep;

    let malformed = Want::PartnerError("malformed_request");
    cases.extend([
        Case::new(
            "partner event without id",
            Genesys,
            no_id,
            malformed.clone(),
        ),
        Case::new(
            "partner event id of 300 bytes",
            Genesys,
            long_id,
            malformed.clone(),
        ),
        Case::new(
            "partner event with a malformed time",
            Genesys,
            bad_time,
            malformed,
        ),
        Case::new(
            "nested detail from a forged source",
            Genesys,
            deep_event,
            Want::Partner("forbidden_source"),
        ),
    ]);
    cases
}

fn not_event_cases() -> Vec<Case> {
    use SchemeName::Genesys;
    let mut v1_without_method = signed(Genesys, FrontDoor::ApiGatewayV1);
    v1_without_method
        .as_object_mut()
        .unwrap()
        .remove("httpMethod");

    let mut cases: Vec<Case> = [
        ("null", json!(null)),
        ("a number", json!(7)),
        ("a string", json!("POST /webhooks/genesys")),
        (
            "an array",
            json!([signed(Genesys, FrontDoor::ApiGatewayV2)]),
        ),
        ("an empty object", json!({})),
        ("an SQS batch", json!({"Records": [{"body": "x"}]})),
        (
            "a DynamoDB stream batch",
            json!({"Records": [{"eventSource": "aws:dynamodb", "body": "x"}]}),
        ),
        ("a v1 event without httpMethod", v1_without_method),
    ]
    .into_iter()
    .map(|(name, event)| Case::new(name, Genesys, event, Want::Invocation))
    .collect();

    cases.push(Case::new(
        "an SQS message without a messageId",
        Genesys,
        json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}),
        Want::PartnerError("malformed_request"),
    ));
    cases.extend([
        Case::text(
            "arrays nested a million deep",
            Genesys,
            format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000)),
            Want::Invocation,
        ),
        Case::text(
            "objects nested a hundred thousand deep inside requestContext",
            Genesys,
            format!(
                "{{\"requestContext\":{}1{}}}",
                "{\"a\":".repeat(100_000),
                "}".repeat(100_000)
            ),
            Want::Invocation,
        ),
        Case::text(
            "truncated JSON",
            Genesys,
            signed(Genesys, FrontDoor::ApiGatewayV2).to_string()[..200].to_owned(),
            Want::Unparseable,
        ),
    ]);
    cases
}

/// Anything wrong with a signed header is a
/// signature failure (401); the unsigned delivery id and partner sources
/// keep their own answers.
fn signature_header_rules() -> Vec<Case> {
    use SchemeName::*;
    let mut cases = Vec::new();
    let mut add = |name: &str, scheme: SchemeName, event: Value, want: Want| {
        cases.push(Case::new(name, scheme, event, want))
    };
    let bad_sig = BAD_SIG;
    let malformed = MALFORMED;

    let om = signature_value(OpenMessaging);
    let mut twice = signed(OpenMessaging, FrontDoor::ApiGatewayV1);
    twice["multiValueHeaders"]["X-Hub-Signature-256"] = json!([om.clone(), om.clone()]);
    add(
        "open-messaging signature sent twice",
        OpenMessaging,
        twice,
        bad_sig.clone(),
    );
    add(
        "open-messaging signature with a tab inside",
        OpenMessaging,
        with_header(
            OpenMessaging,
            "x-hub-signature-256",
            json!(om.replace('=', "=\t")),
        ),
        bad_sig.clone(),
    );
    add(
        "X-Hub-Signature-256 where genesys is pinned",
        Genesys,
        sample::wrap(
            FrontDoor::ApiGatewayV2,
            &headers(OpenMessaging, BODY),
            BODY,
            false,
            NOW,
        ),
        Want::Http(401, "missing_signature"),
    );
    let compact: Value = serde_json::from_slice(BODY).unwrap();
    let pretty = serde_json::to_vec_pretty(&compact).unwrap();
    add(
        "signed pretty-printed, delivered compact",
        Genesys,
        sample::wrap(
            FrontDoor::ApiGatewayV2,
            &headers(Genesys, &pretty),
            BODY,
            false,
            NOW,
        ),
        bad_sig.clone(),
    );

    let sig = signature_value(Timestamped);
    let s = sig.split(",s=").nth(1).unwrap().to_owned();
    for (name, value) in [
        (
            "timestamped: only malformed signature entries",
            format!("t={NOW},s=zz,junk,,v1=,s={}", &s[..20]),
        ),
        (
            "timestamped: non-ASCII timestamp",
            format!("t={NOW}é,s={s}"),
        ),
        (
            "timestamped: control character",
            format!("t={NOW},s={s}\u{1}"),
        ),
    ] {
        add(
            name,
            Timestamped,
            with_header(Timestamped, "x-genesys-signature", json!(value)),
            bad_sig.clone(),
        );
    }

    let sw = signature_value(StandardWebhooks);
    add(
        "standard-webhooks: only malformed and unknown-version signatures",
        StandardWebhooks,
        with_header(
            StandardWebhooks,
            "webhook-signature",
            json!(format!("v1,zz v2,{} v1a,x v1, {}", &sw[3..], &sw[3..])),
        ),
        bad_sig.clone(),
    );
    let mut no_id = sample::signed_headers(
        StandardWebhooks,
        sample::TEST_SECRET_STANDARD,
        BODY,
        Some(""),
        NOW,
    )
    .unwrap();
    no_id.push(("X-Genesys-Delivery-Id".into(), "fresh-id".into()));
    add(
        "standard-webhooks: empty webhook-id, signed as such, with a delivery-id header",
        StandardWebhooks,
        sample::wrap(FrontDoor::ApiGatewayV2, &no_id, BODY, false, NOW),
        bad_sig.clone(),
    );
    for (name, header, value) in [
        (
            "standard-webhooks: webhook-id of 5 KB",
            "webhook-id",
            json!("i".repeat(5000)),
        ),
        (
            "standard-webhooks: non-ASCII webhook-id",
            "webhook-id",
            json!("msg_ü"),
        ),
        (
            "standard-webhooks: control character in webhook-timestamp",
            "webhook-timestamp",
            json!(format!("{NOW}\u{0}")),
        ),
    ] {
        add(
            name,
            StandardWebhooks,
            with_header(StandardWebhooks, header, value),
            bad_sig.clone(),
        );
    }
    for (name, header) in [
        ("standard-webhooks: webhook-id sent twice", "webhook-id"),
        (
            "standard-webhooks: webhook-timestamp sent twice",
            "webhook-timestamp",
        ),
        (
            "standard-webhooks: webhook-signature sent twice",
            "webhook-signature",
        ),
    ] {
        let mut e = signed(StandardWebhooks, FrontDoor::ApiGatewayV1);
        let value = e["headers"][header].clone();
        e["multiValueHeaders"][header] = json!([value.clone(), value]);
        add(name, StandardWebhooks, e, bad_sig.clone());
    }

    for door in [FrontDoor::ApiGatewayV2, FrontDoor::FunctionUrl] {
        let mut e = signed(Genesys, door);
        e["headers"]["x-genesys-delivery-id"] = json!("msg_1,msg_2");
        add(
            &format!("delivery-id header joined with a comma ({})", door.as_str()),
            Genesys,
            e,
            malformed.clone(),
        );
    }
    let mut e = signed(Genesys, FrontDoor::ApiGatewayV1);
    e["multiValueHeaders"]["X-Genesys-Delivery-Id"] = json!(["msg_1", "msg_2"]);
    add(
        "delivery-id header sent twice",
        Genesys,
        e,
        malformed.clone(),
    );

    for source in ["aws.partner/genesys.com/", "aws.partner/genesys.com//"] {
        add(
            &format!("partner source {source:?} names no organisation"),
            Genesys,
            sample::partner_event("{}", "e-1", source, NOW),
            Want::Partner("forbidden_source"),
        );
    }
    cases
}

/// More distinct header names than a header map holds (about 24,000), on
/// every HTTP door, in whichever map that door reads: malformed, never a
/// panic, even with a valid signature beside them.
fn header_map_limit_cases() -> Vec<Case> {
    const NAMES: usize = 30_000;
    let many = || -> serde_json::Map<String, Value> {
        (0..NAMES)
            .map(|i| (format!("x-pad-{i}"), json!("v")))
            .collect()
    };
    sample::DOORS
        .iter()
        .filter(|(_, door)| *door != FrontDoor::EventBridge)
        .map(|(name, door)| {
            let mut event = signed(SchemeName::Genesys, *door);
            let map = if event.get("multiValueHeaders").is_some_and(|m| !m.is_null()) {
                "multiValueHeaders"
            } else {
                "headers"
            };
            let padding = many();
            let headers = event[map].as_object_mut().unwrap();
            for (k, v) in padding {
                let v = if map == "multiValueHeaders" {
                    json!([v])
                } else {
                    v
                };
                headers.insert(k, v);
            }
            Case::new(
                format!("{name}: {NAMES} distinct header names"),
                SchemeName::Genesys,
                event,
                MALFORMED,
            )
        })
        .collect()
}

/// The answer `case` gets from a fresh handler, and what that handler stored.
async fn run(case: &Case) -> (Want, usize) {
    // The runtime hands over only what parses as JSON.
    let Ok(event) = serde_json::from_str::<Box<serde_json::value::RawValue>>(&case.event) else {
        return (Want::Unparseable, 0);
    };
    let h = sample::handler(
        &config(case.scheme, case.max_body),
        MemoryStore::new(86_400),
    )
    .unwrap();
    let got = match h.handle_at(event.get(), NOW).await {
        Err(InvocationError::UnknownEvent) => Want::Invocation,
        Err(InvocationError::Store(_)) => unreachable!("the memory store never fails"),
        Err(InvocationError::PartnerRefused(r)) => Want::PartnerError(r.code.as_str()),
        Ok(reply) => {
            let v = serde_json::to_value(reply).unwrap();
            match v.get("statusCode") {
                Some(code) => {
                    let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
                    let code_str = body["error"].as_str().unwrap_or("accepted");
                    Want::Http(
                        code.as_u64().unwrap() as u16,
                        Box::leak(code_str.to_owned().into_boxed_str()),
                    )
                }
                None => Want::Partner(Box::leak(
                    v["reason"]
                        .as_str()
                        .unwrap_or("accepted")
                        .to_owned()
                        .into_boxed_str(),
                )),
            }
        }
    };
    (got, h.store().len())
}

#[tokio::test]
async fn every_hostile_input_gets_its_defined_answer_and_nothing_is_stored() {
    support::captured_logs();
    let cases = catalogue();
    assert!(cases.len() >= 133, "only {} cases", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let (got, stored) = run(case).await;
        if got != case.want || stored != 0 {
            wrong.push(format!(
                "{}: want {:?}, got {:?}, stored {stored}",
                case.name, case.want, got
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn digital_channels_on_every_http_door() {
    use SchemeName::DigitalChannels;
    let id = format!("sha256:{}", sha256_hex(BODY));
    for (name, door) in http_doors() {
        let h = sample::memory_handler(DigitalChannels, &[]);
        let valid = signed(DigitalChannels, door);
        let (status, body) = support::answer_of(
            &serde_json::to_value(h.handle_at(valid.to_string(), NOW).await.unwrap()).unwrap(),
        );
        assert_eq!(
            (status, body),
            (
                200,
                json!({"status": "accepted", "deliveryId": id, "messageId": id})
            ),
            "{name}"
        );
        assert_eq!(h.store().get(&id).unwrap().body, BODY, "{name}");
        for (what, event, want) in digital_channels_forgeries(door) {
            let case = Case::new(format!("{name}: {what}"), DigitalChannels, event, want);
            let (got, stored) = run(&case).await;
            assert_eq!((got, stored), (case.want.clone(), 0), "{}", case.name);
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn with_no_scheme_set_a_captured_delivery_under_a_fresh_id_is_a_duplicate() {
    let config = Config::from_lookup(|k| match k {
        "WEBHOOK_SECRET" => Some(sample::TEST_SECRET.into()),
        "DEDUP_TABLE" => Some("deliveries".into()),
        _ => None,
    })
    .unwrap();
    let h = sample::handler(&config, MemoryStore::new(86_400)).unwrap();
    let answer = async |event: &Value| {
        let reply = h.handle_at(event.to_string(), NOW).await.unwrap();
        support::verdict(&support::answer_of(&serde_json::to_value(reply).unwrap()).1)
    };
    let captured = signed(SchemeName::OpenMessaging, FrontDoor::FunctionUrl);
    assert_eq!(answer(&captured).await, "accepted");
    for id in ["fresh-1", "fresh-2", "msg_1"] {
        let mut resent = captured.clone();
        resent["headers"]["x-genesys-delivery-id"] = json!(id);
        assert_eq!(answer(&resent).await, "duplicate", "{id}");
    }
    let folklore = signed(SchemeName::Genesys, FrontDoor::FunctionUrl);
    assert_eq!(answer(&folklore).await, "missing_signature");
    assert_eq!(h.store().len(), 1);
}

#[test]
fn an_unknown_scheme_stops_init() {
    for scheme in ["auto", "GENESYS", "hmac", "none", " genesys"] {
        let err = Config::from_lookup(|k| match k {
            "SIGNATURE_SCHEME" => Some(scheme.into()),
            "WEBHOOK_SECRET" => Some("s".into()),
            "DEDUP_TABLE" => Some("t".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(err.vars(), ["SIGNATURE_SCHEME"], "{scheme}");
    }
}

#[tokio::test]
async fn no_secret_signature_or_body_reaches_the_log() {
    let logs = support::captured_logs();
    let before = logs.text().lines().count();

    let mut forbidden: Vec<String> = vec![
        sample::TEST_SECRET.into(),
        sample::TEST_SECRET_STANDARD.into(),
        "Z2VuZXN5cy13ZWJob29rLXRlc3Qtc2VjcmV0".into(),
        "body-marker".into(),
    ];
    let mut runs = 0;
    for case in catalogue() {
        run(&case).await;
        runs += 1;
    }
    for s in CATALOG {
        let event = s.event(NOW).unwrap();
        for (name, value) in event["headers"].as_object().into_iter().flatten() {
            if name.contains("signature") {
                let v = value.as_str().unwrap();
                forbidden.push(v.to_owned());
                forbidden.extend(
                    v.split([',', '=', ' '])
                        .filter(|p| p.len() >= 16)
                        .map(str::to_owned),
                );
            }
        }
        forbidden.extend(
            s.body
                .lines()
                .filter(|l| l.trim().len() >= 24)
                .map(|l| l.trim().to_owned()),
        );
        let case = Case::new(s.file, s.scheme, event, Want::Invocation);
        run(&case).await;
        runs += 1;
    }
    let text = logs.text();
    assert!(
        text.lines().count() - before >= runs,
        "expected a line per run, got:\n{text}"
    );
    for f in &forbidden {
        assert!(!text.contains(f.as_str()), "{f:?} appears in the log");
    }
    for diagnosed in [
        "digest is hex where open-messaging expects base64",
        "matches the body re-serialized",
        "matches under open-messaging",
        "digest is an HMAC-SHA-256 where digital-channels expects HMAC-SHA-1",
        "a body over 16384 bytes is checked only for the digest's encoding and hash",
        "a body nested deeper than 32 levels is not tried in other JSON layouts",
    ] {
        assert!(text.contains(diagnosed), "no {diagnosed:?} in the log");
    }
}
