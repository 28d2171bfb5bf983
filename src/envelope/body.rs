//! The exact bytes a sender signed, and what they say they are.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::fmt;

use crate::error::{Reject, RejectCode};

/// Longest topic kept with a delivery; Genesys topics are far shorter.
const MAX_TOPIC_BYTES: usize = 256;

/// The exact body bytes: `body` itself, or its base64 decoding when
/// `is_base64`, refused when over `max_body`.
pub fn body_bytes(body: Cow<'_, str>, is_base64: bool, max_body: usize) -> Result<Vec<u8>, Reject> {
    let too_large = RejectCode::TooLarge.because("body over MAX_BODY_BYTES");
    if !is_base64 {
        return if body.len() > max_body {
            Err(too_large)
        } else {
            Ok(body.into_owned().into_bytes())
        };
    }
    if base64::decoded_len_estimate(body.len()) > max_body + 2 {
        return Err(too_large);
    }
    let bytes = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| RejectCode::Malformed.because("body is not valid base64"))?;
    if bytes.len() > max_body {
        return Err(too_large);
    }
    Ok(bytes)
}

/// The Genesys topic (`topicName`) or Open Messaging message type (`type`)
/// of a JSON object body, for consumers filtering the outbox; `None` for
/// anything else. One rule for HTTP bodies and partner events alike.
///
/// Reading stops at a `topicName`, which Genesys sends first, so the rest of
/// the body is not scanned again: it was verified as bytes, and the topic is
/// only a label. A `type` counts only once the whole body has been read.
pub fn topic(body: &[u8]) -> Option<String> {
    #[derive(Default)]
    struct Named {
        topic_name: Option<String>,
        kind: Option<String>,
    }
    struct Fields<'n>(&'n mut Named);
    impl<'de> Visitor<'de> for Fields<'_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(Text(key)) = map.next_key()? {
                match key.as_ref() {
                    "topicName" => {
                        self.0.topic_name = map.next_value()?;
                        if self.0.topic_name.is_some() {
                            return Ok(());
                        }
                    }
                    "type" => self.0.kind = map.next_value()?,
                    _ => map.next_value::<de::IgnoredAny>().map(|_| ())?,
                }
            }
            Ok(())
        }
    }
    if body.first() != Some(&b'{') {
        return None;
    }
    let mut named = Named::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = de
        .deserialize_map(Fields(&mut named))
        .and_then(|()| de.end());
    match named.topic_name {
        Some(topic) => Some(topic),
        None => read.ok().and(named.kind),
    }
    .filter(|t| t.len() <= MAX_TOPIC_BYTES)
}

/// A JSON string borrowed from the event where it has no escapes (serde's
/// own `Cow` always copies).
pub(super) struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{http, v1, v2};
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_and_base64_bodies_give_the_same_bytes() {
        let text = "{\"a\":\"é ✓\"}\r\n";
        let b64 = STANDARD.encode(text);
        for event in [
            v1(json!({}), json!(text), false),
            v1(json!({}), json!(b64), true),
            v2("x", json!({}), json!(text), false),
            v2("x.lambda-url.y", json!({}), json!(b64), true),
        ] {
            assert_eq!(http(event).unwrap().body, text.as_bytes());
        }
    }

    #[test]
    fn binary_base64_body_is_kept_byte_for_byte() {
        let raw = [0xffu8, 0x00, 0xfe, b'\r', b'\n'];
        let d = http(v2("x", json!({}), json!(STANDARD.encode(raw)), true)).unwrap();
        assert_eq!(d.body, raw);
    }

    #[test]
    fn bad_base64_is_malformed_not_a_panic() {
        for bad in ["%%%", "abc", "YWJj=", "YW Jj", "YWJj\n", "-_-_"] {
            let err = http(v2("x", json!({}), json!(bad), true)).unwrap_err();
            assert_eq!(err.code, RejectCode::Malformed, "{bad}");
        }
    }

    #[test]
    fn size_is_checked_before_and_after_decoding() {
        let exact = "a".repeat(64);
        assert_eq!(
            http(v1(json!({}), json!(exact), false)).unwrap().body.len(),
            64
        );
        let over = "a".repeat(65);
        let err = http(v1(json!({}), json!(over), false)).unwrap_err();
        assert_eq!(err.code, RejectCode::TooLarge);
        let err = http(v1(json!({}), json!(STANDARD.encode(&over)), true)).unwrap_err();
        assert_eq!(err.code, RejectCode::TooLarge);
        let err = http(v1(json!({}), json!("A".repeat(10_000)), true)).unwrap_err();
        assert_eq!(err.code, RejectCode::TooLarge);
        let ok = http(v1(json!({}), json!(STANDARD.encode(&exact)), true)).unwrap();
        assert_eq!(ok.body.len(), 64);
    }

    #[test]
    fn null_or_missing_body_is_empty() {
        assert!(
            http(v1(json!({}), json!(null), false))
                .unwrap()
                .body
                .is_empty()
        );
    }

    #[test]
    fn escaped_json_strings_decode_to_the_signed_bytes() {
        let body = "{\"a\":\"caf\u{e9} \\\" \\n\"}";
        let d = http(v2("x", json!({"x-k": "v\u{e9}"}), json!(body), false)).unwrap();
        assert_eq!(d.body, body.as_bytes());
    }

    #[test]
    fn topic_prefers_topic_name_then_type_and_is_bounded() {
        assert_eq!(
            topic(br#"{"topicName":"v2.a","type":"T"}"#).as_deref(),
            Some("v2.a")
        );
        assert_eq!(topic(br#"{"type":"Text"}"#).as_deref(), Some("Text"));
        assert_eq!(topic(br#"[{"type":"Text"}]"#), None);
        assert_eq!(topic(b"not json"), None);
        assert_eq!(
            topic(br#"{"type":"T","topicName":"v2.b","x":[1]}"#).as_deref(),
            Some("v2.b")
        );
        assert_eq!(topic(br#"{"type":"T","x":"#), None);
        let long = format!(r#"{{"topicName":"{}"}}"#, "t".repeat(257));
        assert_eq!(topic(long.as_bytes()), None);
    }
}
