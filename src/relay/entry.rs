//! One outbox item as one EventBridge entry.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::outbox::OutboxItem;

/// The `DetailType` of a delivery that names neither a topic nor a type.
pub const DEFAULT_DETAIL_TYPE: &str = "genesys-webhook.delivery";

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
    /// Genesys topic or message type, else a fixed default.
    pub fn of(item: &OutboxItem, source: &str) -> Self {
        let detail_type = item
            .detail_type
            .as_deref()
            .or(item.topic.as_deref())
            .filter(|t| !t.is_empty())
            .unwrap_or(DEFAULT_DETAIL_TYPE);
        Self {
            delivery_id: item.delivery_id.clone(),
            source: source.to_owned(),
            detail_type: detail_type.to_owned(),
            time: item.received_at_unix,
            detail: detail(item),
        }
    }

    /// The entry's size as EventBridge computes it against its limit: `Time`
    /// counts 14 bytes, `Source`, `DetailType` and `Detail` their UTF-8 bytes.
    pub fn size(&self) -> usize {
        TIME_BYTES + self.source.len() + self.detail_type.len() + self.detail.len()
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

/// `{"deliveryId", "receivedAt", "frontDoor", "scheme", "topic",
/// ["integration",] "body" | "bodyBase64"}`. A body that is a JSON object or
/// array is spliced in as recorded, never parsed into a tree and written
/// again, so consumers see the bytes Genesys signed.
fn detail(item: &OutboxItem) -> String {
    let mut out = String::with_capacity(item.body.len() * 4 / 3 + 256);
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
    match json_container(&item.body) {
        Some(json) => {
            out.push_str(r#","body":"#);
            out.push_str(json);
        }
        None => {
            out.push_str(r#","bodyBase64":""#);
            STANDARD.encode_string(&item.body, &mut out);
            out.push('"');
        }
    }
    out.push('}');
    out
}

/// The body as text when it is one JSON object or array, surrounding
/// whitespace included, nested no deeper than [`MAX_DEPTH`]. Validated
/// without building a tree.
fn json_container(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    if !matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'[')) {
        return None;
    }
    serde_json::from_str::<IgnoredAny>(text).ok()?;
    (depth(text.as_bytes()) <= MAX_DEPTH).then_some(text)
}

/// The deepest nesting of valid JSON: brackets outside strings.
fn depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'{' | b'[') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
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
            body: body.to_vec(),
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
        assert_eq!(depth(br#"{"a":"[[[{{\"]","b":[[]]}"#), 3);
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
}
