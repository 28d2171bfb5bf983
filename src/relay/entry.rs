//! One outbox item as one EventBridge entry.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::json_scan::Scanner;
use crate::outbox::{Body, BodyRef, OutboxItem};

/// The `DetailType` of a delivery that names neither a topic nor a type.
pub const DEFAULT_DETAIL_TYPE: &str = "genesys-webhook.delivery";

/// EventBridge's limit on `DetailType`, in characters.
pub const MAX_DETAIL_TYPE_CHARS: usize = 128;

/// What EventBridge counts for a `Time`, whatever its value.
const TIME_BYTES: usize = 14;
/// EventBridge processes JSON nested up to 1000 levels (its API reference
/// says 1100 in places); a body nested deeper than this goes as base64.
const MAX_DEPTH: usize = 500;

/// An entry ready for `PutEvents`, on the bus the publisher names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub delivery_id: String,
    pub source: String,
    pub detail_type: String,
    /// Unix seconds: when the delivery was received.
    pub time: i64,
    /// A JSON object.
    pub detail: String,
}

impl Entry {
    /// The item's entry under `source`. `DetailType` is what a rule matches
    /// without reading the body: a partner event's own detail-type, else the
    /// Genesys topic or message type, else a fixed default; made to fit by
    /// [`fit_detail_type`]. The full topic stays in the detail.
    pub fn of(item: &OutboxItem, source: &str) -> Self {
        let detail_type = item
            .detail_type
            .as_deref()
            .or(item.topic.as_deref())
            .unwrap_or(DEFAULT_DETAIL_TYPE);
        Self {
            delivery_id: item.delivery_id.clone(),
            source: source.to_owned(),
            detail_type: fit_detail_type(detail_type),
            time: item.received_at_unix,
            detail: detail(item),
        }
    }

    /// The entry's size as EventBridge computes it against its limit: `Time`
    /// counts 14 bytes, `Source`, `DetailType` and `Detail` their UTF-8 bytes.
    pub fn size(&self) -> usize {
        TIME_BYTES + self.source.len() + self.detail_type.len() + self.detail.len()
    }

    /// For an entry that holds `claim`'s reference: the least this entry
    /// would weigh with the body inline (as JSON, base64 only weighs more).
    pub fn inline_floor(&self, claim: &BodyRef) -> usize {
        let body = usize::try_from(claim.size).unwrap_or(usize::MAX);
        (self.size().saturating_sub(body_ref(claim).len()) + r#","body":"#.len())
            .saturating_add(body)
    }

    /// The whole entry as one JSON document, for the failure queue.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"deliveryId":{},"source":{},"detailType":{},"time":{},"detail":{}}}"#,
            quoted(&self.delivery_id),
            quoted(&self.source),
            quoted(&self.detail_type),
            self.time,
            self.detail
        )
    }
}

/// A `DetailType` within EventBridge's 1..=128 characters. A longer one has
/// each UUID-like dot-separated segment replaced by `{id}`, the form of
/// Genesys's own partner detail-types (`v2.users.{id}.presence`); if still
/// too long, it is cut to its first 128 characters, so a rule can still
/// match its prefix. An empty one is [`DEFAULT_DETAIL_TYPE`].
pub fn fit_detail_type(detail_type: &str) -> String {
    if detail_type.is_empty() {
        return DEFAULT_DETAIL_TYPE.to_owned();
    }
    if detail_type.chars().count() <= MAX_DETAIL_TYPE_CHARS {
        return detail_type.to_owned();
    }
    let pattern: Vec<&str> = detail_type
        .split('.')
        .map(|s| if uuid_like(s) { "{id}" } else { s })
        .collect();
    pattern
        .join(".")
        .chars()
        .take(MAX_DETAIL_TYPE_CHARS)
        .collect()
}

