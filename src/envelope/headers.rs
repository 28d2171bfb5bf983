//! Header maps as the front doors write them, and the one rule for reading a
//! header's value.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::fmt;

use super::FrontDoor;
use super::body::Text;
use crate::error::{Reject, RejectCode};

/// Longest header value looked at; Genesys's are far shorter, and bounding it
/// bounds the work a hostile header can cause.
pub const MAX_HEADER_BYTES: usize = 4096;

const TOO_MANY_HEADERS: &str = "more headers than a header map holds";

/// A delivery over HTTP: headers (looked up case-insensitively) and the body
/// exactly as the sender signed it.
#[derive(Debug, Clone)]
pub struct HttpDelivery {
    pub front_door: FrontDoor,
    /// The request path as the front door reports it; names the integration
    /// where a deployment serves several.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl HttpDelivery {
    /// The one value of `name`, or `None` when absent. A header sent more than
    /// once, overlong, or not visible ASCII is malformed rather than guessed at.
    pub fn header(&self, name: &HeaderName) -> Result<Option<&str>, Reject> {
        let mut values = self.headers.get_all(name).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(RejectCode::Malformed.because("header repeated"));
        }
        if value.len() > MAX_HEADER_BYTES {
            return Err(RejectCode::Malformed.because("header too long"));
        }
        value
            .to_str()
            .map(|v| Some(v.trim()))
            .map_err(|_| RejectCode::Malformed.because("header not visible ASCII"))
    }
}

/// REST APIs and ALBs send both maps or only the multi-value one; the
/// multi-value map is the complete one, so repeated headers stay visible.
pub(super) fn header_map(
    single: Option<&RawValue>,
    multi: Option<&RawValue>,
) -> serde_json::Result<HeaderMap> {
    let read = |raw: Option<&RawValue>| match raw {
        Some(raw) => serde_json::from_str::<HeaderMapJson>(raw.get()).map(|h| h.0),
        None => Ok(HeaderMap::new()),
    };
    let multi = read(multi)?;
    if multi.is_empty() {
        read(single)
    } else {
        Ok(multi)
    }
}

/// A header map in an event's JSON: each name to a string or to a list of
/// strings, or `null` for none. A name given twice (in any letter case)
/// keeps both values, so a repeat is seen rather than one copy winning.
struct HeaderMapJson(HeaderMap);

impl<'de> Deserialize<'de> for HeaderMapJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(HeaderMapVisitor)
    }
}

struct HeaderMapVisitor;

impl<'de> Visitor<'de> for HeaderMapVisitor {
    type Value = HeaderMapJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of header names to strings or lists of strings")
    }

    fn visit_none<E: de::Error>(self) -> Result<HeaderMapJson, E> {
        Ok(HeaderMapJson(HeaderMap::new()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<HeaderMapJson, E> {
        Ok(HeaderMapJson(HeaderMap::new()))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<HeaderMapJson, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<HeaderMapJson, A::Error> {
        let mut map = HeaderMap::try_with_capacity(access.size_hint().unwrap_or(0))
            .map_err(|_| de::Error::custom(TOO_MANY_HEADERS))?;
        while let Some(Text(name)) = access.next_key()? {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| de::Error::custom("invalid header name"))?;
            access.next_value_seed(AppendValues {
                map: &mut map,
                name,
            })?;
        }
        Ok(HeaderMapJson(map))
    }
}

/// Reads one header's value, or each of a list of values, onto the map.
struct AppendValues<'m> {
    map: &'m mut HeaderMap,
    name: HeaderName,
}

impl AppendValues<'_> {
    /// A value HTTP cannot carry (a control character) is kept as one opaque
    /// non-ASCII byte: whoever reads that header refuses it as not visible
    /// ASCII (401 for a signature header, 400 for the delivery id). More
    /// headers than a map can hold make the event malformed.
    fn push<E: de::Error>(&mut self, value: &str) -> Result<(), E> {
        let value = HeaderValue::from_str(value)
            .unwrap_or_else(|_| HeaderValue::from_bytes(b"\xff").expect("0xff is obs-text"));
        self.map
            .try_append(&self.name, value)
            .map(drop)
            .map_err(|_| E::custom(TOO_MANY_HEADERS))
    }
}