/// 8-4-4-4-12 hexadecimal digits, as Genesys writes its ids.
fn uuid_like(segment: &str) -> bool {
    let groups: Vec<&str> = segment.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `{"deliveryId", "receivedAt", "frontDoor", "scheme", "topic",
/// ["integration",] "body" | "bodyBase64"}`. A body that is a JSON object or
/// array is spliced in as recorded, never parsed into a tree and written
/// again, so consumers see the bytes Genesys signed.
fn detail(item: &OutboxItem) -> String {
    let mut out =
        String::with_capacity(usize::try_from(item.body.len()).unwrap_or(0) * 4 / 3 + 256);
    let _ = write!(
        out,
        r#"{{"deliveryId":{},"receivedAt":{},"frontDoor":{},"scheme":{},"topic":{}"#,
        quoted(&item.delivery_id),
        quoted(&item.received_at),
        quoted(&item.front_door),
        quoted(&item.scheme),
        item.topic
            .as_deref()
            .map_or_else(|| "null".to_owned(), quoted),
    );
    if let Some(integration) = &item.integration {
        let _ = write!(out, r#","integration":{}"#, quoted(integration));
    }
    match &item.body {
        Body::Inline(bytes) => match json_container(bytes) {
            Some(json) => {
                out.push_str(r#","body":"#);
                out.push_str(json);
            }
            None => {
                out.push_str(r#","bodyBase64":""#);
                STANDARD.encode_string(bytes, &mut out);
                out.push('"');
            }
        },
        Body::Stored(claim) => out.push_str(&body_ref(claim)),
    }
    out.push('}');
    out
}

/// `,"bodyRef":{"bucket","key","size","sha256"}`: what a consumer with read
/// access to the bucket needs to fetch and check the body.
fn body_ref(claim: &BodyRef) -> String {
    format!(
        r#","bodyRef":{{"bucket":{},"key":{},"size":{},"sha256":{}}}"#,
        quoted(&claim.bucket),
        quoted(&claim.key),
        claim.size,
        quoted(&claim.sha256),
    )
}

/// The body as text when it is one JSON object or array, surrounding
/// whitespace included, nested no deeper than [`MAX_DEPTH`], and with every
/// integer within the i64 range EventBridge takes. Validated without
/// building a tree.
fn json_container(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    if !matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'[')) {
        return None;
    }
    serde_json::from_str::<IgnoredAny>(text).ok()?;
    let shape = shape(text.as_bytes());
    (shape.depth <= MAX_DEPTH && shape.integers_fit).then_some(text)
}

struct Shape {
    /// The deepest nesting: brackets outside strings.
    depth: usize,
    /// No integer (a number without fraction or exponent) outside i64.
    integers_fit: bool,
}

/// What EventBridge checks of valid JSON beyond its syntax.
fn shape(json: &[u8]) -> Shape {
    let mut scanner = Scanner::default();
    let mut integers_fit = true;
    let mut number: Option<usize> = None;
    for (i, &b) in json.iter().enumerate() {
        if let Some(start) = number {
            if matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                continue;
            }
            integers_fit &= integer_fits(&json[start..i]);
            number = None;
        }
        if scanner.structural(b) && matches!(b, b'-' | b'0'..=b'9') {
            number = Some(i);
        }
    }
    Shape {
        depth: scanner.deepest(),
        integers_fit,
    }
}

/// A JSON number token: a fraction or exponent makes it no integer.
fn integer_fits(token: &[u8]) -> bool {
    token.iter().any(|b| matches!(b, b'.' | b'e' | b'E'))
        || std::str::from_utf8(token).is_ok_and(|t| t.parse::<i64>().is_ok())
}

fn quoted(s: &str) -> String {
    Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(body: &[u8]) -> OutboxItem {
        OutboxItem {
            delivery_id: "d-\"1\"".into(),
            received_at: "2026-11-24T12:00:00Z".into(),
            received_at_unix: 1_795_521_600,
            front_door: "function-url".into(),
            scheme: "open-messaging".into(),
            body: Body::Inline(body.to_vec()),
            topic: Some("Text".into()),
            detail_type: None,
            integration: None,
        }
    }

    fn detail_of(body: &[u8]) -> (String, Value) {
        let e = Entry::of(&item(body), "genesys-webhook");
        let v = serde_json::from_str(&e.detail).expect("the detail is JSON");
        (e.detail, v)
    }

    #[test]
    fn a_json_object_is_spliced_in_byte_for_byte() {
        let body = b" {\"text\" : \"caf\\u00e9\",\n \"n\":1.50}\n";
        let (raw, v) = detail_of(body);
        assert!(
            raw.ends_with(",\"body\": {\"text\" : \"caf\\u00e9\",\n \"n\":1.50}\n}"),
            "{raw}"
        );
        assert_eq!(v["body"]["text"], "café");
        assert_eq!(v["deliveryId"], "d-\"1\"");
        assert_eq!(v["receivedAt"], "2026-11-24T12:00:00Z");
        assert_eq!(v["frontDoor"], "function-url");
        assert_eq!(v["scheme"], "open-messaging");
        assert_eq!(v["topic"], "Text");
        assert!(v.get("bodyBase64").is_none() && v.get("integration").is_none());
    }

    #[test]
    fn a_json_array_is_spliced_in_too() {
        let (raw, v) = detail_of(b"[1,{\"a\":[]}]");
        assert!(raw.ends_with(",\"body\":[1,{\"a\":[]}]}"), "{raw}");
        assert_eq!(v["body"][1]["a"], serde_json::json!([]));
    }

    #[test]
    fn anything_else_is_base64() {
        let bodies: [&[u8]; 8] = [
            b"plain text",
            b"\"a JSON string\"",
            b"42",
            b"{\"unterminated\":",
            b"{\"a\":1} trailing",
            b"{\"bad utf8\":\"\xff\"}",
            b"",
            &[0, 159, 146, 150],
        ];
        for body in bodies {
            let (_, v) = detail_of(body);
            assert!(v.get("body").is_none(), "{body:?}");
            assert_eq!(
                STANDARD.decode(v["bodyBase64"].as_str().unwrap()).unwrap(),
                body
            );
        }
    }

    #[test]
    fn nesting_deeper_than_eventbridge_takes_is_base64() {
        let nested = |n: usize| format!("{}\"]}}[\"{}", "[".repeat(n), "]".repeat(n));
        let deep = nested(MAX_DEPTH + 1);
        assert!(json_container(deep.as_bytes()).is_none());
        let (_, v) = detail_of(deep.as_bytes());
        assert!(v.get("bodyBase64").is_some());
        let deepest = nested(MAX_DEPTH);
        assert_eq!(json_container(deepest.as_bytes()), Some(deepest.as_str()));
        assert_eq!(shape(br#"{"a":"[[[{{\"]","b":[[]]}"#).depth, 3);
    }

    #[test]
    fn detail_type_prefers_the_partner_detail_type_then_the_topic() {
        let mut i = item(b"{}");
        i.detail_type = Some("v2.users.{id}.presence".into());
        assert_eq!(Entry::of(&i, "s").detail_type, "v2.users.{id}.presence");
        i.detail_type = None;
        assert_eq!(Entry::of(&i, "s").detail_type, "Text");
        i.topic = None;
        let e = Entry::of(&i, "s");
        assert_eq!(e.detail_type, DEFAULT_DETAIL_TYPE);
        let v: Value = serde_json::from_str(&e.detail).unwrap();
        assert_eq!(v["topic"], Value::Null);
    }

    #[test]
    fn integration_is_included_when_recorded() {
        let mut i = item(b"{}");
        i.integration = Some("om-\u{e9}".into());
        let v: Value = serde_json::from_str(&Entry::of(&i, "s").detail).unwrap();
        assert_eq!(v["integration"], "om-é");
    }

    #[test]
    fn size_follows_eventbridge_rules_and_the_failure_document_is_whole() {
        let e = Entry::of(&item(b"{\"x\":\"\\u00e9\"}"), "genesys-webhook");
        assert_eq!(
            e.size(),
            14 + "genesys-webhook".len() + "Text".len() + e.detail.len()
        );
        let whole: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(whole["detailType"], "Text");
        assert_eq!(whole["time"], 1_795_521_600);
        assert!(e.to_json().contains("{\"x\":\"\\u00e9\"}"));
    }

    #[test]
    fn integers_outside_i64_make_the_body_base64() {
        for fits in [
            "[9223372036854775807]",
            "[-9223372036854775808]",
            r#"{"f":1e30,"g":18446744073709551616.5,"s":"99999999999999999999"}"#,
        ] {
            assert_eq!(json_container(fits.as_bytes()), Some(fits), "{fits}");
        }
        for over in [
            "[9223372036854775808]",
            "[-9223372036854775809]",
            r#"{"n":123456789012345678901234567890}"#,
        ] {
            assert!(json_container(over.as_bytes()).is_none(), "{over}");
            let (_, v) = detail_of(over.as_bytes());
            assert!(v.get("bodyBase64").is_some(), "{over}");
        }
    }

    #[test]
    fn a_long_detail_type_fits_and_the_topic_stays_whole() {
        let uuid = "8f2b0c4e-1d3a-4b5c-9e6f-0a1b2c3d4e5f";
        let topic =
            format!("v2.detail.events.conversation.{uuid}.participant.{uuid}.wrapup.{uuid}");
        assert!(topic.len() > MAX_DETAIL_TYPE_CHARS);
        let mut i = item(b"{}");
        i.topic = Some(topic.clone());
        let e = Entry::of(&i, "s");
        assert_eq!(
            e.detail_type,
            "v2.detail.events.conversation.{id}.participant.{id}.wrapup.{id}"
        );
        let v: Value = serde_json::from_str(&e.detail).unwrap();
        assert_eq!(v["topic"], topic);

        let long = format!("v2.{}", "x".repeat(200));
        assert_eq!(fit_detail_type(&long), long[..128]);
        let wide = "é".repeat(130);
        assert_eq!(fit_detail_type(&wide).chars().count(), 128);
        assert_eq!(fit_detail_type(""), DEFAULT_DETAIL_TYPE);
        let short = "v2.users.8f2b0c4e-1d3a-4b5c-9e6f-0a1b2c3d4e5f.presence";
        assert_eq!(fit_detail_type(short), short);
    }
}