impl<'de> DeserializeSeed<'de> for AppendValues<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AppendValues<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header value or a list of them")
    }

    fn visit_str<E: de::Error>(mut self, value: &str) -> Result<(), E> {
        self.push(value)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(Text(value)) = seq.next_element()? {
            self.push(&value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{http, v1, v2};
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn headers_are_case_insensitive_on_every_door() {
        let name = HeaderName::from_static("x-genesys-signature");
        for event in [
            v1(json!({"X-Genesys-Signature": "abc"}), json!(""), false),
            v2("x", json!({"x-genesys-signature": "abc"}), json!(""), false),
            v1(json!({"X-GENESYS-SIGNATURE": " abc "}), json!(""), false),
        ] {
            assert_eq!(http(event).unwrap().header(&name).unwrap(), Some("abc"));
        }
    }

    #[test]
    fn repeated_header_in_multi_value_map_is_malformed() {
        let mut event = v1(json!({"X-Genesys-Signature": "b"}), json!(""), false);
        event["multiValueHeaders"] = json!({"X-Genesys-Signature": ["a", "b"]});
        let d = http(event).unwrap();
        let err = d
            .header(&HeaderName::from_static("x-genesys-signature"))
            .unwrap_err();
        assert_eq!(err.code, RejectCode::Malformed);
    }

    #[test]
    fn alb_multi_value_headers() {
        let event = json!({"requestContext": {"elb": {"targetGroupArn": "arn"}}, "httpMethod": "POST",
            "path": "/", "multiValueHeaders": {"x-genesys-signature": ["abc"]}, "body": "x", "isBase64Encoded": false});
        let d = http(event).unwrap();
        assert_eq!(d.front_door, FrontDoor::Alb { multi_value: true });
        assert_eq!(
            d.header(&HeaderName::from_static("x-genesys-signature"))
                .unwrap(),
            Some("abc")
        );
    }

    #[test]
    fn a_header_named_twice_in_any_case_is_seen_twice() {
        let event = v1(
            json!({"X-Genesys-Signature": "a", "x-genesys-signature": "b"}),
            json!(""),
            false,
        );
        let err = http(event)
            .unwrap()
            .header(&HeaderName::from_static("x-genesys-signature"))
            .unwrap_err();
        assert_eq!(err.code, RejectCode::Malformed);
    }

    #[test]
    fn a_control_character_is_refused_by_whoever_reads_the_header() {
        let d = http(v2(
            "x",
            json!({"x-a": "a\u{0}b", "x-b": "ok"}),
            json!(""),
            false,
        ))
        .unwrap();
        let err = d.header(&HeaderName::from_static("x-a")).unwrap_err();
        assert_eq!(err.code, RejectCode::Malformed);
        assert_eq!(
            d.header(&HeaderName::from_static("x-b")).unwrap(),
            Some("ok")
        );
    }

    /// A header map holds about 24,000 distinct names before it would grow
    /// past its limit and panic; past that the event is malformed.
    #[test]
    fn more_headers_than_a_map_holds_are_malformed() {
        let many = |n: usize| {
            let names: serde_json::Map<String, Value> =
                (0..n).map(|i| (format!("x-{i}"), json!("v"))).collect();
            v1(Value::Object(names), json!(""), false)
        };
        let err = http(many(40_000)).unwrap_err();
        assert_eq!(err.code, RejectCode::Malformed);
        assert!(http(many(20_000)).is_ok());
    }

    #[test]
    fn single_value_map_is_used_when_the_multi_value_map_is_empty() {
        let mut event = v1(json!({"X-Genesys-Signature": "abc"}), json!(""), false);
        event["multiValueHeaders"] = json!({});
        let d = http(event).unwrap();
        let name = HeaderName::from_static("x-genesys-signature");
        assert_eq!(d.header(&name).unwrap(), Some("abc"));
    }
}
